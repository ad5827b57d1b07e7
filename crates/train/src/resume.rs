//! Where a run resumes: its checkpoints verified and ranked by progress, and the ones refused on
//! the way with why and what skipping them costs.

use crate::error::{ck, TrainError};
use crate::state::TrainState;
use exphil_runs::checkpoint::{load_checkpoint, read_checkpoint_dir, CheckpointFiles};
use std::path::Path;

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
    let bytes = std::fs::read(dir.join("state.json")).ok()?;
    let s: TrainState = serde_json::from_slice(&bytes).ok()?;
    Some((s.epoch, s.batch, s.steps))
}

/// The checkpoint to resume from: `path` itself if it is a checkpoint directory, else the most
/// advanced intact checkpoint of the run directory `path`.
pub fn find_resume(path: &Path) -> Result<CheckpointFiles, TrainError> {
    resume_point(path).map(|r| r.files)
}

/// [`find_resume`], with the checkpoints it refused and why (so the caller can say what
/// resuming costs). Leftovers of interrupted saves are cleaned up first.
pub fn resume_point(path: &Path) -> Result<ResumePoint, TrainError> {
    let state_of = |c: &CheckpointFiles| -> Option<(u32, u64, u64)> {
        let s: TrainState = serde_json::from_slice(c.get("state.json")?).ok()?;
        Some((s.epoch, s.batch, s.steps))
    };
    if path.join("manifest.json").is_file() {
        let files = read_checkpoint_dir(path).map_err(ck)?;
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
    let parent = exphil_runs::rundir::RunDir::new(path).checkpoints_path();
    if !parent.is_dir() {
        return Err(ck(format!(
            "{}: neither a run directory (with checkpoints/) nor a checkpoint directory",
            path.display()
        )));
    }
    exphil_runs::checkpoint::cleanup(&parent).map_err(ck)?;
    let names = exphil_runs::checkpoint::list_checkpoints(&parent).map_err(ck)?;
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
                let Some(bytes) = c.get("state.json") else {
                    refused.push(refuse("it has no state.json".into()));
                    continue;
                };
                let Ok(s) = serde_json::from_slice::<TrainState>(bytes) else {
                    refused.push(refuse("its state.json is unreadable".into()));
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
        None => Err(ck(format!(
            "no loadable checkpoint in {}{}",
            parent.display(),
            if refused.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    refused
                        .iter()
                        .map(|r| format!("{}: {}", r.name, r.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        ))),
    }
}
