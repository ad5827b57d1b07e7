//! TensorBoard event files, written by hand (no protobuf crate): `EventWriter` appends scalar
//! and text summaries to `events.out.tfevents.<unix_secs>.<hostname>.<pid>.<n>` in a log
//! directory, and `read_events` reads such a file back (for tests and dashboards).
//!
//! A file is a sequence of TFRecords: the data length as a little-endian `u64`, the masked
//! CRC-32C of those 8 bytes as a little-endian `u32`, the data, and the data's masked CRC-32C.
//! Each record's data is a `tensorboard.Event` protobuf (`tensorboard/compat/proto/event.proto`):
//! `wall_time = 1` (double), `step = 2` (int64), `file_version = 3` (string, `"brain.Event:2"` in
//! the first record) and `summary = 5`, a `Summary` (`summary.proto`) of `Value`s: `tag = 1`,
//! `simple_value = 2` (float) for a scalar; for text, `metadata = 9` naming the plugin `"text"`
//! and `tensor = 8`, a `TensorProto` (`tensor.proto`) of `dtype = 1` `DT_STRING` (7), an empty
//! `tensor_shape = 2` (a scalar) and the UTF-8 text as `string_val = 8`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `file_version` of the first record, as TensorBoard's own writers set it.
pub const FILE_VERSION: &str = "brain.Event:2";

/// `DT_STRING` in `tensorboard/compat/proto/types.proto`.
const DT_STRING: u64 = 7;

/// Distinguishes the files of writers created in the same second by the same process.
static FILES_CREATED: AtomicU32 = AtomicU32::new(0);

/// Appends events to a new TensorBoard event file. Writes are buffered: call `flush` to make
/// them visible to a reader of a live run; dropping the writer flushes too (ignoring errors).
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if missing and a new event file in it, named
    /// `events.out.tfevents.<unix_secs>.<hostname>.<pid>.<n>` (the hostname from `/etc/hostname`,
    /// else `$HOSTNAME`, else `exphil`; `n` counts this process's writers), and writes the
    /// `file_version` record. Never overwrites an existing file.
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = FILES_CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{n}",
            now.as_secs(),
            hostname(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut writer = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        let mut event = event_head(0);
        put_bytes(&mut event, 3, FILE_VERSION.as_bytes());
        writer.record(&event)?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One scalar at `step`. The value is stored as TensorBoard's `float` (f32); a NaN or
    /// infinity is written as is and TensorBoard shows it as such.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> io::Result<()> {
        self.scalars(step, &[(tag, value)])
    }

    /// Several scalars at `step`, in one event (values as in `scalar`).
    pub fn scalars(&mut self, step: i64, values: &[(&str, f64)]) -> io::Result<()> {
        let mut summary = Vec::new();
        for &(tag, value) in values {
            let mut v = Vec::new();
            put_bytes(&mut v, 1, tag.as_bytes());
            put_key(&mut v, 2, 5);
            v.extend_from_slice(&(value as f32).to_le_bytes());
            put_bytes(&mut summary, 1, &v);
        }
        self.summary(step, &summary)
    }

    /// A text summary at `step` (TensorBoard's Text tab renders it as Markdown).
    pub fn text(&mut self, tag: &str, step: i64, text: &str) -> io::Result<()> {
        let mut plugin = Vec::new();
        put_bytes(&mut plugin, 1, b"text");
        let mut metadata = Vec::new();
        put_bytes(&mut metadata, 1, &plugin);
        let mut tensor = Vec::new();
        put_key(&mut tensor, 1, 0);
        put_varint(&mut tensor, DT_STRING);
        put_bytes(&mut tensor, 2, &[]);
        put_bytes(&mut tensor, 8, text.as_bytes());
        let mut v = Vec::new();
        put_bytes(&mut v, 1, tag.as_bytes());
        put_bytes(&mut v, 8, &tensor);
        put_bytes(&mut v, 9, &metadata);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &v);
        self.summary(step, &summary)
    }

    /// Writes the buffered events to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn summary(&mut self, step: i64, summary: &[u8]) -> io::Result<()> {
        let mut event = event_head(step);
        put_bytes(&mut event, 5, summary);
        self.record(&event)
    }

    fn record(&mut self, data: &[u8]) -> io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// One event read back by `read_events`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadEvent {
    /// Seconds since the Unix epoch when it was written.
    pub wall_time: f64,
    /// The step (0 in the `file_version` record).
    pub step: i64,
    /// The `file_version` (set in a file's first record only).
    pub file_version: Option<String>,
    /// The scalar values, `(tag, value)`: the file's f32, widened exactly.
    pub scalars: Vec<(String, f64)>,
    /// The text values (text-plugin string tensors), `(tag, text)`.
    pub texts: Vec<(String, String)>,
}

