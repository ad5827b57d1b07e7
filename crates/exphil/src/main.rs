//! `exphil`: turn Super Smash Bros. Melee replays into AI players. The command line, and the
//! only place that reads arguments or the environment.

mod charts;
mod dataset;
mod filters;
mod kmeans;
mod replays;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replays(cmd) => replays::run(cmd),
        Command::Kmeans(args) => kmeans::run(args),
        Command::Dataset(cmd) => dataset::run(cmd),
    };
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
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
