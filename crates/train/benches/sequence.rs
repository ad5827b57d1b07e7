//! Sequence training throughput against PyTorch, the same model on both sides: the baseline's
//! `LSTMNet` (`../shared/bench/bc-baseline/bc.py`) — a linear layer over 27 continuous inputs
//! plus summed embeddings of 12 categorical inputs, ReLU, one LSTM layer of 256, a linear head
//! to 81 logits — trained on unrolls of 32 frames of 64 streams with the loss (the 13-component
//! negative log-likelihood) on every frame and the state carried across unrolls, Adam, gradients
//! clipped to norm 10; and the same with a GRU. exphil's side is built from exphil's own
//! recurrent trunk ([`Temporal::unroll`], the sequence-training path), loss, optimiser and
//! gradient clipping.
//!
//! `cargo bench -p exphil-train --bench sequence` (set `EXPHIL_PYTHON` to a Python with torch;
//! `python3` otherwise). Both sides use 2 threads and alternate for 3 rounds; medians of scored
//! frames per second are compared.

mod common;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use common::{median, run_python};
use exphil_policy::temporal::{Temporal, TemporalState};
use exphil_policy::{bc_loss, HeadLogits, LossSpec, TargetBatch};
use exphil_runs::config::{BackboneConfig, LossConfig, OptimConfig, RecurrentConfig};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;
use std::time::Instant;

const HIDDEN: usize = 256;
const STREAMS: usize = 64;
const UNROLL: usize = 32;
const ROUNDS: usize = 3;
const THREADS: usize = 2;
const N_CONT: usize = 27;
const CATS: [usize; 12] = [399, 399, 7, 7, 33, 33, 64, 17, 17, 17, 17, 5];

/// The baseline's model on exphil's blocks.
#[derive(Module, Debug)]
struct Net {
    lin: Linear,
    embs: Vec<Embedding>,
    trunk: Temporal,
    head: Linear,
}

fn backbone(lstm: bool) -> BackboneConfig {
    let r = RecurrentConfig {
        window_size: UNROLL,
        num_layers: 1,
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

/// One batch, frame-major (row `t * S + s`): the continuous inputs `[T * S, 27]`, the
/// categorical ids `[T * S, 12]` and the targets.
struct Batch {
    cont: Tensor<2>,
    cats: Tensor<2, Int>,
    targets: Vec<u16>,
}

fn batches(device: &Device) -> Vec<Batch> {
    let mut rng = 12345u64;
    let mut next = move |n: usize| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) as usize) % n
    };
    (0..4)
        .map(|_| Batch {
            cont: Tensor::random(
                [UNROLL * STREAMS, N_CONT],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
            cats: {
                let v: Vec<i64> = (0..UNROLL * STREAMS)
                    .flat_map(|_| CATS.iter().map(|&n| next(n) as i64).collect::<Vec<_>>())
                    .collect();
                Tensor::from_data(TensorData::new(v, [UNROLL * STREAMS, CATS.len()]), device)
            },
            targets: (0..UNROLL * STREAMS)
                .flat_map(|_| {
                    let buttons = (0..8).fold(0u16, |b, k| b | (u16::from(next(10) == 0) << k));
                    [
                        buttons,
                        next(17) as u16,
                        next(17) as u16,
                        next(17) as u16,
                        next(17) as u16,
                        next(5) as u16,
                    ]
                })
                .collect(),
        })
        .collect()
}

