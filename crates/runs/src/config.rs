//! The resolved configuration of a training run: the policy network, the optimiser and schedule,
//! the training loop and the data. Every struct has serde defaults, so a partial JSON/YAML
//! document (a preset, a config file, the command line) overlays the defaults.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The policy network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The trunk.
    pub backbone: BackboneConfig,
    /// The controller head.
    pub head: HeadKind,
    /// Width of the learned embedding of each id kind (`action`, `character`, `stage`,
    /// `item_type`, `delay`, `player_name`); kinds not listed use [`PolicyConfig::default_id_dim`].
    pub id_dims: BTreeMap<String, usize>,
    /// Width of id embeddings whose kind is not in `id_dims`.
    pub default_id_dim: usize,
    /// Hidden width of the value head (0: a single linear layer).
    pub value_hidden: usize,
}

/// The widest layer, embedding or value head exphil builds (a 65,536-wide square layer already
/// holds 16 GiB of f32 weights).
pub const MAX_WIDTH: usize = 1 << 16;
/// The most layers or blocks of a backbone.
pub const MAX_LAYERS: usize = 64;
/// The longest window (attention's cache and the pooling buffer hold one per game).
pub const MAX_WINDOW: usize = 10_000;

impl PolicyConfig {
    /// Every dimension outside exphil's bounds ([`MAX_WIDTH`], [`MAX_LAYERS`], [`MAX_WINDOW`]),
    /// in words, naming the setting. Checked before anything is built, so a forged or mistyped
    /// config is refused instead of exhausting memory; within the bounds the analytic parameter
    /// count cannot overflow.
    pub fn size_problems(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let width = |bad: &mut Vec<String>, what: &str, v: usize| {
            if v > MAX_WIDTH {
                bad.push(format!("{what} is {v}; exphil builds at most {MAX_WIDTH}"));
            }
        };
        for (kind, &d) in &self.id_dims {
            width(&mut bad, &format!("policy.id_dims.{kind}"), d);
        }
        width(&mut bad, "policy.default_id_dim", self.default_id_dim);
        width(&mut bad, "policy.value_hidden", self.value_hidden);
        match &self.backbone {
            BackboneConfig::Mlp(m) => {
                for &h in &m.hidden {
                    width(&mut bad, "a width of policy.backbone.hidden", h);
                }
                if m.hidden.len() > MAX_LAYERS {
                    bad.push(format!(
                        "policy.backbone.hidden has {} layers; exphil builds at most {MAX_LAYERS}",
                        m.hidden.len()
                    ));
                }
            }
            b => {
                if let Some(w) = b.temporal() {
                    width(&mut bad, "policy.backbone.hidden_size", w.hidden_size);
                    if w.num_layers > MAX_LAYERS {
                        bad.push(format!(
                            "policy.backbone.num_layers is {}; exphil builds at most {MAX_LAYERS}",
                            w.num_layers
                        ));
                    }
                    if w.window_size > MAX_WINDOW {
                        bad.push(format!(
                            "policy.backbone.window_size is {}; exphil takes at most {MAX_WINDOW}",
                            w.window_size
                        ));
                    }
                }
                if let Some(m) = b.ssm() {
                    let inner = m
                        .expand_factor
                        .saturating_mul(b.temporal().map_or(0, |w| w.hidden_size));
                    width(
                        &mut bad,
                        "the Mamba inner width (expand_factor × hidden_size)",
                        inner,
                    );
                    width(&mut bad, "policy.backbone.state_size", m.state_size);
                    width(&mut bad, "policy.backbone.conv_size", m.conv_size);
                }
            }
        }
        bad
    }
}

impl Default for PolicyConfig {
    fn default() -> PolicyConfig {
        PolicyConfig {
            backbone: BackboneConfig::default(),
            head: HeadKind::Autoregressive,
            id_dims: BTreeMap::from([
                ("action".to_string(), 32),
                ("character".to_string(), 16),
                ("stage".to_string(), 8),
                ("item_type".to_string(), 8),
                ("delay".to_string(), 4),
                ("player_name".to_string(), 16),
            ]),
            default_id_dim: 8,
            value_hidden: 0,
        }
    }
}

