//! Training throughput of the MLP policy against the same model in PyTorch on the CPU,
//! measured in the same run on the same batches of real replays.
//!
//! `cargo bench -p exphil-train --bench mlp_throughput` (set `EXPHIL_PYTHON` to a Python with
//! torch and safetensors; `python3` otherwise). Each configuration runs warm-up steps, then times
//! full optimiser steps (forward, the BC loss, backward, global-norm clipping, Adam) on batches
//! held in memory, so data loading is not measured on either side. Prints examples/s of both and
//! the ratio exphil / PyTorch.

mod common;

use burn::tensor::Device;
use common::{median, run_python};
use exphil_policy::model::id_dim;
use exphil_policy::{bc_loss, LossSpec, Policy, PolicyInput, TargetBatch};
use exphil_runs::config::{Activation, BackboneConfig, MlpConfig, TrainConfig};
use exphil_runs::tensors::{write_tensors, NamedTensor};
use exphil_train::data::{prepare, PreparedData};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Case {
    name: &'static str,
    hidden: Vec<usize>,
    residual: bool,
    layer_norm: bool,
    activation: Activation,
    batch: usize,
    steps: usize,
}

struct HostBatch {
    features: Vec<f32>,
    ids: Vec<u32>,
    targets: Vec<u16>,
    rows: usize,
}

fn config(case: &Case, cache: &Path) -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.data.replays = vec![exphil_testdata::replays_dir()
        .join("games")
        .display()
        .to_string()];
    cfg.data.max_files = Some(3);
    cfg.data.cache_dir = Some(cache.display().to_string());
    cfg.policy.backbone = BackboneConfig::Mlp(MlpConfig {
        hidden: case.hidden.clone(),
        residual: case.residual,
        layer_norm: case.layer_norm,
        dropout: 0.0,
        activation: case.activation,
    });
    cfg.train.batch_size = case.batch;
    cfg.train.seed = Some(1);
    cfg
}

fn batches(data: &PreparedData, cfg: &TrainConfig, n: usize) -> Vec<HostBatch> {
    let loader = data.train_loader(cfg, 1).expect("loader");
    loader
        .epoch(0)
        .take(n)
        .map(|b| {
            let b = b.expect("batch");
            HostBatch {
                rows: b.len * b.window,
                features: b.features,
                ids: b.ids,
                targets: b.targets,
            }
        })
        .collect()
}

/// exphil's examples/s over `case.steps` timed steps.
/// With `report`, prints where the step time went.
fn exphil_rate(
    case: &Case,
    cfg: &TrainConfig,
    data: &PreparedData,
    bs: &[HostBatch],
    report: bool,
) -> f64 {
    let device = Device::flex().autodiff();
    device.seed(1);
    let (pos, rows) = data.button_positives;
    let loss = LossSpec::new(&cfg.loss, &pos, rows);
    let mut policy = Policy::new(&cfg.policy, &data.spec, &device);
    let mut optim = Optimizer::new(&cfg.optim);
    let mut grads = GradStore::new();
    let warmup = 10;
    let mut t0 = Instant::now();
    let mut seen = 0usize;
    let mut phases = [0f64; 5];
    for i in 0..warmup + case.steps {
        if i == warmup {
            t0 = Instant::now();
            seen = 0;
            phases = [0.0; 5];
        }
        let h = &bs[i % bs.len()];
        let mut tp = Instant::now();
        let mut lap = |k: usize| {
            phases[k] += tp.elapsed().as_secs_f64();
            tp = Instant::now();
        };
        let input = PolicyInput::new(&data.spec, &h.features, &h.ids, h.rows, &device);
        let targets = TargetBatch::new(h.rows, &h.targets, &device);
        lap(0);
        let out = bc_loss(&policy.forward(&input, &targets), &targets, &loss);
        lap(1);
        let g = out.total.backward();
        lap(2);
        grads.accumulate(&policy, &g, 1.0);
        grads.clip_global_norm(cfg.train.max_grad_norm);
        lap(3);
        policy = optim.step(policy, &grads, cfg.optim.lr);
        grads.clear();
        lap(4);
        seen += h.rows;
    }
    let total = t0.elapsed().as_secs_f64();
    let names = [
        "input",
        "forward+loss",
        "backward",
        "grad norm+clip",
        "optimiser",
    ];
    let parts: Vec<String> = names
        .iter()
        .zip(phases)
        .map(|(n, t)| format!("{n} {:.0}%", 100.0 * t / total))
        .collect();
    if report {
        println!("  exphil step time: {}", parts.join(", "));
    }
    seen as f64 / total
}

