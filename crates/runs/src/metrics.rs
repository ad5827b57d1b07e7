//! `metrics.jsonl`: one JSON object per line, appended as training goes (batch lines and epoch
//! lines). A process killed mid-write leaves at most a torn last line, which readers ignore and
//! [`MetricsLog::open`] cuts off before appending. On resume, [`truncate_after`] drops the lines of
//! epochs after the resumed checkpoint, so the log matches an uninterrupted run.

use exphil_io::{with_path, write_atomic};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The metrics file's name in a run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// An append-only metrics log.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens (creating it if needed) the log at `path` for appending. A torn last line (no
    /// final newline, left by a killed process) is cut off first, so new lines start clean.
    pub fn open(path: &Path) -> io::Result<MetricsLog> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| with_path(e, path))?;
        let len = file.metadata().map_err(|e| with_path(e, path))?.len();
        if len > 0 {
            let keep = complete_prefix_len(&mut file, len).map_err(|e| with_path(e, path))?;
            if keep != len {
                file.set_len(keep).map_err(|e| with_path(e, path))?;
                file.sync_all().map_err(|e| with_path(e, path))?;
            }
        }
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (a JSON object) as one line and flushes it to the OS.
    pub fn append(&mut self, record: &Value) -> io::Result<()> {
        if !record.is_object() {
            return Err(with_path(
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a metrics record must be a JSON object",
                ),
                &self.path,
            ));
        }
        let mut line = serde_json::to_vec(record)
            .map_err(|e| with_path(io::Error::new(io::ErrorKind::InvalidData, e), &self.path))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| with_path(e, &self.path))
    }

    /// Appends `record` and fsyncs the file, so the line survives a crash (used for epoch
    /// lines).
    pub fn append_durable(&mut self, record: &Value) -> io::Result<()> {
        self.append(record)?;
        self.file.sync_data().map_err(|e| with_path(e, &self.path))
    }
}

/// The length of the file's content up to and including its last newline.
fn complete_prefix_len(file: &mut File, len: u64) -> io::Result<u64> {
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let n = pos.min(buf.len() as u64);
        pos -= n;
        file.seek(SeekFrom::Start(pos))?;
        let chunk = &mut buf[..n as usize];
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

/// The complete lines of `bytes` (each with its byte range), the torn tail left out: a last line
/// without a newline is kept only when it parses as a JSON object.
fn lines(path: &Path, bytes: &[u8]) -> io::Result<Vec<(Value, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let (end, next, complete) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, start + i + 1, true),
            None => (bytes.len(), bytes.len(), false),
        };
        let text = &bytes[start..end];
        if !text.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(text) {
                Ok(v) if v.is_object() => out.push((v, start..next)),
                // A torn last line: the write that made it was cut short.
                _ if !complete => {}
                Ok(_) => {
                    return Err(with_path(
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("line {line_no} is not a JSON object"),
                        ),
                        path,
                    ))
                }
                Err(e) => {
                    return Err(with_path(
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("line {line_no} does not parse: {e}"),
                        ),
                        path,
                    ))
                }
            }
        }
        start = next;
    }
    Ok(out)
}

/// Reads every record of a metrics log. A torn last line is ignored; a bad line before it is an
/// error naming the file and line.
pub fn read_metrics(path: &Path) -> io::Result<Vec<Value>> {
    let bytes = std::fs::read(path).map_err(|e| with_path(e, path))?;
    Ok(lines(path, &bytes)?.into_iter().map(|(v, _)| v).collect())
}

/// Drops every record whose numeric `epoch` field is greater than `epoch` (and a torn last
/// line), rewriting the file atomically; other lines are kept byte for byte. Returns how many
/// records were dropped. A missing file has nothing to drop.
pub fn truncate_after(path: &Path, epoch: f64) -> io::Result<usize> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(with_path(e, path)),
    };
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dropped = 0;
    for (v, range) in lines(path, &bytes)? {
        if v.get("epoch")
            .and_then(Value::as_f64)
            .is_some_and(|e| e > epoch)
        {
            dropped += 1;
        } else {
            kept.extend_from_slice(&bytes[range]);
            if kept.last() != Some(&b'\n') {
                kept.push(b'\n');
            }
        }
    }
    if kept != bytes {
        write_atomic(path, &kept)?;
    }
    Ok(dropped)
}
