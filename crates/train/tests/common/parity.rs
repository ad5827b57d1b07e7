//! What the backend and precision parity tests share: every backbone (tiny), and one
//! forward pass, backward pass and Adam step of a policy on real frames.

use burn::tensor::Device;
use exphil_dataset::{target_row, GameExamples};
use exphil_embed::TARGET_COLUMNS;
use exphil_policy::loss::{bc_loss, LossSpec};
use exphil_policy::precision::Precision;
use exphil_policy::{params, InputSpec, Policy, PolicyInput, TargetBatch};
use exphil_runs::config::{
    AttentionConfig, BackboneConfig, JambaConfig, LossConfig, MambaConfig, MlpConfig, OptimConfig,
    OptimizerKind, RecurrentConfig,
};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;

/// Every backbone, tiny, window 6 for the temporal ones.
pub fn backbones() -> Vec<(&'static str, BackboneConfig)> {
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
/// weights after one Adam step, the step computing in `precision` (the gradients on the f32
/// weights); returns (logits, gradient norm, weights after the step).
pub fn forward_and_step(
    policy: Policy,
    precision: Precision,
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
    let logits = policy.compute_copy(precision).forward(&input, &targets);
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

pub fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// For every backbone, the same weights on `device` computing in `precision` against f32:
/// `(backbone, worst logit difference, relative difference of the gradient norm)` (the
/// gradients of the f32 weights in both).
pub fn precision_gaps(device: &Device, precision: Precision) -> Vec<(&'static str, f32, f64)> {
    let (spec, ex) = crate::frames::real_frames();
    let mut out = Vec::new();
    for (name, mut backbone) in backbones() {
        backbone.set_dropout(0.0);
        let window = backbone.window().unwrap_or(1);
        let cfg = exphil_runs::config::PolicyConfig {
            backbone,
            ..Default::default()
        };
        device.seed(7);
        let policy = Policy::new(&cfg, &spec, device);
        let (l32, n32, _) =
            forward_and_step(policy.clone(), Precision::F32, &spec, &ex, window, device);
        let (lh, nh, _) = forward_and_step(policy, precision, &spec, &ex, window, device);
        assert!(
            n32 > 0.0 && nh.is_finite(),
            "{name}: gradient norms {n32} and {nh}"
        );
        out.push((name, worst(&l32, &lh), (n32 - nh).abs() / n32));
    }
    out
}
