//! A run directory: every path in it ([`RunDir`]) and its record, `config.json`, typed
//! ([`RunFile`]). Imitation runs and PPO runs share the layout:
//!
//! | path | what |
//! | --- | --- |
//! | `config.json` | the [`RunFile`]: status, process, lineage, the resolved config, provenance, results (sealed) |
//! | `games.json` | content hashes of the training and validation games (sealed) |
//! | `tags.json` | tags (`exphil models tag`) |
//! | `model.safetensors` | the final (or best) weights |
//! | `metrics.jsonl`, `loss_curve.png` | the per-epoch log and its plot |
//! | `eval_<hash>.json` | one evaluation per replay set (sealed) |
//! | `checkpoints/` | the checkpoint directories resumption reads |
//!
//! "Sealed" files end in a checksum of their own bytes ([`sealed_json`]); [`read_json`] verifies
//! it. Errors of run directories and of the registry operations are [`ModelsError`].

use crate::config::TrainConfig;
use crate::ppo_config::PpoRunConfig;
use crate::registry::RegistryError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest `config.json`, `tags.json` or `eval_*.json` read.
const MAX_JSON_LEN: u64 = 64 << 20;

/// The name of the evaluation file for a replay set.
pub fn eval_file_name(replays_hash: &str) -> String {
    format!("eval_{replays_hash}.json")
}

/// What went wrong. Every message names the path or the run.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// The registry could not be read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A run directory or one of its files is unusable.
    #[error("{path}: {reason}")]
    Run {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No run by that name.
    #[error("{0}")]
    NotFound(String),
}

