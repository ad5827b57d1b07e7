//! Where a training config comes from: named presets, a YAML config file, environment variables
//! and the command line, layered with the precedence **command line > environment > file >
//! preset > defaults**; the one table mapping flags (and flat config-file keys) to config keys;
//! validation that refuses invalid combinations with a reason; the differences from the defaults
//! (for `--dry-run`); and the Slippi Launcher's default replay folder.
//!
//! Every layer is a partial JSON document in the nested shape of [`TrainConfig`]
//! (`policy`/`optim`/`schedule`/`loss`/`loop`/`checkpoint`/`data`); layers merge recursively on
//! objects, arrays and scalars replace. Nothing here reads the process environment: the caller
//! passes it in [`Layers::env`].

use crate::config::{
    BackboneConfig, OptimizerKind, ScheduleKind, TrainConfig, BACKBONES, TEMPORAL_BACKBONES,
};
use exphil_replay::{ExternalCharacter, ExternalStage};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Environment variable naming the default replay folder (sets `data.replays`).
pub const ENV_REPLAYS_DIR: &str = "EXPHIL_REPLAYS_DIR";
/// Environment variable naming the checkpoints directory (sets `checkpoint.dir`).
pub const ENV_CHECKPOINTS_DIR: &str = "EXPHIL_CHECKPOINTS_DIR";
/// Environment variable naming the preset used when neither `--preset` nor the config file's
/// `preset:` names one.
pub const ENV_DEFAULT_PRESET: &str = "EXPHIL_DEFAULT_PRESET";

/// Source name of settings from a preset.
pub const FROM_PRESET: &str = "preset";
/// Source name of settings from the config file.
pub const FROM_FILE: &str = "file";
/// Source name of settings from environment variables.
pub const FROM_ENV: &str = "env";
/// Source name of settings from command-line flags.
pub const FROM_CLI: &str = "cli";
/// Source name of the replay folder found at the Slippi Launcher's default location.
pub const FROM_SLIPPI: &str = "slippi-launcher";
/// Source name of every setting no layer set.
pub const FROM_DEFAULT: &str = "default";

/// Largest frame delay the embedding can represent (its delay ids are `0..DELAY_VOCAB`).
pub const MAX_FRAME_DELAY: u8 = (exphil_embed::DELAY_VOCAB - 1) as u8;
/// Most noisy copies per example a dataset can hold (`exphil_dataset::MAX_NOISE_COPIES`).
pub const MAX_NOISE_COPIES: u8 = 4;

/// Why a config could not be resolved or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A preset name that does not exist.
    #[error("{origin}: unknown preset `{name}`{}; presets: {}", did_you_mean_hint(.suggestion), .known.join(", "))]
    UnknownPreset {
        /// Where the name came from (`--preset`, the config file, `EXPHIL_DEFAULT_PRESET`).
        origin: String,
        /// The name given.
        name: String,
        /// The closest preset name, if one is close.
        suggestion: Option<String>,
        /// Every preset of the command.
        known: Vec<&'static str>,
    },
    /// A key that is not a setting.
    #[error("{origin}: unknown key `{key}`{}", did_you_mean_hint(.suggestion))]
    UnknownKey {
        /// Where the key came from (the config file's path, the command line, a preset).
        origin: String,
        /// The key, dotted when nested (`loop.epoch`).
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A setting whose value has the wrong type or shape.
    #[error("{origin}: `{key}`: {message}")]
    Value {
        /// Where the value came from.
        origin: String,
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The config file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The config file is refused before its settings are read (too large).
    #[error("{}: {message}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The config file is not valid YAML.
    #[error("{}: not valid YAML: {message}", .path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// No replays and no dataset: nothing to train on.
    #[error("no replays to train on: pass --replays DIR (a folder of .slp files), set {ENV_REPLAYS_DIR}=DIR, or pass --dataset DIR (from `exphil dataset build`){}", no_replays_hint(.looked_in))]
    NoReplays {
        /// The Slippi Launcher's default replay folder, looked for and not found.
        looked_in: Option<PathBuf>,
    },
    /// The resolved config is invalid; every reason found.
    #[error("invalid training config: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Settings of a resolved config out of range, each naming its key.
    #[error("invalid {what} config: {}", bad_settings(.bad))]
    BadSettings {
        /// Which config (`PPO`).
        what: &'static str,
        /// Every bad setting found.
        bad: Vec<BadSetting>,
    },
}

/// One setting that is out of range: its dotted key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSetting {
    /// The dotted key (`ppo.minibatch`).
    pub key: String,
    /// Its flag, when it has one (`--minibatch`).
    pub flag: Option<&'static str>,
    /// Why it is refused.
    pub reason: String,
}

impl std::fmt::Display for BadSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.flag {
            Some(flag) => write!(f, "--{flag} ({}) {}", self.key, self.reason),
            None => write!(f, "{} {}", self.key, self.reason),
        }
    }
}

fn bad_settings(bad: &[BadSetting]) -> String {
    let v: Vec<String> = bad.iter().map(BadSetting::to_string).collect();
    v.join("; ")
}

fn did_you_mean_hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

fn no_replays_hint(looked_in: &Option<PathBuf>) -> String {
    match looked_in {
        Some(p) => format!(
            " (the Slippi Launcher's replay folder {} does not exist)",
            p.display()
        ),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Did you mean

/// Edit distance (optimal string alignment: insertions, deletions, substitutions and adjacent
/// transpositions each cost 1) between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Lowercase, dashes as underscores, leading dashes dropped: `--Batch-Size` -> `batch_size`.
fn normalize(name: &str) -> String {
    name.trim()
        .trim_start_matches('-')
        .to_lowercase()
        .replace('-', "_")
}

/// The candidate closest to `word` (ignoring case and `-`/`_`), if it is close enough to be a
/// likely misspelling: at most one edit for short words, up to a third of the word's length
/// (at most 3) for longer ones, or a candidate that starts with the word (4+ characters).
/// Ties go to the earlier candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = normalize(word);
    if w.is_empty() {
        return None;
    }
    let limit = (w.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let n = normalize(c);
        if n == w {
            return Some(c);
        }
        let mut d = edit_distance(&w, &n);
        if d > limit && w.chars().count() >= 4 && n.starts_with(&w) {
            d = limit;
        }
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// The flag table

/// How a flag's (or flat config key's) value becomes the config value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Taken as it is.
    Plain,
    /// A name: a string is lowercased with `-` turned into `_` (`cosine-restarts` ->
    /// `cosine_restarts`).
    Name,
    /// A list of names: a string is split on commas (`fox,falco`); a single value becomes a
    /// one-element list.
    List,
    /// A list of paths: a single string becomes a one-element list (never split).
    Paths,
    /// A list of layer widths: a string is split on commas and parsed (`256,256`); a single
    /// number becomes a one-element list.
    Widths,
}

/// One command-line flag of `exphil train`, which is also a flat key of the config file (with
/// `_` or `-`), and the dotted config key it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The long flag without dashes, e.g. `batch-size`.
    pub name: &'static str,
    /// Other accepted spellings, e.g. `hidden-sizes` for `hidden`.
    pub aliases: &'static [&'static str],
    /// The dotted key in [`TrainConfig`]'s serialized shape, e.g. `loop.batch_size`.
    pub key: &'static str,
    /// How the value is converted.
    pub kind: ValueKind,
}

const fn flag(name: &'static str, key: &'static str, kind: ValueKind) -> Flag {
    Flag {
        name,
        aliases: &[],
        key,
        kind,
    }
}

const fn flag_alias(
    name: &'static str,
    aliases: &'static [&'static str],
    key: &'static str,
    kind: ValueKind,
) -> Flag {
    Flag {
        name,
        aliases,
        key,
        kind,
    }
}

use ValueKind::{List, Name, Paths, Plain, Widths};

