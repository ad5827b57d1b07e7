//! The policy network on real layouts: shapes, learning, the autoregressive head's
//! conditioning, sampling, and weights round-tripping through named tensors.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_policy::{
    bc_loss, params, InputSpec, LossSpec, Policy, PolicyInput, Sampling, TargetBatch,
};
use exphil_runs::config::{
    Activation, BackboneConfig, HeadKind, LossConfig, MlpConfig, PolicyConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn spec() -> InputSpec {
    let layout = Embedder::new(EmbedConfig::default())
        .unwrap()
        .layout()
        .clone();
    let classes = TargetCoder::new(TargetConfig::default())
        .unwrap()
        .num_classes();
    InputSpec::new(&layout, classes)
}

fn tiny(head: HeadKind) -> PolicyConfig {
    PolicyConfig {
        backbone: BackboneConfig::Mlp(MlpConfig {
            hidden: vec![32, 24],
            residual: true,
            layer_norm: true,
            dropout: 0.0,
            activation: Activation::Silu,
        }),
        head,
        ..PolicyConfig::default()
    }
}

/// Random rows: features, ids within each group's vocabulary, and targets.
fn batch(spec: &InputSpec, rows: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<u16>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let features = (0..rows * spec.features)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let mut ids = vec![0u32; rows * spec.ids];
    for r in 0..rows {
        for g in &spec.id_groups {
            for &c in &g.columns {
                ids[r * spec.ids + c] = rng.gen_range(0..g.vocab as u32);
            }
        }
    }
    let mut targets = Vec::with_capacity(rows * 6);
    for _ in 0..rows {
        targets.push(rng.gen_range(0..256u16));
        for k in 0..5 {
            targets.push(rng.gen_range(0..spec.classes[k] as u16));
        }
    }
    (features, ids, targets)
}

#[test]
fn spec_groups_ids_by_kind() {
    let s = spec();
    let kinds: Vec<&str> = s.id_groups.iter().map(|g| g.kind.as_str()).collect();
    assert!(kinds.contains(&"action"), "{kinds:?}");
    let action = s.id_groups.iter().find(|g| g.kind == "action").unwrap();
    // Both players' action states share one table.
    assert!(action.columns.len() >= 2, "{action:?}");
    assert_eq!(s.classes, [17, 17, 17, 17, s.classes[4]]);
}

#[test]
fn learns_a_fixed_batch_and_exports_round_trip() {
    let s = spec();
    let device = Device::flex().autodiff();
    device.seed(3);
    let mut policy = Policy::new(&tiny(HeadKind::Autoregressive), &s, &device);
    let (f, i, t) = batch(&s, 32, 1);
    let input = PolicyInput::new(&s, &f, &i, 32, &device);
    let targets = TargetBatch::new(32, &t, &device);
    let loss_spec = LossSpec::new(&LossConfig::default(), &[4; 8], 32);
    let first = bc_loss(&policy.forward(&input, &targets), &targets, &loss_spec);
    let first = params::tensor_values(&first.total)[0];
    assert!(first.is_finite());
    // Plain gradient descent through the module: the loss must fall.
    for _ in 0..60 {
        let out = bc_loss(&policy.forward(&input, &targets), &targets, &loss_spec);
        let grads = out.total.backward();
        let mut exported = params::export(&policy);
        let names: Vec<(String, Vec<usize>)> = params::shapes(&policy);
        let mut grad_values = Vec::new();
        struct G<'a> {
            g: &'a burn::tensor::Gradients,
            out: &'a mut Vec<Vec<f32>>,
        }
        impl burn::module::ModuleVisitor for G<'_> {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                let g = p.val().grad(self.g);
                self.out
                    .push(g.map(|g| params::tensor_values(&g)).unwrap_or_default());
            }
        }
        policy.visit(&mut G {
            g: &grads,
            out: &mut grad_values,
        });
        assert_eq!(grad_values.len(), names.len());
        for (t, g) in exported.iter_mut().zip(&grad_values) {
            for (w, d) in t.data.iter_mut().zip(g) {
                *w -= 0.05 * d;
            }
        }
        policy = params::import(policy, &exported).unwrap();
    }
    let last = bc_loss(&policy.forward(&input, &targets), &targets, &loss_spec);
    let last = params::tensor_values(&last.total)[0];
    assert!(last < first * 0.8, "loss {first} -> {last}");
    // Export and import into a fresh model gives the same outputs.
    let exported = params::export(&policy);
    let fresh = params::import(
        Policy::new(&tiny(HeadKind::Autoregressive), &s, &device),
        &exported,
    )
    .unwrap();
    let a = params::tensor_values(&policy.forward(&input, &targets).buttons);
    let b = params::tensor_values(&fresh.forward(&input, &targets).buttons);
    assert_eq!(a, b);
    // Wrong shapes, missing and non-finite tensors are refused, naming the tensor.
    let mut bad = exported.clone();
    bad[0].data[0] = f32::NAN;
    let e = params::import(fresh.clone(), &bad).unwrap_err().to_string();
    assert!(e.contains(&bad[0].name), "{e}");
    let e = params::import(fresh.clone(), &exported[1..])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn autoregressive_head_conditions_on_earlier_components() {
    let s = spec();
    let device = Device::flex().autodiff();
    device.seed(5);
    for (head, conditioned) in [
        (HeadKind::Autoregressive, true),
        (HeadKind::Independent, false),
    ] {
        let policy = Policy::new(&tiny(head), &s, &device);
        let (f, i, mut t) = batch(&s, 4, 2);
        let input = PolicyInput::new(&s, &f, &i, 4, &device);
        let a = policy.forward(&input, &TargetBatch::new(4, &t, &device));
        // Change only the button targets: main-x logits move iff the head is autoregressive.
        for r in 0..4 {
            t[r * 6] ^= 0x0f;
        }
        let b = policy.forward(&input, &TargetBatch::new(4, &t, &device));
        let da = params::tensor_values(&a.classes[0]);
        let db = params::tensor_values(&b.classes[0]);
        assert_eq!(da != db, conditioned, "{head:?}");
        // The buttons' own logits never depend on the targets.
        assert_eq!(
            params::tensor_values(&a.buttons),
            params::tensor_values(&b.buttons)
        );
    }
}

#[test]
fn sampling_argmax_is_consistent_and_temperature_varies() {
    let s = spec();
    let device = Device::flex();
    device.seed(9);
    let policy = Policy::new(
        &tiny(HeadKind::Autoregressive),
        &s,
        &device.clone().autodiff(),
    )
    .valid();
    let (f, i, _) = batch(&s, 8, 4);
    let input = PolicyInput::new(&s, &f, &i, 8, &device);
    let mut rng = StdRng::seed_from_u64(0);
    let a = policy.act(&input, Sampling::Argmax, &mut rng);
    let b = policy.act(&input, Sampling::Argmax, &mut rng);
    assert_eq!(a, b);
    for t in &a {
        assert!((t.main_x as usize) < s.classes[0]);
        assert!((t.shoulder as usize) < s.classes[4]);
    }
    // High temperature: different draws differ somewhere.
    let draws: Vec<_> = (0..5)
        .map(|_| policy.act(&input, Sampling::Temperature(5.0), &mut rng))
        .collect();
    assert!(draws.windows(2).any(|w| w[0] != w[1]));
}
