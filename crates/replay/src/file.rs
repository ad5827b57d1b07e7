//! The `.slp` container: UBJSON header, raw event stream (fed to [`Decoder`]), metadata.

use crate::event;
use crate::game::{Game, GameEnd, Metadata, MetadataPlayer};
use crate::parse;
use crate::stream::{DecodeOptions, Decoder};
use crate::ubjson;
use crate::warning::{DecodeError, Warning, WarningKind};
use serde_json::Value;
use std::path::Path;

/// The first 11 bytes of every `.slp` file: `{`, key `raw`, `[$U#l`.
pub const SIGNATURE: [u8; 11] = [
    0x7B, 0x55, 0x03, 0x72, 0x61, 0x77, 0x5B, 0x24, 0x55, 0x23, 0x6C,
];
/// Offset of the raw event stream in a file.
pub const RAW_START: usize = 15;
const METADATA_KEY: &[u8] = b"U\x08metadata{";

/// Says what a non-replay file looks like.
fn describe_non_replay(bytes: &[u8]) -> String {
    let head: Vec<u8> = bytes.iter().take(16).copied().collect();
    let lower = String::from_utf8_lossy(&head).to_lowercase();
    let is_html = lower.starts_with("<!doctype") || lower.starts_with("<html");
    let kind = if bytes.len() < SIGNATURE.len() {
        format!("only {} bytes long", bytes.len())
    } else if head.starts_with(b"\x89PNG") {
        "a PNG image".into()
    } else if head.starts_with(b"\x1f\x8b") {
        "a gzip archive".into()
    } else if head.starts_with(b"PK\x03\x04") {
        "a zip archive".into()
    } else if head.starts_with(b"%PDF") {
        "a PDF document".into()
    } else if head.starts_with(b"{") {
        "UBJSON or JSON without the Slippi `raw` array".into()
    } else if is_html {
        "an HTML page".into()
    } else if bytes
        .iter()
        .take(256)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "a text file".into()
    } else {
        "unknown binary data".into()
    };
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{kind} (starts with {})", hex.join(" "))
}

/// Declared raw-stream length from the header, after checking the signature.
pub fn header(bytes: &[u8]) -> Result<u32, DecodeError> {
    if bytes.len() < RAW_START || bytes[..SIGNATURE.len()] != SIGNATURE {
        if bytes.len() >= SIGNATURE.len() && bytes[..SIGNATURE.len()] == SIGNATURE {
            return Err(DecodeError::TruncatedHeader {
                offset: bytes.len() as u64,
                what: "the raw-length field",
            });
        }
        return Err(DecodeError::NotAReplay(describe_non_replay(bytes)));
    }
    let len = [bytes[11], bytes[12], bytes[13], bytes[14]];
    Ok(u32::from_be_bytes(len))
}

/// Decodes a whole `.slp` file held in memory.
///
/// Damage after Game Start (truncation, corruption) still returns `Ok` with every complete frame
/// before it, and a warning saying where and why ([`Game::damage`]).
pub fn read(bytes: &[u8], opts: DecodeOptions) -> Result<Game, DecodeError> {
    let raw_len = header(bytes)? as usize;
    let available = bytes.len() - RAW_START;
    let (raw, declared_end) = if raw_len == 0 {
        (&bytes[RAW_START..], None)
    } else {
        let end = RAW_START.saturating_add(raw_len);
        (&bytes[RAW_START..end.min(bytes.len())], Some(end))
    };
    let mut decoder = Decoder::new(opts, RAW_START as u64);
    decoder.size_hint(raw.len());
    decoder.feed(raw)?;
    let metadata_at = match declared_end {
        Some(end) => (end <= bytes.len()).then_some(end),
        None => decoder.metadata_offset().map(|o| o as usize),
    };
    let stopped_early = decoder.is_stopped() && decoder.metadata_offset().is_none();
    let mut game = decoder.finish()?;
    if raw_len == 0 {
        game.warnings.insert(
            0,
            Warning {
                offset: 11,
                kind: WarningKind::UnfinishedRecording,
            },
        );
    } else if raw_len > available && game.damage().is_none() {
        game.warnings.push(Warning {
            offset: bytes.len() as u64,
            kind: WarningKind::Truncated {
                what: format!(
                    "the raw event stream (header declares {raw_len} bytes, file holds {available})"
                ),
            },
        });
    }
    if let Some(at) = metadata_at.filter(|_| !stopped_early) {
        read_metadata(&bytes[at..], at as u64, &mut game);
    }
    Ok(game)
}

