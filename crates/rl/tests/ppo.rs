//! PPO's pieces: GAE against a direct computation, action log-probabilities against the
//! behavioural-cloning loss, KL divergence, and an update that learns a toy bandit.

use burn::module::Module;
use burn::tensor::Device;
use exphil_dataset::target_row;
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_policy::{
    bc_loss, kl_divergence, params, InputSpec, LossSpec, Policy, PolicyInput, TargetBatch,
};
use exphil_rl::ppo::{gae, update, PpoConfig, Rollout};
use exphil_runs::config::{
    Activation, BackboneConfig, MlpConfig, OptimConfig, PolicyConfig, RecurrentConfig,
};
use exphil_train::optim::Optimizer;
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

fn tiny() -> PolicyConfig {
    PolicyConfig {
        backbone: BackboneConfig::Mlp(MlpConfig {
            hidden: vec![32, 24],
            residual: true,
            layer_norm: true,
            dropout: 0.0,
            activation: Activation::Silu,
        }),
        ..PolicyConfig::default()
    }
}

fn rows(spec: &InputSpec, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<u16>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let f = (0..n * spec.features)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let mut ids = vec![0u32; n * spec.ids];
    for r in 0..n {
        for g in &spec.id_groups {
            for &c in &g.columns {
                ids[r * spec.ids + c] = rng.gen_range(0..g.vocab as u32);
            }
        }
    }
    let mut t = Vec::new();
    for _ in 0..n {
        t.push(rng.gen_range(0..256u16));
        for k in 0..5 {
            t.push(rng.gen_range(0..spec.classes[k] as u16));
        }
    }
    (f, ids, t)
}

#[test]
fn gae_matches_a_direct_computation() {
    // 2 envs × 4 steps; env 1 ends an episode at step 1.
    let envs = 2;
    let rewards = [1.0, 0.0, 0.5, 2.0, -1.0, 0.0, 0.0, 1.0];
    let values = [0.2, 0.1, 0.3, 0.4, 0.0, -0.2, 0.5, 0.6];
    let done = [false, false, false, true, false, false, false, false];
    let last = [0.7, -0.3];
    let (g, l) = (0.9, 0.8);
    let (adv, ret) = gae(&rewards, &values, &done, &last, envs, g, l);
    for (e, &last_e) in last.iter().enumerate() {
        // Direct: A_t = sum_k (g l)^k delta_{t+k}, stopping at an episode end.
        for t in 0..4 {
            let mut a = 0.0f64;
            let mut w = 1.0f64;
            for k in t..4 {
                let i = k * envs + e;
                let next_v = if k + 1 < 4 { values[i + envs] } else { last_e } as f64;
                let live = if done[i] { 0.0 } else { 1.0 };
                a += w * (rewards[i] as f64 + g * next_v * live - values[i] as f64);
                if done[i] {
                    break;
                }
                w *= g * l;
            }
            let i = t * envs + e;
            assert!(
                (adv[i] as f64 - a).abs() < 1e-5,
                "env {e} t {t}: {} vs {a}",
                adv[i]
            );
            assert!((ret[i] - adv[i] - values[i]).abs() < 1e-6);
        }
    }
}

