//! What a built dataset holds, for `exphil dataset info`: games, frames, examples per split,
//! sizes on disk against the replays, the character and stage mix, and the feature layout.

use crate::build::{BuildError, DatasetManifest, Result};
use crate::split::Split;
use exphil_embed::Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A summary of a dataset directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetSummary {
    /// Format version of the dataset.
    pub format_version: u32,
    /// Pairing version of its examples (see `exphil_dataset::PAIRING_VERSION`).
    pub pairing_version: u32,
    /// Games.
    pub games: usize,
    /// Games in the training split.
    pub train_games: usize,
    /// Games in the validation split.
    pub validation_games: usize,
    /// Frames over all games.
    pub frames: u64,
    /// Examples in training games.
    pub train_examples: u64,
    /// Examples in validation games.
    pub validation_examples: u64,
    /// Frame-table rows (frames × 2 players).
    pub table_rows: u64,
    /// Bytes of the frame tables on disk.
    pub table_bytes: u64,
    /// Bytes of the shards on disk.
    pub shard_bytes: u64,
    /// Bytes of the source replays.
    pub slp_bytes: u64,
    /// Files left out (filters, errors, no examples).
    pub skipped: usize,
    /// Players per character name.
    pub characters: BTreeMap<String, usize>,
    /// Games per stage name.
    pub stages: BTreeMap<String, usize>,
    /// Frames dropped for an embedding anomaly, by component.
    pub anomalies: BTreeMap<String, u64>,
    /// The feature layout.
    pub layout: Layout,
}

/// Bytes of every file under `dir` (0 when it does not exist).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut total = 0;
    for e in entries {
        let e = e.map_err(|source| BuildError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        total += if p.is_dir() {
            dir_bytes(&p)?
        } else {
            e.metadata().map(|m| m.len()).unwrap_or(0)
        };
    }
    Ok(total)
}

/// Summarises the dataset at `dir` (reads `dataset.json` and measures the files).
pub fn summarize(dir: &Path) -> Result<DatasetSummary> {
    let m = DatasetManifest::read(dir)?;
    let mut s = DatasetSummary {
        format_version: m.format_version,
        pairing_version: m.pairing_version,
        games: m.games.len(),
        train_games: 0,
        validation_games: 0,
        frames: 0,
        train_examples: 0,
        validation_examples: 0,
        table_rows: 0,
        table_bytes: dir_bytes(&dir.join("tables"))?,
        shard_bytes: dir_bytes(&dir.join("shards"))?,
        slp_bytes: 0,
        skipped: m.skipped.len(),
        characters: BTreeMap::new(),
        stages: BTreeMap::new(),
        anomalies: m.anomalies.clone(),
        layout: m.layout.clone(),
    };
    for g in &m.games {
        s.frames += g.frames as u64;
        s.table_rows += g.table_rows as u64;
        s.slp_bytes += g.slp_bytes;
        match g.split {
            Split::Train => {
                s.train_games += 1;
                s.train_examples += g.examples as u64;
            }
            Split::Validation => {
                s.validation_games += 1;
                s.validation_examples += g.examples as u64;
            }
        }
        *s.stages.entry(g.stage.clone()).or_insert(0) += 1;
        for p in &g.players {
            *s.characters.entry(p.character.clone()).or_insert(0) += 1;
        }
    }
    Ok(s)
}