/// Every config-setting flag of `exphil train` and the key it sets: the command line and the
/// config file's flat keys both go through this table. (`--preset`, `--config`, `--resume`,
/// `--dry-run`, `--quiet` and `--verbose` are not settings and are not here.)
pub const FLAGS: &[Flag] = &[
    flag("device", "device", Plain),
    // Model
    flag("backbone", "policy.backbone.type", Name),
    flag_alias(
        "hidden",
        &["hidden-sizes"],
        "policy.backbone.hidden",
        Widths,
    ),
    flag("residual", "policy.backbone.residual", Plain),
    flag("layer-norm", "policy.backbone.layer_norm", Plain),
    flag("dropout", "policy.backbone.dropout", Plain),
    flag("activation", "policy.backbone.activation", Name),
    flag("temporal", TEMPORAL_KEY, Plain),
    flag("window-size", "policy.backbone.window_size", Plain),
    flag("stride", "policy.backbone.stride", Plain),
    flag("num-layers", "policy.backbone.num_layers", Plain),
    flag("hidden-size", "policy.backbone.hidden_size", Plain),
    flag("pooling", "policy.backbone.pooling", Name),
    flag("truncate-bptt", "policy.backbone.truncate_bptt", Plain),
    flag("residual-block", "policy.backbone.residual_block", Plain),
    flag("num-heads", "policy.backbone.num_heads", Plain),
    flag("qk-layernorm", "policy.backbone.qk_layernorm", Plain),
    flag("sliding-window", "policy.backbone.sliding_window", Plain),
    flag("chunk-size", "policy.backbone.chunk_size", Plain),
    flag("state-size", "policy.backbone.state_size", Plain),
    flag("expand-factor", "policy.backbone.expand_factor", Plain),
    flag("conv-size", "policy.backbone.conv_size", Plain),
    flag("attention-every", "policy.backbone.attention_every", Plain),
    flag("head", "policy.head", Name),
    // Optimiser
    flag("optimizer", "optim.optimizer", Name),
    flag_alias("lr", &["learning-rate"], "optim.lr", Plain),
    flag("weight-decay", "optim.weight_decay", Plain),
    flag("momentum", "optim.momentum", Plain),
    flag("nesterov", "optim.nesterov", Plain),
    // Schedule
    flag("lr-schedule", "schedule.schedule", Name),
    flag("warmup-steps", "schedule.warmup_steps", Plain),
    flag("decay-steps", "schedule.decay_steps", Plain),
    flag("min-lr", "schedule.min_lr", Plain),
    flag("restart-period", "schedule.restart_period", Plain),
    flag("restart-mult", "schedule.restart_mult", Plain),
    flag("lr-gamma", "schedule.gamma", Plain),
    flag("plateau-factor", "schedule.plateau_factor", Plain),
    flag("plateau-patience", "schedule.plateau_patience", Plain),
    // Loss
    flag("label-smoothing", "loss.label_smoothing", Plain),
    flag("focal-loss", "loss.focal_loss", Plain),
    flag("focal-gamma", "loss.focal_gamma", Plain),
    flag("auto-pos-weight", "loss.auto_pos_weight", Plain),
    flag("max-pos-weight", "loss.max_pos_weight", Plain),
    // Loop
    flag("epochs", "loop.epochs", Plain),
    flag("batch-size", "loop.batch_size", Plain),
    flag("accumulation-steps", "loop.accumulation_steps", Plain),
    flag("max-grad-norm", "loop.max_grad_norm", Plain),
    flag("ema", "loop.ema", Plain),
    flag("ema-decay", "loop.ema_decay", Plain),
    flag("early-stopping", "loop.early_stopping", Plain),
    flag("patience", "loop.patience", Plain),
    flag("min-delta", "loop.min_delta", Plain),
    flag("seed", "loop.seed", Plain),
    flag("val-split", "loop.val_split", Plain),
    flag("val-games", "loop.val_games", List),
    flag("log-interval", "loop.log_interval", Plain),
    flag("max-batches", "loop.max_batches", Plain),
    flag("precision", "loop.precision", Name),
    flag("device-memory-limit", "loop.device_memory_limit", Plain),
    flag("sequence", "loop.sequence.enabled", Plain),
    flag("unroll", "loop.sequence.unroll", Plain),
    flag("segment-frames", "loop.sequence.segment_frames", Plain),
    flag("streams", "loop.sequence.streams", Plain),
    flag("random-crop", "loop.sequence.random_crop", Plain),
    // Checkpoints
    flag_alias("checkpoints", &["checkpoints-dir"], "checkpoint.dir", Plain),
    flag("name", "checkpoint.name", Plain),
    flag("save-best", "checkpoint.save_best", Plain),
    flag("save-every", "checkpoint.save_every", Plain),
    flag("save-every-batches", "checkpoint.save_every_batches", Plain),
    flag("keep-last", "checkpoint.keep_last", Plain),
    flag("overwrite", "checkpoint.overwrite", Plain),
    flag("backup", "checkpoint.backup", Plain),
    flag("backup-count", "checkpoint.backup_count", Plain),
    flag("register", "checkpoint.register", Plain),
    flag("tags", "checkpoint.tags", List),
    // Data
    flag("replays", "data.replays", Paths),
    flag("dataset", "data.dataset", Plain),
    flag("cache-dir", "data.cache_dir", Plain),
    flag("max-files", "data.max_files", Plain),
    flag("player-port", "data.player_port", Plain),
    flag("train-character", "data.train_character", List),
    flag("dual-port", "data.dual_port", Plain),
    flag("frame-delay", "data.frame_delay", Plain),
    flag("frame-delay-augment", "data.frame_delay_augment", Plain),
    flag("frame-delay-min", "data.frame_delay_min", Plain),
    flag("frame-delay-max", "data.frame_delay_max", Plain),
    flag("augment", "data.augment", Plain),
    flag("noise-std", "data.noise_std", Plain),
    flag_alias(
        "noise-copies",
        &["num-noisy-variants"],
        "data.noise_copies",
        Plain,
    ),
    flag("embed-preset", "data.embed_preset", Name),
    flag("kmeans-centers", "data.kmeans_centers", Plain),
    flag("num-player-names", "data.num_player_names", Plain),
    flag("characters", "data.characters", List),
    flag("stages", "data.stages", List),
    flag("min-frames", "data.min_frames", Plain),
    flag("min-quality", "data.min_quality", Plain),
    flag("human-only", "data.human_only", Plain),
    flag("one-v-one", "data.one_v_one", Plain),
    flag("skip-duplicates", "data.skip_duplicates", Plain),
    flag("stream", "data.stream", Plain),
    flag("threads", "data.threads", Plain),
];

/// The flag of this name or alias (`batch-size`, `batch_size`, `--batch-size`, `hidden-sizes`).
pub fn find_flag(name: &str) -> Option<&'static Flag> {
    find_flag_in(FLAGS, name)
}

/// [`find_flag`] in another command's table.
pub fn find_flag_in(flags: &'static [Flag], name: &str) -> Option<&'static Flag> {
    let n = normalize(name);
    flags
        .iter()
        .find(|f| normalize(f.name) == n || f.aliases.iter().any(|a| normalize(a) == n))
}

/// The flag that sets this dotted config key, if any.
pub fn flag_for_key(key: &str) -> Option<&'static Flag> {
    flag_for_key_in(FLAGS, key)
}

/// [`flag_for_key`] in another command's table.
pub fn flag_for_key_in(flags: &'static [Flag], key: &str) -> Option<&'static Flag> {
    flags.iter().find(|f| f.key == key)
}

/// How to name a setting in a message: its flag and key (`--epochs (loop.epochs)`), or the key.
fn setting(key: &str) -> String {
    match flag_for_key(key) {
        Some(f) => format!("--{} ({key})", f.name),
        None => key.to_string(),
    }
}

/// Converts a value by its kind; `origin` and `key` name it in errors.
fn convert(kind: ValueKind, value: Value, origin: &str, key: &str) -> Result<Value, ConfigError> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(match (kind, value) {
        (Name, Value::String(s)) => Value::String(normalize(&s)),
        (List, Value::String(s)) => json!(split(&s)),
        (Paths, Value::String(s)) => json!([s]),
        (Widths, Value::String(s)) => {
            let mut widths = Vec::new();
            for part in split(&s) {
                let w: u64 = part.parse().map_err(|_| ConfigError::Value {
                    origin: origin.to_string(),
                    key: key.to_string(),
                    message: format!("`{part}` is not a layer width (write e.g. 256,256)"),
                })?;
                widths.push(w);
            }
            json!(widths)
        }
        (List | Paths | Widths, v @ (Value::Number(_) | Value::Bool(_))) => json!([v]),
        (_, v) => v,
    })
}

/// Sets a dotted key in a JSON object tree, creating objects on the way.
pub(crate) fn set_path(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    for part in key.split('.') {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        // Indexing an object by a missing key inserts null.
        node = &mut node[part];
    }
    *node = value;
}

/// The value at a dotted key, if present.
pub(crate) fn get_path<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |node, part| node.get(part))
}

/// The overlay of a list of `(flag name, value)` pairs (the flags the user gave), through
/// [`FLAGS`]. `origin` names the source in errors (e.g. `the command line`).
pub fn overlay_from_flags<'a>(
    origin: &str,
    flags: impl IntoIterator<Item = (&'a str, Value)>,
) -> Result<Value, ConfigError> {
    overlay_from_flags_in(FLAGS, origin, flags)
}

