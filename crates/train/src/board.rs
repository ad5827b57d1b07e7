//! The TensorBoard record of a run (imitation here; PPO's learners write theirs through
//! [`Board::write`]). For imitation: `<run>/tensorboard/events.out.tfevents.*`, written
//! from the loop's events as they come and flushed at each progress point, so `tensorboard
//! --logdir` (or `wandb sync --sync-tensorboard`) follows a running training.
//!
//! Every scalar's step is the run's batch count (the same axis across epochs and resumptions):
//! `train/loss`, `train/lr`, `train/grad_norm`, `train/scored_frames_per_sec`,
//! `memory/resident_mib`, `memory/device_in_use_mib` and `memory/device_reserved_mib` at each
//! progress point; `epoch/train_loss[/COMPONENT]`, `val/loss[/COMPONENT]`,
//! `val/accuracy/COMPONENT`, `val/button_baseline`, `epoch/seconds` and
//! `epoch/skipped_steps` at each epoch's end. The resolved config is the text `config`.

use crate::event::Event;
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
    /// A new event file in `dir`, with `config` (a run's resolved config, as JSON) as its first
    /// text when given; the warning when it cannot be created (the board then stays quiet).
    pub fn open(dir: &Path, config: Option<&str>) -> (Board, Option<String>) {
        let opened = EventWriter::create(dir).and_then(|mut w| {
            if let Some(c) = config {
                w.text("config", 0, &format!("```json\n{c}\n```"))?;
            }
            w.flush()?;
            Ok(w)
        });
        let warning = opened
            .as_ref()
            .err()
            .map(|e| format!("TensorBoard events are not written: {}: {e}", dir.display()));
        (
            Board {
                writer: opened.ok(),
                step: 0,
            },
            warning,
        )
    }

    /// Records one event of the training loop: a progress point's scalars at its step, an
    /// epoch's at the latest progress point's step; a write failure is returned once.
    pub fn record(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Progress {
                step,
                loss,
                scored_per_sec,
                lr,
                grad_norm,
                memory,
                ..
            } => {
                let mut v: Vec<(&str, f64)> = vec![
                    ("train/loss", *loss),
                    ("train/lr", *lr),
                    ("train/scored_frames_per_sec", *scored_per_sec),
                ];
                if let Some(g) = grad_norm {
                    v.push(("train/grad_norm", *g));
                }
                v.extend(memory_scalars(memory));
                self.write(*step as i64, &v)
            }
            Event::Epoch(m) => {
                let v = epoch_scalars(m, &epoch_names());
                let v: Vec<(&str, f64)> = v.iter().map(|(k, x)| (k.as_str(), *x)).collect();
                self.write(self.step, &v)
            }
            _ => None,
        }
    }

    /// Writes `values` at `step` and flushes; the first failure stops the board and is
    /// returned.
    pub fn write(&mut self, step: i64, values: &[(&str, f64)]) -> Option<String> {
        self.step = step;
        let w = self.writer.as_mut()?;
        let e = w.scalars(step, values).and_then(|()| w.flush()).err()?;
        let path = w.path().display().to_string();
        self.writer = None;
        Some(format!("TensorBoard events stop: {path}: {e}"))
    }
}

/// The memory scalars of a sample (only the figures the system gave).
fn memory_scalars(m: &MemoryUse) -> Vec<(&'static str, f64)> {
    [
        ("memory/resident_mib", m.resident),
        ("memory/device_in_use_mib", m.device_in_use),
        ("memory/device_reserved_mib", m.device_reserved),
        ("memory/device_capacity_mib", m.device_capacity),
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
    if let Some(l) = &m.loss_scale {
        v.push(("epoch/loss_scale".to_string(), l.scale));
        v.push(("epoch/overflow_steps".to_string(), l.overflows as f64));
    }
    v
}
