//! Temporal backbones: training throughput of LSTM and GRU against PyTorch's `nn.LSTM` /
//! `nn.GRU` on the CPU (window 30, width 256, batch 64, 2 layers, measured in the same run), and
//! the batch-1 step latency of every backbone at width 256 (the O(1) frame-by-frame path play
//! uses), with PyTorch's recurrent step for reference.
//!
//! `cargo bench -p exphil-train --bench temporal` (set `EXPHIL_PYTHON` to a Python with torch;
//! `python3` otherwise). Training steps are full optimiser steps (forward over the window, a
//! linear head on the last step, cross-entropy, backward, Adam) on random windows held in
//! memory; both sides alternate for 3 rounds and medians are compared.

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use common::{median, run_python};
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_policy::model::trunk_input;
use exphil_policy::sample::{quantile, step_timings, Timed};
use exphil_policy::temporal::Temporal;
use exphil_policy::{InputSpec, Policy};
use exphil_runs::config::{
    AttentionConfig, BackboneConfig, JambaConfig, MambaConfig, MlpConfig, OptimConfig,
    PolicyConfig, RecurrentConfig,
};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;
use std::time::Instant;

const WINDOW: usize = 30;
const HIDDEN: usize = 256;
const BATCH: usize = 64;
const LAYERS: usize = 2;
const CLASSES: usize = 32;
const ROUNDS: usize = 3;

#[derive(Module, Debug)]
struct Net {
    trunk: Temporal,
    head: Linear,
}

fn recurrent(lstm: bool) -> BackboneConfig {
    let r = RecurrentConfig {
        window_size: WINDOW,
        num_layers: LAYERS,
        hidden_size: HIDDEN,
        dropout: 0.0,
        ..RecurrentConfig::default()
    };
    if lstm {
        BackboneConfig::Lstm(r)
    } else {
        BackboneConfig::Gru(r)
    }
}

