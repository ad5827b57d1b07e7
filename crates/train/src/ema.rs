//! An exponential moving average of a module's weights (used for validation and export), with
//! the usual warmup of the decay, exported to and restored from [`NamedTensor`]s.

use crate::grads::param_dims;
use crate::optim::{check_against, check_tensor, OptimError};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use exphil_policy::params::{map_params, tensor_of, tensor_values, visit_params};
use exphil_runs::tensors::NamedTensor;
use std::collections::BTreeMap;

/// One averaged parameter: its dims and its flat values (inner, no autodiff).
#[derive(Clone, Debug)]
struct Shadow {
    shape: Vec<usize>,
    values: Tensor<1>,
}

/// An exponential moving average of every float parameter of a module, by dotted path.
///
/// Update `n + 1` (with `n` updates before it) sets `shadow = d * shadow + (1 - d) * param` with
/// `d = min(decay, (1 + n) / (10 + n))`; the first update (and the first update that sees a
/// parameter not averaged yet) copies the parameter. Every float parameter is averaged,
/// including those that do not require a gradient (running statistics).
#[derive(Clone, Debug)]
pub struct Ema {
    decay: f64,
    updates: u64,
    shadow: BTreeMap<String, Shadow>,
}

impl Ema {
    /// An empty average with the given decay per update.
    pub fn new(decay: f64) -> Ema {
        Ema {
            decay,
            updates: 0,
            shadow: BTreeMap::new(),
        }
    }

    /// The configured decay.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// The decay the next update will use: `min(decay, (1 + n) / (10 + n))` with `n` the
    /// updates so far (0 before the first update, which copies).
    pub fn effective_decay(&self) -> f64 {
        if self.updates == 0 {
            return 0.0;
        }
        let n = self.updates as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Folds the current weights of `module` into the average.
    ///
    /// # Panics
    ///
    /// When a parameter has a different number of values than its average (a restored state of
    /// another model; [`Ema::validate`] checks beforehand).
    pub fn update<M: Module>(&mut self, module: &M) {
        let decay = self.effective_decay();
        let first = self.updates == 0;
        let shadow = &mut self.shadow;
        visit_params(module, |path, param| {
            let dims = param.dims();
            let len: usize = dims.iter().product();
            let w = param.flat();
            let values = match shadow.remove(path) {
                Some(old) if !first => {
                    let old_len: usize = old.shape.iter().product();
                    assert_eq!(
                        old_len, len,
                        "EMA of {path} has shape {:?}, the parameter {dims:?}",
                        old.shape
                    );
                    old.values.mul_scalar(decay).add(w.mul_scalar(1.0 - decay))
                }
                _ => w,
            };
            shadow.insert(
                path.to_string(),
                Shadow {
                    shape: dims,
                    values,
                },
            );
        });
        self.updates += 1;
    }

    /// A copy of `module` whose averaged parameters hold the average (keeping each parameter's
    /// autodiff association and `require_grad`); parameters not averaged are unchanged.
    ///
    /// # Panics
    ///
    /// When a parameter has a different number of values than its average.
    pub fn apply<M: Module>(&self, module: M) -> M {
        map_params(module, |path, dims, _| {
            let shadow = self.shadow.get(path)?;
            let len: usize = dims.iter().product();
            let shadow_len = shadow.values.dims()[0];
            assert_eq!(
                shadow_len, len,
                "EMA of {path} has shape {:?}, the parameter {dims:?}",
                shadow.shape
            );
            Some(shadow.values.clone())
        })
    }

    /// Updates so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Every average, named by its parameter's dotted path, with the parameter's shape, in path
    /// order.
    pub fn state_tensors(&self) -> Vec<NamedTensor> {
        self.shadow
            .iter()
            .map(|(path, s)| NamedTensor {
                name: path.clone(),
                shape: s.shape.clone(),
                data: tensor_values(&s.values),
            })
            .collect()
    }

    /// Replaces the update count and the averages with `tensors` (as written by
    /// [`Ema::state_tensors`]), placed on `device` (the parameters' device; autodiff is stripped).
    /// Each tensor must hold finite values matching its shape, appear once, and name a parameter
    /// of `module` with that shape ([`Self::validate`]). On error nothing changes.
    pub fn load_state<M: Module>(
        &mut self,
        updates: u64,
        tensors: &[NamedTensor],
        module: &M,
        device: &Device,
    ) -> Result<(), OptimError> {
        let device = device.clone().inner();
        let mut shadow = BTreeMap::new();
        for t in tensors {
            check_tensor(t)?;
            if shadow.contains_key(&t.name) {
                return Err(OptimError::Duplicate(t.name.clone()));
            }
            shadow.insert(
                t.name.clone(),
                Shadow {
                    shape: t.shape.clone(),
                    values: tensor_of(t.data.clone(), [t.data.len()], &device),
                },
            );
        }
        check_against(
            shadow.iter().map(|(k, s)| (k, &s.shape)),
            &param_dims(module),
        )?;
        self.updates = updates;
        self.shadow = shadow;
        Ok(())
    }

    /// Checks that every averaged parameter exists in `module` with the average's shape.
    pub fn validate<M: Module>(&self, module: &M) -> Result<(), OptimError> {
        let dims = param_dims(module);
        check_against(self.shadow.iter().map(|(k, s)| (k, &s.shape)), &dims)
    }
}