/// The contents of an event file.
#[derive(Clone, Debug, PartialEq)]
pub struct EventFile {
    /// The complete records' events, in file order.
    pub events: Vec<ReadEvent>,
    /// The byte offset of an incomplete final record, if the file ends inside one: what a
    /// killed writer leaves, or a live writer mid-flush. A reader of a live run can use the events
    /// and read again later; a finished run's file should not have one.
    pub truncated_at: Option<u64>,
}

/// Reads an event file, checking both CRCs of every record. A bad CRC or a malformed event is an
/// `InvalidData` error naming the file and the record's byte offset; a file that ends inside a
/// record is not an error (see `EventFile::truncated_at`). Values other than scalars and
/// text-plugin strings (histograms, images, ...) are skipped.
pub fn read_events(path: &Path) -> io::Result<EventFile> {
    let bytes = std::fs::read(path)?;
    let bad = |offset: usize, why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: record at byte {offset}: {why}", path.display()),
        )
    };
    let mut events = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 12) else {
            break;
        };
        let (len, len_crc) = header.split_at(8);
        if masked_crc(len) != u32::from_le_bytes(len_crc.try_into().unwrap()) {
            return Err(bad(at, "bad length CRC".into()));
        }
        let len = u64::from_le_bytes(len.try_into().unwrap());
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| (at + 12).checked_add(len))
            .filter(|&end| end.saturating_add(4) <= bytes.len());
        let Some(end) = end else {
            break;
        };
        let data = &bytes[at + 12..end];
        if masked_crc(data) != u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) {
            return Err(bad(at, "bad data CRC".into()));
        }
        events.push(decode_event(data).map_err(|why| bad(at, format!("malformed event: {why}")))?);
        at = end + 4;
    }
    Ok(EventFile {
        events,
        truncated_at: (at < bytes.len()).then_some(at as u64),
    })
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The TFRecord mask of `crc32c(data)`.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "exphil".into());
    // Keep the name one path component.
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An event's `wall_time` (now) and `step`.
fn event_head(step: i64) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut e = Vec::new();
    put_key(&mut e, 1, 1);
    e.extend_from_slice(&now.as_secs_f64().to_le_bytes());
    put_key(&mut e, 2, 0);
    put_varint(&mut e, step as u64);
    e
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One protobuf field's value.
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// The fields of one protobuf message, in order.
fn fields(mut b: &[u8]) -> Result<Vec<(u32, Field<'_>)>, String> {
    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err("field runs past the end of its message".into());
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut b)?),
            1 => Field::Fixed64(take(&mut b, 8)?.try_into().unwrap()),
            2 => {
                let n = usize::try_from(varint(&mut b)?).map_err(|_| "length out of range")?;
                Field::Bytes(take(&mut b, n)?)
            }
            5 => Field::Fixed32(take(&mut b, 4)?.try_into().unwrap()),
            w => return Err(format!("unsupported wire type {w} in field {field}")),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn utf8(b: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

fn decode_event(data: &[u8]) -> Result<ReadEvent, String> {
    let mut event = ReadEvent {
        wall_time: 0.0,
        step: 0,
        file_version: None,
        scalars: Vec::new(),
        texts: Vec::new(),
    };
    for (field, value) in fields(data)? {
        match (field, value) {
            (1, Field::Fixed64(b)) => event.wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => event.step = v as i64,
            (3, Field::Bytes(b)) => event.file_version = Some(utf8(b, "file_version")?),
            (5, Field::Bytes(summary)) => {
                for (field, value) in fields(summary)? {
                    if let (1, Field::Bytes(v)) = (field, value) {
                        decode_value(v, &mut event)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(event)
}

/// One `Summary.Value` into `event`'s scalars or texts.
fn decode_value(v: &[u8], event: &mut ReadEvent) -> Result<(), String> {
    let (mut tag, mut scalar, mut text, mut plugin) = (String::new(), None, None, None);
    for (field, value) in fields(v)? {
        match (field, value) {
            (1, Field::Bytes(b)) => tag = utf8(b, "tag")?,
            (2, Field::Fixed32(b)) => scalar = Some(f32::from_le_bytes(b)),
            (8, Field::Bytes(tensor)) => {
                for (field, value) in fields(tensor)? {
                    if let (8, Field::Bytes(b)) = (field, value) {
                        text = Some(utf8(b, "text")?);
                    }
                }
            }
            (9, Field::Bytes(metadata)) => {
                for (field, value) in fields(metadata)? {
                    if let (1, Field::Bytes(data)) = (field, value) {
                        for (field, value) in fields(data)? {
                            if let (1, Field::Bytes(name)) = (field, value) {
                                plugin = Some(utf8(name, "plugin_name")?);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(x) = scalar {
        event.scalars.push((tag, f64::from(x)));
    } else if let (Some(text), Some("text")) = (text, plugin.as_deref()) {
        event.texts.push((tag, text));
    }
    Ok(())
}
