//! A module's parameters as plain dotted names (`trunk.layers.0.linear.weight`): export to and
//! import from [`NamedTensor`]s, so weights, EMA copies and optimiser moments share one format.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use exphil_runs::tensors::NamedTensor;
use std::collections::BTreeMap;

/// Tracks the dotted path of the parameter being visited (module names pushed on entry).
#[derive(Default, Debug)]
pub struct PathTracker {
    parts: Vec<String>,
}

impl PathTracker {
    /// Enter a submodule or field.
    pub fn enter(&mut self, name: &str) {
        self.parts.push(name.to_string());
    }

    /// Leave it.
    pub fn exit(&mut self) {
        self.parts.pop();
    }

    /// The current dotted path.
    pub fn path(&self) -> String {
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

struct Export {
    path: PathTracker,
    out: Vec<NamedTensor>,
}

impl ModuleVisitor for Export {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        self.out.push(NamedTensor {
            name: self.path.path(),
            shape: t.dims().to_vec(),
            data: tensor_values(&t),
        });
    }
}

/// Every float parameter of `module`, in visiting order, by dotted name.
pub fn export<M: Module>(module: &M) -> Vec<NamedTensor> {
    let mut e = Export {
        path: PathTracker::default(),
        out: Vec::new(),
    };
    module.visit(&mut e);
    e.out
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

struct Import<'a> {
    path: PathTracker,
    by_name: BTreeMap<&'a str, &'a NamedTensor>,
    used: usize,
    error: Option<ImportError>,
}

impl ModuleMapper for Import<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.path();
        let Some(t) = self.by_name.get(name.as_str()) else {
            self.error = Some(ImportError::Missing(name));
            return param;
        };
        let (id, old, mapper) = param.consume();
        let dims = old.dims();
        if t.shape != dims {
            self.error = Some(ImportError::Shape {
                name,
                found: t.shape.clone(),
                expected: dims.to_vec(),
            });
            return Param::from_mapped_value(id, old, mapper);
        }
        if t.data.iter().any(|v| !v.is_finite()) {
            self.error = Some(ImportError::NonFinite(name));
            return Param::from_mapped_value(id, old, mapper);
        }
        self.used += 1;
        let require_grad = old.is_require_grad();
        let device = old.device();
        let mut new = tensor_of(t.data.clone(), dims, &device);
        if require_grad {
            new = new.require_grad();
        }
        Param::from_mapped_value(id, new, mapper)
    }
}

/// `module` with every float parameter replaced by the tensor of the same name. Every parameter
/// must be present with its shape and finite values, and no other tensor may be given.
pub fn import<M: Module>(module: M, tensors: &[NamedTensor]) -> Result<M, ImportError> {
    let by_name: BTreeMap<&str, &NamedTensor> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut m = Import {
        path: PathTracker::default(),
        by_name,
        used: 0,
        error: None,
    };
    let module = module.map(&mut m);
    if let Some(e) = m.error {
        return Err(e);
    }
    if m.used != tensors.len() {
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
