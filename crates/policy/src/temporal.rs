//! Temporal backbones over a window of frames: stacked LSTM or GRU layers (plain, or residual
//! blocks with a pre-LayerNorm MLP), causal multi-head self-attention (pre-LN, QK layer norm,
//! rotary positions, optional sliding window and query chunking), exact selective state-space
//! (Mamba) blocks, and Jamba (Mamba with an attention block every N layers); the window's
//! outputs are pooled (last, mean or learned weights) into one vector.
//!
//! Every backbone also runs frame by frame: [`Temporal::initial_state`] and [`Temporal::step`]
//! carry the recurrent state, the Mamba convolution buffer and scan state, a bounded key/value
//! cache for attention, and the last outputs for pooling, so play costs O(1) per frame. Stepping
//! from a fresh state through frames `0..=t` gives the windowed forward pass over those frames.
//! Attention positions are rotary (relative), so the cache slides without recomputation.

use crate::precision::{float_of, NormF32};
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid, silu, softmax, softplus};
use burn::tensor::{DType, Device, Distribution, FloatDType, Tensor, TensorData};
use exphil_runs::config::{AttentionSettings, BackboneConfig, Pooling, SsmSettings};

/// A score that softmax turns into an exact zero weight.
const MASKED: f32 = -1e9;

/// One saved tensor: its name, shape and values in row-major order.
pub type NamedValues = (String, Vec<usize>, Vec<f32>);

/// Linear(h, 4h), GELU, Linear(4h, h).
#[derive(Module, Debug)]
pub struct FeedForward {
    up: Linear,
    down: Linear,
}

impl FeedForward {
    fn new(h: usize, device: &Device) -> FeedForward {
        FeedForward {
            up: LinearConfig::new(h, 4 * h).init(device),
            down: LinearConfig::new(4 * h, h).init(device),
        }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.down.forward(gelu(self.up.forward(x)))
    }
}

/// `x[:, t, :]` of a `[n, w, d]` tensor as `[n, d]`.
fn at(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [n, _, d] = x.dims();
    x.clone().narrow(1, t, 1).reshape([n, d])
}

/// A window of frames: one `[n, w, d]` tensor (attention, Mamba) or `w` tensors `[n, d]`
/// (recurrent layers step through them).
// A short-lived value on the stack: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Seq {
    Window(Tensor<3>),
    Frames(Vec<Tensor<2>>),
}

impl Seq {
    fn len(&self) -> usize {
        match self {
            Seq::Window(t) => t.dims()[1],
            Seq::Frames(f) => f.len(),
        }
    }

    fn window(self) -> Tensor<3> {
        match self {
            Seq::Window(t) => t,
            Seq::Frames(f) => Tensor::stack(f, 1),
        }
    }

    fn frames(self) -> Vec<Tensor<2>> {
        match self {
            Seq::Frames(f) => f,
            Seq::Window(t) => (0..t.dims()[1]).map(|i| at(&t, i)).collect(),
        }
    }

