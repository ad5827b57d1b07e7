//! `exphil export`: a trained policy as an ONNX model that ONNX Runtime (or any opset-17
//! runtime) runs, with an optional sample of real rows and exphil's outputs to check it by.

use crate::cli::files_of;
use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use clap::Args;
use exphil_dataset::npy::write_npz;
use exphil_policy::device::device_of;
use exphil_policy::file::{load_policy, LoadedPolicy};
use exphil_policy::onnx::OnnxExport;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_train::export::{sample, validation_sequences, SampleArray, SampleSource};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `exphil export` arguments.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The policy: a run directory, a run name in the registry, or a weights file.
    #[arg(long, value_name = "RUN")]
    pub policy: String,
    /// Where to write the ONNX model.
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,
    /// Also write FILE.sample.npz (FILE without `.onnx`): N real rows (steps, for a temporal
    /// policy) from the run's validation games under the graph's input names, and exphil's
    /// outputs for them under its output names.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Replay folders or files holding the run's validation games [default: the folders it
    /// trained from].
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub replays: Vec<PathBuf>,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
}

/// The sample's path beside the model: `model.onnx` -> `model.sample.npz`.
pub fn sample_path(onnx: &Path) -> PathBuf {
    let stem = match onnx.extension() {
        Some(e) if e.eq_ignore_ascii_case("onnx") => onnx.with_extension(""),
        _ => onnx.to_path_buf(),
    };
    let mut name = stem.into_os_string();
    name.push(".sample.npz");
    PathBuf::from(name)
}

/// Runs `exphil export`.
pub fn run(a: ExportArgs) -> Result<ExitCode> {
    if a.sample == Some(0) {
        bail!("--sample takes a number of rows of at least 1");
    }
    let path = policy_path(&checkpoints_dir(&a.checkpoints), &a.policy)?;
    let device = device_of("cpu")?;
    let loaded = load_policy(&path, &device)?;
    let export = exphil_policy::onnx::export(&loaded)
        .map_err(|e| anyhow::anyhow!("{}: {e}", loaded.model_path.display()))?;
    // The sample first: a refusal (no validation games found) writes nothing.
    let sample = match a.sample {
        Some(rows) => Some(sample_of(&a, &loaded, &export, rows, &device)?),
        None => None,
    };
    let bytes = export.model.encode();
    if let Some(dir) = a.onnx.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    exphil_io::write_atomic(&a.onnx, &bytes)
        .with_context(|| format!("writing {}", a.onnx.display()))?;
    let kind = if export.state.is_empty() {
        "single-frame model"
    } else {
        "step model"
    };
    println!(
        "wrote {} ({} KiB, ONNX opset {}, {kind} of {}){}",
        a.onnx.display(),
        bytes.len().div_ceil(1024),
        exphil_policy::onnx::OPSET,
        loaded.config.backbone.describe(),
        if export.autoregressive {
            "; the autoregressive head is teacher-forced: earlier components' choices are inputs"
        } else {
            ""
        }
    );
    let Some((arrays, source)) = sample else {
        return Ok(ExitCode::SUCCESS);
    };
    let out = sample_path(&a.onnx);
    let entries: Vec<(&str, exphil_dataset::npy::Dtype, &[usize], &[u8])> = arrays
        .iter()
        .map(|x| (x.name.as_str(), x.dtype, &x.shape[..], &x.bytes[..]))
        .collect();
    write_npz(&out, &entries).with_context(|| format!("writing {}", out.display()))?;
    let lead = arrays.first().map(|x| x.shape[0]).unwrap_or(0);
    println!(
        "wrote {} ({} {} from {} {}game{})",
        out.display(),
        lead,
        if export.state.is_empty() {
            "rows"
        } else {
            "steps"
        },
        source.files.len(),
        if source.validation { "validation " } else { "" },
        if source.files.len() == 1 { "" } else { "s" }
    );
    if !source.validation {
        eprintln!(
            "warning: the policy's run records no game lists, so the sample may hold games it \
             trained on"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The sample's arrays for `rows` rows (steps) of the run's validation games, and where they
/// came from.
fn sample_of(
    a: &ExportArgs,
    loaded: &LoadedPolicy,
    export: &OnnxExport,
    rows: usize,
    device: &Device,
) -> Result<(Vec<SampleArray>, SampleSource)> {
    let roots: Vec<PathBuf> = if a.replays.is_empty() {
        let data = loaded.data.clone().unwrap_or_default();
        if data.replays.is_empty() {
            bail!(
                "{} does not record the replays it trained from: give --replays DIR",
                loaded.model_path.display()
            );
        }
        data.replays.iter().map(PathBuf::from).collect()
    } else {
        a.replays.clone()
    };
    let mut files = files_of(&roots)?;
    files.sort();
    let games = if export.state.is_empty() { 64 } else { 2 };
    let (seqs, source) = validation_sequences(loaded, &files, games)?;
    Ok((sample(loaded, export, &seqs, rows, device), source))
}