/// exphil's scored frames per second.
fn exphil_train(lstm: bool, steps: usize) -> f64 {
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut net = Net {
        lin: LinearConfig::new(N_CONT, HIDDEN).init(&device),
        embs: CATS
            .iter()
            .map(|&n| EmbeddingConfig::new(n + 1, HIDDEN).init(&device))
            .collect(),
        trunk: Temporal::new(&backbone(lstm), HIDDEN, &device),
        head: LinearConfig::new(HIDDEN, 81).init(&device),
    };
    let mut optim = Optimizer::new(&OptimConfig {
        lr: 1e-3,
        weight_decay: 0.0,
        ..OptimConfig::default()
    });
    let loss_spec = LossSpec::new(
        &LossConfig {
            label_smoothing: 0.0,
            auto_pos_weight: false,
            ..LossConfig::default()
        },
        &[1; 8],
        10,
    );
    let mut grads = GradStore::new();
    let data = batches(&device);
    let mut state: Option<TemporalState> = None;
    let mut t0 = Instant::now();
    for i in 0..5 + steps {
        if i == 5 {
            t0 = Instant::now();
        }
        let b = &data[i % 4];
        // The whole unroll's inputs at once (frame-major rows), as the trainer feeds them.
        let mut x = net.lin.forward(b.cont.clone());
        for (k, e) in net.embs.iter().enumerate() {
            let col = b.cats.clone().narrow(1, k, 1);
            x = x + e.forward(col).reshape([UNROLL * STREAMS, HIDDEN]);
        }
        let x = relu(x);
        let s = state
            .take()
            .unwrap_or_else(|| net.trunk.initial_state(STREAMS, &device));
        let (h, next) =
            if net
                .trunk
                .fused_applies(&device, burn::tensor::DType::F32, UNROLL, &[], None)
            {
                net.trunk.unroll_fused(x, UNROLL, s, &[])
            } else {
                let xs = (0..UNROLL)
                    .map(|t| x.clone().narrow(0, t * STREAMS, STREAMS))
                    .collect();
                net.trunk.unroll(xs, s, &[], None)
            };
        state = Some(next.detach());
        let out = net.head.forward(h);
        let n = UNROLL * STREAMS;
        let logits = HeadLogits {
            buttons: out.clone().narrow(1, 0, 8),
            classes: [
                out.clone().narrow(1, 8, 17),
                out.clone().narrow(1, 25, 17),
                out.clone().narrow(1, 42, 17),
                out.clone().narrow(1, 59, 17),
                out.narrow(1, 76, 5),
            ],
        };
        let targets = TargetBatch::new(n, &b.targets, &device);
        let loss = bc_loss(&logits, &targets, &loss_spec);
        let g = loss.total.backward();
        grads.accumulate(&net, &g, 1.0);
        grads.clip_global_norm(10.0);
        net = optim.step(net, &grads, 1e-3);
        grads.clear();
    }
    (steps * STREAMS * UNROLL) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    // As the exphil binary does at start-up.
    exphil_train::allocator::keep_large_blocks();
    println!(
        "Sequence training, the baseline's model (width {HIDDEN}, {STREAMS} streams x {UNROLL}-frame \
         unrolls, loss on every frame, state carried), {THREADS} threads"
    );
    if let Ok(kind) = std::env::var("EXPHIL_PROFILE") {
        let rate = exphil_train(kind == "lstm", 20);
        println!("  {kind}: {rate:.0} scored frames/s");
        return;
    }
    let mut failed = false;
    for (kind, lstm) in [("lstm", true), ("gru", false)] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut error = None;
        for _ in 0..ROUNDS {
            ours.push(exphil_train(lstm, 12));
            let args: Vec<String> = [
                kind.to_string(),
                HIDDEN.to_string(),
                STREAMS.to_string(),
                UNROLL.to_string(),
                "12".into(),
                THREADS.to_string(),
            ]
            .to_vec();
            match run_python("torch_sequence.py", &args) {
                Ok(v) => theirs.push(v["frames_per_sec"].as_f64().unwrap_or(f64::NAN)),
                Err(e) => error = Some(e),
            }
        }
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        match error {
            None => println!(
                "  {kind:<5} exphil {ours:>8.0} frames/s   PyTorch {theirs:>8.0} frames/s   ratio {:.2}x",
                ours / theirs
            ),
            Some(e) => {
                failed = true;
                println!("  {kind:<5} exphil {ours:>8.0} frames/s   PyTorch: {e}");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
