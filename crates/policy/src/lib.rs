//! The policy network of exphil, on burn: continuous features plus learned embeddings of the
//! integer ids, a backbone (a tagged enum: the MLP, or LSTM, GRU, attention, Mamba and Jamba over windows), an autoregressive or independent
//! controller head, and a value head for reinforcement learning; the weights file of a trained
//! policy and its validated loading (`file`), the device a policy runs on (`device`), and a
//! loaded policy playing games frame by frame (`agent`).
#![deny(missing_docs)]

pub mod agent;
pub mod device;
pub mod file;
pub mod fused;
pub mod input;
pub mod loss;
pub mod model;
pub mod onnx;
pub mod params;
pub mod precision;
pub use crate::input::{id_kind, IdGroup, InputSpec, PolicyInput};
pub use crate::loss::{bc_loss, correct_counts, LossOutput, LossSpec, COMPONENTS};
pub use crate::model::{Backbone, BackboneState, ControllerHead, HeadLogits, Policy};
pub use crate::targets::TargetBatch;
pub mod rl;
pub mod sample;
pub mod targets;
pub mod temporal;
pub use crate::rl::{kl, kl_divergence, ActionEval, Dist, LogDist};
pub use crate::sample::Sampling;