pub(crate) fn run_err(path: &Path, reason: impl Into<String>) -> ModelsError {
    ModelsError::Run {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a JSON file of at most [`MAX_JSON_LEN`] bytes.
pub fn read_json(path: &Path) -> Result<Value, ModelsError> {
    let len = std::fs::metadata(path)
        .map_err(|e| run_err(path, e.to_string()))?
        .len();
    if len > MAX_JSON_LEN {
        return Err(run_err(
            path,
            format!("{len} bytes is more than this file can be"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| run_err(path, e.to_string()))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| run_err(path, format!("not valid JSON ({e})")))?;
    check_seal(&bytes, &v).map_err(|reason| run_err(path, reason))?;
    Ok(v)
}

/// The key of the checksum in a sealed JSON file ([`sealed_json`]).
pub const JSON_CHECKSUM_KEY: &str = "checksum";

/// The text of a sealed checksum before it is computed: 16 zeros.
const UNSEALED: &str = "0000000000000000";

/// The pretty-printed bytes of the JSON object `v` with a `"checksum"` entry: the xxh3-64 of
/// the file's own bytes with that entry's value written as 16 zeros. [`read_json`] verifies it,
/// so a changed byte anywhere in the file is found (files without one are read as before).
pub fn sealed_json(v: &Value) -> Vec<u8> {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert(JSON_CHECKSUM_KEY.into(), Value::String(UNSEALED.into()));
    }
    let mut bytes = serde_json::to_vec_pretty(&v).unwrap_or_default();
    bytes.push(b'\n');
    let pattern = format!("\"{JSON_CHECKSUM_KEY}\": \"{UNSEALED}\"");
    if let Some(at) = rfind(&bytes, pattern.as_bytes()) {
        let sum = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
        let start = at + pattern.len() - 1 - UNSEALED.len();
        bytes[start..start + UNSEALED.len()].copy_from_slice(sum.as_bytes());
    }
    bytes
}

/// Checks the seal of a JSON file read as `bytes` (parsed as `v`): none, or one that matches.
fn check_seal(bytes: &[u8], v: &Value) -> Result<(), String> {
    let corrupt = |why: String| Err(format!("{why}: the file is corrupt"));
    let Some(stored) = v.get(JSON_CHECKSUM_KEY) else {
        // Unsealed (written before seals, or by hand), unless the seal's own key was damaged.
        let near = |k: &String| {
            k.len() == JSON_CHECKSUM_KEY.len()
                && k.bytes()
                    .zip(JSON_CHECKSUM_KEY.bytes())
                    .filter(|(a, b)| a != b)
                    .count()
                    == 1
        };
        if let Some(k) = v.as_object().and_then(|o| o.keys().find(|k| near(k))) {
            return corrupt(format!("it has a key {k:?} where its checksum belongs"));
        }
        return Ok(());
    };
    let Some(stored) = stored
        .as_str()
        .filter(|s| s.len() == UNSEALED.len() && s.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return corrupt(format!("its {JSON_CHECKSUM_KEY:?} is not 16 hex digits"));
    };
    let pattern = format!("\"{JSON_CHECKSUM_KEY}\": \"{stored}\"");
    let Some(at) = rfind(bytes, pattern.as_bytes()) else {
        return corrupt(format!(
            "its {JSON_CHECKSUM_KEY:?} entry is not as exphil writes it"
        ));
    };
    let start = at + pattern.len() - 1 - UNSEALED.len();
    let mut unsealed = bytes.to_vec();
    unsealed[start..start + UNSEALED.len()].copy_from_slice(UNSEALED.as_bytes());
    let computed = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&unsealed));
    if computed != stored {
        return corrupt(format!(
            "it does not match its checksum (stored {stored}, computed {computed})"
        ));
    }
    Ok(())
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// A run's record.
pub const CONFIG_FILE: &str = "config.json";
/// A run's tags.
pub const TAGS_FILE: &str = "tags.json";
/// The content hashes of a run's training and validation games.
pub const GAMES_FILE: &str = "games.json";
/// The weights file of a run and of each checkpoint.
pub const MODEL_FILE: &str = "model.safetensors";
/// A run's loss-curve plot.
pub const LOSS_CURVE_FILE: &str = "loss_curve.png";
/// The folder of a run's checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The folder of a run's TensorBoard event files (`tensorboard --logdir`, `wandb sync
/// --sync-tensorboard`).
pub const BOARD_DIR: &str = "tensorboard";

/// The directory of one run, and every path in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory `root` (nothing is read).
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// The run directory that holds the file `path` (a weights file), when its parent is one.
    pub fn of_file(path: &Path) -> Option<RunDir> {
        path.parent().map(RunDir::new).filter(|d| d.exists())
    }

    /// Whether the directory holds a run record (`config.json`).
    pub fn exists(&self) -> bool {
        self.config_path().is_file()
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The run's name: the directory's name.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `games.json`.
    pub fn games_path(&self) -> PathBuf {
        self.root.join(GAMES_FILE)
    }

    /// `tags.json`.
    pub fn tags_path(&self) -> PathBuf {
        self.root.join(TAGS_FILE)
    }

    /// `model.safetensors`.
    pub fn model_path(&self) -> PathBuf {
        self.root.join(MODEL_FILE)
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join(crate::metrics::METRICS_FILE)
    }

    /// `loss_curve.png`.
    pub fn loss_curve_path(&self) -> PathBuf {
        self.root.join(LOSS_CURVE_FILE)
    }

    /// `tensorboard/`.
    pub fn board_path(&self) -> PathBuf {
        self.root.join(BOARD_DIR)
    }

    /// `checkpoints/`.
    pub fn checkpoints_path(&self) -> PathBuf {
        self.root.join(CHECKPOINTS_DIR)
    }

    /// `eval_<replays_hash>.json`.
    pub fn eval_path(&self, replays_hash: &str) -> PathBuf {
        self.root.join(eval_file_name(replays_hash))
    }

    /// The run's record, its seal verified. Errors name the file.
    pub fn read(&self) -> Result<RunFile, ModelsError> {
        let path = self.config_path();
        let v = read_json(&path)?;
        serde_json::from_value(v).map_err(|e| ModelsError::Run {
            path,
            reason: format!("not a run record ({e})"),
        })
    }

    /// Writes the run's record atomically and sealed. Errors name the file.
    pub fn write(&self, file: &RunFile) -> Result<(), ModelsError> {
        write_sealed(&self.config_path(), file)
    }

    /// The run's game lists: `None` when it recorded none (runs before `games.json`, PPO runs),
    /// an error naming the file when it is there but damaged.
    pub fn read_games(&self) -> Result<Option<RunGames>, ModelsError> {
        let path = self.games_path();
        if let Err(e) = std::fs::symlink_metadata(&path) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
        }
        let v = read_json(&path)?;
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ModelsError::Run {
                path,
                reason: format!("not the run's game lists ({e})"),
            })
    }

    /// Writes the run's game lists atomically and sealed.
    pub fn write_games(&self, games: &RunGames) -> Result<(), ModelsError> {
        write_sealed(&self.games_path(), games)
    }
}

/// Writes `value` to `path` as sealed JSON, atomically. Errors name the file.
fn write_sealed<T: Serialize>(path: &Path, value: &T) -> Result<(), ModelsError> {
    let err = |reason: String| ModelsError::Run {
        path: path.to_path_buf(),
        reason,
    };
    let v = serde_json::to_value(value).map_err(|e| err(e.to_string()))?;
    exphil_io::write_atomic(path, &sealed_json(&v)).map_err(|e| err(e.to_string()))
}

/// `games.json`: the content hashes of a run's training and validation games, so that
/// evaluation can leave out the games a policy trained on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunGames {
    /// Training games, sorted.
    pub training: Vec<String>,
    /// Validation games, sorted.
    pub validation: Vec<String>,
}