    fn map(
        self,
        on3: impl Fn(Tensor<3>) -> Tensor<3>,
        on2: impl Fn(Tensor<2>) -> Tensor<2>,
    ) -> Seq {
        match self {
            Seq::Window(t) => Seq::Window(on3(t)),
            Seq::Frames(f) => Seq::Frames(f.into_iter().map(on2).collect()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recurrent cells

/// An LSTM cell (PyTorch's gate order i, f, g, o).
#[derive(Module, Debug)]
pub struct LstmCell {
    /// Input to the four gates, with bias.
    input: Linear,
    /// Hidden state to the four gates, without bias.
    hidden: Linear,
}

/// A GRU cell (PyTorch's formulation: the reset gate scales the hidden state's candidate term).
#[derive(Module, Debug)]
pub struct GruCell {
    /// Input to r, z, n, with bias.
    input: Linear,
    /// Hidden state to r, z, n, with bias.
    hidden: Linear,
}

/// A recurrent cell.
#[derive(Module, Debug)]
pub enum Cell {
    /// LSTM.
    Lstm(LstmCell),
    /// GRU.
    Gru(GruCell),
}

/// The state of one recurrent layer: `h`, and `c` for an LSTM.
#[derive(Clone, Debug)]
pub struct RecurrentState {
    h: Tensor<2>,
    c: Option<Tensor<2>>,
}

impl RecurrentState {
    fn cast(self, dtype: FloatDType) -> RecurrentState {
        RecurrentState {
            h: self.h.cast(dtype),
            c: self.c.map(|c| c.cast(dtype)),
        }
    }
}

impl Cell {
    fn new(lstm: bool, input: usize, h: usize, device: &Device) -> Cell {
        if lstm {
            Cell::Lstm(LstmCell {
                input: LinearConfig::new(input, 4 * h).init(device),
                hidden: LinearConfig::new(h, 4 * h).with_bias(false).init(device),
            })
        } else {
            Cell::Gru(GruCell {
                input: LinearConfig::new(input, 3 * h).init(device),
                hidden: LinearConfig::new(h, 3 * h).init(device),
            })
        }
    }

    fn width(&self) -> usize {
        match self {
            Cell::Lstm(c) => c.hidden.weight.dims()[0],
            Cell::Gru(c) => c.hidden.weight.dims()[0],
        }
    }

    fn zero_state(&self, n: usize, device: &Device) -> RecurrentState {
        let h = self.width();
        RecurrentState {
            h: Tensor::zeros([n, h], device),
            c: matches!(self, Cell::Lstm(_)).then(|| Tensor::zeros([n, h], device)),
        }
    }

    /// The input's contribution to the gates, for every frame at once.
    fn gates<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Cell::Lstm(c) => c.input.forward(x),
            Cell::Gru(c) => c.input.forward(x),
        }
    }

    /// One step from the input's gate contribution `xg`.
    fn cell(&self, xg: Tensor<2>, s: RecurrentState) -> RecurrentState {
        let h = self.width();
        match self {
            Cell::Lstm(l) => {
                let g = xg + l.hidden.forward(s.h);
                let sg = sigmoid(g.clone());
                let i = sg.clone().narrow(1, 0, h);
                let f = sg.clone().narrow(1, h, h);
                let o = sg.narrow(1, 3 * h, h);
                let cand = g.narrow(1, 2 * h, h).tanh();
                let c = match s.c {
                    Some(c) => f * c + i * cand,
                    None => i * cand,
                };
                RecurrentState {
                    h: o * c.clone().tanh(),
                    c: Some(c),
                }
            }
            Cell::Gru(gru) => {
                let hg = gru.hidden.forward(s.h.clone());
                let rz = sigmoid(xg.clone().narrow(1, 0, 2 * h) + hg.clone().narrow(1, 0, 2 * h));
                let r = rz.clone().narrow(1, 0, h);
                let z = rz.narrow(1, h, h);
                let cand = (xg.narrow(1, 2 * h, h) + r * hg.narrow(1, 2 * h, h)).tanh();
                RecurrentState {
                    h: (s.h - cand.clone()) * z + cand,
                    c: None,
                }
            }
        }
    }

    /// Runs over the frames (`[n, d]` each) from `s`, returning each frame's hidden state and
    /// the state after the last frame.
    fn unroll(
        &self,
        xs: Vec<Tensor<2>>,
        mut s: RecurrentState,
    ) -> (Vec<Tensor<2>>, RecurrentState) {
        let mut outs = Vec::with_capacity(xs.len());
        for x in xs {
            s = self.cell(self.gates(x), s);
            outs.push(s.h.clone());
        }
        (outs, s)
    }

    /// Runs over the frames (`[n, d]` each) from a zero state; `cut` detaches the state
    /// before that step. Per-frame tensors, not slices of one `[n, w, d]` tensor: the backward
    /// of a slice writes a zero tensor the size of its source, O(w²) over a window.
    fn sequence(&self, xs: Vec<Tensor<2>>, cut: usize) -> Vec<Tensor<2>> {
        let Some(first) = xs.first() else {
            return Vec::new();
        };
        let mut s = self
            .zero_state(first.dims()[0], &first.device())
            .cast(float_of(first.dtype()));
        let mut outs = Vec::with_capacity(xs.len());
        for (t, x) in xs.into_iter().enumerate() {
            if t == cut && t > 0 {
                s = RecurrentState {
                    h: s.h.detach(),
                    c: s.c.map(Tensor::detach),
                };
            }
            s = self.cell(self.gates(x), s);
            outs.push(s.h.clone());
        }
        outs
    }
}

/// One recurrent layer: plain (`rnn(x)`) or a residual block (`x + rnn(LN(x))`, then
/// `x + MLP(LN(x))`).
#[derive(Module, Debug)]
pub struct RecurrentLayer {
    cell: Cell,
    norm: Option<LayerNorm>,
    ffn_norm: Option<LayerNorm>,
    ffn: Option<FeedForward>,
    dropout: Dropout,
}

impl RecurrentLayer {
    fn forward(&self, xs: Vec<Tensor<2>>, cut: usize) -> Vec<Tensor<2>> {
        match (&self.norm, &self.ffn_norm, &self.ffn) {
            (Some(n1), Some(n2), Some(f)) => {
                let normed = xs.iter().map(|x| n1.norm(x.clone())).collect();
                let hs = self.cell.sequence(normed, cut);
                xs.into_iter()
                    .zip(hs)
                    .map(|(x, h)| {
                        let x = x + self.dropout.forward(h);
                        x.clone() + self.dropout.forward(f.forward(n2.norm(x)))
                    })
                    .collect()
            }
            _ => self
                .cell
                .sequence(xs, cut)
                .into_iter()
                .map(|h| self.dropout.forward(h))
                .collect(),
        }
    }

    /// [`RecurrentLayer::unroll`] on the fused layer ([`crate::fused`]): the frames as one
    /// `[T * n, d]` tensor (frame-major), the output likewise.
    fn unroll_fused(
        &self,
        x: Tensor<2>,
        t_n: usize,
        s: RecurrentState,
    ) -> (Tensor<2>, RecurrentState) {
        let [rows, _] = x.dims();
        let n = rows / t_n.max(1);
        let cell_in = match &self.norm {
            Some(n1) => n1.norm(x.clone()),
            None => x.clone(),
        };
        let xg = self.cell.gates(cell_in);
        let g = xg.dims()[1];
        let xg = xg.reshape([t_n, n, g]);
        let (hs, s) = match &self.cell {
            Cell::Lstm(l) => {
                let h = g / 4;
                let c0 =
                    s.c.unwrap_or_else(|| Tensor::zeros([n, h], (&xg.device(), xg.dtype())));
                let out = crate::fused::lstm_unroll(xg, l.hidden.weight.val(), s.h, c0);
                let last = out.clone().narrow(0, t_n - 1, 1).reshape([n, 2 * h]);
                let state = RecurrentState {
                    h: last.clone().narrow(1, 0, h),
                    c: Some(last.narrow(1, h, h)),
                };
                (out.narrow(2, 0, h).reshape([t_n * n, h]), state)
            }
            Cell::Gru(gru) => {
                let h = g / 3;
                let bias = match &gru.hidden.bias {
                    Some(b) => b.val(),
                    None => Tensor::zeros([g], (&xg.device(), xg.dtype())),
                };
                let out = crate::fused::gru_unroll(xg, gru.hidden.weight.val(), bias, s.h);
                let last = out.clone().narrow(0, t_n - 1, 1).reshape([n, h]);
                let state = RecurrentState { h: last, c: None };
                (out.reshape([t_n * n, h]), state)
            }
        };
        let out = match (&self.norm, &self.ffn_norm, &self.ffn) {
            (Some(_), Some(n2), Some(f)) => {
                let x = x + self.dropout.forward(hs);
                x.clone() + self.dropout.forward(f.forward(n2.norm(x)))
            }
            _ => self.dropout.forward(hs),
        };
        (out, s)
    }

    /// Consecutive frames (`[n, d]` each) from state `s`: each frame's output and the state
    /// after the last, exactly as [`RecurrentLayer::step`] frame by frame (dropout aside).
    fn unroll(&self, xs: Vec<Tensor<2>>, s: RecurrentState) -> (Vec<Tensor<2>>, RecurrentState) {
        match (&self.norm, &self.ffn_norm, &self.ffn) {
            (Some(n1), Some(n2), Some(f)) => {
                let normed = xs.iter().map(|x| n1.norm(x.clone())).collect();
                let (hs, s) = self.cell.unroll(normed, s);
                let out = xs
                    .into_iter()
                    .zip(hs)
                    .map(|(x, h)| {
                        let x = x + self.dropout.forward(h);
                        x.clone() + self.dropout.forward(f.forward(n2.norm(x)))
                    })
                    .collect();
                (out, s)
            }
            _ => {
                let (hs, s) = self.cell.unroll(xs, s);
                (hs.into_iter().map(|h| self.dropout.forward(h)).collect(), s)
            }
        }
    }

    fn step(&self, x: Tensor<2>, s: RecurrentState) -> (Tensor<2>, RecurrentState) {
        match (&self.norm, &self.ffn_norm, &self.ffn) {
            (Some(n1), Some(n2), Some(f)) => {
                let s = self.cell.cell(self.cell.gates(n1.norm(x.clone())), s);
                let x = x + s.h.clone();
                (x.clone() + f.forward(n2.norm(x)), s)
            }
            _ => {
                let s = self.cell.cell(self.cell.gates(x), s);
                (s.h.clone(), s)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Attention

/// cos and sin of the rotary angles `pos * 10000^(-2i/d)` for `i < d/2`, computed in f64 and
/// reduced mod 2π so that long games keep full precision: `[positions, d/2]` each.
fn rotary_tables(positions: &[u64], head_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(positions.len() * half);
    let mut sin = Vec::with_capacity(positions.len() * half);
    for &p in positions {
        for i in 0..half {
            let freq = 10000f64.powf(-2.0 * i as f64 / head_dim as f64);
            let a = (p as f64 * freq).rem_euclid(std::f64::consts::TAU);
            cos.push(a.cos() as f32);
            sin.push(a.sin() as f32);
        }
    }
    (cos, sin)
}

/// Rotates pairs `(x[i], x[i + d/2])` of the last dimension by the tables' angles.
fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    Tensor::cat(
        vec![
            x1.clone() * cos.clone() - x2.clone() * sin.clone(),
            x2 * cos.clone() + x1 * sin.clone(),
        ],
        3,
    )
}

/// A pre-LN causal self-attention block with a feed-forward block.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    norm: LayerNorm,
    qkv: Linear,
    q_norm: Option<LayerNorm>,
    k_norm: Option<LayerNorm>,
    out: Linear,
    ffn_norm: LayerNorm,
    ffn: FeedForward,
    dropout: Dropout,
    heads: usize,
    /// Frames a frame attends to, itself included (`usize::MAX`: unbounded).
    reach: usize,
    /// Queries per chunk (`usize::MAX`: all).
    chunk: usize,
}

/// An attention layer's key/value cache: the last `len` frames' rotated keys and values,
/// `[n, heads, len, head_dim]`, oldest first.
#[derive(Clone, Debug)]
pub struct KvCache {
    k: Tensor<4>,
    v: Tensor<4>,
}

impl AttentionBlock {
    fn new(h: usize, a: &AttentionSettings, dropout: f64, device: &Device) -> AttentionBlock {
        let dh = h / a.num_heads.max(1);
        AttentionBlock {
            norm: LayerNormConfig::new(h).init(device),
            qkv: LinearConfig::new(h, 3 * h).init(device),
            q_norm: a
                .qk_layernorm
                .then(|| LayerNormConfig::new(dh).init(device)),
            k_norm: a
                .qk_layernorm
                .then(|| LayerNormConfig::new(dh).init(device)),
            out: LinearConfig::new(h, h).init(device),
            ffn_norm: LayerNormConfig::new(h).init(device),
            ffn: FeedForward::new(h, device),
            dropout: DropoutConfig::new(dropout).init(),
            heads: a.num_heads.max(1),
            reach: a.sliding_window.unwrap_or(usize::MAX),
            chunk: a.chunk_size.unwrap_or(usize::MAX),
        }
    }

    fn head_dim(&self) -> usize {
        self.out.weight.dims()[0] / self.heads
    }

    /// Queries, keys and values of `[n, w, h]` as `[n, heads, w, head_dim]`, queries and keys
    /// normalised and rotated to the positions of the tables.
    fn project(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let [n, w, h] = x.dims();
        let dh = self.head_dim();
        let qkv = self.qkv.forward(x);
        let part = |i: usize| {
            qkv.clone()
                .narrow(2, i * h, h)
                .reshape([n, w, self.heads, dh])
                .swap_dims(1, 2)
        };
        let (mut q, mut k, v) = (part(0), part(1), part(2));
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = qn.norm(q);
            k = kn.norm(k);
        }
        (rotate(q, cos, sin), rotate(k, cos, sin), v)
    }

    /// Attention of `[n, w, h]` over itself, causal within `reach`.
    fn attend(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, w, h] = x.dims();
        let device = x.device();
        let dh = self.head_dim();
        let positions: Vec<u64> = (0..w as u64).collect();
        let (c, s) = rotary_tables(&positions, dh);
        let dtype = x.dtype();
        let table = |v: Vec<f32>| {
            Tensor::<4>::from_data(TensorData::new(v, [1, 1, w, dh / 2]), (&device, dtype))
        };
        let (cos, sin) = (table(c), table(s));
        let (q, k, v) = self.project(x, &cos, &sin);
        let kt = k.swap_dims(2, 3);
        let scale = 1.0 / (dh as f64).sqrt();
        let chunk = self.chunk.min(w).max(1);
        let mut outs = Vec::new();
        let mut start = 0;
        while start < w {
            let len = chunk.min(w - start);
            let mut bias = vec![0f32; len * w];
            for i in 0..len {
                let t = start + i;
                for (j, b) in bias[i * w..(i + 1) * w].iter_mut().enumerate() {
                    if j > t || t - j >= self.reach {
                        *b = MASKED;
                    }
                }
            }
            let bias = Tensor::<4>::from_data(TensorData::new(bias, [1, 1, len, w]), &device);
            let scores = q
                .clone()
                .narrow(2, start, len)
                .matmul(kt.clone())
                .mul_scalar(scale);
            let p = softmax(scores.cast(FloatDType::F32) + bias, 3).cast(float_of(dtype));
            outs.push(p.matmul(v.clone()));
            start += len;
        }
        let o = if outs.len() == 1 {
            outs.pop().expect("one chunk")
        } else {
            Tensor::cat(outs, 2)
        };
        self.out.forward(o.swap_dims(1, 2).reshape([n, w, h]))
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.dropout.forward(self.attend(self.norm.norm(x)));
        x.clone()
            + self
                .dropout
                .forward(self.ffn.forward(self.ffn_norm.norm(x)))
    }

    /// Cache slots: the frames a step can attend to.
    fn slots(&self, window: usize) -> usize {
        self.reach.min(window).max(1)
    }

    fn empty_cache(&self, n: usize, window: usize, device: &Device) -> KvCache {
        let shape = [n, self.heads, self.slots(window), self.head_dim()];
        KvCache {
            k: Tensor::zeros(shape, device),
            v: Tensor::zeros(shape, device),
        }
    }

    /// One frame per row at absolute positions `pos`; `seen[r]` frames (this one included)
    /// since row `r`'s reset.
    fn step(
        &self,
        x: Tensor<2>,
        cache: KvCache,
        pos: &[u64],
        seen: &[u64],
    ) -> (Tensor<2>, KvCache) {
        let [n, h] = x.dims();
        let device = x.device();
        let dh = self.head_dim();
        let (c, s) = rotary_tables(pos, dh);
        let dtype = x.dtype();
        let table = |v: Vec<f32>| {
            Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, dh / 2]), (&device, dtype))
        };
        let (cos, sin) = (table(c), table(s));
        let (q, k, v) = self.project(self.norm.norm(x.clone()).reshape([n, 1, h]), &cos, &sin);
        let slots = cache.k.dims()[2];
        let push = |old: Tensor<4>, new: Tensor<4>| {
            if slots == 1 {
                new
            } else {
                Tensor::cat(vec![old.narrow(2, 1, slots - 1), new], 2)
            }
        };
        let cache = KvCache {
            k: push(cache.k, k),
            v: push(cache.v, v),
        };
        let mut bias = vec![0f32; n * slots];
        for (r, b) in bias.chunks_exact_mut(slots).enumerate() {
            let valid = (seen[r] as usize).min(slots);
            for x in &mut b[..slots - valid] {
                *x = MASKED;
            }
        }
        let bias = Tensor::<4>::from_data(TensorData::new(bias, [n, 1, 1, slots]), &device);
        let scores = q
            .matmul(cache.k.clone().swap_dims(2, 3))
            .mul_scalar(1.0 / (dh as f64).sqrt());
        let o = softmax(scores.cast(FloatDType::F32) + bias, 3)
            .cast(float_of(dtype))
            .matmul(cache.v.clone());
        let a = self.out.forward(o.reshape([n, h]));
        let x = x + a;
        (x.clone() + self.ffn.forward(self.ffn_norm.norm(x)), cache)
    }
}