/// [`overlay_from_flags`] through another command's table.
pub fn overlay_from_flags_in<'a>(
    table: &'static [Flag],
    origin: &str,
    flags: impl IntoIterator<Item = (&'a str, Value)>,
) -> Result<Value, ConfigError> {
    let mut out = Value::Object(Map::new());
    for (name, value) in flags {
        let Some(f) = find_flag_in(table, name) else {
            return Err(ConfigError::UnknownKey {
                origin: origin.to_string(),
                key: format!("--{name}"),
                suggestion: did_you_mean(name, table.iter().map(|f| f.name))
                    .map(|s| format!("--{s}")),
            });
        };
        let v = convert(f.kind, value, origin, f.key)?;
        set_path(&mut out, f.key, v);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Presets

/// A named starting point: a partial config laid over the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The name given to `--preset`.
    pub name: &'static str,
    /// What it is for and what it sets.
    pub description: &'static str,
    /// The partial config (nested shape of [`TrainConfig`]).
    pub overlay: Value,
}

/// The `full` recipe on the MLP: residual + layer norm, AdamW, cosine decay with warmup, weight
/// EMA, early stopping on a 10% validation split, best checkpoint, every file.
fn full_overlay(hidden: &[usize], epochs: u32) -> Value {
    json!({
        "policy": {"backbone": {"type": "mlp", "hidden": hidden, "residual": true, "layer_norm": true}},
        "optim": {"optimizer": "adamw", "weight_decay": 0.01},
        "schedule": {"schedule": "cosine", "warmup_steps": 1000, "min_lr": 1e-6},
        "loop": {"epochs": epochs, "ema": true, "early_stopping": true, "patience": 5, "val_split": 0.1},
        "checkpoint": {"save_best": true},
        "data": {"max_files": null}
    })
}

/// The `full` preset: the `full` recipe on a temporal Mamba (width 256) over `window` frames.
fn full_temporal_overlay(window: usize) -> Value {
    let mut v = full_overlay(&[256, 256], 50);
    set_path(
        &mut v,
        "policy.backbone",
        json!({"type": "mamba", "hidden_size": 256, "window_size": window}),
    );
    v
}

/// The `strong-cpu` recipe (measured in the README's "How strong is it").
fn strong_cpu_overlay() -> Value {
    json!({
        "policy": {"backbone": {"type": "lstm", "hidden_size": 256, "num_layers": 1, "dropout": 0.1}},
        "optim": {"optimizer": "adam", "lr": 1e-3},
        "schedule": {"schedule": "cosine"},
        "loss": {"auto_pos_weight": false},
        "loop": {"epochs": 8, "max_grad_norm": 10.0, "val_split": 0.1, "ema": true},
        "data": {"augment": true, "noise_copies": 0, "embed_preset": "history"}
    })
}

/// The `full-cpu` settings.
fn full_cpu_overlay() -> Value {
    json!({
        "policy": {"backbone": {"type": "mlp", "hidden": [128, 128]}},
        "loop": {"epochs": 20, "batch_size": 128},
        "data": {"max_files": 100}
    })
}

/// Recursively merges `overlay` into `base`: objects merge key by key, anything else replaces.
/// Two objects whose `type` tags differ (a different backbone) replace rather than merge.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let retag = matches!(
                (b.get("type"), o.get("type")),
                (Some(Value::String(x)), Some(Value::String(y))) if x != y
            );
            if retag {
                *b = o.clone();
                return;
            }
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn character_preset(
    name: &'static str,
    character: &str,
    window: usize,
    description: &'static str,
) -> Preset {
    let mut overlay = full_temporal_overlay(window);
    merge(
        &mut overlay,
        &json!({"data": {"train_character": [character]}}),
    );
    Preset {
        name,
        description,
        overlay,
    }
}

/// Every preset, in the order `--help` lists them.
pub fn presets() -> Vec<Preset> {
    let mut gpu = full_overlay(&[512, 512], 50);
    merge(
        &mut gpu,
        &json!({"device": "gpu", "loop": {"batch_size": 512}}),
    );
    let mut gpu_large = full_overlay(&[1024, 1024, 512], 50);
    merge(
        &mut gpu_large,
        &json!({"device": "gpu", "loop": {"batch_size": 1024}}),
    );
    vec![
        Preset {
            name: "quick",
            description:
                "Fast iteration (minutes): 1 epoch on 5 files, a small MLP [32, 32], batch 64, \
                learning rate 1e-3 (one epoch at the default 1e-4 barely moves).",
            overlay: json!({
                "policy": {"backbone": {"type": "mlp", "hidden": [32, 32]}},
                "optim": {"lr": 1e-3},
                "loop": {"epochs": 1, "batch_size": 64},
                "data": {"max_files": 5}
            }),
        },
        Preset {
            name: "standard",
            description: "Balanced: 10 epochs on 50 files, MLP [64, 64].",
            overlay: json!({
                "policy": {"backbone": {"type": "mlp", "hidden": [64, 64]}},
                "loop": {"epochs": 10},
                "data": {"max_files": 50}
            }),
        },
        Preset {
            name: "full",
            description: "Maximum quality: a temporal Mamba (2 blocks, width 256) over 60-frame \
                windows, 50 epochs on every file, AdamW (weight decay 0.01), cosine decay after \
                1000 warmup steps to 1e-6, weight EMA, 10% validation with early stopping \
                (patience 5) and the best checkpoint kept. Slow on a CPU: see full-cpu.",
            overlay: full_temporal_overlay(60),
        },
        Preset {
            name: "strong-cpu",
            description: "The strongest policy two CPU cores train on about 40 games in 15 \
                minutes (dataset build included): an LSTM (1 layer, width 256) trained on \
                sequences (unrolls of 32 frames over 64 streams, the loss on every frame, the \
                state carried), Adam at 1e-3 with cosine decay, gradients clipped to norm 10, \
                the plain likelihood (no button weights), dropout 0.1 on the LSTM's output, a \
                weight EMA, the `history` embedding (the last 4 controllers), mirrored copies of \
                every game, 8 epochs, 10% of the games held out. \
                See the README's \"How strong is it\".",
            overlay: strong_cpu_overlay(),
        },
        Preset {
            name: "full-cpu",
            description: "Thorough on a CPU: 20 epochs on 100 files, MLP [128, 128], batch 128 \
                (larger batches cut per-batch overhead on CPUs).",
            overlay: full_cpu_overlay(),
        },
        Preset {
            name: "gpu",
            description: "The `full` training recipe on the first GPU of the build (`gpu`: cuda:0 in a `cuda` build, else vulkan:0) with batch \
                512 on a single-frame MLP [512, 512] with residual connections and layer norm: \
                larger batches use the GPU better.",
            overlay: gpu,
        },
        Preset {
            name: "gpu-large",
            description: "The `full` training recipe on the first GPU of the build (`gpu`) for large \
                cards (24 GB+) and large datasets: batch 1024, single-frame MLP [1024, 1024, 512].",
            overlay: gpu_large,
        },
        character_preset(
            "mewtwo",
            "mewtwo",
            90,
            "Mewtwo (the `full` recipe learning the port playing Mewtwo): complex recovery, so \
             a 90-frame window to see teleports through.",
        ),
        character_preset(
            "ganondorf",
            "ganondorf",
            60,
            "Ganondorf (the `full` recipe learning the port playing Ganondorf): spacing-focused, \
             60-frame window.",
        ),
        character_preset(
            "link",
            "link",
            75,
            "Link (the `full` recipe learning the port playing Link): projectiles and items, \
             75-frame window.",
        ),
        character_preset(
            "gameandwatch",
            "gnw",
            45,
            "Mr. Game & Watch (the `full` recipe learning the port playing Game & Watch): no \
             L-cancel, hammer RNG, 45-frame window.",
        ),
        character_preset(
            "zelda",
            "zelda",
            60,
            "Zelda (the `full` recipe learning the port that starts as Zelda): transforms into \
             Sheik (dual character), 60-frame window.",
        ),
    ]
}

/// The names of every preset.
pub fn preset_names() -> Vec<&'static str> {
    presets().iter().map(|p| p.name).collect()
}

/// The preset of this name; an unknown name is an error with the closest name.
pub fn preset(name: &str) -> Result<Preset, ConfigError> {
    preset_from(name, "--preset")
}

fn preset_from(name: &str, origin: &str) -> Result<Preset, ConfigError> {
    let all = presets();
    find_preset(&all, name, origin)
}

/// The preset of this name in `all` (any command's presets); an unknown name is an error
/// naming `origin`, the closest name and every preset.
pub fn find_preset(all: &[Preset], name: &str, origin: &str) -> Result<Preset, ConfigError> {
    let wanted = name.trim().to_lowercase();
    if let Some(p) = all.iter().find(|p| p.name == wanted) {
        return Ok(p.clone());
    }
    let names: Vec<&'static str> = all.iter().map(|p| p.name).collect();
    Err(ConfigError::UnknownPreset {
        origin: origin.to_string(),
        name: name.to_string(),
        suggestion: did_you_mean(name, names.iter().copied()).map(str::to_string),
        known: names,
    })
}

// ---------------------------------------------------------------------------------------------
// Layers and resolution

/// The sources of a training config, lowest precedence first: a preset, a config file, the
/// environment, the command line.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// `--preset NAME` (wins over the file's `preset:` and `EXPHIL_DEFAULT_PRESET`).
    pub preset: Option<String>,
    /// `--config FILE.yaml`.
    pub file: Option<PathBuf>,
    /// The environment (`EXPHIL_*`, and `HOME`/`USERPROFILE`/`XDG_*` for the Slippi folder);
    /// the caller passes `std::env::vars()` collected, tests a map of their own.
    pub env: BTreeMap<String, String>,
    /// The overlay of the flags given on the command line ([`overlay_from_flags`]); `null` or
    /// `{}` when none.
    pub cli: Value,
}

/// A resolved config (a training config unless said otherwise) and where each setting came
/// from.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved<C = TrainConfig> {
    /// The config.
    pub config: C,
    /// Dotted key of every setting some layer set -> that layer ([`FROM_PRESET`],
    /// [`FROM_FILE`], [`FROM_ENV`], [`FROM_CLI`], [`FROM_SLIPPI`]); the highest layer wins.
    pub sources: BTreeMap<String, String>,
}

impl<C> Resolved<C> {
    /// Where a setting came from: its layer, or [`FROM_DEFAULT`].
    pub fn source(&self, key: &str) -> &str {
        self.sources.get(key).map_or(FROM_DEFAULT, String::as_str)
    }
}

