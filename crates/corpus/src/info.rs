//! A per-file summary of one replay: who played, where, how long, how it ended, its quality.

use crate::quality::{quality, Quality};
use exphil_replay::{
    read, read_summary, DecodeError, DecodeOptions, ExternalCharacter, ExternalStage, Game,
    GameStart, PlayerKind, Port, RAW_START,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Frames per second of NTSC Melee.
pub const FPS: f64 = 60.0;

/// How much of each file to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Decode every frame (exact frame counts, final stocks, quality score).
    Full,
    /// Game Start, Game End and metadata only: fast, frame count from metadata.
    Metadata,
}

/// A replay that could not be read, with its path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: DecodeError,
}

/// One player of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct PlayerInfo {
    /// Port number (1–4).
    pub port: u8,
    /// Character (external id).
    pub character: ExternalCharacter,
    /// Character name.
    pub character_name: String,
    /// Human, CPU or demo.
    pub kind: PlayerKind,
    /// In-game name tag, when set.
    pub name_tag: Option<String>,
    /// Slippi Online display name (Game Start 3.9+, else metadata).
    pub netplay_name: Option<String>,
    /// Slippi Online connect code.
    pub connect_code: Option<String>,
    /// Stocks left on the last frame (full decode only).
    pub end_stocks: Option<u8>,
    /// Percent on the last frame (full decode only).
    pub end_percent: Option<f32>,
    /// Placement, 0 = winner (3.13+ Game End, else derived from final stocks and percent).
    pub placement: Option<u8>,
}

impl PlayerInfo {
    /// "name (CODE)" when known, else the name tag, else `None`.
    pub fn identity(&self) -> Option<String> {
        match (&self.netplay_name, &self.connect_code, &self.name_tag) {
            (Some(n), Some(c), _) if !c.is_empty() => Some(format!("{n} ({c})")),
            (Some(n), _, _) if !n.is_empty() => Some(n.clone()),
            (_, _, Some(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        }
    }
}

/// Everything `replays scan` knows about one file.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayInfo {
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the raw event stream (the game itself, not the metadata), hex.
    pub content_hash: String,
    /// Slippi version.
    pub version: String,
    /// Stage (external id).
    pub stage: ExternalStage,
    /// Stage name.
    pub stage_name: String,
    /// Players by port.
    pub players: Vec<PlayerInfo>,
    /// Frames (distinct frame ids; from metadata in `Depth::Metadata`).
    pub frames: Option<usize>,
    /// Play time in seconds (frames / 60).
    pub seconds: Option<f64>,
    /// How the game ended (`None`: no Game End).
    pub end_method: Option<String>,
    /// Slippi Online game.
    pub online: bool,
    /// Where it was played (metadata `playedOn`).
    pub played_on: Option<String>,
    /// Start time (metadata `startAt`).
    pub start_at: Option<String>,
    /// Whether decoding stopped early (truncation or corruption).
    pub damaged: bool,
    /// Quality score and its deductions.
    pub quality: Quality,
    /// Decoder warnings, as text.
    pub warnings: Vec<String>,
}

impl ReplayInfo {
    /// Whether every player is human.
    pub fn all_human(&self) -> bool {
        self.players.iter().all(|p| p.kind == PlayerKind::Human)
    }
}

/// Reads and summarises one file.
pub fn inspect(path: &Path, depth: Depth) -> Result<ReplayInfo, FileError> {
    let bytes = exphil_replay::read_bytes(path).map_err(|error| FileError {
        path: path.to_path_buf(),
        error,
    })?;
    inspect_bytes(path, &bytes, depth)
}

/// Summarises one file already in memory.
pub fn inspect_bytes(path: &Path, bytes: &[u8], depth: Depth) -> Result<ReplayInfo, FileError> {
    let err = |error| FileError {
        path: path.to_path_buf(),
        error,
    };
    let content_hash = content_hash(bytes);
    match depth {
        Depth::Full => {
            let game = read(bytes, DecodeOptions::default()).map_err(err)?;
            Ok(summarize_game(path, bytes, &game))
        }
        Depth::Metadata => {
            let s = read_summary(bytes).map_err(err)?;
            let players = players(&s.start, s.metadata.as_ref(), None, s.end.as_ref());
            let damaged = s.warnings.iter().any(|w| w.is_damage());
            let q = quality(&s.start, s.frames, s.end.as_ref(), damaged, None);
            Ok(ReplayInfo {
                path: path.to_path_buf(),
                bytes: bytes.len() as u64,
                content_hash,
                version: s.start.version.to_string(),
                stage: s.start.stage,
                stage_name: s.start.stage.to_string(),
                players,
                frames: s.frames,
                seconds: s.frames.map(|f| f as f64 / FPS),
                end_method: s.end.as_ref().map(|e| e.method.to_string()),
                online: s.start.is_online(),
                played_on: s.metadata.as_ref().and_then(|m| m.played_on.clone()),
                start_at: s.metadata.as_ref().and_then(|m| m.start_at.clone()),
                damaged,
                quality: q,
                warnings: s.warnings.iter().map(ToString::to_string).collect(),
            })
        }
    }
}

/// xxh3-64 of a replay file's raw event stream (the game itself, not the metadata), as hex: the
/// [`ReplayInfo::content_hash`] duplicates and the split are keyed by.
pub fn content_hash(bytes: &[u8]) -> String {
    let raw_len = exphil_replay::header(bytes).unwrap_or(0) as usize;
    let end = if raw_len == 0 {
        bytes.len()
    } else {
        RAW_START.saturating_add(raw_len).min(bytes.len())
    };
    let raw = bytes.get(RAW_START..end).unwrap_or(bytes);
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(raw))
}