/// The trunk of the policy: a tagged enum, so later backbones slot in without touching the
/// trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneConfig {
    /// A multi-layer perceptron over single frames.
    Mlp(MlpConfig),
    /// Stacked LSTM layers over a window of frames.
    Lstm(RecurrentConfig),
    /// Stacked GRU layers over a window of frames.
    Gru(RecurrentConfig),
    /// Causal multi-head self-attention over a window of frames.
    Attention(AttentionConfig),
    /// Selective state-space (Mamba) blocks over a window of frames.
    Mamba(MambaConfig),
    /// Mamba blocks with an attention block every `attention_every` layers.
    Jamba(JambaConfig),
}

impl Default for BackboneConfig {
    fn default() -> BackboneConfig {
        BackboneConfig::Mlp(MlpConfig::default())
    }
}

/// The names of the temporal backbones, in the order help lists them.
pub const TEMPORAL_BACKBONES: &[&str] = &["lstm", "gru", "attention", "mamba", "jamba"];

/// Every backbone name.
pub const BACKBONES: &[&str] = &["mlp", "lstm", "gru", "attention", "mamba", "jamba"];

impl BackboneConfig {
    /// The backbone's name (`mlp`, `lstm`, ...), used in run names and the registry.
    pub fn name(&self) -> &'static str {
        match self {
            BackboneConfig::Mlp(_) => "mlp",
            BackboneConfig::Lstm(_) => "lstm",
            BackboneConfig::Gru(_) => "gru",
            BackboneConfig::Attention(_) => "attention",
            BackboneConfig::Mamba(_) => "mamba",
            BackboneConfig::Jamba(_) => "jamba",
        }
    }

    /// The backbone in words: "an MLP (hidden 512-512)", "a temporal GRU (2 layers, width 256,
    /// window 60)".
    pub fn describe(&self) -> String {
        let kind = match self {
            BackboneConfig::Mlp(m) => {
                let widths: Vec<String> = m.hidden.iter().map(usize::to_string).collect();
                return format!(
                    "an MLP (hidden {}{})",
                    widths.join("-"),
                    if m.residual { ", residual" } else { "" }
                );
            }
            BackboneConfig::Lstm(_) => "an LSTM",
            BackboneConfig::Gru(_) => "a GRU",
            BackboneConfig::Attention(_) => "an attention network",
            BackboneConfig::Mamba(_) => "a Mamba",
            BackboneConfig::Jamba(_) => "a Jamba (Mamba and attention)",
        };
        match self.temporal() {
            Some(w) => format!(
                "a temporal {} ({} layers, width {}, window {})",
                kind.split_once(' ').map_or(kind, |(_, k)| k),
                w.num_layers,
                w.hidden_size,
                w.window_size
            ),
            None => kind.to_string(),
        }
    }

    /// The default settings of the backbone called `name`.
    pub fn default_of(name: &str) -> Option<BackboneConfig> {
        Some(match name {
            "mlp" => BackboneConfig::Mlp(MlpConfig::default()),
            "lstm" => BackboneConfig::Lstm(RecurrentConfig::default()),
            "gru" => BackboneConfig::Gru(RecurrentConfig::default()),
            "attention" => BackboneConfig::Attention(AttentionConfig::default()),
            "mamba" => BackboneConfig::Mamba(MambaConfig::default()),
            "jamba" => BackboneConfig::Jamba(JambaConfig::default()),
            _ => return None,
        })
    }

    /// Frames per example the backbone reads (`None` for single-frame backbones).
    pub fn window(&self) -> Option<usize> {
        self.temporal().map(|w| w.window_size)
    }

    /// Rows between window starts (`None` for single-frame backbones).
    pub fn stride(&self) -> Option<usize> {
        self.temporal().map(|w| w.stride)
    }

    /// Sets the backbone's dropout rate.
    pub fn set_dropout(&mut self, p: f64) {
        match self {
            BackboneConfig::Mlp(c) => c.dropout = p,
            BackboneConfig::Lstm(c) | BackboneConfig::Gru(c) => c.dropout = p,
            BackboneConfig::Attention(c) => c.dropout = p,
            BackboneConfig::Mamba(c) => c.dropout = p,
            BackboneConfig::Jamba(c) => c.dropout = p,
        }
    }

    /// The dropout rate of the backbone.
    pub fn dropout(&self) -> f64 {
        match self {
            BackboneConfig::Mlp(m) => m.dropout,
            _ => self.temporal().map_or(0.0, |w| w.dropout),
        }
    }
}

