//! The arguments of `exphil train` (clap): every flag of the training guide, and the command-line layer
//! of the config built from the flags given (only those), through the one flag table
//! `crate::presets::FLAGS` that the config file's flat keys use too.
// The flags are documented by their clap help, which the guide's text fills.
#![allow(missing_docs)]

use crate::presets::{overlay_from_flags, presets, ConfigError, Flag, Layers, FLAGS};
use clap::builder::PossibleValuesParser;
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A finite floating-point value.
pub(crate) fn finite(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("must be a finite number".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite single-precision value.
pub(crate) fn finite32(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("must be a finite number".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A size in bytes: a number with an optional unit (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`,
/// `TB`/`TiB`; case-insensitive, decimal units powers of 1000).
pub fn byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 8GiB, 512MB or 1000000"))?;
    let k: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "kib" => 1024.0,
        "mb" | "m" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" | "g" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tb" | "t" => 1e12,
        "tib" => 1024.0f64.powi(4),
        u => {
            return Err(format!(
                "{text:?}: unknown unit {u:?} (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)"
            ))
        }
    };
    let bytes = n * k;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("{text:?}: must be at least one byte"));
    }
    Ok(bytes.round() as u64)
}

/// The `--preset` help: every preset with its description.
fn preset_help() -> String {
    let mut help = String::from(
        "Start from a preset; flags, the environment and the config file override it. Presets:",
    );
    for p in presets() {
        help.push_str(&format!("\n  {}: {}", p.name, p.description));
    }
    help
}

/// Arguments of `exphil train`.
#[derive(Args, Clone, Debug, Default, Serialize)]
pub struct TrainArgs {
    // ------------------------------------------------------------------ Config
    #[arg(
        long,
        value_name = "NAME",
        help = "Start from a preset (see --help)",
        long_help = preset_help(),
        help_heading = "Config"
    )]
    pub preset: Option<String>,
    /// YAML config file: the nested config shape (policy, optim, schedule, loss, loop,
    /// checkpoint, data) and/or flat flag names (`epochs: 5`, `batch_size: 32`).
    #[arg(long, value_name = "FILE.yaml", help_heading = "Config")]
    pub config: Option<PathBuf>,
    /// Check the config and the data, print what would run, and stop before training.
    #[arg(long, help_heading = "Config")]
    pub dry_run: bool,
    /// Train even when the model's estimated memory (weights, gradients, optimiser state,
    /// activations) exceeds this machine's memory.
    #[arg(long, help_heading = "Config")]
    pub ignore_memory_limit: bool,
    /// Errors and the final summary only.
    #[arg(long, conflicts_with = "verbose", help_heading = "Config")]
    pub quiet: bool,
    /// Debug output: timing, memory, gradient norms.
    #[arg(long, help_heading = "Config")]
    pub verbose: bool,
    /// Resume a run from its checkpoint directory (weights, optimiser, schedule and data
    /// position).
    #[arg(long, value_name = "DIR", help_heading = "Config")]
    pub resume: Option<PathBuf>,
    /// Fine-tune: start from the weights of this run (a run directory, its name in the
    /// registry, or a weights file). The architecture and embedding must match; the registry
    /// records it as the new run's parent.
    #[arg(
        long,
        value_name = "RUN",
        conflicts_with = "resume",
        help_heading = "Config"
    )]
    pub pretrained: Option<String>,
    /// Print the command that uploads this run's TensorBoard events to Weights & Biases
    /// (`wandb sync --sync-tensorboard`); exphil itself makes no network call.
    #[arg(long, help_heading = "Config")]
    pub wandb: bool,
    /// The W&B project of that command (implies --wandb) [default: $EXPHIL_WANDB_PROJECT,
    /// else exphil].
    #[arg(long, value_name = "NAME", help_heading = "Config")]
    pub wandb_project: Option<String>,
    /// The W&B run id of that command (implies --wandb) [default: the run's name].
    #[arg(long, value_name = "NAME", help_heading = "Config")]
    pub wandb_name: Option<String>,
    /// `cpu`, `gpu` (the build's first GPU), `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`,
    /// `vulkan:cpu` (a `vulkan` build).
    #[arg(long, value_name = "DEVICE", help_heading = "Config")]
    pub device: Option<String>,

    // ------------------------------------------------------------------ Data
    /// Replay folders (searched recursively for .slp) or files [default: $EXPHIL_REPLAYS_DIR,
    /// else the Slippi Launcher's replay folder].
    #[arg(
        long,
        num_args = 1..,
        value_name = "DIR|FILE",
        conflicts_with = "dataset",
        help_heading = "Data"
    )]
    pub replays: Vec<PathBuf>,
    /// A prepared dataset directory (from `exphil dataset build`) instead of replays.
    #[arg(long, value_name = "DIR", help_heading = "Data")]
    pub dataset: Option<PathBuf>,
    /// Where datasets built from replays are cached [default: ~/.cache/exphil/datasets].
    #[arg(long, value_name = "DIR", help_heading = "Data")]
    pub cache_dir: Option<PathBuf>,
    /// Use at most this many replay files.
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub max_files: Option<usize>,
    /// Learn the player on this port (1-4).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(1..=4),
        conflicts_with_all = ["train_character", "dual_port"],
        help_heading = "Data"
    )]
    pub player_port: Option<u8>,
    /// Learn the port(s) playing one of these characters (mewtwo, ganondorf, gnw, …).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CHARS",
        conflicts_with = "dual_port",
        help_heading = "Data"
    )]
    pub train_character: Vec<String>,
    /// Learn both players of every game (2x data, every character); also what happens when
    /// neither --player-port nor --train-character is given.
    #[arg(long, help_heading = "Data")]
    pub dual_port: bool,
    /// Keep games with one of these characters.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CHARS",
        help_heading = "Data"
    )]
    pub characters: Vec<String>,
    /// Keep games on one of these stages (bf, fd, fod, ys, ps, dl).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "STAGES",
        help_heading = "Data"
    )]
    pub stages: Vec<String>,
    /// Keep games of at least this many frames (60 per second).
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub min_frames: Option<u32>,
    /// Keep games with a quality score of at least this (0-100).
    #[arg(
        long,
        value_name = "SCORE",
        value_parser = clap::value_parser!(u32).range(0..=100),
        help_heading = "Data"
    )]
    pub min_quality: Option<u32>,
    /// Keep only games where every player is human (no CPUs).
    #[arg(long, help_heading = "Data")]
    pub human_only: bool,
    /// Keep only games with exactly two players.
    #[arg(long = "one-v-one", help_heading = "Data")]
    pub one_v_one: bool,
    /// Skip duplicate replays (same content hash) [default].
    #[arg(long, overrides_with = "no_skip_duplicates", help_heading = "Data")]
    pub skip_duplicates: bool,
    /// Keep duplicate replays.
    #[arg(
        long,
        alias = "keep-duplicates",
        overrides_with = "skip_duplicates",
        help_heading = "Data"
    )]
    pub no_skip_duplicates: bool,
    /// Frames between the state seen and the action learned (online delay).
    #[arg(long, value_name = "D", help_heading = "Data")]
    pub frame_delay: Option<u8>,
    /// Draw each example's delay from --frame-delay-min..=--frame-delay-max.
    #[arg(long, overrides_with = "no_frame_delay_augment", help_heading = "Data")]
    pub frame_delay_augment: bool,
    /// No delay augmentation [default].
    #[arg(long, overrides_with = "frame_delay_augment", help_heading = "Data")]
    pub no_frame_delay_augment: bool,
    /// Smallest augmented delay [default: 0].
    #[arg(long, value_name = "A", help_heading = "Data")]
    pub frame_delay_min: Option<u8>,
    /// Largest augmented delay [default: 18].
    #[arg(long, value_name = "B", help_heading = "Data")]
    pub frame_delay_max: Option<u8>,
    /// Train on augmented copies too, pre-computed in the dataset: a mirrored copy of every
    /// example plus --noise-copies noisy copies (mirror plus noise, as the original's
    /// --augment; --noise-copies 0 keeps the mirror only). Validation uses the originals only.
    #[arg(long, overrides_with = "no_augment", help_heading = "Data")]
    pub augment: bool,
    /// No augmented copies [default].
    #[arg(long, overrides_with = "augment", help_heading = "Data")]
    pub no_augment: bool,
    /// Position noise of the noisy copies, world units [default: 0.5].
    #[arg(long, value_name = "S", value_parser = finite32, help_heading = "Data")]
    pub noise_std: Option<f32>,
    /// Noisy copies per example, 0-4 [default: 2].
    #[arg(
        long,
        alias = "num-noisy-variants",
        value_name = "K",
        help_heading = "Data"
    )]
    pub noise_copies: Option<u8>,
    /// Embedding preset [default: compact].
    #[arg(
        long,
        value_name = "NAME",
        value_parser = PossibleValuesParser::new(exphil_embed::PRESETS),
        help_heading = "Data"
    )]
    pub embed_preset: Option<String>,
    /// Stick targets from k-means centres (a file from `exphil kmeans`).
    #[arg(long, value_name = "FILE", help_heading = "Data")]
    pub kmeans_centers: Option<PathBuf>,
    /// Player-name ids for style conditioning (0 off, else at least 2) [default: 0].
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub num_player_names: Option<u32>,
    /// Map a bounded number of games at once (for datasets larger than memory).
    #[arg(long, overrides_with = "no_stream", help_heading = "Data")]
    pub stream: bool,
    /// Map every game at once [default].
    #[arg(long, overrides_with = "stream", help_heading = "Data")]
    pub no_stream: bool,
    /// Worker threads for building the dataset [default: all cores].
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub threads: Option<usize>,

    // ------------------------------------------------------------------ Model
    /// The trunk: `mlp` (single frames) or a temporal backbone over a window of frames,
    /// `lstm`, `gru`, `attention`, `mamba`, `jamba` [default: mlp].
    #[arg(
        long,
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new(crate::config::BACKBONES),
        help_heading = "Model"
    )]
    pub backbone: Option<String>,
    /// Hidden layer widths [default: 512,512].
    #[arg(
        long,
        alias = "hidden-sizes",
        value_delimiter = ',',
        num_args = 1..,
        value_name = "N,N",
        help_heading = "Model"
    )]
    pub hidden: Vec<usize>,
    /// Residual connections in the MLP.
    #[arg(long, overrides_with = "no_residual", help_heading = "Model")]
    pub residual: bool,
    /// No residual connections [default].
    #[arg(long, overrides_with = "residual", help_heading = "Model")]
    pub no_residual: bool,
    /// Layer normalisation in the MLP.
    #[arg(long, overrides_with = "no_layer_norm", help_heading = "Model")]
    pub layer_norm: bool,
    /// No layer normalisation [default].
    #[arg(long, overrides_with = "layer_norm", help_heading = "Model")]
    pub no_layer_norm: bool,
    /// Dropout rate, 0 to below 1 [default: 0.1].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Model")]
    pub dropout: Option<f64>,
    /// Hidden-layer nonlinearity [default: relu].
    #[arg(
        long,
        value_name = "FN",
        value_parser = PossibleValuesParser::new(["relu", "gelu", "silu"]),
        help_heading = "Model"
    )]
    pub activation: Option<String>,
    /// Train on windows of frames: a temporal backbone (lstm unless --backbone names one).
    #[arg(long, overrides_with = "no_temporal", help_heading = "Temporal")]
    pub temporal: bool,
    /// Single frames (the mlp).
    #[arg(long, overrides_with = "temporal", help_heading = "Temporal")]
    pub no_temporal: bool,
    /// Frames per training window [default: 60].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub window_size: Option<usize>,
    /// Frames between the starts of training windows [default: 1].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub stride: Option<usize>,
    /// Stacked layers or blocks [default: 2; jamba 6].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub num_layers: Option<usize>,
    /// Width of the temporal trunk [default: 256].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub hidden_size: Option<usize>,
    /// How a window's outputs become one [default: last].
    #[arg(
        long,
        value_name = "HOW",
        value_parser = PossibleValuesParser::new(["last", "mean", "weighted"]),
        help_heading = "Temporal"
    )]
    pub pooling: Option<String>,
    /// Back-propagate through the last N steps only (lstm, gru, mamba, jamba).
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub truncate_bptt: Option<usize>,
    /// LSTM/GRU layers as residual blocks with a pre-LayerNorm MLP.
    #[arg(long, overrides_with = "no_residual_block", help_heading = "Temporal")]
    pub residual_block: bool,
    /// Plain stacked LSTM/GRU layers [default].
    #[arg(long, overrides_with = "residual_block", help_heading = "Temporal")]
    pub no_residual_block: bool,
    /// Attention heads (attention, jamba) [default: 4].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub num_heads: Option<usize>,
    /// Layer norm on queries and keys [default].
    #[arg(long, overrides_with = "no_qk_layernorm", help_heading = "Temporal")]
    pub qk_layernorm: bool,
    /// No query/key layer norm.
    #[arg(long, overrides_with = "qk_layernorm", help_heading = "Temporal")]
    pub no_qk_layernorm: bool,
    /// Each frame attends to at most N frames [default: the whole window].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub sliding_window: Option<usize>,
    /// Attention computed N queries at a time, bounding memory [default: all].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub chunk_size: Option<usize>,
    /// SSM state size (mamba, jamba) [default: 16].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub state_size: Option<usize>,
    /// Mamba inner width as a multiple of the width [default: 2].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub expand_factor: Option<usize>,
    /// Mamba causal convolution kernel [default: 4].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub conv_size: Option<usize>,
    /// Jamba: every Nth block is attention [default: 3].
    #[arg(long, value_name = "N", help_heading = "Temporal")]
    pub attention_every: Option<usize>,
    /// Controller head [default: autoregressive].
    #[arg(
        long,
        value_name = "KIND",
        value_parser = PossibleValuesParser::new(["autoregressive", "independent"]),
        help_heading = "Model"
    )]
    pub head: Option<String>,

    // ------------------------------------------------------------------ Optimiser
    /// Optimiser [default: adam].
    #[arg(
        long,
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new(["adam", "adamw", "lamb", "radam", "sgd"]),
        help_heading = "Optimiser"
    )]
    pub optimizer: Option<String>,
    /// Peak learning rate [default: 1e-4].
    #[arg(
        long,
        alias = "learning-rate",
        value_name = "X",
        value_parser = finite,
        help_heading = "Optimiser"
    )]
    pub lr: Option<f64>,
    /// Weight decay (decoupled for adamw and lamb, L2 otherwise) [default: 0].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Optimiser")]
    pub weight_decay: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Optimiser")]
    pub momentum: Option<f64>,
    /// Nesterov momentum (sgd).
    #[arg(long, overrides_with = "no_nesterov", help_heading = "Optimiser")]
    pub nesterov: bool,
    /// Plain momentum [default].
    #[arg(long, overrides_with = "nesterov", help_heading = "Optimiser")]
    pub no_nesterov: bool,
    /// Global-norm gradient clipping, 0 disables [default: 1.0].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Optimiser")]
    pub max_grad_norm: Option<f64>,
    /// Batches whose gradients are summed per optimiser step [default: 1].
    #[arg(long, value_name = "N", help_heading = "Optimiser")]
    pub accumulation_steps: Option<usize>,

    // ------------------------------------------------------------------ Schedule
    /// Learning-rate schedule after warmup [default: constant].
    #[arg(
        long,
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new([
            "constant",
            "linear",
            "cosine",
            "cosine_restarts",
            "cosine-restarts",
            "exponential",
            "plateau",
        ]),
        help_heading = "Schedule"
    )]
    pub lr_schedule: Option<String>,
    /// Linear warmup steps from 0 to the peak rate [default: 0].
    #[arg(long, value_name = "N", help_heading = "Schedule")]
    pub warmup_steps: Option<u64>,
    /// Decay horizon in steps (linear, cosine) or step unit (exponential) [default: the whole
    /// run].
    #[arg(long, value_name = "N", help_heading = "Schedule")]
    pub decay_steps: Option<u64>,
    /// The floor of every decay [default: 0].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Schedule")]
    pub min_lr: Option<f64>,
    /// First period of cosine with restarts, steps (T_0) [default: 1000].
    #[arg(long, value_name = "N", help_heading = "Schedule")]
    pub restart_period: Option<u64>,
    /// Period growth after each restart (T_mult) [default: 2].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Schedule")]
    pub restart_mult: Option<f64>,
    /// Exponential decay factor per --decay-steps [default: 0.1].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Schedule")]
    pub lr_gamma: Option<f64>,
    /// Reduce-on-plateau factor [default: 0.5].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Schedule")]
    pub plateau_factor: Option<f64>,
    /// Epochs without improvement before reducing the rate [default: 2].
    #[arg(long, value_name = "N", help_heading = "Schedule")]
    pub plateau_patience: Option<u32>,

    // ------------------------------------------------------------------ Loss
    /// Label smoothing of the stick and shoulder targets [default: 0].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Loss")]
    pub label_smoothing: Option<f64>,
    /// Focal loss (focus on rare, hard examples).
    #[arg(long, overrides_with = "no_focal_loss", help_heading = "Loss")]
    pub focal_loss: bool,
    /// Plain cross-entropy [default].
    #[arg(long, overrides_with = "focal_loss", help_heading = "Loss")]
    pub no_focal_loss: bool,
    /// Focal loss exponent [default: 2].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Loss")]
    pub focal_gamma: Option<f64>,
    /// Per-button positive weights from the training data [default].
    #[arg(long, overrides_with = "no_auto_pos_weight", help_heading = "Loss")]
    pub auto_pos_weight: bool,
    /// Unweighted buttons.
    #[arg(long, overrides_with = "auto_pos_weight", help_heading = "Loss")]
    pub no_auto_pos_weight: bool,
    /// Upper clip of the automatic positive weights [default: 10].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Loss")]
    pub max_pos_weight: Option<f64>,

    // ------------------------------------------------------------------ Training loop
    /// Passes over the training data [default: 10].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub epochs: Option<u32>,
    /// Examples per batch [default: 64].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub batch_size: Option<usize>,
    /// Fraction of games held out for validation [default: 0.1].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Training")]
    pub val_split: Option<f64>,
    /// Hold out exactly these games for validation (replaces --val-split): replay file names
    /// (with or without .slp), paths or content hashes, comma-separated or repeated, or a text
    /// file listing them one per line.
    #[arg(long, value_name = "FILE|NAMES", value_delimiter = ',', num_args = 1.., help_heading = "Training")]
    pub val_games: Vec<String>,
    /// Keep an exponential moving average of the weights.
    #[arg(long, overrides_with = "no_ema", help_heading = "Training")]
    pub ema: bool,
    /// No weight EMA [default].
    #[arg(long, overrides_with = "ema", help_heading = "Training")]
    pub no_ema: bool,
    /// EMA decay per step [default: 0.999].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Training")]
    pub ema_decay: Option<f64>,
    /// Stop when the validation loss stops improving.
    #[arg(long, overrides_with = "no_early_stopping", help_heading = "Training")]
    pub early_stopping: bool,
    /// Run every epoch [default].
    #[arg(long, overrides_with = "early_stopping", help_heading = "Training")]
    pub no_early_stopping: bool,
    /// Epochs without improvement before stopping [default: 5].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub patience: Option<u32>,
    /// Smallest validation-loss decrease that counts as improvement [default: 0.01].
    #[arg(long, value_name = "X", value_parser = finite, help_heading = "Training")]
    pub min_delta: Option<f64>,
    /// Random seed of initialisation, shuffling and dropout [default: drawn and printed].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub seed: Option<u64>,
    /// Batches between progress updates [default: 100].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub log_interval: Option<usize>,
    /// Stop each epoch after this many batches (smoke tests, benchmarks).
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub max_batches: Option<usize>,
    /// What each step computes in: f32, or f16 / bf16 with f32 master weights and optimiser
    /// state (f16 with a dynamic loss scale); half: bf16 where the device computes in bf16,
    /// else f16 [default: f32]. Not the dataset's storage type (`dataset build --precision`).
    #[arg(
        long,
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new(["f32", "f16", "bf16", "half"]),
        help_heading = "Training"
    )]
    pub precision: Option<String>,
    /// Mixed precision: the same as --precision half.
    #[arg(long, conflicts_with = "precision", help_heading = "Training")]
    pub mixed_precision: bool,
    /// The device memory this run may use (a shared GPU): bytes, or with a unit (512MiB,
    /// 8GiB, 8GB) [default: what the device reports]. A warning comes at 90% of it.
    #[arg(long, value_name = "SIZE", value_parser = byte_size, help_heading = "Training")]
    pub device_memory_limit: Option<u64>,
    /// Temporal backbones: train on unrolls of consecutive frames with the loss on every frame
    /// and the state carried from one unroll of a game to the next, as the policy plays
    /// [default].
    #[arg(long, overrides_with = "windowed", help_heading = "Training")]
    pub sequence: bool,
    /// Temporal backbones: train on windows of --window-size frames with the loss on the last
    /// frame (one window every --stride frames), each window from a fresh state.
    #[arg(
        long = "no-sequence",
        visible_alias = "windowed",
        overrides_with = "sequence",
        help_heading = "Training"
    )]
    pub windowed: bool,
    /// Sequence training: frames per unroll, back-propagated together [default: 32].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub unroll: Option<usize>,
    /// Sequence training: frames a segment of a game carries the state over before it is
    /// reset (a multiple of --unroll) [default: 1024].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub segment_frames: Option<usize>,
    /// Sequence training: parallel streams of segments, the batch of each step [default: 64].
    #[arg(long, value_name = "N", help_heading = "Training")]
    pub streams: Option<usize>,
    /// Sequence training: start each game at a random frame below --unroll every epoch
    /// [default].
    #[arg(long, overrides_with = "no_random_crop", help_heading = "Training")]
    pub random_crop: bool,
    /// Sequence training: every epoch cuts the games at the same frames.
    #[arg(long, overrides_with = "random_crop", help_heading = "Training")]
    pub no_random_crop: bool,

    // ------------------------------------------------------------------ Checkpoints
    /// The checkpoints directory [default: $EXPHIL_CHECKPOINTS_DIR, else ./checkpoints].
    #[arg(long, value_name = "DIR", help_heading = "Checkpoints")]
    pub checkpoints: Option<PathBuf>,
    /// Run name [default: {backbone}_{YYYYMMDD_HHMMSS}].
    #[arg(long, value_name = "NAME", help_heading = "Checkpoints")]
    pub name: Option<String>,
    /// Save the best checkpoint whenever the validation loss improves [default].
    #[arg(long, overrides_with = "no_save_best", help_heading = "Checkpoints")]
    pub save_best: bool,
    /// No best checkpoint.
    #[arg(long, overrides_with = "save_best", help_heading = "Checkpoints")]
    pub no_save_best: bool,
    /// Save a numbered checkpoint every N epochs.
    #[arg(long, value_name = "N", help_heading = "Checkpoints")]
    pub save_every: Option<u32>,
    /// Save the rolling batch checkpoint every N batches.
    #[arg(long, value_name = "N", help_heading = "Checkpoints")]
    pub save_every_batches: Option<u64>,
    /// Numbered checkpoints kept [default: 3].
    #[arg(long, value_name = "N", help_heading = "Checkpoints")]
    pub keep_last: Option<usize>,
    /// Replace an existing run of the same name.
    #[arg(long, overrides_with = "no_overwrite", help_heading = "Checkpoints")]
    pub overwrite: bool,
    /// Fail if the run exists [default].
    #[arg(long, overrides_with = "overwrite", help_heading = "Checkpoints")]
    pub no_overwrite: bool,
    /// Keep a replaced run as name.bak, name.bak.1, … [default].
    #[arg(long, overrides_with = "no_backup", help_heading = "Checkpoints")]
    pub backup: bool,
    /// Replace without a backup.
    #[arg(long, overrides_with = "backup", help_heading = "Checkpoints")]
    pub no_backup: bool,
    /// Backups kept [default: 3].
    #[arg(long, value_name = "N", help_heading = "Checkpoints")]
    pub backup_count: Option<usize>,
    /// Record the run in the registry [default].
    #[arg(long, overrides_with = "no_register", help_heading = "Checkpoints")]
    pub register: bool,
    /// Do not record the run in the registry.
    #[arg(long, overrides_with = "register", help_heading = "Checkpoints")]
    pub no_register: bool,
    /// Registry tags.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "TAGS",
        help_heading = "Checkpoints"
    )]
    pub tags: Vec<String>,
}

/// The flags of `table` given on a command line parsed into `args` (a clap struct): an option
/// given at its value, a switch given `true` and its `--no-` twin given `false`; the flags in
/// `skip` are left to the caller. The clap definition says which field holds which flag, so a
/// flag is declared once (its clap field) and mapped once (its row in the table).
pub(crate) fn given_flags<A: Args + Serialize>(
    args: &A,
    table: &[Flag],
    skip: &[&str],
) -> Result<Vec<(&'static str, Value)>, ConfigError> {
    let cmd = A::augment_args(clap::Command::new("args"));
    let values = serde_json::to_value(args).map_err(|e| ConfigError::Value {
        origin: "the command line".into(),
        key: "arguments".into(),
        message: format!("not valid UTF-8 ({e})"),
    })?;
    let field = |long: &str| {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| values.get(a.get_id().as_str()))
    };
    let mut given = Vec::new();
    for f in table.iter().filter(|f| !skip.contains(&f.name)) {
        match field(f.name) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(v) => {
                given.push((f.name, v.clone()));
                continue;
            }
        }
        if field(&format!("no-{}", f.name)) == Some(&Value::Bool(true)) {
            given.push((f.name, Value::Bool(false)));
        }
    }
    Ok(given)
}

impl TrainArgs {
    /// The command-line layer of the config: only the flags given, at their config keys.
    pub fn overlay(&self) -> Result<Value, ConfigError> {
        let mut given = given_flags(self, FLAGS, &[])?;
        if self.mixed_precision {
            given.push(("precision", Value::String("half".into())));
        }
        overlay_from_flags("the command line", given)
    }

    /// The config layers of these arguments and an environment (the caller passes
    /// `std::env::vars()` collected).
    pub fn layers(&self, env: BTreeMap<String, String>) -> Result<Layers, ConfigError> {
        Ok(Layers {
            preset: self.preset.clone(),
            file: self.config.clone(),
            env,
            cli: self.overlay()?,
        })
    }

    /// The `wandb sync` command that uploads the TensorBoard events in `board` (a run's
    /// `tensorboard/` folder) of the run `name`, when --wandb (or its project or name) is given;
    /// the project is --wandb-project, else `env_project` (`$EXPHIL_WANDB_PROJECT`), else
    /// `exphil`.
    pub fn wandb_sync(
        &self,
        board: &std::path::Path,
        name: &str,
        env_project: Option<&str>,
    ) -> Option<String> {
        if !self.wandb && self.wandb_project.is_none() && self.wandb_name.is_none() {
            return None;
        }
        let project = self
            .wandb_project
            .as_deref()
            .or(env_project.filter(|p| !p.is_empty()))
            .unwrap_or("exphil");
        let id = self.wandb_name.as_deref().unwrap_or(name);
        Some(format!(
            "wandb sync --sync-tensorboard --project {project} --id {id} {}",
            board.display()
        ))
    }

    /// 0 with `--quiet`, 2 with `--verbose`, else 1.
    pub fn verbosity(&self) -> u8 {
        if self.quiet {
            0
        } else if self.verbose {
            2
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackboneConfig, OptimizerKind, ScheduleKind};
    use crate::presets::{find_flag, resolve, validate, FLAGS, FROM_CLI, FROM_PRESET};
    use clap::{CommandFactory, Parser};
    use serde_json::json;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn parse(argv: &[&str]) -> TrainArgs {
        let mut full = vec!["train"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full)
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
            .args
    }

    /// Flags that are not config settings (`--mixed-precision` is a shorthand of
    /// `--precision half`, tested on its own).
    const NOT_SETTINGS: [&str; 12] = [
        "mixed-precision",
        "wandb",
        "wandb-project",
        "wandb-name",
        "preset",
        "config",
        "dry-run",
        "ignore-memory-limit",
        "quiet",
        "verbose",
        "resume",
        "pretrained",
    ];

    #[test]
    fn flags_and_the_table_agree() {
        let cmd = Cli::command();
        let longs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for f in FLAGS {
            assert!(
                longs.iter().any(|l| l == f.name),
                "--{} has no clap flag",
                f.name
            );
        }
        for long in &longs {
            if NOT_SETTINGS.contains(&long.as_str()) {
                continue;
            }
            let base = long.strip_prefix("no-").unwrap_or(long);
            let f = find_flag(base).unwrap_or_else(|| panic!("--{long} is not in FLAGS"));
            assert_eq!(f.name, base);
            if long.starts_with("no-") {
                assert!(longs.iter().any(|l| l == base), "--{long} without --{base}");
            }
        }
    }

    #[test]
    fn each_flag_sets_exactly_its_key() {
        let cmd = Cli::command();
        let mut checked = 0;
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if NOT_SETTINGS.contains(&long) {
                continue;
            }
            checked += 1;
            let takes_value = arg.get_action().takes_values();
            let value = arg
                .get_possible_values()
                .first()
                .map(|p| p.get_name().to_string())
                .unwrap_or_else(|| "1".to_string());
            let flag = format!("--{long}");
            let argv: Vec<&str> = if takes_value {
                vec![&flag, &value]
            } else {
                vec![&flag]
            };
            let overlay = parse(&argv).overlay().unwrap();
            let base = long.strip_prefix("no-").unwrap_or(long);
            let key = find_flag(base).unwrap().key;
            let mut leaves = Vec::new();
            collect_leaves(&overlay, "", &mut leaves);
            assert_eq!(leaves, vec![key.to_string()], "{argv:?}");
            if !takes_value {
                let set = key.split('.').try_fold(&overlay, |v, k| v.get(k)).unwrap();
                assert_eq!(set, &json!(!long.starts_with("no-")), "{argv:?}");
            }
        }
        assert!(checked > FLAGS.len(), "{checked} flags checked");
    }

    fn collect_leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    collect_leaves(x, &key, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn mixed_precision_is_precision_half_and_sizes_take_units() {
        assert_eq!(
            parse(&["--mixed-precision"]).overlay().unwrap(),
            json!({"loop": {"precision": "half"}})
        );
        assert!(Cli::try_parse_from(["train", "--mixed-precision", "--precision", "f16"]).is_err());
        assert_eq!(
            parse(&["--precision", "bf16", "--device-memory-limit", "8GiB"])
                .overlay()
                .unwrap(),
            json!({"loop": {"precision": "bf16", "device_memory_limit": 8u64 << 30}})
        );
        assert_eq!(byte_size("512MB"), Ok(512_000_000));
        assert_eq!(byte_size("1.5 KiB"), Ok(1536));
        assert_eq!(byte_size("1000"), Ok(1000));
        let e = byte_size("8 parsecs").unwrap_err();
        assert!(e.contains("unknown unit") && e.contains("GiB"), "{e}");
        assert!(byte_size("0").is_err());
        let a = parse(&["--mixed-precision", "--replays", "/r"]);
        let c = resolve(&a.layers(BTreeMap::new()).unwrap()).unwrap().config;
        assert_eq!(c.train.precision, crate::config::Precision::Half);
    }

    #[test]
    fn no_flags_no_overlay() {
        assert_eq!(parse(&[]).overlay().unwrap(), json!({}));
        assert_eq!(
            parse(&["--dry-run", "--quiet"]).overlay().unwrap(),
            json!({})
        );
        assert_eq!(parse(&["--quiet"]).verbosity(), 0);
        assert_eq!(parse(&["--verbose"]).verbosity(), 2);
        assert_eq!(parse(&[]).verbosity(), 1);
    }

    #[test]
    fn the_last_of_a_pair_wins() {
        let o = parse(&["--residual", "--no-residual"]).overlay().unwrap();
        assert_eq!(o, json!({"policy": {"backbone": {"residual": false}}}));
        let o = parse(&["--no-ema", "--ema"]).overlay().unwrap();
        assert_eq!(o, json!({"loop": {"ema": true}}));
        let o = parse(&["--keep-duplicates"]).overlay().unwrap();
        assert_eq!(o, json!({"data": {"skip_duplicates": false}}));
    }

    #[test]
    fn seed_style_command_lines_resolve() {
        let a = parse(&[
            "--preset",
            "gpu",
            "--replays",
            "/r1",
            "/r2",
            "--epochs",
            "5",
            "--no-ema",
            "--hidden",
            "64,32",
            "--lr-schedule",
            "cosine-restarts",
            "--optimizer",
            "sgd",
            "--nesterov",
            "--batch-size",
            "32",
            "--accumulation-steps",
            "4",
            "--train-character",
            "mewtwo",
            "--frame-delay",
            "18",
            "--seed",
            "42",
        ]);
        let r = resolve(&a.layers(BTreeMap::new()).unwrap()).unwrap();
        let c = &r.config;
        assert_eq!(c.preset.as_deref(), Some("gpu"));
        assert_eq!(c.data.replays, vec!["/r1".to_string(), "/r2".to_string()]);
        assert_eq!((c.train.epochs, c.train.ema), (5, false));
        let BackboneConfig::Mlp(m) = &c.policy.backbone else {
            panic!("an mlp: {:?}", c.policy.backbone)
        };
        assert_eq!(m.hidden, vec![64, 32]);
        assert!(m.residual, "from the preset");
        assert_eq!(r.source("policy.backbone.residual"), FROM_PRESET);
        assert_eq!(r.source("loop.epochs"), FROM_CLI);
        assert_eq!(c.schedule.schedule, ScheduleKind::CosineRestarts);
        assert_eq!(c.optim.optimizer, OptimizerKind::Sgd);
        assert!(c.optim.nesterov);
        assert_eq!((c.train.batch_size, c.train.accumulation_steps), (32, 4));
        assert_eq!(c.data.train_character, vec!["mewtwo".to_string()]);
        assert_eq!((c.data.frame_delay, c.train.seed), (18, Some(42)));
        validate(c).unwrap();
    }

    #[test]
    fn misspelt_flags_get_a_suggestion() {
        for (wrong, right) in [
            ("--epoch", "--epochs"),
            ("--batchsize", "--batch-size"),
            ("--lr-schedul", "--lr-schedule"),
            ("--val-splt", "--val-split"),
        ] {
            let e = Cli::try_parse_from(["train", wrong, "3"])
                .err()
                .unwrap_or_else(|| panic!("{wrong} parsed"));
            assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
            let msg = e.to_string();
            assert!(msg.contains(&format!("'{right}'")), "{wrong}: {msg}");
        }
    }

    #[test]
    fn invalid_values_are_refused_by_clap() {
        for argv in [
            &["--lr", "nan"][..],
            &["--lr", "inf"],
            &["--player-port", "5"],
            &["--min-quality", "101"],
            &["--optimizer", "adagrad"],
            &["--backbone", "transformer"],
            &["--pooling", "max"],
            &["--replays", "/r", "--dataset", "/d"],
            &["--player-port", "1", "--dual-port"],
            &["--quiet", "--verbose"],
        ] {
            let mut full = vec!["train"];
            full.extend_from_slice(argv);
            assert!(Cli::try_parse_from(full).is_err(), "{argv:?} parsed");
        }
    }

    /// The `[default: X]` and `[default]` notes of the help agree with the config defaults.
    #[test]
    fn help_defaults_match_the_config() {
        let defaults = crate::presets::key_schema();
        let cmd = Cli::command();
        let mut compared = 0;
        for arg in cmd.get_arguments() {
            let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else {
                continue;
            };
            let help = help.to_string();
            let base = long.strip_prefix("no-").unwrap_or(long);
            let Some(f) = find_flag(base) else { continue };
            let default = f
                .key
                .split('.')
                .try_fold(&defaults, |v, k| v.get(k))
                .unwrap();
            if help.ends_with("[default]") {
                assert_eq!(default, &json!(!long.starts_with("no-")), "--{long}");
                compared += 1;
            } else if let Some(text) = help
                .rsplit_once("[default: ")
                .and_then(|(_, t)| t.strip_suffix(']'))
            {
                if default.is_null() || text.contains(' ') {
                    continue;
                }
                let flag = format!("--{long}");
                let overlay = parse(&[&flag, text]).overlay().unwrap();
                let given = f
                    .key
                    .split('.')
                    .try_fold(&overlay, |v, k| v.get(k))
                    .unwrap();
                let same = match (given, default) {
                    (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                    (a, b) => a == b,
                };
                assert!(same, "--{long}: help says {text}, the default is {default}");
                compared += 1;
            }
        }
        assert!(compared > 40, "{compared} defaults compared");
    }

    #[test]
    fn preset_help_lists_every_preset() {
        let help = Cli::command().render_long_help().to_string();
        for p in presets() {
            assert!(help.contains(p.name), "{} not in --help", p.name);
        }
    }
}
