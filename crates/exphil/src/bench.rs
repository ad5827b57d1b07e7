//! `exphil bench architectures`: every backbone trained on the same data and split, compared by
//! validation loss, loss curves, training speed, inference latency, size and complexity;
//! written as `benchmark_results.json` and a self-contained `benchmark_report.html`; and
//! `exphil bench sim`: the simulator's speed alone, with scripted bots, and in policy rollouts.

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use clap::{Args, Subcommand};
use exphil_policy::device::device_of;
use exphil_policy::file::load_for_play;
use exphil_policy::model::param_count;
use exphil_policy::sample::{quantile, step_timings, Timed};
use exphil_policy::Sampling;
use exphil_policy::{InputSpec, Policy};
use exphil_report::bench::{ArchResult, BenchReport, CurvePoint, Latency, MachineInfo};
use exphil_runs::checkpoint::rfc3339_utc;
use exphil_runs::config::{BackboneConfig, MlpConfig, TrainConfig, BACKBONES};
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_runs::presets::{did_you_mean, validate};
use exphil_sim::{bot, Bot, Game, STAGES};
use exphil_state::Controller;
use exphil_train::data::{prepare, PreparedData};
use exphil_train::trainer::{train, Event, FaultInjection, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// `exphil bench ...`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Train every backbone on the same replays and split and compare them: validation loss
    /// per component, loss curves, training speed, step latency, size, complexity. Writes
    /// benchmark_results.json and benchmark_report.html.
    Architectures(ArchArgs),
    /// The simulator's speed alone and with scripted bots (one core), and rollouts with a
    /// policy (`--policy`), each against its target.
    Sim(SimArgs),
    /// The simulator measured against real replays: movement quantities (gravity, fall
    /// speeds, jump squat, hops, aerial jumps, dash, run and drift against the stick, takeoff
    /// momentum, landing lags, airdodges, wavedashes) and action coverage, per character, from
    /// the replays and from simulated games by the same code.
    SimFidelity(FidelityArgs),
}

/// `exphil bench sim-fidelity` arguments.
#[derive(Args, Debug)]
pub struct FidelityArgs {
    /// Replay folders (searched recursively for .slp) or files.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE")]
    pub replays: Vec<PathBuf>,
    /// Also write the whole report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print every character of the replays, not only the simulator's.
    #[arg(long)]
    pub all: bool,
    /// Seed of the simulated games.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `exphil bench sim-fidelity`.
fn sim_fidelity(a: FidelityArgs) -> Result<ExitCode> {
    let (files, missing) = exphil_corpus::discover(&a.replays);
    for (p, e) in &missing {
        eprintln!("warning: {}: {e}", p.display());
    }
    if files.is_empty() {
        bail!("no .slp replays under {:?}", a.replays);
    }
    let t0 = Instant::now();
    let report =
        exphil_sim::fidelity::bench(&files, a.seed).context("simulating the comparison games")?;
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{}", report.summary(a.all));
    println!("({:.1} s)", t0.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `exphil bench architectures` arguments.
#[derive(Args, Debug)]
pub struct ArchArgs {
    /// Replay directories (searched recursively).
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    pub replays: Vec<PathBuf>,
    /// Backbones to compare [default: all: mlp,lstm,gru,attention,mamba,jamba].
    #[arg(long, value_delimiter = ',', value_name = "NAME,NAME")]
    pub only: Vec<String>,
    /// Epochs each backbone trains.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub epochs: u32,
    /// Replay files used (the same for every backbone).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_files: usize,
    /// Frames per window of the temporal backbones.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub window_size: usize,
    /// Frames between training windows.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub stride: usize,
    /// Width of every backbone (the MLP gets two layers of it).
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub hidden_size: usize,
    /// Layers of the temporal backbones (jamba: 3, with attention every 3rd).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub num_layers: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub batch_size: usize,
    /// Batches per epoch for every backbone [default: the temporal backbones' windows per
    /// epoch / batch size, so that the MLP sees as many examples as they do].
    #[arg(long, value_name = "N")]
    pub max_batches: Option<usize>,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, value_name = "X")]
    pub lr: f64,
    /// Seed of initialisation, shuffling and dropout (the same for every backbone).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Where the results, the report and the runs go.
    #[arg(long, default_value = "benchmarks", value_name = "DIR")]
    pub output: PathBuf,
    /// Dataset cache directory [default: ~/.cache/exphil/datasets].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    #[arg(long, default_value = "cpu", value_name = "DEV")]
    pub device: String,
}

/// Runs a bench subcommand.
pub fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Architectures(a) => architectures(a),
        BenchCommand::Sim(a) => sim(a),
        BenchCommand::SimFidelity(a) => sim_fidelity(a),
    }
}