/// How a temporal backbone turns the outputs of a window's frames into one vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The last frame's output (causal: it has seen the whole window).
    #[default]
    Last,
    /// The mean over the window.
    Mean,
    /// Learned softmax weights over the window (content scores plus a per-position bias that
    /// starts out favouring recent frames).
    Weighted,
}

/// Settings every temporal backbone has: the window and the trunk's width and depth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowConfig {
    /// Frames per training example.
    pub window_size: usize,
    /// Frames between the starts of consecutive training windows.
    pub stride: usize,
    /// Stacked layers (blocks).
    pub num_layers: usize,
    /// The trunk's width.
    pub hidden_size: usize,
    /// Dropout between layers.
    pub dropout: f64,
    /// How the window's outputs become one vector.
    pub pooling: Pooling,
}

/// Attention settings (attention and Jamba backbones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionSettings {
    /// Heads (divides the width).
    pub num_heads: usize,
    /// Layer norm on each head's queries and keys.
    pub qk_layernorm: bool,
    /// Frames each frame attends to, itself included (`None`: the whole window).
    pub sliding_window: Option<usize>,
    /// Queries computed at a time (`None`: all).
    pub chunk_size: Option<usize>,
}

/// Selective state-space settings (Mamba and Jamba backbones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsmSettings {
    /// State size N per channel.
    pub state_size: usize,
    /// Inner width = `expand_factor x hidden_size`.
    pub expand_factor: usize,
    /// Kernel of the causal depthwise convolution.
    pub conv_size: usize,
}

/// LSTM / GRU settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecurrentConfig {
    /// Frames per training example.
    pub window_size: usize,
    /// Frames between the starts of consecutive training windows.
    pub stride: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// Hidden state width.
    pub hidden_size: usize,
    /// Dropout between layers.
    pub dropout: f64,
    /// How the window's outputs become one vector.
    pub pooling: Pooling,
    /// Back-propagate through at most this many final steps of the window (the state before
    /// them is treated as a constant): faster training, shorter memory in the gradient.
    pub truncate_bptt: Option<usize>,
    /// Each layer is a residual block, `x + rnn(LayerNorm(x))` then `x + MLP(LayerNorm(x))`
    /// (the block of the strongest current Melee agent), instead of a plain stacked RNN.
    pub residual_block: bool,
}

impl Default for RecurrentConfig {
    fn default() -> RecurrentConfig {
        RecurrentConfig {
            window_size: 60,
            stride: 1,
            num_layers: 2,
            hidden_size: 256,
            dropout: 0.1,
            pooling: Pooling::Last,
            truncate_bptt: None,
            residual_block: false,
        }
    }
}

/// Attention backbone settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttentionConfig {
    /// Frames per training example.
    pub window_size: usize,
    /// Frames between the starts of consecutive training windows.
    pub stride: usize,
    /// Stacked attention blocks.
    pub num_layers: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Dropout in the blocks.
    pub dropout: f64,
    /// How the window's outputs become one vector.
    pub pooling: Pooling,
    /// Attention heads (must divide `hidden_size`).
    pub num_heads: usize,
    /// Layer norm on each head's queries and keys (stabilises training).
    pub qk_layernorm: bool,
    /// Each frame attends to at most this many frames (itself included); `None`: the whole
    /// window.
    pub sliding_window: Option<usize>,
    /// Compute attention for this many queries at a time (bounds the scores held at once to
    /// `chunk_size x window` per head); `None`: all at once.
    pub chunk_size: Option<usize>,
}

