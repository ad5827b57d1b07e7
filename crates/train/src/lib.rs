//! Behavioural cloning on burn: optimisers, learning-rate schedules, weight EMA, the training
//! loop with validation and early stopping, numerical-fault recovery, checkpoints and exact
//! resumption; what a run needs around the loop (`run`), evaluating a trained policy (`eval`;
//! a whole evaluation over replays: `evaluate`).
#![deny(missing_docs)]

pub mod allocator;
pub mod board;
pub mod data;
pub mod ema;
pub mod error;
pub mod eval;
pub mod evaluate;
pub mod event;
pub mod export;
pub mod grads;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod state;
pub mod trainer;