/// The defaults as JSON: the schema every layer is checked against.
fn defaults_json() -> Value {
    // Serializing plain structs with string-keyed maps cannot fail.
    serde_json::to_value(TrainConfig::default()).expect("TrainConfig serializes to JSON")
}

/// The top-level key `--temporal` sets: not a setting of its own but a request for a temporal
/// backbone, turned into `policy.backbone.type` while the layers are resolved.
pub const TEMPORAL_KEY: &str = "temporal";

/// The keys a layer may set, with their defaults: the defaults, with every backbone's settings
/// under `policy.backbone` (which of them apply depends on its `type`; where two backbones
/// differ, the first in [`BACKBONES`] shows, so `type` is `mlp`) and `temporal`.
pub fn key_schema() -> Value {
    let mut schema = defaults_json();
    let mut backbone = Map::new();
    for name in BACKBONES {
        if let Some(Ok(Value::Object(m))) =
            BackboneConfig::default_of(name).map(serde_json::to_value)
        {
            for (k, v) in m {
                backbone.entry(k).or_insert(v);
            }
        }
    }
    set_path(&mut schema, "policy.backbone", Value::Object(backbone));
    set_path(&mut schema, TEMPORAL_KEY, Value::Bool(false));
    schema
}

fn is_temporal(name: &str) -> bool {
    TEMPORAL_BACKBONES.contains(&name)
}

/// Turns a layer's `temporal` request into a backbone type: `true` keeps a temporal backbone
/// already chosen (by this layer or below) and otherwise picks `lstm`; `true` with `mlp` named
/// in the same layer is refused with the temporal choices; `false` goes back to `mlp`.
fn apply_temporal(overlay: &mut Value, current: &Value, origin: &str) -> Result<(), ConfigError> {
    let Some(request) = overlay.as_object_mut().and_then(|m| m.remove(TEMPORAL_KEY)) else {
        return Ok(());
    };
    let on = match request {
        Value::Bool(b) => b,
        Value::Null => return Ok(()),
        other => {
            return Err(ConfigError::Value {
                origin: origin.to_string(),
                key: TEMPORAL_KEY.into(),
                message: format!("must be true or false, not {other}"),
            })
        }
    };
    let named = get_path(overlay, "policy.backbone.type")
        .and_then(Value::as_str)
        .map(str::to_string);
    let below = get_path(current, "policy.backbone.type")
        .and_then(Value::as_str)
        .unwrap_or("mlp");
    let choices = TEMPORAL_BACKBONES.join(", ");
    match (on, named) {
        (true, Some(n)) if !is_temporal(&n) => Err(ConfigError::Value {
            origin: origin.to_string(),
            key: "policy.backbone.type".into(),
            message: format!(
                "--temporal with backbone `{n}`: `{n}` reads single frames; did you mean \
                 --backbone lstm (or one of {choices})? Drop --temporal to train the `{n}`."
            ),
        }),
        (false, Some(n)) if is_temporal(&n) => Err(ConfigError::Value {
            origin: origin.to_string(),
            key: TEMPORAL_KEY.into(),
            message: format!("temporal is off but the backbone `{n}` is temporal"),
        }),
        (true, None) if !is_temporal(below) => {
            set_path(overlay, "policy.backbone.type", json!("lstm"));
            Ok(())
        }
        (false, None) if is_temporal(below) => {
            set_path(overlay, "policy.backbone.type", json!("mlp"));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The dotted keys of every leaf (non-object value) in an overlay.
pub(crate) fn leaf_keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(v, &key, out);
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Checks every key of an overlay against the schema (the defaults), with a did-you-mean on the
/// first unknown one.
pub(crate) fn check_keys(
    overlay: &Value,
    schema: &Value,
    path: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    let Value::Object(o) = overlay else {
        return Ok(());
    };
    let Value::Object(s) = schema else {
        return Ok(());
    };
    for (k, v) in o {
        let key = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match s.get(k) {
            Some(sub @ Value::Object(_)) => {
                if !v.is_object() {
                    return Err(ConfigError::Value {
                        origin: origin.to_string(),
                        key,
                        message: format!("must be a mapping of settings, not {v}"),
                    });
                }
                check_keys(v, sub, &key, origin)?;
            }
            Some(_) => {}
            None => {
                let suggestion = did_you_mean(k, s.keys().map(String::as_str)).map(|c| {
                    if path.is_empty() {
                        c.to_string()
                    } else {
                        format!("{path}.{c}")
                    }
                });
                return Err(ConfigError::UnknownKey {
                    origin: origin.to_string(),
                    key,
                    suggestion,
                });
            }
        }
    }
    Ok(())
}

/// The sections of the nested config shape (objects at the top of [`TrainConfig`]).
fn sections(schema: &Value) -> Vec<String> {
    schema
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.is_object())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A config file's overlay and the preset it names. The file is YAML (JSON is YAML too) in the
/// nested shape of [`TrainConfig`]; flat seed-style keys (`epochs: 5`, `batch_size: 32`,
/// `hidden: [64, 64]`) are accepted at the top level through [`FLAGS`].
pub fn read_config_file(path: &Path) -> Result<(Value, Option<String>), ConfigError> {
    read_config_file_with(path, &key_schema(), FLAGS)
}

/// [`read_config_file`] for another command's config: `schema` is its key schema (its
/// defaults as JSON), `flags` the flag table its flat keys go through.
pub fn read_config_file_with(
    path: &Path,
    schema: &Value,
    flags: &'static [Flag],
) -> Result<(Value, Option<String>), ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Read at most one byte past the limit: a larger file is refused without reading it all.
    // A device or pipe named as a config is refused, never read (a FIFO would block).
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "not a regular file".into(),
            })
        }
        _ => {}
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "larger than {} KiB: a config file holds settings, not data",
                MAX_CONFIG_BYTES >> 10
            ),
        });
    }
    parse_config_text_with(&text, path, schema, flags)
}

/// The largest config file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The deepest `[`/`{` nesting a config file may have.
pub const MAX_CONFIG_NESTING: usize = 64;

/// The line where `[`/`{` nesting (outside quoted strings and comments) first goes beyond
/// `limit`, and the limit; `None` when it never does.
fn flow_nesting_beyond(text: &str, limit: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut prev = '\n';
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' if prev.is_whitespace() => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '"' | '\'' if prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':') => {
                // A quoted scalar (quotes inside a plain scalar, as in `don't`, are text): a
                // double-quoted one has backslash escapes, a single-quoted one doubles quotes.
                while let Some(n) = chars.next() {
                    match n {
                        '\\' if c == '"' => {
                            chars.next();
                        }
                        '\n' => line += 1,
                        // '' is a quote inside a single-quoted scalar.
                        '\'' if c == '\'' && chars.peek() == Some(&'\'') => {
                            chars.next();
                        }
                        n if n == c => break,
                        _ => {}
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Some((line, limit));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    None
}

/// The YAML document of `text`, refusing a mapping that names a key twice (YAML readers
/// disagree on which one wins).
fn yaml_without_duplicates(text: &str, path: &Path) -> Result<Value, ConfigError> {
    let yaml = |message: String| ConfigError::Yaml {
        path: path.to_path_buf(),
        message,
    };
    // The YAML reader takes time quadratic in bracket nesting (100,000 levels: 20 s) before
    // its own recursion limit speaks: deep flow nesting is refused first.
    if let Some((line, depth)) = flow_nesting_beyond(text, MAX_CONFIG_NESTING) {
        return Err(yaml(format!(
            "brackets nested deeper than {depth} levels at line {line}: a config nests a few"
        )));
    }
    // serde_yaml's own value type refuses duplicate keys; serde_json's map would keep the last.
    let doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml(e.to_string()))?;
    // JSON has no NaN or infinity: say which setting holds one instead of "invalid type: null".
    fn non_finite(v: &serde_yaml::Value, at: &str) -> Option<String> {
        match v {
            serde_yaml::Value::Number(n) if n.as_f64().is_some_and(|x| !x.is_finite()) => {
                Some(format!("`{at}` is {n}: settings are finite numbers"))
            }
            serde_yaml::Value::Sequence(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| non_finite(x, &format!("{at}[{i}]"))),
            serde_yaml::Value::Mapping(m) => m.iter().find_map(|(k, x)| {
                let k = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
                let key = if at.is_empty() {
                    k
                } else {
                    format!("{at}.{k}")
                };
                non_finite(x, &key)
            }),
            _ => None,
        }
    }
    if let Some(why) = non_finite(&doc, "") {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: why,
        });
    }
    serde_json::to_value(&doc).map_err(|e| yaml(e.to_string()))
}

/// [`read_config_file`] on text already read; `path` names it in errors.
pub fn parse_config_text(text: &str, path: &Path) -> Result<(Value, Option<String>), ConfigError> {
    parse_config_text_with(text, path, &key_schema(), FLAGS)
}