impl Default for AttentionConfig {
    fn default() -> AttentionConfig {
        AttentionConfig {
            window_size: 60,
            stride: 1,
            num_layers: 2,
            hidden_size: 256,
            dropout: 0.1,
            pooling: Pooling::Last,
            num_heads: 4,
            qk_layernorm: true,
            sliding_window: None,
            chunk_size: None,
        }
    }
}

/// Mamba backbone settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MambaConfig {
    /// Frames per training example.
    pub window_size: usize,
    /// Frames between the starts of consecutive training windows.
    pub stride: usize,
    /// Stacked Mamba blocks.
    pub num_layers: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Dropout after each block.
    pub dropout: f64,
    /// How the window's outputs become one vector.
    pub pooling: Pooling,
    /// State size N per channel.
    pub state_size: usize,
    /// Inner width = `expand_factor x hidden_size`.
    pub expand_factor: usize,
    /// Kernel of the causal depthwise convolution.
    pub conv_size: usize,
    /// Back-propagate through at most this many final steps of the scan.
    pub truncate_bptt: Option<usize>,
}

impl Default for MambaConfig {
    fn default() -> MambaConfig {
        MambaConfig {
            window_size: 60,
            stride: 1,
            num_layers: 2,
            hidden_size: 256,
            dropout: 0.1,
            pooling: Pooling::Last,
            state_size: 16,
            expand_factor: 2,
            conv_size: 4,
            truncate_bptt: None,
        }
    }
}

/// Jamba backbone settings: Mamba blocks with attention blocks interleaved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JambaConfig {
    /// Frames per training example.
    pub window_size: usize,
    /// Frames between the starts of consecutive training windows.
    pub stride: usize,
    /// Blocks in all (Mamba and attention).
    pub num_layers: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Dropout after each block.
    pub dropout: f64,
    /// How the window's outputs become one vector.
    pub pooling: Pooling,
    /// State size N per channel.
    pub state_size: usize,
    /// Inner width = `expand_factor x hidden_size`.
    pub expand_factor: usize,
    /// Kernel of the causal depthwise convolution.
    pub conv_size: usize,
    /// Back-propagate through at most this many final steps of each scan.
    pub truncate_bptt: Option<usize>,
    /// Attention heads (must divide `hidden_size`).
    pub num_heads: usize,
    /// Layer norm on each head's queries and keys.
    pub qk_layernorm: bool,
    /// Each frame attends to at most this many frames (itself included).
    pub sliding_window: Option<usize>,
    /// Queries computed at a time in attention.
    pub chunk_size: Option<usize>,
    /// Block `i` (counting from 1) is attention when `i` is a multiple of this; the others
    /// are Mamba.
    pub attention_every: usize,
}

impl Default for JambaConfig {
    fn default() -> JambaConfig {
        JambaConfig {
            window_size: 60,
            stride: 1,
            num_layers: 6,
            hidden_size: 256,
            dropout: 0.1,
            pooling: Pooling::Last,
            state_size: 16,
            expand_factor: 2,
            conv_size: 4,
            truncate_bptt: None,
            num_heads: 4,
            qk_layernorm: true,
            sliding_window: None,
            chunk_size: None,
            attention_every: 3,
        }
    }
}

macro_rules! window_of {
    ($c:expr) => {
        WindowConfig {
            window_size: $c.window_size,
            stride: $c.stride,
            num_layers: $c.num_layers,
            hidden_size: $c.hidden_size,
            dropout: $c.dropout,
            pooling: $c.pooling,
        }
    };
}

impl BackboneConfig {
    /// The window, width and depth of a temporal backbone; `None` for the MLP.
    pub fn temporal(&self) -> Option<WindowConfig> {
        Some(match self {
            BackboneConfig::Mlp(_) => return None,
            BackboneConfig::Lstm(c) | BackboneConfig::Gru(c) => window_of!(c),
            BackboneConfig::Attention(c) => window_of!(c),
            BackboneConfig::Mamba(c) => window_of!(c),
            BackboneConfig::Jamba(c) => window_of!(c),
        })
    }

