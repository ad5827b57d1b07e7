//! `exphil dashboard`: a local web page over a checkpoints folder — the runs and their lineage,
//! live loss, learning-rate and throughput curves of running trainings, evaluations, the
//! league's Elo table and each run's config (see `exphil_dashboard`).

use anyhow::Result;
use clap::Args;
use exphil_runs::models::checkpoints_dir;
use std::path::PathBuf;
use std::process::ExitCode;

/// `exphil dashboard` arguments.
#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// The checkpoints folder to show [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    checkpoints: Option<PathBuf>,
    /// The port (6007, beside TensorBoard's 6006; 0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = 6007)]
    port: u16,
    /// The address to serve on (127.0.0.1: this machine only; 0.0.0.0 for every interface).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: String,
}

/// Runs `exphil dashboard` until the process is stopped.
pub fn run(a: DashboardArgs) -> Result<ExitCode> {
    let opts = exphil_dashboard::Options {
        checkpoints: checkpoints_dir(&a.checkpoints),
        host: a.host,
        port: a.port,
    };
    let dir = opts.checkpoints.display().to_string();
    exphil_dashboard::serve(&opts, |addr| {
        println!("Dashboard of {dir} on http://{addr}/ (Ctrl-C stops it)");
    })?;
    Ok(ExitCode::SUCCESS)
}