/// [`parse_config_text`] for another command's config (see [`read_config_file_with`]).
pub fn parse_config_text_with(
    text: &str,
    path: &Path,
    schema: &Value,
    flags: &'static [Flag],
) -> Result<(Value, Option<String>), ConfigError> {
    let origin = path.display().to_string();
    let doc = yaml_without_duplicates(text, path)?;
    let map = match doc {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        other => {
            return Err(ConfigError::Yaml {
                path: path.to_path_buf(),
                message: format!("the top level must be a mapping of settings, not {other}"),
            })
        }
    };
    let sections = sections(schema);
    let mut nested = Value::Object(Map::new());
    let mut flat = Value::Object(Map::new());
    let mut preset = None;
    for (k, v) in map {
        if k == "preset" {
            match v {
                Value::String(s) => preset = Some(s),
                Value::Null => {}
                other => {
                    return Err(ConfigError::Value {
                        origin,
                        key: k,
                        message: format!("must be a preset name, not {other}"),
                    })
                }
            }
        } else if sections.contains(&k) {
            set_path(&mut nested, &k, v);
        } else if let Some(f) = find_flag_in(flags, &k) {
            let v = convert(f.kind, v, &origin, f.key)?;
            if get_path(&flat, f.key).is_some() {
                return Err(ConfigError::Value {
                    origin,
                    key: k,
                    message: format!("{} is set twice", f.key),
                });
            }
            set_path(&mut flat, f.key, v);
        } else {
            let mut candidates: Vec<String> = flags.iter().map(|f| normalize(f.name)).collect();
            candidates.extend(sections.iter().cloned());
            candidates.push("preset".into());
            let suggestion =
                did_you_mean(&k, candidates.iter().map(String::as_str)).map(str::to_string);
            return Err(ConfigError::UnknownKey {
                origin,
                key: k,
                suggestion,
            });
        }
    }
    check_keys(&nested, schema, "", &origin)?;
    let mut flat_keys = Vec::new();
    leaf_keys(&flat, "", &mut flat_keys);
    for key in flat_keys {
        if get_path(&nested, &key).is_some() {
            let name = flag_for_key_in(flags, &key).map_or(key.as_str(), |f| f.name);
            return Err(ConfigError::Value {
                origin,
                key: key.clone(),
                message: format!(
                    "set twice, as `{}` and nested under `{}`",
                    normalize(name),
                    key.split('.').next().unwrap_or_default()
                ),
            });
        }
    }
    merge(&mut nested, &flat);
    Ok((nested, preset))
}

/// The Slippi Launcher's default replay folder for an operating system (`linux`, `macos`,
/// `windows`, as `std::env::consts::OS` names them), from the environment, whether or not it
/// exists: `<Documents>/Slippi`, where Documents is `%USERPROFILE%\Documents` on Windows,
/// `$HOME/Documents` on macOS, and on other systems `$XDG_DOCUMENTS_DIR`, else the
/// `XDG_DOCUMENTS_DIR` line of `$XDG_CONFIG_HOME/user-dirs.dirs` (default
/// `$HOME/.config/user-dirs.dirs`), else `$HOME/Documents`.
pub fn slippi_replays_dir(os: &str, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let var = |k: &str| env.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    match os {
        "windows" => {
            let profile = var("USERPROFILE").map(PathBuf::from).or_else(|| {
                Some(PathBuf::from(format!(
                    "{}{}",
                    var("HOMEDRIVE")?,
                    var("HOMEPATH")?
                )))
            })?;
            Some(profile.join("Documents").join("Slippi"))
        }
        "macos" => Some(PathBuf::from(var("HOME")?).join("Documents").join("Slippi")),
        _ => {
            let home = var("HOME").map(PathBuf::from);
            if let Some(docs) = var("XDG_DOCUMENTS_DIR") {
                return Some(expand_home(docs, home.as_deref())?.join("Slippi"));
            }
            let home = home?;
            let config = var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"));
            let docs = std::fs::read_to_string(config.join("user-dirs.dirs"))
                .ok()
                .and_then(|text| user_dirs_documents(&text, &home))
                .unwrap_or_else(|| home.join("Documents"));
            Some(docs.join("Slippi"))
        }
    }
}

/// `$HOME/x` or `~/x` with the home directory put in; `None` when it needs a home and has none.
fn expand_home(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    for prefix in ["$HOME", "${HOME}", "~"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some(home?.join(rest.trim_start_matches('/')));
            }
        }
    }
    Some(PathBuf::from(path))
}

/// The `XDG_DOCUMENTS_DIR="$HOME/Documents"` line of a `user-dirs.dirs` file.
fn user_dirs_documents(text: &str, home: &Path) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("XDG_DOCUMENTS_DIR=")?;
        let value = value.trim().trim_matches('"');
        expand_home(value, Some(home))
    })
}

/// The Slippi Launcher's default replay folder on this operating system, if it exists
/// ([`slippi_replays_dir`] with `std::env::consts::OS`).
pub fn slippi_default_replays(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    slippi_replays_dir(std::env::consts::OS, env).filter(|p| p.is_dir())
}

/// Settings that are one choice: a layer that sets some of a group resets the rest of the group
/// to their defaults, so a higher layer's choice replaces a lower layer's instead of
/// contradicting it (`--dataset` over a file's replays, `--player-port 1` over the `mewtwo`
/// preset's `train_character`).
pub const CHOICES: &[&[&str]] = &[
    &["data.replays", "data.dataset"],
    &["data.player_port", "data.train_character", "data.dual_port"],
];

/// Whether a value counts as set for [`CHOICES`]: not null, not an empty list, not `false`.
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// Whether an overlay names a dataset (`data.dataset` not null).
fn names_dataset(overlay: &Value) -> bool {
    get_path(overlay, "data.dataset").is_some_and(|v| !v.is_null())
}

/// Whether an overlay names replays (`data.replays` a non-empty list).
fn names_replays(overlay: &Value) -> bool {
    get_path(overlay, "data.replays").is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
}

/// The layer of a chosen preset (its keys checked against `keys`), tagged as [`FROM_PRESET`].
pub fn preset_layer(
    preset: Option<&Preset>,
    keys: &Value,
) -> Result<Option<(&'static str, String, Value)>, ConfigError> {
    let Some(p) = preset else {
        return Ok(None);
    };
    let origin = format!("preset `{}`", p.name);
    check_keys(&p.overlay, keys, "", &origin)?;
    Ok(Some((FROM_PRESET, origin, p.overlay.clone())))
}

/// The file and command-line layers of a command whose keys are `keys` and flags `flags`: the
/// file's overlay (read and checked), the preset it names, its name for messages, and the
/// command line's overlay with its keys checked.
pub fn file_and_cli(
    layers: &Layers,
    keys: &Value,
    flags: &'static [Flag],
) -> Result<(Value, Option<String>, String, Value), ConfigError> {
    let (file, file_preset) = match &layers.file {
        Some(path) => read_config_file_with(path, keys, flags)?,
        None => (Value::Object(Map::new()), None),
    };
    let file_origin = layers
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cli = match &layers.cli {
        Value::Null => Value::Object(Map::new()),
        v => v.clone(),
    };
    check_keys(&cli, keys, "", "the command line")?;
    Ok((file, file_preset, file_origin, cli))
}

