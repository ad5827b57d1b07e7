//! Matches in the simulator between two agents (policies or scripted bots): games one after
//! another on chosen stages, each written as an HTML viewer and a Slippi replay when asked, and
//! their results summed up (wins, KOs, per stage). Behind `exphil sim play` and
//! `exphil selfplay eval`; PPO's rollouts seat the same agents.

use crate::error::{refuse, Doing, Result};
use exphil_policy::agent::BatchedPolicy;
use exphil_policy::device::device_of;
use exphil_policy::file::load_for_play;
use exphil_policy::Sampling;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_sim::record::Recording;
use exphil_sim::{Agent, Bots, Delayed, End, Fighter, Game, Outcome, SlpRecorder, Stage, STAGES};
use exphil_state::{Controller, GameState};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A policy as an [`Agent`]: one batched model step per frame for all its game slots; a frame
/// with out-of-range values repeats the slot's previous controller.
pub struct PolicyAgent {
    policy: BatchedPolicy,
    last: Vec<Controller>,
}

impl PolicyAgent {
    /// `policy` as an agent.
    pub fn new(policy: BatchedPolicy) -> PolicyAgent {
        PolicyAgent {
            policy,
            last: Vec::new(),
        }
    }

    /// The policy (to change its weights).
    pub fn policy_mut(&mut self) -> &mut BatchedPolicy {
        &mut self.policy
    }
}

impl Agent for PolicyAgent {
    fn reset(&mut self, slot: usize, seed: u64) {
        self.policy.ensure_slots(slot + 1);
        if self.last.len() <= slot {
            self.last.resize(slot + 1, Controller::NEUTRAL);
        }
        self.policy.reset(slot);
        self.policy.seed(seed);
        self.last[slot] = Controller::NEUTRAL;
    }

    fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
        if let Some(top) = rows.iter().map(|&(slot, _)| slot + 1).max() {
            self.policy.ensure_slots(top);
            if self.last.len() < top {
                self.last.resize(top, Controller::NEUTRAL);
            }
        }
        let decided = self.policy.act_checked(rows);
        rows.iter()
            .zip(decided)
            .map(|(&(slot, _), c)| {
                let c = c.unwrap_or(self.last[slot]);
                self.last[slot] = c;
                c
            })
            .collect()
    }
}

/// How a seat given as `policy:RUN` is made.
pub struct SeatOpts<'a> {
    /// Where run names are looked up.
    pub checkpoints: &'a Option<PathBuf>,
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    pub device: &'a str,
    /// Policies play their most likely controller.
    pub deterministic: bool,
    /// Frames between a policy's decision and its use (default: its training delay).
    pub frame_delay: Option<u8>,
}

/// The agent of `bot:NAME` or `policy:RUN` (a policy plays with its frame delay).
pub fn seat(opts: &SeatOpts<'_>, who: &str) -> Result<Box<dyn Agent>> {
    if let Some(name) = who.strip_prefix("bot:") {
        return Ok(Box::new(Bots::named(name)?));
    }
    if let Some(run) = who.strip_prefix("policy:") {
        let device = device_of(opts.device)?;
        let path = policy_path(&checkpoints_dir(opts.checkpoints), run)?;
        let loaded = load_for_play(&path, &device).doing(|| format!("loading {run}"))?;
        let delay = opts.frame_delay.unwrap_or_else(|| loaded.frame_delay());
        let sampling = if opts.deterministic {
            Sampling::Argmax
        } else {
            Sampling::Temperature(1.0)
        };
        let policy = BatchedPolicy::new(loaded, device, sampling, delay, 1, 0)?;
        return Ok(Box::new(Delayed::new(
            PolicyAgent::new(policy),
            delay as usize,
        )));
    }
    refuse!(
        "{who:?}: expected bot:NAME ({}) or policy:RUN",
        exphil_sim::BOT_NAMES.join(", ")
    )
}

