//! A module's parameters as plain dotted names (`trunk.layers.0.linear.weight`): export to and
//! import from [`NamedTensor`]s, so weights, EMA copies and optimiser moments share one format.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};

use burn::tensor::{Device, Gradients, Tensor, TensorData};
use exphil_runs::tensors::NamedTensor;
use std::collections::BTreeMap;

/// Tracks the dotted path of the parameter being visited (module names pushed on entry).
#[derive(Default, Debug)]
struct PathTracker {
    parts: Vec<String>,
}

impl PathTracker {
    /// Enter a submodule or field.
    fn enter(&mut self, name: &str) {
        self.parts.push(name.to_string());
    }

    /// Leave it.
    fn exit(&mut self) {
        self.parts.pop();
    }

    /// The current dotted path.
    fn path(&self) -> String {
        self.parts.join(".")
    }
}

/// The values of a float tensor as `f32` (on the host).
pub fn tensor_values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// A host tensor of `shape` on `device` (not tracked by autodiff).
pub fn tensor_of<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// One float parameter of a module as the walkers see it, whatever its rank: its dims and, on
/// demand, its values or gradient flattened (autodiff stripped).
pub trait ParamRef {
    /// Its dims, without reading the tensor.
    fn dims(&self) -> Vec<usize>;
    /// Its values, flattened (`[n]`), off the autodiff graph.
    fn flat(&self) -> Tensor<1>;
    /// Its gradient in `grads`, flattened, when it has one.
    fn flat_grad(&self, grads: &Gradients) -> Option<Tensor<1>>;
}

impl<const D: usize> ParamRef for Param<Tensor<D>> {
    fn dims(&self) -> Vec<usize> {
        self.lazy_shape().to_vec()
    }
    fn flat(&self) -> Tensor<1> {
        let value = self.val();
        let len = value.shape().num_elements();
        value.inner().reshape([len])
    }
    fn flat_grad(&self, grads: &Gradients) -> Option<Tensor<1>> {
        let grad = self.val().grad(grads)?;
        let len = grad.shape().num_elements();
        Some(grad.inner().reshape([len]))
    }
}

struct Visit<F> {
    path: PathTracker,
    f: F,
}

impl<F: FnMut(&str, &dyn ParamRef)> ModuleVisitor for Visit<F> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        (self.f)(&self.path.path(), param);
    }
}

/// Calls `f(path, param)` for every float parameter of `module`, in visiting order, with its
/// dotted path. The one walk behind export, shapes, gradient accumulation and EMA updates.
pub fn visit_params<M: Module>(module: &M, f: impl FnMut(&str, &dyn ParamRef)) {
    module.visit(&mut Visit {
        path: PathTracker::default(),
        f,
    });
}

struct Map<F> {
    path: PathTracker,
    f: F,
}

impl<F: FnMut(&str, &[usize], Tensor<1>) -> Option<Tensor<1>>> ModuleMapper for Map<F> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, value, mapper) = param.consume();
        let dims = value.dims();
        let len: usize = dims.iter().product();
        let flat: Tensor<1> = value.clone().inner().reshape([len]);
        let Some(new) = (self.f)(&self.path.path(), &dims, flat) else {
            return Param::from_mapped_value(id, value, mapper);
        };
        let new_len = new.dims()[0];
        assert_eq!(
            new_len,
            len,
            "{}: {new_len} values for a parameter of {dims:?}",
            self.path.path()
        );
        let mut new: Tensor<D> = new.reshape(dims);
        if value.is_autodiff() {
            new = new.autodiff();
        }
        if value.is_require_grad() {
            new = new.require_grad();
        }
        Param::from_mapped_value(id, new, mapper)
    }
}

/// `module` with each float parameter for which `f(path, dims, values)` (its values flattened,
/// off the autodiff graph) returns new values (as many) replaced by them, reshaped and keeping
/// the parameter's autodiff association and `require_grad`; `None` leaves it as it is. The one
/// map behind import, optimiser steps and applying an EMA.
///
/// # Panics
///
/// When `f` returns a different number of values than the parameter has.
pub fn map_params<M: Module>(
    module: M,
    f: impl FnMut(&str, &[usize], Tensor<1>) -> Option<Tensor<1>>,
) -> M {
    module.map(&mut Map {
        path: PathTracker::default(),
        f,
    })
}

/// Every float parameter of `module`, in visiting order, by dotted name.
pub fn export<M: Module>(module: &M) -> Vec<NamedTensor> {
    let mut out = Vec::new();
    visit_params(module, |name, p| {
        out.push(NamedTensor {
            name: name.to_string(),
            shape: p.dims(),
            data: tensor_values(&p.flat()),
        });
    });
    out
}

/// The dotted names and shapes of `module`'s float parameters.
pub fn shapes<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    export(module)
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect()
}

/// Why named tensors do not fit a module.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The module has a parameter the tensors lack.
    #[error("missing tensor {0}")]
    Missing(String),
    /// Shapes differ.
    #[error("tensor {name}: shape {found:?}, the model expects {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// In the file.
        found: Vec<usize>,
        /// In the model.
        expected: Vec<usize>,
    },
    /// Tensors the module does not have.
    #[error("unexpected tensors: {0}")]
    Unexpected(String),
    /// A value is NaN or infinite.
    #[error("tensor {0} holds a non-finite value")]
    NonFinite(String),
}

/// `module` with every float parameter replaced by the tensor of the same name. Every parameter
/// must be present with its shape and finite values, and no other tensor may be given.
pub fn import<M: Module>(module: M, tensors: &[NamedTensor]) -> Result<M, ImportError> {
    let by_name: BTreeMap<&str, &NamedTensor> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut used = 0usize;
    let mut error: Option<ImportError> = None;
    let module = map_params(module, |name, dims, old| {
        if error.is_some() {
            return None;
        }
        let Some(t) = by_name.get(name) else {
            error = Some(ImportError::Missing(name.to_string()));
            return None;
        };
        if t.shape != dims {
            error = Some(ImportError::Shape {
                name: name.to_string(),
                found: t.shape.clone(),
                expected: dims.to_vec(),
            });
            return None;
        }
        if t.data.iter().any(|v| !v.is_finite()) {
            error = Some(ImportError::NonFinite(name.to_string()));
            return None;
        }
        used += 1;
        Some(tensor_of(t.data.clone(), [t.data.len()], &old.device()))
    });
    if let Some(e) = error {
        return Err(e);
    }
    if used != tensors.len() {
        let known: std::collections::BTreeSet<String> =
            shapes(&module).into_iter().map(|(n, _)| n).collect();
        let extra: Vec<&str> = tensors
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !known.contains(*n))
            .collect();
        return Err(ImportError::Unexpected(extra.join(", ")));
    }
    Ok(module)
}
