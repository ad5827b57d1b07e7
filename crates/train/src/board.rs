//! The TensorBoard record of a training run: `<run>/tensorboard/events.out.tfevents.*`, written
//! from the loop's events as they come and flushed at each progress point, so `tensorboard
//! --logdir` (or `wandb sync --sync-tensorboard`) follows a running training.
//!
//! Every scalar's step is the run's batch count (the same axis across epochs and resumptions):
//! `train/loss`, `train/lr`, `train/grad_norm`, `train/scored_frames_per_sec`,
//! `memory/resident_mib`, `memory/device_in_use_mib` and `memory/device_reserved_mib` at each
//! progress point; `epoch/train_loss[/COMPONENT]`, `val/loss[/COMPONENT]`,
//! `val/accuracy/COMPONENT`, `val/button_baseline`, `epoch/seconds` and
//! `epoch/skipped_steps` at each epoch's end. The resolved config is the text `config`.

use crate::state::{EpochMetrics, MemoryUse};
use exphil_policy::COMPONENTS;
use exphil_report::tensorboard::EventWriter;
use std::path::Path;

/// Writes a run's events as TensorBoard scalars. A board that cannot be written is a warning,
/// never a failed run: the first failure is returned once and the board goes quiet.
pub struct Board {
    writer: Option<EventWriter>,
    /// The step of the latest progress point (an epoch's end reuses it).
    step: i64,
}

/// Bytes as MiB, the unit of the memory scalars.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Board {
    /// A new event file in `dir` with `config` (the run's resolved config, as JSON) as its
    /// first text; the warning when it cannot be created.
    pub fn open(dir: &Path, config: &str) -> (Board, Option<String>) {
        let opened = EventWriter::create(dir).and_then(|mut w| {
            w.text("config", 0, &format!("```json\n{config}\n```"))?;
            w.flush()?;
            Ok(w)
        });
        match opened {
            Ok(w) => (
                Board {
                    writer: Some(w),
                    step: 0,
                },
                None,
            ),
            Err(e) => (
                Board {
                    writer: None,
                    step: 0,
                },
                Some(format!(
                    "TensorBoard events are not written: {}: {e}",
                    dir.display()
                )),
            ),
        }
    }

    /// Records a progress point (see [`crate::trainer::Event::Progress`]); a write failure is
    /// returned once.
    pub fn progress(&mut self, p: &Progress) -> Option<String> {
        self.step = p.step as i64;
        let mut v: Vec<(&str, f64)> = vec![
            ("train/loss", p.loss),
            ("train/lr", p.lr),
            ("train/scored_frames_per_sec", p.scored_per_sec),
        ];
        if let Some(g) = p.grad_norm {
            v.push(("train/grad_norm", g));
        }
        v.extend(memory_scalars(&p.memory));
        self.write(&v)
    }

    /// Records an epoch's end at the latest progress point's step; a write failure is returned
    /// once.
    pub fn epoch(&mut self, m: &EpochMetrics) -> Option<String> {
        let v = epoch_scalars(m, &epoch_names());
        let v: Vec<(&str, f64)> = v.iter().map(|(k, x)| (k.as_str(), *x)).collect();
        self.write(&v)
    }

    /// Writes scalars at the current step and flushes; the first failure stops the board.
    fn write(&mut self, values: &[(&str, f64)]) -> Option<String> {
        let w = self.writer.as_mut()?;
        let e = w
            .scalars(self.step, values)
            .and_then(|()| w.flush())
            .err()?;
        let path = w.path().display().to_string();
        self.writer = None;
        Some(format!("TensorBoard events stop: {path}: {e}"))
    }
}

/// A progress point's figures, as the board records them.
pub struct Progress {
    /// Batches trained in the run so far (the scalars' step).
    pub step: u64,
    /// Running mean training loss.
    pub loss: f64,
    /// Learning rate.
    pub lr: f64,
    /// Scored frames per second.
    pub scored_per_sec: f64,
    /// Gradient norm of the latest step.
    pub grad_norm: Option<f64>,
    /// Memory now.
    pub memory: MemoryUse,
}

/// The memory scalars of a sample (only the figures the system gave).
fn memory_scalars(m: &MemoryUse) -> Vec<(&'static str, f64)> {
    [
        ("memory/resident_mib", m.resident),
        ("memory/device_in_use_mib", m.device_in_use),
        ("memory/device_reserved_mib", m.device_reserved),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|b| (k, mib(b))))
    .collect()
}

/// Per-component tag names: (train loss, val loss, val accuracy) of each component.
fn epoch_names() -> Vec<[String; 3]> {
    COMPONENTS
        .iter()
        .map(|c| {
            [
                format!("epoch/train_loss/{c}"),
                format!("val/loss/{c}"),
                format!("val/accuracy/{c}"),
            ]
        })
        .collect()
}

/// An epoch's scalars.
fn epoch_scalars(m: &EpochMetrics, names: &[[String; 3]]) -> Vec<(String, f64)> {
    let mut v = vec![
        ("epoch/train_loss".to_string(), m.train.loss),
        ("epoch/seconds".to_string(), m.seconds),
        ("epoch/skipped_steps".to_string(), m.skipped_steps as f64),
    ];
    for (n, x) in names.iter().zip(&m.train.components) {
        v.push((n[0].clone(), *x));
    }
    if let Some(val) = &m.val {
        v.push(("val/loss".to_string(), val.loss));
        for (n, x) in names.iter().zip(&val.components) {
            v.push((n[1].clone(), *x));
        }
        for (n, x) in names.iter().zip(&val.accuracy) {
            v.push((n[2].clone(), *x));
        }
        if let Some(b) = val.button_baseline {
            v.push(("val/button_baseline".to_string(), b));
        }
    }
    v
}
