//! Proximal policy optimisation: generalised advantage estimation, the clipped surrogate
//! objective, a (optionally clipped) value loss, an entropy bonus and a KL penalty toward the
//! imitation policy (the teacher), over minibatches for several epochs, with advantage
//! normalisation and global gradient-norm clipping.

use burn::tensor::{Device, Tensor};
use exphil_embed::TARGET_COLUMNS;
use exphil_policy::{kl, BackboneState, InputSpec, Policy, PolicyInput, TargetBatch};
use exphil_train::grads::GradStore;
use exphil_train::optim::Optimizer;
use rand::seq::SliceRandom;
use rand::Rng;

/// The PPO update's settings: part of the run config, in `exphil-runs` (burn-free).
pub use exphil_runs::ppo_config::PpoConfig;

/// Advantages and returns by GAE for a rollout stored time-major (`t * envs + e`).
/// `done[i]`: the episode ended at step i (no bootstrap past it); `last_values[e]`: the value
/// of each environment's state after the last step.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    done: &[bool],
    last_values: &[f32],
    envs: usize,
    gamma: f64,
    lambda: f64,
) -> (Vec<f32>, Vec<f32>) {
    let n = rewards.len();
    assert!(
        envs > 0 && n.is_multiple_of(envs),
        "rows must be steps × envs"
    );
    assert_eq!(values.len(), n);
    assert_eq!(done.len(), n);
    assert_eq!(last_values.len(), envs);
    let steps = n / envs;
    let mut adv = vec![0f32; n];
    let mut next_adv = vec![0f64; envs];
    for t in (0..steps).rev() {
        for e in 0..envs {
            let i = t * envs + e;
            let next_value = if t + 1 < steps {
                values[i + envs] as f64
            } else {
                last_values[e] as f64
            };
            let live = if done[i] { 0.0 } else { 1.0 };
            let delta = rewards[i] as f64 + gamma * next_value * live - values[i] as f64;
            let a = delta + gamma * lambda * live * next_adv[e];
            adv[i] = a as f32;
            next_adv[e] = a;
        }
    }
    let returns = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, returns)
}

/// One rollout: what the acting policy saw and did, and what came of it.
#[derive(Clone, Debug, Default)]
pub struct Rollout {
    /// Environments (games) stepped together.
    pub envs: usize,
    /// Features, `rows × spec.features`.
    pub features: Vec<f32>,
    /// Ids, `rows × spec.ids`.
    pub ids: Vec<u32>,
    /// Chosen controllers as the six target columns (buttons mask, five classes).
    pub actions: Vec<u16>,
    /// Log-probability of each chosen controller when it was chosen.
    pub log_prob: Vec<f32>,
    /// Value estimates when acting.
    pub values: Vec<f32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Episode ends.
    pub done: Vec<bool>,
    /// Recurrent and temporal policies: every game's stepping state when the rollout began
    /// (on the acting device). The update then replays each game's frames in order from it
    /// (minibatches of whole games), as the policy acted.
    pub start_state: Option<BackboneState>,
    /// The teacher's logits for every row, when the caller computed them while acting (a
    /// temporal teacher carries its own state through the games); else the update computes
    /// them from the rows.
    pub teacher_logits: Option<TeacherLogits>,
}

impl Rollout {
    /// Rows stored.
    pub fn rows(&self) -> usize {
        self.rewards.len()
    }
}

/// Statistics of one update.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct UpdateStats {
    /// Mean clipped-surrogate loss.
    pub policy_loss: f64,
    /// Mean value loss.
    pub value_loss: f64,
    /// Mean entropy.
    pub entropy: f64,
    /// Mean KL to the teacher.
    pub teacher_kl: f64,
    /// Mean approximate KL between the old and new policy.
    pub approx_kl: f64,
    /// Fraction of rows whose ratio was clipped.
    pub clip_fraction: f64,
    /// Optimiser steps taken (minibatches with a finite loss and gradient).
    pub steps: u64,
    /// Minibatches skipped for a non-finite loss or gradient.
    pub skipped: u64,
}

fn mean_of(t: Tensor<1>) -> f64 {
    exphil_policy::params::tensor_values(&t.mean())
        .first()
        .copied()
        .unwrap_or(f32::NAN) as f64
}

/// The teacher's acting-distribution log-probabilities for every row of a rollout (for the
/// chosen controllers), computed once (on the teacher's own, non-autodiff device) and kept on
/// the host: row-major per button bit log P(on) and log P(off) `[n, 8]`, and each class
/// component `[n, classes]`.
#[derive(Clone, Debug, Default)]
pub struct TeacherLogits {
    on: Vec<f32>,
    off: Vec<f32>,
    classes: [Vec<f32>; 5],
    widths: [usize; 5],
}

