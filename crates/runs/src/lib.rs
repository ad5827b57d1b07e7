//! Training runs without the ML framework: the resolved training config and its presets, the
//! PPO run config and its presets (`ppo_config`, `ppo_args`),
//! named-tensor files, run directories and rotation (written through `exphil-io`), the run registry,
//! metrics and the loss plot. The policy and trainer crates (burn) build on it; everything
//! here compiles and is tested without burn.
#![deny(missing_docs)]

pub mod args;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod models;
pub mod plot;
pub mod ppo_args;
pub mod ppo_config;
pub mod presets;
pub mod registry;
pub mod report;
pub mod rundir;
pub mod tensors;
