//! The optimisers: Adam, AdamW, LAMB, RAdam and SGD with momentum, applied to a burn module from
//! a [`GradStore`], with their moments exported to and restored from [`NamedTensor`]s.
//!
//! The update rules follow PyTorch's `torch.optim` implementations of the same names (defaults
//! `amsgrad = False`, `maximize = False`, `dampening = 0`); LAMB, which PyTorch lacks, follows
//! `timm.optim.Lamb` (bias correction on, gradient averaging on, no trust clipping). Differences
//! from PyTorch:
//!
//! - All parameters share one step count ([`Optimizer::steps`]), used for the bias corrections.
//!   PyTorch counts steps per parameter and skips a parameter whose gradient is `None`; the two
//!   agree whenever every parameter receives a gradient at every step. A parameter without
//!   state yet starts from zero moments (PyTorch's initial state), whatever the step count.
//! - SGD with `nesterov` and zero momentum is plain SGD (PyTorch refuses the combination).
//! - LAMB applies no gradient clipping of its own (timm clips the global norm at 1.0 by default;
//!   here clipping is [`GradStore::clip_global_norm`], configured by the training loop).
//!
//! Arithmetic runs on the device in the parameters' float type; the scalar coefficients (bias
//! corrections, RAdam's rectification) are computed on the host in `f64`.

use crate::grads::{param_dims, GradStore};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use exphil_policy::params::{map_params, tensor_of, tensor_values};
use exphil_runs::config::{OptimConfig, OptimizerKind};
use exphil_runs::tensors::NamedTensor;
use std::collections::BTreeMap;

/// Why optimiser or EMA state cannot be restored, or does not fit a module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    /// A value is NaN or infinite.
    #[error("state tensor {0} holds a non-finite value")]
    NonFinite(String),
    /// The name does not end in a slot this optimiser keeps.
    #[error("state tensor {name}: unknown slot (this optimiser keeps {expected})")]
    UnknownSlot {
        /// Tensor name.
        name: String,
        /// The slots this optimiser keeps, comma separated (empty: none).
        expected: String,
    },
    /// The number of values does not match the shape.
    #[error("state tensor {name}: shape {shape:?} needs {expected} values, {found} given")]
    Size {
        /// Tensor name.
        name: String,
        /// The shape given.
        shape: Vec<usize>,
        /// Values the shape needs.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// Two slots of one parameter have different shapes.
    #[error(
        "state tensor {name}: shape {found:?}, another slot of the parameter has {expected:?}"
    )]
    SlotShape {
        /// Tensor name.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape of the parameter's other slots.
        expected: Vec<usize>,
    },
    /// A parameter has some of its slots but not this one.
    #[error("state of parameter {param} lacks its {slot} tensor")]
    MissingSlot {
        /// Parameter path.
        param: String,
        /// Missing slot.
        slot: String,
    },
    /// The same tensor name appears twice.
    #[error("state tensor {0} appears twice")]
    Duplicate(String),
    /// The state names a parameter the module lacks.
    #[error("state for {0}: the module has no such parameter")]
    UnknownParam(String),
    /// The state's shape differs from the parameter's.
    #[error("state for {name}: shape {state:?}, the parameter has {param:?}")]
    ParamShape {
        /// Parameter path.
        name: String,
        /// Shape in the state.
        state: Vec<usize>,
        /// Shape of the parameter.
        param: Vec<usize>,
    },
}

/// The state of one parameter: its dims and one flat tensor per slot.
#[derive(Clone, Debug)]
struct ParamState {
    shape: Vec<usize>,
    slots: Vec<Tensor<1>>,
}

/// The hyperparameters of an update rule.
#[derive(Clone, Copy, Debug)]
struct Rule {
    kind: OptimizerKind,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    momentum: f64,
    nesterov: bool,
}