// ---------------------------------------------------------------------------------------------
// Mamba

/// A selective state-space (Mamba) block with a pre-LN residual: input projection to `x` and
/// the gate `z`, causal depthwise convolution and SiLU on `x`, input-dependent Δ (softplus of a
/// low-rank projection), B and C, zero-order-hold discretisation `exp(ΔA)`, `ΔBx`, the scan
/// `h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t`, `y_t = C_t h_t + D x_t`, gated by SiLU(z).
#[derive(Module, Debug)]
pub struct MambaBlock {
    norm: LayerNorm,
    in_proj: Linear,
    /// `[conv_size, inner]`: tap `k` multiplies the input `conv_size - 1 - k` frames back.
    conv_weight: Param<Tensor<2>>,
    conv_bias: Param<Tensor<1>>,
    x_proj: Linear,
    dt_proj: Linear,
    /// `[inner, state]`; A = -exp(a_log).
    a_log: Param<Tensor<2>>,
    d: Param<Tensor<1>>,
    out_proj: Linear,
    dropout: Dropout,
}

/// A Mamba layer's state: the last `conv_size - 1` convolution inputs `[n, conv_size - 1,
/// inner]` (none when the kernel is 1) and the scan state `[n, inner, state]`.
#[derive(Clone, Debug)]
pub struct MambaState {
    conv: Option<Tensor<3>>,
    h: Tensor<3>,
}