#[test]
fn log_probs_are_the_negative_bc_loss_and_kl_is_zero_to_itself() {
    let s = spec();
    let device = Device::flex();
    device.seed(1);
    let policy = Policy::new(&tiny(), &s, &device);
    let other = Policy::new(&tiny(), &s, &device);
    let (f, ids, t) = rows(&s, 5, 2);
    let input = PolicyInput::new(&s, &f, &ids, 5, &device);
    let targets = TargetBatch::new(5, &t, &device);
    let ev = policy.evaluate_actions(&input, &targets);
    let lp = params::tensor_values(&ev.log_prob);
    let ent = params::tensor_values(&ev.entropy);
    let plain = LossSpec {
        pos_weight: [1.0; 8],
        label_smoothing: 0.0,
        focal_gamma: None,
    };
    for r in 0..5 {
        let input = PolicyInput::new(
            &s,
            &f[r * s.features..(r + 1) * s.features],
            &ids[r * s.ids..(r + 1) * s.ids],
            1,
            &device,
        );
        let tr = TargetBatch::new(1, &t[r * 6..(r + 1) * 6], &device);
        let c =
            params::tensor_values(&bc_loss(&policy.forward(&input, &tr), &tr, &plain).components);
        // The BC loss reports the plain negative log-likelihood per component (the buttons'
        // 8 bits summed): their sum is the controller's.
        let nll = c.iter().sum::<f32>();
        assert!((lp[r] + nll).abs() < 1e-3, "row {r}: {} vs {}", lp[r], -nll);
        assert!(lp[r] < 0.0 && ent[r] > 0.0);
    }
    let kl_self = params::tensor_values(&kl_divergence(&ev.logits, &ev.logits));
    assert!(kl_self.iter().all(|k| k.abs() < 1e-5), "{kl_self:?}");
    let ev2 = other.evaluate_actions(&input, &targets);
    let kl = params::tensor_values(&kl_divergence(&ev.logits, &ev2.logits));
    assert!(kl.iter().all(|k| *k > 0.0), "{kl:?}");
    assert_eq!(params::tensor_values(&ev.values).len(), 5);
}

/// A one-step bandit: the reward is 1 when the chosen controller presses A. PPO must raise the
/// probability of A, and the value head must learn the mean reward.
#[test]
fn an_update_learns_a_bandit() {
    let s = spec();
    let device = Device::flex().autodiff();
    device.seed(4);
    let mut policy = Policy::new(&tiny(), &s, &device);
    let n = 256;
    let (f, ids, _) = rows(&s, n, 7);
    let input = PolicyInput::new(&s, &f, &ids, n, &device);
    let mut rng = StdRng::seed_from_u64(9);
    let mut optim = Optimizer::new(&OptimConfig::default());
    let cfg = PpoConfig {
        minibatch: 64,
        lr: 3e-3,
        teacher_kl: 0.0,
        ..PpoConfig::default()
    };
    let p_a = |policy: &Policy| -> f32 {
        let b = params::tensor_values(&burn::tensor::activation::sigmoid(
            policy.head.button_logits(&policy.trunk(&input)),
        ));
        (0..n).map(|r| b[r * 8]).sum::<f32>() / n as f32
    };
    let before = p_a(&policy);
    for _ in 0..8 {
        let acted = policy.act(&input, exphil_policy::Sampling::Temperature(1.0), &mut rng);
        let actions: Vec<u16> = acted.iter().flat_map(target_row).collect();
        let targets = TargetBatch::new(n, &actions, &device);
        let ev = policy.evaluate_actions(&input, &targets);
        let rollout = Rollout {
            envs: n,
            features: f.clone(),
            ids: ids.clone(),
            rewards: acted
                .iter()
                .map(|a| a.buttons.pressed(0) as u8 as f32)
                .collect(),
            actions,
            log_prob: params::tensor_values(&ev.log_prob),
            values: params::tensor_values(&ev.values),
            done: vec![true; n],
            start_state: None,
            teacher_logits: None,
        };
        let (p, stats) = update(
            policy,
            None,
            &mut optim,
            &cfg,
            &s,
            &rollout,
            &vec![0.0; n],
            &device,
            &mut rng,
        );
        policy = p;
        assert!(stats.steps > 0 && stats.skipped == 0, "{stats:?}");
        assert!(stats.entropy.is_finite() && stats.approx_kl.is_finite());
    }
    let after = p_a(&policy);
    assert!(after > before + 0.2, "P(A) {before} → {after}");
}