    /// The attention settings of an attention or Jamba backbone.
    pub fn attention(&self) -> Option<AttentionSettings> {
        let (num_heads, qk_layernorm, sliding_window, chunk_size) = match self {
            BackboneConfig::Attention(c) => {
                (c.num_heads, c.qk_layernorm, c.sliding_window, c.chunk_size)
            }
            BackboneConfig::Jamba(c) => {
                (c.num_heads, c.qk_layernorm, c.sliding_window, c.chunk_size)
            }
            _ => return None,
        };
        Some(AttentionSettings {
            num_heads,
            qk_layernorm,
            sliding_window,
            chunk_size,
        })
    }

    /// The state-space settings of a Mamba or Jamba backbone.
    pub fn ssm(&self) -> Option<SsmSettings> {
        let (state_size, expand_factor, conv_size) = match self {
            BackboneConfig::Mamba(c) => (c.state_size, c.expand_factor, c.conv_size),
            BackboneConfig::Jamba(c) => (c.state_size, c.expand_factor, c.conv_size),
            _ => return None,
        };
        Some(SsmSettings {
            state_size,
            expand_factor,
            conv_size,
        })
    }

    /// Steps of back-propagation through time (`None`: the whole window).
    pub fn truncate_bptt(&self) -> Option<usize> {
        match self {
            BackboneConfig::Lstm(c) | BackboneConfig::Gru(c) => c.truncate_bptt,
            BackboneConfig::Mamba(c) => c.truncate_bptt,
            BackboneConfig::Jamba(c) => c.truncate_bptt,
            _ => None,
        }
    }
}

/// MLP trunk settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Residual connections (a linear projection where widths differ).
    pub residual: bool,
    /// Layer norm after each hidden layer's linear map.
    pub layer_norm: bool,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// The hidden layers' nonlinearity.
    pub activation: Activation,
}

impl Default for MlpConfig {
    fn default() -> MlpConfig {
        MlpConfig {
            hidden: vec![512, 512],
            residual: false,
            layer_norm: false,
            dropout: 0.1,
            activation: Activation::Relu,
        }
    }
}

/// A hidden layer's nonlinearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x), as ExPhil's MLP (and the cheapest on a CPU).
    #[default]
    Relu,
    /// x * Φ(x) (exact, with erf).
    Gelu,
    /// x * sigmoid(x).
    Silu,
}

/// How the controller head predicts the six components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// Buttons, then main stick x, main stick y, C-stick x, C-stick y, shoulder; each
    /// conditioned on an embedding of the ones before it (teacher-forced in training).
    Autoregressive,
    /// Six independent heads on the trunk's output.
    Independent,
}

/// Which optimiser updates the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (L2 weight decay added to the gradient when `weight_decay > 0`).
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Layer-wise adaptive moments (LAMB): AdamW's update scaled per tensor by the trust ratio.
    Lamb,
    /// Rectified Adam.
    Radam,
    /// Stochastic gradient descent with (optionally Nesterov) momentum.
    Sgd,
}

/// Optimiser settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Weight decay (decoupled for AdamW and LAMB, L2 for Adam, RAdam and SGD).
    pub weight_decay: f64,
    /// First-moment decay (Adam family).
    pub beta1: f64,
    /// Second-moment decay (Adam family).
    pub beta2: f64,
    /// Denominator epsilon (Adam family).
    pub eps: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum for SGD.
    pub nesterov: bool,
}

impl Default for OptimConfig {
    fn default() -> OptimConfig {
        OptimConfig {
            optimizer: OptimizerKind::Adam,
            lr: 1e-4,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.9,
            nesterov: false,
        }
    }
}

/// What a training step computes in. The master weights and the optimiser state stay f32
/// whatever it is (mixed precision); this is not how a dataset stores its features (`dataset
/// build --precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// Forward and backward in f16, with a dynamic loss scale.
    F16,
    /// Forward and backward in bf16 (f32's range: no loss scale).
    Bf16,
    /// `--mixed-precision`: bf16 where the device computes in bf16, else f16 (resolved when
    /// the run starts; the run's `config.json` holds the type chosen).
    Half,
}

