//! The network: learned id tables, a backbone, the controller head and the value head.

use crate::input::{InputSpec, PolicyInput};
use crate::precision::{float_of, NormF32};
use crate::temporal::{Temporal, TemporalState};
use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::{gelu, relu, silu};
use burn::tensor::{Device, FloatDType, Int, Tensor};
use exphil_embed::NUM_BUTTONS;
use exphil_runs::config::{Activation, BackboneConfig, HeadKind, MlpConfig, PolicyConfig};

/// One hidden layer of the MLP.
#[derive(Module, Debug)]
pub struct MlpLayer {
    linear: Linear,
    norm: Option<LayerNorm>,
    /// Projection of the layer's input for the residual connection when widths differ.
    skip: Option<Linear>,
    residual: bool,
    dropout: Dropout,
    #[module(skip)]
    activation: Activation,
}

impl MlpLayer {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = self.linear.forward(x.clone());
        if let Some(n) = &self.norm {
            h = n.norm(h);
        }
        let h = match self.activation {
            Activation::Relu => relu(h),
            Activation::Gelu => gelu(h),
            Activation::Silu => silu(h),
        };
        let h = self.dropout.forward(h);
        if !self.residual {
            return h;
        }
        match &self.skip {
            Some(p) => h + p.forward(x),
            None => h + x,
        }
    }
}

/// The multi-layer perceptron trunk.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<MlpLayer>,
}

impl Mlp {
    fn new(cfg: &MlpConfig, input: usize, device: &Device) -> Mlp {
        let mut layers = Vec::new();
        let mut width = input;
        for &h in &cfg.hidden {
            layers.push(MlpLayer {
                linear: LinearConfig::new(width, h).init(device),
                norm: cfg.layer_norm.then(|| LayerNormConfig::new(h).init(device)),
                skip: (cfg.residual && width != h)
                    .then(|| LinearConfig::new(width, h).with_bias(false).init(device)),
                residual: cfg.residual,
                dropout: DropoutConfig::new(cfg.dropout).init(),
                activation: cfg.activation,
            });
            width = h;
        }
        Mlp { layers }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(x, |h, l| l.forward(h))
    }
}

/// The trunk: one variant per backbone kind.
#[derive(Module, Debug)]
// Built once per model or game slot and moved rarely: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Backbone {
    /// Single-frame MLP.
    Mlp(Mlp),
    /// LSTM, GRU, attention, Mamba or Jamba over a window of frames.
    Temporal(Temporal),
}

/// What a backbone carries from one frame to the next when stepping (nothing for the MLP).
#[derive(Clone, Debug)]
// Built once per model or game slot and moved rarely: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum BackboneState {
    /// Single-frame backbones: `n` rows, no memory.
    Stateless(usize),
    /// Temporal backbones.
    Temporal(TemporalState),
}

impl BackboneState {
    /// Rows (games) in the state.
    pub fn rows(&self) -> usize {
        match self {
            BackboneState::Stateless(n) => *n,
            BackboneState::Temporal(t) => t.rows(),
        }
    }

    /// Starts the listed rows afresh (a new game in those slots).
    pub fn reset_rows(&mut self, rows: &[usize]) {
        if let BackboneState::Temporal(t) = self {
            t.reset_rows(rows);
        }
    }

    /// The rows of `parts`, in order, as one state (each game keeps a one-row state of its
    /// own; a batch steps the games it holds). [`BackboneState::split`] undoes it.
    pub fn cat(parts: Vec<BackboneState>) -> BackboneState {
        let mut temporal = Vec::with_capacity(parts.len());
        let mut rows = 0;
        for p in parts {
            match p {
                BackboneState::Stateless(n) => rows += n,
                BackboneState::Temporal(t) => temporal.push(t),
            }
        }
        if temporal.is_empty() {
            BackboneState::Stateless(rows)
        } else {
            BackboneState::Temporal(TemporalState::cat(temporal))
        }
    }

    /// A copy on `device` holding the same values, with no autodiff history (a constant start
    /// for a sequence evaluated with gradients).
    pub fn to_device(&self, device: &Device) -> BackboneState {
        match self {
            BackboneState::Stateless(n) => BackboneState::Stateless(*n),
            BackboneState::Temporal(t) => BackboneState::Temporal(t.to_device(device)),
        }
    }

