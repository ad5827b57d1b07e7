//! The runs of a checkpoints folder as the dashboard shows them, read with `exphil-runs`'
//! readers ([`RunDir::read`], [`read_metrics`], [`eval_files`], [`read_json`]). A run being
//! written or a damaged file gives a warning, never an error.

use exphil_runs::metrics::read_metrics;
use exphil_runs::models::eval_files;
use exphil_runs::rundir::{read_json, RunDir, RunFile};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The folder of archived runs, which the dashboard leaves out.
const ARCHIVE_DIR: &str = "archive";

/// A run id the dashboard accepts: a plain directory name (no `/`, `\`, `..`, NUL, not empty).
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id != "." && !id.contains("..") && !id.contains(['/', '\\', '\0'])
}

/// The run directories of `checkpoints` (its folders with a `config.json`, `archive/` left out),
/// sorted by name.
pub fn run_dirs(checkpoints: &Path) -> Vec<RunDir> {
    let Ok(entries) = std::fs::read_dir(checkpoints) else {
        return Vec::new();
    };
    let mut dirs: Vec<RunDir> = entries
        .flatten()
        .filter(|e| e.file_name() != ARCHIVE_DIR && e.path().is_dir())
        .map(|e| RunDir::new(e.path()))
        .filter(RunDir::exists)
        .collect();
    dirs.sort();
    dirs
}

/// One run in the list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run's name (its directory's).
    pub id: String,
    /// `running`, `completed`, `interrupted`, `failed`, or `killed` (recorded as running but its
    /// process is gone); `null` when its record could not be read.
    pub status: Option<String>,
    /// `imitation`, `fine_tune`, `ppo`, `self_play`, ...
    pub training_type: Option<String>,
    /// The run it started from.
    pub parent: Option<String>,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// The largest step in its event files, `null` when they have none.
    pub latest_step: Option<i64>,
    /// The lowest `val/loss` in its event files, else its results' `best_val_loss`.
    pub best_val_loss: Option<f64>,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The status shown for a record: `killed` for a run recorded as running whose process is gone.
fn shown_status(file: &RunFile) -> Option<String> {
    let status = file.status.clone()?;
    if status == "running" {
        if let Some(p) = file.process {
            if exphil_io::process_alive(p.pid, p.start_ticks) == Some(false) {
                return Some("killed".into());
            }
        }
    }
    Some(status)
}

/// The summary of the run in `dir` (`latest_step` and `best_val_loss` from the event files are
/// filled in by the caller, who has them).
pub fn summary(dir: &RunDir) -> RunSummary {
    let mut s = RunSummary {
        id: dir.name(),
        status: None,
        training_type: None,
        parent: None,
        created: None,
        latest_step: None,
        best_val_loss: None,
        warnings: Vec::new(),
    };
    match dir.read() {
        Ok(file) => {
            s.status = shown_status(&file);
            s.training_type = file.training_type.clone();
            s.parent = file.parent.clone();
            s.created = file.created_at.clone().or(file.timestamp.clone());
            s.best_val_loss = file.results.get("best_val_loss").and_then(Value::as_f64);
        }
        Err(e) => s.warnings.push(e.to_string()),
    }
    s
}

/// One evaluation of a run: an `eval_<hash>.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// The replay set's hash.
    pub replays_hash: String,
    /// The file's content.
    pub result: Value,
}

/// Everything the page shows of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunDetail {
    /// The run's name.
    pub id: String,
    /// Its `config.json` as written (`null` when it could not be read).
    pub config: Value,
    /// Its `metrics.jsonl` lines (a torn last line left out).
    pub metrics: Vec<Value>,
    /// Its evaluations, by replay-set hash.
    pub evals: Vec<Evaluation>,
    /// What could not be read.
    pub warnings: Vec<String>,
}

/// The detail of the run in `dir`.
pub fn detail(dir: &RunDir) -> RunDetail {
    let mut warnings = Vec::new();
    let config = match read_json(&dir.config_path()) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(e.to_string());
            Value::Null
        }
    };
    let metrics_path = dir.metrics_path();
    let metrics = if metrics_path.exists() {
        read_metrics(&metrics_path).unwrap_or_else(|e| {
            warnings.push(e.to_string());
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let mut evals = Vec::new();
    match eval_files(dir.path()) {
        Ok(files) => {
            for (replays_hash, path) in files {
                match read_json(&path) {
                    Ok(result) => evals.push(Evaluation {
                        replays_hash,
                        result,
                    }),
                    Err(e) => warnings.push(e.to_string()),
                }
            }
        }
        Err(e) => warnings.push(e.to_string()),
    }
    RunDetail {
        id: dir.name(),
        config,
        metrics,
        evals,
        warnings,
    }
}

/// One player's rating in an Elo table, as PPO and self-play runs record it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EloEntry {
    /// The player (a learner, a snapshot, a bot).
    pub name: String,
    /// Its Elo rating.
    pub rating: f64,
    /// Games it played.
    #[serde(default)]
    pub games: u64,
    /// Games it won, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wins: Option<u64>,
    /// Games it lost, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub losses: Option<u64>,
}

/// The latest Elo table of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct League {
    /// The run.
    pub run: String,
    /// Its training type.
    pub training_type: Option<String>,
    /// The PPO update of the table (from the latest `ppo.history` entry).
    pub update: Option<u64>,
    /// The timesteps (frames) of the table.
    pub timesteps: Option<u64>,
    /// The ratings, best first: the league's own table (`league.elo`) when the run has one, else
    /// the latest `ppo.history` entry's.
    pub elo: Vec<EloEntry>,
}

/// The Elo table of a run's record, `None` when it has none.
pub fn league_of(id: &str, file: &RunFile) -> Option<League> {
    let last = file.extra("ppo")["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or(Value::Null);
    let table = [&file.extra("league")["elo"], &last["elo"]]
        .into_iter()
        .find_map(|t| serde_json::from_value::<Vec<EloEntry>>(t.clone()).ok())
        .filter(|t| !t.is_empty())?;
    Some(League {
        run: id.to_string(),
        training_type: file.training_type.clone(),
        update: last["update"].as_u64(),
        timesteps: last["timesteps"].as_u64(),
        elo: table,
    })
}

/// The Elo tables of the runs of `checkpoints`, and what could not be read.
pub fn leagues(checkpoints: &Path) -> (Vec<League>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for dir in run_dirs(checkpoints) {
        match dir.read() {
            Ok(file) => out.extend(league_of(&dir.name(), &file)),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (out, warnings)
}

/// The run directory `id` of `checkpoints`, when `id` is a valid id and the run exists.
pub fn find(checkpoints: &Path, id: &str) -> Option<RunDir> {
    let dir = RunDir::new(PathBuf::from(checkpoints).join(id));
    (valid_run_id(id) && dir.exists()).then_some(dir)
}