impl Precision {
    /// Its name in configs and flags (`f32`, `f16`, `bf16`, `half`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Half => "half",
        }
    }
}

/// The learning-rate schedule's shape after warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The peak rate throughout.
    Constant,
    /// Linear decay to `min_lr` over the horizon.
    Linear,
    /// Cosine decay to `min_lr` over the horizon.
    Cosine,
    /// Cosine decay restarting every `restart_period` steps, the period growing by
    /// `restart_mult` after each restart (SGDR).
    CosineRestarts,
    /// Multiply by `gamma` every `decay_steps` steps (continuously), floored at `min_lr`.
    Exponential,
    /// Hold the rate; multiply it by `plateau_factor` when the validation loss has not improved
    /// for `plateau_patience` epochs, floored at `min_lr`.
    Plateau,
}

/// Learning-rate schedule settings (steps are optimiser steps, after gradient accumulation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The schedule.
    pub schedule: ScheduleKind,
    /// Linear warmup from 0 to the peak rate over this many steps (0: none).
    pub warmup_steps: u64,
    /// Horizon of the linear and cosine decays and the step unit of the exponential one;
    /// `None` means the run's real total number of steps (after warmup).
    pub decay_steps: Option<u64>,
    /// The floor of every decay.
    pub min_lr: f64,
    /// First period of cosine with warm restarts (steps).
    pub restart_period: u64,
    /// Growth of the period after each restart.
    pub restart_mult: f64,
    /// Exponential decay factor per `decay_steps` steps.
    pub gamma: f64,
    /// Reduce-on-plateau factor.
    pub plateau_factor: f64,
    /// Epochs without improvement before reducing.
    pub plateau_patience: u32,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            decay_steps: None,
            min_lr: 0.0,
            restart_period: 1000,
            restart_mult: 2.0,
            gamma: 0.1,
            plateau_factor: 0.5,
            plateau_patience: 2,
        }
    }
}

/// Loss settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Label smoothing of the stick and shoulder cross-entropies (never the buttons).
    pub label_smoothing: f64,
    /// Focal loss on every component.
    pub focal_loss: bool,
    /// Focal loss exponent.
    pub focal_gamma: f64,
    /// Per-button positive weights, computed from the training data (negatives / positives).
    pub auto_pos_weight: bool,
    /// Upper clip of the automatic positive weights.
    pub max_pos_weight: f64,
}

impl Default for LossConfig {
    fn default() -> LossConfig {
        LossConfig {
            label_smoothing: 0.0,
            focal_loss: false,
            focal_gamma: 2.0,
            auto_pos_weight: true,
            max_pos_weight: 10.0,
        }
    }
}

/// The training loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopConfig {
    /// Passes over the training data.
    pub epochs: u32,
    /// Examples per batch.
    pub batch_size: usize,
    /// Batches whose gradients are summed before one optimiser step.
    pub accumulation_steps: usize,
    /// Global-norm gradient clipping (0 disables).
    pub max_grad_norm: f64,
    /// Keep an exponential moving average of the weights (used for validation and export).
    pub ema: bool,
    /// EMA decay per optimiser step.
    pub ema_decay: f64,
    /// Stop when the validation loss has not improved for `patience` epochs.
    pub early_stopping: bool,
    /// Epochs without improvement before stopping.
    pub patience: u32,
    /// Smallest decrease of the validation loss that counts as an improvement.
    pub min_delta: f64,
    /// Seed of initialisation, shuffling and dropout; `None` draws one (printed).
    pub seed: Option<u64>,
    /// Fraction of games held out for validation (whole games).
    pub val_split: f64,
    /// Hold out exactly these games for validation instead of a `val_split` fraction: replay
    /// file names (with or without `.slp`), paths, or content hashes; an entry naming a file
    /// that is not a replay (a `.txt` list) contributes the names on its lines.
    pub val_games: Vec<String>,
    /// Batches between progress updates.
    pub log_interval: usize,
    /// Non-finite steps in a row before reloading the last good state with a lower rate.
    pub max_bad_steps: u32,
    /// Reloads before the run stops with an error.
    pub max_recoveries: u32,
    /// Learning-rate factor applied at each reload.
    pub recovery_lr_factor: f64,
    /// Stop each epoch after this many batches (for smoke tests and benchmarks).
    pub max_batches: Option<usize>,
    /// What a training step computes in (mixed precision: f32 master weights).
    pub precision: Precision,
    /// The device memory the run may use, in bytes, where it is not the device's own (a
    /// shared GPU); `None`: the device's (what Vulkan reports). A warning comes when the
    /// allocator holds 90% of it.
    pub device_memory_limit: Option<u64>,
    /// How temporal backbones train: unrolls with a loss on every frame (the default), or
    /// windows with a loss on their last frame.
    pub sequence: SequenceConfig,
}

