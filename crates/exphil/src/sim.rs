//! `exphil sim play`: matches in the simulator between policies and scripted bots, with
//! results per game and in total, and games recorded as self-contained HTML viewers.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use exphil_dolphin::pipe::DelayQueue;
use exphil_policy::agent::Player;
use exphil_policy::file::load_for_play;
use exphil_policy::Sampling;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_sim::record::Recording;
use exphil_sim::{
    bot, Bot, End, Fighter, Game, Outcome, Rng, SlpRecorder, Stage, BOT_NAMES, STAGES,
};
use exphil_state::Controller;
use exphil_train::trainer::device_of;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `exphil sim` subcommands.
#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Play matches in the simulator and print the results.
    Play(PlayArgs),
}

/// `exphil sim play` arguments.
#[derive(Args, Debug)]
pub struct PlayArgs {
    /// Player 1: `bot:idle`, `bot:random`, `bot:rule`, or `policy:RUN`.
    #[arg(long, default_value = "bot:rule", value_name = "WHO")]
    pub p1: String,
    /// Player 2.
    #[arg(long, default_value = "bot:random", value_name = "WHO")]
    pub p2: String,
    /// Games to play.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub games: u32,
    /// The stage: fd, bf, ys, dl, fod, ps, or `random` (each game draws one).
    #[arg(long, default_value = "random", value_name = "NAME")]
    pub stage: String,
    /// Player 1's character: fox (fast faller), puff (floaty) or bowser (heavy).
    #[arg(long, default_value = "fox", value_name = "NAME")]
    pub p1_character: String,
    /// Player 2's character.
    #[arg(long, default_value = "fox", value_name = "NAME")]
    pub p2_character: String,
    /// Seed for stage draws, bots and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// End a game after this many frames from GO (0: stocks and the 8-minute timer only).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_frames: i32,
    /// Write each game as an HTML viewer (game_<n>.html) in this directory.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Write each game as a Slippi replay (game_<n>.slp) in this directory: simulated games
    /// then feed `exphil replays`, `exphil dataset build` and `exphil train` like real ones.
    #[arg(long, value_name = "DIR")]
    pub save_slp: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Policies play their most likely controller.
    #[arg(long)]
    pub deterministic: bool,
    /// Frames between a policy's decision and its use [default: its training delay].
    #[arg(long, value_name = "D")]
    pub frame_delay: Option<u8>,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// A seat: a bot or a policy (with its delay queue).
pub(crate) enum Seat {
    Bot(Box<dyn Bot>),
    Policy(Box<Player>, DelayQueue<Controller>, Controller),
}

impl Seat {
    fn reset(&mut self, seed: u64) {
        match self {
            Seat::Bot(b) => b.reset(),
            Seat::Policy(p, q, last) => {
                p.reset();
                p.seed(seed);
                q.clear();
                *last = Controller::NEUTRAL;
            }
        }
    }

    fn act(&mut self, g: &Game, me: usize) -> Controller {
        let view = g.view(me);
        match self {
            Seat::Bot(b) => b.act(&view),
            Seat::Policy(p, q, last) => {
                let c = p.act(&view, *last);
                *last = c;
                q.push(c)
            }
        }
    }
}

/// How policy seats are made.
pub(crate) struct SeatOpts<'a> {
    pub checkpoints: &'a Option<PathBuf>,
    pub device: &'a str,
    pub deterministic: bool,
    pub frame_delay: Option<u8>,
}

impl PlayArgs {
    fn seat_opts(&self) -> SeatOpts<'_> {
        SeatOpts {
            checkpoints: &self.checkpoints,
            device: &self.device,
            deterministic: self.deterministic,
            frame_delay: self.frame_delay,
        }
    }
}

/// Parses `bot:NAME` or `policy:RUN` into a seat.
pub(crate) fn seat(a: &SeatOpts<'_>, who: &str, seed: u64) -> Result<Seat> {
    if let Some(name) = who.strip_prefix("bot:") {
        return bot(name, seed).map(Seat::Bot).with_context(|| {
            format!(
                "unknown bot {name:?}; the bots are {}",
                BOT_NAMES.join(", ")
            )
        });
    }
    if let Some(run) = who.strip_prefix("policy:") {
        let device = device_of(a.device)?;
        let path = policy_path(&checkpoints_dir(a.checkpoints), run)?;
        let loaded = load_for_play(&path, &device).with_context(|| format!("loading {run}"))?;
        let delay = a.frame_delay.unwrap_or_else(|| loaded.frame_delay());
        let sampling = if a.deterministic {
            Sampling::Argmax
        } else {
            Sampling::Temperature(1.0)
        };
        let p = Player::new(loaded, device, sampling, delay)?;
        return Ok(Seat::Policy(
            Box::new(p),
            DelayQueue::new(delay as usize, Controller::NEUTRAL),
            Controller::NEUTRAL,
        ));
    }
    bail!(
        "{who:?}: expected bot:NAME ({}) or policy:RUN",
        BOT_NAMES.join(", ")
    )
}

