//! What reinforcement learning needs of the policy: the log-probability of chosen controllers
//! under the acting distribution (the one [`Policy::step`] samples: button logits less the
//! pos-weight offsets, the autoregressive head conditioned on the chosen components), its
//! entropy, the KL divergence to another policy's distribution, and state values.

use crate::input::PolicyInput;
use crate::model::{BackboneState, HeadLogits, Policy};
use crate::targets::TargetBatch;
use burn::tensor::activation::{log_softmax, softplus};
use burn::tensor::{Tensor, TensorData};
use exphil_embed::NUM_BUTTONS;

/// The acting distribution's logits for chosen controllers, with the values.
#[derive(Clone, Debug)]
pub struct ActionEval {
    /// Logits (button logits already less the offsets).
    pub logits: HeadLogits,
    /// The distribution they define.
    pub dist: Dist,
    /// `[n]` log-probability of each row's chosen controller.
    pub log_prob: Tensor<1>,
    /// `[n]` entropy of each row's distribution (buttons as independent bits, plus each class
    /// component conditioned on the chosen ones before it).
    pub entropy: Tensor<1>,
    /// `[n]` state values.
    pub values: Tensor<1>,
}

impl Policy {
    /// Evaluates chosen controllers `actions` for a batch (one per example of `input`).
    pub fn evaluate_actions(&self, input: &PolicyInput, actions: &TargetBatch) -> ActionEval {
        self.evaluate_trunk(self.trunk(input), actions)
    }

    /// Evaluates chosen controllers for a sequence stepped frame by frame from `state`, as the
    /// policy acts in a game (the recurrent or Mamba state, or the attention cache, carried):
    /// `steps[t]` holds frame t of every row, `resets[t]` the rows whose game ends at frame t
    /// (their state starts afresh after it), and `actions` the chosen controllers time-major
    /// (`t * rows + row`). Gradients flow through the whole sequence.
    pub fn evaluate_sequence(
        &self,
        steps: &[PolicyInput],
        state: BackboneState,
        resets: &[Vec<usize>],
        actions: &TargetBatch,
    ) -> ActionEval {
        let (h, _) = self.trunk_sequence(steps, state, resets, None);
        self.evaluate_trunk(h, actions)
    }

    /// State values from the trunk's output `[n, width]`.
    pub fn values_from_trunk(&self, h: Tensor<2>) -> Tensor<1> {
        self.value.forward(h)
    }

    /// Evaluates chosen controllers from the trunk's output `[n, width]`.
    pub fn evaluate_trunk(&self, h: Tensor<2>, actions: &TargetBatch) -> ActionEval {
        let values = self.value.forward(h.clone());
        let mut logits = self
            .head
            .forward(h, actions.buttons.clone(), &actions.classes);
        let device = logits.buttons.device();
        let n = actions.rows;
        let offsets = Tensor::<1>::from_data(
            TensorData::new(self.button_offsets().to_vec(), [NUM_BUTTONS]),
            &device,
        )
        .reshape([1, NUM_BUTTONS]);
        logits.buttons = logits.buttons - offsets;
        let dist = Dist::of(&logits);
        // Buttons: log p(y) = y log s + (1 - y) log(1 - s); a bit's entropy is
        // -(s log s + (1 - s) log(1 - s)).
        let y = actions.buttons.clone();
        let (on, off) = (dist.log.on.clone(), dist.log.off.clone());
        let mut log_prob = (on.clone() * y.clone() + off.clone() * y.neg().add_scalar(1.0))
            .sum_dim(1)
            .reshape([n]);
        let p_on = dist.p_on.clone();
        let mut entropy = (p_on.clone() * on + p_on.neg().add_scalar(1.0) * off)
            .sum_dim(1)
            .reshape([n])
            .neg();
        for k in 0..dist.p.len() {
            let logp = dist.log.classes[k].clone();
            let idx = actions.classes[k].clone().reshape([n, 1]);
            log_prob = log_prob + logp.clone().gather(1, idx).reshape([n]);
            entropy = entropy - (dist.p[k].clone() * logp).sum_dim(1).reshape([n]);
        }
        ActionEval {
            logits,
            dist,
            log_prob,
            entropy,
            values,
        }
    }
}

/// Log-probabilities of an acting distribution over chosen controllers: per button bit of
/// "pressed" and "not pressed", per class component of every class.
#[derive(Clone, Debug)]
pub struct LogDist {
    /// `[n, 8]` log P(bit pressed).
    pub on: Tensor<2>,
    /// `[n, 8]` log P(bit not pressed).
    pub off: Tensor<2>,
    /// `[n, classes]` log-probabilities of each class component.
    pub classes: [Tensor<2>; 5],
}

impl LogDist {
    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize], device: &burn::tensor::Device) -> LogDist {
        let idx = crate::input::row_index(idx, device);
        let pick = |t: &Tensor<2>| t.clone().select(0, idx.clone());
        LogDist {
            on: pick(&self.on),
            off: pick(&self.off),
            classes: self.classes.each_ref().map(pick),
        }
    }
}

/// An acting distribution with its probabilities beside the log-probabilities (computed once,
/// shared by the log-probability, the entropy and the KL terms).
#[derive(Clone, Debug)]
pub struct Dist {
    /// The log-probabilities.
    pub log: LogDist,
    /// `[n, 8]` P(bit pressed).
    pub p_on: Tensor<2>,
    /// `[n, classes]` probabilities of each class component.
    pub p: [Tensor<2>; 5],
}

impl Dist {
    /// The distribution of head logits (button logits already less the offsets).
    pub fn of(logits: &HeadLogits) -> Dist {
        // log sigmoid(z) = -softplus(-z), log(1 - sigmoid(z)) = -softplus(z).
        let z = logits.buttons.clone();
        let on = softplus(z.clone().neg(), 1.0).neg();
        let off = softplus(z, 1.0).neg();
        let classes = logits.classes.clone().map(|c| log_softmax(c, 1));
        Dist {
            p_on: on.clone().exp(),
            p: classes.clone().map(|c| c.exp()),
            log: LogDist { on, off, classes },
        }
    }
}

/// `[n]` KL(p ‖ q) over the same chosen controllers (the sum over the button bits and the class
/// components), from p's distribution and q's log-probabilities.
pub fn kl(p: &Dist, q: &LogDist) -> Tensor<1> {
    let n = p.p_on.dims()[0];
    let s = p.p_on.clone();
    let on = p.log.on.clone() - q.on.clone();
    let off = p.log.off.clone() - q.off.clone();
    let mut kl = (s.clone() * on + s.neg().add_scalar(1.0) * off)
        .sum_dim(1)
        .reshape([n]);
    for k in 0..p.p.len() {
        let d = p.log.classes[k].clone() - q.classes[k].clone();
        kl = kl + (p.p[k].clone() * d).sum_dim(1).reshape([n]);
    }
    kl
}

/// `[n]` KL(p ‖ q) between two policies' acting distributions over the same chosen
/// controllers, from their logits.
pub fn kl_divergence(p: &HeadLogits, q: &HeadLogits) -> Tensor<1> {
    kl(&Dist::of(p), &Dist::of(q).log)
}