/// A game clock, `m:ss`.
pub fn clock(frames: i32) -> String {
    let s = frames.max(0) / 60;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Where [`play_games`] writes its games (directories that exist).
#[derive(Default)]
pub struct Outputs<'a> {
    /// HTML viewers (game_<n>.html).
    pub html: Option<&'a Path>,
    /// Slippi replays (game_<n>.slp).
    pub slp: Option<&'a Path>,
    /// The players' names in the replays.
    pub names: [&'a str; 2],
}

/// One finished game of a match.
pub struct Played {
    /// The game's number, from 1.
    pub number: u32,
    /// Its stage.
    pub stage: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// The result in words ("P1 Fox wins (stocks) in 2:31, stocks 2-0, 40% / 0%").
    pub line: String,
}

/// What a match plays.
pub struct MatchSpec<'a> {
    /// The two fighters.
    pub fighters: [&'static Fighter; 2],
    /// The stage of game n (from 0).
    pub stage_of: &'a mut dyn FnMut(u32) -> &'static Stage,
    /// Games.
    pub games: u32,
    /// Seeds the agents' draws per game.
    pub seed: u64,
    /// A game still running after this many frames ends as a draw by frame limit.
    pub max_frames: i32,
}

/// Plays `spec.games` games between two seats, one after another, calling `on_game` after
/// each and writing each to `out`. Returns each game's stage and outcome.
pub fn play_games(
    seats: &mut [Box<dyn Agent>; 2],
    spec: MatchSpec<'_>,
    out: &Outputs<'_>,
    on_game: &mut dyn FnMut(&Played),
) -> Result<Vec<(&'static str, Outcome)>> {
    let fighters = spec.fighters;
    let seed = spec.seed;
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    for n in 0..spec.games {
        let stage = (spec.stage_of)(n);
        let mut g = Game::new(stage, fighters);
        g.frame_limit = spec.max_frames;
        for (i, s) in seats.iter_mut().enumerate() {
            s.reset(0, seed.wrapping_mul(1000) + n as u64 * 2 + i as u64);
        }
        let game_seed = seed.wrapping_mul(1000) + n as u64;
        let mut rec = out.html.map(|_| Recording::new(&g));
        let mut slp = out
            .slp
            .map(|_| SlpRecorder::new(&g, out.names, game_seed as u32));
        while !g.is_over() {
            let views = [g.view(0), g.view(1)];
            let c = [
                seats[0].act(&[(0, &views[0])])[0],
                seats[1].act(&[(0, &views[1])])[0],
            ];
            g.step(c);
            if let Some(r) = rec.as_mut() {
                r.push(&g);
            }
            if let Some(r) = slp.as_mut() {
                r.push(&g);
            }
        }
        let o = g.outcome.expect("the game is over");
        let line = result_line(&o, fighters);
        if let (Some(dir), Some(r)) = (out.slp, slp) {
            let path = dir.join(format!("game_{}.slp", n + 1));
            exphil_replay::write_file(&path, &r.finish(&g))
                .doing(|| format!("writing {}", path.display()))?;
        }
        if let (Some(dir), Some(mut r)) = (out.html, rec) {
            r.result = line.clone();
            let path = dir.join(format!("game_{}.html", n + 1));
            std::fs::write(&path, r.html()).doing(|| format!("writing {}", path.display()))?;
        }
        on_game(&Played {
            number: n + 1,
            stage: stage.name,
            outcome: o,
            line,
        });
        results.push((stage.name, o));
    }
    Ok(results)
}

/// What [`play_rounds`] plays: `games` games against each opponent, game n on stage n mod 6.
pub struct RoundSpec {
    /// The two fighters (seat 1, seat 2).
    pub fighters: [&'static Fighter; 2],
    /// Games against each opponent.
    pub games: u32,
    /// Seeds the agents' draws: opponent k's games are seeded from `seed + 7k`, game n's
    /// seats from that × 1000 + 2n (seat 1) and + 2n + 1 (seat 2).
    pub seed: u64,
    /// A game still running after this many frames ends as a draw by frame limit (0: stocks
    /// and the timer).
    pub max_frames: i32,
}

/// `me` (seat 1) against every opponent (seat 2), `spec.games` games each, all played at once:
/// each frame, one call of `me` for every game still running (slot k × games + n for game n
/// against opponent k) and one of each opponent for its own (slot n). Returns, per opponent,
/// each game's stage and outcome in game order. Behind `exphil selfplay eval` and the
/// evaluations during a run (`--eval-every`).
pub fn play_rounds(
    me: &mut dyn Agent,
    opponents: &mut [Box<dyn Agent>],
    spec: &RoundSpec,
) -> Vec<Vec<(&'static str, Outcome)>> {
    let per = spec.games as usize;
    let mut games: Vec<Game> = Vec::with_capacity(per * opponents.len());
    for (k, opp) in opponents.iter_mut().enumerate() {
        let seed = spec.seed.wrapping_add(k as u64 * 7).wrapping_mul(1000);
        for n in 0..per {
            let mut g = Game::new(&STAGES[n % STAGES.len()], spec.fighters);
            g.frame_limit = spec.max_frames;
            me.reset(games.len(), seed + n as u64 * 2);
            opp.reset(n, seed + n as u64 * 2 + 1);
            games.push(g);
        }
    }
    let mut live: Vec<usize> = (0..games.len()).collect();
    while !live.is_empty() {
        let views: Vec<[GameState; 2]> = live
            .iter()
            .map(|&s| [games[s].view(0), games[s].view(1)])
            .collect();
        let rows: Vec<(usize, &GameState)> =
            live.iter().zip(&views).map(|(&s, v)| (s, &v[0])).collect();
        let mine = me.act(&rows);
        let mut theirs = vec![Controller::NEUTRAL; live.len()];
        for (k, opp) in opponents.iter_mut().enumerate() {
            let at: Vec<usize> = (0..live.len()).filter(|&i| live[i] / per == k).collect();
            if at.is_empty() {
                continue;
            }
            let rows: Vec<(usize, &GameState)> =
                at.iter().map(|&i| (live[i] % per, &views[i][1])).collect();
            for (&i, c) in at.iter().zip(opp.act(&rows)) {
                theirs[i] = c;
            }
        }
        for (i, &s) in live.iter().enumerate() {
            games[s].step([mine[i], theirs[i]]);
        }
        live.retain(|&s| !games[s].is_over());
    }
    games
        .chunks(per.max(1))
        .map(|round| {
            round
                .iter()
                .map(|g| (g.stage.name, g.outcome.expect("the game is over")))
                .collect()
        })
        .collect()
}

/// A game's result in words.
fn result_line(o: &Outcome, fighters: [&'static Fighter; 2]) -> String {
    let who = |i: usize| format!("P{} {}", i + 1, fighters[i].character.name().unwrap_or("?"));
    match o.winner {
        Some(w) => format!(
            "{} wins ({}) in {}, stocks {}-{}, {:.0}% / {:.0}%",
            who(w),
            match o.end {
                End::Stocks => "stocks",
                End::Timer => "time",
                End::FrameLimit => "frame limit",
            },
            clock(o.frames),
            o.stocks[0],
            o.stocks[1],
            o.percent[0],
            o.percent[1]
        ),
        None => format!("draw in {}", clock(o.frames)),
    }
}

/// Wins of each player and draws on one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTally {
    /// Games P1 won.
    pub p1: u32,
    /// Games P2 won.
    pub p2: u32,
    /// Draws.
    pub draws: u32,
}

/// A match's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchSummary {
    /// Who played P1.
    pub p1: String,
    /// Who played P2.
    pub p2: String,
    /// Games played.
    pub games: usize,
    /// Games won by P1 and by P2.
    pub wins: [u32; 2],
    /// Draws.
    pub draws: u32,
    /// KOs scored by P1 and by P2.
    pub kos: [u32; 2],
    /// (P1's KOs − P2's) per minute of play.
    pub ko_diff_per_minute: f64,
    /// Mean game length in frames.
    pub mean_frames: f64,
    /// Each game's final stocks.
    pub final_stocks: Vec<[u8; 2]>,
    /// Results by stage.
    pub by_stage: BTreeMap<String, StageTally>,
}

/// The results of a match between `p1` and `p2`.
pub fn summarize(p1: &str, p2: &str, results: &[(&str, Outcome)]) -> MatchSummary {
    let mut wins = [0u32; 2];
    let mut draws = 0;
    let (mut kos, mut frames) = ([0u32; 2], 0i64);
    let mut by_stage: BTreeMap<String, StageTally> = BTreeMap::new();
    for (stage, o) in results {
        let e = by_stage.entry(stage.to_string()).or_default();
        match o.winner {
            Some(0) => {
                wins[0] += 1;
                e.p1 += 1;
            }
            Some(_) => {
                wins[1] += 1;
                e.p2 += 1;
            }
            None => {
                draws += 1;
                e.draws += 1;
            }
        }
        // KOs scored by each player: the stocks the other lost.
        kos[0] += u32::from(exphil_sim::game::STOCKS - o.stocks[1]);
        kos[1] += u32::from(exphil_sim::game::STOCKS - o.stocks[0]);
        frames += o.frames.max(0) as i64;
    }
    let minutes = (frames as f64 / 3600.0).max(1e-9);
    MatchSummary {
        p1: p1.to_string(),
        p2: p2.to_string(),
        games: results.len(),
        wins,
        draws,
        kos,
        ko_diff_per_minute: (kos[0] as f64 - kos[1] as f64) / minutes,
        mean_frames: frames as f64 / results.len().max(1) as f64,
        final_stocks: results.iter().map(|(_, o)| o.stocks).collect(),
        by_stage,
    }
}
