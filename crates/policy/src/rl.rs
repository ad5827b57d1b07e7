//! What reinforcement learning needs of the policy: the log-probability of chosen controllers
//! under the acting distribution (the one [`Policy::step`] samples: button logits less the
//! pos-weight offsets, the autoregressive head conditioned on the chosen components), its
//! entropy, the KL divergence to another policy's distribution, and state values.

use crate::input::PolicyInput;
use crate::loss::TargetBatch;
use crate::model::{BackboneState, HeadLogits, Policy};
use burn::tensor::activation::{log_softmax, sigmoid, softplus};
use burn::tensor::{Tensor, TensorData};
use exphil_embed::NUM_BUTTONS;

/// The acting distribution's logits for chosen controllers, with the values.
#[derive(Clone, Debug)]
pub struct ActionEval {
    /// Logits (button logits already less the offsets).
    pub logits: HeadLogits,
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
        mut state: BackboneState,
        resets: &[Vec<usize>],
        actions: &TargetBatch,
    ) -> ActionEval {
        let mut hs = Vec::with_capacity(steps.len());
        for (t, x) in steps.iter().enumerate() {
            let (h, next) = self.step_trunk(x, state);
            state = next;
            if let Some(r) = resets.get(t) {
                state.reset_rows(r);
            }
            hs.push(h);
        }
        self.evaluate_trunk(Tensor::cat(hs, 0), actions)
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
        // Buttons: log p(y) = -(softplus(-z) y + softplus(z) (1 - y)); entropy of a bit is
        // softplus(z) - z sigmoid(z).
        let z = logits.buttons.clone();
        let y = actions.buttons.clone();
        let nll_b = softplus(z.clone().neg(), 1.0) * y.clone()
            + softplus(z.clone(), 1.0) * y.neg().add_scalar(1.0);
        let mut log_prob = nll_b.sum_dim(1).reshape([n]).neg();
        let mut entropy = (softplus(z.clone(), 1.0) - z.clone() * sigmoid(z))
            .sum_dim(1)
            .reshape([n]);
        for (k, zk) in logits.classes.iter().enumerate() {
            let logp = log_softmax(zk.clone(), 1);
            let idx = actions.classes[k].clone().reshape([n, 1]);
            log_prob = log_prob + logp.clone().gather(1, idx).reshape([n]);
            entropy = entropy - (logp.clone().exp() * logp).sum_dim(1).reshape([n]);
        }
        ActionEval {
            logits,
            log_prob,
            entropy,
            values,
        }
    }
}

/// `[n]` KL(p ‖ q) between two policies' acting distributions over the same chosen
/// controllers (the sum over the button bits and the class components).
pub fn kl_divergence(p: &HeadLogits, q: &HeadLogits) -> Tensor<1> {
    let n = p.buttons.dims()[0];
    // Bernoulli: KL = s_p (log s_p - log s_q) + (1 - s_p)(log(1 - s_p) - log(1 - s_q)), with
    // log sigmoid(z) = -softplus(-z) and log(1 - sigmoid(z)) = -softplus(z).
    let (zp, zq) = (p.buttons.clone(), q.buttons.clone());
    let sp = sigmoid(zp.clone());
    let on = softplus(zq.clone().neg(), 1.0) - softplus(zp.clone().neg(), 1.0);
    let off = softplus(zq, 1.0) - softplus(zp, 1.0);
    let mut kl = (sp.clone() * on + sp.neg().add_scalar(1.0) * off)
        .sum_dim(1)
        .reshape([n]);
    for (a, b) in p.classes.iter().zip(&q.classes) {
        let lp = log_softmax(a.clone(), 1);
        let lq = log_softmax(b.clone(), 1);
        kl = kl + (lp.clone().exp() * (lp - lq)).sum_dim(1).reshape([n]);
    }
    kl
}
