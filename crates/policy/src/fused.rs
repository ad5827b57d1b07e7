//! Fused recurrent layers on the CPU: a whole unroll of an LSTM or GRU layer as one operation
//! with a hand-written backward pass, the way cuDNN runs recurrent layers on a GPU. Written as a
//! burn backend extension for the Flex backend (plain and with autodiff); other backends run
//! the same layer as composed tensor operations ([`available`] says which applies).
//!
//! The caller computes the input's contribution to the gates for every frame at once (one
//! matrix product over the unroll). Each step here adds the previous hidden state times the
//! recurrent weights (one matrix product) and applies the gates in one pass over the rows. The
//! backward pass walks the unroll back once (one matrix product per step for the hidden state's
//! gradient) and then forms the recurrent weights' gradient in one product over all frames.
//! Nothing is allocated per step, and no tensor exists per frame.
//!
//! # Shapes
//! `T` frames, `B` rows, `H` hidden; gates `G = 4H` (LSTM: i, f, g, o, PyTorch's order) or
//! `3H` (GRU: r, z, n).
//! - `xg [T, B, G]`: the input's gate pre-activations, input bias included;
//! - `w [H, G]`: the recurrent weights (burn's `Linear` layout, input-major);
//! - `bias [G]` (GRU): the recurrent bias, inside the reset gate's product as in PyTorch;
//! - `h0`, `c0 [B, H]`: the state before the first frame;
//! - LSTM output `[T, B, 2H]`: each frame's `h` then `c`; GRU output `[T, B, H]`: each `h`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, DispatchDevice, Flex};
use burn::tensor::{DType, Device, Tensor, TensorData};