impl TeacherLogits {
    /// No rows yet, for a policy whose class components have these widths.
    pub fn new(spec: &InputSpec) -> TeacherLogits {
        TeacherLogits {
            widths: spec.classes,
            ..TeacherLogits::default()
        }
    }

    /// Appends the rows of `log` (the teacher's, for the chosen controllers).
    pub fn push(&mut self, log: &exphil_policy::LogDist) {
        let values = exphil_policy::params::tensor_values;
        self.on.extend(values(&log.on));
        self.off.extend(values(&log.off));
        for (k, c) in log.classes.iter().enumerate() {
            self.classes[k].extend(values(c));
        }
    }

    fn of(teacher: &Policy, spec: &InputSpec, r: &Rollout, device: &Device) -> TeacherLogits {
        let (nf, ni) = (spec.features, spec.ids);
        let n = r.rows();
        let mut out = TeacherLogits::new(spec);
        let chunk = 4096;
        let mut at = 0;
        while at < n {
            let m = chunk.min(n - at);
            let input = PolicyInput::new(
                spec,
                &r.features[at * nf..(at + m) * nf],
                &r.ids[at * ni..(at + m) * ni],
                m,
                device,
            );
            let targets = TargetBatch::new(
                m,
                &r.actions[at * TARGET_COLUMNS..(at + m) * TARGET_COLUMNS],
                device,
            );
            out.push(&teacher.evaluate_actions(&input, &targets).dist.log);
            at += m;
        }
        out
    }

    /// Every row's log-probabilities as constants on `device`.
    fn on_device(&self, device: &Device) -> exphil_policy::LogDist {
        let n = self.on.len() / 8;
        let t = |v: &[f32], w: usize| exphil_policy::params::tensor_of(v.to_vec(), [n, w], device);
        exphil_policy::LogDist {
            on: t(&self.on, 8),
            off: t(&self.off, 8),
            classes: std::array::from_fn(|k| t(&self.classes[k], self.widths[k])),
        }
    }
}

