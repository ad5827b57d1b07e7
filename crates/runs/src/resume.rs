//! Where a run resumes: its checkpoints verified and ranked by progress, and the ones refused on
//! the way with why and what skipping them costs.
//!
//! The progress is read from each checkpoint's `state.json` (the trainer's state, of which only
//! the [`Progress`] fields matter here), so finding where to resume, or the weights of a run that
//! has no final model yet, needs neither the trainer nor the ML framework.

use crate::checkpoint::{
    cleanup, list_checkpoints, load_checkpoint, read_checkpoint_dir, CheckpointError,
    CheckpointFiles, MANIFEST,
};
use crate::rundir::RunDir;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A checkpoint's state file, written by the trainer.
pub const STATE_FILE: &str = "state.json";

/// How far a checkpoint got: the fields of the trainer's `state.json` that rank checkpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Progress {
    /// The epoch in progress (0-based).
    pub epoch: u32,
    /// Batches of that epoch already trained.
    pub batch: u64,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Batches trained over the run.
    pub micro_steps: u64,
}

impl Progress {
    /// The progress a `state.json` records, if it parses.
    pub fn of_state(bytes: &[u8]) -> Option<Progress> {
        serde_json::from_slice(bytes).ok()
    }

    fn triple(self) -> (u32, u64, u64) {
        (self.epoch, self.batch, self.steps)
    }
}

/// Why no checkpoint could be resumed from. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// A checkpoint directory could not be read or cleaned up.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The path is neither a run directory nor a checkpoint directory.
    #[error(
        "checkpoint: {}: neither a run directory (with checkpoints/) nor a checkpoint directory",
        .0.display()
    )]
    NotARun(PathBuf),
    /// Every checkpoint of the run was refused (or it has none).
    #[error("checkpoint: no loadable checkpoint in {}{}", parent.display(), refusals(refused))]
    NoneLoadable {
        /// The run's checkpoints directory.
        parent: PathBuf,
        /// The checkpoints refused, with their reasons.
        refused: Vec<RefusedCheckpoint>,
    },
}

fn refusals(refused: &[RefusedCheckpoint]) -> String {
    if refused.is_empty() {
        return String::new();
    }
    format!(
        ": {}",
        refused
            .iter()
            .map(|r| format!("{}: {}", r.name, r.reason))
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// A checkpoint that could not be resumed from, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct RefusedCheckpoint {
    /// Its name (`latest`, `batch`, `epoch-0020`, …).
    pub name: String,
    /// Why it was refused (a checksum, a missing or unreadable file).
    pub reason: String,
    /// The progress its own `state.json` claims, when that file can still be read: (epoch,
    /// batch, optimiser steps).
    pub progress: Option<(u32, u64, u64)>,
}

/// Where a run resumes: the most advanced checkpoint that verifies, and every checkpoint of the
/// run that was refused on the way.
#[derive(Clone, Debug)]
pub struct ResumePoint {
    /// The checkpoint's files.
    pub files: CheckpointFiles,
    /// Its name.
    pub name: String,
    /// Its progress: (epoch, batch, optimiser steps).
    pub progress: (u32, u64, u64),
    /// The checkpoints refused, with their reasons.
    pub refused: Vec<RefusedCheckpoint>,
}

impl ResumePoint {
    /// The refused checkpoint furthest ahead of the resume point, and the optimiser steps that
    /// are lost by resuming here instead.
    pub fn progress_lost(&self) -> Option<(&RefusedCheckpoint, u64)> {
        self.refused
            .iter()
            .filter_map(|r| r.progress.map(|p| (r, p.2)))
            .filter(|(_, steps)| *steps > self.progress.2)
            .max_by_key(|(_, steps)| *steps)
            .map(|(r, steps)| (r, steps - self.progress.2))
    }
}

/// The progress a checkpoint's `state.json` claims, read without verifying anything else.
fn claimed_progress(dir: &Path) -> Option<(u32, u64, u64)> {
    let bytes = std::fs::read(dir.join(STATE_FILE)).ok()?;
    Progress::of_state(&bytes).map(Progress::triple)
}

/// The checkpoint to resume from: `path` itself if it is a checkpoint directory, else the most
/// advanced intact checkpoint of the run directory `path`.
pub fn find_resume(path: &Path) -> Result<CheckpointFiles, ResumeError> {
    resume_point(path).map(|r| r.files)
}

/// [`find_resume`], with the checkpoints it refused and why (so the caller can say what
/// resuming costs). Leftovers of interrupted saves are cleaned up first.
pub fn resume_point(path: &Path) -> Result<ResumePoint, ResumeError> {
    let state_of = |c: &CheckpointFiles| -> Option<(u32, u64, u64)> {
        Progress::of_state(c.get(STATE_FILE)?).map(Progress::triple)
    };
    if path.join(MANIFEST).is_file() {
        let files = read_checkpoint_dir(path)?;
        let progress = state_of(&files).unwrap_or_default();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        return Ok(ResumePoint {
            files,
            name,
            progress,
            refused: Vec::new(),
        });
    }
    let parent = RunDir::new(path).checkpoints_path();
    if !parent.is_dir() {
        return Err(ResumeError::NotARun(path.to_path_buf()));
    }
    cleanup(&parent)?;
    let names = list_checkpoints(&parent)?;
    let mut best: Option<((u64, u64), String, CheckpointFiles)> = None;
    let mut refused = Vec::new();
    for n in names {
        let refuse = |reason: String| RefusedCheckpoint {
            name: n.clone(),
            reason,
            progress: claimed_progress(&parent.join(&n)),
        };
        match load_checkpoint(&parent, &n) {
            Ok(c) => {
                let Some(bytes) = c.get(STATE_FILE) else {
                    refused.push(refuse(format!("it has no {STATE_FILE}")));
                    continue;
                };
                let Some(s) = Progress::of_state(bytes) else {
                    refused.push(refuse(format!("its {STATE_FILE} is unreadable")));
                    continue;
                };
                let key = (s.micro_steps, s.steps);
                if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
                    best = Some((key, n.clone(), c));
                }
            }
            Err(e) => refused.push(refuse(e.to_string())),
        }
    }
    match best {
        Some((_, name, files)) => Ok(ResumePoint {
            progress: state_of(&files).unwrap_or_default(),
            files,
            name,
            refused,
        }),
        None => Err(ResumeError::NoneLoadable { parent, refused }),
    }
}
