//! `exphil eval`: a trained policy, teacher-forced on replays it did not train on, against the
//! majority and repeat-the-previous-input baselines; `--compare` puts two side by side.

use crate::filters::FilterArgs;
use crate::replays::{files_of, progress};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use exphil_embed::{Embedder, TargetCoder};
use exphil_policy::file::{load_policy, LoadedPolicy};
use exphil_runs::checkpoint::rfc3339_utc;
use exphil_runs::models::{checkpoints_dir, policy_path, register_run};
use exphil_runs::rundir::RunDir;
use exphil_train::eval::{
    class_values, evaluate_batch, sequences_of_replay, step_latency, DataInfo, EvalReport,
    Evaluator, Metrics, Mode, PolicyInfo, Sequence, SequenceOptions, EVAL_VERSION,
};
use exphil_train::trainer::device_of;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// How a temporal policy sees the frames.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Step through each game carrying the state, as the policy plays [default].
    Step,
    /// A training-length window ending at each frame, as the policy trained.
    Windows,
}

/// `exphil eval` arguments.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The policy: a run directory, a run name in the registry, or a weights file.
    #[arg(long, value_name = "RUN", required_unless_present = "compare")]
    pub policy: Option<String>,
    /// Evaluate two policies on the same frames, side by side.
    #[arg(long, num_args = 2, value_names = ["RUN_A", "RUN_B"], conflicts_with = "policy")]
    pub compare: Vec<String>,
    /// Replay folders (searched recursively) or files [default: $EXPHIL_REPLAYS_DIR].
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub replays: Vec<PathBuf>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Use at most N replay files (in path order).
    #[arg(long, value_name = "N")]
    pub max_files: Option<usize>,
    /// Frames between state and target [default: the policy's training delay].
    #[arg(long, value_name = "D")]
    pub frame_delay: Option<u8>,
    /// How a temporal policy sees the frames (an MLP sees single frames).
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<ModeArg>,
    /// Score only the inputs of frames FRAME and later (0 = "GO"; e.g. 1 to score what a
    /// reference that drops the countdown scores). Temporal policies still step through the
    /// earlier frames [default: every frame, the countdown included].
    #[arg(long, value_name = "FRAME", allow_hyphen_values = true)]
    pub from_frame: Option<i32>,
    /// Keep games the policy trained on (by default they are left out).
    #[arg(long)]
    pub include_training: bool,
    /// Machine-readable JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Do not write eval_<hash>.json into the run directory.
    #[arg(long)]
    pub no_save: bool,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Replays decoded at once (memory grows with it).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch_games: usize,
}

/// One policy under evaluation.
struct Subject {
    loaded: LoadedPolicy,
    mode: Mode,
    opts: SequenceOptions,
    ev: Evaluator,
    values: [Vec<f32>; 5],
    /// Index of the decoding it shares (same embedding, targets and delay).
    decoding: usize,
}

