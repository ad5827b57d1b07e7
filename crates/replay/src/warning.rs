//! Errors that stop a replay from decoding at all, and warnings about a replay that decoded
//! (possibly only in part).

use serde::Serialize;
use std::fmt;

/// A replay that could not be decoded at all: not a replay, or damaged before its first frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a Slippi replay.
    #[error("not a Slippi replay: {0}")]
    NotAReplay(String),
    /// The stream ended before Event Payloads and Game Start were complete.
    #[error("replay ends at byte {offset} before {what} was complete")]
    TruncatedHeader {
        /// Byte offset where data ran out.
        offset: u64,
        /// What was being read.
        what: &'static str,
    },
    /// Event Payloads or Game Start is malformed.
    #[error("invalid {what} at byte {offset}: {reason}")]
    Invalid {
        /// Byte offset of the event.
        offset: u64,
        /// Which structure.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading the file failed.
    #[error("cannot read file: {0}")]
    Io(String),
}

/// Something unusual about a replay that still decoded, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// Byte offset in the file (or stream) where it was found.
    pub offset: u64,
    /// What was found.
    pub kind: WarningKind,
}

/// The kinds of [`Warning`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WarningKind {
    /// The data ends in the middle of an event (damage: decoding stopped).
    Truncated {
        /// What was being read.
        what: String,
    },
    /// An event could not be decoded (damage: decoding stopped).
    Corrupt {
        /// Why.
        reason: String,
    },
    /// A frame lacked some of its data at the point it had to be closed, and was dropped.
    IncompleteFrame {
        /// Frame id.
        frame: i32,
        /// What was missing.
        missing: String,
    },
    /// An event whose code this decoder does not know was skipped by its declared size.
    UnknownEvent {
        /// Event code.
        code: u8,
    },
    /// An event was skipped because its payload is too small for its required fields.
    EventTooSmall {
        /// Event code.
        code: u8,
        /// Declared size.
        size: u16,
    },
    /// An event referred to a port that Game Start does not occupy, or an invalid port.
    BadPort {
        /// Event code.
        code: u8,
        /// Port byte.
        port: u8,
    },
    /// More than 15 items in one frame; the extra ones were dropped.
    TooManyItems {
        /// Frame id.
        frame: i32,
        /// Items in the frame.
        count: usize,
    },
    /// A second Game End event.
    DuplicateGameEnd,
    /// Frame events arrived after Game End and were ignored.
    EventsAfterGameEnd,
    /// Bytes after the raw stream that are neither metadata nor the closing brace.
    TrailingBytes {
        /// How many.
        count: u64,
    },
    /// The metadata object could not be read; frames are unaffected.
    Metadata {
        /// Why.
        reason: String,
    },
    /// A frame id never seen before arrived far behind the last one (more than 32 rows) and was
    /// dropped; real streams only re-send frames already seen.
    LateFrame {
        /// Frame id.
        frame: i32,
        /// How many rows behind the end it would have gone.
        rows_late: u64,
    },
    /// Message Splitter data grew past the reassembly cap and was discarded.
    SplitterOverflow {
        /// The cap in bytes.
        limit: u64,
    },
    /// More warnings than are kept were found; this many were not listed.
    MoreWarnings {
        /// How many were not listed.
        count: u64,
    },
    /// The raw-length field says 0: the file was still being written (console crash, game in
    /// progress); events were read up to the metadata marker or the end of the file.
    UnfinishedRecording,
}

impl Warning {
    /// Whether this warning means decoding stopped before the end of the stream.
    pub fn is_damage(&self) -> bool {
        matches!(
            self.kind,
            WarningKind::Truncated { .. } | WarningKind::Corrupt { .. }
        )
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WarningKind::*;
        match &self.kind {
            Truncated { what } => {
                write!(f, "truncated at byte {} while reading {what}", self.offset)
            }
            Corrupt { reason } => write!(f, "corrupt at byte {}: {reason}", self.offset),
            IncompleteFrame { frame, missing } => {
                write!(
                    f,
                    "frame {frame} dropped (incomplete: {missing}) at byte {}",
                    self.offset
                )
            }
            UnknownEvent { code } => {
                write!(
                    f,
                    "unknown event 0x{code:02x} skipped at byte {}",
                    self.offset
                )
            }
            EventTooSmall { code, size } => write!(
                f,
                "event 0x{code:02x} skipped at byte {}: declared size {size} is too small",
                self.offset
            ),
            BadPort { code, port } => write!(
                f,
                "event 0x{code:02x} at byte {} names port {port}, which is not in the game",
                self.offset
            ),
            TooManyItems { frame, count } => write!(
                f,
                "frame {frame} has {count} items; only 15 slots are kept (byte {})",
                self.offset
            ),
            DuplicateGameEnd => write!(f, "duplicate Game End at byte {}", self.offset),
            EventsAfterGameEnd => write!(f, "frame events after Game End at byte {}", self.offset),
            TrailingBytes { count } => {
                write!(
                    f,
                    "{count} unexpected trailing bytes at byte {}",
                    self.offset
                )
            }
            Metadata { reason } => {
                write!(f, "metadata unreadable at byte {}: {reason}", self.offset)
            }
            LateFrame { frame, rows_late } => write!(
                f,
                "frame {frame} at byte {} arrived {rows_late} frames late and was dropped",
                self.offset
            ),
            SplitterOverflow { limit } => write!(
                f,
                "Message Splitter data at byte {} exceeds {limit} bytes; discarded",
                self.offset
            ),
            MoreWarnings { count } => write!(f, "{count} further warnings not listed"),
            UnfinishedRecording => write!(
                f,
                "raw length is 0 (recording never finished); read events up to the end"
            ),
        }
    }
}