impl MambaBlock {
    fn new(h: usize, m: &SsmSettings, dropout: f64, device: &Device) -> MambaBlock {
        let e = m.expand_factor * h;
        let n = m.state_size;
        let rank = h.div_ceil(16);
        let k = m.conv_size;
        // Δ's bias: softplus^-1 of a log-uniform draw in [0.001, 0.1], as Mamba initialises.
        let u: Tensor<1> = Tensor::random([e], Distribution::Uniform(0.0, 1.0), device);
        let (lo, hi) = (0.001f64.ln(), 0.1f64.ln());
        let dt = u.mul_scalar(hi - lo).add_scalar(lo).exp().clamp_min(1e-4);
        let dt_bias = dt.clone().neg().exp().neg().add_scalar(1.0).log() + dt;
        let mut dt_proj = LinearConfig::new(rank, e).init(device);
        let s = (rank as f64).powf(-0.5);
        dt_proj.weight = Param::from_tensor(Tensor::random(
            [rank, e],
            Distribution::Uniform(-s, s),
            device,
        ));
        dt_proj.bias = Some(Param::from_tensor(dt_bias));
        let a: Vec<f32> = (0..e)
            .flat_map(|_| (1..=n).map(|i| (i as f32).ln()))
            .collect();
        let ck = (k as f64).powf(-0.5);
        MambaBlock {
            norm: LayerNormConfig::new(h).init(device),
            in_proj: LinearConfig::new(h, 2 * e).with_bias(false).init(device),
            conv_weight: Param::from_tensor(Tensor::random(
                [k, e],
                Distribution::Uniform(-ck, ck),
                device,
            )),
            conv_bias: Param::from_tensor(Tensor::random(
                [e],
                Distribution::Uniform(-ck, ck),
                device,
            )),
            x_proj: LinearConfig::new(e, rank + 2 * n)
                .with_bias(false)
                .init(device),
            dt_proj,
            a_log: Param::from_tensor(Tensor::from_data(TensorData::new(a, [e, n]), device)),
            d: Param::from_tensor(Tensor::ones([e], device)),
            out_proj: LinearConfig::new(e, h).with_bias(false).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    fn dims(&self) -> (usize, usize, usize, usize) {
        let [k, e] = self.conv_weight.dims();
        let n = self.a_log.dims()[1];
        let rank = self.dt_proj.weight.dims()[0];
        (k, e, n, rank)
    }

    /// Δ `[.., inner]`, B and C `[.., state]` from the convolved input.
    fn selection<const D: usize>(&self, xc: Tensor<D>) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let (_, _, n, rank) = self.dims();
        let dbc = self.x_proj.forward(xc);
        let dt = softplus(
            self.dt_proj.forward(dbc.clone().narrow(D - 1, 0, rank)),
            1.0,
        );
        let b = dbc.clone().narrow(D - 1, rank, n);
        let c = dbc.narrow(D - 1, rank + n, n);
        (dt, b, c)
    }

    fn a(&self) -> Tensor<2> {
        self.a_log.val().exp().neg()
    }

    fn forward(&self, x: Tensor<3>, cut: usize) -> Tensor<3> {
        let [bsz, w, _] = x.dims();
        let (k, e, n, _) = self.dims();
        let device = x.device();
        let xz = self.in_proj.forward(self.norm.norm(x.clone()));
        let xi = xz.clone().narrow(2, 0, e);
        let z = xz.narrow(2, e, e);
        // Causal depthwise convolution: zeros before the window's first frame.
        let padded = if k > 1 {
            Tensor::cat(
                vec![Tensor::zeros([bsz, k - 1, e], (&device, xi.dtype())), xi],
                1,
            )
        } else {
            xi
        };
        let weight = self.conv_weight.val();
        let mut conv = self.conv_bias.val().reshape([1, 1, e]);
        for tap in 0..k {
            conv = conv
                + padded.clone().narrow(1, tap, w)
                    * weight.clone().narrow(0, tap, 1).reshape([1, 1, e]);
        }
        let xc = silu(conv);
        let (dt, b, c) = self.selection(xc.clone());
        // The scan's per-frame inputs side by side, `[n, w, 2E + 2N]`: each step slices one
        // small row (the backward of a slice writes a zero tensor the size of its source, so
        // slicing the `[n, w, E, N]` discretised tensors per step would cost O(w²·E·N)).
        let u = dt.clone() * xc.clone();
        let rows = Tensor::cat(vec![dt, u, b, c], 2);
        let a = self.a().reshape([1, e, n]);
        let mut h: Tensor<3> = Tensor::zeros([bsz, e, n], (&device, x.dtype()));
        let mut ys = Vec::with_capacity(w);
        for t in 0..w {
            if t == cut && t > 0 {
                h = h.detach();
            }
            let r = at(&rows, t);
            let dt_t = r.clone().narrow(1, 0, e).reshape([bsz, e, 1]);
            let u_t = r.clone().narrow(1, e, e).reshape([bsz, e, 1]);
            let b_t = r.clone().narrow(1, 2 * e, n).reshape([bsz, 1, n]);
            let c_t = r.narrow(1, 2 * e + n, n).reshape([bsz, 1, n]);
            h = (dt_t * a.clone()).exp() * h + u_t * b_t;
            ys.push((h.clone() * c_t).sum_dim(2).reshape([bsz, e]));
        }
        let y = Tensor::stack::<3>(ys, 1) + xc * self.d.val().reshape([1, 1, e]);
        let y = y * silu(z);
        x + self.dropout.forward(self.out_proj.forward(y))
    }

    fn zero_state(&self, rows: usize, device: &Device) -> MambaState {
        let (k, e, n, _) = self.dims();
        MambaState {
            conv: (k > 1).then(|| Tensor::zeros([rows, k - 1, e], device)),
            h: Tensor::zeros([rows, e, n], device),
        }
    }

    fn step(&self, x: Tensor<2>, s: MambaState) -> (Tensor<2>, MambaState) {
        let [rows, _] = x.dims();
        let (k, e, n, _) = self.dims();
        let xz = self.in_proj.forward(self.norm.norm(x.clone()));
        let xi = xz.clone().narrow(1, 0, e);
        let z = xz.narrow(1, e, e);
        let window = match &s.conv {
            Some(buf) => Tensor::cat(vec![buf.clone(), xi.reshape([rows, 1, e])], 1),
            None => xi.reshape([rows, 1, e]),
        };
        let taps = self.conv_weight.val().reshape([1, k, e]);
        let conv = (window.clone() * taps).sum_dim(1).reshape([rows, e])
            + self.conv_bias.val().reshape([1, e]);
        let xc = silu(conv);
        let (dt, b, c) = self.selection(xc.clone());
        let da = (dt.clone().reshape([rows, e, 1]) * self.a().reshape([1, e, n])).exp();
        let dbx = (dt * xc.clone()).reshape([rows, e, 1]) * b.reshape([rows, 1, n]);
        let h = da * s.h + dbx;
        let y = (h.clone() * c.reshape([rows, 1, n]))
            .sum_dim(2)
            .reshape([rows, e])
            + xc * self.d.val().reshape([1, e]);
        let y = y * silu(z);
        let out = x + self.out_proj.forward(y);
        let conv = s.conv.map(|_| window.narrow(1, 1, k - 1));
        (out, MambaState { conv, h })
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling

/// Learned temporal pooling: softmax over the window of a content score plus a per-age bias
/// (age 0 = the newest frame) that starts out decaying with age, favouring recent frames.
#[derive(Module, Debug)]
pub struct WeightedPool {
    score: Linear,
    /// `[window]`, indexed by age.
    age_bias: Param<Tensor<1>>,
}

impl WeightedPool {
    fn new(h: usize, window: usize, device: &Device) -> WeightedPool {
        let decay = 4.0 / window.max(1) as f32;
        let bias: Vec<f32> = (0..window).map(|a| -(a as f32) * decay).collect();
        WeightedPool {
            score: LinearConfig::new(h, 1).init(device),
            age_bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [window]),
                device,
            )),
        }
    }