/// The backbone config of `name` at the bench's sizes.
fn backbone(name: &str, a: &ArchArgs) -> Result<BackboneConfig> {
    let mut b = BackboneConfig::default_of(name).with_context(|| {
        let hint = did_you_mean(name, BACKBONES.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        format!(
            "unknown backbone `{name}` in --only (the backbones: {}){hint}",
            BACKBONES.join(", ")
        )
    })?;
    let (w, h, l, s) = (a.window_size, a.hidden_size, a.num_layers, a.stride);
    match &mut b {
        BackboneConfig::Mlp(m) => {
            *m = MlpConfig {
                hidden: vec![h, h],
                ..MlpConfig::default()
            }
        }
        BackboneConfig::Lstm(c) | BackboneConfig::Gru(c) => {
            (c.window_size, c.hidden_size, c.num_layers, c.stride) = (w, h, l, s)
        }
        BackboneConfig::Attention(c) => {
            (c.window_size, c.hidden_size, c.num_layers, c.stride) = (w, h, l, s)
        }
        BackboneConfig::Mamba(c) => {
            (c.window_size, c.hidden_size, c.num_layers, c.stride) = (w, h, l, s)
        }
        BackboneConfig::Jamba(c) => {
            (c.window_size, c.hidden_size, c.stride) = (w, h, s);
            c.num_layers = l.max(c.attention_every);
        }
    }
    Ok(b)
}

/// Multiply-accumulates to predict one frame (the forward pass over its window), and the
/// complexity in symbols.
fn cost(b: &BackboneConfig, input: usize) -> (u64, String) {
    let Some(w) = b.temporal() else {
        let BackboneConfig::Mlp(m) = b else {
            return (0, String::new());
        };
        let mut macs = 0;
        let mut width = input;
        for &h in &m.hidden {
            macs += width * h;
            width = h;
        }
        return (macs as u64, "O(L·H²)".into());
    };
    let (win, h, layers) = (w.window_size, w.hidden_size, w.num_layers.max(1));
    let attention = win * (4 * h * h + 8 * h * h) + win * win * h;
    let mamba = |s: exphil_runs::config::SsmSettings| {
        let e = s.expand_factor * h;
        let r = h.div_ceil(16);
        win * (h * 2 * e
            + s.conv_size * e
            + e * (r + 2 * s.state_size)
            + r * e
            + 3 * e * s.state_size
            + e * h)
    };
    let proj = win * input * h;
    let (macs, text) = match b {
        BackboneConfig::Lstm(_) | BackboneConfig::Gru(_) => {
            let gates = if matches!(b, BackboneConfig::Lstm(_)) {
                4
            } else {
                3
            };
            let first = win * gates * h * (input + h);
            let rest = (layers - 1) * win * gates * h * 2 * h;
            (first + rest, "O(W·L·H²), sequential in W".to_string())
        }
        BackboneConfig::Attention(_) => (proj + layers * attention, "O(W·L·H² + W²·L·H)".into()),
        BackboneConfig::Mamba(_) => (
            proj + layers * mamba(b.ssm().expect("ssm")),
            "O(W·L·H·E + W·L·E·N)".into(),
        ),
        BackboneConfig::Jamba(j) => {
            let every = j.attention_every.max(1);
            let attn = (1..=layers).filter(|i| i % every == 0).count();
            (
                proj + attn * attention + (layers - attn) * mamba(b.ssm().expect("ssm")),
                "O(W·L·H·E + W·L·E·N + W²·(L/k)·H)".into(),
            )
        }
        BackboneConfig::Mlp(_) => (0, String::new()),
    };
    (macs as u64, text)
}

/// Median and 99th percentile of the batch-1 step (trunk, head argmax) in microseconds, and
/// the median of a 256-game step in milliseconds, on a freshly initialised policy.
fn latency(cfg: &TrainConfig, spec: &InputSpec, device: &Device) -> Latency {
    device.seed(1);
    let policy = Policy::new(&cfg.policy, spec, device);
    let one = step_timings(&policy, spec, 1, 20, 500, Timed::Step, device);
    let many = step_timings(&policy, spec, 256, 2, 10, Timed::Step, device);
    Latency {
        step_batch1_us: quantile(&one, 0.5) * 1e6,
        step_batch1_p99_us: quantile(&one, 0.99) * 1e6,
        step_batch256_ms: quantile(&many, 0.5) * 1e3,
    }
}

fn base_config(a: &ArchArgs) -> TrainConfig {
    let mut cfg = TrainConfig {
        device: a.device.clone(),
        ..TrainConfig::default()
    };
    cfg.data.replays = a.replays.iter().map(|p| p.display().to_string()).collect();
    cfg.data.max_files = Some(a.max_files);
    cfg.data.cache_dir = a.cache_dir.as_ref().map(|p| p.display().to_string());
    cfg.train.epochs = a.epochs;
    cfg.train.batch_size = a.batch_size;
    cfg.train.max_batches = a.max_batches;
    cfg.train.seed = Some(a.seed);
    cfg.train.val_split = cfg.train.val_split.max(0.1);
    cfg.train.log_interval = usize::MAX;
    cfg.optim.lr = a.lr;
    cfg.checkpoint.register = false;
    cfg
}

fn one(name: &str, a: &ArchArgs, data: &PreparedData, out: &Path) -> Result<ArchResult> {
    let mut cfg = base_config(a);
    if a.max_batches.is_none() {
        // Every backbone takes as many optimiser steps on as many examples: the MLP would
        // otherwise see `stride` times more targets per epoch than the windowed backbones.
        let windows = data.provenance.training_frames / a.stride.max(1);
        cfg.train.max_batches = Some(windows.div_ceil(a.batch_size.max(1)).max(1));
    }
    cfg.policy.backbone = backbone(name, a)?;
    let warnings = validate(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in warnings {
        eprintln!("  {name}: warning: {w}");
    }
    let input = exphil_policy::model::trunk_input(&cfg.policy, &data.spec);
    let (macs, complexity) = cost(&cfg.policy.backbone, input);
    let run_dir = out.join("runs").join(name);
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("clearing {}", run_dir.display()))?;
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let opts = RunOptions {
        run_dir,
        resume: None,
        stop: Arc::new(AtomicBool::new(false)),
        faults: FaultInjection::default(),
        init: None,
    };
    let mut curve = Vec::new();
    let mut best: Option<(f64, Vec<f64>, Vec<f64>)> = None;
    let (mut examples, mut seconds) = (0u64, 0f64);
    let t0 = Instant::now();
    train(&cfg, data, &opts, &mut |e| {
        if let Event::Epoch(m) = e {
            examples += m.train.examples;
            seconds += m.seconds;
            let val = m.val.clone().unwrap_or_default();
            curve.push(CurvePoint {
                epoch: m.epoch,
                train_loss: m.train.loss,
                val_loss: val.loss,
            });
            if best.as_ref().is_none_or(|(l, _, _)| val.loss < *l) {
                best = Some((val.loss, val.components.clone(), val.accuracy.clone()));
            }
            println!(
                "  {name:<9} epoch {}: train loss {:.4}, val loss {:.4} ({:.1}s)",
                m.epoch, m.train.loss, val.loss, m.seconds
            );
        }
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let (val_loss, val_components, val_accuracy) = best.context("no epoch finished")?;
    let device = device_of(&cfg.device)?;
    Ok(ArchResult {
        name: name.to_string(),
        backbone: serde_json::to_value(&cfg.policy.backbone)?,
        params: param_count(&cfg.policy, &data.spec),
        complexity,
        macs_per_example: macs,
        val_loss,
        val_components,
        val_accuracy,
        curve,
        train_samples_per_s: examples as f64 / seconds.max(1e-9),
        train_seconds,
        latency: latency(&cfg, &data.spec, &device),
        error: None,
    })
}

fn architectures(a: ArchArgs) -> Result<ExitCode> {
    let names: Vec<String> = if a.only.is_empty() {
        BACKBONES.iter().map(|s| s.to_string()).collect()
    } else {
        a.only.iter().map(|s| s.trim().to_lowercase()).collect()
    };
    for n in &names {
        backbone(n, &a)?;
    }
    if a.epochs == 0 || a.batch_size == 0 || a.window_size == 0 || a.hidden_size == 0 {
        bail!("--epochs, --batch-size, --window-size and --hidden-size must be at least 1");
    }
    let cfg = base_config(&a);
    let data = prepare(&cfg, a.seed, &|_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let p = &data.provenance;
    println!(
        "Data: {} games ({} training, {} validation), {} training / {} validation frames",
        p.replay_count,
        p.training_games,
        p.validation_games,
        p.training_frames,
        p.validation_frames
    );
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut results = Vec::new();
    for name in &names {
        let r = match one(name, &a, &data, &a.output) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("  {name}: failed: {e:#}");
                ArchResult {
                    name: name.clone(),
                    error: Some(format!("{e:#}")),
                    ..ArchResult::default()
                }
            }
        };
        if r.error.is_none() {
            println!(
                "  {:<9} val loss {:.4}  {:>7.0} samples/s  step {:>6.0} us",
                r.name, r.val_loss, r.train_samples_per_s, r.latency.step_batch1_us
            );
        }
        results.push(r);
    }
    let report = BenchReport {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        created: rfc3339_utc(SystemTime::now()),
        machine: MachineInfo::detect(&a.device),
        replays: cfg.data.replays.clone(),
        games: p.replay_count,
        train_frames: p.training_frames,
        val_frames: p.validation_frames,
        epochs: a.epochs,
        window: a.window_size,
        complexity_legend: "W: frames per window, L: layers, H: width, E: Mamba inner width \
            (expand x H), N: state size, k: Jamba's attention period. Costs are per predicted \
            frame (one window's forward pass); the MLP reads one frame."
            .into(),
        results,
    };
    let json_path = a.output.join("benchmark_results.json");
    let html_path = a.output.join("benchmark_report.html");
    exphil_io::write_atomic(
        &json_path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    exphil_io::write_atomic(
        &html_path,
        exphil_report::report::render_html(&report).as_bytes(),
    )
    .with_context(|| format!("writing {}", html_path.display()))?;
    println!("\n{}", exphil_report::report::console_table(&report));
    println!("Results: {}", json_path.display());
    println!("Report:  {}", html_path.display());
    let failed = report.results.iter().filter(|r| r.error.is_some()).count();
    Ok(if failed == report.results.len() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `exphil bench sim` arguments.
#[derive(Args, Debug)]
pub struct SimArgs {
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
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
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
fn sim(a: SimArgs) -> Result<ExitCode> {
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