impl Rule {
    fn slots(&self) -> &'static [&'static str] {
        match self.kind {
            OptimizerKind::Adam
            | OptimizerKind::Adamw
            | OptimizerKind::Lamb
            | OptimizerKind::Radam => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::Sgd if self.momentum != 0.0 => &["momentum_buffer"],
            OptimizerKind::Sgd => &[],
        }
    }

    /// Updates the first and second moments in place and returns them.
    fn moments(&self, slots: &mut [Tensor<1>], g: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
        let m = slots[0]
            .clone()
            .mul_scalar(self.beta1)
            .add(g.clone().mul_scalar(1.0 - self.beta1));
        let v = slots[1]
            .clone()
            .mul_scalar(self.beta2)
            .add(g.square().mul_scalar(1.0 - self.beta2));
        slots[0] = m.clone();
        slots[1] = v.clone();
        (m, v)
    }

    /// One update of the flat weights `w` by the flat gradient `g` at step `t` (1-based).
    fn update(
        &self,
        w: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
        lr: f64,
        t: u64,
    ) -> Tensor<1> {
        let wd = self.weight_decay;
        let tf = t as f64;
        let bc1 = 1.0 - self.beta1.powf(tf);
        let bc2 = 1.0 - self.beta2.powf(tf);
        match self.kind {
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let (w, g) = match self.kind {
                    OptimizerKind::Adam if wd != 0.0 => {
                        let g = g + w.clone().mul_scalar(wd);
                        (w, g)
                    }
                    OptimizerKind::Adamw if wd != 0.0 => (w.mul_scalar(1.0 - lr * wd), g),
                    _ => (w, g),
                };
                let (m, v) = self.moments(slots, g);
                let denom = v.sqrt().div_scalar(bc2.sqrt()).add_scalar(self.eps);
                w - m.div(denom).mul_scalar(lr / bc1)
            }
            OptimizerKind::Lamb => {
                let (m, v) = self.moments(slots, g);
                let mut update = m
                    .div_scalar(bc1)
                    .div(v.div_scalar(bc2).sqrt().add_scalar(self.eps));
                if wd != 0.0 {
                    update = update + w.clone().mul_scalar(wd);
                }
                let w_norm = w.clone().square().sum().sqrt();
                let u_norm = update.clone().square().sum().sqrt();
                let degenerate = w_norm
                    .clone()
                    .equal_elem(0.0f32)
                    .bool_or(u_norm.clone().equal_elem(0.0f32));
                let ratio = w_norm.div(u_norm).mask_fill(degenerate, 1.0);
                w - update.mul(ratio).mul_scalar(lr)
            }
            OptimizerKind::Radam => {
                let g = if wd != 0.0 {
                    g + w.clone().mul_scalar(wd)
                } else {
                    g
                };
                let (m, v) = self.moments(slots, g);
                let m_hat = m.div_scalar(bc1);
                match radam_rectification(self.beta2, t) {
                    Some(rect) => {
                        let adaptive = v.sqrt().add_scalar(self.eps).recip().mul_scalar(bc2.sqrt());
                        w - m_hat.mul(adaptive).mul_scalar(lr * rect)
                    }
                    None => w - m_hat.mul_scalar(lr),
                }
            }
            OptimizerKind::Sgd => {
                let mut d = if wd != 0.0 {
                    g + w.clone().mul_scalar(wd)
                } else {
                    g
                };
                if self.momentum != 0.0 {
                    let buf = slots[0].clone().mul_scalar(self.momentum).add(d.clone());
                    slots[0] = buf.clone();
                    d = if self.nesterov {
                        d + buf.mul_scalar(self.momentum)
                    } else {
                        buf
                    };
                }
                w - d.mul_scalar(lr)
            }
        }
    }
}

/// RAdam's variance rectification term at step `t` (1-based), or `None` while the approximated
/// SMA length `rho_t` is at most 5 (the un-rectified, SGD-with-momentum steps), as in PyTorch:
/// `rho_inf = 2 / (1 - beta2) - 1`, `rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)`,
/// `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`.
pub fn radam_rectification(beta2: f64, t: u64) -> Option<f64> {
    let tf = t as f64;
    let b2t = beta2.powf(tf);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * tf * b2t / (1.0 - b2t);
    (rho_t > 5.0).then(|| {
        ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt()
    })
}

/// An optimiser over a module's float parameters, by dotted path, with its moments.
#[derive(Clone, Debug)]
pub struct Optimizer {
    rule: Rule,
    steps: u64,
    state: BTreeMap<String, ParamState>,
}