/// The process of a running run, so that one killed outright is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProcess {
    /// Its id.
    pub pid: u32,
    /// Its start time in clock ticks since boot (Linux), which tells a reused id apart.
    pub start_ticks: Option<u64>,
}

impl RunProcess {
    /// This process.
    pub fn current() -> RunProcess {
        let pid = std::process::id();
        RunProcess {
            pid,
            start_ticks: exphil_io::process_start_ticks(pid),
        }
    }
}

/// A run's `config.json`: the keys every run has, typed; what only some runs have (the
/// embedding, input and target configs of imitation runs, `ppo` and `league` of reinforcement
/// learning runs) kept as it is in [`RunFile::other`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// When the record was last written (RFC 3339, UTC).
    pub timestamp: Option<String>,
    /// When the run was created.
    pub created_at: Option<String>,
    /// `running`, `completed`, `interrupted` or `failed` (older runs may have none).
    pub status: Option<String>,
    /// The process while `running`.
    pub process: Option<RunProcess>,
    /// `imitation`, `fine_tune`, `ppo` or `self_play`.
    pub training_type: Option<String>,
    /// The run it started from.
    pub parent: Option<String>,
    /// When it was resumed.
    #[serde(default)]
    pub resumes: Vec<String>,
    /// Parameters of its policy.
    pub params: Option<u64>,
    /// The exphil that wrote it.
    pub exphil_version: Option<String>,
    /// The resolved training config ([`TrainConfig`]; a PPO run keeps its base's).
    #[serde(default)]
    pub config: Value,
    /// The resolved PPO run config of PPO and self-play runs ([`PpoRunConfig`]), which
    /// `--resume` continues with; `null` for other runs (and PPO runs written before it).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub ppo_config: Value,
    /// Where its data came from.
    #[serde(default)]
    pub provenance: Value,
    /// Its final figures (`null` while running).
    #[serde(default)]
    pub results: Value,
    /// Every other key, as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl RunFile {
    /// The training config, or why it cannot be read (`path` names the file).
    pub fn train_config(&self, path: &Path) -> Result<TrainConfig, ModelsError> {
        serde_json::from_value(self.config.clone()).map_err(|e| ModelsError::Run {
            path: path.to_path_buf(),
            reason: format!("not a run config ({e})"),
        })
    }

    /// The PPO run config, `None` when the run has none (not a PPO run, or one written before
    /// it was kept), or why it cannot be read (`path` names the file).
    pub fn ppo_config(&self, path: &Path) -> Result<Option<PpoRunConfig>, ModelsError> {
        if self.ppo_config.is_null() {
            return Ok(None);
        }
        serde_json::from_value(self.ppo_config.clone())
            .map(Some)
            .map_err(|e| ModelsError::Run {
                path: path.to_path_buf(),
                reason: format!("not a PPO run config ({e})"),
            })
    }

    /// A key only some runs have (see [`RunFile::other`]); `null` when absent.
    pub fn extra(&self, key: &str) -> &Value {
        self.other.get(key).unwrap_or(&Value::Null)
    }

    /// The characters of its training data, most frames first (ties by name).
    pub fn characters(&self) -> Vec<String> {
        let mut c: Vec<(String, u64)> = self.provenance["character_distribution"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        c.into_iter().map(|(k, _)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_sealed_and_keeps_unknown_keys() {
        let tmp = std::env::temp_dir().join(format!("exphil-rundir-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let run = RunDir::new(&tmp);
        assert!(!run.exists());
        let mut file = RunFile {
            status: Some("running".into()),
            process: Some(RunProcess::current()),
            parent: Some("base".into()),
            resumes: vec!["2026-01-01T00:00:00Z".into()],
            config: serde_json::to_value(TrainConfig::default()).unwrap(),
            provenance: serde_json::json!({"character_distribution": {"Fox": 3, "Marth": 9}}),
            ..RunFile::default()
        };
        file.other
            .insert("ppo".into(), serde_json::json!({"timesteps": 512}));
        run.write(&file).unwrap();
        assert!(run.exists());
        let back = run.read().unwrap();
        assert_eq!(back.other["ppo"], file.other["ppo"]);
        assert!(back.other.contains_key("checksum"), "written sealed");
        let mut without = back.clone();
        without.other.remove("checksum");
        assert_eq!(without, file);
        assert_eq!(back.characters(), ["Marth", "Fox"]);
        assert_eq!(
            back.train_config(&run.config_path()).unwrap(),
            TrainConfig::default()
        );
        assert_eq!(RunDir::of_file(&run.model_path()), Some(run.clone()));
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
