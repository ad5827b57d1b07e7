//! `exphil train`: behavioural cloning from replays (or a prepared dataset) with presets,
//! a config file and environment defaults, checkpoints, resumption and the run registry.

use crate::replays::progress;
use anyhow::{Context, Result};
use exphil_dataset::Progress;
use exphil_policy::COMPONENTS;
use exphil_runs::args::TrainArgs;
use exphil_runs::checkpoint::{default_run_name, prepare_run_dir, rfc3339_utc};
use exphil_runs::config::TrainConfig;
use exphil_runs::models::{register_run, resolve_run};
use exphil_runs::presets::{diff_from_defaults, overlay_keys, resolve, validate};
use exphil_runs::rundir::{RunDir, RunFile, RunGames, RunProcess};
use exphil_train::data::{prepare, PreparedData};
use exphil_train::resume::resume_point;
use exphil_train::trainer::{train, Event, FaultInjection, RunOptions};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// Bytes as MiB with one decimal.
pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

fn data_progress(quiet: bool) -> impl Fn(Progress) + Sync {
    let bar: Mutex<ProgressBar> = Mutex::new(ProgressBar::hidden());
    move |p: Progress| {
        if quiet {
            return;
        }
        let Ok(mut b) = bar.lock() else { return };
        match p {
            Progress::Scanning { total } | Progress::Writing { total } => {
                b.finish_and_clear();
                *b = progress(total, false);
            }
            Progress::Step => b.inc(1),
        }
    }
}

