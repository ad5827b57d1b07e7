//! Gradients accumulated across micro-batches, keyed by each parameter's dotted path
//! (`trunk.layers.0.linear.weight`), flattened and kept off the autodiff graph, with the global
//! norm and global-norm clipping.

use burn::module::Module;
use burn::tensor::{Gradients, Tensor};
use exphil_policy::params::visit_params;
use std::collections::BTreeMap;

/// Gradients summed over micro-batches: one flat inner (non-autodiff) tensor per parameter, by
/// the parameter's dotted path, iterated in path order.
#[derive(Clone, Debug, Default)]
pub struct GradStore {
    grads: BTreeMap<String, Tensor<1>>,
}

impl GradStore {
    /// An empty store.
    pub fn new() -> GradStore {
        GradStore::default()
    }

    /// Adds `scale` times the gradient of every float parameter of `module` found in `grads`
    /// (the result of `loss.backward()` on a forward pass of `module`). Parameters without a
    /// gradient (frozen, or unused by the loss) are skipped.
    ///
    /// # Panics
    ///
    /// When a parameter's gradient has a different number of values than the one already
    /// stored under its path (gradients of two different modules mixed in one store).
    pub fn accumulate<M: Module>(&mut self, module: &M, grads: &Gradients, scale: f64) {
        visit_params(module, |path, param| {
            let Some(mut flat) = param.flat_grad(grads) else {
                return;
            };
            if scale != 1.0 {
                flat = flat.mul_scalar(scale);
            }
            let len = flat.dims()[0];
            let summed = match self.grads.remove(path) {
                Some(old) => {
                    let old_len = old.dims()[0];
                    assert_eq!(
                        old_len, len,
                        "gradient of {path}: {len} values, the store holds {old_len}"
                    );
                    old + flat
                }
                None => flat,
            };
            self.grads.insert(path.to_string(), summed);
        });
    }

    /// The global L2 norm: the square root of the sum of squares of every stored value (computed
    /// on the device in the tensors' float type, read back once). NaN or infinite when a
    /// gradient holds a NaN or an infinity (or the sum of squares overflows); 0 when empty.
    pub fn global_norm(&self) -> f64 {
        let mut total: Option<Tensor<1>> = None;
        for g in self.grads.values() {
            let sq = g.clone().square().sum();
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
        total.map_or(0.0, |t| scalar(t).sqrt())
    }

    /// Multiplies every stored gradient by `factor`.
    pub fn scale(&mut self, factor: f64) {
        for g in self.grads.values_mut() {
            *g = g.clone().mul_scalar(factor);
        }
    }

    /// Scales the gradients so that their global norm is at most `max_norm` and returns the
    /// norm before clipping. Nothing changes when `max_norm <= 0` (clipping disabled), when the
    /// norm is already at most `max_norm`, or when the norm is not finite (the caller is expected
    /// to skip such a step; the non-finite norm is returned as is).
    pub fn clip_global_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.global_norm();
        if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
            self.scale(max_norm / norm);
        }
        norm
    }

    /// Whether no gradient is stored.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// How many parameters have a gradient.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// Drops every gradient (after an optimiser step).
    pub fn clear(&mut self) {
        self.grads.clear();
    }

    /// The flat gradient of the parameter at `path`.
    pub fn get(&self, path: &str) -> Option<&Tensor<1>> {
        self.grads.get(path)
    }

    /// Every stored gradient with its path, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor<1>)> {
        self.grads.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The single value of a one-element tensor as `f64` (one host read; panics, like burn's
/// `into_scalar`, when the device cannot be read).
pub(crate) fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .as_slice::<f64>()
        .expect("converted to f64")[0]
}

/// The dims of every float parameter of `module`, by dotted path (no tensor data is read).
pub(crate) fn param_dims<M: Module>(module: &M) -> BTreeMap<String, Vec<usize>> {
    let mut out = BTreeMap::new();
    visit_params(module, |path, param| {
        out.insert(path.to_string(), param.dims());
    });
    out
}
