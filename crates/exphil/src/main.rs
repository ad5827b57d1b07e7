//! `exphil`: turn Super Smash Bros. Melee replays into AI players. The command line, and the
//! only place that reads arguments or the environment.

mod bench;
mod charts;
mod cli;
mod dashboard;
mod dataset;
mod demo;
mod eval;
mod export;
mod filters;
mod kmeans;
mod models;
mod play;
mod replays;
mod selfplay;
mod serve;
mod setup;
mod sim;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Turn Super Smash Bros. Melee replays into AI players.
#[derive(Parser)]
#[command(name = "exphil", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, validate and summarise Slippi replays (.slp).
    #[command(subcommand)]
    Replays(replays::ReplaysCommand),
    /// Fit k-means stick centres (per axis) from replays, for the `kmeans` stick targets.
    Kmeans(kmeans::KmeansArgs),
    /// Build a training dataset from replays, or describe one.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Train a policy by behavioural cloning from replays (or a prepared dataset).
    Train(Box<exphil_runs::args::TrainArgs>),
    /// Evaluate a trained policy on replays it did not train on, against baselines.
    Eval(Box<eval::EvalArgs>),
    /// A trained policy as an ONNX model (opset 17) for ONNX Runtime, with an optional sample
    /// of real rows and exphil's outputs.
    Export(Box<export::ExportArgs>),
    /// Trained models: list, info, compare, tag, lineage, leaderboard, prune, reindex.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Play as a UMI v1 bot (the Computer Melee Championship protocol) on $UMI_SOCKET.
    Serve(Box<serve::ServeArgs>),
    /// Play live in Slippi Dolphin: launch it, navigate the menus, and play a port through
    /// its controller pipe.
    Play(Box<play::PlayArgs>),
    /// The fighting simulator: matches between policies and scripted bots.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Improve a policy by proximal policy optimisation in the simulator.
    Ppo(Box<exphil_runs::ppo_args::PpoArgs>),
    /// Self-play: PPO against a population of snapshots and bots with Elo ratings; `eval`
    /// plays a policy against its base and the bots.
    Selfplay(Box<selfplay::SelfplayCommand>),
    /// The whole pipeline with no replays: bots play simulator games saved as replays, a quick
    /// imitation model learns from them, PPO improves it, and the result is evaluated.
    Demo(Box<demo::DemoArgs>),
    /// A local web dashboard over a checkpoints folder: runs, lineage, live curves,
    /// evaluations, the league's Elo table, configs.
    Dashboard(dashboard::DashboardArgs),
    /// The setup wizard: what to train, on which hardware and replays; prints the `exphil
    /// train` command and runs it if asked.
    Setup(setup::SetupArgs),
    /// Benchmarks: compare backbones on the same replays.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Parses the command line; an unknown flag close to a known one is answered with
/// "did you mean `--epochs`?".
fn parse() -> Result<Cli, ExitCode> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    Cli::try_parse().map_err(|e| {
        let arg = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(a)) => a.clone(),
            _ => String::new(),
        };
        if e.kind() == ErrorKind::UnknownArgument && arg.starts_with("--") {
            // clap's own suggestion is loose (`--fail-fast` -> `--val-games`): the hint is
            // the command's visible flag within a small edit distance, or none.
            let args: Vec<String> = std::env::args().collect();
            let hint = flag_hint(&args, &arg)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            eprintln!("error: unknown flag `{arg}`{hint}\n\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
        // Help, version and other errors print as clap formats them.
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

/// The visible long flag of the (sub)command named in `args` closest to the unknown `arg`
/// (its `=value` dropped), when it is close enough to be the one meant.
fn flag_hint(args: &[String], arg: &str) -> Option<String> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for a in args.iter().skip(1).filter(|a| !a.starts_with('-')) {
        match cmd.find_subcommand(a) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    let longs: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect();
    let bad = arg.split('=').next().unwrap_or(arg);
    exphil_runs::presets::did_you_mean(bad, longs.iter().map(String::as_str)).map(str::to_string)
}

/// Runs one command.
fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replays(cmd) => replays::run(cmd),
        Command::Kmeans(args) => kmeans::run(args),
        Command::Dataset(cmd) => dataset::run(cmd),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(*args),
        Command::Export(args) => export::run(*args),
        Command::Models(cmd) => models::run(cmd),
        Command::Serve(args) => serve::run(*args),
        Command::Play(args) => play::run(*args),
        Command::Sim(cmd) => sim::run(cmd),
        Command::Ppo(args) => Ok(exphil_rl::launch::run(*args, None, &cli::say)?),
        Command::Selfplay(cmd) => selfplay::run(*cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Setup(args) => setup::run(args, &run_line),
        Command::Demo(args) => demo::run(*args, &run_line),
    }
}

/// Runs one exphil command line (without the program name) in this process.
fn run_line(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli =
        Cli::try_parse_from(std::iter::once("exphil".to_string()).chain(args.iter().cloned()))?;
    dispatch(cli.command)
}

fn main() -> ExitCode {
    exphil_train::allocator::keep_large_blocks();
    let cli = match parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = dispatch(cli.command);
    match result {
        Ok(code) => code,
        // A closed pipe (`exphil … | head`) is the reader's choice, not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes joined by `: `, leaving out a cause the message before already ends
/// with (errors that name their path print their I/O cause inside their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|p| p.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}
