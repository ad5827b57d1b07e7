//! Writing ONNX models without protoc, prost or a tensor framework: a graph builder
//! ([`Graph`]: typed inputs, constant initializers, operator nodes, composite layers such as
//! [`Graph::linear`] and [`Graph::gelu`]) and a hand-written Protocol Buffers encoder of the
//! `onnx.proto` messages ([`Model::encode`]).
//!
//! burn imports ONNX but cannot export it; this crate is what the policy exporter builds on.
//! The default opset is 17 of the standard domain, and the IR version follows the opset
//! ([`ir_version`]). Tensor data is stored little-endian in `TensorProto.raw_data`.
//!
//! ```
//! use exphil_onnx::{Dim, Elem, Graph, Model};
//! let mut g = Graph::new("affine");
//! let x = g.input("x", Elem::F32, vec![Dim::Param("batch".into()), Dim::Fixed(2)]);
//! let y = g.linear(&x, &[1.0, 0.0, 0.0, 1.0], 2, 2, Some(&[0.5, -0.5]));
//! g.output("y", &y, Elem::F32, vec![Dim::Param("batch".into()), Dim::Fixed(2)]);
//! let bytes = Model::new(g).encode(); // the contents of a .onnx file
//! assert!(!bytes.is_empty());
//! ```
#![deny(missing_docs)]

mod graph;
mod layers;
mod model;
mod wire;

pub use graph::{Attr, Dim, Elem, Graph};
pub use model::{ir_version, Model, DEFAULT_OPSET, PRODUCER_NAME};
