//! `exphil selfplay`: PPO against a population — the learner's latest weights, up to K
//! historical snapshots (uniform or prioritised fictitious self-play), and scripted bots — with
//! Elo ratings; and `exphil selfplay eval`: a policy against its imitation base and the
//! scripted bots on all six stages, with win rates, KO difference per minute, final stocks, game
//! length, per-stage results and an Elo table.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use exphil_rl::league::{Elo, Rating, Ratings};
use exphil_rl::matches::{clock, play_rounds, seat, summarize, MatchSummary, RoundSpec, SeatOpts};
use exphil_runs::ppo_args::{LeagueArgs, PpoArgs};
use exphil_sim::{Fighter, Outcome};
use std::collections::BTreeMap;
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

/// `exphil selfplay` (training) arguments: PPO's, plus the population's. PPO's `--opponent`
/// is hidden here (the population chooses the opponents; given, it is refused with that reason).
#[derive(Args, Debug)]
#[command(mut_arg("opponent", |a| a.hide(true)))]
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
    /// Scripted opponents [default: every scripted bot: idle, random, rule].
    #[arg(long, value_delimiter = ',', value_name = "BOT,BOT")]
    bots: Vec<String>,
    /// Games against each opponent (spread over the six stages).
    #[arg(long, default_value_t = 100, value_name = "N")]
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
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
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
    Ok(exphil_rl::launch::run(
        a.ppo,
        Some(a.league),
        &crate::cli::say,
    )?)
}

/// The results against one opponent, in words.
fn line(s: &MatchSummary, results: &[(&str, Outcome)]) -> String {
    let n = results.len().max(1) as f64;
    let wins = s.wins[0];
    let stocks: f64 = results.iter().map(|(_, o)| o.stocks[0] as f64).sum::<f64>() / n;
    let theirs: f64 = results.iter().map(|(_, o)| o.stocks[1] as f64).sum::<f64>() / n;
    format!(
        "won {}/{} ({:.0}%), KO difference per minute {:+.2}, final stocks {:.1} vs {:.1}, mean length {}",
        wins,
        results.len(),
        100.0 * wins as f64 / n,
        s.ko_diff_per_minute,
        stocks,
        theirs,
        clock(s.mean_frames as i32)
    )
}

/// `selfplay eval --json`.
#[derive(serde::Serialize)]
struct EvalJson<'a> {
    policy: &'a str,
    character: Option<&'a str>,
    opponents: BTreeMap<String, MatchSummary>,
    elo: Vec<&'a Rating>,
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
        Some(c) => Fighter::named(c)?,
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
    let bots: Vec<String> = if a.bots.is_empty() {
        exphil_sim::BOT_NAMES
            .iter()
            .map(|b| b.to_string())
            .collect()
    } else {
        a.bots.clone()
    };
    for b in &bots {
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
    let mut report = BTreeMap::new();
    if !a.json {
        println!(
            "{} as {} ({} games per opponent over the six stages)",
            a.policy,
            f.character.name().unwrap_or("?"),
            a.games
        );
    }
    let mut mine = seat(&opts, &me)?;
    let mut seats = opponents
        .iter()
        .map(|opp| seat(&opts, opp).with_context(|| format!("opponent {opp}")))
        .collect::<Result<Vec<_>>>()?;
    let spec = RoundSpec {
        fighters: [f, f],
        games: a.games,
        seed: a.seed,
        max_frames: a.max_frames,
    };
    let rounds = play_rounds(&mut *mine, &mut seats, &spec);
    for (opp, results) in opponents.iter().zip(rounds) {
        for (_, o) in &results {
            let score = match o.winner {
                Some(0) => 1.0,
                Some(_) => 0.0,
                None => 0.5,
            };
            ratings.record(&me, opp, score);
        }
        let summary = summarize(&me, opp, &results);
        if !a.json {
            println!("against {opp}: {}", line(&summary, &results));
            let stages: Vec<String> = summary
                .by_stage
                .iter()
                .map(|(st, v)| format!("{st} {}-{}-{}", v.p1, v.p2, v.draws))
                .collect();
            println!("  per stage (won-lost-drawn): {}", stages.join(", "));
        }
        report.insert(opp.clone(), summary);
    }
    if a.json {
        let out = EvalJson {
            policy: &a.policy,
            character: f.character.name(),
            opponents: report,
            elo: ratings.leaderboard(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
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
