//! Gradients accumulated across micro-batches, keyed by each parameter's dotted path
//! (`trunk.layers.0.linear.weight`), flattened and kept off the autodiff graph, with the global
//! norm and global-norm clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Gradients, Tensor};
use exphil_policy::params::PathTracker;
use std::collections::BTreeMap;

/// Gradients summed over micro-batches: one flat inner (non-autodiff) tensor per parameter, by
/// the parameter's dotted path, iterated in path order.
#[derive(Clone, Debug, Default)]
pub struct GradStore {
    grads: BTreeMap<String, Tensor<1>>,
}

struct Accumulate<'a> {
    path: PathTracker,
    grads: &'a Gradients,
    scale: f64,
    store: &'a mut BTreeMap<String, Tensor<1>>,
}

impl ModuleVisitor for Accumulate<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = param.val().grad(self.grads) else {
            return;
        };
        let len = grad.shape().num_elements();
        let mut flat: Tensor<1> = grad.inner().reshape([len]);
        if self.scale != 1.0 {
            flat = flat.mul_scalar(self.scale);
        }
        let path = self.path.path();
        let summed = match self.store.remove(&path) {
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
        self.store.insert(path, summed);
    }
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
        let mut visitor = Accumulate {
            path: PathTracker::default(),
            grads,
            scale,
            store: &mut self.grads,
        };
        module.visit(&mut visitor);
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

struct Dims {
    path: PathTracker,
    out: BTreeMap<String, Vec<usize>>,
}

impl ModuleVisitor for Dims {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.out
            .insert(self.path.path(), param.lazy_shape().to_vec());
    }
}

/// The dims of every float parameter of `module`, by dotted path (no tensor data is read).
pub(crate) fn param_dims<M: Module>(module: &M) -> BTreeMap<String, Vec<usize>> {
    let mut v = Dims {
        path: PathTracker::default(),
        out: BTreeMap::new(),
    };
    module.visit(&mut v);
    v.out
}
