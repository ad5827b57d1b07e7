//! Mixed precision: the type a training step computes in, apart from the weights it updates.
//!
//! exphil keeps the master weights and the optimiser state in f32 always. A step in f16 or
//! bf16 runs on a copy of the policy whose parameters are cast to that type
//! ([`cast_params`], through `Policy::compute_copy`): the cast is part of the autodiff graph, so the gradients land on
//! the f32 master parameters. Inside the copy the matrix products, activations and recurrences
//! run in the half type; layer norms (statistics over a row), softmaxes (attention and
//! pooling) and the losses run in f32 (what PyTorch's autocast does too). This is unrelated to
//! `dataset build --precision`, which is how a dataset stores its features on disk.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::LayerNorm;
use burn::tensor::{DType, FloatDType, Tensor};

/// What a training step computes in: `f32` (the default), or `f16` / `bf16` with f32 master
/// weights. Re-exported from the run's configuration.
pub use exphil_runs::config::Precision;

/// The burn float type of a precision.
pub fn float_dtype(p: Precision) -> FloatDType {
    match p {
        Precision::F32 => FloatDType::F32,
        Precision::F16 => FloatDType::F16,
        Precision::Bf16 => FloatDType::BF16,
        // Unresolved (see [`resolve`]): the half type every half-capable device has.
        Precision::Half => FloatDType::F16,
    }
}

/// The float type of a tensor's dtype (f32 for anything that is not a float type).
pub fn float_of(dtype: DType) -> FloatDType {
    match dtype {
        DType::F16 => FloatDType::F16,
        DType::BF16 => FloatDType::BF16,
        DType::F64 => FloatDType::F64,
        _ => FloatDType::F32,
    }
}

/// Casts every float parameter to one type, except the layer norms' (they stay f32: the
/// norms compute in f32, see [`NormF32`]).
struct CastParams {
    to: FloatDType,
    /// Depth inside a `LayerNorm` (its parameters keep their type).
    in_norm: usize,
}

impl ModuleMapper for CastParams {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Struct:LayerNorm" || self.in_norm > 0 {
            self.in_norm += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.in_norm = self.in_norm.saturating_sub(1);
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.in_norm > 0 {
            return param;
        }
        let to = self.to;
        param.map(|t| t.cast(to))
    }
}

/// `module` with its float parameters cast to `precision`'s type (layer norms excepted),
/// linked to the originals through the autodiff graph; `module` itself for f32.
pub fn cast_params<M: Module>(module: M, precision: Precision) -> M {
    if precision == Precision::F32 {
        return module;
    }
    module.map(&mut CastParams {
        to: float_dtype(precision),
        in_norm: 0,
    })
}

/// A layer norm computed in its parameters' type (f32 in a [`cast_params`] copy) whatever
/// the type of the stream, which comes back in its own type.
pub trait NormF32 {
    /// `x` normalised over its last dimension.
    fn norm<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>;
}

impl NormF32 for LayerNorm {
    fn norm<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let stream = float_of(x.dtype());
        let own = float_of(self.gamma.val().dtype());
        if stream == own {
            return self.forward(x);
        }
        self.forward(x.cast(own)).cast(stream)
    }
}

/// The precision a run on `device` (named `name`, as `--device` gave it) computes in:
/// [`Precision::Half`] becomes bf16 where the device computes in bf16, else f16; a half type
/// the device cannot compute in is refused, naming the device and the types it has. Cheap:
/// commands check it before any data work.
pub fn resolve(
    p: Precision,
    device: &burn::tensor::Device,
    name: &str,
) -> Result<Precision, String> {
    let can = |t: FloatDType| device.supports_dtype(t);
    let chosen = match p {
        Precision::F32 => return Ok(Precision::F32),
        Precision::Half if can(FloatDType::BF16) => Precision::Bf16,
        Precision::Half => Precision::F16,
        other => other,
    };
    if can(float_dtype(chosen)) {
        return Ok(chosen);
    }
    let has: Vec<&str> = [
        (FloatDType::F32, "f32"),
        (FloatDType::F16, "f16"),
        (FloatDType::BF16, "bf16"),
    ]
    .into_iter()
    .filter(|(t, _)| can(*t))
    .map(|(_, n)| n)
    .collect();
    Err(format!(
        "--precision {}: device {name:?} cannot compute in {} (it computes in {}){}",
        p.name(),
        chosen.name(),
        has.join(", "),
        if has.contains(&"f16") || has.contains(&"bf16") {
            String::new()
        } else {
            "; train in f32 (the default)".to_string()
        }
    ))
}