/// A recurrent policy acts frame by frame with its state carried through each game (reset when
/// a game ends); the update replays every game from the state the rollout began with, so it
/// sees exactly the distribution that acted: before any step, the ratio is 1 everywhere.
#[test]
fn a_recurrent_update_replays_each_game_from_its_start_state() {
    let s = spec();
    let device = Device::flex().autodiff();
    device.seed(5);
    let cfg = PolicyConfig {
        backbone: BackboneConfig::Lstm(RecurrentConfig {
            window_size: 4,
            stride: 4,
            num_layers: 1,
            hidden_size: 16,
            dropout: 0.0,
            ..RecurrentConfig::default()
        }),
        ..PolicyConfig::default()
    };
    let policy = Policy::new(&cfg, &s, &device);
    let actor = policy.valid();
    let inner = device.clone().inner();
    let (envs, steps) = (3, 6);
    let mut rng = StdRng::seed_from_u64(11);
    let mut state = actor.initial_state(envs, &inner);
    // Frames before the rollout: its start state is mid-game.
    for k in 0..3 {
        let (f, ids, _) = rows(&s, envs, 100 + k);
        let input = PolicyInput::new(&s, &f, &ids, envs, &inner);
        state = actor.step_trunk(&input, state).1;
    }
    let start = state.clone();
    let mut r = Rollout {
        envs,
        start_state: Some(start.clone()),
        ..Rollout::default()
    };
    for t in 0..steps {
        let (f, ids, _) = rows(&s, envs, t as u64);
        let input = PolicyInput::new(&s, &f, &ids, envs, &inner);
        let (h, next) = actor.step_trunk(&input, state);
        state = next;
        let acted = actor.act_from_trunk(
            h.clone(),
            exphil_policy::Sampling::Temperature(1.0),
            &mut rng,
        );
        let actions: Vec<u16> = acted.iter().flat_map(target_row).collect();
        let ev = actor.evaluate_trunk(h, &TargetBatch::new(envs, &actions, &inner));
        // Game 1 ends at frame 2: its state starts afresh.
        let done: Vec<bool> = (0..envs).map(|e| t == 2 && e == 1).collect();
        let ended: Vec<usize> = (0..envs).filter(|&e| done[e]).collect();
        state.reset_rows(&ended);
        r.features.extend(f);
        r.ids.extend(ids);
        r.actions.extend(actions);
        r.log_prob.extend(params::tensor_values(&ev.log_prob));
        r.values.extend(params::tensor_values(&ev.values));
        r.rewards.extend(vec![0.5; envs]);
        r.done.extend(done);
    }
    // Replayed on the training device from the start state: the same log-probabilities.
    let replay = |from: exphil_policy::BackboneState| {
        let inputs: Vec<PolicyInput> = (0..steps)
            .map(|t| {
                let rows = t * envs..(t + 1) * envs;
                PolicyInput::new(
                    &s,
                    &r.features[rows.start * s.features..rows.end * s.features],
                    &r.ids[rows.start * s.ids..rows.end * s.ids],
                    envs,
                    &device,
                )
            })
            .collect();
        let resets: Vec<Vec<usize>> = (0..steps)
            .map(|t| (0..envs).filter(|&e| r.done[t * envs + e]).collect())
            .collect();
        let targets = TargetBatch::new(envs * steps, &r.actions, &device);
        params::tensor_values(
            &policy
                .evaluate_sequence(&inputs, from.to_device(&device), &resets, &targets)
                .log_prob,
        )
    };
    let lp = replay(start.clone());
    for (i, (a, b)) in lp.iter().zip(&r.log_prob).enumerate() {
        assert!((a - b).abs() < 1e-4, "row {i}: replayed {a}, acted {b}");
    }
    // From a fresh state instead, the first frames differ: the start state matters.
    let fresh = replay(actor.initial_state(envs, &inner));
    assert!(fresh
        .iter()
        .zip(&r.log_prob)
        .any(|(a, b)| (a - b).abs() > 1e-3));
    // The update: one minibatch of whole games, ratio 1 before its step.
    let mut optim = Optimizer::new(&OptimConfig::default());
    let ppo = PpoConfig {
        epochs: 1,
        minibatch: envs * steps,
        teacher_kl: 0.0,
        ..PpoConfig::default()
    };
    let (_, stats) = update(
        policy.clone(),
        None,
        &mut optim,
        &ppo,
        &s,
        &r,
        &vec![0.0; envs],
        &device,
        &mut rng,
    );
    assert_eq!(stats.steps, 1, "{stats:?}");
    assert!(stats.approx_kl.abs() < 1e-5, "{stats:?}");
    assert_eq!(stats.clip_fraction, 0.0, "{stats:?}");
}