/// Runs `exphil eval`.
pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let ckpt_dir = checkpoints_dir(&a.checkpoints);
    let names: Vec<String> = match &a.policy {
        Some(p) => vec![p.clone()],
        None => a.compare.clone(),
    };
    let device = device_of(&a.device)?;
    let requested = a.mode.map(|m| match m {
        ModeArg::Step => Mode::Step,
        ModeArg::Windows => Mode::Windows,
    });
    let mut subjects = Vec::new();
    let mut decodings: Vec<(String, Embedder, TargetCoder, SequenceOptions)> = Vec::new();
    for name in &names {
        let path = policy_path(&ckpt_dir, name)?;
        let loaded = load_policy(&path, &device).with_context(|| format!("loading {name}"))?;
        if let Err(why) = loaded.check_pairing() {
            eprintln!("warning: {name}: {why}; its scores are not comparable with this pairing's");
        }
        let opts = SequenceOptions::for_policy(&loaded, a.frame_delay)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let key = serde_json::to_string(&(
            &loaded.embed,
            &loaded.targets,
            opts.frame_delay,
            format!("{:?}", opts.perspective),
        ))?;
        let decoding = match decodings.iter().position(|d| d.0 == key) {
            Some(i) => i,
            None => {
                let embedder = Embedder::new(loaded.embed.clone())
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                let coder = TargetCoder::new(loaded.targets.clone())
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                decodings.push((key, embedder, coder, opts.clone()));
                decodings.len() - 1
            }
        };
        let coder = &decodings[decoding].2;
        let mode = Mode::for_policy(&loaded.policy, requested);
        subjects.push(Subject {
            ev: Evaluator::new(loaded.spec.classes, coder).from_frame(a.from_frame),
            values: class_values(coder),
            mode,
            opts,
            decoding,
            loaded,
        });
    }
    if subjects.len() == 2 && decodings.len() == 2 {
        eprintln!(
            "warning: the two policies embed the games or code the targets differently (or use \
             different delays); each is evaluated on its own view of the same games, so their \
             likelihoods are not strictly comparable"
        );
    }
    // Replays.
    let roots = if a.replays.is_empty() {
        match std::env::var_os(exphil_runs::presets::ENV_REPLAYS_DIR) {
            Some(d) => vec![PathBuf::from(d)],
            None => bail!("no replays: give --replays DIR (or set EXPHIL_REPLAYS_DIR)"),
        }
    } else {
        a.replays.clone()
    };
    let mut files = files_of(&roots)?;
    files.sort();
    if let Some(n) = a.max_files {
        files.truncate(n);
    }
    if files.is_empty() {
        bail!("no .slp replays under {}", display_paths(&roots));
    }
    // Games the policies trained on are left out.
    let mut training: BTreeSet<String> = BTreeSet::new();
    let mut validation: BTreeSet<String> = BTreeSet::new();
    let mut known = true;
    for s in &subjects {
        let recorded = match s
            .loaded
            .run_dir
            .as_deref()
            .map(|d| RunDir::new(d).read_games())
        {
            Some(Ok(r)) => r,
            // A damaged record must not let training games into the evaluation unnoticed.
            Some(Err(e)) if !a.include_training => bail!(
                "{e}\nwhich games the policy trained on cannot be told, so its evaluation \
                 could include them; pass --include-training to evaluate anyway"
            ),
            Some(Err(e)) => {
                eprintln!("warning: {e} (evaluating with --include-training)");
                None
            }
            None => None,
        };
        match recorded {
            Some(g) => {
                training.extend(g.training);
                validation.extend(g.validation);
            }
            None => known = false,
        }
    }
    if !known && !a.include_training {
        eprintln!(
            "warning: which games {} trained on is not recorded (no games.json in its run \
             directory); the evaluation may include them",
            if subjects.len() == 1 {
                "the policy"
            } else {
                "a policy"
            }
        );
    }
    let filter = a.filter.to_filter()?;
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    let mut evaluated: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let bar = progress(files.len(), a.json);
    for chunk in files.chunks(a.batch_games.max(1)) {
        for (d, (_, embedder, coder, opts)) in decodings.iter().enumerate() {
            let decoded: Vec<(PathBuf, Result<Vec<Sequence>, String>)> = chunk
                .par_iter()
                .map(|p| {
                    (
                        p.clone(),
                        sequences_of_replay(p, embedder, coder, opts, &filter),
                    )
                })
                .collect();
            let mut seqs = Vec::new();
            for (path, r) in decoded {
                // The same game twice counts once (unless --keep-duplicates).
                let dup = match &r {
                    Ok(v) if filter.dedupe => v.first().and_then(|s| {
                        let first = seen
                            .entry(s.content_hash.clone())
                            .or_insert_with(|| path.clone());
                        (*first != path).then(|| first.clone())
                    }),
                    _ => None,
                };
                if let Some(first) = dup {
                    if d == 0 {
                        skipped.push((
                            path.display().to_string(),
                            format!("duplicate of {}", first.display()),
                        ));
                    }
                    continue;
                }
                match r {
                    Ok(v) => {
                        for s in v {
                            if !a.include_training && training.contains(&s.content_hash) {
                                excluded.insert(s.content_hash.clone());
                            } else {
                                evaluated.insert(s.content_hash.clone());
                                seqs.push(s);
                            }
                        }
                    }
                    // Reported once, from the first decoding.
                    Err(e) if d == 0 => skipped.push((path.display().to_string(), e)),
                    Err(_) => {}
                }
            }
            for s in subjects.iter_mut().filter(|s| s.decoding == d) {
                // Lock-step groups of at most 32 sequences for stepping.
                for group in seqs.chunks(32) {
                    evaluate_batch(&s.loaded, group, s.mode, &device, &mut s.ev);
                }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if subjects.iter().any(|s| s.ev.frames() == 0) {
        let why = if !excluded.is_empty() && evaluated.is_empty() {
            format!(
                "all {} usable games were training games of the policy (add --include-training \
                 to evaluate on them anyway, or give other replays)",
                excluded.len()
            )
        } else {
            let reasons: Vec<String> = skipped
                .iter()
                .take(3)
                .map(|(p, e)| format!("{p}: {e}"))
                .collect();
            format!(
                "no frame could be evaluated ({} files skipped{})",
                skipped.len(),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join("; "))
                }
            )
        };
        bail!("{why}");
    }
    let created = rfc3339_utc(SystemTime::now());
    let mut reports = Vec::new();
    for s in &subjects {
        let latency = step_latency(&s.loaded, 200, &device);
        let metrics = s.ev.finish(&s.values, Some(latency));
        let mut hashes: Vec<&String> = evaluated.iter().collect();
        hashes.sort();
        // The frames evaluated: the games and what decides the examples. Stepping a temporal
        // policy and feeding an MLP single frames see the same frames (so their evaluations
        // share a hash and rank together); windows leave out each game's first frames.
        let settings = format!(
            "delay={};perspective={:?};include_training={}{}{}",
            s.opts.frame_delay,
            s.opts.perspective,
            a.include_training,
            if s.mode == Mode::Windows {
                format!(";windows={}", s.loaded.policy.backbone.window())
            } else {
                String::new()
            },
            a.from_frame
                .map_or_else(String::new, |f| format!(";from_frame={f}"))
        );
        let mut key = hashes
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        key.push('\n');
        key.push_str(&settings);
        let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()));
        let report = EvalReport {
            version: EVAL_VERSION,
            created_at: created.clone(),
            mode: s.mode,
            summary: metrics.summary(&created, s.mode),
            policy: PolicyInfo {
                name: s.loaded.name(),
                model: s.loaded.model_path.display().to_string(),
                backbone: s.loaded.config.backbone.name().into(),
                description: s.loaded.config.backbone.describe(),
                params: s.loaded.params,
            },
            data: DataInfo {
                hash,
                replays: roots.iter().map(|p| p.display().to_string()).collect(),
                files: files.len(),
                skipped: skipped.clone(),
                excluded_training: excluded.len(),
                validation_games: evaluated.intersection(&validation).count(),
                training_games_known: known,
                frame_delay: s.opts.frame_delay,
                from_frame: a.from_frame,
            },
            metrics,
        };
        if !a.no_save {
            if let Some(dir) = &s.loaded.run_dir {
                save(dir, &report)?;
            }
        }
        reports.push(report);
    }
    if a.json {
        let v = if reports.len() == 1 {
            serde_json::to_value(&reports[0])?
        } else {
            serde_json::json!({ "a": reports[0], "b": reports[1] })
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if reports.len() == 1 {
        print_report(&reports[0]);
    } else {
        print_comparison(&reports[0], &reports[1]);
    }
    Ok(ExitCode::SUCCESS)
}

fn display_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `eval_<hash>.json` and refreshes the run's registry record (when the run is in a
/// registry).
fn save(run_dir: &Path, report: &EvalReport) -> Result<()> {
    let path = RunDir::new(run_dir).eval_path(&report.data.hash);
    let bytes = exphil_runs::rundir::sealed_json(&serde_json::to_value(report)?);
    exphil_io::write_atomic(&path, &bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    if let Some(ckpt) = run_dir.parent() {
        if ckpt.join(exphil_runs::registry::REGISTRY_FILE).exists() {
            for w in register_run(ckpt, run_dir)? {
                eprintln!("warning: registry: {w}");
            }
        }
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), pct)
}

/// The report as tables.
fn print_report(r: &EvalReport) {
    let m = &r.metrics;
    println!(
        "Evaluated {}: {} ({} parameters)",
        r.policy.name, r.policy.description, r.policy.params
    );
    println!(
        "  on {} games ({} player views, {} frames{}) from {}; mode {}, frame delay {}",
        m.games,
        m.sequences,
        m.frames,
        r.data
            .from_frame
            .map_or_else(String::new, |f| format!(" from frame {f} on")),
        r.data.replays.join(", "),
        mode_name(r.mode),
        r.data.frame_delay
    );
    if r.data.excluded_training > 0 {
        println!(
            "  left out {} games the policy trained on (--include-training keeps them)",
            r.data.excluded_training
        );
    }
    if r.data.validation_games > 0 {
        println!(
            "  {} of the games were its validation games during training",
            r.data.validation_games
        );
    }
    if !r.data.skipped.is_empty() {
        println!("  skipped {} files:", r.data.skipped.len());
        for (p, e) in r.data.skipped.iter().take(5) {
            println!("    {p}: {e}");
        }
    }
    println!();
    println!(
        "Negative log-likelihood (nats/frame, lower is better): model {:.3}   majority {:.3}   repeat {:.3}",
        m.nll, m.majority_nll, m.repeat_nll
    );
    println!();
    println!(
        "{:<9} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7} {:>7}  {:>6} {:>6}  {:>5} {:>13} {:>6}",
        "",
        "NLL",
        "major.",
        "repeat",
        "acc",
        "major.",
        "repeat",
        "changed",
        "top-3",
        "major.",
        "conf",
        "entropy/unif",
        "ECE"
    );
    for c in &m.components {
        println!(
            "{:<9} {:>7.3} {:>7.3} {:>7.3}  {:>7} {:>7} {:>7} {:>7}  {:>6} {:>6}  {:>5.2} {:>6.2}/{:<6.2} {:>6.3}",
            c.name,
            c.nll,
            c.baselines.majority.nll,
            c.baselines.repeat.nll,
            pct(c.accuracy),
            pct(c.baselines.majority.accuracy),
            pct(c.baselines.repeat.accuracy),
            pct(c.changed_accuracy),
            opt_pct(c.top3),
            opt_pct(c.baselines.majority.top3),
            c.confidence,
            c.entropy,
            c.uniform_entropy,
            c.ece
        );
    }
    if let Some(c) = m.components.first() {
        println!(
            "changed: accuracy on the frames whose input differs from the previous frame's \
             (repeating the last input is always wrong there; {} of {} frames for the buttons)",
            c.changed_frames, m.frames
        );
    }
    println!();
    println!(
        "{:<6} {:>7} {:>7} {:>7} {:>7}  {:>9} {:>9} {:>9}  {:>7} {:>7}",
        "button",
        "acc",
        "prec",
        "recall",
        "F1",
        "pred.rate",
        "mean p",
        "true rate",
        "major.",
        "repeat"
    );
    for b in &m.buttons {
        println!(
            "{:<6} {:>7} {:>7} {:>7} {:>7.3}  {:>9} {:>9} {:>9}  {:>7} {:>7}",
            b.name,
            pct(b.accuracy),
            pct(b.precision),
            pct(b.recall),
            b.f1,
            pct(b.predicted_rate),
            pct(b.mean_probability),
            pct(b.true_rate),
            pct(b.majority_accuracy),
            pct(b.repeat_accuracy)
        );
    }
    for c in m.components.iter().filter(|c| !c.confusions.is_empty()) {
        let list: Vec<String> = c
            .confusions
            .iter()
            .take(5)
            .map(|x| {
                format!(
                    "{:.2}→{:.2} {}",
                    x.predicted_value,
                    x.actual_value,
                    pct(x.share_of_errors)
                )
            })
            .collect();
        println!(
            "{} confusions (predicted→actual, share of errors): {}",
            c.name,
            list.join(", ")
        );
    }
    println!();
    println!("Calibration (confidence→accuracy per bin):");
    for c in &m.components {
        let bins: Vec<String> = c
            .reliability
            .iter()
            .map(|b| format!("{:.2}→{:.2}", b.confidence, b.accuracy))
            .collect();
        println!("  {:<9} ECE {:.3}: {}", c.name, c.ece, bins.join(" "));
    }
    println!();
    println!("Delay sweep (prediction at t against the label at t+d, mean over components):");
    for p in &m.delay_sweep {
        let bar = "█".repeat((p.mean * 40.0).round() as usize);
        println!(
            "  +{} {:>6} {bar}{}",
            p.offset,
            pct(p.mean),
            if p.offset == m.effective_delay {
                "  ◀ peak"
            } else {
                ""
            }
        );
    }
    println!("  effective delay: {} frames", m.effective_delay);
    println!();
    let i = &m.inference;
    print!("Inference: {:.4} ms/frame batched", i.ms_per_frame);
    if let Some(s) = &i.step {
        print!(
            "; one decision (batch 1) median {:.0} µs, p99 {:.0} µs",
            s.median_us, s.p99_us
        );
    }
    println!();
    for (title, groups) in [("character", &m.by_character), ("stage", &m.by_stage)] {
        println!();
        println!(
            "{:<22} {:>8} {:>7}  {:>7} {:>7} {:>7}  {:>7} {:>7}",
            format!("by {title}"),
            "frames",
            "NLL",
            "buttons",
            "main_x",
            "main_y",
            "rep.btn",
            "rep.mx"
        );
        for (k, g) in groups {
            let a = |c: &str| pct(g.accuracy.get(c).copied().unwrap_or(0.0));
            let rep = |c: &str| pct(g.repeat_accuracy.get(c).copied().unwrap_or(0.0));
            println!(
                "{:<22} {:>8} {:>7.3}  {:>7} {:>7} {:>7}  {:>7} {:>7}",
                k,
                g.frames,
                g.nll,
                a("buttons"),
                a("main_x"),
                a("main_y"),
                rep("buttons"),
                rep("main_x")
            );
        }
    }
}

/// A mode as printed (`step`, `windows`).
fn mode_name(m: Mode) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Rows of the comparison: (label, value in a, value in b, lower is better).
fn comparison_rows(m: &Metrics) -> BTreeMap<String, f64> {
    let mut rows = BTreeMap::new();
    rows.insert("0 nll".into(), m.nll);
    for (i, c) in m.components.iter().enumerate() {
        rows.insert(format!("1 nll.{i}{}", c.name), c.nll);
        rows.insert(format!("2 accuracy.{i}{}", c.name), c.accuracy);
        rows.insert(
            format!("3 changed_accuracy.{i}{}", c.name),
            c.changed_accuracy,
        );
        if let Some(t) = c.top3 {
            rows.insert(format!("3 top3.{i}{}", c.name), t);
        }
        rows.insert(format!("4 ece.{i}{}", c.name), c.ece);
    }
    rows.insert("5 effective_delay".into(), m.effective_delay as f64);
    rows.insert("6 ms_per_frame".into(), m.inference.ms_per_frame);
    if let Some(s) = &m.inference.step {
        rows.insert("7 step_median_us".into(), s.median_us);
    }
    rows
}

fn print_comparison(a: &EvalReport, b: &EvalReport) {
    println!(
        "A: {} — {} ({} parameters), mode {}",
        a.policy.name,
        a.policy.description,
        a.policy.params,
        mode_name(a.mode)
    );
    println!(
        "B: {} — {} ({} parameters), mode {}",
        b.policy.name,
        b.policy.description,
        b.policy.params,
        mode_name(b.mode)
    );
    println!(
        "on {} games ({} frames); repeat baseline NLL {:.3}, majority {:.3}",
        a.metrics.games, a.metrics.frames, a.metrics.repeat_nll, a.metrics.majority_nll
    );
    println!();
    println!(
        "{:<24} {:>10} {:>10} {:>10}  better",
        "metric", "A", "B", "B − A"
    );
    let (ra, rb) = (comparison_rows(&a.metrics), comparison_rows(&b.metrics));
    for (key, va) in &ra {
        let Some(vb) = rb.get(key) else { continue };
        let label = key.split_once(' ').map_or(key.as_str(), |(_, l)| l);
        // Strip the ordering digit of component rows ("nll.1main_x" -> "nll main_x").
        let label: String = {
            let (kind, rest) = label.split_once('.').unwrap_or((label, ""));
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            if rest.is_empty() {
                kind.to_string()
            } else {
                format!("{kind} {rest}")
            }
        };
        let higher_better = label.starts_with("accuracy")
            || label.starts_with("changed_accuracy")
            || label.starts_with("top3");
        let informative = !label.starts_with("effective_delay");
        let d = vb - va;
        let fmt = |x: f64| {
            if higher_better {
                pct(x)
            } else {
                format!("{x:.4}")
            }
        };
        // A difference that does not show at the printed precision names no winner.
        let mark = if !informative || fmt(*va) == fmt(*vb) {
            "tie"
        } else if (d > 0.0) == higher_better {
            "B ▶"
        } else {
            "◀ A"
        };
        let mark = if informative { mark } else { "" };
        let fd = if higher_better {
            format!("{:+.1} pt", 100.0 * d)
        } else {
            format!("{d:+.4}")
        };
        println!(
            "{label:<24} {:>10} {:>10} {fd:>10}  {mark}",
            fmt(*va),
            fmt(*vb)
        );
    }
}
