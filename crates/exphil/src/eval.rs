//! `exphil eval`: a trained policy, teacher-forced on replays it did not train on, against the
//! majority and repeat-the-previous-input baselines; `--compare` puts two side by side.

use crate::cli::{files_of, progress};
use crate::filters::FilterArgs;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use exphil_policy::device::device_of;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_train::eval::{EvalReport, Metrics, Mode};
use exphil_train::evaluate::{evaluate, EvalEvent, EvalRequest};
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Replays decoded at once (memory grows with it).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch_games: usize,
}

/// Runs `exphil eval`.
pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let ckpt_dir = checkpoints_dir(&a.checkpoints);
    let names: Vec<String> = match &a.policy {
        Some(p) => vec![p.clone()],
        None => a.compare.clone(),
    };
    let mut policies = Vec::new();
    for name in names {
        let path = policy_path(&ckpt_dir, &name)?;
        policies.push((name, path));
    }
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
    let request = EvalRequest {
        policies,
        roots,
        files,
        filter: a.filter.to_filter()?,
        frame_delay: a.frame_delay,
        mode: a.mode.map(|m| match m {
            ModeArg::Step => Mode::Step,
            ModeArg::Windows => Mode::Windows,
        }),
        from_frame: a.from_frame,
        include_training: a.include_training,
        save: !a.no_save,
        batch_games: a.batch_games,
        device: device_of(&a.device)?,
    };
    let mut bar = ProgressBar::hidden();
    let reports = evaluate(&request, &mut |e| match e {
        EvalEvent::Warning(w) => eprintln!("warning: {w}"),
        EvalEvent::Files(n) => bar = progress(n, a.json),
        EvalEvent::Read(n) => bar.inc(n as u64),
    });
    bar.finish_and_clear();
    let reports = reports?;
    if a.json {
        let text = match reports.as_slice() {
            [a, b] => serde_json::to_string_pretty(&Comparison { a, b })?,
            _ => serde_json::to_string_pretty(&reports[0])?,
        };
        println!("{text}");
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
    print_components(m);
    print_buttons(m);
    print_diagnostics(m);
    print_groups(m);
}

/// The likelihood and accuracy of each component against the baselines.
fn print_components(m: &Metrics) {
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
}

/// Each button's accuracy and calibration, and each component's commonest confusions.
fn print_buttons(m: &Metrics) {
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
}

/// Calibration bins, the delay sweep and the inference speed.
fn print_diagnostics(m: &Metrics) {
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
}

/// Accuracy by character and by stage.
fn print_groups(m: &Metrics) {
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

/// `eval --compare --json`: the two reports side by side.
#[derive(serde::Serialize)]
struct Comparison<'a> {
    a: &'a EvalReport,
    b: &'a EvalReport,
}