/// Summarises a game already decoded from `bytes` (so a caller that needs the frames too decodes
/// once).
pub fn summarize_game(path: &Path, bytes: &[u8], game: &Game) -> ReplayInfo {
    summarize_decoded(path, bytes.len() as u64, content_hash(bytes), game)
}

/// Summarises a game decoded from a file of `bytes` bytes whose [`content_hash`] is
/// `content_hash`, when the file's bytes are no longer at hand (the Python package summarises a
/// game only when its metadata is asked for).
pub fn summarize_decoded(path: &Path, bytes: u64, content_hash: String, game: &Game) -> ReplayInfo {
    let frames = game.frames.len();
    let players = players(
        &game.start,
        game.metadata.as_ref(),
        Some(game),
        game.end.as_ref(),
    );
    let damaged = game.damage().is_some();
    let q = quality(
        &game.start,
        Some(frames),
        game.end.as_ref(),
        damaged,
        Some(game),
    );
    ReplayInfo {
        path: path.to_path_buf(),
        bytes,
        content_hash,
        version: game.start.version.to_string(),
        stage: game.start.stage,
        stage_name: game.start.stage.to_string(),
        players,
        frames: Some(frames),
        seconds: Some(frames as f64 / FPS),
        end_method: game.end.as_ref().map(|e| e.method.to_string()),
        online: game.start.is_online(),
        played_on: game.metadata.as_ref().and_then(|m| m.played_on.clone()),
        start_at: game.metadata.as_ref().and_then(|m| m.start_at.clone()),
        damaged,
        quality: q,
        warnings: game.warnings.iter().map(ToString::to_string).collect(),
    }
}

fn players(
    start: &GameStart,
    meta: Option<&exphil_replay::Metadata>,
    game: Option<&Game>,
    end: Option<&exphil_replay::GameEnd>,
) -> Vec<PlayerInfo> {
    let mut out: Vec<PlayerInfo> = start
        .players
        .iter()
        .map(|p| {
            let m = meta.and_then(|m| {
                m.players
                    .iter()
                    .find(|mp| mp.port_index as usize == p.port.index())
            });
            let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
            let (end_stocks, end_percent) = game
                .and_then(|g| final_state(g, p.port))
                .map_or((None, None), |(s, pc)| (Some(s), Some(pc)));
            PlayerInfo {
                port: p.port.number(),
                character: p.character,
                character_name: p.character.to_string(),
                kind: p.kind,
                name_tag: non_empty(p.name_tag.clone()),
                netplay_name: non_empty(p.netplay.as_ref().map(|n| n.name.clone()))
                    .or_else(|| non_empty(m.and_then(|m| m.netplay.clone()))),
                connect_code: non_empty(p.netplay.as_ref().map(|n| n.code.clone()))
                    .or_else(|| non_empty(m.and_then(|m| m.code.clone()))),
                end_stocks,
                end_percent,
                placement: end
                    .and_then(|e| e.placements)
                    .and_then(|pl| u8::try_from(pl[p.port.index()]).ok()),
            }
        })
        .collect();
    // Before 3.13 there are no placements: rank by stocks, then percent, when the game ended
    // by stocks or time.
    let decided = end.is_some_and(|e| matches!(e.method.0, 1..=3));
    if decided
        && out
            .iter()
            .all(|p| p.placement.is_none() && p.end_stocks.is_some())
    {
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (&out[a], &out[b]);
            pb.end_stocks.cmp(&pa.end_stocks).then(
                pa.end_percent
                    .unwrap_or(0.0)
                    .total_cmp(&pb.end_percent.unwrap_or(0.0)),
            )
        });
        for (rank, i) in order.into_iter().enumerate() {
            out[i].placement = Some(rank as u8);
        }
    }
    out
}

/// Stocks and percent of `port` on the last frame where its character is present.
fn final_state(game: &Game, port: Port) -> Option<(u8, f32)> {
    let column = game.frames.ports.iter().find(|c| c.port == port)?;
    let last = column.leader.iter().rev().flatten().next()?;
    Some((last.post.stocks, last.post.percent))
}