/// Reads the trailer after the raw stream: `U\x08metadata{…}` then `}`, or just `}`.
fn read_metadata(tail: &[u8], at: u64, game: &mut Game) {
    let warn = |game: &mut Game, reason: String| {
        game.warnings.push(Warning {
            offset: at,
            kind: WarningKind::Metadata { reason },
        })
    };
    if tail.first() == Some(&b'}') {
        return;
    }
    if tail.is_empty() {
        warn(game, "file ends where the metadata should start".into());
        return;
    }
    if !tail.starts_with(METADATA_KEY) {
        game.warnings.push(Warning {
            offset: at,
            kind: WarningKind::TrailingBytes {
                count: tail.len() as u64,
            },
        });
        return;
    }
    let body = &tail[METADATA_KEY.len()..];
    match ubjson::read_object_body(body) {
        Ok((map, used)) => {
            game.metadata = Some(metadata_from(Value::Object(map)));
            let rest = &body[used..];
            if rest.first() != Some(&b'}') {
                warn(game, "missing the closing brace after metadata".into());
            }
        }
        Err(e) => warn(
            game,
            format!(
                "at byte {}: {}",
                at + (METADATA_KEY.len() + e.offset) as u64,
                e.reason
            ),
        ),
    }
}

fn metadata_from(raw: Value) -> Metadata {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut players = Vec::new();
    if let Some(Value::Object(map)) = raw.get("players") {
        for (key, p) in map {
            let Ok(port_index) = key.parse::<u8>() else {
                continue;
            };
            let names = p.get("names");
            let mut characters: Vec<(u8, i64)> = p
                .get("characters")
                .and_then(Value::as_object)
                .map(|c| {
                    c.iter()
                        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_i64()?)))
                        .collect()
                })
                .unwrap_or_default();
            characters.sort_unstable();
            players.push(MetadataPlayer {
                port_index,
                netplay: text(names.and_then(|n| n.get("netplay"))),
                code: text(names.and_then(|n| n.get("code"))),
                characters,
            });
        }
    }
    players.sort_by_key(|p| p.port_index);
    Metadata {
        start_at: text(raw.get("startAt")),
        last_frame: raw
            .get("lastFrame")
            .and_then(Value::as_i64)
            .map(|f| f as i32),
        played_on: text(raw.get("playedOn")),
        console_nick: text(raw.get("consoleNick")),
        players,
        raw,
    }
}

/// A fast summary that skips frame data: Game Start, Game End and metadata.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Game Start.
    pub start: crate::game::GameStart,
    /// Game End, when found at the end of the raw stream.
    pub end: Option<GameEnd>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Frame count from metadata (`lastFrame + 124`), when present.
    pub frames: Option<usize>,
    /// Problems found.
    pub warnings: Vec<Warning>,
}

/// Reads Game Start, Game End and metadata without decoding frames. Files with raw length 0
/// (unfinished recordings) are decoded in full, since their end cannot be located otherwise.
pub fn read_summary(bytes: &[u8]) -> Result<Summary, DecodeError> {
    let raw_len = header(bytes)? as usize;
    let end = RAW_START.saturating_add(raw_len);
    if raw_len == 0 || end > bytes.len() {
        let game = read(bytes, DecodeOptions::default())?;
        let frames = Some(game.duration_frames());
        return Ok(Summary {
            start: game.start,
            end: game.end,
            metadata: game.metadata,
            frames,
            warnings: game.warnings,
        });
    }
    // Feed exactly Event Payloads and Game Start (at most 257 + 65,536 bytes).
    let head = header_events_len(&bytes[RAW_START..end]);
    let mut decoder = Decoder::new(DecodeOptions::default(), RAW_START as u64);
    decoder.feed(&bytes[RAW_START..RAW_START + head])?;
    let (mut game, end_size) = decoder.into_start()?;
    if let Some(size) = end_size {
        let at = end.checked_sub(1 + size as usize);
        if let Some(at) = at.filter(|&a| a >= RAW_START && bytes[a] == event::GAME_END) {
            game.end = Some(parse::game_end(event::Payload(&bytes[at + 1..end])));
        }
    }
    read_metadata(&bytes[end..], end as u64, &mut game);
    let frames = game
        .metadata
        .as_ref()
        .and_then(|m| m.last_frame)
        .map(|f| (f as i64 + 124).max(0) as usize); // i64: `lastFrame` may be near i32::MAX
    if frames.is_none() {
        // Old files have no `lastFrame`: count frames by decoding after all.
        let game = read(bytes, DecodeOptions::default())?;
        return Ok(Summary {
            frames: Some(game.duration_frames()),
            start: game.start,
            end: game.end,
            metadata: game.metadata,
            warnings: game.warnings,
        });
    }
    Ok(Summary {
        start: game.start,
        end: game.end,
        metadata: game.metadata,
        frames,
        warnings: game.warnings,
    })
}

