//! Run directories as the registry sees them, and the operations behind `exphil models`.
//!
//! A run directory holds everything needed to rebuild its registry record: `config.json` (the
//! resolved config, provenance, status, parent, resumes and results), `tags.json` (tags, written
//! by `exphil models tag`) and one `eval_<replays-hash>.json` per evaluation. So
//! [`reindex`] can rebuild a lost or damaged registry from the directories alone, and a live
//! update ([`register_run`]) uses the same [`record_from_run_dir`].

use crate::checkpoint::{parse_rfc3339_utc, rfc3339_utc};
use crate::config::TrainConfig;
use crate::presets::did_you_mean;
use crate::registry::{read_registry, update_registry, Registry, Removal, RunRecord};
use crate::rundir::{read_json, run_err, ModelsError, RunDir, CONFIG_FILE};
use exphil_io::write_atomic;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where archived runs go, inside the checkpoints directory.
pub const ARCHIVE_DIR: &str = "archive";
/// Sets the `status` of the run in `run_dir` (its `config.json`, written sealed) and clears
/// its running process, leaving everything else as it was.
pub fn set_run_status(run_dir: &Path, status: &str) -> Result<(), ModelsError> {
    let run = RunDir::new(run_dir);
    let mut file = run.read()?;
    file.status = Some(status.into());
    file.process = None;
    run.write(&file)
}

/// The checkpoints directory: `arg`, else `$EXPHIL_CHECKPOINTS_DIR`, else `checkpoints`.
pub fn checkpoints_dir(arg: &Option<PathBuf>) -> PathBuf {
    arg.clone()
        .or_else(|| std::env::var_os(crate::presets::ENV_CHECKPOINTS_DIR).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("checkpoints"))
}

/// A policy path: an existing path as given, else a run name in the registry of `ckpt_dir`.
pub fn policy_path(ckpt_dir: &Path, arg: &str) -> Result<PathBuf, ModelsError> {
    if Path::new(arg).exists() {
        return Ok(PathBuf::from(arg));
    }
    resolve_run(ckpt_dir, arg)
}

/// The config values shown in listings.
pub fn config_summary(c: &TrainConfig) -> Value {
    json!({
        "backbone": c.policy.backbone,
        "head": c.policy.head,
        "optimizer": c.optim.optimizer,
        "lr": c.optim.lr,
        "epochs": c.train.epochs,
        "batch_size": c.train.batch_size,
        "preset": c.preset,
        "seed": c.train.seed,
    })
}

/// The record of the run in `dir`, from its `config.json`, `tags.json` and `eval_*.json`. A run
/// found under `archive/` is marked archived.
pub fn record_from_run_dir(dir: &Path) -> Result<RunRecord, ModelsError> {
    let run = RunDir::new(dir);
    let path = run.config_path();
    let file = run.read()?;
    let config = file.train_config(&path)?;
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| run_err(dir, "a run directory needs a name"))?;
    let results = file.results.clone();
    let mut status = file.status.clone().unwrap_or_else(|| {
        if results.is_object() {
            "completed".into()
        } else {
            "incomplete".into()
        }
    });
    if status == "running" {
        // A run killed outright never recorded its end: its process is gone.
        if let Some(p) = file.process {
            if exphil_io::process_alive(p.pid, p.start_ticks) == Some(false) {
                status = "killed".into();
            }
        }
    }
    let tags_path = run.tags_path();
    let tags = if tags_path.exists() {
        serde_json::from_value(read_json(&tags_path)?)
            .map_err(|e| run_err(&tags_path, format!("not a list of tags ({e})")))?
    } else {
        config.checkpoint.tags.clone()
    };
    let mut evals = BTreeMap::new();
    for (hash, file) in eval_files(dir)? {
        let e = read_json(&file)?;
        if let Some(s) = e.get("summary") {
            evals.insert(hash, s.clone());
        }
    }
    let archived = dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == ARCHIVE_DIR);
    Ok(RunRecord {
        id,
        path: dir.display().to_string(),
        config_path: path.display().to_string(),
        created_at: file
            .created_at
            .clone()
            .or_else(|| file.timestamp.clone())
            .unwrap_or_default(),
        backbone: config.policy.backbone.name().to_string(),
        config_summary: config_summary(&config),
        metrics: if results.is_object() {
            results
        } else {
            json!({})
        },
        parent: file.parent.clone(),
        tags,
        status,
        training_type: file
            .training_type
            .clone()
            .unwrap_or_else(|| "imitation".into()),
        characters: file.characters(),
        params: file.params,
        resumes: file.resumes.clone(),
        evals,
        removed: archived.then(|| Removal {
            action: "archived".into(),
            at: String::new(),
            reason: format!("found under {ARCHIVE_DIR}/"),
        }),
    })
}