/// One PPO update over a rollout: `epochs` passes of shuffled minibatches. Returns the updated
/// policy. A minibatch whose loss or gradient is not finite is skipped (and counted). The
/// teacher (on `teacher_device`, without autodiff) is evaluated once per rollout.
#[allow(clippy::too_many_arguments)]
pub fn update<R: Rng>(
    mut policy: Policy,
    teacher: Option<(&Policy, &Device)>,
    optim: &mut Optimizer,
    cfg: &PpoConfig,
    spec: &InputSpec,
    r: &Rollout,
    last_values: &[f32],
    device: &Device,
    rng: &mut R,
) -> (Policy, UpdateStats) {
    let n = r.rows();
    let (adv, returns) = gae(
        &r.rewards,
        &r.values,
        &r.done,
        last_values,
        r.envs,
        cfg.gamma,
        cfg.gae_lambda,
    );
    let computed;
    let teacher_logits = match (&r.teacher_logits, teacher) {
        _ if cfg.teacher_kl <= 0.0 => None,
        (Some(t), _) => Some(t),
        (None, Some((t, d))) => {
            computed = TeacherLogits::of(t, spec, r, d);
            Some(&computed)
        }
        (None, None) => None,
    };
    // Every row on the device once; minibatches select theirs.
    let all = PolicyInput::new(spec, &r.features, &r.ids, n, device);
    let teacher_logits = teacher_logits.map(|t| t.on_device(device));
    let mut order: Vec<usize> = (0..n).collect();
    let mut stats = UpdateStats::default();
    let mut sums = [0f64; TARGET_COLUMNS];
    let mut count = 0u64;
    let eps = cfg.clip_epsilon;
    // Sequences: each game's start state, and minibatches of whole games.
    let steps = n / r.envs.max(1);
    let parts = r.start_state.clone().map(BackboneState::split);
    let mut games: Vec<usize> = (0..r.envs).collect();
    let games_per_batch = (cfg.minibatch / steps.max(1)).max(1);
    for _ in 0..cfg.epochs.max(1) {
        // (rows, the games they cover when replayed as sequences)
        let batches: Vec<(Vec<usize>, Option<Vec<usize>>)> = if parts.is_some() {
            games.shuffle(rng);
            games
                .chunks(games_per_batch)
                .map(|g| {
                    let rows = (0..steps)
                        .flat_map(|t| g.iter().map(move |&e| t * r.envs + e))
                        .collect();
                    (rows, Some(g.to_vec()))
                })
                .collect()
        } else {
            order.shuffle(rng);
            order
                .chunks(cfg.minibatch.max(2))
                .map(|c| (c.to_vec(), None))
                .collect()
        };
        for (chunk, group) in &batches {
            let chunk = &chunk[..];
            let m = chunk.len();
            let mut acts = Vec::with_capacity(m * TARGET_COLUMNS);
            let mut a = Vec::with_capacity(m);
            let (mut old_lp, mut old_v, mut ret) = (
                Vec::with_capacity(m),
                Vec::with_capacity(m),
                Vec::with_capacity(m),
            );
            for &i in chunk {
                acts.extend_from_slice(&r.actions[i * TARGET_COLUMNS..(i + 1) * TARGET_COLUMNS]);
                a.push(adv[i]);
                old_lp.push(r.log_prob[i]);
                old_v.push(r.values[i]);
                ret.push(returns[i]);
            }
            if cfg.normalize_advantages && m > 1 {
                let mean = a.iter().map(|&x| x as f64).sum::<f64>() / m as f64;
                let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / m as f64;
                let sd = var.sqrt() + 1e-8;
                for x in a.iter_mut() {
                    *x = ((*x as f64 - mean) / sd) as f32;
                }
            }
            let t1 = |v: Vec<f32>| exphil_policy::params::tensor_of(v, [m], device);
            let targets = TargetBatch::new(m, &acts, device);
            let ev = match (group, &parts) {
                (Some(g), Some(parts)) => {
                    let k = g.len();
                    let inputs: Vec<PolicyInput> = (0..steps)
                        .map(|t| all.select(&chunk[t * k..(t + 1) * k], device))
                        .collect();
                    let resets: Vec<Vec<usize>> = (0..steps)
                        .map(|t| (0..k).filter(|&j| r.done[t * r.envs + g[j]]).collect())
                        .collect();
                    let start = BackboneState::cat(g.iter().map(|&e| parts[e].clone()).collect())
                        .to_device(device);
                    policy.evaluate_sequence(&inputs, start, &resets, &targets)
                }
                _ => policy.evaluate_actions(&all.select(chunk, device), &targets),
            };
            let (adv_t, old_lp_t, old_v_t, ret_t) = (t1(a), t1(old_lp), t1(old_v), t1(ret));
            let log_ratio = ev.log_prob.clone() - old_lp_t;
            let ratio = log_ratio.clone().exp();
            let s1 = ratio.clone() * adv_t.clone();
            let s2 = ratio.clone().clamp(1.0 - eps, 1.0 + eps) * adv_t;
            let policy_loss = s1.min_pair(s2).mean().neg();
            let v = ev.values.clone();
            let value_loss = if cfg.clip_value {
                let clipped = old_v_t.clone() + (v.clone() - old_v_t).clamp(-eps, eps);
                let a = (v - ret_t.clone()).powf_scalar(2.0);
                let b = (clipped - ret_t).powf_scalar(2.0);
                a.max_pair(b).mean()
            } else {
                (v - ret_t).powf_scalar(2.0).mean()
            };
            let entropy = ev.entropy.clone().mean();
            let mut loss = policy_loss.clone() + value_loss.clone().mul_scalar(cfg.value_coef)
                - entropy.clone().mul_scalar(cfg.entropy_coef);
            let mut kl_t = 0.0;
            if let Some(t) = &teacher_logits {
                let kl = kl(&ev.dist, &t.select(chunk, device)).mean();
                kl_t = mean_of(kl.clone().reshape([1]));
                loss = loss + kl.mul_scalar(cfg.teacher_kl);
            }
            let lv = mean_of(loss.clone().reshape([1]));
            if !lv.is_finite() {
                stats.skipped += 1;
                continue;
            }
            let ratios = exphil_policy::params::tensor_values(&ratio);
            let lr_v = exphil_policy::params::tensor_values(&log_ratio);
            let clipped = ratios
                .iter()
                .filter(|r| (**r as f64 - 1.0).abs() > eps)
                .count();
            // approx KL (old ‖ new) ≈ mean((ratio - 1) - log ratio).
            let approx_kl = ratios
                .iter()
                .zip(&lr_v)
                .map(|(r, l)| (*r as f64 - 1.0) - *l as f64)
                .sum::<f64>()
                / m as f64;
            let g = loss.backward();
            let mut grads = GradStore::new();
            grads.accumulate(&policy, &g, 1.0);
            let norm = grads.clip_global_norm(cfg.max_grad_norm);
            if !norm.is_finite() {
                stats.skipped += 1;
                continue;
            }
            policy = optim.step(policy, &grads, cfg.lr);
            stats.steps += 1;
            for (s, v) in sums.iter_mut().zip([
                mean_of(policy_loss.reshape([1])),
                mean_of(value_loss.reshape([1])),
                mean_of(entropy.reshape([1])),
                kl_t,
                approx_kl,
                clipped as f64 / m as f64,
            ]) {
                *s += v;
            }
            count += 1;
        }
    }
    let c = count.max(1) as f64;
    stats.policy_loss = sums[0] / c;
    stats.value_loss = sums[1] / c;
    stats.entropy = sums[2] / c;
    stats.teacher_kl = sums[3] / c;
    stats.approx_kl = sums[4] / c;
    stats.clip_fraction = sums[5] / c;
    (policy, stats)
}
