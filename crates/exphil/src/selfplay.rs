//! `exphil selfplay`: PPO against a population — the learner's latest weights, up to K
//! historical snapshots (uniform or prioritised fictitious self-play), and scripted bots — with
//! Elo ratings; and `exphil selfplay eval`: a policy against its imitation base and the
//! scripted bots on all six stages, with win rates, KO difference per minute, final stocks, game
//! length, per-stage results and an Elo table.

use crate::sim::{clock, fighter, play_games, seat, summarize, Outputs, SeatOpts};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use exphil_rl::league::{Elo, Ratings};
use exphil_runs::ppo_args::{LeagueArgs, PpoArgs};
use exphil_sim::{Outcome, STAGES};
use std::path::PathBuf;
use std::process::ExitCode;

/// `exphil selfplay`: train (the default) or `eval`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SelfplayCommand {
    #[command(subcommand)]
    sub: Option<SelfplaySub>,
    #[command(flatten)]
    train: SelfplayArgs,
}

/// `exphil selfplay` subcommands.
#[derive(Subcommand, Debug)]
enum SelfplaySub {
    /// A policy against its imitation base and the scripted bots on every stage.
    Eval(EvalArgs),
}

/// `exphil selfplay` (training) arguments: PPO's, plus the population's.
#[derive(Args, Debug)]
pub struct SelfplayArgs {
    #[command(flatten)]
    ppo: PpoArgs,
    #[command(flatten)]
    league: LeagueArgs,
}

/// `exphil selfplay eval` arguments.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The policy to evaluate.
    #[arg(long, value_name = "RUN")]
    policy: String,
    /// Its imitation base [default: the run's parent, when it has one].
    #[arg(long, value_name = "RUN")]
    base: Option<String>,
    /// Scripted opponents.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rule,random",
        value_name = "BOT,BOT"
    )]
    bots: Vec<String>,
    /// Games against each opponent (spread over the six stages).
    #[arg(long, default_value_t = 12, value_name = "N")]
    games: u32,
    /// The policy's character (fox, puff, bowser); opponents play the same [default: the one
    /// it learned as in PPO, else the one it trained on when the simulator has it, else fox].
    #[arg(long, value_name = "NAME")]
    character: Option<String>,
    /// End a game after this many frames from GO (0: stocks and the timer).
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_frames: i32,
    /// Policies play their most likely controller.
    #[arg(long)]
    deterministic: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    device: String,
}

/// Runs `exphil selfplay`.
pub fn run(cmd: SelfplayCommand) -> Result<ExitCode> {
    match cmd.sub {
        Some(SelfplaySub::Eval(a)) => eval(a),
        None => train(cmd.train),
    }
}

fn train(a: SelfplayArgs) -> Result<ExitCode> {
    exphil_rl::launch::run(a.ppo, Some(a.league))
}

/// The results of one opponent.
fn line(results: &[(&str, Outcome)]) -> String {
    let s = summarize("", "", results);
    let n = results.len().max(1) as f64;
    let wins = s["wins"][0].as_f64().unwrap_or(0.0);
    let stocks: f64 = results.iter().map(|(_, o)| o.stocks[0] as f64).sum::<f64>() / n;
    let theirs: f64 = results.iter().map(|(_, o)| o.stocks[1] as f64).sum::<f64>() / n;
    format!(
        "won {}/{} ({:.0}%), KO difference per minute {:+.2}, final stocks {:.1} vs {:.1}, mean length {}",
        wins,
        results.len(),
        100.0 * wins / n,
        s["ko_diff_per_minute"].as_f64().unwrap_or(0.0),
        stocks,
        theirs,
        clock(s["mean_frames"].as_f64().unwrap_or(0.0) as i32)
    )
}

fn eval(a: EvalArgs) -> Result<ExitCode> {
    if a.games == 0 {
        bail!("--games must be at least 1");
    }
    let dir = exphil_runs::models::checkpoints_dir(&a.checkpoints);
    let path = exphil_runs::models::policy_path(&dir, &a.policy)?;
    let run_dir = if path.is_dir() {
        Some(path)
    } else {
        path.parent().map(|p| p.to_path_buf())
    };
    let config = run_dir.and_then(|d| exphil_runs::rundir::RunDir::new(d).read().ok());
    let f = match &a.character {
        Some(c) => fighter(c)?,
        None => config
            .as_ref()
            .and_then(|v| {
                let learned = v.extra("ppo")["characters"][0].as_str().map(str::to_owned);
                let trained = v.provenance["character_distribution"]
                    .as_object()
                    .and_then(|m| {
                        m.keys()
                            .find(|k| exphil_sim::Fighter::parse(k).is_some())
                            .cloned()
                    });
                learned.or(trained)
            })
            .and_then(|c| exphil_sim::Fighter::parse(&c))
            .unwrap_or(&exphil_sim::FIGHTERS[0]),
    };
    let base = match &a.base {
        Some(b) => Some(b.clone()),
        None => config.as_ref().and_then(|v| v.parent.clone()),
    };
    let mut opponents: Vec<String> = Vec::new();
    if let Some(b) = &base {
        opponents.push(format!("policy:{b}"));
    }
    for b in &a.bots {
        opponents.push(format!("bot:{b}"));
    }
    if opponents.is_empty() {
        bail!("nothing to play against: give --base or --bots");
    }
    let opts = SeatOpts {
        checkpoints: &a.checkpoints,
        device: &a.device,
        deterministic: a.deterministic,
        frame_delay: None,
    };
    let me = format!("policy:{}", a.policy);
    let mut ratings = Ratings::new(Elo::default());
    let mut report = serde_json::Map::new();
    if !a.json {
        println!(
            "{} as {} ({} games per opponent over the six stages)",
            a.policy,
            f.character.name().unwrap_or("?"),
            a.games
        );
    }
    for (k, opp) in opponents.iter().enumerate() {
        let mut seats = [
            seat(&opts, &me, a.seed)?,
            seat(&opts, opp, a.seed + 1 + k as u64).with_context(|| format!("opponent {opp}"))?,
        ];
        let mut stage_of = |n: u32| &STAGES[n as usize % 6];
        let results = play_games(
            &mut seats,
            [f, f],
            &mut stage_of,
            a.games,
            a.seed + k as u64 * 7,
            a.max_frames,
            &Outputs::default(),
            false,
        )?;
        for (_, o) in &results {
            let score = match o.winner {
                Some(0) => 1.0,
                Some(_) => 0.0,
                None => 0.5,
            };
            ratings.record(&me, opp, score);
        }
        if !a.json {
            println!("against {opp}: {}", line(&results));
            let s = summarize(&me, opp, &results);
            let stages: Vec<String> = s["by_stage"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(st, v)| format!("{st} {}-{}-{}", v["p1"], v["p2"], v["draws"]))
                        .collect()
                })
                .unwrap_or_default();
            println!("  per stage (won-lost-drawn): {}", stages.join(", "));
        }
        report.insert(opp.clone(), summarize(&me, opp, &results));
    }
    let table: Vec<serde_json::Value> = ratings
        .leaderboard()
        .iter()
        .map(|r| serde_json::json!({"name": r.name, "rating": r.rating, "games": r.games, "wins": r.wins, "losses": r.losses, "draws": r.draws}))
        .collect();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"policy": a.policy, "character": f.character.name(), "opponents": report, "elo": table})
            )?
        );
    } else {
        println!("Elo (from these games):");
        for r in ratings.leaderboard() {
            println!(
                "  {:<28} {:>6.0}  {}-{}-{}",
                r.name, r.rating, r.wins, r.losses, r.draws
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
