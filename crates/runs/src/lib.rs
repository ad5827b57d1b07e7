//! Training runs without the ML framework: the resolved training config and its presets, the
//! PPO run config and its presets (`ppo_config`, `ppo_args`), named-tensor files, run
//! directories and rotation (written through `exphil-io`), where a run resumes, the run registry
//! and metrics. What a human reads (the loss plot, benchmark reports) is `exphil-report`. The
//! policy and trainer crates (burn) build on it; everything here compiles and is tested without
//! burn.
#![deny(missing_docs)]

pub mod args;
pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod models;
pub mod ppo_args;
pub mod ppo_config;
pub mod presets;
pub mod registry;
pub mod resume;
pub mod rundir;
pub mod tensors;
