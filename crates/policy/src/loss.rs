//! Behavioural-cloning losses: what is minimised (binary cross-entropy with positive weights
//! for the buttons, cross-entropy with label smoothing for the sticks and shoulder, an optional
//! focal factor) and what is reported (the plain negative log-likelihood of the controller in
//! nats per frame, the 13-component sum `exphil eval` reports), and per-component accuracies.

use crate::model::HeadLogits;
use crate::targets::{button_log_weights, TargetBatch};
use burn::tensor::activation::{log_softmax, sigmoid, softplus};
use burn::tensor::{Tensor, TensorData};
use exphil_embed::{NUM_BUTTONS, TARGET_COLUMNS, TARGET_NAMES};
use exphil_runs::config::LossConfig;

/// Component names, in loss order.
pub const COMPONENTS: [&str; TARGET_COLUMNS] = TARGET_NAMES;

/// Loss settings resolved against the data.
#[derive(Clone, Debug, PartialEq)]
pub struct LossSpec {
    /// Per-button positive weights.
    pub pos_weight: [f32; NUM_BUTTONS],
    /// Label smoothing of the class components.
    pub label_smoothing: f64,
    /// Focal exponent (`None`: plain cross-entropy).
    pub focal_gamma: Option<f64>,
}

impl LossSpec {
    /// The spec of a loss config and the training data's button-press counts (`positives[b]`
    /// of `total` rows): weight negatives / positives, clipped to `[1, max_pos_weight]`.
    pub fn new(cfg: &LossConfig, positives: &[u64; NUM_BUTTONS], total: u64) -> LossSpec {
        let mut pos_weight = [1.0f32; NUM_BUTTONS];
        if cfg.auto_pos_weight {
            for (w, &p) in pos_weight.iter_mut().zip(positives) {
                let neg = total.saturating_sub(p) as f64;
                let ratio = if p == 0 {
                    cfg.max_pos_weight
                } else {
                    neg / p as f64
                };
                *w = ratio.clamp(1.0, cfg.max_pos_weight.max(1.0)) as f32;
            }
        }
        LossSpec {
            pos_weight,
            label_smoothing: cfg.label_smoothing,
            focal_gamma: cfg.focal_loss.then_some(cfg.focal_gamma),
        }
    }

    /// What weighted cross-entropy adds to each button logit (`ln w`): a decision subtracts it
    /// to recover the data's press log-odds ([`crate::Policy::button_offsets`]).
    pub fn button_offsets(&self) -> [f32; NUM_BUTTONS] {
        button_log_weights(&self.pos_weight)
    }
}

/// A batch's losses.
#[derive(Clone, Debug)]
pub struct LossOutput {
    /// The objective that is minimised (weighted, smoothed or focal as configured; the 8 button
    /// terms summed like the other components), shape `[1]`.
    pub total: Tensor<1>,
    /// The plain negative log-likelihood of each component in nats per frame, shape `[6]`:
    /// the 8 button bits summed (their press probabilities corrected for the positive
    /// weights), then each stick axis and the shoulder. Their sum is the figure `train` prints
    /// and early-stops on and `eval` reports.
    pub components: Tensor<1>,
}

