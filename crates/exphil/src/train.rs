//! `exphil train`: behavioural cloning from replays (or a prepared dataset) with presets,
//! a config file and environment defaults, checkpoints, resumption and the run registry.

use crate::replays::progress;
use anyhow::{Context, Result};
use exphil_dataset::Progress;
use exphil_policy::COMPONENTS;
use exphil_runs::args::TrainArgs;
use exphil_runs::checkpoint::{default_run_name, prepare_run_dir, rfc3339_utc};
use exphil_runs::config::TrainConfig;
use exphil_runs::models::register_run;
use exphil_runs::presets::{diff_from_defaults, overlay_keys, resolve, validate};
use exphil_runs::resume::resume_point;
use exphil_runs::rundir::RunDir;
use exphil_train::data::prepare;
use exphil_train::run::{
    check_memory, dry_run_plan, load_pretrained, write_config, write_games, RunMeta,
};
use exphil_train::trainer::{train, Event, FaultInjection, RunOptions};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

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
        for line in dry_run_plan(&config, &data) {
            println!("{line}");
        }
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
            println!("         {}", exphil_report::plot::sparkline(&losses, 40));
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