/// The `eval_<hash>.json` files of a run directory, by hash.
pub fn eval_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, ModelsError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| run_err(dir, e.to_string()))? {
        let entry = entry.map_err(|e| run_err(dir, e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(hash) = name
            .strip_prefix("eval_")
            .and_then(|n| n.strip_suffix(".json"))
        {
            out.push((hash.to_string(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Records (or refreshes) the run in `run_dir` in the registry of `ckpt_dir`, keeping what
/// only the registry knows (a removal). Returns the registry's recovery warnings.
pub fn register_run(ckpt_dir: &Path, run_dir: &Path) -> Result<Vec<String>, ModelsError> {
    Ok(update_run(ckpt_dir, run_dir, |_| Ok(()))?.1)
}

/// Under the registry lock of `ckpt_dir`: lets `change` edit the run's tags (its `tags.json`,
/// rewritten when they change), then reads the run directory and writes its record. Every
/// read-modify-write of a run's record goes through here, so concurrent writers (tags, `eval`
/// summaries, training) never lose each other's updates. Returns the tags and the registry's
/// warnings.
pub fn update_run(
    ckpt_dir: &Path,
    run_dir: &Path,
    change: impl FnOnce(&mut Vec<String>) -> Result<(), ModelsError>,
) -> Result<(Vec<String>, Vec<String>), ModelsError> {
    let mut outcome: Result<Vec<String>, ModelsError> = Ok(Vec::new());
    let reg = update_registry(ckpt_dir, |r| {
        outcome = (|| {
            let before = record_from_run_dir(run_dir)?;
            let mut tags = before.tags.clone();
            change(&mut tags)?;
            if tags != before.tags {
                let path = RunDir::new(run_dir).tags_path();
                let mut bytes = serde_json::to_vec_pretty(&tags).unwrap_or_default();
                bytes.push(b'\n');
                write_atomic(&path, &bytes).map_err(|e| run_err(&path, e.to_string()))?;
            }
            let rec = record_from_run_dir(run_dir)?;
            let rec = match r.get(&rec.id) {
                Some(old) => RunRecord {
                    removed: rec.removed.clone().or_else(|| old.removed.clone()),
                    ..rec
                },
                None => rec,
            };
            let tags = rec.tags.clone();
            r.upsert(rec);
            Ok(tags)
        })();
    })?;
    Ok((outcome?, reg.warnings))
}

/// Sets the tags of the run in `run_dir` (its `tags.json` and its record).
pub fn set_tags(
    ckpt_dir: &Path,
    run_dir: &Path,
    tags: &[String],
) -> Result<Vec<String>, ModelsError> {
    Ok(update_run(ckpt_dir, run_dir, |t| {
        *t = tags.to_vec();
        Ok(())
    })?
    .1)
}

/// The run named by `arg`: a run directory (with `config.json`), a file inside one (such as its
/// `model.safetensors`), or a run id in the registry of `ckpt_dir`.
pub fn resolve_run(ckpt_dir: &Path, arg: &str) -> Result<PathBuf, ModelsError> {
    let p = Path::new(arg);
    if p.is_dir() && RunDir::new(p).exists() {
        return Ok(p.to_path_buf());
    }
    if p.is_file() {
        if let Some(dir) = p.parent().filter(|d| RunDir::new(d).exists()) {
            return Ok(dir.to_path_buf());
        }
        return Err(run_err(
            p,
            format!("not inside a run directory (no {CONFIG_FILE} beside it)"),
        ));
    }
    if p.is_dir() {
        return Err(run_err(
            p,
            format!("not a run directory (it has no {CONFIG_FILE})"),
        ));
    }
    let reg = read_registry(ckpt_dir)?;
    if let Some(rec) = reg.get(arg) {
        if let Some(r) = rec.removed.as_ref().filter(|r| r.action == "pruned") {
            return Err(ModelsError::NotFound(format!(
                "run {arg} was pruned at {} ({}); only its record remains",
                r.at, r.reason
            )));
        }
        for dir in [
            PathBuf::from(&rec.path),
            ckpt_dir.join(arg),
            ckpt_dir.join(ARCHIVE_DIR).join(arg),
        ] {
            if RunDir::new(&dir).exists() {
                return Ok(dir);
            }
        }
        return Err(ModelsError::NotFound(format!(
            "run {arg} is in the registry but its directory {} is gone; `exphil models reindex` \
             rebuilds the registry from the run directories",
            rec.path
        )));
    }
    for dir in [ckpt_dir.join(arg), ckpt_dir.join(ARCHIVE_DIR).join(arg)] {
        if RunDir::new(&dir).exists() {
            return Ok(dir);
        }
    }
    let ids: Vec<&str> = reg.runs.iter().map(|r| r.id.as_str()).collect();
    let hint = did_you_mean(arg, ids.iter().copied())
        .map(|s| format!("; did you mean {s}?"))
        .unwrap_or_default();
    Err(ModelsError::NotFound(format!(
        "no run {arg:?}: not a path, and not in the registry of {} ({} runs){hint}",
        ckpt_dir.display(),
        reg.runs.len()
    )))
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// Metric names accepted by `--metric`.
pub const METRICS: &str = "val_loss, nll, accuracy.buttons, accuracy.main_x, accuracy.main_y, \
                           accuracy.c_x, accuracy.c_y, accuracy.shoulder";

const COMPONENTS: [&str; 6] = ["buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"];

/// A metric to rank runs by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The best validation loss of training (lower is better).
    ValLoss,
    /// Evaluation negative log-likelihood per frame (lower is better).
    Nll,
    /// Evaluation accuracy of a component (higher is better).
    Accuracy(String),
}

impl Metric {
    /// Parses a metric name (see [`METRICS`]).
    pub fn parse(s: &str) -> Result<Metric, String> {
        match s {
            "val_loss" => Ok(Metric::ValLoss),
            "nll" | "eval.nll" => Ok(Metric::Nll),
            _ => {
                let c = s
                    .strip_prefix("eval.")
                    .unwrap_or(s)
                    .strip_prefix("accuracy.")
                    .filter(|c| COMPONENTS.contains(c));
                match c {
                    Some(c) => Ok(Metric::Accuracy(c.to_string())),
                    None => Err(format!("unknown metric {s:?}; use one of {METRICS}")),
                }
            }
        }
    }

    /// Whether smaller values are better.
    pub fn lower_is_better(&self) -> bool {
        !matches!(self, Metric::Accuracy(_))
    }

    /// Whether the metric comes from an evaluation (and so depends on the replay set).
    pub fn is_eval(&self) -> bool {
        !matches!(self, Metric::ValLoss)
    }

    /// The value for a run (`eval_set`: the replay-set hash of evaluation metrics).
    pub fn of(&self, rec: &RunRecord, eval_set: Option<&str>) -> Option<f64> {
        let v = match self {
            Metric::ValLoss => rec.metrics.get("best_val_loss")?.as_f64(),
            Metric::Nll => rec.evals.get(eval_set?)?.get("nll")?.as_f64(),
            Metric::Accuracy(c) => rec.evals.get(eval_set?)?["accuracy"].get(c)?.as_f64(),
        }?;
        v.is_finite().then_some(v)
    }

    /// Its name.
    pub fn name(&self) -> String {
        match self {
            Metric::ValLoss => "val_loss".into(),
            Metric::Nll => "nll".into(),
            Metric::Accuracy(c) => format!("accuracy.{c}"),
        }
    }
}

/// The replay set most runs were evaluated on (ties: the most recent evaluation), if any.
pub fn common_eval_set(runs: &[&RunRecord]) -> Option<String> {
    let mut count: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for r in runs {
        for (h, s) in &r.evals {
            let at = s["created_at"].as_str().unwrap_or("").to_string();
            let e = count.entry(h.as_str()).or_insert((0, String::new()));
            e.0 += 1;
            if at > e.1 {
                e.1 = at;
            }
        }
    }
    count
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1))
        .map(|(h, _)| h.to_string())
}

/// `runs` ranked best first by `metric` (runs without a value are left out).
pub fn rank<'a>(
    runs: &[&'a RunRecord],
    metric: &Metric,
    eval_set: Option<&str>,
) -> Vec<(&'a RunRecord, f64)> {
    let mut v: Vec<(&RunRecord, f64)> = runs
        .iter()
        .filter_map(|r| metric.of(r, eval_set).map(|x| (*r, x)))
        .collect();
    v.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        let o = if metric.lower_is_better() {
            o
        } else {
            o.reverse()
        };
        o.then_with(|| a.0.id.cmp(&b.0.id))
    });
    v
}

/// The leaderboard: the best run overall, by backbone, and by character (a run counts for every
/// character it trained on).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Leaderboard {
    /// The best run and its value.
    pub overall: Option<(String, f64)>,
    /// Best per backbone.
    pub by_backbone: BTreeMap<String, (String, f64)>,
    /// Best per character.
    pub by_character: BTreeMap<String, (String, f64)>,
}

/// The leaderboard of the active (not removed) runs.
pub fn leaderboard(runs: &[RunRecord], metric: &Metric, eval_set: Option<&str>) -> Leaderboard {
    let active: Vec<&RunRecord> = runs.iter().filter(|r| r.removed.is_none()).collect();
    let ranked = rank(&active, metric, eval_set);
    let mut lb = Leaderboard {
        overall: ranked.first().map(|(r, v)| (r.id.clone(), *v)),
        ..Leaderboard::default()
    };
    for (r, v) in &ranked {
        lb.by_backbone
            .entry(r.backbone.clone())
            .or_insert_with(|| (r.id.clone(), *v));
        for c in &r.characters {
            lb.by_character
                .entry(c.clone())
                .or_insert_with(|| (r.id.clone(), *v));
        }
    }
    lb
}

// ---------------------------------------------------------------------------------------------
// Lineage

/// The lineage of `id`: the tree of runs descending from its oldest recorded ancestor (parents
/// are `--pretrained` runs), one line per run with `◀` marking `id`. Each line is
/// (depth, run id, whether the run is in the registry).
pub fn lineage(runs: &[RunRecord], id: &str) -> Vec<(usize, String, bool)> {
    let by_id: BTreeMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    // Up to the root (guarding against cycles in a hand-edited registry).
    let mut root = id.to_string();
    let mut seen = BTreeSet::from([root.clone()]);
    while let Some(p) = by_id.get(root.as_str()).and_then(|r| r.parent.clone()) {
        if !seen.insert(p.clone()) {
            break;
        }
        root = p;
    }
    let mut children: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        if let Some(p) = &r.parent {
            children.entry(p.as_str()).or_default().push(r);
        }
    }
    for c in children.values_mut() {
        c.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    }
    let mut out = Vec::new();
    let mut visited = BTreeSet::new();
    let mut stack = vec![(0usize, root)];
    while let Some((depth, node)) = stack.pop() {
        if !visited.insert(node.clone()) {
            continue;
        }
        out.push((depth, node.clone(), by_id.contains_key(node.as_str())));
        if let Some(kids) = children.get(node.as_str()) {
            for k in kids.iter().rev() {
                stack.push((depth + 1, k.id.clone()));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Pruning

/// What `exphil models prune` keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PruneOptions {
    /// Keep the N best runs by `metric`.
    pub keep_best: Option<usize>,
    /// Keep the N most recent runs.
    pub keep_recent: Option<usize>,
    /// Keep every tagged run.
    pub keep_tagged: bool,
    /// Archive (move under `archive/`) instead of deleting, and only runs older than this.
    pub archive_older_than: Option<Duration>,
    /// The metric of `keep_best`.
    pub metric: Option<Metric>,
    /// The replay set of an evaluation metric.
    pub eval_set: Option<String>,
}

/// What happens to one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PruneAction {
    /// Left alone, and why.
    Keep(String),
    /// Moved under `archive/`, and why.
    Archive(String),
    /// Deleted, and why.
    Delete(String),
}

/// Statuses of runs that have finished (anything else may still be training).
const FINISHED: [&str; 4] = ["completed", "failed", "interrupted", "killed"];

/// Parses a duration such as `7d`, `12h`, `30m`, `45s` or `2w`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not an age such as 7d, 12h, 30m or 2w"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{s:?} is not an age such as 7d, 12h, 30m or 2w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// The plan for every active run, in registry order. Rules: a run that has not finished is
/// kept (it may still be training). The keep set is the union of the `keep_*` rules. With
/// `archive_older_than`, runs outside the keep set that are older than it are archived and
/// nothing is deleted; without it, runs outside the keep set are deleted when any keep rule is
/// given (no rule: nothing happens).
pub fn plan_prune(
    runs: &[RunRecord],
    opts: &PruneOptions,
    now: SystemTime,
) -> Vec<(String, PruneAction)> {
    let active: Vec<&RunRecord> = runs.iter().filter(|r| r.removed.is_none()).collect();
    let mut keep: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let metric = opts.metric.clone().unwrap_or(Metric::ValLoss);
    if let Some(n) = opts.keep_best {
        for (i, (r, v)) in rank(&active, &metric, opts.eval_set.as_deref())
            .into_iter()
            .take(n)
            .enumerate()
        {
            keep.entry(r.id.as_str()).or_default().push(format!(
                "best #{} by {} ({v:.4})",
                i + 1,
                metric.name()
            ));
        }
    }
    if let Some(n) = opts.keep_recent {
        let mut by_date = active.clone();
        by_date.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        for (i, r) in by_date.into_iter().take(n).enumerate() {
            keep.entry(r.id.as_str())
                .or_default()
                .push(format!("recent #{}", i + 1));
        }
    }
    if opts.keep_tagged {
        for r in active.iter().filter(|r| !r.tags.is_empty()) {
            keep.entry(r.id.as_str())
                .or_default()
                .push(format!("tagged {}", r.tags.join(",")));
        }
    }
    let any_rule = opts.keep_best.is_some() || opts.keep_recent.is_some() || opts.keep_tagged;
    active
        .iter()
        .map(|r| {
            let action = if !FINISHED.contains(&r.status.as_str()) {
                PruneAction::Keep(format!("status {} (may still be training)", r.status))
            } else if let Some(why) = keep.get(r.id.as_str()) {
                PruneAction::Keep(why.join(", "))
            } else if let Some(max_age) = opts.archive_older_than {
                let age = parse_rfc3339_utc(&r.created_at).and_then(|t| now.duration_since(t).ok());
                match age {
                    Some(a) if a > max_age => PruneAction::Archive(format!(
                        "{} old{}",
                        human_age(a),
                        if any_rule { ", not kept by a rule" } else { "" }
                    )),
                    Some(a) => PruneAction::Keep(format!("{} old", human_age(a))),
                    None => PruneAction::Keep("creation time unknown".into()),
                }
            } else if any_rule {
                PruneAction::Delete("not kept by any rule".into())
            } else {
                PruneAction::Keep("no rule given".into())
            };
            (r.id.clone(), action)
        })
        .collect()
}

/// An age in the largest whole unit: `3d`, `5h`, `12m`, `40s`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{}d", s / 86_400)
    } else if s >= 3600 {
        format!("{}h", s / 3600)
    } else if s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Carries out a plan: archived runs move to `ckpt_dir/archive/<id>`, deleted ones are
/// removed; both keep their record, marked. Only directories directly inside `ckpt_dir` are
/// touched (a record pointing elsewhere is refused). Returns (id, error) for runs that failed.
pub fn apply_prune(
    ckpt_dir: &Path,
    plan: &[(String, PruneAction)],
) -> Result<Vec<(String, String)>, ModelsError> {
    let reg = read_registry(ckpt_dir)?;
    let base = std::fs::canonicalize(ckpt_dir).map_err(|e| run_err(ckpt_dir, e.to_string()))?;
    let now = rfc3339_utc(SystemTime::now());
    let mut done: Vec<(String, Removal, Option<String>)> = Vec::new();
    let mut failed = Vec::new();
    for (id, action) in plan {
        let (kind, reason) = match action {
            PruneAction::Keep(_) => continue,
            PruneAction::Archive(r) => ("archived", r),
            PruneAction::Delete(r) => ("pruned", r),
        };
        let Some(rec) = reg.get(id) else { continue };
        let dir = PathBuf::from(&rec.path);
        let inside = std::fs::canonicalize(&dir)
            .ok()
            .is_some_and(|d| d.parent() == Some(base.as_path()));
        if !inside {
            failed.push((
                id.clone(),
                format!(
                    "{} is not a directory directly inside {}; left alone",
                    dir.display(),
                    ckpt_dir.display()
                ),
            ));
            continue;
        }
        let result = if kind == "archived" {
            let target = ckpt_dir.join(ARCHIVE_DIR).join(id);
            std::fs::create_dir_all(ckpt_dir.join(ARCHIVE_DIR))
                .and_then(|()| {
                    if target.exists() {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            format!("{} already exists", target.display()),
                        ))
                    } else {
                        std::fs::rename(&dir, &target)
                    }
                })
                .map(|()| Some(target.display().to_string()))
        } else {
            // Renamed first so that a kill mid-deletion never leaves half a run under its name.
            let trash = ckpt_dir.join(format!(".delete-{id}-{}", exphil_io::unique_suffix()));
            std::fs::rename(&dir, &trash)
                .and_then(|()| std::fs::remove_dir_all(&trash))
                .map(|()| None)
        };
        match result {
            Ok(new_path) => done.push((
                id.clone(),
                Removal {
                    action: kind.into(),
                    at: now.clone(),
                    reason: reason.clone(),
                },
                new_path,
            )),
            Err(e) => failed.push((id.clone(), format!("{}: {e}", dir.display()))),
        }
    }
    update_registry(ckpt_dir, |r| {
        for (id, removal, new_path) in &done {
            if let Some(rec) = r.runs.iter_mut().find(|x| &x.id == id) {
                rec.removed = Some(removal.clone());
                if let Some(p) = new_path {
                    rec.config_path = RunDir::new(p).config_path().display().to_string();
                    rec.path = p.clone();
                }
            }
        }
    })?;
    Ok(failed)
}

