//! Replay filters shared by every command that takes replays.

use crate::info::ReplayInfo;
use exphil_replay::{ExternalCharacter, ExternalStage};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// Which replays to keep. The default keeps everything that decodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    /// Keep games where at least one player is one of these characters (empty: any).
    pub characters: Vec<ExternalCharacter>,
    /// Keep games on one of these stages (empty: any).
    pub stages: Vec<ExternalStage>,
    /// Minimum frames.
    pub min_frames: Option<usize>,
    /// Only games where every player is human.
    pub human_only: bool,
    /// Only games with exactly two players.
    pub one_v_one: bool,
    /// Minimum quality score (0–100).
    pub min_quality: Option<u8>,
    /// Skip a replay whose game content was already seen (by content hash).
    pub dedupe: bool,
}

/// Why a replay was filtered out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// No player is one of the wanted characters.
    Character,
    /// Not one of the wanted stages.
    Stage,
    /// Fewer frames than the minimum.
    TooShort,
    /// A non-human player.
    NotHuman,
    /// Not exactly two players.
    NotOneVsOne,
    /// Quality below the minimum.
    LowQuality,
    /// Same content as an earlier file.
    Duplicate,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Character => "character not wanted",
            Rejection::Stage => "stage not wanted",
            Rejection::TooShort => "too short",
            Rejection::NotHuman => "non-human player",
            Rejection::NotOneVsOne => "not 1v1",
            Rejection::LowQuality => "quality below minimum",
            Rejection::Duplicate => "duplicate",
        })
    }
}

impl Filter {
    /// Checks one replay against every rule except duplicates.
    pub fn check(&self, info: &ReplayInfo) -> Result<(), Rejection> {
        if !self.characters.is_empty()
            && !info
                .players
                .iter()
                .any(|p| self.characters.contains(&p.character))
        {
            return Err(Rejection::Character);
        }
        if !self.stages.is_empty() && !self.stages.contains(&info.stage) {
            return Err(Rejection::Stage);
        }
        if let Some(min) = self.min_frames {
            if info.frames.unwrap_or(0) < min {
                return Err(Rejection::TooShort);
            }
        }
        if self.human_only && !info.all_human() {
            return Err(Rejection::NotHuman);
        }
        if self.one_v_one && info.players.len() != 2 {
            return Err(Rejection::NotOneVsOne);
        }
        if let Some(min) = self.min_quality {
            if info.quality.score < min {
                return Err(Rejection::LowQuality);
            }
        }
        Ok(())
    }

    /// Applies the filter to replays in a fixed order (so the first copy of a duplicate wins),
    /// returning what was kept and what was rejected, with reasons.
    pub fn apply<'a>(
        &self,
        infos: impl IntoIterator<Item = &'a ReplayInfo>,
    ) -> (Vec<&'a ReplayInfo>, Vec<(&'a ReplayInfo, Rejection)>) {
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        let mut rejected = Vec::new();
        for info in infos {
            match self.check(info) {
                Err(r) => rejected.push((info, r)),
                Ok(()) if self.dedupe && !seen.insert(info.content_hash.as_str()) => {
                    rejected.push((info, Rejection::Duplicate))
                }
                Ok(()) => kept.push(info),
            }
        }
        (kept, rejected)
    }

    /// Whether any rule is set.
    pub fn is_active(&self) -> bool {
        *self != Filter::default()
    }
}