/// Resolves the layers into a config: defaults, then the preset (from `--preset`, else the
/// file's `preset:`, else `EXPHIL_DEFAULT_PRESET`), then the file, then the environment
/// (`EXPHIL_CHECKPOINTS_DIR` -> `checkpoint.dir`; `EXPHIL_REPLAYS_DIR` -> `data.replays` unless
/// the file or command line names a dataset), then the command line. Replays and a dataset are
/// one choice, and so are a player port, training characters and dual port ([`CHOICES`]): a
/// layer that sets some of a group resets the others from the layers below.
/// With neither after all layers, the Slippi Launcher's replay folder is used if it exists
/// ([`slippi_default_replays`]), else [`ConfigError::NoReplays`]. Unknown keys are refused with
/// a did-you-mean; a value of the wrong type is refused naming its key and layer. The result is
/// not validated: call [`validate`].
pub fn resolve(layers: &Layers) -> Result<Resolved, ConfigError> {
    let schema = defaults_json();
    let keys = key_schema();
    let (file, file_preset, file_origin, cli) = file_and_cli(layers, &keys, FLAGS)?;

    let env_var = |k: &str| {
        layers
            .env
            .get(k)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let (preset_name, preset_source, preset_origin) = if let Some(n) = &layers.preset {
        (Some(n.clone()), FROM_CLI, "--preset".to_string())
    } else if let Some(n) = file_preset {
        (Some(n), FROM_FILE, format!("{file_origin}: preset"))
    } else if let Some(n) = env_var(ENV_DEFAULT_PRESET) {
        (
            Some(n.to_string()),
            FROM_ENV,
            ENV_DEFAULT_PRESET.to_string(),
        )
    } else {
        (None, FROM_DEFAULT, String::new())
    };
    let preset = preset_name
        .as_deref()
        .map(|n| preset_from(n, &preset_origin))
        .transpose()?;

    let mut env = Value::Object(Map::new());
    if let Some(dir) = env_var(ENV_CHECKPOINTS_DIR) {
        set_path(&mut env, "checkpoint.dir", json!(dir));
    }
    if let Some(dir) = env_var(ENV_REPLAYS_DIR) {
        if !names_dataset(&file) && !names_dataset(&cli) {
            set_path(&mut env, "data.replays", json!([dir]));
        }
    }

    let mut layered: Vec<(&str, String, Value)> =
        preset_layer(preset.as_ref(), &keys)?.into_iter().collect();
    layered.push((FROM_FILE, file_origin, file));
    layered.push((FROM_ENV, "the environment".into(), env));
    layered.push((FROM_CLI, "the command line".into(), cli));

    let mut value = schema.clone();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    for (layer, origin, overlay) in &layered {
        for group in CHOICES {
            if group.iter().any(|k| is_set(get_path(overlay, k))) {
                for k in group.iter().filter(|k| !is_set(get_path(overlay, k))) {
                    let default = get_path(&schema, k).cloned().unwrap_or(Value::Null);
                    set_path(&mut value, k, default);
                    sources.remove(*k);
                    origins.remove(*k);
                }
            }
        }
        let mut overlay = overlay.clone();
        apply_temporal(&mut overlay, &value, origin)?;
        let tag = |v: &Value| {
            get_path(v, "policy.backbone.type")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if tag(&overlay).is_some_and(|t| Some(t) != tag(&value)) {
            // A different backbone replaces the settings of the one below.
            sources.retain(|k, _| !k.starts_with("policy.backbone."));
            origins.retain(|k, _| !k.starts_with("policy.backbone."));
        }
        merge(&mut value, &overlay);
        let mut keys = Vec::new();
        leaf_keys(&overlay, "", &mut keys);
        for key in keys {
            sources.insert(key.clone(), layer.to_string());
            origins.insert(key, origin.clone());
        }
    }
    if let Some(p) = &preset {
        value["preset"] = json!(p.name);
        sources.insert("preset".into(), preset_source.to_string());
    }

    if !names_replays(&value) && !names_dataset(&value) {
        match slippi_default_replays(&layers.env) {
            Some(dir) => {
                set_path(&mut value, "data.replays", json!([dir.to_string_lossy()]));
                sources.insert("data.replays".into(), FROM_SLIPPI.into());
            }
            None => {
                return Err(ConfigError::NoReplays {
                    looked_in: slippi_replays_dir(std::env::consts::OS, &layers.env),
                })
            }
        }
    }

    // Probe settings one by one over the defaults of the backbone the layers chose.
    let mut probe_base = schema.clone();
    if let Some(Ok(b)) = get_path(&value, "policy.backbone.type")
        .and_then(Value::as_str)
        .and_then(BackboneConfig::default_of)
        .map(serde_json::to_value)
    {
        set_path(&mut probe_base, "policy.backbone", b);
    }
    let config = match serde_json::from_value::<TrainConfig>(value) {
        Ok(c) => c,
        Err(whole) => {
            return Err(locate_value_error::<TrainConfig>(
                &layered,
                &origins,
                &probe_base,
                whole,
            ))
        }
    };
    Ok(Resolved { config, sources })
}

/// Names the setting (and its layer) behind a failed deserialization: each set leaf is tried
/// alone over the defaults.
pub(crate) fn locate_value_error<C: serde::de::DeserializeOwned>(
    layered: &[(&str, String, Value)],
    origins: &BTreeMap<String, String>,
    schema: &Value,
    whole: serde_json::Error,
) -> ConfigError {
    for (key, origin) in origins {
        let Some(v) = layered
            .iter()
            .rev()
            .find_map(|(_, _, overlay)| get_path(overlay, key))
        else {
            continue;
        };
        let mut probe = schema.clone();
        set_path(&mut probe, key, v.clone());
        if let Err(e) = serde_json::from_value::<C>(probe) {
            let mut message = e.to_string();
            message.push_str(&backbone_hint(key, schema));
            return ConfigError::Value {
                origin: origin.clone(),
                key: key.clone(),
                message,
            };
        }
    }
    ConfigError::Value {
        origin: "the resolved config".into(),
        key: String::new(),
        message: whole.to_string(),
    }
}

/// Why a backbone setting does not fit the chosen backbone, in words (empty for other keys).
fn backbone_hint(key: &str, probe: &Value) -> String {
    let Some(setting) = key.strip_prefix("policy.backbone.") else {
        return String::new();
    };
    let chosen = get_path(probe, "policy.backbone.type")
        .and_then(Value::as_str)
        .unwrap_or("mlp");
    if setting == "type" {
        return format!("; the backbones are {}", BACKBONES.join(", "));
    }
    let owners: Vec<&str> = BACKBONES
        .iter()
        .copied()
        .filter(|b| {
            BackboneConfig::default_of(b)
                .and_then(|d| serde_json::to_value(d).ok())
                .is_some_and(|v| v.get(setting).is_some())
        })
        .collect();
    if owners.is_empty() || owners.contains(&chosen) {
        return String::new();
    }
    let flag = flag_for_key(key).map_or(setting.to_string(), |f| format!("--{}", f.name));
    if chosen == "mlp" {
        format!(
            "; {flag} is a setting of the temporal backbones ({}): add --temporal (an lstm) or \
             --backbone {}",
            owners.join(", "),
            owners[0]
        )
    } else {
        let mlp_hint = if setting == "hidden" {
            " (temporal backbones take one width: --hidden-size)"
        } else {
            ""
        };
        format!(
            "; {flag} does not apply to the {chosen} backbone, only to {}{mlp_hint}",
            owners.join(", ")
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Whether a device name is `cpu`, `gpu` (the first GPU of the build: what the GPU presets
/// use), `cuda:N`, `vulkan`, `vulkan:N` or `vulkan:cpu`.
pub fn valid_device(device: &str) -> bool {
    let index = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit());
    device == "cpu"
        || device == "gpu"
        || device == "vulkan"
        || device.strip_prefix("cuda:").is_some_and(index)
        || device
            .strip_prefix("vulkan:")
            .is_some_and(|n| n == "cpu" || index(n))
}

/// The checks of a temporal backbone's settings.
fn validate_temporal(
    b: &BackboneConfig,
    seq: &crate::config::SequenceConfig,
    bad: &mut Vec<String>,
    warn: &mut Vec<String>,
) {
    let s = setting;
    let k = |name: &str| format!("policy.backbone.{name}");
    let Some(w) = b.temporal() else {
        return;
    };
    if seq.enabled {
        let q = |name: &str| format!("loop.sequence.{name}");
        for (name, v) in [
            ("unroll", seq.unroll),
            ("segment_frames", seq.segment_frames),
            ("streams", seq.streams),
        ] {
            if v == 0 {
                bad.push(format!("{} must be at least 1", s(&q(name))));
            }
        }
        if seq.unroll > 0 && !seq.segment_frames.is_multiple_of(seq.unroll) {
            bad.push(format!(
                "{} ({}) must be a multiple of {} ({}): segments are whole unrolls",
                s(&q("segment_frames")),
                seq.segment_frames,
                s(&q("unroll")),
                seq.unroll
            ));
        }
        if w.stride != 1 && w.stride != w.window_size {
            warn.push(format!(
                "{} has no effect in sequence training (every frame is scored); add --windowed \
                 to train on windows",
                s(&k("stride"))
            ));
        }
    }
    for (name, v) in [
        ("window_size", w.window_size),
        ("stride", w.stride),
        ("num_layers", w.num_layers),
        ("hidden_size", w.hidden_size),
    ] {
        if v == 0 {
            bad.push(format!("{} must be at least 1", s(&k(name))));
        }
    }
    if w.window_size > 120 {
        warn.push(format!(
            "{} = {} frames: windows over 120 frames cost much memory and time per example",
            s(&k("window_size")),
            w.window_size
        ));
    }
    if w.stride > w.window_size && w.window_size > 0 {
        warn.push(format!(
            "{} ({}) is longer than the window ({}): frames between windows are never trained on",
            s(&k("stride")),
            w.stride,
            w.window_size
        ));
    }
    if !(w.dropout.is_finite() && (0.0..1.0).contains(&w.dropout)) {
        bad.push(format!(
            "{} must be in [0, 1), not {}",
            s("policy.backbone.dropout"),
            w.dropout
        ));
    }
    if let Some(t) = b.truncate_bptt() {
        if t == 0 {
            bad.push(format!("{} must be at least 1", s(&k("truncate_bptt"))));
        } else if seq.enabled && t >= seq.unroll {
            warn.push(format!(
                "{} ({t}) is not shorter than the unroll ({}): it has no effect",
                s(&k("truncate_bptt")),
                seq.unroll
            ));
        } else if !seq.enabled && t >= w.window_size {
            warn.push(format!(
                "{} ({t}) is not shorter than the window ({}): it has no effect",
                s(&k("truncate_bptt")),
                w.window_size
            ));
        }
    }
    if let Some(a) = b.attention() {
        if a.num_heads == 0 {
            bad.push(format!("{} must be at least 1", s(&k("num_heads"))));
        } else if w.hidden_size % a.num_heads != 0 || (w.hidden_size / a.num_heads) % 2 != 0 {
            bad.push(format!(
                "{} ({}) must divide {} ({}) into heads of an even width (rotary positions \
                 rotate pairs of dimensions)",
                s(&k("num_heads")),
                a.num_heads,
                s(&k("hidden_size")),
                w.hidden_size
            ));
        }
        if a.sliding_window == Some(0) {
            bad.push(format!("{} must be at least 1", s(&k("sliding_window"))));
        }
        if a.chunk_size == Some(0) {
            bad.push(format!("{} must be at least 1", s(&k("chunk_size"))));
        }
    }
    if let Some(m) = b.ssm() {
        for (name, v) in [
            ("state_size", m.state_size),
            ("expand_factor", m.expand_factor),
            ("conv_size", m.conv_size),
        ] {
            if v == 0 {
                bad.push(format!("{} must be at least 1", s(&k(name))));
            }
        }
    }
    if let BackboneConfig::Jamba(j) = b {
        if j.attention_every == 0 {
            bad.push(format!("{} must be at least 1", s(&k("attention_every"))));
        } else if j.attention_every > j.num_layers {
            warn.push(format!(
                "{} ({}) is more than {} ({}): no attention block, this is a plain Mamba",
                s(&k("attention_every")),
                j.attention_every,
                s(&k("num_layers")),
                j.num_layers
            ));
        }
    }
}

/// Checks a config, refusing invalid settings and combinations with every reason found
/// ([`ConfigError::Invalid`]); returns warnings about settings that have no effect.
pub fn validate(c: &TrainConfig) -> Result<Vec<String>, ConfigError> {
    let mut bad: Vec<String> = Vec::new();
    let mut warn: Vec<String> = Vec::new();
    let s = setting;
    let in_unit = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);

    if !valid_device(&c.device) {
        bad.push(format!(
            "{} must be `cpu`, `gpu`, `cuda:N`, `vulkan`, `vulkan:N` (N a GPU index) or `vulkan:cpu`, not `{}`",
            s("device"),
            c.device
        ));
    }

    // Model.
    match &c.policy.backbone {
        BackboneConfig::Mlp(m) => {
            if m.hidden.is_empty() {
                bad.push(format!(
                    "{} needs at least one layer width",
                    s("policy.backbone.hidden")
                ));
            } else if m.hidden.contains(&0) {
                bad.push(format!(
                    "{} widths must be at least 1, not {:?}",
                    s("policy.backbone.hidden"),
                    m.hidden
                ));
            }
            if !in_unit(m.dropout) {
                bad.push(format!(
                    "{} must be in [0, 1), not {}",
                    s("policy.backbone.dropout"),
                    m.dropout
                ));
            }
        }
        _ => validate_temporal(&c.policy.backbone, &c.train.sequence, &mut bad, &mut warn),
    }
    bad.extend(c.policy.size_problems());
    for (kind, &dim) in &c.policy.id_dims {
        if dim == 0 {
            bad.push(format!("policy.id_dims.{kind} must be at least 1"));
        }
    }
    if c.policy.default_id_dim == 0 {
        bad.push("policy.default_id_dim must be at least 1".into());
    }

    // Optimiser.
    let o = &c.optim;
    if !(o.lr.is_finite() && o.lr > 0.0) {
        bad.push(format!(
            "{} must be a finite number > 0, not {}",
            s("optim.lr"),
            o.lr
        ));
    }
    if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
        bad.push(format!(
            "{} must be finite and >= 0, not {}",
            s("optim.weight_decay"),
            o.weight_decay
        ));
    }
    for (key, v) in [
        ("optim.beta1", o.beta1),
        ("optim.beta2", o.beta2),
        ("optim.momentum", o.momentum),
    ] {
        if !in_unit(v) {
            bad.push(format!("{} must be in [0, 1), not {v}", s(key)));
        }
    }
    if !(o.eps.is_finite() && o.eps > 0.0) {
        bad.push(format!("optim.eps must be finite and > 0, not {}", o.eps));
    }
    if o.nesterov && o.optimizer != OptimizerKind::Sgd {
        warn.push("--nesterov only affects --optimizer sgd; it is ignored".into());
    }
    if o.optimizer == OptimizerKind::Sgd && o.nesterov && o.momentum == 0.0 {
        bad.push("--nesterov needs --momentum > 0".into());
    }

    // Schedule.
    let sc = &c.schedule;
    if !(sc.min_lr.is_finite() && sc.min_lr >= 0.0) {
        bad.push(format!(
            "{} must be finite and >= 0, not {}",
            s("schedule.min_lr"),
            sc.min_lr
        ));
    } else if sc.schedule != ScheduleKind::Constant && o.lr.is_finite() && sc.min_lr > o.lr {
        bad.push(format!(
            "{} ({}) is above the peak --lr ({}): the schedule would raise the rate",
            s("schedule.min_lr"),
            sc.min_lr,
            o.lr
        ));
    }
    if sc.decay_steps == Some(0) {
        bad.push(format!("{} must be at least 1", s("schedule.decay_steps")));
    }
    if let Some(decay) = sc.decay_steps {
        if matches!(sc.schedule, ScheduleKind::Linear | ScheduleKind::Cosine)
            && decay > 0
            && sc.warmup_steps >= decay
        {
            bad.push(format!(
                "{} ({}) must be shorter than {} ({decay})",
                s("schedule.warmup_steps"),
                sc.warmup_steps,
                s("schedule.decay_steps")
            ));
        }
    }
    if sc.schedule == ScheduleKind::CosineRestarts && sc.restart_period == 0 {
        bad.push(format!(
            "{} must be at least 1",
            s("schedule.restart_period")
        ));
    }
    if !(sc.restart_mult.is_finite() && sc.restart_mult >= 1.0) {
        bad.push(format!(
            "{} must be >= 1 (periods never shrink), not {}",
            s("schedule.restart_mult"),
            sc.restart_mult
        ));
    }
    if !(sc.gamma.is_finite() && sc.gamma > 0.0 && sc.gamma <= 1.0) {
        bad.push(format!(
            "{} must be in (0, 1], not {}",
            s("schedule.gamma"),
            sc.gamma
        ));
    }
    if !(sc.plateau_factor.is_finite() && sc.plateau_factor > 0.0 && sc.plateau_factor < 1.0) {
        bad.push(format!(
            "{} must be in (0, 1), not {}",
            s("schedule.plateau_factor"),
            sc.plateau_factor
        ));
    }

    // Loss.
    let l = &c.loss;
    if !in_unit(l.label_smoothing) {
        bad.push(format!(
            "{} must be in [0, 1), not {}",
            s("loss.label_smoothing"),
            l.label_smoothing
        ));
    }
    if !(l.focal_gamma.is_finite() && l.focal_gamma >= 0.0) {
        bad.push(format!(
            "{} must be finite and >= 0, not {}",
            s("loss.focal_gamma"),
            l.focal_gamma
        ));
    }
    if !(l.max_pos_weight.is_finite() && l.max_pos_weight > 0.0) {
        bad.push(format!(
            "{} must be finite and > 0, not {}",
            s("loss.max_pos_weight"),
            l.max_pos_weight
        ));
    }

    // Loop.
    let t = &c.train;
    for (key, v) in [
        ("loop.epochs", t.epochs as usize),
        ("loop.batch_size", t.batch_size),
        ("loop.accumulation_steps", t.accumulation_steps),
        ("loop.log_interval", t.log_interval),
        ("loop.max_bad_steps", t.max_bad_steps as usize),
    ] {
        if v == 0 {
            bad.push(format!("{} must be at least 1", s(key)));
        }
    }
    if t.max_batches == Some(0) {
        bad.push(format!("{} must be at least 1", s("loop.max_batches")));
    }
    if !(t.max_grad_norm.is_finite() && t.max_grad_norm >= 0.0) {
        bad.push(format!(
            "{} must be finite and >= 0 (0 disables clipping), not {}",
            s("loop.max_grad_norm"),
            t.max_grad_norm
        ));
    }
    if !(t.ema_decay.is_finite() && t.ema_decay > 0.0 && t.ema_decay < 1.0) {
        bad.push(format!(
            "{} must be in (0, 1), not {}",
            s("loop.ema_decay"),
            t.ema_decay
        ));
    }
    if !(t.min_delta.is_finite() && t.min_delta >= 0.0) {
        bad.push(format!(
            "{} must be finite and >= 0, not {}",
            s("loop.min_delta"),
            t.min_delta
        ));
    }
    if !(t.recovery_lr_factor.is_finite()
        && t.recovery_lr_factor > 0.0
        && t.recovery_lr_factor <= 1.0)
    {
        bad.push(format!(
            "loop.recovery_lr_factor must be in (0, 1], not {}",
            t.recovery_lr_factor
        ));
    }
    if !in_unit(t.val_split) {
        bad.push(format!(
            "{} must be in [0, 1), not {}",
            s("loop.val_split"),
            t.val_split
        ));
    } else if t.val_split == 0.0 && t.val_games.is_empty() {
        if t.early_stopping {
            bad.push("--early-stopping needs validation data: set --val-split (e.g. 0.1)".into());
        }
        if sc.schedule == ScheduleKind::Plateau {
            bad.push(
                "--lr-schedule plateau needs validation data: set --val-split (e.g. 0.1)".into(),
            );
        }
        if c.checkpoint.save_best {
            warn.push(
                "--save-best has no validation loss to track (--val-split 0): no best checkpoint \
                 will be written"
                    .into(),
            );
        }
    }
    if t.early_stopping && t.patience == 0 {
        bad.push(format!(
            "{} must be at least 1 with --early-stopping",
            s("loop.patience")
        ));
    }

    // Checkpoints.
    let k = &c.checkpoint;
    if k.dir.trim().is_empty() {
        bad.push(format!("{} must not be empty", s("checkpoint.dir")));
    }
    if let Some(name) = &k.name {
        if let Some(why) = bad_run_name(name) {
            bad.push(format!("{} `{name}` {why}", s("checkpoint.name")));
        }
    }
    if k.save_every == Some(0) {
        bad.push(format!("{} must be at least 1", s("checkpoint.save_every")));
    }
    if k.save_every_batches == Some(0) {
        bad.push(format!(
            "{} must be at least 1",
            s("checkpoint.save_every_batches")
        ));
    }
    if k.save_every.is_some() && k.keep_last == 0 {
        bad.push("--keep-last 0 with --save-every would delete every checkpoint it writes".into());
    }
    if k.overwrite && k.backup && k.backup_count == 0 {
        bad.push("--backup-count must be at least 1 with --backup (or pass --no-backup)".into());
    }
    if k.tags.iter().any(|t| t.trim().is_empty()) {
        bad.push(format!(
            "{} must not contain empty tags",
            s("checkpoint.tags")
        ));
    }

    // Data.
    let d = &c.data;
    match (d.replays.is_empty(), d.dataset.is_some()) {
        (false, true) => bad.push(
            "--replays and --dataset are two sources of examples: give one or the other".into(),
        ),
        (true, false) => bad.push(format!(
            "no replays to train on: pass --replays DIR, set {ENV_REPLAYS_DIR}, or pass --dataset DIR"
        )),
        _ => {}
    }
    if d.max_files == Some(0) {
        bad.push(format!("{} must be at least 1", s("data.max_files")));
    }
    if let Some(p) = d.player_port {
        if !(1..=4).contains(&p) {
            bad.push(format!("{} must be 1-4, not {p}", s("data.player_port")));
        }
        if d.dual_port {
            bad.push("--player-port and --dual-port both choose whom to learn: give one".into());
        }
        if !d.train_character.is_empty() {
            bad.push(
                "--player-port and --train-character both choose whom to learn: give one".into(),
            );
        }
    }
    if d.dual_port && !d.train_character.is_empty() {
        bad.push(
            "--dual-port learns every player whatever the character; --train-character learns \
             only the ports playing it: give one"
                .into(),
        );
    }
    for (key, names) in [
        ("data.train_character", &d.train_character),
        ("data.characters", &d.characters),
    ] {
        for name in names {
            if ExternalCharacter::parse(name).is_none() {
                bad.push(format!(
                    "{}: unknown character `{name}` (names or aliases such as fox, falco, marth, \
                     sheik, puff, ics, gnw, ganon, falcon, mewtwo)",
                    s(key)
                ));
            }
        }
    }
    for name in &d.stages {
        if ExternalStage::parse(name).is_none() {
            bad.push(format!(
                "{}: unknown stage `{name}` (bf, fd, fod, ys, ps, dl or full names)",
                s("data.stages")
            ));
        }
    }
    if d.frame_delay > MAX_FRAME_DELAY {
        bad.push(format!(
            "{} is {}, at most {MAX_FRAME_DELAY} frames",
            s("data.frame_delay"),
            d.frame_delay
        ));
    }
    if d.frame_delay_min > d.frame_delay_max {
        bad.push(format!(
            "--frame-delay-min ({}) is above --frame-delay-max ({})",
            d.frame_delay_min, d.frame_delay_max
        ));
    }
    if d.frame_delay_max > MAX_FRAME_DELAY {
        bad.push(format!(
            "{} is {}, at most {MAX_FRAME_DELAY} frames",
            s("data.frame_delay_max"),
            d.frame_delay_max
        ));
    }
    if d.frame_delay_augment && d.frame_delay > 0 {
        warn.push(format!(
            "--frame-delay {} is replaced by a delay drawn from {}..={} (--frame-delay-augment)",
            d.frame_delay, d.frame_delay_min, d.frame_delay_max
        ));
    }
    if d.noise_copies > MAX_NOISE_COPIES {
        bad.push(format!(
            "{} is {}, at most {MAX_NOISE_COPIES}",
            s("data.noise_copies"),
            d.noise_copies
        ));
    }
    if d.augment && d.noise_copies > 0 && !(d.noise_std.is_finite() && d.noise_std > 0.0) {
        bad.push(format!(
            "{} must be finite and > 0 with --augment, not {}",
            s("data.noise_std"),
            d.noise_std
        ));
    }
    if !exphil_embed::PRESETS.contains(&d.embed_preset.as_str()) {
        let hint = did_you_mean(&d.embed_preset, exphil_embed::PRESETS)
            .map(|p| format!("; did you mean `{p}`?"))
            .unwrap_or_default();
        bad.push(format!(
            "{}: unknown embedding preset `{}` (presets: {}){hint}",
            s("data.embed_preset"),
            d.embed_preset,
            exphil_embed::PRESETS.join(", ")
        ));
    }
    if d.num_player_names == 1 {
        bad.push(format!(
            "{} must be 0 (off) or at least 2 (id 0 is \"unknown\")",
            s("data.num_player_names")
        ));
    }
    if d.min_quality.is_some_and(|q| q > 100) {
        bad.push(format!("{} must be 0-100", s("data.min_quality")));
    }
    if d.threads == Some(0) {
        bad.push(format!("{} must be at least 1", s("data.threads")));
    }

    if bad.is_empty() {
        Ok(warn)
    } else {
        Err(ConfigError::Invalid(bad))
    }
}

/// Why a run name cannot name a directory, if it cannot.
fn bad_run_name(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is not a directory name")
    } else if name.contains(['/', '\\']) {
        Some("must not contain path separators")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Differences from the defaults

/// Every setting that differs from the defaults, as (dotted key, value) in key order; strings
/// print bare, everything else as compact JSON.
pub fn diff_from_defaults(config: &TrainConfig) -> Vec<(String, String)> {
    let defaults = defaults_json();
    // Serializing plain structs with string-keyed maps cannot fail.
    let value = serde_json::to_value(config).expect("TrainConfig serializes to JSON");
    let mut out = Vec::new();
    diff(&defaults, &value, "", &mut out);
    out
}

/// The settings that differ between two configs (as JSON), as (dotted key, value in `a`, value
/// in `b`) in key order; a setting one side lacks shows `(unset)`.
pub fn config_differences(a: &Value, b: &Value) -> Vec<(String, String, String)> {
    let mut keys = Vec::new();
    diff(a, b, "", &mut keys);
    diff(b, a, "", &mut keys);
    let keys: BTreeSet<String> = keys.into_iter().map(|(k, _)| k).collect();
    let at = |v: &Value, key: &str| -> String {
        let mut cur = v;
        for part in key.split('.') {
            match cur.get(part) {
                Some(x) => cur = x,
                None => return "(unset)".into(),
            }
        }
        display_value(cur)
    };
    keys.into_iter()
        .map(|k| {
            let (x, y) = (at(a, &k), at(b, &k));
            (k, x, y)
        })
        .filter(|(_, x, y)| x != y)
        .collect()
}

/// Every setting of a config (as JSON), as (dotted key, value) in key order, unset ones
/// (`null`) included: what a dry run prints.
pub fn settings_of(config: &Value) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    leaf_keys(config, "", &mut keys);
    keys.into_iter()
        .map(|k| {
            let v = get_path(config, &k).map_or_else(String::new, display_value);
            (k, v)
        })
        .collect()
}

/// The dotted keys of every setting in a (partial) config overlay.
pub fn overlay_keys(overlay: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(&Value::Null, overlay, "", &mut out);
    out.into_iter().map(|(k, _)| k).collect()
}

fn diff(base: &Value, value: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match (base, value) {
        (Value::Object(b), Value::Object(v)) if b.get("type") == v.get("type") => {
            let keys: BTreeSet<&String> = b.keys().chain(v.keys()).collect();
            for k in keys {
                match (b.get(k.as_str()), v.get(k.as_str())) {
                    (Some(x), Some(y)) => diff(x, y, &join(k), out),
                    (None, Some(y)) => diff(&Value::Null, y, &join(k), out),
                    (Some(_), None) => out.push((join(k), "(unset)".into())),
                    (None, None) => {}
                }
            }
        }
        (Value::Object(_), Value::Object(v)) if prefix == "policy.backbone" => {
            // Another backbone: its type, then its differences from its own defaults.
            let own = v
                .get("type")
                .and_then(Value::as_str)
                .and_then(BackboneConfig::default_of)
                .and_then(|d| serde_json::to_value(d).ok());
            match own {
                Some(d) => {
                    out.push((join("type"), display_value(&v["type"])));
                    diff(&d, value, prefix, out);
                }
                None => out.push((prefix.to_string(), display_value(value))),
            }
        }
        (Value::Null, Value::Object(v)) => {
            for (k, y) in v {
                diff(&Value::Null, y, &join(k), out);
            }
        }
        (b, v) if b != v => out.push((prefix.to_string(), display_value(v))),
        _ => {}
    }
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::flow_nesting_beyond;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(flow_nesting_beyond("a: [[1]]\n", 2), None);
        assert_eq!(flow_nesting_beyond("a: [[[1]]]\n", 2), Some((1, 2)));
        assert_eq!(
            flow_nesting_beyond("a: 1\nb: {c: [[1]]}\n", 2),
            Some((2, 2))
        );
        // Brackets inside quoted scalars and comments are text.
        let quoted = "a: \"[[[[\\\"[[\"\nb: '[[[[''[['\nc: 1 # [[[[\nd: don't [1]\n";
        assert_eq!(flow_nesting_beyond(quoted, 1), None);
        // Closed brackets give their depth back.
        assert_eq!(flow_nesting_beyond(&"[]".repeat(1000), 1), None);
    }
}