/// exphil's training windows per second.
fn exphil_train(cfg: &BackboneConfig, input: usize, steps: usize) -> f64 {
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut net = Net {
        trunk: Temporal::new(cfg, input, &device),
        head: LinearConfig::new(HIDDEN, CLASSES).init(&device),
    };
    let mut optim = Optimizer::new(&OptimConfig {
        lr: 1e-4,
        ..OptimConfig::default()
    });
    let mut grads = GradStore::new();
    let xs: Vec<Tensor<3>> = (0..4)
        .map(|_| {
            Tensor::random(
                [BATCH, WINDOW, input],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
        })
        .collect();
    let ys: Vec<Tensor<2, Int>> = (0..4)
        .map(|i| {
            let v: Vec<i64> = (0..BATCH).map(|r| ((r * 7 + i) % CLASSES) as i64).collect();
            Tensor::from_data(TensorData::new(v, [BATCH, 1]), &device)
        })
        .collect();
    let mut t0 = Instant::now();
    for i in 0..5 + steps {
        if i == 5 {
            t0 = Instant::now();
        }
        let logits = net.head.forward(net.trunk.forward(xs[i % 4].clone()));
        let loss = log_softmax(logits, 1)
            .gather(1, ys[i % 4].clone())
            .mean()
            .neg();
        let g = loss.backward();
        grads.accumulate(&net, &g, 1.0);
        net = optim.step(net, &grads, 1e-4);
        grads.clear();
    }
    (steps * BATCH) as f64 / t0.elapsed().as_secs_f64()
}

fn python(args: &[String]) -> Result<serde_json::Value, String> {
    run_python("torch_temporal.py", args)
}

fn torch_args(mode: &str, kind: &str, input: usize, steps: usize) -> Vec<String> {
    [
        mode.to_string(),
        kind.to_string(),
        input.to_string(),
        HIDDEN.to_string(),
        LAYERS.to_string(),
        WINDOW.to_string(),
        BATCH.to_string(),
        CLASSES.to_string(),
        steps.to_string(),
    ]
    .to_vec()
}

/// Median and 99th percentile microseconds of one policy step for one game (trunk only), and
/// the median of the whole step (trunk + head argmax).
fn exphil_step(policy: &Policy, spec: &InputSpec, device: &Device, steps: usize) -> [f64; 3] {
    let trunk = step_timings(policy, spec, 1, 50, steps, Timed::Trunk, device);
    let full = step_timings(policy, spec, 1, 20, steps / 4, Timed::Step, device);
    [
        quantile(&trunk, 0.5) * 1e6,
        quantile(&trunk, 0.99) * 1e6,
        quantile(&full, 0.5) * 1e6,
    ]
}

fn main() {
    let embedder = Embedder::new(EmbedConfig::default()).expect("default embedding");
    let coder = TargetCoder::new(TargetConfig::default()).expect("default targets");
    let spec = InputSpec::new(embedder.layout(), coder.num_classes());
    let input = trunk_input(&PolicyConfig::default(), &spec);
    println!(
        "Temporal backbones, CPU ({} threads available); frame input width {input}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "Training throughput: window {WINDOW}, width {HIDDEN}, batch {BATCH}, {LAYERS} layers"
    );
    // `EXPHIL_PROFILE=lstm|gru`: only exphil's training steps of that cell, for a profiler.
    if let Ok(kind) = std::env::var("EXPHIL_PROFILE") {
        let rate = exphil_train(&recurrent(kind == "lstm"), input, 40);
        println!("  {kind}: {rate:.0} windows/s");
        return;
    }
    let mut failed = false;
    for (kind, lstm) in [("lstm", true), ("gru", false)] {
        let cfg = recurrent(lstm);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut error = None;
        for _ in 0..ROUNDS {
            ours.push(exphil_train(&cfg, input, 20));
            match python(&torch_args("train", kind, input, 20)) {
                Ok(v) => theirs.push(v["samples_per_sec"].as_f64().unwrap_or(f64::NAN)),
                Err(e) => error = Some(e),
            }
        }
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        match error {
            None => println!(
                "  {kind:<5} exphil {ours:>8.0} windows/s   PyTorch {theirs:>8.0} windows/s   ratio {:.2}x",
                ours / theirs
            ),
            Some(e) => {
                failed = true;
                println!("  {kind:<5} exphil {ours:>8.0} windows/s   PyTorch: {e}");
            }
        }
    }

    println!("Batch-1 step latency at width {HIDDEN} (the whole policy's trunk; microseconds)");
    let device = Device::flex();
    let backbones = [
        (
            "mlp [256, 256]",
            BackboneConfig::Mlp(MlpConfig {
                hidden: vec![HIDDEN, HIDDEN],
                ..MlpConfig::default()
            }),
        ),
        ("lstm", recurrent(true)),
        ("gru", recurrent(false)),
        (
            "attention",
            BackboneConfig::Attention(AttentionConfig {
                window_size: 60,
                hidden_size: HIDDEN,
                ..AttentionConfig::default()
            }),
        ),
        (
            "mamba",
            BackboneConfig::Mamba(MambaConfig {
                window_size: 60,
                hidden_size: HIDDEN,
                ..MambaConfig::default()
            }),
        ),
        (
            "jamba",
            BackboneConfig::Jamba(JambaConfig {
                window_size: 60,
                hidden_size: HIDDEN,
                ..JambaConfig::default()
            }),
        ),
    ];
    for (name, b) in backbones {
        device.seed(1);
        let policy = Policy::new(
            &PolicyConfig {
                backbone: b,
                ..PolicyConfig::default()
            },
            &spec,
            &device,
        );
        let [med, p99, full] = exphil_step(&policy, &spec, &device, 2000);
        let reference = match name {
            "lstm" | "gru" => match python(&torch_args("step", name, input, 2000)) {
                Ok(v) => format!(
                    "   PyTorch {:>6.0} us",
                    v["median_us"].as_f64().unwrap_or(f64::NAN)
                ),
                Err(e) => {
                    failed = true;
                    format!("   PyTorch: {e}")
                }
            },
            _ => String::new(),
        };
        let verdict = if med <= 150.0 { "ok" } else { "OVER 150" };
        println!(
            "  {name:<15} trunk median {med:>6.0} us (p99 {p99:>6.0})   with head {full:>6.0} us   [{verdict}]{reference}"
        );
    }
    if failed {
        std::process::exit(1);
    }
}
