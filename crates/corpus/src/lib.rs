//! Replay folders for exphil: finding `.slp` files, summarising each one (players, stage,
//! result, quality), filtering and de-duplicating them, and aggregating a scan report.
//!
//! Every command that takes replays (`replays scan`, and later `train`, `eval`, `kmeans`) goes
//! through [`discover`], [`inspect`] and [`Filter`], so they agree on what a usable replay is.
#![deny(missing_docs)]

mod discover;
mod filter;
mod info;
mod quality;
mod report;

pub use discover::discover;
pub use filter::{Filter, Rejection};
pub use info::{
    content_hash, inspect, inspect_bytes, summarize_decoded, summarize_game, Depth, FileError,
    PlayerInfo, ReplayInfo,
};
pub use quality::{quality, Quality, QUALITY_RULES};
pub use report::{Outcome, ScanReport};
