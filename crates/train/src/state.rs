//! What a training checkpoint records besides tensors (`state.json`), and the per-pass and
//! per-epoch metrics it carries (also the lines of `metrics.jsonl`).

use crate::schedule::ScheduleState;
use exphil_embed::TARGET_COLUMNS;
use serde::{Deserialize, Serialize};

/// Version of `state.json` in checkpoints.
pub const STATE_VERSION: u32 = 1;

/// A run's final figures, as its `config.json` records them under `results` (also when it was
/// interrupted: the figures so far).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Finished epochs.
    pub epochs: usize,
    /// The best validation loss.
    pub best_val_loss: Option<f64>,
    /// The epoch that had it.
    pub best_epoch: Option<u32>,
    /// The last epoch's training loss.
    pub final_train_loss: Option<f64>,
    /// The last epoch's validation accuracy per component.
    pub final_val_accuracy: Option<Vec<f64>>,
    /// The last epoch's majority-class button baseline.
    pub button_baseline: Option<f64>,
    /// Steps skipped for non-finite losses.
    pub skipped_steps: u64,
    /// Whether early stopping ended the run.
    pub early_stopped: bool,
    /// Training time.
    pub seconds: f64,
}

/// Loss and accuracy of one pass.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PassMetrics {
    /// Mean total loss.
    pub loss: f64,
    /// Mean loss per component ([`COMPONENTS`] order).
    pub components: Vec<f64>,
    /// Accuracy per component (validation only).
    pub accuracy: Vec<f64>,
    /// Frequency of the most common button combination (the majority-class baseline of the
    /// button accuracy; validation only).
    pub button_baseline: Option<f64>,
    /// Examples.
    pub examples: u64,
}

/// Memory of the training process at one moment, or the peaks of several moments (bytes),
/// where the system says: `None` where it does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUse {
    /// Resident memory of the process (Linux: `VmRSS` of `/proc/self/status`).
    pub resident: Option<u64>,
    /// Device memory held by live tensors (GPU backends; `None` on the CPU backend).
    pub device_in_use: Option<u64>,
    /// Device memory the allocator holds: in use plus pages kept for reuse.
    pub device_reserved: Option<u64>,
    /// The device memory the run may use (`--device-memory-limit`, else what the device
    /// reports; `None` where neither says).
    #[serde(default)]
    pub device_capacity: Option<u64>,
}

impl MemoryUse {
    /// The memory now: the process's resident set and `device`'s pools.
    pub fn now(device: &burn::tensor::Device) -> MemoryUse {
        let pools = device.memory_pool_usage();
        MemoryUse {
            resident: proc_status_bytes("VmRSS:"),
            device_in_use: pools.as_ref().map(|u| u.bytes_in_use),
            device_reserved: pools.as_ref().map(|u| u.bytes_reserved),
            device_capacity: None,
        }
    }

    /// The larger of each figure (peaks over samples).
    pub fn max(self, other: MemoryUse) -> MemoryUse {
        let m = |a: Option<u64>, b: Option<u64>| a.max(b);
        MemoryUse {
            resident: m(self.resident, other.resident),
            device_in_use: m(self.device_in_use, other.device_in_use),
            device_reserved: m(self.device_reserved, other.device_reserved),
            device_capacity: m(self.device_capacity, other.device_capacity),
        }
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// A memory figure of this process in bytes (`VmRSS:`, `VmHWM:` of `/proc/self/status`);
/// `None` off Linux.
pub fn proc_status_bytes(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One epoch's record (a line of `metrics.jsonl`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// Training pass.
    pub train: PassMetrics,
    /// Validation pass (when there are validation games).
    pub val: Option<PassMetrics>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Optimiser steps so far.
    pub steps: u64,
    /// Steps skipped for a non-finite loss or gradient so far.
    pub skipped_steps: u64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Whether the validation loss is the lowest so far (the best model).
    pub improved: bool,
    /// The peaks of memory sampled at each progress point of the epoch and at its end.
    #[serde(default)]
    pub peak_memory: MemoryUse,
    /// f16 training: the loss scale at the end of the epoch and the steps it skipped so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScale>,
}

/// The dynamic loss scale of f16 training: the loss is multiplied by `scale` before the
/// backward pass, so small gradients survive f16, and the gradients divided by it after. A
/// step whose gradients overflow is skipped and the scale halved; after
/// [`LossScale::GROWTH_INTERVAL`] good steps in a row it doubles (PyTorch's `GradScaler`
/// defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The factor.
    pub scale: f64,
    /// Good steps since it last changed.
    pub good_steps: u64,
    /// Steps skipped for overflowing gradients over the run.
    pub overflows: u64,
}

impl Default for LossScale {
    fn default() -> LossScale {
        LossScale {
            scale: LossScale::INITIAL,
            good_steps: 0,
            overflows: 0,
        }
    }
}

impl LossScale {
    /// The first scale (2^16).
    pub const INITIAL: f64 = 65536.0;
    /// Good steps in a row before the scale doubles.
    pub const GROWTH_INTERVAL: u64 = 2000;
    /// The largest scale (2^24).
    pub const MAX: f64 = 16_777_216.0;

    /// A step with finite gradients was taken.
    pub fn good_step(&mut self) {
        self.good_steps += 1;
        if self.good_steps >= LossScale::GROWTH_INTERVAL {
            self.scale = (self.scale * 2.0).min(LossScale::MAX);
            self.good_steps = 0;
        }
    }