/// The fused recurrent operations.
#[backend_extension(Flex, Autodiff)]
pub trait RecurrentOps: burn::backend::Backend {
    /// An LSTM layer over an unroll (see the module docs for the shapes).
    fn lstm_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// A GRU layer over an unroll (see the module docs for the shapes).
    fn gru_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Whether tensors on `device` (with or without autodiff) run the fused layers.
pub fn available(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// An LSTM layer over an unroll: `xg [T, B, 4H]`, `w [H, 4H]`, `h0`, `c0 [B, H]` -> `[T, B,
/// 2H]` (each frame's `h`, then `c`). Only on a device where [`available`] holds.
pub fn lstm_unroll(xg: Tensor<3>, w: Tensor<2>, h0: Tensor<2>, c0: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as RecurrentOps>::lstm_unroll(
        xg.into_dispatch(),
        w.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
    ))
}

/// A GRU layer over an unroll: `xg [T, B, 3H]`, `w [H, 3H]`, `bias [3H]`, `h0 [B, H]` -> `[T,
/// B, H]`. Only on a device where [`available`] holds.
pub fn gru_unroll(xg: Tensor<3>, w: Tensor<2>, bias: Tensor<1>, h0: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as RecurrentOps>::gru_unroll(
        xg.into_dispatch(),
        w.into_dispatch(),
        bias.into_dispatch(),
        h0.into_dispatch(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Host buffers

/// A tensor's values, row-major (borrowed when it is contiguous already).
fn host(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "the fused recurrent layers run in f32"
    );
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has a slice")
                .to_vec(),
        ),
    }
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

// ---------------------------------------------------------------------------------------------
// Kernels on host slices

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`, each matrix given by its row and column
/// strides; large products run on every thread when `parallel`.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, rs: usize, cols: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(dst.len() >= last(m, dst_rs, n, 1), "matmul: dst too short");
    assert!(
        lhs.len() >= last(m, lhs_rs, k, lhs_cs),
        "matmul: lhs too short"
    );
    assert!(
        rhs.len() >= last(k, rhs_rs, n, rhs_cs),
        "matmul: rhs too short"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = if parallel && m * n * k >= 1 << 21 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every element the strides reach inside its slice; dst
    // does not alias lhs or rhs (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `w [rows, cols]` transposed, row-major: multiplying by it then reads memory in the order the
/// matrix kernel wants, so it is not repacked at every step.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// `e^x` to about 2e-7 relative, in a form the compiler vectorises (no branches, no calls).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * LOG2E + 0.5).floor();
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    p * f32::from_bits(((k as i32 + 127) << 23) as u32)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    // tanh(x) = 1 - 2 / (e^{2x} + 1): exact at the ends, 1e-7 absolute near 0.
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Runs `f` compiled for AVX2 and FMA where the processor has them.
macro_rules! simd {
    ($name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide($($arg: $ty),*) $body
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the processor has the features the function was compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            $body
        }
    };
}

simd!(lstm_gates(g: &mut [f32], c_prev: &[f32], out: &mut [f32], h_n: usize) {
    // g: one row's 4H pre-activations, replaced by the activations (i, f, g, o); out: h then c.
    let (i, rest) = g.split_at_mut(h_n);
    let (f, rest) = rest.split_at_mut(h_n);
    let (gg, o) = rest.split_at_mut(h_n);
    let (h, c) = out.split_at_mut(h_n);
    for j in 0..h_n {
        let iv = sigmoid(i[j]);
        let fv = sigmoid(f[j]);
        let gv = tanh(gg[j]);
        let ov = sigmoid(o[j]);
        let cv = fv * c_prev[j] + iv * gv;
        i[j] = iv;
        f[j] = fv;
        gg[j] = gv;
        o[j] = ov;
        c[j] = cv;
        h[j] = ov * tanh(cv);
    }
});

simd!(lstm_gates_back(
    acts: &[f32],
    hc: &[f32],
    c_prev: &[f32],
    dout: &[f32],
    dh_next: &[f32],
    dc_next: &mut [f32],
    dg: &mut [f32],
    h_n: usize
) {
    // One row: acts (i, f, g, o), hc (h then c) of this frame, c of the frame before; dout (dh,
    // dc from outside); dh_next/dc_next from the frame after (dc_next is replaced by the
    // gradient reaching the frame before); dg receives the gate pre-activations' gradient.
    for j in 0..h_n {
        let (iv, fv, gv, ov) = (acts[j], acts[h_n + j], acts[2 * h_n + j], acts[3 * h_n + j]);
        let c = hc[h_n + j];
        let tc = tanh(c);
        let dh = dout[j] + dh_next[j];
        let dc = dout[h_n + j] + dc_next[j] + dh * ov * (1.0 - tc * tc);
        dg[j] = dc * gv * iv * (1.0 - iv);
        dg[h_n + j] = dc * c_prev[j] * fv * (1.0 - fv);
        dg[2 * h_n + j] = dc * iv * (1.0 - gv * gv);
        dg[3 * h_n + j] = dh * tc * ov * (1.0 - ov);
        dc_next[j] = dc * fv;
    }
});

simd!(gru_gates(
    xg: &[f32],
    hg: &mut [f32],
    h_prev: &[f32],
    h: &mut [f32],
    h_n: usize
) {
    // One row: xg the input's r, z, n pre-activations; hg the hidden state's (bias included),
    // replaced by the activations r, z, n. h receives the new state.
    for j in 0..h_n {
        let r = sigmoid(xg[j] + hg[j]);
        let z = sigmoid(xg[h_n + j] + hg[h_n + j]);
        let n = tanh(xg[2 * h_n + j] + r * hg[2 * h_n + j]);
        hg[j] = r;
        hg[h_n + j] = z;
        hg[2 * h_n + j] = n;
        h[j] = (h_prev[j] - n) * z + n;
    }
});

// ---------------------------------------------------------------------------------------------
// Rows in parallel

/// The row ranges the unroll is split into: one per worker thread (rows are independent
/// through the whole recurrence, so each range runs every step without waiting for the others).
fn row_ranges(b_n: usize) -> Vec<(usize, usize)> {
    let k = rayon::current_num_threads().min(b_n / 8).max(1);
    (0..k).map(|i| (i * b_n / k, (i + 1) * b_n / k)).collect()
}

/// A time-major `[T, B, width]` buffer as, for each row range, its `T` slices of rows.
fn split_rows<'a>(
    buf: &'a mut [f32],
    b_n: usize,
    width: usize,
    ranges: &[(usize, usize)],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut out: Vec<Vec<&'a mut [f32]>> = ranges.iter().map(|_| Vec::new()).collect();
    if b_n * width == 0 {
        return out;
    }
    for step in buf.chunks_mut(b_n * width) {
        let mut rest = step;
        let mut at = 0;
        for (k, &(_, r1)) in ranges.iter().enumerate() {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut((r1 - at) * width);
            out[k].push(mine);
            rest = tail;
            at = r1;
        }
    }
    out
}

/// A row range's job over two time-major buffers: its first row and its `T` slices of each.
type TwoBuffers<'a> = (usize, Vec<&'a mut [f32]>, Vec<&'a mut [f32]>);

/// Runs `job` on every row range in parallel, returning the results in range order.
fn par_rows<J: Send, R: Send>(jobs: Vec<J>, job: impl Fn(J) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    jobs.into_par_iter().map(job).collect()
}

// ---------------------------------------------------------------------------------------------
// LSTM

/// One row range of the LSTM forward pass: rows `r0..r0 + bc` of every frame.
struct LstmRows<'a> {
    r0: usize,
    out: Vec<&'a mut [f32]>,
    acts: Vec<&'a mut [f32]>,
}

/// The LSTM forward pass: the output `[T, B, 2H]` and, when asked, the gate activations `[T,
/// B, 4H]`.
#[allow(clippy::too_many_arguments)]
fn lstm_forward(
    t_n: usize,
    b_n: usize,
    h_n: usize,
    xg: &[f32],
    w: &[f32],
    h0: &[f32],
    c0: &[f32],
    keep: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let g_n = 4 * h_n;
    let mut out = vec![0f32; t_n * b_n * 2 * h_n];
    let mut acts = vec![0f32; if keep { t_n * b_n * g_n } else { 0 }];
    let ranges = row_ranges(b_n);
    let outs = split_rows(&mut out, b_n, 2 * h_n, &ranges);
    let mut act_parts = split_rows(&mut acts, b_n, g_n, &ranges);
    let jobs: Vec<LstmRows<'_>> = ranges
        .iter()
        .zip(outs)
        .enumerate()
        .map(|(k, (&(r0, _), out))| LstmRows {
            r0,
            out,
            acts: std::mem::take(&mut act_parts[k]),
        })
        .collect();
    par_rows(jobs, |mut job| {
        let bc = job.out.first().map_or(0, |o| o.len() / (2 * h_n));
        let r0 = job.r0;
        let mut g = vec![0f32; bc * g_n];
        for t in 0..t_n {
            let at = (t * b_n + r0) * g_n;
            g.copy_from_slice(&xg[at..at + bc * g_n]);
            let (done, rest) = job.out.split_at_mut(t);
            let now = &mut *rest[0];
            let prev: Option<&[f32]> = done.last().map(|p| &**p);
            match prev {
                None => matmul(
                    bc,
                    g_n,
                    h_n,
                    &mut g,
                    g_n,
                    true,
                    &h0[r0 * h_n..],
                    (h_n, 1),
                    w,
                    (g_n, 1),
                    false,
                ),
                Some(p) => matmul(
                    bc,
                    g_n,
                    h_n,
                    &mut g,
                    g_n,
                    true,
                    p,
                    (2 * h_n, 1),
                    w,
                    (g_n, 1),
                    false,
                ),
            }
            for r in 0..bc {
                let c_prev = match prev {
                    None => &c0[(r0 + r) * h_n..(r0 + r + 1) * h_n],
                    Some(p) => &p[r * 2 * h_n + h_n..(r + 1) * 2 * h_n],
                };
                lstm_gates(
                    &mut g[r * g_n..(r + 1) * g_n],
                    c_prev,
                    &mut now[r * 2 * h_n..(r + 1) * 2 * h_n],
                    h_n,
                );
            }
            if let Some(a) = job.acts.get_mut(t) {
                a.copy_from_slice(&g);
            }
        }
    });
    (out, keep.then_some(acts))
}

/// The LSTM backward pass: gradients of `xg`, `w`, `h0`, `c0`.
#[allow(clippy::too_many_arguments)]
fn lstm_backward(
    t_n: usize,
    b_n: usize,
    h_n: usize,
    w: &[f32],
    h0: &[f32],
    c0: &[f32],
    acts: &[f32],
    out: &[f32],
    dout: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let g_n = 4 * h_n;
    let row = 2 * h_n;
    let mut dxg = vec![0f32; t_n * b_n * g_n];
    let wt = transpose(w, h_n, g_n);
    let ranges = row_ranges(b_n);
    let parts = split_rows(&mut dxg, b_n, g_n, &ranges);
    let jobs: Vec<(usize, Vec<&mut [f32]>)> = ranges.iter().map(|&(r0, _)| r0).zip(parts).collect();
    // Each range walks the unroll back; what reaches the state before the first frame comes back.
    let states = par_rows(jobs, |(r0, mut dg_t)| {
        let bc = dg_t.first().map_or(0, |d| d.len() / g_n);
        let mut dh_next = vec![0f32; bc * h_n];
        let mut dc_next = vec![0f32; bc * h_n];
        for t in (0..t_n).rev() {
            let dg = &mut *dg_t[t];
            for r in 0..bc {
                let at = (t * b_n + r0 + r) * row;
                let c_prev = if t == 0 {
                    &c0[(r0 + r) * h_n..(r0 + r + 1) * h_n]
                } else {
                    let base = ((t - 1) * b_n + r0 + r) * row + h_n;
                    &out[base..base + h_n]
                };
                lstm_gates_back(
                    &acts[(t * b_n + r0 + r) * g_n..(t * b_n + r0 + r + 1) * g_n],
                    &out[at..at + row],
                    c_prev,
                    &dout[at..at + row],
                    &dh_next[r * h_n..(r + 1) * h_n],
                    &mut dc_next[r * h_n..(r + 1) * h_n],
                    &mut dg[r * g_n..(r + 1) * g_n],
                    h_n,
                );
            }
            // dh of the frame before: dG · Wᵀ.
            matmul(
                bc,
                h_n,
                g_n,
                &mut dh_next,
                h_n,
                false,
                dg,
                (g_n, 1),
                &wt,
                (h_n, 1),
                false,
            );
        }
        (dh_next, dc_next)
    });
    let mut dh0 = Vec::with_capacity(b_n * h_n);
    let mut dc0 = Vec::with_capacity(b_n * h_n);
    for (dh, dc) in states {
        dh0.extend(dh);
        dc0.extend(dc);
    }
    // dW = Σ_t h_{t-1}ᵀ dG_t: frames 1.. read h from the output (row stride 2H), frame 0 h0.
    let mut dw = vec![0f32; h_n * g_n];
    if t_n > 1 {
        matmul(
            h_n,
            g_n,
            (t_n - 1) * b_n,
            &mut dw,
            g_n,
            false,
            out,
            (1, row),
            &dxg[b_n * g_n..],
            (g_n, 1),
            true,
        );
    }
    matmul(
        h_n,
        g_n,
        b_n,
        &mut dw,
        g_n,
        t_n > 1,
        h0,
        (1, h_n),
        &dxg,
        (g_n, 1),
        true,
    );
    (dxg, dw, dh0, dc0)
}

// ---------------------------------------------------------------------------------------------
// GRU

/// The GRU forward pass: the output `[T, B, H]` and, when asked, the saved activations `[T, B,
/// 4H]` (r, z, n and the hidden state's n term).
#[allow(clippy::too_many_arguments)]
fn gru_forward(
    t_n: usize,
    b_n: usize,
    h_n: usize,
    xg: &[f32],
    w: &[f32],
    bias: &[f32],
    h0: &[f32],
    keep: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let g_n = 3 * h_n;
    let mut out = vec![0f32; t_n * b_n * h_n];
    let mut saved = vec![0f32; if keep { t_n * b_n * 4 * h_n } else { 0 }];
    let ranges = row_ranges(b_n);
    let outs = split_rows(&mut out, b_n, h_n, &ranges);
    let mut saved_parts = split_rows(&mut saved, b_n, 4 * h_n, &ranges);
    let jobs: Vec<TwoBuffers<'_>> = ranges
        .iter()
        .zip(outs)
        .enumerate()
        .map(|(k, (&(r0, _), out))| (r0, out, std::mem::take(&mut saved_parts[k])))
        .collect();
    par_rows(jobs, |(r0, mut out, mut saved)| {
        let bc = out.first().map_or(0, |o| o.len() / h_n);
        let mut hg = vec![0f32; bc * g_n];
        for t in 0..t_n {
            for r in 0..bc {
                hg[r * g_n..(r + 1) * g_n].copy_from_slice(bias);
            }
            let (done, rest) = out.split_at_mut(t);
            let now = &mut *rest[0];
            let prev: &[f32] = match done.last() {
                None => &h0[r0 * h_n..(r0 + bc) * h_n],
                Some(p) => p,
            };
            matmul(
                bc,
                g_n,
                h_n,
                &mut hg,
                g_n,
                true,
                prev,
                (h_n, 1),
                w,
                (g_n, 1),
                false,
            );
            for r in 0..bc {
                if let Some(s) = saved.get_mut(t) {
                    // The hidden state's n term, before the gates replace it.
                    s[r * 4 * h_n + 3 * h_n..(r + 1) * 4 * h_n]
                        .copy_from_slice(&hg[r * g_n + 2 * h_n..(r + 1) * g_n]);
                }
                let at = (t * b_n + r0 + r) * g_n;
                gru_gates(
                    &xg[at..at + g_n],
                    &mut hg[r * g_n..(r + 1) * g_n],
                    &prev[r * h_n..(r + 1) * h_n],
                    &mut now[r * h_n..(r + 1) * h_n],
                    h_n,
                );
                if let Some(s) = saved.get_mut(t) {
                    s[r * 4 * h_n..r * 4 * h_n + g_n].copy_from_slice(&hg[r * g_n..(r + 1) * g_n]);
                }
            }
        }
    });
    (out, keep.then_some(saved))
}

simd!(gru_gates_back(
    saved: &[f32],
    h_prev: &[f32],
    dh: &mut [f32],
    dxg: &mut [f32],
    dhg: &mut [f32],
    h_n: usize
) {
    // One row: saved (r, z, n, hidden n term); dh the gradient of this frame's h (replaced by
    // the part reaching h_prev directly); dxg and dhg receive the gates' gradients.
    for j in 0..h_n {
        let (r, z, n, hn) = (saved[j], saved[h_n + j], saved[2 * h_n + j], saved[3 * h_n + j]);
        let d = dh[j];
        let dn = d * (1.0 - z) * (1.0 - n * n);
        let dz = d * (h_prev[j] - n) * z * (1.0 - z);
        let dr = dn * hn * r * (1.0 - r);
        dxg[j] = dr;
        dxg[h_n + j] = dz;
        dxg[2 * h_n + j] = dn;
        dhg[j] = dr;
        dhg[h_n + j] = dz;
        dhg[2 * h_n + j] = dn * r;
        dh[j] = d * z;
    }
});

/// The GRU backward pass: gradients of `xg`, `w`, `bias`, `h0`.
#[allow(clippy::too_many_arguments)]
fn gru_backward(
    t_n: usize,
    b_n: usize,
    h_n: usize,
    w: &[f32],
    h0: &[f32],
    saved: &[f32],
    out: &[f32],
    dout: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let g_n = 3 * h_n;
    let mut dxg = vec![0f32; t_n * b_n * g_n];
    let mut dhg = vec![0f32; t_n * b_n * g_n];
    let wt = transpose(w, h_n, g_n);
    let ranges = row_ranges(b_n);
    let xparts = split_rows(&mut dxg, b_n, g_n, &ranges);
    let hparts = split_rows(&mut dhg, b_n, g_n, &ranges);
    let jobs: Vec<TwoBuffers<'_>> = ranges
        .iter()
        .zip(xparts.into_iter().zip(hparts))
        .map(|(&(r0, _), (x, h))| (r0, x, h))
        .collect();
    let states = par_rows(jobs, |(r0, mut dx_t, mut dh_t)| {
        let bc = dx_t.first().map_or(0, |d| d.len() / g_n);
        let mut dh_next = vec![0f32; bc * h_n];
        let mut dh = vec![0f32; bc * h_n];
        for t in (0..t_n).rev() {
            let base = (t * b_n + r0) * h_n;
            for (k, v) in dh.iter_mut().enumerate() {
                *v = dout[base + k] + dh_next[k];
            }
            let prev: &[f32] = if t == 0 {
                &h0[r0 * h_n..(r0 + bc) * h_n]
            } else {
                let p = ((t - 1) * b_n + r0) * h_n;
                &out[p..p + bc * h_n]
            };
            let (dxg_t, dhg_t) = (&mut *dx_t[t], &mut *dh_t[t]);
            for r in 0..bc {
                let at = (t * b_n + r0 + r) * 4 * h_n;
                gru_gates_back(
                    &saved[at..at + 4 * h_n],
                    &prev[r * h_n..(r + 1) * h_n],
                    &mut dh[r * h_n..(r + 1) * h_n],
                    &mut dxg_t[r * g_n..(r + 1) * g_n],
                    &mut dhg_t[r * g_n..(r + 1) * g_n],
                    h_n,
                );
            }
            // dh_prev = (direct part) + dHG · Wᵀ.
            dh_next.copy_from_slice(&dh);
            matmul(
                bc,
                h_n,
                g_n,
                &mut dh_next,
                h_n,
                true,
                dhg_t,
                (g_n, 1),
                &wt,
                (h_n, 1),
                false,
            );
        }
        dh_next
    });
    let dh0: Vec<f32> = states.into_iter().flatten().collect();
    let mut dw = vec![0f32; h_n * g_n];
    if t_n > 1 {
        matmul(
            h_n,
            g_n,
            (t_n - 1) * b_n,
            &mut dw,
            g_n,
            false,
            out,
            (1, h_n),
            &dhg[b_n * g_n..],
            (g_n, 1),
            true,
        );
    }
    matmul(
        h_n,
        g_n,
        b_n,
        &mut dw,
        g_n,
        t_n > 1,
        h0,
        (1, h_n),
        &dhg,
        (g_n, 1),
        true,
    );
    let mut db = vec![0f32; g_n];
    for row in dhg.chunks_exact(g_n) {
        for (a, b) in db.iter_mut().zip(row) {
            *a += b;
        }
    }
    (dxg, dw, db, dh0)
}

// ---------------------------------------------------------------------------------------------
// The backends

/// `[T, B, G]` and `[H, G]` dimensions of an unroll's inputs: (T, B, H).
fn unroll_dims(xg: &FlexTensor, w: &FlexTensor, gates: usize) -> (usize, usize, usize) {
    let (x, wd) = (dims(xg), dims(w));
    assert!(
        x.len() == 3 && wd.len() == 2 && wd[1] == gates * wd[0] && x[2] == wd[1],
        "fused recurrent layer: xg {x:?} and w {wd:?} do not fit {gates} gates"
    );
    (x[0], x[1], wd[0])
}

impl RecurrentOps for Flex {
    fn lstm_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (t_n, b_n, h_n) = unroll_dims(&xg, &w, 4);
        let (out, _) = lstm_forward(
            t_n,
            b_n,
            h_n,
            &host(&xg),
            &host(&w),
            &host(&h0),
            &host(&c0),
            false,
        );
        tensor(out, vec![t_n, b_n, 2 * h_n])
    }

    fn gru_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (t_n, b_n, h_n) = unroll_dims(&xg, &w, 3);
        let (out, _) = gru_forward(
            t_n,
            b_n,
            h_n,
            &host(&xg),
            &host(&w),
            &host(&bias),
            &host(&h0),
            false,
        );
        tensor(out, vec![t_n, b_n, h_n])
    }
}

/// What the LSTM's backward pass keeps: (T, B, H), the recurrent weights, the initial state,
/// the gate activations and the output.
#[derive(Clone, Debug)]
struct LstmSaved {
    dims: (usize, usize, usize),
    w: FlexTensor,
    h0: FlexTensor,
    c0: FlexTensor,
    acts: FlexTensor,
    out: FlexTensor,
}

/// Registers the gradient of each parent that needs one (`values`: the gradient and its shape,
/// in the parents' order).
fn register(
    grads: &mut Gradients,
    parents: [Option<burn::backend::autodiff::NodeId>; 4],
    values: [(Vec<f32>, Vec<usize>); 4],
) {
    for (parent, (v, shape)) in parents.into_iter().zip(values) {
        if let Some(id) = parent {
            grads.register::<Flex>(id, tensor(v, shape));
        }
    }
}

#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 4> for LstmBackward {
    type State = LstmSaved;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [n_xg, n_w, n_h0, n_c0] = ops.parents;
        let dout = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (t_n, b_n, h_n) = s.dims;
        let (dxg, dw, dh0, dc0) = lstm_backward(
            t_n,
            b_n,
            h_n,
            &host(&s.w),
            &host(&s.h0),
            &host(&s.c0),
            &host(&s.acts),
            &host(&s.out),
            &host(&dout),
        );
        register(
            grads,
            [n_xg, n_w, n_h0, n_c0].map(|p| p.map(|n| n.id)),
            [
                (dxg, vec![t_n, b_n, 4 * h_n]),
                (dw, vec![h_n, 4 * h_n]),
                (dh0, vec![b_n, h_n]),
                (dc0, vec![b_n, h_n]),
            ],
        );
    }
}