/// Writes the batches and the model's shape for the PyTorch script.
fn export(case: &Case, cfg: &TrainConfig, data: &PreparedData, bs: &[HostBatch], dir: &Path) {
    let mut tensors = Vec::new();
    for (i, b) in bs.iter().enumerate() {
        tensors.push(NamedTensor::new(
            format!("b{i}.features"),
            vec![b.rows, data.spec.features],
            b.features.clone(),
        ));
        tensors.push(NamedTensor::new(
            format!("b{i}.ids"),
            vec![b.rows, data.spec.ids],
            b.ids.iter().map(|&x| x as f32).collect(),
        ));
        tensors.push(NamedTensor::new(
            format!("b{i}.targets"),
            vec![b.rows, exphil_embed::TARGET_COLUMNS],
            b.targets.iter().map(|&x| f32::from(x)).collect(),
        ));
    }
    write_tensors(&dir.join("batches.safetensors"), &tensors, &BTreeMap::new()).expect("write");
    let (pos, rows) = data.button_positives;
    let loss = LossSpec::new(&cfg.loss, &pos, rows);
    let groups: Vec<serde_json::Value> = data
        .spec
        .id_groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "vocab": g.vocab,
                "dim": id_dim(&cfg.policy, &g.kind),
                "columns": g.columns,
            })
        })
        .collect();
    let spec = serde_json::json!({
        "features": data.spec.features,
        "groups": groups,
        "classes": data.spec.classes,
        "hidden": case.hidden,
        "residual": case.residual,
        "layer_norm": case.layer_norm,
        "activation": case.activation,
        "batches": bs.len(),
        "steps": case.steps,
        "warmup": 10,
        "lr": cfg.optim.lr,
        "betas": [cfg.optim.beta1, cfg.optim.beta2],
        "eps": cfg.optim.eps,
        "max_grad_norm": cfg.train.max_grad_norm,
        "pos_weight": loss.pos_weight,
    });
    std::fs::write(dir.join("spec.json"), spec.to_string()).expect("write spec");
}

fn torch_rate(dir: &Path) -> Result<f64, String> {
    let v = run_python("torch_mlp.py", &[dir.display().to_string()])?;
    v["examples_per_sec"]
        .as_f64()
        .ok_or_else(|| format!("no examples_per_sec in {v}"))
}

/// Timed rounds per side and configuration (medians are compared).
const ROUNDS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let work: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mlp-throughput");
    std::fs::create_dir_all(&work).expect("work dir");
    let case = |name, hidden: &[usize], norm: bool, activation, batch, steps| Case {
        name,
        hidden: hidden.to_vec(),
        residual: norm,
        layer_norm: norm,
        activation,
        batch,
        steps,
    };
    let cases = [
        case(
            "quick: MLP [32, 32], relu, batch 64",
            &[32, 32],
            false,
            Activation::Relu,
            64,
            400,
        ),
        case(
            "MLP [512, 512], relu, batch 256",
            &[512, 512],
            false,
            Activation::Relu,
            256,
            60,
        ),
        case(
            "MLP [512, 512], gelu, batch 256",
            &[512, 512],
            false,
            Activation::Gelu,
            256,
            60,
        ),
        case(
            "full: MLP [256, 256], residual + layer norm, relu, batch 256",
            &[256, 256],
            true,
            Activation::Relu,
            256,
            80,
        ),
    ];
    println!(
        "MLP policy training throughput, CPU ({} threads available)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut failed = false;
    for case in &cases {
        let cfg = config(case, &work.join("datasets"));
        let data = prepare(&cfg, 1, &|_| {}).expect("dataset of the shared games");
        let bs = batches(&data, &cfg, 16);
        export(case, &cfg, &data, &bs, &work);
        // Alternate the two sides for ROUNDS rounds and compare medians, so that a slow
        // moment of the machine does not decide the ratio.
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut error = None;
        for round in 0..ROUNDS {
            ours.push(exphil_rate(case, &cfg, &data, &bs, round == 0));
            match torch_rate(&work) {
                Ok(r) => theirs.push(r),
                Err(e) => error = Some(e),
            }
        }
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        match error {
            None => println!(
                "{:<60} exphil {:>9.0} ex/s   PyTorch {:>9.0} ex/s   ratio {:.2}x",
                case.name,
                ours,
                theirs,
                ours / theirs
            ),
            Some(e) => {
                failed = true;
                println!("{:<60} exphil {:>9.0} ex/s   PyTorch: {e}", case.name, ours);
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