impl Optimizer {
    /// A fresh optimiser (no state, step 0) with the kind and hyperparameters of `cfg` (the
    /// learning rate is given to each [`Optimizer::step`]).
    pub fn new(cfg: &OptimConfig) -> Optimizer {
        Optimizer {
            rule: Rule {
                kind: cfg.optimizer,
                weight_decay: cfg.weight_decay,
                beta1: cfg.beta1,
                beta2: cfg.beta2,
                eps: cfg.eps,
                momentum: cfg.momentum,
                nesterov: cfg.nesterov,
            },
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// The optimiser kind.
    pub fn kind(&self) -> OptimizerKind {
        self.rule.kind
    }

    /// One update with learning rate `lr` of every parameter of `module` that has a gradient in
    /// `grads` (the flat gradient is reshaped to the parameter's dims); other parameters and
    /// their state are left as they are. Increments the step count. Each updated parameter keeps
    /// its autodiff association and `require_grad`.
    ///
    /// # Panics
    ///
    /// When a gradient or a restored state has a different number of values than its parameter
    /// ([`Optimizer::validate`] checks restored state against a module beforehand).
    pub fn step<M: Module>(&mut self, module: M, grads: &GradStore, lr: f64) -> M {
        self.steps += 1;
        let (rule, t, state) = (self.rule, self.steps, &mut self.state);
        map_params(module, |path, dims, w| {
            let g = grads.get(path)?;
            let len: usize = dims.iter().product();
            let g_len = g.dims()[0];
            assert_eq!(
                g_len, len,
                "gradient of {path}: {g_len} values, the parameter has {len}"
            );
            let n_slots = rule.slots().len();
            let state = state.entry(path.to_string()).or_insert_with(|| ParamState {
                shape: dims.to_vec(),
                slots: (0..n_slots).map(|_| g.zeros_like()).collect(),
            });
            let state_len: usize = state.shape.iter().product();
            assert_eq!(
                state_len, len,
                "optimiser state of {path} has shape {:?}, the parameter {dims:?}",
                state.shape
            );
            Some(rule.update(w, g.clone(), &mut state.slots, lr, t))
        })
    }

    /// Optimiser steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The slot names this optimiser keeps per parameter (`exp_avg` and `exp_avg_sq` for the
    /// Adam family, `momentum_buffer` for SGD with momentum, none for plain SGD).
    pub fn slot_names(&self) -> &'static [&'static str] {
        self.rule.slots()
    }

    /// Every moment as `<param path>.<slot>` (e.g. `l1.weight.exp_avg`) with the parameter's
    /// shape, by path then slot, in [`Optimizer::slot_names`] order.
    pub fn state_tensors(&self) -> Vec<NamedTensor> {
        let names = self.rule.slots();
        let mut out = Vec::with_capacity(self.state.len() * names.len());
        for (path, st) in &self.state {
            for (slot, t) in names.iter().zip(&st.slots) {
                out.push(NamedTensor {
                    name: format!("{path}.{slot}"),
                    shape: st.shape.clone(),
                    data: tensor_values(t),
                });
            }
        }
        out
    }

    /// Replaces the step count and every moment with `tensors` (as written by
    /// [`Optimizer::state_tensors`]), placed on `device` (the parameters' device; autodiff is
    /// stripped). Every tensor must end in one of [`Optimizer::slot_names`], hold finite values
    /// matching its shape, appear once, and every parameter named must have all its slots with
    /// one shape, and every parameter must exist in `module` with that shape ([`Self::validate`]:
    /// a checkpoint of another architecture is an error, never a panic later). On error nothing
    /// changes.
    pub fn load_state<M: Module>(
        &mut self,
        steps: u64,
        tensors: &[NamedTensor],
        module: &M,
        device: &Device,
    ) -> Result<(), OptimError> {
        let names = self.rule.slots();
        let device = device.clone().inner();
        let mut parsed: BTreeMap<String, (Vec<usize>, Vec<Option<&NamedTensor>>)> = BTreeMap::new();
        for t in tensors {
            let found = names.iter().enumerate().find_map(|(i, slot)| {
                t.name
                    .strip_suffix(slot)
                    .and_then(|p| p.strip_suffix('.'))
                    .filter(|p| !p.is_empty())
                    .map(|p| (i, p))
            });
            let Some((i, path)) = found else {
                return Err(OptimError::UnknownSlot {
                    name: t.name.clone(),
                    expected: names.join(", "),
                });
            };
            check_tensor(t)?;
            let entry = parsed
                .entry(path.to_string())
                .or_insert_with(|| (t.shape.clone(), vec![None; names.len()]));
            if entry.0 != t.shape {
                return Err(OptimError::SlotShape {
                    name: t.name.clone(),
                    found: t.shape.clone(),
                    expected: entry.0.clone(),
                });
            }
            if entry.1[i].replace(t).is_some() {
                return Err(OptimError::Duplicate(t.name.clone()));
            }
        }
        let mut state = BTreeMap::new();
        for (path, (shape, slots)) in parsed {
            let mut flat = Vec::with_capacity(slots.len());
            for (slot, t) in names.iter().zip(slots) {
                let Some(t) = t else {
                    return Err(OptimError::MissingSlot {
                        param: path,
                        slot: slot.to_string(),
                    });
                };
                flat.push(tensor_of(t.data.clone(), [t.data.len()], &device));
            }
            state.insert(path, ParamState { shape, slots: flat });
        }
        check_against(
            state.iter().map(|(k, s)| (k, &s.shape)),
            &param_dims(module),
        )?;
        self.steps = steps;
        self.state = state;
        Ok(())
    }

    /// Checks that every parameter with state exists in `module` with the state's shape.
    pub fn validate<M: Module>(&self, module: &M) -> Result<(), OptimError> {
        let dims = param_dims(module);
        check_against(self.state.iter().map(|(k, s)| (k, &s.shape)), &dims)
    }
}

/// Checks one named tensor's size against its shape and its values for finiteness.
pub(crate) fn check_tensor(t: &NamedTensor) -> Result<(), OptimError> {
    let expected: usize = t.shape.iter().product();
    if expected != t.data.len() {
        return Err(OptimError::Size {
            name: t.name.clone(),
            shape: t.shape.clone(),
            expected,
            found: t.data.len(),
        });
    }
    if t.data.iter().any(|v| !v.is_finite()) {
        return Err(OptimError::NonFinite(t.name.clone()));
    }
    Ok(())
}

/// Checks state shapes (by parameter path) against a module's parameter dims.
pub(crate) fn check_against<'a>(
    state: impl Iterator<Item = (&'a String, &'a Vec<usize>)>,
    dims: &BTreeMap<String, Vec<usize>>,
) -> Result<(), OptimError> {
    for (path, shape) in state {
        match dims.get(path) {
            None => return Err(OptimError::UnknownParam(path.clone())),
            Some(d) if d != shape => {
                return Err(OptimError::ParamShape {
                    name: path.clone(),
                    state: shape.clone(),
                    param: d.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
