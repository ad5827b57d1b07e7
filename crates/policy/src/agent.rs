//! A policy playing seats of games, frame by frame: its model memory and controller history per
//! slot, the same embedding as training. Used by `exphil play` (Dolphin), `exphil serve` (UMI),
//! `exphil sim` and PPO.

use crate::file::LoadedPolicy;
use crate::{BackboneState, PolicyInput, Sampling};
use burn::tensor::Device;
use exphil_dataset::LiveGame;
use exphil_embed::{Embedder, TargetCoder};
use exphil_state::{Controller, GameState};
use rand::SeedableRng;

/// Why a policy cannot play: its recorded embedding or targets are not valid here.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The embedding config.
    #[error("the policy's embedding: {0}")]
    Embed(#[from] exphil_embed::EmbedConfigError),
    /// The target config.
    #[error("the policy's targets: {0}")]
    Targets(#[from] exphil_embed::ConfigError),
}

/// A policy playing one port: its model memory and controller history, one frame at a time
/// (a [`BatchedPolicy`] of one slot).
pub struct Player {
    inner: BatchedPolicy,
}

impl Player {
    /// A player of `loaded`, told `delay` as its delay feature.
    pub fn new(
        loaded: LoadedPolicy,
        device: Device,
        sampling: Sampling,
        delay: u8,
    ) -> Result<Player, AgentError> {
        Ok(Player {
            inner: BatchedPolicy::new(loaded, device, sampling, delay, 1, 0)?,
        })
    }

    /// The policy.
    pub fn loaded(&self) -> &LoadedPolicy {
        &self.inner.loaded
    }

    /// Reseeds its sampling.
    pub fn seed(&mut self, seed: u64) {
        self.inner.seed(seed);
    }

    /// A new game: fresh memory and history.
    pub fn reset(&mut self) {
        self.inner.reset(0);
    }

    /// The decision for `state`. Before GO the game ignores inputs: neutral (the model still
    /// sees the frame). A frame with out-of-range values repeats `previous`.
    pub fn act(&mut self, state: &GameState, previous: Controller) -> Controller {
        self.inner.act_checked(&[(0, state)])[0].unwrap_or(previous)
    }
}

/// A policy playing one seat in each of many games at once: one model step per frame for all
/// of them (PPO rollouts, benchmarks, `exphil serve`). Each slot keeps its own model memory and controller
/// history, reset when its game restarts.
pub struct BatchedPolicy {
    loaded: LoadedPolicy,
    embedder: Embedder,
    coder: TargetCoder,
    device: Device,
    sampling: Sampling,
    rng: rand::rngs::StdRng,
    delay: u8,
    states: Vec<Option<BackboneState>>,
    live: Vec<LiveGame>,
    fresh: Vec<bool>,
    features: Vec<f32>,
    ids: Vec<u32>,
}

impl BatchedPolicy {
    /// `slots` seats of `loaded`, told `delay` as the delay feature.
    pub fn new(
        loaded: LoadedPolicy,
        device: Device,
        sampling: Sampling,
        delay: u8,
        slots: usize,
        seed: u64,
    ) -> Result<BatchedPolicy, AgentError> {
        let embedder = Embedder::new(loaded.embed.clone())?;
        let coder = TargetCoder::new(loaded.targets.clone())?;
        Ok(BatchedPolicy {
            embedder,
            coder,
            sampling,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            delay,
            states: (0..slots).map(|_| None).collect(),
            live: vec![LiveGame::new(); slots],
            fresh: vec![true; slots],
            features: Vec::new(),
            ids: Vec::new(),
            device,
            loaded,
        })
    }

    /// Plays with these weights from now on (self-play against the learner's latest).
    pub fn set_policy(&mut self, policy: crate::Policy) {
        self.loaded.policy = policy;
    }

    /// Reseeds its sampling.
    pub fn seed(&mut self, seed: u64) {
        self.rng = rand::rngs::StdRng::seed_from_u64(seed);
    }

    /// Forgets every slot and holds `slots` fresh ones, told `delay` as the delay feature.
    pub fn configure(&mut self, slots: usize, delay: u8) {
        self.delay = delay;
        self.states.clear();
        self.live.clear();
        self.fresh.clear();
        self.ensure_slots(slots);
    }

    /// Holds at least `slots` slots (new ones fresh).
    pub fn ensure_slots(&mut self, slots: usize) {
        if slots > self.states.len() {
            self.states.resize_with(slots, || None);
            self.live.resize(slots, LiveGame::new());
            self.fresh.resize(slots, true);
        }
    }

    /// Slot `slot` starts a new game.
    pub fn reset(&mut self, slot: usize) {
        self.fresh[slot] = true;
        self.live[slot].reset();
    }

    /// One decision per `(slot, state)`, in one model step; neutral before GO and for a frame
    /// with out-of-range values.
    pub fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
        self.act_checked(rows)
            .into_iter()
            .map(|c| c.unwrap_or(Controller::NEUTRAL))
            .collect()
    }

    /// Like [`BatchedPolicy::act`], with `None` for a frame with out-of-range values (after GO),
    /// so the caller chooses the fallback.
    pub fn act_checked(&mut self, rows: &[(usize, &GameState)]) -> Vec<Option<Controller>> {
        rows.iter()
            .zip(self.step(rows))
            .map(|(&(_, state), (c, bad))| (!bad || state.frame < 0).then_some(c))
            .collect()
    }

    /// One model step for every `(slot, state)`: each row's controller (neutral before GO: the
    /// game ignores inputs there, the model still sees the frame) and whether its frame had
    /// out-of-range values (the model then stepped on cleaned features).
    pub fn step(&mut self, rows: &[(usize, &GameState)]) -> Vec<(Controller, bool)> {
        let n = rows.len();
        let (nf, ni) = (self.loaded.spec.features, self.loaded.spec.ids);
        self.features.resize(n * nf, 0.0);
        self.ids.resize(n * ni, 0);
        let mut bad = vec![false; n];
        for (i, &(slot, state)) in rows.iter().enumerate() {
            bad[i] = !self.live[slot].embed_cleaned(
                &self.embedder,
                state,
                self.delay,
                0,
                &mut self.features[i * nf..(i + 1) * nf],
                &mut self.ids[i * ni..(i + 1) * ni],
            );
        }
        let input = PolicyInput::new(
            &self.loaded.spec,
            &self.features,
            &self.ids,
            n,
            &self.device,
        );
        let policy = &self.loaded.policy;
        let parts: Vec<BackboneState> = rows
            .iter()
            .map(|&(slot, _)| {
                let own = self.states[slot].take();
                match own {
                    Some(s) if !self.fresh[slot] => s,
                    _ => policy.initial_state(1, &self.device),
                }
            })
            .collect();
        let (targets, state) = policy.step(
            &input,
            BackboneState::cat(parts),
            self.sampling,
            &mut self.rng,
        );
        for ((slot, _), s) in rows.iter().zip(state.split()) {
            self.states[*slot] = Some(s);
            self.fresh[*slot] = false;
        }
        rows.iter()
            .zip(&targets)
            .zip(bad)
            .map(|((&(_, state), t), bad)| {
                let c = if state.frame < 0 {
                    Controller::NEUTRAL
                } else {
                    self.coder.decode(t)
                };
                (c, bad)
            })
            .collect()
    }
}