/// Sequence training of temporal backbones (slippi-ai's and HAL's recipe): each game is cut into
/// segments of `segment_frames` (after a random crop of its first `0..unroll` frames), the
/// segments are spread over `streams` parallel streams, and each optimiser step takes the next
/// `unroll` frames of every stream with the loss on every frame. The backbone's state (LSTM/GRU
/// hidden state, Mamba convolution buffer and scan state, the attention key/value cache, the
/// pooling buffer) is carried, detached, from one unroll of a stream to the next, exactly as the
/// policy steps at play, and reset where a stream starts a new segment (a game start, a gap in
/// the frames, a mirrored or noisy copy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceConfig {
    /// Train temporal backbones this way (`false`: windows, loss on the last frame).
    pub enabled: bool,
    /// Frames per unroll (one optimiser step back-propagates through an unroll).
    pub unroll: usize,
    /// Frames a segment carries the state over before it is reset (a multiple of `unroll`).
    pub segment_frames: usize,
    /// Parallel streams (the batch: `streams × unroll` scored frames per step).
    pub streams: usize,
    /// Start each game at a random frame in `0..unroll` every epoch, so unroll boundaries move.
    pub random_crop: bool,
}

impl Default for SequenceConfig {
    fn default() -> SequenceConfig {
        SequenceConfig {
            enabled: true,
            unroll: 32,
            segment_frames: 1024,
            streams: 64,
            random_crop: true,
        }
    }
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            epochs: 10,
            batch_size: 64,
            accumulation_steps: 1,
            max_grad_norm: 1.0,
            ema: false,
            ema_decay: 0.999,
            early_stopping: false,
            patience: 5,
            min_delta: 0.01,
            seed: None,
            val_split: 0.1,
            val_games: Vec::new(),
            log_interval: 100,
            max_bad_steps: 3,
            max_recoveries: 3,
            recovery_lr_factor: 0.5,
            max_batches: None,
            precision: Precision::F32,
            device_memory_limit: None,
            sequence: SequenceConfig::default(),
        }
    }
}

/// Where and when checkpoints are written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// The checkpoints directory (one subdirectory per run, plus the registry).
    pub dir: String,
    /// Run name; `None` means `{backbone}_{YYYYMMDD_HHMMSS}`.
    pub name: Option<String>,
    /// Save `best/` whenever the validation loss improves.
    pub save_best: bool,
    /// Save a numbered checkpoint every N epochs.
    pub save_every: Option<u32>,
    /// Save the rolling `batch/` checkpoint every N batches.
    pub save_every_batches: Option<u64>,
    /// Numbered checkpoints kept (oldest removed first).
    pub keep_last: usize,
    /// Replace an existing run of the same name.
    pub overwrite: bool,
    /// Keep the replaced run as a backup (`name.bak`, `name.bak.1`, ...).
    pub backup: bool,
    /// Backups kept.
    pub backup_count: usize,
    /// Record the finished run in the registry.
    pub register: bool,
    /// Tags recorded in the registry.
    pub tags: Vec<String>,
}

impl Default for CheckpointConfig {
    fn default() -> CheckpointConfig {
        CheckpointConfig {
            dir: "checkpoints".into(),
            name: None,
            save_best: true,
            save_every: None,
            save_every_batches: None,
            keep_last: 3,
            overwrite: false,
            backup: true,
            backup_count: 3,
            register: true,
            tags: Vec::new(),
        }
    }
}

