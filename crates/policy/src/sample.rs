//! Choosing a controller from the policy: the head is run component by component, each
//! choice fed back into the autoregressive stream, with temperature or argmax.

use crate::input::PolicyInput;
use crate::loss::argmax;
use crate::model::{BackboneState, Policy};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Int, Tensor, TensorData};
use exphil_embed::{Targets, NUM_BUTTONS};
use exphil_state::Buttons;
use rand::Rng;

/// How a component is chosen from its distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The most likely value (buttons pressed when their probability exceeds 0.5).
    Argmax,
    /// Sample with logits divided by this temperature (> 0).
    Temperature(f64),
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Softmax of `logits / temperature` sampled with `u` uniform in [0, 1).
fn sample_class(logits: &[f32], temperature: f64, u: f64) -> usize {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&z| ((z as f64 - max) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    for (i, x) in w.iter().enumerate() {
        acc += x / total;
        if u < acc {
            return i;
        }
    }
    logits.len().saturating_sub(1)
}

impl Policy {
    /// Chooses every example's controller targets (one per window for temporal backbones).
    pub fn act<R: Rng>(
        &self,
        input: &PolicyInput,
        sampling: Sampling,
        rng: &mut R,
    ) -> Vec<Targets> {
        self.act_from_trunk(self.trunk(input), sampling, rng)
    }

    /// Advances every row (game) by one frame and chooses its controller: O(1) per frame.
    pub fn step<R: Rng>(
        &self,
        input: &PolicyInput,
        state: BackboneState,
        sampling: Sampling,
        rng: &mut R,
    ) -> (Vec<Targets>, BackboneState) {
        let (h, state) = self.step_trunk(input, state);
        (self.act_from_trunk(h, sampling, rng), state)
    }

    /// Chooses controllers from the trunk's output `[n, width]`.
    pub fn act_from_trunk<R: Rng>(
        &self,
        h: Tensor<2>,
        sampling: Sampling,
        rng: &mut R,
    ) -> Vec<Targets> {
        let n = h.dims()[0];
        let device = h.device();
        let mut h = h;
        let mut out = vec![Targets::default(); n];
        // Buttons.
        let offsets = Tensor::<1>::from_data(
            TensorData::new(self.button_offsets().to_vec(), [NUM_BUTTONS]),
            &device,
        )
        .reshape([1, NUM_BUTTONS]);
        let z = self.head.button_logits(&h) - offsets;
        let p = host(match sampling {
            Sampling::Argmax => sigmoid(z),
            Sampling::Temperature(t) => sigmoid(z.div_scalar(t)),
        });
        let mut bits = vec![0f32; n * NUM_BUTTONS];
        for r in 0..n {
            let mut mask = 0u8;
            for k in 0..NUM_BUTTONS {
                let pk = p[r * NUM_BUTTONS + k] as f64;
                let on = match sampling {
                    Sampling::Argmax => pk > 0.5,
                    Sampling::Temperature(_) => rng.gen::<f64>() < pk,
                };
                if on {
                    mask |= 1 << k;
                    bits[r * NUM_BUTTONS + k] = 1.0;
                }
            }
            out[r].buttons = Buttons(mask);
        }
        if self.head.is_autoregressive() {
            let b = Tensor::<2>::from_data(TensorData::new(bits, [n, NUM_BUTTONS]), &device);
            h = self.head.add_buttons(h, b);
        }
        for k in 0..5 {
            let z = host(self.head.class_logits(k, &h));
            let c = z.len() / n.max(1);
            let mut chosen = Vec::with_capacity(n);
            for r in 0..n {
                let row = &z[r * c..(r + 1) * c];
                let i = match sampling {
                    Sampling::Argmax => argmax(row),
                    Sampling::Temperature(t) => sample_class(row, t, rng.gen::<f64>()),
                };
                chosen.push(i as i64);
                let v = i as u16;
                match k {
                    0 => out[r].main_x = v,
                    1 => out[r].main_y = v,
                    2 => out[r].c_x = v,
                    3 => out[r].c_y = v,
                    _ => out[r].shoulder = v,
                }
            }
            if k < 4 && self.head.is_autoregressive() {
                let t = Tensor::<1, Int>::from_data(TensorData::new(chosen, [n]), &device);
                h = self.head.add_class(k, h, t);
            }
        }
        out
    }
}

/// What [`step_timings`] times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timed {
    /// The embedding and the trunk's step, read back to the host.
    Trunk,
    /// The whole step: trunk and the head's argmax choices.
    Step,
}

/// Seconds of `steps` frame-by-frame steps of `rows` games each (after `warmup` untimed
/// ones), sorted ascending; the input is a constant frame, so only the cost is measured.
pub fn step_timings(
    policy: &Policy,
    spec: &crate::InputSpec,
    rows: usize,
    warmup: usize,
    steps: usize,
    timed: Timed,
    device: &burn::tensor::Device,
) -> Vec<f64> {
    let features = vec![0.1f32; rows * spec.features];
    let ids = vec![1u32; rows * spec.ids];
    let input = PolicyInput::new(spec, &features, &ids, rows, device);
    let mut state = policy.initial_state(rows, device);
    let mut rng = rand::rngs::mock::StepRng::new(0, 1);
    let mut out = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t0 = std::time::Instant::now();
        state = match timed {
            Timed::Trunk => {
                let (h, s) = policy.step_trunk(&input, state);
                // Read the result back, as play does.
                let _ = h.into_data();
                s
            }
            Timed::Step => policy.step(&input, state, Sampling::Argmax, &mut rng).1,
        };
        if i >= warmup {
            out.push(t0.elapsed().as_secs_f64());
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// The `q` quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::sample_class;

    #[test]
    fn quantiles_of_sorted_values() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(super::quantile(&v, 0.5), 3.0);
        assert_eq!(super::quantile(&v, 0.99), 5.0);
        assert_eq!(super::quantile(&v, 0.0), 1.0);
        assert!(super::quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn sampling_follows_the_softmax() {
        let logits = [0.0f32, (3.0f32).ln()];
        // p = [0.25, 0.75]
        assert_eq!(sample_class(&logits, 1.0, 0.2), 0);
        assert_eq!(sample_class(&logits, 1.0, 0.3), 1);
        // A huge temperature flattens it to [0.5, 0.5].
        assert_eq!(sample_class(&logits, 1e9, 0.49), 0);
        assert_eq!(sample_class(&logits, 1e9, 0.51), 1);
    }
}