    /// Pools `[n, m, h]` (the last `m` frames, oldest first) with `mask` `[n, m]` added to the
    /// scores (0 for real frames, [`MASKED`] for empty slots).
    fn pool(&self, o: Tensor<3>, mask: Option<Tensor<2>>) -> Tensor<2> {
        let [n, m, h] = o.dims();
        let bias = self
            .age_bias
            .val()
            .narrow(0, 0, m)
            .flip([0])
            .reshape([1, m]);
        let mut s = (self.score.forward(o.clone()).reshape([n, m]) + bias).cast(FloatDType::F32);
        if let Some(mask) = mask {
            s = s + mask;
        }
        let a = softmax(s, 1).cast(float_of(o.dtype())).reshape([n, m, 1]);
        (o * a).sum_dim(1).reshape([n, h])
    }
}

// ---------------------------------------------------------------------------------------------
// The backbone

/// One layer of a temporal trunk.
#[derive(Module, Debug)]
// Built once per model or game slot and moved rarely: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Block {
    /// LSTM or GRU.
    Recurrent(RecurrentLayer),
    /// Causal self-attention.
    Attention(AttentionBlock),
    /// Selective state space.
    Mamba(MambaBlock),
}

/// A temporal trunk: `[n, w, input]` -> `[n, hidden]`.
#[derive(Module, Debug)]
pub struct Temporal {
    /// Projection of the frame features to the trunk's width (absent for plain recurrent
    /// stacks, whose first layer reads the features).
    input: Option<Linear>,
    layers: Vec<Block>,
    /// Final layer norm of pre-LN stacks (attention, Mamba, Jamba, residual recurrent blocks).
    norm: Option<LayerNorm>,
    pool: Option<WeightedPool>,
    /// Frames per training window.
    window: usize,
    /// 0 last, 1 mean, 2 weighted.
    pooling: usize,
    /// Steps of back-propagation through time (`usize::MAX`: all).
    truncate: usize,
}

/// A function applied to every tensor of a [`TemporalState`].
trait StateMap {
    fn map<const D: usize>(&self, t: Tensor<D>) -> Tensor<D>;
}

/// The per-layer state of a temporal trunk.
#[derive(Clone, Debug)]
pub enum LayerState {
    /// LSTM / GRU.
    Recurrent(RecurrentState),
    /// Attention key/value cache.
    Attention(KvCache),
    /// Mamba convolution buffer and scan state.
    Mamba(MambaState),
}

/// What a temporal trunk carries from one frame to the next, for `n` rows (games).
#[derive(Clone, Debug)]
pub struct TemporalState {
    layers: Vec<LayerState>,
    /// The last `window` outputs `[n, window, hidden]` (mean and weighted pooling).
    outputs: Option<Tensor<3>>,
    /// Frames stepped per row since its reset.
    seen: Vec<u64>,
}

impl TemporalState {
    /// Rows (games) in the state.
    pub fn rows(&self) -> usize {
        self.seen.len()
    }

    /// Starts the listed rows afresh (a new game in that slot).
    pub fn reset_rows(&mut self, rows: &[usize]) {
        if rows.is_empty() {
            return;
        }
        let n = self.seen.len();
        let mut keep = vec![1f32; n];
        for &r in rows {
            if r < n {
                keep[r] = 0.0;
                self.seen[r] = 0;
            }
        }
        let Some(device) = self.device() else {
            return;
        };
        let dtype = self.dtype().unwrap_or(DType::F32);
        let k2 = Tensor::<2>::from_data(TensorData::new(keep.clone(), [n, 1]), (&device, dtype));
        let k3 = k2.clone().reshape([n, 1, 1]);
        let k4 = k2.clone().reshape([n, 1, 1, 1]);
        for l in &mut self.layers {
            match l {
                LayerState::Recurrent(s) => {
                    s.h = s.h.clone() * k2.clone();
                    s.c = s.c.take().map(|c| c * k2.clone());
                }
                LayerState::Attention(c) => {
                    c.k = c.k.clone() * k4.clone();
                    c.v = c.v.clone() * k4.clone();
                }
                LayerState::Mamba(m) => {
                    m.h = m.h.clone() * k3.clone();
                    m.conv = m.conv.take().map(|c| c * k3.clone());
                }
            }
        }
        self.outputs = self.outputs.take().map(|o| o * k3);
    }

    /// The rows of `parts`, in order, as one state (to step several games' own states in one
    /// batch; [`TemporalState::split`] undoes it). Every part must come from the same trunk.
    pub fn cat(parts: Vec<TemporalState>) -> TemporalState {
        let mut parts = parts;
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let seen = parts.iter().flat_map(|p| p.seen.iter().copied()).collect();
        let outputs = parts
            .iter()
            .map(|p| p.outputs.clone())
            .collect::<Option<Vec<_>>>()
            .map(|o| Tensor::cat(o, 0));
        let layer_count = parts.first().map_or(0, |p| p.layers.len());
        let mut columns: Vec<Vec<LayerState>> = (0..layer_count).map(|_| Vec::new()).collect();
        for p in parts {
            for (c, l) in columns.iter_mut().zip(p.layers) {
                c.push(l);
            }
        }
        let layers = columns
            .into_iter()
            .map(|c| {
                let first = c.first().cloned();
                match first {
                    Some(LayerState::Recurrent(_)) => {
                        let (mut h, mut cs) = (Vec::new(), Vec::new());
                        for l in c {
                            if let LayerState::Recurrent(s) = l {
                                h.push(s.h);
                                cs.extend(s.c);
                            }
                        }
                        let c = (!cs.is_empty()).then(|| Tensor::cat(cs, 0));
                        LayerState::Recurrent(RecurrentState {
                            h: Tensor::cat(h, 0),
                            c,
                        })
                    }
                    Some(LayerState::Attention(_)) => {
                        let (mut k, mut v) = (Vec::new(), Vec::new());
                        for l in c {
                            if let LayerState::Attention(s) = l {
                                k.push(s.k);
                                v.push(s.v);
                            }
                        }
                        LayerState::Attention(KvCache {
                            k: Tensor::cat(k, 0),
                            v: Tensor::cat(v, 0),
                        })
                    }
                    _ => {
                        let (mut conv, mut h) = (Vec::new(), Vec::new());
                        for l in c {
                            if let LayerState::Mamba(s) = l {
                                conv.extend(s.conv);
                                h.push(s.h);
                            }
                        }
                        LayerState::Mamba(MambaState {
                            conv: (!conv.is_empty()).then(|| Tensor::cat(conv, 0)),
                            h: Tensor::cat(h, 0),
                        })
                    }
                }
            })
            .collect();
        TemporalState {
            layers,
            outputs,
            seen,
        }
    }

    /// Each row as a state of its own.
    pub fn split(self) -> Vec<TemporalState> {
        let n = self.seen.len();
        if n == 1 {
            return vec![self];
        }
        let row2 = |t: &Tensor<2>, i: usize| t.clone().narrow(0, i, 1);
        let row3 = |t: &Tensor<3>, i: usize| t.clone().narrow(0, i, 1);
        let row4 = |t: &Tensor<4>, i: usize| t.clone().narrow(0, i, 1);
        (0..n)
            .map(|i| TemporalState {
                layers: self
                    .layers
                    .iter()
                    .map(|l| match l {
                        LayerState::Recurrent(s) => LayerState::Recurrent(RecurrentState {
                            h: row2(&s.h, i),
                            c: s.c.as_ref().map(|c| row2(c, i)),
                        }),
                        LayerState::Attention(c) => LayerState::Attention(KvCache {
                            k: row4(&c.k, i),
                            v: row4(&c.v, i),
                        }),
                        LayerState::Mamba(m) => LayerState::Mamba(MambaState {
                            conv: m.conv.as_ref().map(|c| row3(c, i)),
                            h: row3(&m.h, i),
                        }),
                    })
                    .collect(),
                outputs: self.outputs.as_ref().map(|o| row3(o, i)),
                seen: vec![self.seen[i]],
            })
            .collect()
    }