/// The losses of teacher-forced logits against targets (means over the counted rows).
pub fn bc_loss(logits: &HeadLogits, targets: &TargetBatch, spec: &LossSpec) -> LossOutput {
    let device = logits.buttons.device();
    let n = targets.rows;
    let row = |v: [f32; NUM_BUTTONS]| {
        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [NUM_BUTTONS]), &device)
            .reshape([1, NUM_BUTTONS])
    };
    // The losses compute in f32 whatever the logits' type (mixed precision).
    let f32 = burn::tensor::FloatDType::F32;
    // Buttons: pw * y * softplus(-z) + (1 - y) * softplus(z), per bit, summed over the bits.
    let z = logits.buttons.clone().cast(f32);
    let y = targets.buttons.clone();
    let not_y = y.clone().neg().add_scalar(1.0);
    let pos = softplus(z.clone().neg(), 1.0) * y.clone() * row(spec.pos_weight);
    let neg = softplus(z.clone(), 1.0) * not_y.clone();
    let mut bce = pos + neg;
    if let Some(g) = spec.focal_gamma {
        // p_t = sigmoid(z) for pressed bits, 1 - sigmoid(z) otherwise.
        let p = sigmoid(z.clone());
        let pt = p.clone() * y.clone() + (p.neg().add_scalar(1.0)) * not_y.clone();
        bce = bce * pt.neg().add_scalar(1.0).powf_scalar(g);
    }
    let sum_bits = |t: Tensor<2>| t.sum_dim(1).reshape([n]);
    let mut objective = vec![targets.mean(sum_bits(bce))];
    // The plain likelihood of the buttons, from the corrected logits.
    let zc = z - row(spec.button_offsets());
    let nll_b = softplus(zc.clone().neg(), 1.0) * y + softplus(zc, 1.0) * not_y;
    let mut plain = vec![targets.mean(sum_bits(nll_b.detach()))];
    let eps = spec.label_smoothing;
    for (k, z) in logits.classes.iter().enumerate() {
        let c = z.dims()[1];
        let logp = log_softmax(z.clone().cast(f32), 1);
        let idx = targets.classes[k].clone().reshape([n, 1]);
        let nll = logp.clone().gather(1, idx).reshape([n]).neg();
        plain.push(targets.mean(nll.clone().detach()));
        let mut l = if eps > 0.0 {
            let smooth = logp
                .clone()
                .sum_dim(1)
                .reshape([n])
                .neg()
                .div_scalar(c as f64);
            nll.clone().mul_scalar(1.0 - eps) + smooth.mul_scalar(eps)
        } else {
            nll.clone()
        };
        if let Some(g) = spec.focal_gamma {
            // (1 - p_y)^gamma with p_y = exp(-nll).
            let py = nll.neg().exp();
            l = l * py.neg().add_scalar(1.0).powf_scalar(g);
        }
        objective.push(targets.mean(l));
    }
    LossOutput {
        total: Tensor::cat(objective, 0).sum(),
        components: Tensor::cat(plain, 0),
    }
}

/// Correct predictions in a batch: the whole button vector (a bit is pressed when its logit,
/// less `button_offsets` — see [`crate::Policy::button_offsets`] — is positive), then the argmax
/// of each class component. With `valid`, only rows flagged true count.
pub fn correct_counts(
    logits: &HeadLogits,
    targets: &[u16],
    button_offsets: &[f32; NUM_BUTTONS],
    valid: Option<&[bool]>,
) -> [u64; TARGET_COLUMNS] {
    let counts = |r: usize| valid.is_none_or(|v| v.get(r).copied().unwrap_or(false));
    let mut out = [0u64; TARGET_COLUMNS];
    let rows = targets.len() / TARGET_COLUMNS;
    let b = logits.buttons.to_data().convert::<f32>();
    let b = b.as_slice::<f32>().unwrap_or(&[]);
    for r in 0..rows.min(b.len() / NUM_BUTTONS) {
        if !counts(r) {
            continue;
        }
        let mut pred = 0u16;
        for k in 0..NUM_BUTTONS {
            if b[r * NUM_BUTTONS + k] > button_offsets[k] {
                pred |= 1 << k;
            }
        }
        if pred == targets[r * TARGET_COLUMNS] & 0xff {
            out[0] += 1;
        }
    }
    for (k, z) in logits.classes.iter().enumerate() {
        let c = z.dims()[1];
        let d = z.to_data().convert::<f32>();
        let v = d.as_slice::<f32>().unwrap_or(&[]);
        for r in 0..rows.min(v.len() / c.max(1)) {
            if !counts(r) {
                continue;
            }
            let row = &v[r * c..(r + 1) * c];
            let arg = argmax(row);
            if arg as u16 == targets[r * TARGET_COLUMNS + k + 1] {
                out[k + 1] += 1;
            }
        }
    }
    out
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}