/// Runs `exphil train`.
pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let verbosity = args.verbosity();
    let quiet = verbosity == 0;
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    // Resume: the run's own config, with --epochs able to extend it.
    let (mut config, resume, run_dir) = if let Some(path) = &args.resume {
        let point = resume_point(path)?;
        for r in &point.refused {
            eprintln!(
                "warning: checkpoint {} refused: {}{}",
                r.name,
                r.reason,
                r.progress.map_or_else(String::new, |(e, b, _)| format!(
                    " (it claims epoch {}, batch {b})",
                    e + 1
                ))
            );
        }
        if let Some((lost, steps)) = point.progress_lost() {
            eprintln!(
                "warning: resuming from {} (epoch {}, batch {}) costs {steps} optimiser steps \
                 of progress against the damaged {}",
                point.name,
                point.progress.0 + 1,
                point.progress.1,
                lost.name
            );
        }
        let ckpt = point.files;
        let run_dir = ckpt
            .dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .context("the checkpoint is not inside a run directory")?;
        // The run's record, its checksum verified.
        let run = RunDir::new(&run_dir);
        let mut config = run.read()?.train_config(&run.config_path())?;
        // What may change on resume: how long, where the dataset cache lives, the device and
        // the log cadence. Anything else would no longer be the run being resumed.
        const RESUMABLE: [&str; 4] = [
            "loop.epochs",
            "data.cache_dir",
            "device",
            "loop.log_interval",
        ];
        let cli = args.overlay()?;
        let mut v = serde_json::to_value(&config)?;
        exphil_runs::presets::merge(&mut v, &cli);
        let changed: TrainConfig = serde_json::from_value(v)?;
        config.train.epochs = changed.train.epochs;
        config.train.log_interval = changed.train.log_interval;
        config.data.cache_dir = changed.data.cache_dir;
        config.device = changed.device;
        let ignored: Vec<String> = overlay_keys(&cli)
            .into_iter()
            .filter(|k| !RESUMABLE.contains(&k.as_str()))
            .collect();
        if !ignored.is_empty() {
            anyhow::bail!(
                "--resume continues the run with its own config ({}); only --epochs, \
                 --cache-dir, --device and --log-interval can change. Not applied: {}. To change \
                 other settings, start a new run.",
                RunDir::new(&run_dir).config_path().display(),
                ignored.join(", ")
            );
        }
        for w in &ckpt.warnings {
            eprintln!("warning: {w}");
        }
        (config, Some(ckpt), Some(run_dir))
    } else {
        let layers = args.layers(env)?;
        let resolved = resolve(&layers)?;
        let warnings = validate(&resolved.config)?;
        if !quiet {
            for w in warnings {
                eprintln!("warning: {w}");
            }
        }
        if args.dry_run {
            println!("Resolved config (differences from the defaults):");
            for (k, v) in diff_from_defaults(&resolved.config) {
                println!("  {k:<32} {v:<24} ({})", resolved.source(&k));
            }
        }
        (resolved.config, None, None)
    };
    let seed = match config.train.seed {
        Some(s) => s,
        None => {
            let s = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ u64::from(std::process::id());
            config.train.seed = Some(s);
            if args.dry_run {
                // The seed decides the split and the shuffles: the real run draws another.
                println!(
                    "Seed:           {s} (drawn: this plan's split and order come back with \
                     --seed {s})"
                );
            }
            s
        }
    };
    // A model the machine cannot hold is refused before any data work (it would abort, or
    // swap for hours).
    if !args.ignore_memory_limit {
        check_memory(&config, seed)?;
    }
    let t_data = Instant::now();
    let on_progress = data_progress(quiet);
    let data = prepare(&config, seed, &on_progress)?;
    if !quiet {
        let p = &data.provenance;
        println!(
            "Data: {} games ({} training, {} validation), {} training and {} validation frames ({:.1}s)",
            p.replay_count,
            p.training_games,
            p.validation_games,
            p.training_frames,
            p.validation_frames,
            t_data.elapsed().as_secs_f64()
        );
        for (path, reason) in p.skipped.iter().take(10) {
            eprintln!("warning: skipped {path}: {reason}");
        }
    }
    let ckpt_dir = PathBuf::from(&config.checkpoint.dir);
    let pretrained = match &args.pretrained {
        Some(arg) => Some(load_pretrained(arg, &ckpt_dir, &config, &data)?),
        None => None,
    };
    if args.dry_run {
        dry_run(&config, &data);
        return Ok(ExitCode::SUCCESS);
    }
    let (run_dir, name) = match run_dir {
        Some(d) => {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (d, name)
        }
        None => {
            let name = config.checkpoint.name.clone().unwrap_or_else(|| {
                default_run_name(config.policy.backbone.name(), SystemTime::now())
            });
            let backups = if config.checkpoint.backup {
                config.checkpoint.backup_count
            } else {
                0
            };
            let dir = prepare_run_dir(&ckpt_dir, &name, config.checkpoint.overwrite, backups)?;
            (dir, name)
        }
    };
    let ckpt_dir = run_dir.parent().map(Path::to_path_buf).unwrap_or(ckpt_dir);
    config.checkpoint.name = Some(name.clone());
    let mut meta = RunMeta {
        created_at: rfc3339_utc(SystemTime::now()),
        training_type: if pretrained.is_some() {
            "fine_tune".into()
        } else {
            "imitation".into()
        },
        parent: pretrained.as_ref().map(|p| p.0.clone()),
        resumes: Vec::new(),
        params: exphil_policy::model::param_count(&config.policy, &data.spec),
    };
    if args.resume.is_some() {
        // A resumed run keeps its creation time and parent, and records the resume.
        if let Ok(old) = RunDir::new(&run_dir).read() {
            meta.created_at = old.created_at.or(old.timestamp).unwrap_or(meta.created_at);
            meta.parent = old.parent;
            meta.training_type = old.training_type.unwrap_or(meta.training_type);
            meta.resumes = old.resumes;
        }
        meta.resumes.push(rfc3339_utc(SystemTime::now()));
    }
    write_config(&run_dir, &config, &data, &meta, "running", None)?;
    if let Err(e) = write_games(&run_dir, &data) {
        let _ = write_config(&run_dir, &config, &data, &meta, "failed", None);
        return Err(e);
    }
    if !quiet {
        println!("  Model name:  {name}  ({})", run_dir.display());
        println!("  Seed:        {seed} (use --seed {seed} to reproduce)");
    }
    let stop = exphil_train::trainer::checkpoint_on_interrupt();
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume,
        stop,
        faults: FaultInjection::default(),
        init: pretrained.map(|p| p.1),
    };
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let mut losses: Vec<f64> = Vec::new();
    let t0 = Instant::now();
    let mut on_event = |e: Event| match e {
        Event::Start {
            epochs,
            batches,
            from,
            params,
            history,
            ..
        } => {
            losses = history;
            if !quiet {
                println!(
                    "Training {} parameters, {batches} batches per epoch, {epochs} epochs{}",
                    params,
                    if from != (0, 0) {
                        format!(" (resuming at epoch {}, batch {})", from.0 + 1, from.1)
                    } else {
                        String::new()
                    }
                );
            }
        }
        Event::Progress {
            epoch,
            batch,
            batches,
            loss,
            scored_per_sec,
            lr,
        } => {
            if quiet {
                return;
            }
            if let Ok(mut b) = bar.lock() {
                let pb = b.get_or_insert_with(|| {
                    let pb = progress(batches, false);
                    pb.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} batches {elapsed} (eta {eta}) {msg}",
                        )
                        .expect("static template is valid"),
                    );
                    pb.set_position(batch);
                    pb
                });
                pb.set_position(batch);
                pb.set_message(format!(
                    "epoch {} loss {loss:.4} nats/frame, {scored_per_sec:.0} scored frames/s, lr {lr:.2e}",
                    epoch + 1
                ));
                if verbosity >= 2 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprintln!(
                        "  epoch {} batch {batch}/{batches} loss {loss:.4} nats/frame, {scored_per_sec:.0} scored frames/s, lr {lr:.2e}",
                        epoch + 1
                    );
                }
            }
        }
        Event::Validating => {}
        Event::Fault { step, message } => eprintln!("warning: step {step}: {message}"),
        Event::Notice(message) => {
            if !quiet {
                eprintln!("note: {message}");
            }
        }
        Event::Saved { kind, path } => {
            if verbosity >= 2 || kind == "interrupt" {
                println!("  saved {kind} checkpoint {}", path.display());
            }
        }
        Event::Epoch(m) => {
            if let Ok(mut b) = bar.lock() {
                if let Some(pb) = b.take() {
                    pb.finish_and_clear();
                }
            }
            let monitored = m.val.as_ref().map_or(m.train.loss, |v| v.loss);
            losses.push(monitored);
            if quiet {
                return;
            }
            let comps = |v: &[f64]| {
                COMPONENTS
                    .iter()
                    .zip(v)
                    .map(|(n, x)| format!("{n} {x:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "Epoch {}: train loss {:.4} [{}] ({:.1}s, lr {:.2e})",
                m.epoch,
                m.train.loss,
                comps(&m.train.components),
                m.seconds,
                m.lr
            );
            if let Some(v) = &m.val {
                println!(
                    "         val loss {:.4}{} [{}]",
                    v.loss,
                    if m.improved { " (best)" } else { "" },
                    comps(&v.components)
                );
                println!(
                    "         val accuracy [{}], button baseline {:.3}",
                    comps(&v.accuracy),
                    v.button_baseline.unwrap_or(0.0)
                );
            }
            println!("         {}", exphil_runs::plot::sparkline(&losses, 40));
        }
    };
    // A panic inside training still marks the run `failed` before it propagates (an abort or
    // SIGKILL cannot: `models` shows such a run as `killed`).
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(&config, &data, &opts, &mut on_event)
    })) {
        Ok(r) => r,
        Err(panic) => {
            let _ = write_config(&run_dir, &config, &data, &meta, "failed", None);
            if config.checkpoint.register {
                let _ = register_run(&ckpt_dir, &run_dir);
            }
            std::panic::resume_unwind(panic);
        }
    };
    let register = |status: &str, metrics: Option<&serde_json::Value>| -> Result<()> {
        write_config(&run_dir, &config, &data, &meta, status, metrics)?;
        if config.checkpoint.register {
            for w in register_run(&ckpt_dir, &run_dir)? {
                eprintln!("warning: registry: {w}");
            }
        }
        Ok(())
    };
    if let Ok(mut b) = bar.lock() {
        if let Some(pb) = b.take() {
            pb.finish_and_clear();
        }
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            register("failed", None)?;
            return Err(e.into());
        }
    };
    let st = &summary.state;
    let metrics = serde_json::json!({
        "epochs": st.history.len(),
        "best_val_loss": st.best_val,
        "best_epoch": st.best_epoch,
        "final_train_loss": st.history.last().map(|h| h.train.loss),
        "final_val_accuracy": st.history.last().and_then(|h| h.val.as_ref().map(|v| v.accuracy.clone())),
        "button_baseline": st.history.last().and_then(|h| h.val.as_ref().and_then(|v| v.button_baseline)),
        "skipped_steps": st.skipped_steps,
        "early_stopped": st.early_stopped,
        "seconds": st.seconds,
    });
    if let Some(p) = &summary.interrupted {
        register("interrupted", Some(&metrics))?;
        println!("✓ Interrupt checkpoint saved to {}", p.display());
        println!("  Resume with: exphil train --resume {}", run_dir.display());
        return Ok(ExitCode::from(130));
    }
    register("completed", Some(&metrics))?;
    if !quiet {
        println!(
            "Done in {:.1}s: {} epochs{}, best validation loss {}, model {}",
            t0.elapsed().as_secs_f64(),
            st.history.len(),
            if st.early_stopped {
                " (early stop)"
            } else {
                ""
            },
            st.best_val.map_or("-".to_string(), |v| format!(
                "{v:.4} (epoch {})",
                st.best_epoch.unwrap_or(0)
            )),
            summary.model.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn dry_run(config: &TrainConfig, data: &PreparedData) {
    let params = exphil_policy::model::param_count(&config.policy, &data.spec);
    let b = &config.policy.backbone;
    let sequence = config.train.sequence.enabled && b.window().is_some();
    println!(
        "Dataset:        {} training / {} validation frames",
        data.provenance.training_frames, data.provenance.validation_frames
    );
    if let Some(w) = b.temporal() {
        if sequence {
            let s = &config.train.sequence;
            println!(
                "Sequences:      unrolls of {} frames over {} streams (segments of {} frames), \
                 the loss on every frame",
                s.unroll, s.streams, s.segment_frames
            );
        } else {
            let windows = data.provenance.training_frames / w.stride.max(1);
            println!(
                "Windows:        {} frames every {} (about {windows} training windows)",
                w.window_size, w.stride
            );
        }
    }
    // The held-out games by file, so a plan's split can be checked (and kept with --seed).
    let held_out: Vec<&str> = data
        .manifest
        .games
        .iter()
        .filter(|g| {
            data.validation_hashes
                .binary_search(&g.content_hash)
                .is_ok()
        })
        .map(|g| g.source.as_str())
        .collect();
    if !held_out.is_empty() {
        let names: Vec<&str> = held_out
            .iter()
            .take(5)
            .map(|s| s.rsplit(['/', '\\']).next().unwrap_or(s))
            .collect();
        let more = held_out.len().saturating_sub(names.len());
        println!(
            "Validation:     {}{}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    println!("Parameters:     {params}");
    let seed = config.train.seed.unwrap_or(0);
    let batches = if sequence {
        data.train_streams(config, seed)
            .map(|s| s.batches_in_epoch(0))
            .map_err(|e| e.to_string())
    } else {
        data.train_loader(config, seed)
            .map(|l| l.batches_per_epoch())
            .map_err(|e| e.to_string())
    };
    match batches {
        Ok(n) => println!("Batches/epoch:  {n}"),
        Err(e) => println!("Batches/epoch:  unknown ({e})"),
    }
    match probe_memory(config, data) {
        Ok((peak, batches)) => {
            let shards: u64 = data
                .train_dirs
                .iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            println!(
                "Memory:         peak {} over {batches} real training steps of this config",
                mib(peak as f64)
            );
            if !config.data.stream {
                println!(
                    "                the training shards ({}) are memory-mapped and become \
                     resident as an epoch reads them: up to {} in all (--stream bounds it)",
                    mib(shards as f64),
                    mib((peak + shards) as f64)
                );
            }
        }
        Err(e) => println!("Memory:         not measured ({e})"),
    }
    println!("Dry run: nothing trained.");
}

/// The peak resident memory (bytes) of a few real training steps of `config` on its data (no
/// validation, in a throwaway directory), and the steps run. Linux only (it resets and reads
/// the process's peak resident set).
fn probe_memory(config: &TrainConfig, data: &PreparedData) -> Result<(u64, usize)> {
    const STEPS: usize = 3;
    let status = |key: &str| -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident set.
    std::fs::write("/proc/self/clear_refs", "5")
        .context("this system cannot reset the peak memory counter")?;
    let mut cfg = config.clone();
    cfg.train.epochs = 1;
    cfg.train.max_batches = Some(STEPS * cfg.train.accumulation_steps.max(1));
    cfg.train.early_stopping = false;
    cfg.train.log_interval = 1;
    cfg.schedule.schedule = exphil_runs::config::ScheduleKind::Constant;
    let probe = PreparedData {
        manifest: data.manifest.clone(),
        spec: data.spec.clone(),
        train_dirs: data.train_dirs.clone(),
        val_dirs: Vec::new(),
        button_positives: data.button_positives,
        provenance: data.provenance.clone(),
        training_hashes: Vec::new(),
        validation_hashes: Vec::new(),
    };
    let dir = tempfile::tempdir().context("a temporary directory for the probe")?;
    let opts = RunOptions {
        run_dir: dir.path().to_path_buf(),
        resume: None,
        stop: Arc::new(AtomicBool::new(false)),
        faults: FaultInjection::default(),
        init: None,
    };
    let mut steps = 0usize;
    train(&cfg, &probe, &opts, &mut |e| {
        if matches!(e, Event::Progress { .. }) {
            steps += 1;
        }
    })?;
    let peak = status("VmHWM:").context("no peak memory in /proc/self/status")?;
    Ok((peak, steps.max(1)))
}

/// Refuses a config whose model needs more memory than this machine has (see
/// [`estimated_bytes`]); a no-op where the machine's memory cannot be read.
fn check_memory(config: &TrainConfig, seed: u64) -> Result<()> {
    let Some(total) = machine_memory() else {
        return Ok(());
    };
    let (need, params) = estimated_bytes(config, seed)?;
    if need > total {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        anyhow::bail!(
            "this model needs about {:.1} GiB ({params} parameters with their gradients, \
             optimiser state and copies, plus one batch's activations) and this machine has \
             {:.1} GiB: use a smaller model (--hidden, --hidden-size, --num-layers) or a smaller \
             batch, or add --ignore-memory-limit to try anyway",
            gib(need),
            gib(total)
        );
    }
    Ok(())
}

/// This machine's memory in bytes (`MemTotal` of `/proc/meminfo`).
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A lower bound of what training `config` holds in memory, in bytes, and the model's
/// parameters: the weights and their gradients, optimiser moments, the best and EMA copies and
/// the recovery snapshot (f32 each), and one batch's activations kept for the backward pass.
fn estimated_bytes(config: &TrainConfig, seed: u64) -> Result<(u64, usize)> {
    let build = exphil_train::data::build_config(&config.data, seed)?;
    let embedder = exphil_embed::Embedder::new(build.embed.clone())?;
    let coder = exphil_embed::TargetCoder::new(build.targets.clone())?;
    let spec = exphil_policy::InputSpec::new(embedder.layout(), coder.num_classes());
    let params = exphil_policy::model::param_count(&config.policy, &spec);
    let moments = match config.optim.optimizer {
        exphil_runs::config::OptimizerKind::Sgd => 1,
        _ => 2,
    };
    let copies = 4 + moments + u64::from(config.train.ema);
    let b = &config.policy.backbone;
    let (rows, per_row) = match b.temporal() {
        None => {
            let hidden: usize = match b {
                exphil_runs::config::BackboneConfig::Mlp(m) => m.hidden.iter().sum(),
                _ => 0,
            };
            (config.train.batch_size, hidden * 4)
        }
        Some(w) => {
            let frames = if config.train.sequence.enabled {
                config.train.sequence.streams * config.train.sequence.unroll
            } else {
                config.train.batch_size * w.window_size
            };
            (frames, w.hidden_size * w.num_layers.max(1) * 12)
        }
    };
    let activations = (rows as u64)
        .saturating_mul((per_row + spec.features) as u64)
        .saturating_mul(4);
    Ok((
        (params as u64)
            .saturating_mul(4 * copies)
            .saturating_add(activations),
        params,
    ))
}

/// What `config.json` records about the run besides its config.
struct RunMeta {
    created_at: String,
    training_type: String,
    parent: Option<String>,
    resumes: Vec<String>,
    params: usize,
}

fn write_config(
    run_dir: &Path,
    config: &TrainConfig,
    data: &PreparedData,
    meta: &RunMeta,
    status: &str,
    results: Option<&serde_json::Value>,
) -> Result<()> {
    let value = |v: serde_json::Result<serde_json::Value>| v.map_err(anyhow::Error::from);
    let mut file = RunFile {
        timestamp: Some(rfc3339_utc(SystemTime::now())),
        created_at: Some(meta.created_at.clone()),
        status: Some(status.into()),
        // While running, the process (so a run killed outright is told apart).
        process: (status == "running").then(RunProcess::current),
        training_type: Some(meta.training_type.clone()),
        parent: meta.parent.clone(),
        resumes: meta.resumes.clone(),
        params: Some(meta.params as u64),
        exphil_version: Some(env!("CARGO_PKG_VERSION").into()),
        config: value(serde_json::to_value(config))?,
        provenance: value(serde_json::to_value(&data.provenance))?,
        results: results.cloned().unwrap_or_default(),
        ..RunFile::default()
    };
    for (k, v) in [
        ("embed", serde_json::to_value(&data.manifest.embed)),
        ("layout", serde_json::to_value(&data.manifest.layout)),
        ("targets", serde_json::to_value(&data.manifest.targets)),
        ("input", serde_json::to_value(&data.spec)),
        (
            "pairing_version",
            serde_json::to_value(data.manifest.pairing_version),
        ),
    ] {
        file.other.insert(k.into(), value(v)?);
    }
    Ok(RunDir::new(run_dir).write(&file)?)
}

/// `games.json`: the content hashes of the run's training and validation games, so that
/// `exphil eval` can leave out games the policy trained on.
fn write_games(run_dir: &Path, data: &PreparedData) -> Result<()> {
    Ok(RunDir::new(run_dir).write_games(&RunGames {
        training: data.training_hashes.clone(),
        validation: data.validation_hashes.clone(),
    })?)
}

/// The weights of `--pretrained RUN` and the run's name, checked against this run: the same
/// architecture and the same input.
fn load_pretrained(
    arg: &str,
    ckpt_dir: &Path,
    config: &TrainConfig,
    data: &PreparedData,
) -> Result<(String, Vec<exphil_runs::tensors::NamedTensor>)> {
    use exphil_train::model_file::{check_policy_matches, read_weights};
    use exphil_train::model_file::{META_POLICY, META_SPEC};
    let path = if Path::new(arg).exists() {
        PathBuf::from(arg)
    } else {
        resolve_run(ckpt_dir, arg).with_context(|| format!("--pretrained {arg}"))?
    };
    let w = read_weights(&path).with_context(|| format!("--pretrained {arg}"))?;
    let (tensors, meta, run_dir) = (w.tensors, w.metadata, w.run_dir);
    let policy = meta.get(META_POLICY).with_context(|| {
        format!(
            "--pretrained {arg}: {} has no {META_POLICY} metadata",
            path.display()
        )
    })?;
    check_policy_matches(policy, &config.policy, "this run's config")
        .map_err(|e| anyhow::anyhow!("--pretrained {arg}: {e}"))?;
    let spec: Option<exphil_policy::InputSpec> = meta
        .get(META_SPEC)
        .and_then(|s| serde_json::from_str(s).ok());
    if spec.as_ref() != Some(&data.spec) {
        anyhow::bail!(
            "--pretrained {arg}: the pretrained policy reads {} features and {} ids, this run's \
             data gives {} and {}: use the same embedding settings (embed preset, player names, \
             stick targets) as the pretrained run",
            spec.as_ref().map_or(0, |s| s.features),
            spec.as_ref().map_or(0, |s| s.ids),
            data.spec.features,
            data.spec.ids
        );
    }
    let name = match &run_dir {
        Some(d) => d.file_name(),
        None => path.file_stem(),
    }
    .map(|n| n.to_string_lossy().into_owned())
    .unwrap_or_default();
    Ok((name, tensors))
}