    /// The state with `f` applied to every tensor.
    fn map_tensors(self, f: &impl StateMap) -> TemporalState {
        TemporalState {
            layers: self
                .layers
                .into_iter()
                .map(|l| match l {
                    LayerState::Recurrent(s) => LayerState::Recurrent(RecurrentState {
                        h: f.map(s.h),
                        c: s.c.map(|c| f.map(c)),
                    }),
                    LayerState::Attention(c) => LayerState::Attention(KvCache {
                        k: f.map(c.k),
                        v: f.map(c.v),
                    }),
                    LayerState::Mamba(m) => LayerState::Mamba(MambaState {
                        conv: m.conv.map(|c| f.map(c)),
                        h: f.map(m.h),
                    }),
                })
                .collect(),
            outputs: self.outputs.map(|o| f.map(o)),
            seen: self.seen,
        }
    }

    /// A copy on `device` holding the same values, with no autodiff history.
    pub fn to_device(&self, device: &Device) -> TemporalState {
        struct Copy<'a>(&'a Device);
        impl StateMap for Copy<'_> {
            fn map<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
                let dtype = t.dtype();
                Tensor::from_data(t.to_data(), (self.0, dtype))
            }
        }
        self.clone().map_tensors(&Copy(device))
    }

    /// The same values with no autodiff history (carried across sequence-training unrolls).
    pub fn detach(self) -> TemporalState {
        struct Detach;
        impl StateMap for Detach {
            fn map<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
                t.detach()
            }
        }
        self.map_tensors(&Detach)
    }

    /// The same values in another float type (a no-op in the type they have).
    pub fn cast(self, dtype: FloatDType) -> TemporalState {
        struct Cast(FloatDType);
        impl StateMap for Cast {
            fn map<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
                t.cast(self.0)
            }
        }
        self.map_tensors(&Cast(dtype))
    }

    /// Every tensor of the state as `(name, shape, values)` (for a checkpoint), and the frames
    /// each row has seen.
    pub fn export(&self) -> (Vec<NamedValues>, Vec<u64>) {
        fn one<const D: usize>(out: &mut Vec<NamedValues>, name: String, t: &Tensor<D>) {
            out.push((name, t.dims().to_vec(), crate::params::tensor_values(t)));
        }
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            match l {
                LayerState::Recurrent(s) => {
                    one(&mut out, format!("layer{i}.h"), &s.h);
                    if let Some(c) = &s.c {
                        one(&mut out, format!("layer{i}.c"), c);
                    }
                }
                LayerState::Attention(c) => {
                    one(&mut out, format!("layer{i}.k"), &c.k);
                    one(&mut out, format!("layer{i}.v"), &c.v);
                }
                LayerState::Mamba(m) => {
                    if let Some(c) = &m.conv {
                        one(&mut out, format!("layer{i}.conv"), c);
                    }
                    one(&mut out, format!("layer{i}.h"), &m.h);
                }
            }
        }
        if let Some(o) = &self.outputs {
            one(&mut out, "outputs".into(), o);
        }
        (out, self.seen.clone())
    }

    /// This state (of the same trunk and rows) with the values of [`TemporalState::export`].
    pub fn import(self, tensors: &[NamedValues], seen: &[u64]) -> Result<TemporalState, String> {
        let Some(device) = self.device() else {
            return Ok(self);
        };
        if seen.len() != self.seen.len() {
            return Err(format!(
                "the saved state has {} rows, this one {}",
                seen.len(),
                self.seen.len()
            ));
        }
        fn take<const D: usize>(
            tensors: &[NamedValues],
            name: &str,
            like: Tensor<D>,
            device: &Device,
        ) -> Result<Tensor<D>, String> {
            let (_, shape, v) = tensors
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| format!("the saved state has no {name}"))?;
            let dims = like.dims();
            if shape.as_slice() != dims.as_slice() || v.len() != dims.iter().product::<usize>() {
                return Err(format!("{name} is {shape:?}, expected {dims:?}"));
            }
            Ok(Tensor::from_data(TensorData::new(v.clone(), dims), device))
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.into_iter().enumerate() {
            layers.push(match l {
                LayerState::Recurrent(s) => LayerState::Recurrent(RecurrentState {
                    h: take(tensors, &format!("layer{i}.h"), s.h, &device)?,
                    c: match s.c {
                        Some(c) => Some(take(tensors, &format!("layer{i}.c"), c, &device)?),
                        None => None,
                    },
                }),
                LayerState::Attention(c) => LayerState::Attention(KvCache {
                    k: take(tensors, &format!("layer{i}.k"), c.k, &device)?,
                    v: take(tensors, &format!("layer{i}.v"), c.v, &device)?,
                }),
                LayerState::Mamba(m) => LayerState::Mamba(MambaState {
                    conv: match m.conv {
                        Some(c) => Some(take(tensors, &format!("layer{i}.conv"), c, &device)?),
                        None => None,
                    },
                    h: take(tensors, &format!("layer{i}.h"), m.h, &device)?,
                }),
            });
        }
        let outputs = match self.outputs {
            Some(o) => Some(take(tensors, "outputs", o, &device)?),
            None => None,
        };
        Ok(TemporalState {
            layers,
            outputs,
            seen: seen.to_vec(),
        })
    }

    fn device(&self) -> Option<Device> {
        self.layers.first().map(|l| match l {
            LayerState::Recurrent(s) => s.h.device(),
            LayerState::Attention(c) => c.k.device(),
            LayerState::Mamba(m) => m.h.device(),
        })
    }

    fn dtype(&self) -> Option<DType> {
        self.layers.first().map(|l| match l {
            LayerState::Recurrent(s) => s.h.dtype(),
            LayerState::Attention(c) => c.k.dtype(),
            LayerState::Mamba(m) => m.h.dtype(),
        })
    }
}