/// What the GRU's backward pass keeps.
#[derive(Clone, Debug)]
struct GruSaved {
    dims: (usize, usize, usize),
    w: FlexTensor,
    h0: FlexTensor,
    saved: FlexTensor,
    out: FlexTensor,
}

#[derive(Debug)]
struct GruBackward;

impl Backward<Flex, 4> for GruBackward {
    type State = GruSaved;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [n_xg, n_w, n_b, n_h0] = ops.parents;
        let dout = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (t_n, b_n, h_n) = s.dims;
        let (dxg, dw, db, dh0) = gru_backward(
            t_n,
            b_n,
            h_n,
            &host(&s.w),
            &host(&s.h0),
            &host(&s.saved),
            &host(&s.out),
            &host(&dout),
        );
        register(
            grads,
            [n_xg, n_w, n_b, n_h0].map(|p| p.map(|n| n.id)),
            [
                (dxg, vec![t_n, b_n, 3 * h_n]),
                (dw, vec![h_n, 3 * h_n]),
                (db, vec![3 * h_n]),
                (dh0, vec![b_n, h_n]),
            ],
        );
    }
}

impl<C: CheckpointStrategy> RecurrentOps for Autodiff<Flex, C> {
    fn lstm_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = LstmBackward
            .prepare::<C>([xg.node(), w.node(), h0.node(), c0.node()])
            .compute_bound()
            .stateful();
        let (txg, tw, th0, tc0) = (
            xg.primitive(),
            w.primitive(),
            h0.primitive(),
            c0.primitive(),
        );
        let dims3 = unroll_dims(txg, tw, 4);
        let (t_n, b_n, h_n) = dims3;
        let tracked = matches!(prep, OpsKind::Tracked(_));
        let (out, acts) = lstm_forward(
            t_n,
            b_n,
            h_n,
            &host(txg),
            &host(tw),
            &host(th0),
            &host(tc0),
            tracked,
        );
        let out = tensor(out, vec![t_n, b_n, 2 * h_n]);
        match prep {
            OpsKind::Tracked(prep) => {
                let saved = LstmSaved {
                    dims: dims3,
                    w: tw.clone(),
                    h0: th0.clone(),
                    c0: tc0.clone(),
                    acts: tensor(acts.unwrap_or_default(), vec![t_n, b_n, 4 * h_n]),
                    out: out.clone(),
                };
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn gru_unroll(
        xg: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = GruBackward
            .prepare::<C>([xg.node(), w.node(), bias.node(), h0.node()])
            .compute_bound()
            .stateful();
        let (txg, tw, tb, th0) = (
            xg.primitive(),
            w.primitive(),
            bias.primitive(),
            h0.primitive(),
        );
        let dims3 = unroll_dims(txg, tw, 3);
        let (t_n, b_n, h_n) = dims3;
        let tracked = matches!(prep, OpsKind::Tracked(_));
        let (out, saved) = gru_forward(
            t_n,
            b_n,
            h_n,
            &host(txg),
            &host(tw),
            &host(tb),
            &host(th0),
            tracked,
        );
        let out = tensor(out, vec![t_n, b_n, h_n]);
        match prep {
            OpsKind::Tracked(prep) => {
                let saved = GruSaved {
                    dims: dims3,
                    w: tw.clone(),
                    h0: th0.clone(),
                    saved: tensor(saved.unwrap_or_default(), vec![t_n, b_n, 4 * h_n]),
                    out: out.clone(),
                };
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::sigmoid as sig;
    use burn::tensor::Distribution;

    fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 0.5), device).require_grad()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{what}: differs by {worst}");
    }

    /// The LSTM and GRU as composed tensor operations, step by step (the reference).
    fn composed(
        lstm: bool,
        xg: Tensor<3>,
        w: Tensor<2>,
        bias: Tensor<1>,
        h0: Tensor<2>,
        c0: Tensor<2>,
    ) -> Tensor<3> {
        let [t_n, n, g] = xg.dims();
        let h_n = if lstm { g / 4 } else { g / 3 };
        let (mut h, mut c) = (h0, c0);
        let mut outs = Vec::new();
        for t in 0..t_n {
            let x = xg.clone().narrow(0, t, 1).reshape([n, g]);
            if lstm {
                let z = x + h.clone().matmul(w.clone());
                let s = sig(z.clone());
                let (i, f, o) = (
                    s.clone().narrow(1, 0, h_n),
                    s.clone().narrow(1, h_n, h_n),
                    s.narrow(1, 3 * h_n, h_n),
                );
                let cand = z.narrow(1, 2 * h_n, h_n).tanh();
                c = f * c + i * cand;
                h = o * c.clone().tanh();
                outs.push(Tensor::cat(vec![h.clone(), c.clone()], 1).reshape([1, n, 2 * h_n]));
            } else {
                let hg = h.clone().matmul(w.clone()) + bias.clone().reshape([1, g]);
                let rz = sig(x.clone().narrow(1, 0, 2 * h_n) + hg.clone().narrow(1, 0, 2 * h_n));
                let (r, z) = (rz.clone().narrow(1, 0, h_n), rz.narrow(1, h_n, h_n));
                let cand = (x.narrow(1, 2 * h_n, h_n) + r * hg.narrow(1, 2 * h_n, h_n)).tanh();
                h = (h - cand.clone()) * z + cand;
                outs.push(h.clone().reshape([1, n, h_n]));
            }
        }
        Tensor::cat(outs, 0)
    }

    #[test]
    fn fused_layers_match_the_composed_ones_forward_and_backward() {
        let device = Device::flex().autodiff();
        device.seed(3);
        for lstm in [true, false] {
            let (t_n, n, h_n) = (7, 5, 6);
            let g = if lstm { 4 * h_n } else { 3 * h_n };
            let xg = rand([t_n, n, g], &device);
            let w = rand([h_n, g], &device);
            let bias = rand([g], &device);
            let h0 = rand([n, h_n], &device);
            let c0 = rand([n, h_n], &device);
            let out_w = if lstm { 2 * h_n } else { h_n };
            let probe =
                Tensor::<3>::random([t_n, n, out_w], Distribution::Normal(0.0, 1.0), &device);
            let fused = if lstm {
                lstm_unroll(xg.clone(), w.clone(), h0.clone(), c0.clone())
            } else {
                gru_unroll(xg.clone(), w.clone(), bias.clone(), h0.clone())
            };
            let reference = composed(
                lstm,
                xg.clone(),
                w.clone(),
                bias.clone(),
                h0.clone(),
                c0.clone(),
            );
            let what = if lstm { "lstm" } else { "gru" };
            close(
                &format!("{what} output"),
                &values(fused.clone()),
                &values(reference.clone()),
            );
            let ga = (fused * probe.clone()).sum().backward();
            let gb = (reference * probe).sum().backward();
            let grad = |t: &Tensor<3>, g: &burn::tensor::Gradients| values(t.grad(g).unwrap());
            close(&format!("{what} d xg"), &grad(&xg, &ga), &grad(&xg, &gb));
            let g2 = |t: &Tensor<2>, g: &burn::tensor::Gradients| values(t.grad(g).unwrap());
            close(&format!("{what} d w"), &g2(&w, &ga), &g2(&w, &gb));
            close(&format!("{what} d h0"), &g2(&h0, &ga), &g2(&h0, &gb));
            if lstm {
                close(&format!("{what} d c0"), &g2(&c0, &ga), &g2(&c0, &gb));
            } else {
                let g1 = |t: &Tensor<1>, g: &burn::tensor::Gradients| values(t.grad(g).unwrap());
                close(&format!("{what} d bias"), &g1(&bias, &ga), &g1(&bias, &gb));
            }
        }
    }

    #[test]
    fn fast_exp_and_activations_match_the_library() {
        let mut worst = 0f32;
        for i in -2000..=2000 {
            let x = i as f32 / 50.0;
            let e = exp(x);
            worst = worst.max(((e - x.exp()) / x.exp()).abs());
            assert!(
                (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "sigmoid {x}"
            );
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh {x}");
        }
        assert!(worst < 1e-6, "exp relative error {worst}");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(sigmoid(-200.0) < 1e-30 && sigmoid(200.0) == 1.0);
    }
}