// ---------------------------------------------------------------------------------------------
// Reindex

/// What [`reindex`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReindexReport {
    /// Run directories found.
    pub found: usize,
    /// Runs that were not in the registry.
    pub added: Vec<String>,
    /// Records dropped because their directory is gone (pruned records are kept).
    pub dropped: Vec<String>,
    /// Directories that could not be read, and why.
    pub errors: Vec<(PathBuf, String)>,
    /// What the registry recovered from (a corrupt file moved aside, a stale lock).
    pub warnings: Vec<String>,
}

fn run_dirs(ckpt_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [ckpt_dir.to_path_buf(), ckpt_dir.join(ARCHIVE_DIR)] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if !hidden && p.is_dir() && RunDir::new(&p).exists() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `reg` with the runs of `ckpt_dir` it lacks added from their directories (and recorded in
/// the registry), and warnings that name them.
fn recover_unregistered(ckpt_dir: &Path, mut reg: Registry) -> (Registry, Vec<String>) {
    let known: BTreeSet<&str> = reg.runs.iter().map(|r| r.id.as_str()).collect();
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    for dir in run_dirs(ckpt_dir) {
        let id = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if id.as_deref().is_some_and(|id| known.contains(id)) {
            continue;
        }
        match record_from_run_dir(&dir) {
            Ok(r) if !known.contains(r.id.as_str()) => found.push(r),
            Ok(_) => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }
    if found.is_empty() {
        return (reg, warnings);
    }
    let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
    let recorded = update_registry(ckpt_dir, |r| {
        for rec in &found {
            if r.get(&rec.id).is_none() {
                r.runs.push(rec.clone());
            }
        }
    });
    warnings.push(match recorded {
        Ok(_) => format!(
            "the registry lacked {} run(s) found in {}: {} (recovered from their directories \
             and recorded)",
            ids.len(),
            ckpt_dir.display(),
            ids.join(", ")
        ),
        Err(e) => format!(
            "the registry lacks {} run(s) found in {}: {} (listed from their directories; \
             recording them failed: {e})",
            ids.len(),
            ckpt_dir.display(),
            ids.join(", ")
        ),
    });
    reg.runs.extend(found);
    reg.runs
        .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    (reg, warnings)
}

/// Rebuilds the registry of `ckpt_dir` from its run directories (and `archive/`): every run
/// found gets a fresh record; tags only the old registry knew are kept; records of pruned runs
/// are kept for lineage; other records whose directory is gone are dropped.
pub fn reindex(ckpt_dir: &Path) -> Result<ReindexReport, ModelsError> {
    let mut report = ReindexReport::default();
    let mut found = Vec::new();
    for dir in run_dirs(ckpt_dir) {
        match record_from_run_dir(&dir) {
            Ok(r) => found.push(r),
            Err(e) => report.errors.push((dir, e.to_string())),
        }
    }
    report.found = found.len();
    let mut added = Vec::new();
    let mut dropped = Vec::new();
    let reg = update_registry(ckpt_dir, |r| {
        let old = std::mem::take(&mut r.runs);
        let mut fresh: BTreeMap<String, RunRecord> =
            found.into_iter().map(|x| (x.id.clone(), x)).collect();
        let mut runs = Vec::new();
        for o in old {
            match fresh.remove(&o.id) {
                Some(mut f) => {
                    if f.tags.is_empty() {
                        f.tags = o.tags.clone();
                    }
                    if let (Some(fr), Some(or)) = (&mut f.removed, &o.removed) {
                        fr.at = or.at.clone();
                        fr.reason = or.reason.clone();
                    }
                    runs.push(f);
                }
                None if o.removed.as_ref().is_some_and(|x| x.action == "pruned") => runs.push(o),
                None => dropped.push(o.id),
            }
        }
        let mut rest: Vec<RunRecord> = fresh.into_values().collect();
        rest.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        added.extend(rest.iter().map(|x| x.id.clone()));
        runs.extend(rest);
        r.runs = runs;
    })?;
    report.added = added;
    report.dropped = dropped;
    report.warnings = reg.warnings;
    Ok(report)
}

/// The registry of `ckpt_dir` for reading commands: when it is missing or damaged, the runs are
/// read from the directories instead (with a warning), without writing anything. Run
/// directories the registry lacks (a run killed between writing its config and registering, a
/// registry moved aside as corrupt and started again) are read from their directories, listed,
/// and recorded in the registry (with a warning naming them).
pub fn read_or_scan(ckpt_dir: &Path) -> (Registry, Vec<String>) {
    let missing = !ckpt_dir.join(crate::registry::REGISTRY_FILE).exists();
    let why = match read_registry(ckpt_dir) {
        Ok(r) if !missing => return recover_unregistered(ckpt_dir, r),
        Ok(_) => format!("{} has no registry", ckpt_dir.display()),
        Err(e) => e.to_string(),
    };
    let mut reg = Registry::default();
    let mut warnings = Vec::new();
    let dirs = run_dirs(ckpt_dir);
    if !dirs.is_empty() {
        warnings.push(format!(
            "{why}; listing the run directories instead (`exphil models reindex` rebuilds it)"
        ));
    }
    for dir in dirs {
        match record_from_run_dir(&dir) {
            Ok(r) => reg.runs.push(r),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    reg.runs
        .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    (reg, warnings)
}
