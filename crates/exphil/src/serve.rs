//! `exphil serve`: a trained policy as a UMI v1 bot (FORMATS §3). The main thread owns the
//! socket; a worker thread owns the model and answers jobs in order (so every game's memory
//! sees its frames in order). An observation the worker has not answered by the deadline is
//! answered with each game's previous controller (neutral for a new game) and counted; the
//! late answer is dropped.

use anyhow::{bail, Context, Result};
use clap::Args;
use exphil_policy::agent::BatchedPolicy;
use exphil_policy::device::device_of;
use exphil_policy::file::load_for_play;
use exphil_policy::Sampling;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_serve::{declared_characters, error_code, run_session, PolicyBrain, Stats};
use exphil_umi::protocol::{error, write_message};
use exphil_umi::Hello;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

/// `exphil serve` arguments.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The policy: a run directory, a run name in the registry, or a weights file.
    #[arg(long, value_name = "RUN")]
    pub policy: String,
    /// The input delay to declare [default: the delay the policy trained with].
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u8).range(0..=30))]
    pub delay: Option<u8>,
    /// The characters to declare: ALL, or names joined by commas or + [default: the
    /// characters the policy trained on].
    #[arg(long, value_name = "CHARS")]
    pub characters: Option<String>,
    /// Always the most likely controller (and declare the bot deterministic).
    #[arg(long, conflicts_with = "temperature")]
    pub deterministic: bool,
    /// Sampling temperature (1 samples the policy's own distribution).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub temperature: f64,
    /// The arena's Unix socket [default: $UMI_SOCKET].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The bot's name [default: exphil-<the run's name>].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Answer an observation within this many milliseconds, with each game's previous
    /// controller when the model is late [default: 80% of the arena's act timeout].
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<f64>,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// Runs `exphil serve`.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let socket = a
        .socket
        .clone()
        .or_else(|| std::env::var_os("UMI_SOCKET").map(PathBuf::from))
        .context("no arena socket: set UMI_SOCKET or pass --socket PATH")?;
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be positive");
    }
    let device = device_of(&a.device)?;
    let path = policy_path(&checkpoints_dir(&a.checkpoints), &a.policy)?;
    let loaded = load_for_play(&path, &device).with_context(|| format!("loading {}", a.policy))?;
    let hello = Hello {
        name: a
            .name
            .clone()
            .unwrap_or_else(|| format!("exphil-{}", loaded.name())),
        characters: declared_characters(&loaded, a.characters.as_deref())
            .map_err(anyhow::Error::msg)?,
        delay: a.delay.unwrap_or_else(|| loaded.frame_delay().min(30)),
        deterministic: a.deterministic,
    };
    eprintln!(
        "exphil serve: {} ({}), characters {}, delay {}, {}",
        hello.name,
        loaded.config.backbone.describe(),
        hello.characters,
        hello.delay,
        if a.deterministic {
            "deterministic".to_string()
        } else {
            format!("temperature {}", a.temperature)
        }
    );
    let sampling = if a.deterministic {
        Sampling::Argmax
    } else {
        Sampling::Temperature(a.temperature)
    };
    let brain = PolicyBrain::new(BatchedPolicy::new(
        loaded,
        device,
        sampling,
        hello.delay,
        0,
        0,
    )?);
    let stream = UnixStream::connect(&socket)
        .with_context(|| format!("connecting to the arena at {}", socket.display()))?;
    let mut writer = stream.try_clone()?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stream);
    let (result, stats) = run_session(
        brain,
        &hello,
        a.deadline_ms,
        &mut reader,
        &mut writer,
        &mut |n| eprintln!("exphil serve: {n}"),
    );
    report(&stats, &a);
    match result {
        Ok(reason) => {
            eprintln!("exphil serve: shutdown ({reason})");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // Tell the arena why, when the socket still takes it.
            let code = error_code(&e);
            let _ = write_message(&mut writer, &error(code, &e.to_string()));
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn report(stats: &Stats, a: &ServeArgs) {
    let (p50, p99) = stats.reply_quantiles();
    eprintln!(
        "exphil serve: {} observations, {} game frames, reply p50 {p50:.0} µs, p99 {p99:.0} µs; {} \
         answered by the fallback (model past the {} deadline), {} frames with out-of-range values",
        stats.observations,
        stats.frames,
        stats.fallbacks,
        a.deadline_ms
            .map_or_else(|| "default".into(), |d| format!("{d} ms")),
        stats.anomalies
    );
}