/// Which replays, and how they become examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Replay folders or files.
    pub replays: Vec<String>,
    /// A prepared dataset directory (from `exphil dataset build`) instead of replays.
    pub dataset: Option<String>,
    /// Where datasets built from replays are cached (`None`: `~/.cache/exphil/datasets`).
    pub cache_dir: Option<String>,
    /// Use at most this many replay files (after filtering, in path order).
    pub max_files: Option<usize>,
    /// Learn the player on this port.
    pub player_port: Option<u8>,
    /// Learn the port(s) playing one of these characters.
    pub train_character: Vec<String>,
    /// Learn both players of every game.
    pub dual_port: bool,
    /// Frames between the state seen and the action learned.
    pub frame_delay: u8,
    /// Draw each example's delay from `frame_delay_min..=frame_delay_max`.
    pub frame_delay_augment: bool,
    /// Smallest augmented delay.
    pub frame_delay_min: u8,
    /// Largest augmented delay.
    pub frame_delay_max: u8,
    /// Train on mirrored and noisy copies as well (pre-computed in the dataset).
    pub augment: bool,
    /// Position noise of the noisy copies (world units).
    pub noise_std: f32,
    /// Noisy copies per example.
    pub noise_copies: u8,
    /// Embedding preset (compact, minimal, one_hot, full).
    pub embed_preset: String,
    /// Stick targets from these k-means centres.
    pub kmeans_centers: Option<String>,
    /// Player-name ids (0: off).
    pub num_player_names: u32,
    /// Keep games with one of these characters.
    pub characters: Vec<String>,
    /// Keep games on one of these stages.
    pub stages: Vec<String>,
    /// Keep games of at least this many frames.
    pub min_frames: Option<u32>,
    /// Keep games with a quality score of at least this.
    pub min_quality: Option<u32>,
    /// Keep only games where every player is human.
    pub human_only: bool,
    /// Keep only games with exactly two players.
    pub one_v_one: bool,
    /// Skip byte-identical duplicate replays.
    pub skip_duplicates: bool,
    /// Map at most this many games at once (bounded memory for huge datasets).
    pub stream: bool,
    /// Worker threads for building the dataset (`None`: all cores).
    pub threads: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> DataConfig {
        DataConfig {
            replays: Vec::new(),
            dataset: None,
            cache_dir: None,
            max_files: None,
            player_port: None,
            train_character: Vec::new(),
            dual_port: false,
            frame_delay: 0,
            frame_delay_augment: false,
            frame_delay_min: 0,
            frame_delay_max: 18,
            augment: false,
            noise_std: 0.5,
            noise_copies: 2,
            embed_preset: "compact".into(),
            kmeans_centers: None,
            num_player_names: 0,
            characters: Vec::new(),
            stages: Vec::new(),
            min_frames: None,
            min_quality: None,
            human_only: false,
            one_v_one: false,
            skip_duplicates: true,
            stream: false,
            threads: None,
        }
    }
}

/// Everything a training run needs; `config.json` of a run holds it, resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The preset this config started from, if any.
    pub preset: Option<String>,
    /// `cpu`, or `cuda:N` (with the `cuda` build).
    pub device: String,
    /// The network.
    pub policy: PolicyConfig,
    /// The optimiser.
    pub optim: OptimConfig,
    /// The learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// The losses.
    pub loss: LossConfig,
    /// The loop.
    #[serde(rename = "loop")]
    pub train: LoopConfig,
    /// Checkpoints.
    pub checkpoint: CheckpointConfig,
    /// Data.
    pub data: DataConfig,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            preset: None,
            device: "cpu".into(),
            policy: PolicyConfig::default(),
            optim: OptimConfig::default(),
            schedule: ScheduleConfig::default(),
            loss: LossConfig::default(),
            train: LoopConfig::default(),
            checkpoint: CheckpointConfig::default(),
            data: DataConfig::default(),
        }
    }
}
