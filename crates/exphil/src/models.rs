//! `exphil models`: list, inspect, compare, tag, trace and prune trained runs, and rebuild the
//! registry from the run directories.

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use exphil_runs::config::TrainConfig;
use exphil_runs::models::checkpoints_dir;
use exphil_runs::models::{
    apply_prune, common_eval_set, leaderboard, lineage, parse_age, plan_prune, read_or_scan,
    record_from_run_dir, reindex, resolve_run, update_run, Metric, PruneAction, PruneOptions,
    METRICS,
};
use exphil_runs::presets::{config_differences, diff_from_defaults};
use exphil_runs::registry::RunRecord;
use exphil_runs::rundir::{RunDir, RunFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// `exphil models ...`.
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List trained runs: name, date, backbone, size, key metrics.
    List(ListArgs),
    /// Everything about one run: architecture, parameters per block, embedding, config, data,
    /// metrics, evaluations.
    Info(InfoArgs),
    /// Two runs side by side: config differences and metrics.
    Compare(CompareArgs),
    /// Add tags to a run.
    Tag(TagArgs),
    /// Remove tags from a run.
    Untag(TagArgs),
    /// The tree of fine-tunes a run belongs to (and its resumes).
    Lineage(RunArg),
    /// The best runs: overall, by backbone, by character.
    Leaderboard(LeaderboardArgs),
    /// Delete or archive runs, keeping the best, the recent and the tagged ones.
    Prune(PruneArgs),
    /// Rebuild the registry by scanning the run directories (when it is lost or damaged).
    Reindex(DirArg),
}

/// The checkpoints directory.
#[derive(Args, Debug)]
pub struct DirArg {
    /// The checkpoints directory [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
}

/// One run.
#[derive(Args, Debug)]
pub struct RunArg {
    /// A run name, or a run directory.
    pub run: String,
    #[command(flatten)]
    pub dir: DirArg,
}

/// How `list` sorts.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SortKey {
    /// Creation time, newest first.
    Date,
    /// Name.
    Name,
    /// Best validation loss, lowest first.
    Loss,
    /// Evaluation NLL (most common replay set), lowest first.
    Nll,
    /// Parameters, largest first.
    Params,
}

/// `exphil models list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only runs of this backbone.
    #[arg(long, value_name = "NAME")]
    pub backbone: Option<String>,
    /// Only runs that trained on this character.
    #[arg(long, value_name = "NAME")]
    pub character: Option<String>,
    /// Only runs with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Sort order.
    #[arg(long, value_enum, default_value = "date")]
    pub sort: SortKey,
    /// Reverse the order.
    #[arg(long)]
    pub reverse: bool,
    /// Include archived and pruned runs.
    #[arg(long)]
    pub all: bool,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `exphil models info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A run name, or a run directory.
    pub run: String,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `exphil models compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The first run.
    pub a: String,
    /// The second run.
    pub b: String,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `exphil models tag` / `untag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// A run name, or a run directory.
    pub run: String,
    /// Tags.
    #[arg(required = true)]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `exphil models leaderboard`.
#[derive(Args, Debug)]
pub struct LeaderboardArgs {
    /// Rank by: val_loss (default), nll, or accuracy.<component> (evaluation metrics).
    #[arg(long, default_value = "val_loss", value_name = "METRIC")]
    pub metric: String,
    /// The evaluation replay set (hash) for evaluation metrics [default: the one most runs
    /// were evaluated on].
    #[arg(long, value_name = "HASH")]
    pub eval_set: Option<String>,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `exphil models prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Keep the N best runs (by --metric).
    #[arg(long, value_name = "N")]
    pub keep_best: Option<usize>,
    /// Keep the N most recent runs.
    #[arg(long, value_name = "N")]
    pub keep_recent: Option<usize>,
    /// Keep every tagged run.
    #[arg(long)]
    pub keep_tagged: bool,
    /// Move runs older than this (7d, 12h, 2w) that no rule keeps to archive/ instead of
    /// deleting anything.
    #[arg(long, value_name = "AGE")]
    pub archive_older_than: Option<String>,
    /// The metric of --keep-best: val_loss, nll, accuracy.<component>.
    #[arg(long, default_value = "val_loss", value_name = "METRIC")]
    pub metric: String,
    /// The evaluation replay set of an evaluation metric.
    #[arg(long, value_name = "HASH")]
    pub eval_set: Option<String>,
    /// Show what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