impl Temporal {
    /// The trunk of a temporal backbone config reading `input` features per frame.
    pub fn new(cfg: &BackboneConfig, input: usize, device: &Device) -> Temporal {
        let w = cfg.temporal().expect("a temporal backbone config");
        let h = w.hidden_size;
        let layers_n = w.num_layers.max(1);
        let mut residual_recurrent = false;
        let layers: Vec<Block> = match cfg {
            BackboneConfig::Lstm(r) | BackboneConfig::Gru(r) => {
                let lstm = matches!(cfg, BackboneConfig::Lstm(_));
                residual_recurrent = r.residual_block;
                (0..layers_n)
                    .map(|i| {
                        let width = if i == 0 && !r.residual_block {
                            input
                        } else {
                            h
                        };
                        Block::Recurrent(RecurrentLayer {
                            cell: Cell::new(lstm, width, h, device),
                            norm: r
                                .residual_block
                                .then(|| LayerNormConfig::new(h).init(device)),
                            ffn_norm: r
                                .residual_block
                                .then(|| LayerNormConfig::new(h).init(device)),
                            ffn: r.residual_block.then(|| FeedForward::new(h, device)),
                            dropout: DropoutConfig::new(w.dropout).init(),
                        })
                    })
                    .collect()
            }
            BackboneConfig::Attention(_) => {
                let a = cfg.attention().expect("attention settings");
                (0..layers_n)
                    .map(|_| Block::Attention(AttentionBlock::new(h, &a, w.dropout, device)))
                    .collect()
            }
            BackboneConfig::Mamba(_) => {
                let m = cfg.ssm().expect("ssm settings");
                (0..layers_n)
                    .map(|_| Block::Mamba(MambaBlock::new(h, &m, w.dropout, device)))
                    .collect()
            }
            BackboneConfig::Jamba(j) => {
                let a = cfg.attention().expect("attention settings");
                let m = cfg.ssm().expect("ssm settings");
                let every = j.attention_every.max(1);
                (1..=layers_n)
                    .map(|i| {
                        if i % every == 0 {
                            Block::Attention(AttentionBlock::new(h, &a, w.dropout, device))
                        } else {
                            Block::Mamba(MambaBlock::new(h, &m, w.dropout, device))
                        }
                    })
                    .collect()
            }
            BackboneConfig::Mlp(_) => unreachable!("the MLP is not temporal"),
        };
        let plain_recurrent =
            matches!(cfg, BackboneConfig::Lstm(_) | BackboneConfig::Gru(_)) && !residual_recurrent;
        Temporal {
            input: (!plain_recurrent).then(|| LinearConfig::new(input, h).init(device)),
            layers,
            norm: (!plain_recurrent).then(|| LayerNormConfig::new(h).init(device)),
            pool: (w.pooling == Pooling::Weighted)
                .then(|| WeightedPool::new(h, w.window_size.max(1), device)),
            window: w.window_size.max(1),
            pooling: match w.pooling {
                Pooling::Last => 0,
                Pooling::Mean => 1,
                Pooling::Weighted => 2,
            },
            truncate: cfg.truncate_bptt().unwrap_or(usize::MAX),
        }
    }

    /// The trunk's output width.
    pub fn width(&self) -> usize {
        match &self.norm {
            Some(n) => n.gamma.dims()[0],
            None => match self.layers.last() {
                Some(Block::Recurrent(r)) => r.cell.width(),
                _ => 0,
            },
        }
    }

    /// Frames per training window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Every frame's output for windows given as one `[n, w, input]` tensor or as `w` frames
    /// `[n, input]` (at most the configured window; each starts from a fresh state).
    fn run(&self, x: Seq) -> Seq {
        let cut = x.len().saturating_sub(self.truncate);
        let mut x = match &self.input {
            Some(p) => x.map(|t| p.forward(t), |t| p.forward(t)),
            None => x,
        };
        for l in &self.layers {
            x = match l {
                Block::Recurrent(r) => Seq::Frames(r.forward(x.frames(), cut)),
                Block::Attention(a) => Seq::Window(a.forward(x.window())),
                Block::Mamba(m) => Seq::Window(m.forward(x.window(), cut)),
            };
        }
        match &self.norm {
            Some(n) => x.map(|t| n.norm(t), |t| n.norm(t)),
            None => x,
        }
    }

    fn pooled(&self, o: Seq) -> Tensor<2> {
        match (self.pooling, &self.pool, o) {
            (1, _, Seq::Frames(f)) => {
                let w = f.len() as f64;
                f.into_iter()
                    .reduce(|a, b| a + b)
                    .expect("at least one frame")
                    .div_scalar(w)
            }
            (1, _, Seq::Window(o)) => {
                let [n, _, h] = o.dims();
                o.mean_dim(1).reshape([n, h])
            }
            (2, Some(p), o) => p.pool(o.window(), None),
            (_, _, Seq::Frames(mut f)) => f.pop().expect("at least one frame"),
            (_, _, Seq::Window(o)) => {
                let [n, w, h] = o.dims();
                o.narrow(1, w - 1, 1).reshape([n, h])
            }
        }
    }

    /// Every frame's output `[n, w, hidden]` for windows `[n, w, input]` (at most the
    /// configured window; each starts from a fresh state).
    pub fn sequence(&self, x: Tensor<3>) -> Tensor<3> {
        self.run(Seq::Window(x)).window()
    }