pub(crate) fn fighter(name: &str) -> Result<&'static Fighter> {
    Fighter::named(name).map_err(anyhow::Error::msg)
}

/// Runs `exphil sim`.
pub fn run(cmd: SimCommand) -> Result<ExitCode> {
    match cmd {
        SimCommand::Play(a) => play(a),
    }
}

pub(crate) fn clock(frames: i32) -> String {
    let s = frames.max(0) / 60;
    format!("{}:{:02}", s / 60, s % 60)
}

fn play(a: PlayArgs) -> Result<ExitCode> {
    if a.games == 0 {
        bail!("--games must be at least 1");
    }
    let fighters = [fighter(&a.p1_character)?, fighter(&a.p2_character)?];
    let fixed_stage = if a.stage.eq_ignore_ascii_case("random") {
        None
    } else {
        Some(Stage::parse(&a.stage).with_context(|| {
            format!(
                "{:?} is not a legal stage (fd, bf, ys, dl, fod, ps, random)",
                a.stage
            )
        })?)
    };
    let o = a.seat_opts();
    let mut seats = [seat(&o, &a.p1, a.seed)?, seat(&o, &a.p2, a.seed + 1)?];
    for dir in [&a.record, &a.save_slp].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rng = Rng::new(a.seed);
    let mut stage_of =
        |_: u32| fixed_stage.unwrap_or_else(|| &STAGES[(rng.next_u64() % 6) as usize]);
    let results = play_games(
        &mut seats,
        fighters,
        &mut stage_of,
        a.games,
        a.seed,
        a.max_frames,
        &Outputs {
            html: a.record.as_deref(),
            slp: a.save_slp.as_deref(),
            names: [&a.p1, &a.p2],
        },
        !a.json,
    )?;
    let summary = summarize(&a.p1, &a.p2, &results);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let wins = &summary["wins"];
        println!(
            "{} games: P1 ({}) {} wins, P2 ({}) {} wins, {} draws; KO difference per minute \
             {:+.2} (P1 − P2); mean length {}",
            results.len(),
            a.p1,
            wins[0],
            a.p2,
            wins[1],
            summary["draws"],
            summary["ko_diff_per_minute"].as_f64().unwrap_or(0.0),
            clock(summary["mean_frames"].as_f64().unwrap_or(0.0) as i32)
        );
        if let Some(dir) = &a.record {
            println!("viewers in {}", dir.display());
        }
        if let Some(dir) = &a.save_slp {
            println!("replays in {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `play_games` writes its games (directories that exist).
#[derive(Default)]
pub(crate) struct Outputs<'a> {
    /// HTML viewers (game_<n>.html).
    pub html: Option<&'a Path>,
    /// Slippi replays (game_<n>.slp).
    pub slp: Option<&'a Path>,
    /// The players' names in the replays.
    pub names: [&'a str; 2],
}

/// Plays `games` games between two seats (game n on `stage_of(n)`); prints a line per game
/// when `print`, and writes each game to `out`. Returns each game's stage and outcome.
#[allow(clippy::too_many_arguments)]
pub(crate) fn play_games(
    seats: &mut [Seat; 2],
    fighters: [&'static Fighter; 2],
    stage_of: &mut dyn FnMut(u32) -> &'static Stage,
    games: u32,
    seed: u64,
    max_frames: i32,
    out: &Outputs<'_>,
    print: bool,
) -> Result<Vec<(&'static str, Outcome)>> {
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    for n in 0..games {
        let stage = stage_of(n);
        let mut g = Game::new(stage, fighters);
        g.frame_limit = max_frames;
        for (i, s) in seats.iter_mut().enumerate() {
            s.reset(seed.wrapping_mul(1000) + n as u64 * 2 + i as u64);
        }
        let game_seed = seed.wrapping_mul(1000) + n as u64;
        let mut rec = out.html.map(|_| Recording::new(&g));
        let mut slp = out
            .slp
            .map(|_| SlpRecorder::new(&g, out.names, game_seed as u32));
        while !g.is_over() {
            let c = [seats[0].act(&g, 0), seats[1].act(&g, 1)];
            g.step(c);
            if let Some(r) = rec.as_mut() {
                r.push(&g);
            }
            if let Some(r) = slp.as_mut() {
                r.push(&g);
            }
        }
        let o = g.outcome.expect("over");
        let who = |i: usize| format!("P{} {}", i + 1, fighters[i].character.name().unwrap_or("?"));
        let result = match o.winner {
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
        };
        if print {
            println!("game {}: {}: {result}", n + 1, stage.name);
        }
        if let (Some(dir), Some(r)) = (out.slp, slp) {
            let path = dir.join(format!("game_{}.slp", n + 1));
            exphil_replay::write_file(&path, &r.finish(&g))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if let (Some(dir), Some(mut r)) = (out.html, rec) {
            r.result = result;
            let path = dir.join(format!("game_{}.html", n + 1));
            std::fs::write(&path, r.html())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        results.push((stage.name, o));
    }
    Ok(results)
}

pub(crate) fn summarize(p1: &str, p2: &str, results: &[(&str, Outcome)]) -> serde_json::Value {
    let mut wins = [0u32; 2];
    let mut draws = 0;
    let (mut kos, mut frames) = ([0u32; 2], 0i64);
    let mut by_stage: std::collections::BTreeMap<&str, [u32; 3]> = Default::default();
    for (stage, o) in results {
        let e = by_stage.entry(stage).or_default();
        match o.winner {
            Some(w) => {
                wins[w] += 1;
                e[w] += 1;
            }
            None => {
                draws += 1;
                e[2] += 1;
            }
        }
        // KOs scored by each player: the stocks the other lost.
        kos[0] += u32::from(exphil_sim::game::STOCKS - o.stocks[1]);
        kos[1] += u32::from(exphil_sim::game::STOCKS - o.stocks[0]);
        frames += o.frames.max(0) as i64;
    }
    let minutes = (frames as f64 / 3600.0).max(1e-9);
    serde_json::json!({
        "p1": p1, "p2": p2,
        "games": results.len(),
        "wins": wins,
        "draws": draws,
        "kos": kos,
        "ko_diff_per_minute": (kos[0] as f64 - kos[1] as f64) / minutes,
        "mean_frames": frames as f64 / results.len().max(1) as f64,
        "final_stocks": results.iter().map(|(_, o)| o.stocks).collect::<Vec<_>>(),
        "by_stage": by_stage.iter().map(|(s, v)| (s.to_string(), serde_json::json!({"p1": v[0], "p2": v[1], "draws": v[2]}))).collect::<serde_json::Map<_, _>>(),
    })
}

/// `exphil bench sim` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Games stepped together.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub games: usize,
    /// Seconds to measure each part for.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub seconds: f64,
    /// Also measure rollouts of this policy (player 1 in every game, against the rule bot).
    #[arg(long, value_name = "RUN")]
    pub policy: Option<String>,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// Target: simulator frames per second on one core, without a policy.
const SIM_TARGET: f64 = 1_000_000.0;
/// Target: game frames per second of rollouts with an MLP policy.
const ROLLOUT_TARGET: f64 = 50_000.0;

/// Makes game `slot` of a benchmark batch: stages and fighter pairs in turn.
fn bench_game(slot: usize) -> Game {
    let f = &exphil_sim::FIGHTERS;
    let mut g = Game::new(&STAGES[slot % 6], [&f[slot % 3], &f[(slot / 3 + 1) % 3]]);
    // Skip the countdown: it costs nothing and would flatter the figure.
    while g.frame < 0 {
        g.step([Controller::NEUTRAL; 2]);
    }
    g
}

/// Runs `exphil bench sim`.
pub fn bench(a: BenchArgs) -> Result<ExitCode> {
    let n = a.games.max(1);
    let dur = std::time::Duration::from_secs_f64(a.seconds.max(0.1));
    // 1. The simulator alone, one thread. Each slot's inputs are recorded beforehand from a
    //    game between rule bots (up to 4096 frames) and replayed from the game's start, so the
    //    simulator replays that very game (it is deterministic) and only it is timed.
    const LEN: usize = 4096;
    let table: Vec<Vec<[Controller; 2]>> = (0..n)
        .map(|i| {
            let mut g = bench_game(i);
            let mut b = [
                bot("rule", i as u64).unwrap(),
                bot("rule", 1000 + i as u64).unwrap(),
            ];
            let mut v = Vec::with_capacity(LEN);
            while v.len() < LEN && !g.is_over() {
                let c = [b[0].act(&g.view(0)), b[1].act(&g.view(1))];
                g.step(c);
                v.push(c);
            }
            v
        })
        .collect();
    let mut batch = exphil_sim::Batch::new(n, bench_game);
    let mut at = vec![0usize; n];
    let mut frames = 0u64;
    let start = std::time::Instant::now();
    let mut inputs = vec![[Controller::NEUTRAL; 2]; n];
    while start.elapsed() < dur {
        for _ in 0..64 {
            for (i, row) in inputs.iter_mut().enumerate() {
                *row = table[i][at[i]];
            }
            for (slot, s) in batch.step(&inputs).into_iter().enumerate() {
                at[slot] += 1;
                if s.info.outcome.is_some() || at[slot] == table[slot].len() {
                    batch.restart(slot);
                    at[slot] = 0;
                }
            }
            frames += n as u64;
        }
    }
    let sim_fps = frames as f64 / start.elapsed().as_secs_f64();
    println!(
        "simulator alone (replaying rule-bot games): {sim_fps:.0} game frames/s on one core ({n} \
         games, {} frames) — {:.2}× the 1,000,000 target",
        frames,
        sim_fps / SIM_TARGET
    );
    // 2. With the rule bot on both sides (the bots' own cost included).
    let mut batch = exphil_sim::Batch::new(n, bench_game);
    let mut bots: Vec<[Box<dyn Bot>; 2]> = (0..n)
        .map(|i| {
            [
                bot("rule", i as u64).unwrap(),
                bot("rule", 99 + i as u64).unwrap(),
            ]
        })
        .collect();
    let mut frames = 0u64;
    let start = std::time::Instant::now();
    while start.elapsed() < dur {
        for _ in 0..16 {
            let inputs: Vec<[Controller; 2]> = batch
                .games
                .iter()
                .zip(bots.iter_mut())
                .map(|(g, b)| [b[0].act(&g.view(0)), b[1].act(&g.view(1))])
                .collect();
            for (slot, s) in batch.step(&inputs).into_iter().enumerate() {
                if s.info.outcome.is_some() {
                    batch.restart(slot);
                }
            }
            frames += n as u64;
        }
    }
    println!(
        "simulator with rule bots on both sides: {:.0} game frames/s on one core",
        frames as f64 / start.elapsed().as_secs_f64()
    );
    // 3. Rollouts with a policy: one batched model step per frame for all games.
    if let Some(run) = &a.policy {
        let device = device_of(&a.device)?;
        let path = policy_path(&checkpoints_dir(&a.checkpoints), run)?;
        let loaded = load_for_play(&path, &device).with_context(|| format!("loading {run}"))?;
        let what = loaded.config.backbone.describe();
        let delay = loaded.frame_delay();
        let mut policy = exphil_policy::agent::BatchedPolicy::new(
            loaded,
            device,
            Sampling::Temperature(1.0),
            delay,
            n,
            0,
        )?;
        let mut batch = exphil_sim::Batch::new(n, bench_game);
        let mut bots: Vec<Box<dyn Bot>> = (0..n).map(|i| bot("rule", i as u64).unwrap()).collect();
        // One warm-up step (allocations).
        let views: Vec<_> = batch.games.iter().map(|g| g.view(0)).collect();
        let rows: Vec<(usize, &exphil_state::GameState)> = views.iter().enumerate().collect();
        policy.act(&rows);
        let mut frames = 0u64;
        let mut model_s = 0.0;
        let start = std::time::Instant::now();
        while start.elapsed() < dur {
            let views: Vec<_> = batch.games.iter().map(|g| g.view(0)).collect();
            let rows: Vec<(usize, &exphil_state::GameState)> = views.iter().enumerate().collect();
            let t0 = std::time::Instant::now();
            let mine = policy.act(&rows);
            model_s += t0.elapsed().as_secs_f64();
            let inputs: Vec<[Controller; 2]> = batch
                .games
                .iter()
                .zip(bots.iter_mut())
                .zip(mine)
                .map(|((g, b), c)| [c, b.act(&g.view(1))])
                .collect();
            for (slot, s) in batch.step(&inputs).into_iter().enumerate() {
                if s.info.outcome.is_some() || s.replaced {
                    batch.restart(slot);
                    policy.reset(slot);
                }
            }
            frames += n as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        let fps = frames as f64 / secs;
        println!(
            "rollouts, {what} policy vs the rule bot: {fps:.0} game frames/s ({n} games, {:.0}% of \
             the time in the model) on {} threads — {:.2}× the 50,000 target",
            100.0 * model_s / secs,
            rayon::current_num_threads(),
            fps / ROLLOUT_TARGET
        );
    }
    Ok(ExitCode::SUCCESS)
}
