//! `exphil train`: behavioural cloning from replays (or a prepared dataset) with presets,
//! a config file and environment defaults, checkpoints, resumption and the run registry.

use crate::cli::{clock, paint, progress, Paint};
use anyhow::Result;
use exphil_dataset::Progress;
use exphil_policy::COMPONENTS;
use exphil_runs::args::TrainArgs;
use exphil_runs::checkpoint::CheckpointFiles;
use exphil_runs::config::TrainConfig;
use exphil_runs::presets::{diff_from_defaults, resolve, validate};
use exphil_runs::resume::resume_point;
use exphil_train::data::{prepare, PreparedData};
use exphil_train::run::{
    check_memory, dry_run_plan, load_pretrained, mib, open_run_dir, resolve_seed, resumed_config,
    train_recorded, RunMeta,
};
use exphil_train::state::EpochMetrics;
use exphil_train::trainer::{Event, FaultInjection, RunOptions};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

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
    let (mut config, resume, run_dir) = match &args.resume {
        Some(path) => resumed(path, &args)?,
        None => (fresh(&args, quiet)?, None, None),
    };
    // A device this build lacks, or a precision it cannot compute in, is refused now, before
    // any data work (a dry run too); `half` is resolved to the type the device has.
    let device = exphil_policy::device::device_of(&config.device)?;
    config.train.precision =
        exphil_policy::precision::resolve(config.train.precision, &device, &config.device)
            .map_err(|e| anyhow::anyhow!(e))?;
    let (seed, drawn) = resolve_seed(&mut config);
    if drawn && args.dry_run {
        // The seed decides the split and the shuffles: the real run draws another.
        println!(
            "Seed:           {seed} (drawn: this plan's split and order come back with \
             --seed {seed})"
        );
    }
    // A model the machine cannot hold is refused before any data work (it would abort, or
    // swap for hours).
    if !args.ignore_memory_limit {
        check_memory(&config, seed)?;
    }
    let t_data = Instant::now();
    let on_progress = data_progress(quiet);
    let data = prepare(&config, seed, &on_progress)?;
    if !quiet {
        print_data(&data, t_data.elapsed().as_secs_f64());
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
    let resumed = run_dir.is_some();
    let (run_dir, name) = open_run_dir(&mut config, run_dir)?;
    let (parent, init) = pretrained.unzip();
    let meta = RunMeta::of(&config, &data, parent, &run_dir, resumed);
    if !quiet {
        println!("  Model name:  {name}  ({})", run_dir.display());
        println!("  Seed:        {seed} (use --seed {seed} to reproduce)");
    }
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume,
        stop: exphil_train::trainer::checkpoint_on_interrupt(),
        faults: FaultInjection::default(),
        init,
    };
    let t0 = Instant::now();
    let mut printer = Printer::new(verbosity);
    let recorded = train_recorded(&config, &data, &meta, &opts, &mut |e| printer.event(e));
    printer.finish();
    let recorded = recorded?;
    for w in &recorded.registry_warnings {
        eprintln!("warning: registry: {w}");
    }
    let (summary, st) = (&recorded.summary, &recorded.results);
    if let Some(p) = &summary.interrupted {
        println!("✓ Interrupt checkpoint saved to {}", p.display());
        println!("  Resume with: exphil train --resume {}", run_dir.display());
        return Ok(ExitCode::from(130));
    }
    // The one line a --quiet run prints.
    println!(
        "Done in {:.1}s: run {name}, {} epochs{}, best validation loss {}, model {}",
        t0.elapsed().as_secs_f64(),
        st.epochs,
        if st.early_stopped {
            " (early stop)"
        } else {
            ""
        },
        st.best_val_loss.map_or("-".to_string(), |v| format!(
            "{v:.4} (epoch {})",
            st.best_epoch.unwrap_or(0)
        )),
        summary.model.display()
    );
    let board = exphil_runs::rundir::RunDir::new(&run_dir).board_path();
    let env_project = std::env::var("EXPHIL_WANDB_PROJECT").ok();
    if let Some(sync) = args.wandb_sync(&board, &name, env_project.as_deref()) {
        println!("W&B: exphil makes no network call; upload this run's TensorBoard events with");
        println!("  {sync}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--resume PATH`: the run's own config (only the resumable settings of the flags applied),
/// the checkpoint to continue from and the run's directory; every checkpoint passed over is
/// named with the reason.
fn resumed(
    path: &Path,
    args: &TrainArgs,
) -> Result<(TrainConfig, Option<CheckpointFiles>, Option<PathBuf>)> {
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
    let (config, run_dir) = resumed_config(&point.files, &args.overlay()?)?;
    for w in &point.files.warnings {
        eprintln!("warning: {w}");
    }
    Ok((config, Some(point.files), Some(run_dir)))
}

/// A new run's config: defaults, preset, config file, environment and flags, validated; a dry
/// run prints where each setting came from.
fn fresh(args: &TrainArgs, quiet: bool) -> Result<TrainConfig> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let resolved = resolve(&args.layers(env)?)?;
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
    Ok(resolved.config)
}

/// The data line: games and frames of each side of the split, and the first skipped replays.
fn print_data(data: &PreparedData, seconds: f64) {
    let p = &data.provenance;
    println!(
        "Data: {} games ({} training, {} validation), {} training and {} validation frames ({seconds:.1}s)",
        p.replay_count,
        p.training_games,
        p.validation_games,
        p.training_frames,
        p.validation_frames,
    );
    for (path, reason) in p.skipped.iter().take(10) {
        eprintln!("warning: skipped {path}: {reason}");
    }
}

/// Prints the training loop's events: the start line, a progress bar with the running loss
/// (lines instead when stderr is not a terminal or with -vv), each epoch's losses and
/// accuracies with a sparkline of the monitored loss, saves and faults.
struct Printer {
    verbosity: u8,
    bar: Option<ProgressBar>,
    losses: Vec<f64>,
    /// The largest device memory in use seen at a progress point.
    device_peak: u64,
}

impl Printer {
    fn new(verbosity: u8) -> Printer {
        Printer {
            verbosity,
            bar: None,
            losses: Vec::new(),
            device_peak: 0,
        }
    }

    fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }

    fn event(&mut self, e: Event) {
        let quiet = self.verbosity == 0;
        match e {
            Event::Start {
                epochs,
                batches,
                from,
                params,
                history,
                ..
            } => {
                self.losses = history;
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
                grad_norm,
                memory,
                ..
            } if !quiet => {
                let pb = self.bar.get_or_insert_with(|| {
                    let pb = progress(batches, false);
                    pb.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} batches {elapsed} (eta {eta}) {msg}",
                        )
                        .expect("static template is valid"),
                    );
                    pb
                });
                pb.set_position(batch);
                // Device memory on a GPU always; grad norm and resident memory with --verbose.
                let mut extra = String::new();
                if let (Some(used), Some(held)) = (memory.device_in_use, memory.device_reserved) {
                    self.device_peak = self.device_peak.max(used);
                    extra += &format!(
                        ", device memory {} (peak {}, reserved {}{})",
                        mib(used as f64),
                        mib(self.device_peak as f64),
                        mib(held as f64),
                        memory
                            .device_capacity
                            .map_or(String::new(), |c| format!(" of {}", mib(c as f64)))
                    );
                }
                if self.verbosity >= 2 {
                    if let Some(g) = grad_norm {
                        extra += &format!(", grad norm {g:.3}");
                    }
                    if let Some(r) = memory.resident {
                        extra += &format!(", resident {}", mib(r as f64));
                    }
                }
                let line = format!(
                    "loss {loss:.4} nats/frame, {scored_per_sec:.0} scored frames/s, lr {lr:.2e}{extra}"
                );
                pb.set_message(format!("epoch {} {line}", epoch + 1));
                if self.verbosity >= 2 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprintln!(
                        "  {} epoch {} batch {batch}/{batches} {line}",
                        clock(),
                        epoch + 1
                    );
                }
            }
            Event::Progress { .. } | Event::Validating => {}
            Event::Fault { step, message } => eprintln!("warning: step {step}: {message}"),
            Event::Warning(message) => {
                self.finish();
                eprintln!("warning: {message}");
            }
            Event::Notice(message) => {
                if !quiet {
                    eprintln!("note: {message}");
                }
            }
            Event::Saved { kind, path } => {
                if self.verbosity >= 2 || kind == "interrupt" {
                    println!("  saved {kind} checkpoint {}", path.display());
                }
            }
            Event::Epoch(m) => {
                self.finish();
                let monitored = m.val.as_ref().map_or(m.train.loss, |v| v.loss);
                self.losses.push(monitored);
                if !quiet {
                    print_epoch(&m, &self.losses);
                }
            }
        }
    }
}

