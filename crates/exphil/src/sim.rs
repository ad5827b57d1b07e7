//! `exphil sim play`: matches in the simulator between policies and scripted bots, with
//! results per game and in total, and games recorded as self-contained HTML viewers.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use exphil_rl::matches::{clock, play_games, seat, summarize, MatchSpec, Outputs, SeatOpts};
use exphil_sim::{Fighter, Rng, Stage, STAGES};
use std::path::PathBuf;
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
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

impl PlayArgs {
    /// How its policy seats are made.
    fn seat_opts(&self) -> SeatOpts<'_> {
        SeatOpts {
            checkpoints: &self.checkpoints,
            device: &self.device,
            deterministic: self.deterministic,
            frame_delay: self.frame_delay,
        }
    }
}

/// Runs `exphil sim`.
pub fn run(cmd: SimCommand) -> Result<ExitCode> {
    match cmd {
        SimCommand::Play(a) => play(a),
    }
}

fn play(a: PlayArgs) -> Result<ExitCode> {
    if a.games == 0 {
        bail!("--games must be at least 1");
    }
    let fighters = [
        Fighter::named(&a.p1_character)?,
        Fighter::named(&a.p2_character)?,
    ];
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
    let mut seats = [seat(&o, &a.p1)?, seat(&o, &a.p2)?];
    for dir in [&a.record, &a.save_slp].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rng = Rng::new(a.seed);
    let mut stage_of =
        |_: u32| fixed_stage.unwrap_or_else(|| &STAGES[(rng.next_u64() % 6) as usize]);
    let spec = MatchSpec {
        fighters,
        stage_of: &mut stage_of,
        games: a.games,
        seed: a.seed,
        max_frames: a.max_frames,
    };
    let out = Outputs {
        html: a.record.as_deref(),
        slp: a.save_slp.as_deref(),
        names: [&a.p1, &a.p2],
    };
    let results = play_games(&mut seats, spec, &out, &mut |p| {
        if !a.json {
            println!("game {}: {}: {}", p.number, p.stage, p.line);
        }
    })?;
    let summary = summarize(&a.p1, &a.p2, &results);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} games: P1 ({}) {} wins, P2 ({}) {} wins, {} draws; KO difference per minute \
             {:+.2} (P1 − P2); mean length {}",
            results.len(),
            a.p1,
            summary.wins[0],
            a.p2,
            summary.wins[1],
            summary.draws,
            summary.ko_diff_per_minute,
            clock(summary.mean_frames as i32)
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