    /// The same values in another float type (a no-op in the type they have).
    pub fn cast(self, dtype: FloatDType) -> BackboneState {
        match self {
            BackboneState::Temporal(t) => BackboneState::Temporal(t.cast(dtype)),
            s => s,
        }
    }

    /// The same values with no autodiff history.
    pub fn detach(self) -> BackboneState {
        match self {
            BackboneState::Temporal(t) => BackboneState::Temporal(t.detach()),
            s => s,
        }
    }

    /// Each row as a state of its own.
    pub fn split(self) -> Vec<BackboneState> {
        match self {
            BackboneState::Stateless(n) => vec![BackboneState::Stateless(1); n],
            BackboneState::Temporal(t) => {
                t.split().into_iter().map(BackboneState::Temporal).collect()
            }
        }
    }
}

impl Backbone {
    fn new(cfg: &BackboneConfig, input: usize, device: &Device) -> Backbone {
        match cfg {
            BackboneConfig::Mlp(m) => Backbone::Mlp(Mlp::new(m, input, device)),
            _ => Backbone::Temporal(Temporal::new(cfg, input, device)),
        }
    }

    /// `[n * window, input]` rows (`window` consecutive frames per example, oldest first) ->
    /// `[n, output width]`. Single-frame backbones take `window` 1.
    pub fn forward(&self, x: Tensor<2>, window: usize) -> Tensor<2> {
        match self {
            Backbone::Mlp(m) => {
                assert_eq!(window, 1, "the MLP reads single frames");
                m.forward(x)
            }
            Backbone::Temporal(t) => {
                let [rows, d] = x.dims();
                let w = window.max(1);
                t.forward(x.reshape([rows / w, w, d]))
            }
        }
    }

    /// The frames per example the backbone was trained on (1 for the MLP).
    pub fn window(&self) -> usize {
        match self {
            Backbone::Mlp(_) => 1,
            Backbone::Temporal(t) => t.window(),
        }
    }

    /// The state before the first frame for `n` rows.
    pub fn initial_state(&self, n: usize, device: &Device) -> BackboneState {
        match self {
            Backbone::Mlp(_) => BackboneState::Stateless(n),
            Backbone::Temporal(t) => BackboneState::Temporal(t.initial_state(n, device)),
        }
    }

    /// One frame per row `[n, input]` -> `[n, output width]` and the next state.
    pub fn step(&self, x: Tensor<2>, state: BackboneState) -> (Tensor<2>, BackboneState) {
        match (self, state) {
            (Backbone::Mlp(m), s) => (m.forward(x), s),
            (Backbone::Temporal(t), BackboneState::Temporal(s)) => {
                let (y, s) = t.step(x, s);
                (y, BackboneState::Temporal(s))
            }
            (Backbone::Temporal(_), BackboneState::Stateless(_)) => {
                panic!("a temporal backbone steps with a temporal state")
            }
        }
    }
}

/// The width a backbone config produces from `input` features.
pub fn backbone_width(cfg: &BackboneConfig, input: usize) -> usize {
    match cfg {
        BackboneConfig::Mlp(m) => m.hidden.last().copied().unwrap_or(input),
        _ => cfg.temporal().map_or(input, |w| w.hidden_size),
    }
}

/// Logits of the six controller components for a batch.
#[derive(Clone, Debug)]
pub struct HeadLogits {
    /// `[n, 8]` button logits.
    pub buttons: Tensor<2>,
    /// `[n, classes]` logits of main x, main y, C x, C y, shoulder.
    pub classes: [Tensor<2>; 5],
}

/// The controller head: buttons, main x, main y, C x, C y, shoulder. Autoregressive: a
/// residual stream that adds an embedding of each component (the target in training, the
/// sample at play) before predicting the next.
#[derive(Module, Debug)]
pub struct ControllerHead {
    buttons: Linear,
    classes: Vec<Linear>,
    /// Embedding of the 8 button bits (autoregressive only).
    cond_buttons: Option<Linear>,
    /// Embeddings of main x, main y, C x, C y (autoregressive only).
    cond_classes: Vec<Embedding>,
}

