//! The aggregate of a scan: counts, totals and distributions.

use crate::filter::Rejection;
use crate::info::{FileError, ReplayInfo};
use serde::Serialize;
use std::collections::BTreeMap;

/// What happened to one file in a scan.
#[derive(Debug)]
pub enum Outcome {
    /// Decoded (possibly with warnings).
    Ok(Box<ReplayInfo>),
    /// Could not be decoded.
    Failed(FileError),
}

/// Totals and distributions over the replays a scan kept.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanReport {
    /// Files looked at.
    pub files: usize,
    /// Files decoded.
    pub ok: usize,
    /// Files that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Decoded files with damage (kept frames before it).
    pub damaged: usize,
    /// Files filtered out, by reason.
    pub filtered: BTreeMap<String, usize>,
    /// Duplicates skipped (also counted in `filtered`).
    pub duplicates: usize,
    /// Replays kept.
    pub kept: usize,
    /// Frames over kept replays.
    pub total_frames: u64,
    /// Play time over kept replays, in seconds.
    pub total_seconds: f64,
    /// Kept replays per Slippi version.
    pub versions: BTreeMap<String, usize>,
    /// Player-games per character.
    pub characters: BTreeMap<String, usize>,
    /// Kept replays per stage.
    pub stages: BTreeMap<String, usize>,
    /// Player-games per player identity (netplay name and code, or name tag).
    pub players: BTreeMap<String, usize>,
    /// Kept replays per quality decile ("90-100", …).
    pub quality: BTreeMap<String, usize>,
}

impl ScanReport {
    /// Builds the report from every file's outcome and the filter's verdicts.
    pub fn build(
        outcomes: &[Outcome],
        kept: &[&ReplayInfo],
        rejected: &[(&ReplayInfo, Rejection)],
    ) -> ScanReport {
        let mut r = ScanReport {
            files: outcomes.len(),
            ..Default::default()
        };
        for o in outcomes {
            match o {
                Outcome::Ok(info) => {
                    r.ok += 1;
                    r.damaged += info.damaged as usize;
                }
                Outcome::Failed(e) => r
                    .failed
                    .push((e.path.display().to_string(), e.error.to_string())),
            }
        }
        for (_, why) in rejected {
            *r.filtered.entry(why.to_string()).or_default() += 1;
            r.duplicates += (*why == Rejection::Duplicate) as usize;
        }
        r.kept = kept.len();
        for info in kept {
            r.total_frames += info.frames.unwrap_or(0) as u64;
            r.total_seconds += info.seconds.unwrap_or(0.0);
            *r.versions.entry(info.version.clone()).or_default() += 1;
            *r.stages.entry(info.stage_name.clone()).or_default() += 1;
            let decile = (info.quality.score / 10).min(9) * 10;
            *r.quality
                .entry(format!(
                    "{decile:>2}-{}",
                    decile + if decile == 90 { 10 } else { 9 }
                ))
                .or_default() += 1;
            for p in &info.players {
                *r.characters.entry(p.character_name.clone()).or_default() += 1;
                if let Some(id) = p.identity() {
                    *r.players.entry(id).or_default() += 1;
                }
            }
        }
        r
    }
}