/// Runs `exphil models`.
pub fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    match cmd {
        ModelsCommand::List(a) => list(a),
        ModelsCommand::Info(a) => info(a),
        ModelsCommand::Compare(a) => compare(a),
        ModelsCommand::Tag(a) => tag(a, true),
        ModelsCommand::Untag(a) => tag(a, false),
        ModelsCommand::Lineage(a) => show_lineage(a),
        ModelsCommand::Leaderboard(a) => show_leaderboard(a),
        ModelsCommand::Prune(a) => prune(a),
        ModelsCommand::Reindex(a) => run_reindex(a),
    }
}

/// The runs of a checkpoints directory, with live statuses for runs recorded as running.
fn runs_of(dir: &Path) -> Vec<RunRecord> {
    let (reg, warnings) = read_or_scan(dir);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    reg.runs
        .into_iter()
        .map(|r| {
            if r.status == "running" && r.removed.is_none() {
                // A run killed outright never recorded its end; its directory knows.
                if let Ok(fresh) = record_from_run_dir(Path::new(&r.path)) {
                    return RunRecord {
                        status: fresh.status,
                        ..r
                    };
                }
            }
            r
        })
        .collect()
}

fn f4(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

fn human_count(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 1000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn button_accuracy(r: &RunRecord) -> Option<f64> {
    r.metrics["final_val_accuracy"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(serde_json::Value::as_f64)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let mut runs: Vec<RunRecord> = runs_of(&dir)
        .into_iter()
        .filter(|r| a.all || r.removed.is_none())
        .filter(|r| a.backbone.as_ref().is_none_or(|b| &r.backbone == b))
        .filter(|r| a.tag.as_ref().is_none_or(|t| r.tags.contains(t)))
        .filter(|r| {
            a.character.as_ref().is_none_or(|c| {
                let want = exphil_replay::ExternalCharacter::parse(c)
                    .and_then(|x| x.name().map(str::to_lowercase))
                    .unwrap_or_else(|| c.to_lowercase());
                r.characters.iter().any(|x| x.to_lowercase() == want)
            })
        })
        .collect();
    let refs: Vec<&RunRecord> = runs.iter().collect();
    let set = common_eval_set(&refs);
    let nll = |r: &RunRecord| Metric::Nll.of(r, set.as_deref());
    let loss = |r: &RunRecord| Metric::ValLoss.of(r, None);
    let last = f64::INFINITY;
    match a.sort {
        SortKey::Date => runs.sort_by(|x, y| y.created_at.cmp(&x.created_at)),
        SortKey::Name => runs.sort_by(|x, y| x.id.cmp(&y.id)),
        SortKey::Loss => {
            runs.sort_by(|x, y| loss(x).unwrap_or(last).total_cmp(&loss(y).unwrap_or(last)))
        }
        SortKey::Nll => {
            runs.sort_by(|x, y| nll(x).unwrap_or(last).total_cmp(&nll(y).unwrap_or(last)))
        }
        SortKey::Params => runs.sort_by_key(|x| std::cmp::Reverse(x.params)),
    }
    if a.reverse {
        runs.reverse();
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("No runs in {}.", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32} {:<20} {:<9} {:>7} {:>9} {:>9} {:>7} {:>8}  {:<11} tags",
        "name",
        "created",
        "backbone",
        "params",
        "size",
        "val loss",
        "btn acc",
        "eval nll",
        "status"
    );
    for r in &runs {
        let size = dir_size(Path::new(&r.path));
        let status = match &r.removed {
            Some(x) => x.action.clone(),
            None => r.status.clone(),
        };
        println!(
            "{:<32} {:<20} {:<9} {:>7} {:>9} {:>9} {:>7} {:>8}  {:<11} {}",
            r.id,
            r.created_at,
            r.backbone,
            r.params.map_or("-".into(), human_count),
            if size > 0 {
                exphil_train::run::mib(size as f64)
            } else {
                "-".into()
            },
            f4(loss(r)),
            button_accuracy(r).map_or("-".into(), |x| format!("{:.1}%", 100.0 * x)),
            nll(r).map_or("-".into(), |x| format!("{x:.3}")),
            status,
            r.tags.join(",")
        );
    }
    if let Some(s) = set {
        println!("(eval nll: replay set {s}; see `exphil models info RUN` for others)");
    }
    Ok(ExitCode::SUCCESS)
}

fn load_run(dir: &Path, run: &str) -> Result<(RunDir, RunRecord, RunFile)> {
    let run_dir = RunDir::new(resolve_run(dir, run)?);
    let rec = record_from_run_dir(run_dir.path())?;
    let file = run_dir.read()?;
    Ok((run_dir, rec, file))
}

/// Parameters per block, from the weights file's tensor names (the first two path segments).
fn params_by_block(run_dir: &RunDir) -> Option<Vec<(String, usize)>> {
    let path = run_dir.model_path();
    let (tensors, _) = exphil_runs::tensors::read_tensors(&path).ok()?;
    let mut blocks: Vec<(String, usize)> = Vec::new();
    for t in tensors {
        // Up to four segments, leaving out the tensor's own name (`weight`, `bias`, ...).
        let parts: Vec<&str> = t.name.split('.').collect();
        let depth = (parts.len().saturating_sub(1)).clamp(1, 4);
        let block = parts[..depth].join(".");
        let n: usize = t.shape.iter().product();
        match blocks.iter_mut().find(|(b, _)| *b == block) {
            Some(e) => e.1 += n,
            None => blocks.push((block, n)),
        }
    }
    Some(blocks)
}

fn info(a: InfoArgs) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let (run_dir, rec, v) = load_run(&dir, &a.run)?;
    let config = v.train_config(&run_dir.config_path())?;
    let blocks = params_by_block(&run_dir);
    if a.json {
        let out = InfoJson {
            record: &rec,
            description: config.policy.backbone.describe(),
            pairing_version: v.extra("pairing_version").as_u64().unwrap_or(1),
            params_by_block: &blocks,
            config: &v.config,
            layout: v.extra("layout"),
            provenance: &v.provenance,
            results: &v.results,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}  ({})", rec.id, run_dir.path().display());
    println!("  status:        {}", rec.status);
    if let Some(r) = &rec.removed {
        println!("  {}:      {} ({})", r.action, r.at, r.reason);
    }
    println!("  created:       {}", rec.created_at);
    println!("  training:      {}", rec.training_type);
    if let Some(p) = &rec.parent {
        println!("  parent:        {p}");
    }
    if !rec.resumes.is_empty() {
        println!("  resumed:       {}", rec.resumes.join(", "));
    }
    if !rec.tags.is_empty() {
        println!("  tags:          {}", rec.tags.join(", "));
    }
    println!();
    println!("Architecture: {}", config.policy.backbone.describe());
    println!("  head:          {:?}", config.policy.head);
    println!(
        "  parameters:    {}",
        rec.params.map_or("-".into(), |p| p.to_string())
    );
    if let Some(blocks) = &blocks {
        for (b, n) in blocks {
            println!("    {b:<36} {n:>10}");
        }
    }
    let pairing = v.extra("pairing_version").as_u64().unwrap_or(1);
    println!(
        "  pairing:       v{pairing}{}",
        if pairing < u64::from(exphil_dataset::PAIRING_VERSION) {
            " (old: its features hold the target frame; serve and play refuse it, retrain it)"
        } else {
            " (the state and every controller through frame t predict the input of t + 1 + delay)"
        }
    );
    println!();
    let layout = v.extra("layout");
    println!(
        "Embedding: {} features, {} ids per frame (preset {})",
        layout["features"], layout["ids"], config.data.embed_preset
    );
    let mut groups: Vec<(String, u64, u64)> = Vec::new();
    for c in layout["components"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        let group = name.split('.').next().unwrap_or(name).to_string();
        let size = c["size"].as_u64().unwrap_or(0);
        let is_id = c["kind"]["kind"] == "id";
        let slot = match groups.iter_mut().find(|g| g.0 == group) {
            Some(s) => s,
            None => {
                groups.push((group, 0, 0));
                groups.last_mut().expect("just pushed")
            }
        };
        if is_id {
            slot.2 += size;
        } else {
            slot.1 += size;
        }
    }
    for (g, f, i) in &groups {
        println!("    {g:<24} {f:>5} features {i:>3} ids");
    }
    println!();
    println!("Training config (differences from the defaults):");
    for (k, val) in diff_from_defaults(&config) {
        println!("    {k:<32} {val}");
    }
    print_data_and_metrics(&config, &rec, &v.provenance);
    Ok(ExitCode::SUCCESS)
}

/// `models info`'s data and metrics sections.
fn print_data_and_metrics(config: &TrainConfig, rec: &RunRecord, p: &serde_json::Value) {
    println!();
    println!("Data:");
    println!(
        "    source:              {}",
        config.data.replays.join(", ")
    );
    println!(
        "    dataset:             {}",
        p["dataset_dir"].as_str().unwrap_or("-")
    );
    println!(
        "    games:               {} ({} training, {} validation)",
        p["replay_count"], p["training_games"], p["validation_games"]
    );
    println!(
        "    frames:              {} training, {} validation",
        p["training_frames"], p["validation_frames"]
    );
    println!(
        "    replay set:          {}",
        p["replay_manifest_hash"].as_str().unwrap_or("-")
    );
    if !rec.characters.is_empty() {
        println!("    characters:          {}", rec.characters.join(", "));
    }
    if let Some(s) = p["skipped"].as_array().filter(|s| !s.is_empty()) {
        println!("    files skipped:       {}", s.len());
    }
    println!();
    println!("Metrics:");
    let m = &rec.metrics;
    println!("    epochs:              {}", m["epochs"]);
    println!(
        "    best val loss:       {} (epoch {})",
        f4(m["best_val_loss"].as_f64()),
        m["best_epoch"]
    );
    if let Some(acc) = m["final_val_accuracy"].as_array() {
        let names = exphil_policy::COMPONENTS;
        let s: Vec<String> = names
            .iter()
            .zip(acc)
            .map(|(n, x)| format!("{n} {:.1}%", 100.0 * x.as_f64().unwrap_or(0.0)))
            .collect();
        println!("    val accuracy:        {}", s.join(", "));
    }
    if let Some(b) = m["button_baseline"].as_f64() {
        println!("    button baseline:     {:.1}%", 100.0 * b);
    }
    for (h, e) in &rec.evals {
        println!(
            "    eval {h}: NLL {} (repeat {}, majority {}) on {} games, {} frames, {} ({})",
            f4(e["nll"].as_f64()),
            f4(e["repeat_nll"].as_f64()),
            f4(e["majority_nll"].as_f64()),
            e["games"],
            e["frames"],
            e["mode"].as_str().unwrap_or("-"),
            e["created_at"].as_str().unwrap_or("-")
        );
    }
}

fn compare(a: CompareArgs) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let (_, ra, va) = load_run(&dir, &a.a)?;
    let (_, rb, vb) = load_run(&dir, &a.b)?;
    let diffs = config_differences(&va.config, &vb.config);
    let metric_rows: Vec<(String, Option<f64>, Option<f64>, bool)> = {
        let mut rows = vec![
            (
                "best val loss".to_string(),
                Metric::ValLoss.of(&ra, None),
                Metric::ValLoss.of(&rb, None),
                true,
            ),
            (
                "params".to_string(),
                ra.params.map(|p| p as f64),
                rb.params.map(|p| p as f64),
                true,
            ),
        ];
        let acc = |r: &RunRecord, i: usize| {
            r.metrics["final_val_accuracy"]
                .as_array()
                .and_then(|x| x.get(i))
                .and_then(serde_json::Value::as_f64)
        };
        for (i, c) in exphil_policy::COMPONENTS.iter().enumerate() {
            rows.push((format!("val accuracy {c}"), acc(&ra, i), acc(&rb, i), false));
        }
        for (h, ea) in &ra.evals {
            if let Some(eb) = rb.evals.get(h) {
                rows.push((
                    format!("eval {h} nll"),
                    ea["nll"].as_f64(),
                    eb["nll"].as_f64(),
                    true,
                ));
                for c in exphil_policy::COMPONENTS {
                    rows.push((
                        format!("eval {h} acc {c}"),
                        ea["accuracy"][c].as_f64(),
                        eb["accuracy"][c].as_f64(),
                        false,
                    ));
                }
            }
        }
        rows
    };
    if a.json {
        let out = DiffJson {
            a: &ra.id,
            b: &rb.id,
            config_differences: diffs
                .iter()
                .map(|(key, a, b)| KeyDiff { key, a, b })
                .collect(),
            metrics: metric_rows
                .iter()
                .map(|(metric, a, b, _)| MetricDiff {
                    metric,
                    a: *a,
                    b: *b,
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("A: {} — {}", ra.id, describe(&va));
    println!("B: {} — {}", rb.id, describe(&vb));
    println!();
    if diffs.is_empty() {
        println!("Config: identical.");
    } else {
        println!("Config differences:");
        println!("    {:<32} {:<24} {:<24}", "setting", "A", "B");
        for (k, x, y) in &diffs {
            println!("    {k:<32} {x:<24} {y:<24}");
        }
    }
    println!();
    println!("    {:<36} {:>10} {:>10}  better", "metric", "A", "B");
    for (k, x, y, lower) in &metric_rows {
        let mark = match (x, y) {
            (Some(x), Some(y)) if (x - y).abs() > 1e-12 => {
                if (y < x) == *lower {
                    "B ▶"
                } else {
                    "◀ A"
                }
            }
            _ => "",
        };
        let mark = if k == "params" { "" } else { mark };
        println!("    {k:<36} {:>10} {:>10}  {mark}", f4(*x), f4(*y));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(v: &RunFile) -> String {
    serde_json::from_value::<TrainConfig>(v.config.clone())
        .map(|c| c.policy.backbone.describe())
        .unwrap_or_else(|_| "?".into())
}

fn tag(a: TagArgs, add: bool) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let run_dir = resolve_run(&dir, &a.run)?;
    for t in &a.tags {
        if t.trim().is_empty() || t.contains(',') {
            bail!("tag {t:?}: tags are non-empty and contain no commas");
        }
    }
    // The registry of the run's own checkpoints directory; the tags are read, changed and
    // written under its lock, so concurrent taggers never lose each other's tags.
    let ckpt = run_dir.parent().map(Path::to_path_buf).unwrap_or(dir);
    let (tags, warnings) = update_run(&ckpt, &run_dir, |tags| {
        for t in &a.tags {
            if add {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            } else {
                tags.retain(|x| x != t);
            }
        }
        Ok(())
    })?;
    for w in warnings {
        eprintln!("warning: registry: {w}");
    }
    let id = run_dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    println!(
        "{id}: tags {}",
        if tags.is_empty() {
            "(none)".into()
        } else {
            tags.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn show_lineage(a: RunArg) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let mut runs = runs_of(&dir);
    // A run given by path may not be in this registry.
    let id = match runs.iter().find(|r| r.id == a.run) {
        Some(r) => r.id.clone(),
        None => {
            let rec = record_from_run_dir(&resolve_run(&dir, &a.run)?)?;
            let id = rec.id.clone();
            if !runs.iter().any(|r| r.id == id) {
                runs.push(rec);
            }
            id
        }
    };
    let by_id: BTreeMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    for (depth, node, known) in lineage(&runs, &id) {
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└── ", "    ".repeat(depth - 1))
        };
        let detail = match by_id.get(node.as_str()) {
            Some(r) if known => {
                let mut parts = vec![r.training_type.clone(), r.backbone.clone()];
                if let Some(e) = r.metrics["epochs"].as_u64() {
                    parts.push(format!("{e} epochs"));
                }
                if let Some(l) = Metric::ValLoss.of(r, None) {
                    parts.push(format!("val loss {l:.4}"));
                }
                if !r.tags.is_empty() {
                    parts.push(format!("tags {}", r.tags.join(",")));
                }
                if let Some(x) = &r.removed {
                    parts.push(x.action.clone());
                }
                parts.join(", ")
            }
            _ => "not in the registry".into(),
        };
        let mark = if node == id { "  ◀" } else { "" };
        println!("{indent}{node} ({detail}){mark}");
        // Resumes continue the same run: listed under it.
        if let Some(r) = by_id.get(node.as_str()) {
            let pad = "    ".repeat(depth);
            for at in &r.resumes {
                println!("{pad}    ↻ resumed {at}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval_set_for(
    runs: &[RunRecord],
    metric: &Metric,
    given: &Option<String>,
) -> Result<Option<String>> {
    if !metric.is_eval() {
        return Ok(None);
    }
    if given.is_some() {
        return Ok(given.clone());
    }
    let refs: Vec<&RunRecord> = runs.iter().filter(|r| r.removed.is_none()).collect();
    match common_eval_set(&refs) {
        Some(s) => Ok(Some(s)),
        None => bail!(
            "no run has been evaluated; run `exphil eval --policy RUN --replays DIR` first, or \
             rank by val_loss"
        ),
    }
}

fn show_leaderboard(a: LeaderboardArgs) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let metric = Metric::parse(&a.metric).map_err(anyhow::Error::msg)?;
    let runs = runs_of(&dir);
    let set = eval_set_for(&runs, &metric, &a.eval_set)?;
    let lb = leaderboard(&runs, &metric, set.as_deref());
    if a.json {
        let pair = |p: &(String, f64)| Best {
            run: p.0.clone(),
            value: p.1,
        };
        let by = |m: &BTreeMap<String, (String, f64)>| -> BTreeMap<String, Best> {
            m.iter().map(|(k, p)| (k.clone(), pair(p))).collect()
        };
        let out = LeaderboardJson {
            metric: metric.name(),
            eval_set: set.as_deref(),
            best_overall: lb.overall.as_ref().map(pair),
            best_by_backbone: by(&lb.by_backbone),
            best_by_character: by(&lb.by_character),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some((best, v)) = &lb.overall else {
        println!("No run in {} has a {} yet.", dir.display(), metric.name());
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "Leaderboard by {} ({}){}",
        metric.name(),
        if metric.lower_is_better() {
            "lower is better"
        } else {
            "higher is better"
        },
        set.as_ref()
            .map(|s| format!(", evaluation replay set {s}"))
            .unwrap_or_default()
    );
    println!("  best overall:   {best} ({v:.4})");
    println!("  by backbone:");
    for (k, (r, v)) in &lb.by_backbone {
        println!("    {k:<12} {r} ({v:.4})");
    }
    if !lb.by_character.is_empty() {
        println!("  by character:");
        for (k, (r, v)) in &lb.by_character {
            println!("    {k:<16} {r} ({v:.4})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(a: PruneArgs) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.dir.checkpoints);
    let metric = Metric::parse(&a.metric).map_err(anyhow::Error::msg)?;
    let runs = runs_of(&dir);
    let eval_set = if a.keep_best.is_some() {
        eval_set_for(&runs, &metric, &a.eval_set)?
    } else {
        None
    };
    let opts = PruneOptions {
        keep_best: a.keep_best,
        keep_recent: a.keep_recent,
        keep_tagged: a.keep_tagged,
        archive_older_than: a
            .archive_older_than
            .as_deref()
            .map(parse_age)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        metric: Some(metric),
        eval_set,
    };
    if opts.keep_best.is_none()
        && opts.keep_recent.is_none()
        && !opts.keep_tagged
        && opts.archive_older_than.is_none()
    {
        bail!(
            "say what to keep: --keep-best N, --keep-recent N, --keep-tagged, and/or \
             --archive-older-than AGE (add --dry-run to preview). Metrics: {METRICS}"
        );
    }
    let plan = plan_prune(&runs, &opts, SystemTime::now());
    let (mut keep, mut archive, mut delete) = (0, 0, 0);
    for (id, action) in &plan {
        let (what, why) = match action {
            PruneAction::Keep(w) => {
                keep += 1;
                ("keep   ", w)
            }
            PruneAction::Archive(w) => {
                archive += 1;
                ("archive", w)
            }
            PruneAction::Delete(w) => {
                delete += 1;
                ("delete ", w)
            }
        };
        println!("  {what} {id:<36} {why}");
    }
    if a.dry_run {
        println!(
            "Dry run: would keep {keep}, archive {archive}, delete {delete}; nothing changed."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let failed = apply_prune(&dir, &plan)?;
    for (id, e) in &failed {
        eprintln!("warning: {id}: {e}");
    }
    println!(
        "Kept {keep}, archived {}, deleted {} ({} failed). Records of removed runs stay in the \
         registry for lineage; `exphil models list --all` shows them.",
        archive
            - failed
                .iter()
                .filter(|(id, _)| plan
                    .iter()
                    .any(|(p, a)| p == id && matches!(a, PruneAction::Archive(_))))
                .count(),
        delete
            - failed
                .iter()
                .filter(|(id, _)| plan
                    .iter()
                    .any(|(p, a)| p == id && matches!(a, PruneAction::Delete(_))))
                .count(),
        failed.len()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_reindex(a: DirArg) -> Result<ExitCode> {
    let dir = checkpoints_dir(&a.checkpoints);
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let r = reindex(&dir)?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for (p, e) in &r.errors {
        eprintln!("warning: {}: {e}", p.display());
    }
    println!(
        "Reindexed {}: {} run directories, {} added, {} records dropped (directory gone){}",
        dir.display(),
        r.found,
        r.added.len(),
        r.dropped.len(),
        if r.errors.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable", r.errors.len())
        }
    );
    for id in &r.added {
        println!("  added   {id}");
    }
    for id in &r.dropped {
        println!("  dropped {id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `models info --json`.
#[derive(serde::Serialize)]
struct InfoJson<'a> {
    record: &'a RunRecord,
    description: String,
    pairing_version: u64,
    params_by_block: &'a Option<Vec<(String, usize)>>,
    config: &'a serde_json::Value,
    layout: &'a serde_json::Value,
    provenance: &'a serde_json::Value,
    results: &'a serde_json::Value,
}

/// `models diff --json`.
#[derive(serde::Serialize)]
struct DiffJson<'a> {
    a: &'a str,
    b: &'a str,
    config_differences: Vec<KeyDiff<'a>>,
    metrics: Vec<MetricDiff<'a>>,
}

/// A config key that differs, with both values.
#[derive(serde::Serialize)]
struct KeyDiff<'a> {
    key: &'a str,
    a: &'a str,
    b: &'a str,
}

/// A metric of both runs.
#[derive(serde::Serialize)]
struct MetricDiff<'a> {
    metric: &'a str,
    a: Option<f64>,
    b: Option<f64>,
}

/// `models leaderboard --json`.
#[derive(serde::Serialize)]
struct LeaderboardJson<'a> {
    metric: String,
    eval_set: Option<&'a str>,
    best_overall: Option<Best>,
    best_by_backbone: BTreeMap<String, Best>,
    best_by_character: BTreeMap<String, Best>,
}

/// The best run by a metric, and its value.
#[derive(serde::Serialize)]
struct Best {
    run: String,
    value: f64,
}