impl ControllerHead {
    fn new(kind: HeadKind, width: usize, classes: [usize; 5], device: &Device) -> ControllerHead {
        let ar = kind == HeadKind::Autoregressive;
        ControllerHead {
            buttons: LinearConfig::new(width, NUM_BUTTONS).init(device),
            classes: classes
                .iter()
                .map(|&c| LinearConfig::new(width, c).init(device))
                .collect(),
            cond_buttons: ar.then(|| LinearConfig::new(NUM_BUTTONS, width).init(device)),
            cond_classes: if ar {
                classes[..4]
                    .iter()
                    .map(|&c| EmbeddingConfig::new(c, width).init(device))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Whether the head conditions each component on the ones before it.
    pub fn is_autoregressive(&self) -> bool {
        self.cond_buttons.is_some()
    }

    /// Button logits from the stream.
    pub fn button_logits(&self, h: &Tensor<2>) -> Tensor<2> {
        self.buttons.forward(h.clone())
    }

    /// Logits of class component `k` (0..5) from the stream.
    pub fn class_logits(&self, k: usize, h: &Tensor<2>) -> Tensor<2> {
        self.classes[k].forward(h.clone())
    }

    /// The stream after adding the chosen buttons (`[n, 8]` of 0/1).
    pub fn add_buttons(&self, h: Tensor<2>, buttons: Tensor<2>) -> Tensor<2> {
        match &self.cond_buttons {
            Some(c) => {
                let dtype = float_of(h.dtype());
                h + c.forward(buttons.cast(dtype))
            }
            None => h,
        }
    }

    /// The stream after adding class component `k`'s choice (`[n]`).
    pub fn add_class(&self, k: usize, h: Tensor<2>, class: Tensor<1, Int>) -> Tensor<2> {
        match self.cond_classes.get(k) {
            Some(e) => {
                let n = class.dims()[0];
                let [_, w] = h.dims();
                h + e.forward(class.reshape([n, 1])).reshape([n, w])
            }
            None => h,
        }
    }

    /// Teacher-forced logits: each component conditioned on the targets before it.
    pub fn forward(
        &self,
        h: Tensor<2>,
        buttons: Tensor<2>,
        classes: &[Tensor<1, Int>; 5],
    ) -> HeadLogits {
        let b = self.button_logits(&h);
        let mut h = self.add_buttons(h, buttons);
        let mut out = Vec::with_capacity(5);
        for (k, class) in classes.iter().enumerate() {
            out.push(self.class_logits(k, &h));
            if k < 4 {
                h = self.add_class(k, h, class.clone());
            }
        }
        let [a, b2, c, d, e]: [Tensor<2>; 5] = out.try_into().expect("five class heads");
        HeadLogits {
            buttons: b,
            classes: [a, b2, c, d, e],
        }
    }
}

/// The state-value head (for reinforcement learning; unused by behavioural cloning).
#[derive(Module, Debug)]
pub struct ValueHead {
    hidden: Option<Linear>,
    out: Linear,
}

impl ValueHead {
    /// `[n, width]` -> `[n]` values.
    pub fn forward(&self, h: Tensor<2>) -> Tensor<1> {
        let h = match &self.hidden {
            Some(l) => gelu(l.forward(h)),
            None => h,
        };
        let n = h.dims()[0];
        self.out.forward(h).reshape([n])
    }
}

/// The policy network.
#[derive(Module, Debug)]
pub struct Policy {
    /// One learned table per id group.
    id_tables: Vec<Embedding>,
    /// The trunk.
    pub backbone: Backbone,
    /// The controller head.
    pub head: ControllerHead,
    /// The value head.
    pub value: ValueHead,
    /// Natural log of the per-button positive weights the policy was trained with. Weighted
    /// binary cross-entropy shifts a button's logit by `ln w`, so decisions (accuracy, argmax,
    /// sampling) subtract it to recover the data's press probability.
    #[module(skip)]
    button_log_weight: [f32; NUM_BUTTONS],
}

/// The learned-embedding width of an id kind.
pub fn id_dim(cfg: &PolicyConfig, kind: &str) -> usize {
    cfg.id_dims.get(kind).copied().unwrap_or(cfg.default_id_dim)
}

/// The trunk's input width: features plus every id column's embedding.
pub fn trunk_input(cfg: &PolicyConfig, spec: &InputSpec) -> usize {
    spec.features
        + spec
            .id_groups
            .iter()
            .map(|g| g.columns.len() * id_dim(cfg, &g.kind))
            .sum::<usize>()
}

impl Policy {
    /// A freshly initialised policy (seed the device first for reproducible weights).
    pub fn new(cfg: &PolicyConfig, spec: &InputSpec, device: &Device) -> Policy {
        let id_tables = spec
            .id_groups
            .iter()
            .map(|g| EmbeddingConfig::new(g.vocab.max(1), id_dim(cfg, &g.kind)).init(device))
            .collect();
        let input = trunk_input(cfg, spec);
        let width = backbone_width(&cfg.backbone, input);
        Policy {
            id_tables,
            backbone: Backbone::new(&cfg.backbone, input, device),
            head: ControllerHead::new(cfg.head, width, spec.classes, device),
            value: ValueHead {
                hidden: (cfg.value_hidden > 0)
                    .then(|| LinearConfig::new(width, cfg.value_hidden).init(device)),
                out: LinearConfig::new(
                    if cfg.value_hidden > 0 {
                        cfg.value_hidden
                    } else {
                        width
                    },
                    1,
                )
                .init(device),
            },
            button_log_weight: [0.0; NUM_BUTTONS],
        }
    }

    /// This policy with the per-button positive weights of its training loss (each > 0).
    pub fn with_button_pos_weight(mut self, pos_weight: &[f32; NUM_BUTTONS]) -> Policy {
        self.button_log_weight = crate::targets::button_log_weights(pos_weight);
        self
    }

    /// What to subtract from each button logit to get the data's press log-odds.
    pub fn button_offsets(&self) -> [f32; NUM_BUTTONS] {
        self.button_log_weight
    }

    /// This policy computing in `precision`: its float parameters cast to that type (layer
    /// norms excepted), linked to these ones through the autodiff graph, so a loss computed
    /// from the copy back-propagates into this policy's f32 parameters. The same policy for
    /// f32.
    pub fn compute_copy(&self, precision: crate::precision::Precision) -> Policy {
        crate::precision::cast_params(self.clone(), precision)
    }

    /// The float type this policy computes in: its parameters' (f32, or a half type in a
    /// [`Policy::compute_copy`]).
    pub fn compute_dtype(&self) -> FloatDType {
        float_of(self.head.buttons.weight.val().dtype())
    }

    /// The trunk's input for a batch of rows: features and id embeddings, `[rows, input]`.
    fn trunk_input(&self, input: &PolicyInput) -> Tensor<2> {
        let mut parts = vec![input.features.clone().cast(self.compute_dtype())];
        for (table, ids) in self.id_tables.iter().zip(&input.ids) {
            let [n, cols] = ids.dims();
            let e = table.forward(ids.clone());
            let d = e.dims()[2];
            parts.push(e.reshape([n, cols * d]));
        }
        if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Tensor::cat(parts, 1)
        }
    }

    /// The trunk's output for a batch: `[examples, width]` (one per window).
    pub fn trunk(&self, input: &PolicyInput) -> Tensor<2> {
        match &self.backbone {
            Backbone::Temporal(t) if input.window > 1 => {
                // Frame by frame: slicing the data (which needs no gradient) is free, slicing
                // the embedded window per frame would not be in the backward pass.
                let (n, w) = (input.examples(), input.window);
                let frame = |i: usize| {
                    let [_, f] = input.features.dims();
                    let features = input
                        .features
                        .clone()
                        .reshape([n, w, f])
                        .narrow(1, i, 1)
                        .reshape([n, f]);
                    let ids = input
                        .ids
                        .iter()
                        .map(|ids| {
                            let [_, c] = ids.dims();
                            ids.clone()
                                .reshape([n, w, c])
                                .narrow(1, i, 1)
                                .reshape([n, c])
                        })
                        .collect();
                    self.trunk_input(&PolicyInput {
                        features,
                        ids,
                        rows: n,
                        window: 1,
                    })
                };
                t.forward_frames((0..w).map(frame).collect())
            }
            _ => self.backbone.forward(self.trunk_input(input), input.window),
        }
    }

    /// The stepping state before the first frame, for `n` rows (games).
    pub fn initial_state(&self, n: usize, device: &Device) -> BackboneState {
        self.backbone.initial_state(n, device)
    }

    /// The trunk's output for one frame per row (`input.window` 1) and the next state: O(1)
    /// per frame for every backbone.
    pub fn step_trunk(
        &self,
        input: &PolicyInput,
        state: BackboneState,
    ) -> (Tensor<2>, BackboneState) {
        assert_eq!(input.window, 1, "step takes one frame per row");
        let state = state.cast(self.compute_dtype());
        self.backbone.step(self.trunk_input(input), state)
    }

    /// The trunk's outputs for consecutive frames of the same rows (`steps[t]`: frame `t`, one
    /// row per game, `window` 1), stepped from `state` exactly as at play: `[steps × rows,
    /// width]` (frame-major: row `t * rows + r`) and the state after the last frame.
    /// `resets[t]` lists rows whose state starts afresh after frame `t` (their next frame is a
    /// new game's). With `detach_every = Some(n)`, the state is detached after every `n`
    /// frames: gradients flow back at most `n` frames (truncated back-propagation).
    pub fn trunk_sequence(
        &self,
        steps: &[PolicyInput],
        state: BackboneState,
        resets: &[Vec<usize>],
        detach_every: Option<usize>,
    ) -> (Tensor<2>, BackboneState) {
        // Callers unroll at least one frame (a stream batch has `unroll` ≥ 1 steps).
        let first = steps.first().expect("an unroll of at least one frame");
        let rows = first.examples();
        let device = first.features.device();
        let dtype = self.compute_dtype();
        let state = state.cast(dtype);
        if let (Backbone::Temporal(t), BackboneState::Temporal(s)) = (&self.backbone, &state) {
            if t.fused_applies(&device, dtype.into(), steps.len(), resets, detach_every) {
                let cat = |f: &dyn Fn(&PolicyInput) -> Tensor<2>| {
                    Tensor::cat(steps.iter().map(f).collect(), 0)
                };
                let input = PolicyInput {
                    features: cat(&|x| x.features.clone()),
                    ids: (0..first.ids.len())
                        .map(|k| Tensor::cat(steps.iter().map(|x| x.ids[k].clone()).collect(), 0))
                        .collect(),
                    rows: rows * steps.len(),
                    window: 1,
                };
                let last = resets.get(steps.len() - 1).map_or(&[][..], |r| &r[..]);
                let (h, s) = t.unroll_fused(self.trunk_input(&input), steps.len(), s.clone(), last);
                return (h, BackboneState::Temporal(s));
            }
        }
        let xs: Vec<Tensor<2>> = steps
            .iter()
            .map(|x| {
                assert_eq!(x.window, 1, "one frame per row and step");
                self.trunk_input(x)
            })
            .collect();
        match (&self.backbone, state) {
            (Backbone::Temporal(t), BackboneState::Temporal(s)) => {
                let (h, s) = t.unroll(xs, s, resets, detach_every);
                (h, BackboneState::Temporal(s))
            }
            (b, s) => {
                let hs: Vec<Tensor<2>> = xs.into_iter().map(|x| b.step(x, s.clone()).0).collect();
                (Tensor::cat(hs, 0), s)
            }
        }
    }

    /// Teacher-forced head logits for a batch with its targets.
    pub fn forward(
        &self,
        input: &PolicyInput,
        targets: &crate::targets::TargetBatch,
    ) -> HeadLogits {
        let h = self.trunk(input);
        self.head
            .forward(h, targets.buttons.clone(), &targets.classes)
    }

    /// State values for a batch.
    pub fn values(&self, input: &PolicyInput) -> Tensor<1> {
        self.value.forward(self.trunk(input))
    }
}

/// Trainable parameters of a policy config for an input spec (without building it).
pub fn param_count(cfg: &PolicyConfig, spec: &InputSpec) -> usize {
    let lin = |i: usize, o: usize| i * o + o;
    let mut n: usize = spec
        .id_groups
        .iter()
        .map(|g| g.vocab.max(1) * id_dim(cfg, &g.kind))
        .sum();
    let input = trunk_input(cfg, spec);
    n += match &cfg.backbone {
        BackboneConfig::Mlp(m) => {
            let mut n = 0;
            let mut w = input;
            for &h in &m.hidden {
                n += lin(w, h);
                if m.layer_norm {
                    n += 2 * h;
                }
                if m.residual && w != h {
                    n += w * h;
                }
                w = h;
            }
            n
        }
        temporal => crate::temporal::param_count(temporal, input),
    };
    let width = backbone_width(&cfg.backbone, input);
    n += lin(width, NUM_BUTTONS) + spec.classes.iter().map(|&c| lin(width, c)).sum::<usize>();
    if cfg.head == HeadKind::Autoregressive {
        n += lin(NUM_BUTTONS, width) + spec.classes[..4].iter().map(|&c| c * width).sum::<usize>();
    }
    n += if cfg.value_hidden > 0 {
        lin(width, cfg.value_hidden) + lin(cfg.value_hidden, 1)
    } else {
        lin(width, 1)
    };
    n
}