    /// A step's gradients overflowed: it is skipped and the scale halved. `false` when the
    /// scale is already 1 (the overflow is not the scale's: a real fault).
    pub fn overflowed(&mut self) -> bool {
        self.good_steps = 0;
        if self.scale <= 1.0 {
            return false;
        }
        self.scale = (self.scale / 2.0).max(1.0);
        self.overflows += 1;
        true
    }
}

/// Running sums of the current epoch's training losses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossSums {
    /// Example-weighted sum of the total loss.
    pub total: f64,
    /// Example-weighted sums per component.
    pub components: [f64; TARGET_COLUMNS],
    /// Examples.
    pub examples: u64,
}

impl LossSums {
    pub(crate) fn add(&mut self, comps: &[f64; TARGET_COLUMNS], n: u64) {
        for (s, c) in self.components.iter_mut().zip(comps) {
            *s += c * n as f64;
        }
        self.total += comps.iter().sum::<f64>() * n as f64;
        self.examples += n;
    }

    pub(crate) fn mean(&self) -> PassMetrics {
        let n = self.examples.max(1) as f64;
        PassMetrics {
            loss: self.total / n,
            components: self.components.iter().map(|c| c / n).collect(),
            accuracy: Vec::new(),
            button_baseline: None,
            examples: self.examples,
        }
    }
}

/// Everything besides tensors that a checkpoint restores (`state.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The run's seed.
    pub seed: u64,
    /// The epoch in progress (0-based).
    pub epoch: u32,
    /// Batches of that epoch already trained.
    pub batch: u64,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Batches trained over the run (seeds dropout).
    pub micro_steps: u64,
    /// EMA updates.
    pub ema_updates: u64,
    /// The schedule's mutable state.
    pub schedule: Option<ScheduleState>,
    /// Best validation loss so far.
    pub best_val: Option<f64>,
    /// The validation loss that early stopping measures improvements against (it moves only
    /// when the loss falls by more than `min_delta`).
    #[serde(default)]
    pub patience_reference: Option<f64>,
    /// Its epoch (1-based).
    pub best_epoch: Option<u32>,
    /// Epochs since the last improvement.
    pub stale_epochs: u32,
    /// Steps skipped for non-finite values.
    pub skipped_steps: u64,
    /// Reloads of the last good state.
    pub recoveries: u32,
    /// The epoch in progress' running losses.
    pub sums: LossSums,
    /// Finished epochs.
    pub history: Vec<EpochMetrics>,
    /// Training time so far.
    pub seconds: f64,
    /// Whether early stopping ended the run.
    pub early_stopped: bool,
    /// Whether the run finished (all epochs or early stop).
    pub finished: bool,
    /// Sequence training: frames each stream's carried state has seen (the state's tensors
    /// are in the checkpoint's `streams.safetensors`); empty when no state is carried.
    #[serde(default)]
    pub stream_seen: Vec<u64>,
    /// f16 training: the dynamic loss scale.
    #[serde(default)]
    pub loss_scale: Option<LossScale>,
}

impl TrainState {
    /// The run's figures so far.
    pub fn results(&self) -> RunResults {
        let last = self.history.last();
        let val = last.and_then(|h| h.val.as_ref());
        RunResults {
            epochs: self.history.len(),
            best_val_loss: self.best_val,
            best_epoch: self.best_epoch,
            final_train_loss: last.map(|h| h.train.loss),
            final_val_accuracy: val.map(|v| v.accuracy.clone()),
            button_baseline: val.and_then(|v| v.button_baseline),
            skipped_steps: self.skipped_steps,
            early_stopped: self.early_stopped,
            seconds: self.seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exphil_runs::resume::Progress;

    /// Where a run resumes is found without the trainer (`exphil_runs::resume`), from the
    /// progress fields of the `state.json` written here: they must keep their names.
    #[test]
    fn the_resume_search_reads_the_progress_of_a_written_state() {
        let state = TrainState {
            version: STATE_VERSION,
            epoch: 3,
            batch: 17,
            steps: 250,
            micro_steps: 1000,
            ..TrainState::default()
        };
        let bytes = serde_json::to_vec_pretty(&state).unwrap();
        assert_eq!(
            Progress::of_state(&bytes),
            Some(Progress {
                epoch: 3,
                batch: 17,
                steps: 250,
                micro_steps: 1000,
            })
        );
    }
}

#[cfg(test)]
mod loss_scale_tests {
    use super::LossScale;

    #[test]
    fn overflows_halve_the_scale_and_good_runs_double_it() {
        let mut l = LossScale::default();
        assert_eq!(l.scale, 65536.0);
        assert!(l.overflowed());
        assert_eq!((l.scale, l.overflows), (32768.0, 1));
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            l.good_step();
        }
        assert_eq!(l.scale, 32768.0);
        l.good_step();
        assert_eq!((l.scale, l.good_steps), (65536.0, 0));
        // An overflow resets the count of good steps.
        l.good_step();
        assert!(l.overflowed());
        assert_eq!((l.scale, l.good_steps), (32768.0, 0));
        // Down to 1, where an overflow is no longer the scale's.
        while l.scale > 1.0 {
            assert!(l.overflowed());
        }
        assert!(!l.overflowed());
        assert_eq!(l.scale, 1.0);
        let mut big = LossScale {
            scale: LossScale::MAX,
            ..LossScale::default()
        };
        for _ in 0..LossScale::GROWTH_INTERVAL {
            big.good_step();
        }
        assert_eq!(big.scale, LossScale::MAX);
    }
}