    /// The pooled output `[n, hidden]` of windows `[n, w, input]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        self.pooled(self.run(Seq::Window(x)))
    }

    /// The pooled output `[n, hidden]` of windows given frame by frame (`w` tensors `[n,
    /// input]`, oldest first): the training path, which never slices a tensor that needs a
    /// gradient per frame.
    pub fn forward_frames(&self, frames: Vec<Tensor<2>>) -> Tensor<2> {
        assert!(!frames.is_empty(), "a window of at least one frame");
        self.pooled(self.run(Seq::Frames(frames)))
    }

    /// The state before the first frame, for `n` rows.
    pub fn initial_state(&self, n: usize, device: &Device) -> TemporalState {
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                Block::Recurrent(r) => LayerState::Recurrent(r.cell.zero_state(n, device)),
                Block::Attention(a) => LayerState::Attention(a.empty_cache(n, self.window, device)),
                Block::Mamba(m) => LayerState::Mamba(m.zero_state(n, device)),
            })
            .collect();
        TemporalState {
            layers,
            outputs: (self.pooling != 0)
                .then(|| Tensor::zeros([n, self.window, self.width()], device)),
            seen: vec![0; n],
        }
    }

    /// Whether an unroll of `t_n` frames with these resets and detaches can run layer by layer
    /// (a recurrent stack with last-frame pooling, no reset or detach before its last frame).
    fn layered(&self, t_n: usize, resets: &[Vec<usize>], detach_every: Option<usize>) -> bool {
        let cut_inside = detach_every.is_some_and(|k| k > 0 && k < t_n);
        let reset_inside = resets
            .iter()
            .enumerate()
            .any(|(t, r)| t + 1 < t_n && !r.is_empty());
        self.pooling == 0
            && !cut_inside
            && !reset_inside
            && self.layers.iter().all(|l| matches!(l, Block::Recurrent(_)))
    }

    /// Whether [`Temporal::unroll_fused`] runs an unroll of `t_n` frames of `dtype` on `device`
    /// with these resets and detaches: [`Temporal::unroll`]'s layer-by-layer case in f32 on a
    /// device with the fused recurrent layers ([`crate::fused::available`]).
    pub fn fused_applies(
        &self,
        device: &Device,
        dtype: DType,
        t_n: usize,
        resets: &[Vec<usize>],
        detach_every: Option<usize>,
    ) -> bool {
        t_n > 0
            && dtype == DType::F32
            && crate::fused::available(device)
            && self.layered(t_n, resets, detach_every)
    }

    /// [`Temporal::unroll`] with the fused recurrent layers: the frames as one `[T * n, input]`
    /// tensor (frame-major, row `t * n + r`), so nothing is cut per frame; `last_resets` are the
    /// rows reset after the last frame. Only where [`Temporal::fused_applies`] holds.
    pub fn unroll_fused(
        &self,
        x: Tensor<2>,
        t_n: usize,
        mut state: TemporalState,
        last_resets: &[usize],
    ) -> (Tensor<2>, TemporalState) {
        for s in &mut state.seen {
            *s += t_n as u64;
        }
        let mut x = match &self.input {
            Some(p) => p.forward(x),
            None => x,
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, s) in self.layers.iter().zip(state.layers) {
            let (Block::Recurrent(r), LayerState::Recurrent(s)) = (l, s) else {
                panic!("the fused unroll takes a recurrent stack and its own state")
            };
            let (y, s) = r.unroll_fused(x, t_n, s);
            x = y;
            layers.push(LayerState::Recurrent(s));
        }
        if let Some(nm) = &self.norm {
            x = nm.norm(x);
        }
        let mut state = TemporalState {
            layers,
            outputs: None,
            seen: state.seen,
        };
        state.reset_rows(last_resets);
        (x, state)
    }

    /// Consecutive frames of the same rows (`xs[t]`: frame `t`, `[n, input]`) stepped from
    /// `state`: every frame's output, `[T * n, width]` frame-major (row `t * n + r`), and the
    /// state after the last frame, exactly what [`Temporal::step`] gives frame by frame.
    /// `resets[t]` lists rows whose state starts afresh after frame `t`; with `detach_every =
    /// Some(k)` the state is detached after every `k` frames (truncated back-propagation).
    ///
    /// Recurrent stacks with last-frame pooling run layer by layer over the whole unroll (the
    /// sequence-training path); other backbones, pooling over a window, or a reset or detach
    /// inside the unroll step frame by frame.
    pub fn unroll(
        &self,
        xs: Vec<Tensor<2>>,
        mut state: TemporalState,
        resets: &[Vec<usize>],
        detach_every: Option<usize>,
    ) -> (Tensor<2>, TemporalState) {
        let t_n = xs.len();
        let inside = |t: usize| t + 1 < t_n;
        if !self.layered(t_n, resets, detach_every) {
            let mut hs = Vec::with_capacity(t_n);
            for (t, x) in xs.into_iter().enumerate() {
                let (h, next) = self.step(x, state);
                state = next;
                if let Some(r) = resets.get(t) {
                    state.reset_rows(r);
                }
                if detach_every.is_some_and(|k| k > 0 && (t + 1) % k == 0 && inside(t)) {
                    state = state.detach();
                }
                hs.push(h);
            }
            return (Tensor::cat(hs, 0), state);
        }
        for s in &mut state.seen {
            *s += t_n as u64;
        }
        let mut xs = match &self.input {
            Some(p) => xs.into_iter().map(|x| p.forward(x)).collect(),
            None => xs,
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, s) in self.layers.iter().zip(state.layers) {
            let (Block::Recurrent(r), LayerState::Recurrent(s)) = (l, s) else {
                panic!("the state does not belong to this backbone")
            };
            let (ys, s) = r.unroll(xs, s);
            xs = ys;
            layers.push(LayerState::Recurrent(s));
        }
        let mut out = Tensor::cat(xs, 0);
        if let Some(nm) = &self.norm {
            out = nm.norm(out);
        }
        let mut state = TemporalState {
            layers,
            outputs: None,
            seen: state.seen,
        };
        if let Some(r) = resets.last() {
            state.reset_rows(r);
        }
        (out, state)
    }

    /// One frame per row `[n, input]` -> the pooled output `[n, hidden]` and the next state.
    pub fn step(&self, x: Tensor<2>, mut state: TemporalState) -> (Tensor<2>, TemporalState) {
        let [n, _] = x.dims();
        assert_eq!(n, state.rows(), "one frame per state row");
        let device = x.device();
        let pos = state.seen.clone();
        for s in &mut state.seen {
            *s += 1;
        }
        let mut x = match &self.input {
            Some(p) => p.forward(x),
            None => x,
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, s) in self.layers.iter().zip(state.layers) {
            let (y, s) = match (l, s) {
                (Block::Recurrent(r), LayerState::Recurrent(s)) => {
                    let (y, s) = r.step(x, s);
                    (y, LayerState::Recurrent(s))
                }
                (Block::Attention(a), LayerState::Attention(c)) => {
                    let (y, c) = a.step(x, c, &pos, &state.seen);
                    (y, LayerState::Attention(c))
                }
                (Block::Mamba(m), LayerState::Mamba(s)) => {
                    let (y, s) = m.step(x, s);
                    (y, LayerState::Mamba(s))
                }
                _ => panic!("the state does not belong to this backbone"),
            };
            x = y;
            layers.push(s);
        }
        let o = match &self.norm {
            Some(nm) => nm.norm(x),
            None => x,
        };
        let h = o.dims()[1];
        let w = self.window;
        let (out, outputs) = match state.outputs {
            None => (o, None),
            Some(buf) => {
                let buf = if w == 1 {
                    o.reshape([n, 1, h])
                } else {
                    Tensor::cat(vec![buf.narrow(1, 1, w - 1), o.reshape([n, 1, h])], 1)
                };
                let mut mask = vec![0f32; n * w];
                let mut count = vec![0f32; n];
                for (r, m) in mask.chunks_exact_mut(w).enumerate() {
                    let valid = (state.seen[r] as usize).min(w);
                    count[r] = valid as f32;
                    for v in &mut m[..w - valid] {
                        *v = MASKED;
                    }
                }
                let out = match &self.pool {
                    Some(p) => p.pool(
                        buf.clone(),
                        Some(Tensor::from_data(TensorData::new(mask, [n, w]), &device)),
                    ),
                    None => {
                        // Empty slots hold zeros (fresh or reset rows), so the sum is exact.
                        let count = Tensor::<2>::from_data(
                            TensorData::new(count, [n, 1]),
                            (&device, buf.dtype()),
                        );
                        buf.clone().sum_dim(1).reshape([n, h]) / count
                    }
                };
                (out, Some(buf))
            }
        };
        (
            out,
            TemporalState {
                layers,
                outputs,
                seen: state.seen,
            },
        )
    }
}

/// Trainable parameters of a temporal trunk reading `input` features (without building it:
/// building draws from the device's random generator).
pub fn param_count(cfg: &BackboneConfig, input: usize) -> usize {
    let Some(w) = cfg.temporal() else {
        return 0;
    };
    let lin = |i: usize, o: usize| i * o + o;
    let h = w.hidden_size;
    let ln = 2 * h;
    let ffn = lin(h, 4 * h) + lin(4 * h, h);
    let layers = w.num_layers.max(1);
    let attention = |a: &AttentionSettings| {
        let dh = h / a.num_heads.max(1);
        ln + lin(h, 3 * h) + if a.qk_layernorm { 4 * dh } else { 0 } + lin(h, h) + ln + ffn
    };
    let mamba = |m: &SsmSettings| {
        let e = m.expand_factor * h;
        let (n, k, r) = (m.state_size, m.conv_size, h.div_ceil(16));
        ln + h * 2 * e + k * e + e + e * (r + 2 * n) + lin(r, e) + e * n + e + e * h
    };
    let mut plain = false;
    let blocks: usize = match cfg {
        BackboneConfig::Lstm(c) | BackboneConfig::Gru(c) => {
            let gates = if matches!(cfg, BackboneConfig::Lstm(_)) {
                4
            } else {
                3
            };
            let hidden_bias = if gates == 3 { gates * h } else { 0 };
            plain = !c.residual_block;
            (0..layers)
                .map(|i| {
                    let width = if i == 0 && plain { input } else { h };
                    let cell = lin(width, gates * h) + h * gates * h + hidden_bias;
                    cell + if plain { 0 } else { 2 * ln + ffn }
                })
                .sum()
        }
        BackboneConfig::Attention(_) => {
            layers * attention(&cfg.attention().expect("attention settings"))
        }
        BackboneConfig::Mamba(_) => layers * mamba(&cfg.ssm().expect("ssm settings")),
        BackboneConfig::Jamba(j) => {
            let every = j.attention_every.max(1);
            let a = attention(&cfg.attention().expect("attention settings"));
            let m = mamba(&cfg.ssm().expect("ssm settings"));
            (1..=layers)
                .map(|i| if i % every == 0 { a } else { m })
                .sum()
        }
        BackboneConfig::Mlp(_) => 0,
    };
    let pool = if w.pooling == Pooling::Weighted {
        lin(h, 1) + w.window_size.max(1)
    } else {
        0
    };
    blocks + if plain { 0 } else { lin(input, h) + ln } + pool
}
