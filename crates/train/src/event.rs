//! What the training loop reports as it goes ([`Event`]): to the caller's printer and to the
//! run's TensorBoard record ([`crate::board`]).

use crate::state::{EpochMetrics, MemoryUse};
use std::path::PathBuf;

/// What the training loop reports as it goes.
#[derive(Clone, Debug)]
pub enum Event {
    /// Training starts (or resumes).
    Start {
        /// Epochs in all.
        epochs: u32,
        /// Batches per epoch.
        batches: usize,
        /// The epoch it starts in (0-based) and the batches of it already done.
        from: (u32, u64),
        /// Trainable parameters.
        params: usize,
        /// The seed.
        seed: u64,
        /// The monitored loss (validation, else training) of each epoch already done.
        history: Vec<f64>,
    },
    /// Progress within an epoch (every `log_interval` batches and at its end).
    Progress {
        /// Epoch (0-based).
        epoch: u32,
        /// Batches done.
        batch: u64,
        /// Batches in the epoch.
        batches: usize,
        /// Running mean training loss of the epoch: the plain negative log-likelihood, nats
        /// per scored frame.
        loss: f64,
        /// Scored frames (frames with a loss: one per example or window, every valid frame of
        /// a sequence batch) per second since the epoch (or resumption) started.
        scored_per_sec: f64,
        /// Current learning rate.
        lr: f64,
        /// The global gradient norm (before clipping) of the latest optimiser step of the
        /// epoch; `None` before its first step.
        grad_norm: Option<f64>,
        /// Memory now.
        memory: MemoryUse,
        /// Batches trained in the run so far, resumed ones included (the step of its
        /// TensorBoard scalars).
        step: u64,
    },
    /// Validation is running.
    Validating,
    /// Something the user should know that changes nothing (leftovers of interrupted saves
    /// removed).
    Notice(String),
    /// A finished epoch.
    Epoch(EpochMetrics),
    /// Something the user should act on that does not stop the run (device memory near its
    /// limit).
    Warning(String),
    /// A non-finite loss or gradient.
    Fault {
        /// The optimiser step.
        step: u64,
        /// What happened and what was done.
        message: String,
    },
    /// A checkpoint was written.
    Saved {
        /// Its kind (`latest`, `best`, `epoch-0003`, `batch`, `interrupt`).
        kind: String,
        /// Its directory.
        path: PathBuf,
    },
}
