//! Behavioural cloning on burn: optimisers, learning-rate schedules, weight EMA, the training
//! loop with validation and early stopping, numerical-fault recovery, checkpoints and exact
//! resumption; what a run needs besides the loop (`run`), evaluating a trained policy
//! (`eval`) and playing it frame by frame (`agent`).
#![deny(missing_docs)]

pub mod agent;
pub mod allocator;
pub mod data;
pub mod ema;
pub mod error;
pub mod eval;
pub mod grads;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod state;
pub mod trainer;