/// An epoch's lines: training loss per component, validation loss and accuracy, and the
/// sparkline of `losses`.
fn print_epoch(m: &EpochMetrics, losses: &[f64]) {
    // The clock's width and a space: the lines under the epoch's line up with it.
    let pad = " ".repeat(clock().len() + 9);
    let comps = |v: &[f64]| {
        COMPONENTS
            .iter()
            .zip(v)
            .map(|(n, x)| format!("{n} {x:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{} {}: train loss {:.4} [{}] ({:.1}s, lr {:.2e})",
        clock(),
        paint(&format!("Epoch {}", m.epoch), Paint::Bold),
        m.train.loss,
        comps(&m.train.components),
        m.seconds,
        m.lr
    );
    if let Some(v) = &m.val {
        println!(
            "{pad}val loss {:.4}{} [{}]",
            v.loss,
            if m.improved {
                paint(" (best)", Paint::Good)
            } else {
                String::new()
            },
            comps(&v.components)
        );
        println!(
            "{pad}val accuracy [{}], button baseline {:.3}",
            comps(&v.accuracy),
            v.button_baseline.unwrap_or(0.0)
        );
    }
    if let Some(b) = m.peak_memory.device_in_use {
        println!("{pad}peak device memory {}", mib(b as f64));
    }
    if let Some(l) = &m.loss_scale {
        println!(
            "{pad}loss scale {} ({} overflowing steps skipped so far)",
            l.scale, l.overflows
        );
    }
    println!("{pad}{}", exphil_report::plot::sparkline(losses, 40));
}