/// Length of the Event Payloads and Game Start events at the start of `raw` (clamped to `raw`).
fn header_events_len(raw: &[u8]) -> usize {
    let Some(&size) = raw.get(1) else {
        return raw.len();
    };
    let table_end = (2 + size as usize).saturating_sub(1).min(raw.len());
    let start_size = raw
        .get(2..table_end)
        .unwrap_or_default()
        .chunks_exact(3)
        .find(|e| e[0] == event::GAME_START)
        .map_or(0, |e| u16::from_be_bytes([e[1], e[2]]) as usize);
    (1 + size as usize + 1 + start_size).min(raw.len())
}

impl Decoder {
    /// The game so far (frames dropped) and the declared Game End size, after Game Start.
    fn into_start(self) -> Result<(Game, Option<u16>), DecodeError> {
        let end_size = self.declared_size(event::GAME_END);
        let mut game = self.finish()?;
        game.frames = Default::default();
        game.warnings.retain(|w| !w.is_damage());
        Ok((game, end_size))
    }
}

/// The largest file read as a replay unless `EXPHIL_MAX_REPLAY_MIB` says otherwise: 1 GiB (a
/// long Slippi game is tens of megabytes).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The environment variable that overrides [`MAX_FILE_BYTES`], in MiB.
pub const MAX_FILE_ENV: &str = "EXPHIL_MAX_REPLAY_MIB";

/// The largest replay file read: `EXPHIL_MAX_REPLAY_MIB` MiB when it is set to a positive whole
/// number, otherwise [`MAX_FILE_BYTES`].
pub fn max_file_bytes() -> u64 {
    std::env::var(MAX_FILE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&mib| mib > 0)
        .map_or(MAX_FILE_BYTES, |mib| mib.saturating_mul(1 << 20))
}

/// The bytes of the replay file `path`, at most [`max_file_bytes`] of them (see
/// [`read_bytes_limited`]).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DecodeError> {
    read_bytes_limited(path, max_file_bytes())
}

/// The bytes of the replay file `path`: only a regular file (a device such as `/dev/zero`, a
/// FIFO or a directory is refused by name, never read), and at most `limit` bytes (a larger
/// file is refused after reading one byte past the limit, so memory stays bounded).
pub fn read_bytes_limited(path: &Path, limit: u64) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    let io = |e: std::io::Error| DecodeError::Io(e.to_string());
    let meta = std::fs::metadata(path).map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileTypeExt;
                if kind.is_char_device() || kind.is_block_device() {
                    "a device"
                } else if kind.is_fifo() {
                    "a named pipe"
                } else if kind.is_socket() {
                    "a socket"
                } else {
                    "not a regular file"
                }
            }
            #[cfg(not(unix))]
            {
                "not a regular file"
            }
        };
        return Err(DecodeError::Io(format!("{what}, not a replay file")));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    std::fs::File::open(path)
        .map_err(io)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(DecodeError::Io(format!(
            "larger than {} MiB, not read (the limit for one replay; {MAX_FILE_ENV}=<MiB> \
             raises it)",
            limit >> 20
        )));
    }
    Ok(bytes)
}

/// Reads and decodes a `.slp` file (through [`read_bytes`]).
pub fn read_file(path: &Path, opts: DecodeOptions) -> Result<Game, DecodeError> {
    read(&read_bytes(path)?, opts)
}
