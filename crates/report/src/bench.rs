//! The results of `exphil bench architectures`: every backbone trained on the same data and
//! split, with its validation losses, loss curve, training speed, inference latency, size and
//! complexity, and the machine it ran on. Written as `benchmark_results.json`; the HTML report
//! and the console table are rendered from it ([`crate::report`]).

use serde::{Deserialize, Serialize};

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// CPU model name (`/proc/cpuinfo`'s `model name`, or `unknown`).
    pub cpu_model: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Total memory in bytes (0 when unknown).
    pub memory_bytes: u64,
    /// GPU names (from `nvidia-smi`), empty when none.
    pub gpus: Vec<String>,
    /// `linux`, `macos`, `windows`.
    pub os: String,
    /// The device the models ran on (`cpu`, `cuda:0`).
    pub device: String,
}

impl MachineInfo {
    /// The machine this process runs on, with the device it uses.
    pub fn detect(device: &str) -> MachineInfo {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines().find_map(|l| {
                    let rest = l.strip_prefix("MemTotal:")?;
                    let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                    Some(kib * 1024)
                })
            })
            .unwrap_or(0);
        let gpus = std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        MachineInfo {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            gpus,
            os: std::env::consts::OS.to_string(),
            device: device.to_string(),
        }
    }
}

/// One epoch of one backbone's training.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Epoch (from 1).
    pub epoch: u32,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Validation loss after the epoch.
    pub val_loss: f64,
}

/// Inference latency of one backbone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median time of one frame-by-frame step for one game (trunk and head), microseconds.
    pub step_batch1_us: f64,
    /// 99th percentile of the same, microseconds.
    pub step_batch1_p99_us: f64,
    /// Median time of one step for 256 games at once, milliseconds.
    pub step_batch256_ms: f64,
}

/// One backbone's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchResult {
    /// Backbone name (`mlp`, `lstm`, ...).
    pub name: String,
    /// Its full settings (the `policy.backbone` object of the config).
    pub backbone: serde_json::Value,
    /// Trainable parameters of the whole policy.
    pub params: usize,
    /// Theoretical cost per predicted frame, e.g. `O(W·L·H²)`, with the symbols spelled out in
    /// [`BenchReport::complexity_legend`].
    pub complexity: String,
    /// Multiply-accumulates per predicted frame in training (the window's forward pass).
    pub macs_per_example: u64,
    /// Best validation loss (total).
    pub val_loss: f64,
    /// Validation loss per component at that epoch: buttons, main_x, main_y, c_x, c_y, shoulder.
    pub val_components: Vec<f64>,
    /// Validation accuracy per component at that epoch.
    pub val_accuracy: Vec<f64>,
    /// The loss curve, one point per epoch.
    pub curve: Vec<CurvePoint>,
    /// Training examples (windows) per second over the run.
    pub train_samples_per_s: f64,
    /// Wall time of the training, seconds.
    pub train_seconds: f64,
    /// Inference latency.
    pub latency: Latency,
    /// Why the backbone failed, if it did (the others still run); the numbers are then empty.
    pub error: Option<String>,
}

/// A whole benchmark: what was compared, on what, and the results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The command line that produced it.
    pub command: String,
    /// RFC 3339 UTC time of the run.
    pub created: String,
    /// The machine.
    pub machine: MachineInfo,
    /// The replay directories.
    pub replays: Vec<String>,
    /// Games used (training + validation).
    pub games: usize,
    /// Training frames.
    pub train_frames: usize,
    /// Validation frames.
    pub val_frames: usize,
    /// Epochs each backbone trained.
    pub epochs: u32,
    /// The frames per window of the temporal backbones.
    pub window: usize,
    /// What the symbols of the complexity column mean.
    pub complexity_legend: String,
    /// One entry per backbone, in the order run.
    pub results: Vec<ArchResult>,
}

/// The component names, in the order of [`ArchResult::val_components`].
pub const COMPONENT_NAMES: [&str; 6] = ["buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"];
