//! Slippi replay (`.slp`) decoding for exphil.
//!
//! Reads every Slippi format version from 0.1.0 to 3.19+, bounded by the payload sizes each file
//! declares: fields past a declared size are `None`, unknown events are skipped, and damaged
//! input (cut, truncated, corrupted) keeps every complete frame before the damage with a
//! [`Warning`] saying where and why. Nothing here panics on input, allocates from an unchecked
//! length, or loops without consuming bytes.
//!
//! ```no_run
//! use exphil_replay::{read_file, DecodeOptions, Port};
//! let game = read_file("game.slp".as_ref(), DecodeOptions::default())?;
//! for frame in game.frames.iter() {
//!     if let Some(p1) = frame.port(Port::from_number(1).unwrap()) {
//!         println!("{} {:?}", frame.id(), p1.leader.post.percent);
//!     }
//! }
//! # Ok::<(), exphil_replay::DecodeError>(())
//! ```
//!
//! The same [`Decoder`] accepts the raw event stream a piece at a time (the live Dolphin link).
//! [`write`] is the inverse of [`read`]: it writes a [`Game`] (the simulator's, for one) as a
//! `.slp` file the rest of exphil reads like any other.
#![deny(missing_docs)]

pub mod event;
mod file;
mod game;
mod ids;
mod parse;
mod stream;
pub mod ubjson;
mod warning;
mod write;

pub use file::{
    header, max_file_bytes, read, read_bytes, read_bytes_limited, read_file, read_summary, Summary,
    MAX_FILE_BYTES, MAX_FILE_ENV, RAW_START, SIGNATURE,
};
pub use game::*;
pub use ids::*;
pub use parse::melee_string;
pub use stream::{DecodeOptions, Decoder, ITEM_SLOTS, MAX_SPLIT_BYTES, MAX_WARNINGS};
pub use warning::{DecodeError, Warning, WarningKind};
pub use write::{raw_events, write, write_file, WRITE_VERSION};
