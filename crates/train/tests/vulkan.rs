//! Backend parity on Vulkan, built with `--features vulkan` (CI runs it on Mesa's software
//! Vulkan driver, lavapipe): for every backbone, the same weights give the same logits on the
//! Vulkan device as on the CPU backend, and one Adam step from the same gradients leaves the
//! same weights. Tolerances: logits within 1e-4 (absolute, or relative above 1); the global
//! gradient norm within 1e-4 relative; weights after the step within 5e-5, 5% of the learning
//! rate (1e-3): Adam divides each gradient by its own magnitude, so for a parameter whose
//! gradient is near Adam's epsilon the last bits of the gradient move its step by a fraction of
//! the learning rate (measured: 3e-5 on Jamba, under 1e-6 on the others).
#![cfg(feature = "vulkan")]

#[path = "../../policy/tests/common/frames.rs"]
mod frames;
use burn::tensor::Device;
use exphil_dataset::{target_row, GameExamples};
use exphil_embed::TARGET_COLUMNS;
use exphil_policy::loss::{bc_loss, LossSpec};
use exphil_policy::{params, InputSpec, Policy, PolicyInput, TargetBatch};
use exphil_runs::config::{
    AttentionConfig, BackboneConfig, JambaConfig, LossConfig, MambaConfig, MlpConfig, OptimConfig,
    OptimizerKind, PolicyConfig, RecurrentConfig,
};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;
use frames::real_frames;

const LOGIT_TOL: f32 = 1e-4;
const GRAD_TOL: f64 = 1e-4;
const STEP_TOL: f32 = 5e-5;

/// The Vulkan device under test (`$EXPHIL_TEST_VULKAN`, else `vulkan`: the first adapter).
fn vulkan() -> Device {
    let name = std::env::var("EXPHIL_TEST_VULKAN").unwrap_or_else(|_| "vulkan".into());
    exphil_policy::device::device_of(&name).unwrap_or_else(|e| {
        panic!("a --features vulkan build tests on Vulkan, and there is none here: {e}")
    })
}

/// Every backbone, tiny, window 6 for the temporal ones.
fn backbones() -> Vec<(&'static str, BackboneConfig)> {
    let w = 6;
    let rec = RecurrentConfig {
        window_size: w,
        num_layers: 2,
        hidden_size: 16,
        ..RecurrentConfig::default()
    };
    vec![
        (
            "mlp",
            BackboneConfig::Mlp(MlpConfig {
                hidden: vec![32, 32],
                ..MlpConfig::default()
            }),
        ),
        ("lstm", BackboneConfig::Lstm(rec.clone())),
        ("gru", BackboneConfig::Gru(rec)),
        (
            "attention",
            BackboneConfig::Attention(AttentionConfig {
                window_size: w,
                num_layers: 2,
                hidden_size: 16,
                num_heads: 2,
                ..AttentionConfig::default()
            }),
        ),
        (
            "mamba",
            BackboneConfig::Mamba(MambaConfig {
                window_size: w,
                num_layers: 2,
                hidden_size: 16,
                state_size: 4,
                conv_size: 3,
                ..MambaConfig::default()
            }),
        ),
        (
            "jamba",
            BackboneConfig::Jamba(JambaConfig {
                window_size: w,
                num_layers: 3,
                hidden_size: 16,
                state_size: 4,
                num_heads: 2,
                attention_every: 2,
                ..JambaConfig::default()
            }),
        ),
    ]
}

/// The logits of `batch` windows of `window` consecutive frames (one frame each for the MLP)
/// from frame 900 on, the loss against each window's last target, its gradients, and the
/// weights after one Adam step; returns (logits, gradient norm, weights after the step).
fn forward_and_step(
    policy: Policy,
    spec: &InputSpec,
    ex: &GameExamples,
    window: usize,
    device: &Device,
) -> (Vec<f32>, f64, Vec<f32>) {
    let (start, batch) = (900, 4);
    let rows = batch * window;
    let f = &ex.features[start * spec.features..(start + rows) * spec.features];
    let i = &ex.ids[start * spec.ids..(start + rows) * spec.ids];
    let input = PolicyInput::new(spec, f, i, rows, device).windows(window);
    let targets: Vec<u16> = (0..batch)
        .flat_map(|b| target_row(&ex.targets[start + (b + 1) * window - 1]))
        .collect();
    assert_eq!(targets.len(), batch * TARGET_COLUMNS);
    let targets = TargetBatch::new(batch, &targets, device);
    let logits = policy.forward(&input, &targets);
    let mut flat: Vec<f32> = Vec::new();
    for t in std::iter::once(&logits.buttons).chain(logits.classes.iter()) {
        flat.extend(
            t.clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap(),
        );
    }
    let spec_loss = LossSpec::new(&LossConfig::default(), &[1; 8], 2);
    let loss = bc_loss(&logits, &targets, &spec_loss);
    let g = loss.total.backward();
    let mut grads = GradStore::new();
    grads.accumulate(&policy, &g, 1.0);
    let norm = grads.clip_global_norm(0.0);
    let mut optim = Optimizer::new(&OptimConfig {
        optimizer: OptimizerKind::Adam,
        ..OptimConfig::default()
    });
    let stepped = optim.step(policy, &grads, 1e-3);
    let weights = params::export(&stepped)
        .into_iter()
        .flat_map(|t| t.data)
        .collect();
    (flat, norm, weights)
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn every_backbone_agrees_with_the_cpu_forward_and_after_one_adam_step() {
    let (spec, ex) = real_frames();
    let cpu = Device::flex().autodiff();
    let vk = vulkan().autodiff();
    for (name, mut backbone) in backbones() {
        // Dropout draws from each device's own generator: off, so both see the same network.
        backbone.set_dropout(0.0);
        let window = backbone.window().unwrap_or(1);
        let cfg = PolicyConfig {
            backbone,
            ..PolicyConfig::default()
        };
        cpu.seed(7);
        let on_cpu = Policy::new(&cfg, &spec, &cpu);
        let on_vk = params::import(Policy::new(&cfg, &spec, &vk), &params::export(&on_cpu))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (logits_cpu, norm_cpu, weights_cpu) =
            forward_and_step(on_cpu, &spec, &ex, window, &cpu);
        let (logits_vk, norm_vk, weights_vk) = forward_and_step(on_vk, &spec, &ex, window, &vk);
        let (dl, dw) = (
            worst(&logits_cpu, &logits_vk),
            worst(&weights_cpu, &weights_vk),
        );
        let dg = (norm_cpu - norm_vk).abs() / norm_cpu.max(1e-12);
        eprintln!(
            "{name}: logits differ by {dl:.2e}, gradient norm by {dg:.2e}, weights after a step \
             by {dw:.2e}"
        );
        assert!(dl <= LOGIT_TOL, "{name}: logits differ by {dl}");
        assert!(
            norm_cpu > 0.0 && dg <= GRAD_TOL,
            "{name}: gradient norms {norm_cpu} vs {norm_vk}"
        );
        assert!(
            dw <= STEP_TOL,
            "{name}: weights after one Adam step differ by {dw}"
        );
    }
}
