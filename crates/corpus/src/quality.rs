//! The replay quality score (0–100): how useful a replay is as imitation-learning data.
//!
//! Starts at 100; each rule below that applies deducts its points (the score never goes below
//! 0). Rules that need frame data (idle stretches, self-destructs) apply only to a full decode.

use exphil_replay::{Game, GameEnd, GameStart, PlayerKind};
use serde::Serialize;

/// Frames in 30 seconds: shorter games are hardly games.
pub const VERY_SHORT_FRAMES: usize = 1800;
/// Frames in 60 seconds.
pub const SHORT_FRAMES: usize = 3600;
/// Unchanged inputs for this many frames (10 s) make an idle stretch.
pub const IDLE_FRAMES: usize = 600;
/// A stock lost with no damage taken in this many frames (4 s) before counts as a self-destruct.
pub const SD_WINDOW_FRAMES: usize = 240;

/// The rules, as (name, points, description), in the order they are checked.
pub const QUALITY_RULES: &[(&str, u8, &str)] = &[
    (
        "incomplete",
        25,
        "no Game End, or decoding stopped at damage",
    ),
    ("very_short", 40, "under 30 s (1,800 frames)"),
    ("short", 10, "30–60 s"),
    ("cpu", 30, "a CPU player"),
    ("not_1v1", 20, "not exactly two players"),
    ("stage", 20, "not one of the six tournament stages"),
    ("no_contest", 10, "ended by L+R+A+Start or no contest"),
    (
        "idle",
        10,
        "each stretch of 10 s with a player's inputs unchanged (at most 30)",
    ),
    (
        "self_destructs",
        10,
        "each self-destruct when a player has two or more (at most 30)",
    ),
];

/// A quality score with the deductions that produced it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quality {
    /// Score, 0–100.
    pub score: u8,
    /// Deductions applied: (rule name, points, detail).
    pub deductions: Vec<(String, u8, String)>,
}

fn points(rule: &str) -> u8 {
    QUALITY_RULES
        .iter()
        .find(|r| r.0 == rule)
        .map_or(0, |r| r.1)
}

/// Scores a replay. `frames` is the frame count when known; `game` enables the frame rules.
pub fn quality(
    start: &GameStart,
    frames: Option<usize>,
    end: Option<&GameEnd>,
    damaged: bool,
    game: Option<&Game>,
) -> Quality {
    let mut d: Vec<(String, u8, String)> = Vec::new();
    let mut add = |rule: &str, pts: u8, detail: String| d.push((rule.to_string(), pts, detail));
    if damaged || end.is_none() {
        let why = if damaged {
            "damaged file"
        } else {
            "no Game End"
        };
        add("incomplete", points("incomplete"), why.into());
    }
    if let Some(n) = frames {
        if n < VERY_SHORT_FRAMES {
            add("very_short", points("very_short"), format!("{n} frames"));
        } else if n < SHORT_FRAMES {
            add("short", points("short"), format!("{n} frames"));
        }
    }
    let cpus = start
        .players
        .iter()
        .filter(|p| p.kind != PlayerKind::Human)
        .count();
    if cpus > 0 {
        add("cpu", points("cpu"), format!("{cpus} non-human player(s)"));
    }
    if start.players.len() != 2 {
        add(
            "not_1v1",
            points("not_1v1"),
            format!("{} players", start.players.len()),
        );
    }
    if !start.stage.is_legal() {
        add("stage", points("stage"), start.stage.to_string());
    }
    if end.is_some_and(|e| e.method.0 == 7 || e.lras_initiator.flatten().is_some()) {
        add("no_contest", points("no_contest"), "no contest".into());
    }
    if let Some(game) = game {
        let idle = idle_stretches(game);
        if idle > 0 {
            let pts = (idle * points("idle") as usize).min(30) as u8;
            add("idle", pts, format!("{idle} idle stretch(es)"));
        }
        let sds = self_destructs(game);
        if sds >= 2 {
            let pts = (sds * points("self_destructs") as usize).min(30) as u8;
            add("self_destructs", pts, format!("{sds} self-destructs"));
        }
    }
    let total: u32 = d.iter().map(|x| x.1 as u32).sum();
    Quality {
        score: 100u32.saturating_sub(total) as u8,
        deductions: d,
    }
}

/// Stretches of at least [`IDLE_FRAMES`] after "GO" where a player's processed inputs do not
/// change at all, summed over players.
pub fn idle_stretches(game: &Game) -> usize {
    let mut count = 0;
    for port in &game.frames.ports {
        let mut run = 0usize;
        let mut prev = None;
        for (row, cf) in port.leader.iter().enumerate() {
            if game.frames.id[row] < 0 {
                continue;
            }
            let Some(cf) = cf else {
                run = 0;
                prev = None;
                continue;
            };
            let p = &cf.pre;
            let key = (
                p.buttons,
                p.joystick.x.to_bits(),
                p.joystick.y.to_bits(),
                p.cstick.x.to_bits(),
                p.cstick.y.to_bits(),
                p.trigger.to_bits(),
            );
            if prev == Some(key) {
                run += 1;
                if run == IDLE_FRAMES {
                    count += 1;
                }
            } else {
                run = 1;
                prev = Some(key);
            }
        }
    }
    count
}

/// Stocks lost (summed over players) with no percent gained in the [`SD_WINDOW_FRAMES`] before.
pub fn self_destructs(game: &Game) -> usize {
    let mut count = 0;
    for port in &game.frames.ports {
        let mut last_damage_row: Option<usize> = None;
        let mut prev: Option<(u8, f32)> = None;
        for (row, cf) in port.leader.iter().enumerate() {
            let Some(cf) = cf else { continue };
            let (stocks, percent) = (cf.post.stocks, cf.post.percent);
            if let Some((ps, pp)) = prev {
                if percent > pp {
                    last_damage_row = Some(row);
                }
                if stocks < ps {
                    let recent = last_damage_row.is_some_and(|r| row - r <= SD_WINDOW_FRAMES);
                    if !recent {
                        count += 1;
                    }
                    last_damage_row = None;
                }
            }
            prev = Some((stocks, percent));
        }
    }
    count
}
