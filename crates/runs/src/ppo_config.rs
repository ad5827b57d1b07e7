//! The resolved configuration of a PPO or self-play run (`exphil ppo`, `exphil selfplay`): the
//! PPO update, the rollouts, the reward's weights and the league, with its presets, its flag
//! table and its layers, resolved as `exphil train`'s are: **command line > config file >
//! preset > defaults** (no environment layer), through the same YAML/JSON reader
//! ([`read_config_file_with`]). [`PpoRunConfig::validate`] names every bad key and why;
//! [`PpoRunConfig::plan`] is what `--dry-run` prints; [`resume_config`] is what `--resume`
//! continues with. The run's `config.json` keeps the resolved config
//! ([`crate::rundir::RunFile::ppo_config`]).

use crate::presets::{
    check_keys, file_and_cli, find_preset, flag_for_key_in, get_path, leaf_keys,
    locate_value_error, merge, preset_layer, valid_device, BadSetting, ConfigError, Flag, Layers,
    Preset, Resolved, ValueKind, FROM_CLI, FROM_FILE, FROM_PRESET,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The PPO update: GAE, the clipped objective, the loss weights, epochs and minibatches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Discount.
    pub gamma: f64,
    /// GAE λ.
    pub gae_lambda: f64,
    /// Surrogate clip ε.
    pub clip_epsilon: f64,
    /// Clip the value loss around the old values with the same ε.
    pub clip_value: bool,
    /// Weight of the value loss.
    pub value_coef: f64,
    /// Weight of the entropy bonus.
    pub entropy_coef: f64,
    /// Weight of the KL penalty toward the teacher (the imitation policy).
    pub teacher_kl: f64,
    /// Epochs over each rollout.
    pub epochs: usize,
    /// Rows per minibatch.
    pub minibatch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Decay the learning rate linearly from `lr` toward 0 over the run's timesteps (each
    /// update uses the share of the run still ahead of it).
    pub anneal_lr: bool,
    /// Global gradient-norm clip (0: none).
    pub max_grad_norm: f64,
    /// Normalise advantages per minibatch.
    pub normalize_advantages: bool,
}

impl Default for PpoConfig {
    fn default() -> PpoConfig {
        PpoConfig {
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_epsilon: 0.2,
            clip_value: true,
            value_coef: 0.5,
            entropy_coef: 0.01,
            teacher_kl: 0.1,
            epochs: 4,
            minibatch: 1024,
            lr: 3e-4,
            anneal_lr: false,
            max_grad_norm: 0.5,
            normalize_advantages: true,
        }
    }
}

/// The games the learner plays and how much of them one update learns from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    /// Environment frames to learn from (the main learner's frames): the total to reach.
    pub timesteps: u64,
    /// Games stepped together.
    pub num_games: usize,
    /// Frames per game in each rollout.
    pub rollout_steps: usize,
    /// End each game after this many frames from GO (0: stocks and the timer).
    pub max_episode_frames: i32,
    /// Who the learner plays in `exphil ppo`: `self`, `bot:NAME` or `policy:RUN`
    /// (self-play draws from its population instead).
    pub opponent: String,
    /// The stage (fd, bf, ys, dl, fod, ps), or `random` per game.
    pub stage: String,
    /// The learner's character (`None`: the policy's, when the simulator has it; else fox).
    pub character: Option<String>,
    /// The opponent's character (`None`: the learner's).
    pub opponent_character: Option<String>,
}

impl Default for RolloutConfig {
    fn default() -> RolloutConfig {
        RolloutConfig {
            timesteps: 100_000,
            num_games: 64,
            rollout_steps: 128,
            max_episode_frames: 3600,
            opponent: "bot:rule".into(),
            stage: "random".into(),
            character: None,
            opponent_character: None,
        }
    }
}

/// Weights of the reward terms (0 turns a term off); `exphil_rl::reward::Reward` applies them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Per percent dealt, minus per percent taken.
    pub damage: f32,
    /// Per stock taken, minus per stock lost.
    pub stock: f32,
    /// At the game's end: + for a win, − for a loss (the sparse reward).
    pub win: f32,
    /// Shaping: the distance to the opponent closed, per 3 units a frame.
    pub approach: f32,
    /// Shaping: hits that start or extend hitstun, and keeping it going.
    pub combo: f32,
    /// Shaping: a hit on an off-stage opponent while on stage.
    pub edge_guard: f32,
    /// Shaping: the per-frame penalty for being off-stage.
    pub recovery_risk: f32,
}

impl Default for RewardConfig {
    fn default() -> RewardConfig {
        RewardConfig {
            damage: 0.01,
            stock: 1.0,
            win: 0.0,
            approach: 0.0,
            combo: 0.0,
            edge_guard: 0.0,
            recovery_risk: 0.0,
        }
    }
}

/// Evaluations during a run: the learner's weights against its imitation base and every
/// scripted bot, the best kept as the run's policy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate every this many updates (and at the end); 0: never, and the run's policy is
    /// its last weights.
    pub every: u64,
    /// Games against each opponent per evaluation, over the six stages.
    pub games: u32,
}

impl Default for EvalConfig {
    fn default() -> EvalConfig {
        EvalConfig {
            every: 0,
            games: 24,
        }
    }
}

/// How historical snapshots are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoricalSampling {
    /// Uniformly.
    Uniform,
    /// Prioritised fictitious self-play: weight (1 − p)² where p is the learner's win rate
    /// against the snapshot (the snapshots it beats least come most often).
    Pfsp,
}

/// Category weights of opponent sampling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// The current learner (its own latest weights).
    pub current: f64,
    /// Historical snapshots.
    pub historical: f64,
    /// Scripted bots.
    pub scripted: f64,
}

/// Self-play's population and league (`exphil selfplay` only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeagueConfig {
    /// Historical snapshots kept in the population.
    pub history: usize,
    /// Sampling weights of the current learner, historical snapshots and scripted bots.
    pub weights: Weights,
    /// Scripted bots in the population, drawn uniformly (a bot listed k times comes k times as
    /// often).
    pub scripted: Vec<String>,
    /// How snapshots are drawn.
    pub sampling: HistoricalSampling,
    /// Each agent adds a snapshot of itself every this many of its updates (0: never).
    pub snapshot_every: u64,
    /// Print the Elo table after each round of updates.
    pub track_elo: bool,
    /// Main exploiters trained beside the main agent.
    pub main_exploiters: usize,
    /// League exploiters trained beside the main agent.
    pub league_exploiters: usize,
}

impl Default for LeagueConfig {
    fn default() -> LeagueConfig {
        LeagueConfig {
            history: 5,
            weights: Weights {
                current: 0.5,
                historical: 0.3,
                scripted: 0.2,
            },
            scripted: vec!["rule".into(), "random".into()],
            sampling: HistoricalSampling::Pfsp,
            snapshot_every: 5,
            track_elo: false,
            main_exploiters: 0,
            league_exploiters: 0,
        }
    }
}

impl LeagueConfig {
    /// Whether exploiters train beside the main agent.
    pub fn is_league(&self) -> bool {
        self.main_exploiters + self.league_exploiters > 0
    }
}

/// Everything a PPO or self-play run needs besides the policy it starts from; the run's
/// `config.json` keeps it, resolved, and `--resume` continues with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoRunConfig {
    /// The preset this config started from, if any.
    pub preset: Option<String>,
    /// `cpu`, or `cuda:N`.
    pub device: String,
    /// Seed.
    pub seed: u64,
    /// Save the weights and a checkpoint every this many updates (and at the end; 0: only at
    /// the end).
    pub checkpoint_every: u64,
    /// The update.
    pub ppo: PpoConfig,
    /// The games.
    pub rollout: RolloutConfig,
    /// The reward.
    pub reward: RewardConfig,
    /// Self-play's population and league.
    pub league: LeagueConfig,
    /// Evaluations during the run.
    pub eval: EvalConfig,
}

impl Default for PpoRunConfig {
    fn default() -> PpoRunConfig {
        PpoRunConfig {
            preset: None,
            device: "cpu".into(),
            seed: 0,
            checkpoint_every: 10,
            ppo: PpoConfig::default(),
            rollout: RolloutConfig::default(),
            reward: RewardConfig::default(),
            league: LeagueConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

use ValueKind::{List, Name, Plain};

const fn flag(name: &'static str, key: &'static str, kind: ValueKind) -> Flag {
    Flag {
        name,
        aliases: &[],
        key,
        kind,
    }
}

/// Every config-setting flag of `exphil ppo` and `exphil selfplay` and the key it sets (the
/// command line and the config file's flat keys both go through it). `--preset`, `--config`,
/// `--dry-run`, `--pretrained`, `--name`, `--resume`, `--checkpoints` and `--league` are not
/// settings and are not here.
pub const PPO_FLAGS: &[Flag] = &[
    flag("device", "device", Plain),
    flag("seed", "seed", Plain),
    flag("checkpoint-every", "checkpoint_every", Plain),
    flag("eval-every", "eval.every", Plain),
    flag("eval-games", "eval.games", Plain),
    // Update
    flag("ppo-epochs", "ppo.epochs", Plain),
    flag("minibatch", "ppo.minibatch", Plain),
    flag("clip-epsilon", "ppo.clip_epsilon", Plain),
    flag("value-clip", "ppo.clip_value", Plain),
    flag("gae-lambda", "ppo.gae_lambda", Plain),
    flag("gamma", "ppo.gamma", Plain),
    flag("lr", "ppo.lr", Plain),
    flag("anneal-lr", "ppo.anneal_lr", Plain),
    flag("entropy-coef", "ppo.entropy_coef", Plain),
    flag("value-coef", "ppo.value_coef", Plain),
    flag("teacher-kl", "ppo.teacher_kl", Plain),
    flag("max-grad-norm", "ppo.max_grad_norm", Plain),
    // Rollouts
    flag("timesteps", "rollout.timesteps", Plain),
    flag("num-games", "rollout.num_games", Plain),
    flag("rollout-steps", "rollout.rollout_steps", Plain),
    flag("max-episode-frames", "rollout.max_episode_frames", Plain),
    flag("opponent", "rollout.opponent", Plain),
    flag("stage", "rollout.stage", Plain),
    flag("character", "rollout.character", Plain),
    flag("opponent-character", "rollout.opponent_character", Plain),
    // Reward
    flag("damage-reward", "reward.damage", Plain),
    flag("stock-reward", "reward.stock", Plain),
    flag("win-reward", "reward.win", Plain),
    flag("approach-reward", "reward.approach", Plain),
    flag("combo-reward", "reward.combo", Plain),
    flag("edge-guard-reward", "reward.edge_guard", Plain),
    flag("recovery-risk", "reward.recovery_risk", Plain),
    // League (self-play)
    flag("history", "league.history", Plain),
    flag("weights", "league.weights", Plain),
    flag("scripted", "league.scripted", List),
    flag("sampling", "league.sampling", Name),
    flag("snapshot-every", "league.snapshot_every", Plain),
    flag("track-elo", "league.track_elo", Plain),
    flag("main-exploiters", "league.main_exploiters", Plain),
    flag("league-exploiters", "league.league_exploiters", Plain),
];

/// The keys a PPO config layer may set, with their defaults.
pub fn ppo_key_schema() -> Value {
    // Serializing plain structs with string-keyed maps cannot fail.
    serde_json::to_value(PpoRunConfig::default()).expect("PpoRunConfig serializes to JSON")
}

/// Every PPO preset, in the order `--help` lists them.
pub fn ppo_presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "quick",
            description: "A toy smoke run (seconds on a CPU): 1,024 frames, 8 games × 64-frame \
                rollouts (2 updates), minibatches of 256, 2 epochs, 600-frame episodes, a \
                checkpoint every update; self-play snapshots every update, 2 kept.",
            overlay: json!({
                "checkpoint_every": 1,
                "ppo": {"epochs": 2, "minibatch": 256},
                "rollout": {"timesteps": 1024, "num_games": 8, "rollout_steps": 64,
                            "max_episode_frames": 600},
                "league": {"snapshot_every": 1, "history": 2}
            }),
        },
        Preset {
            name: "standard",
            description: "A real run on a CPU: 1,000,000 frames of 64 games × 128-frame \
                rollouts (8,192 frames per update), minibatches of 1024, 4 epochs, one-minute \
                episodes, the Elo table printed after every update.",
            overlay: json!({
                "rollout": {"timesteps": 1_000_000},
                "league": {"track_elo": true}
            }),
        },
        Preset {
            name: "gpu",
            description: "Large-scale on the first GPU of the build (`gpu`: cuda:0 in a `cuda` build, else vulkan:0): 10,000,000 frames of 256 \
                games × 128-frame rollouts (32,768 frames per update), minibatches of 4096, a \
                checkpoint every 20 updates, the Elo table printed after every update.",
            overlay: json!({
                "device": "gpu",
                "checkpoint_every": 20,
                "ppo": {"minibatch": 4096},
                "rollout": {"timesteps": 10_000_000, "num_games": 256},
                "league": {"track_elo": true}
            }),
        },
    ]
}

/// The names of every PPO preset.
pub fn ppo_preset_names() -> Vec<&'static str> {
    ppo_presets().iter().map(|p| p.name).collect()
}

/// Resolves the layers of a PPO run: defaults, then the preset (`--preset`, else the config
/// file's `preset:`), then the config file, then the command line. The environment of
/// [`Layers::env`] is not read (the checkpoints directory is `--checkpoints`' business).
/// Unknown keys are refused with a did-you-mean and values of the wrong type name their key
/// and layer. The result is not validated: call [`PpoRunConfig::validate`].
pub fn resolve_ppo(layers: &Layers) -> Result<Resolved<PpoRunConfig>, ConfigError> {
    let schema = ppo_key_schema();
    let (file, file_preset, file_origin, cli) = file_and_cli(layers, &schema, PPO_FLAGS)?;
    let (preset, preset_source) = match (&layers.preset, file_preset) {
        (Some(n), _) => (Some(find_preset(&ppo_presets(), n, "--preset")?), FROM_CLI),
        (None, Some(n)) => {
            let origin = format!("{file_origin}: preset");
            (Some(find_preset(&ppo_presets(), &n, &origin)?), FROM_FILE)
        }
        (None, None) => (None, FROM_PRESET),
    };
    let mut layered: Vec<(&str, String, Value)> = preset_layer(preset.as_ref(), &schema)?
        .into_iter()
        .collect();
    layered.push((FROM_FILE, file_origin, file));
    layered.push((FROM_CLI, "the command line".into(), cli));
    let mut value = schema.clone();
    let mut sources = BTreeMap::new();
    let mut origins = BTreeMap::new();
    for (layer, origin, overlay) in &layered {
        merge(&mut value, overlay);
        let mut keys = Vec::new();
        leaf_keys(overlay, "", &mut keys);
        for key in keys {
            sources.insert(key.clone(), layer.to_string());
            origins.insert(key, origin.clone());
        }
    }
    if let Some(p) = &preset {
        value["preset"] = json!(p.name);
        sources.insert("preset".into(), preset_source.to_string());
    }
    match serde_json::from_value::<PpoRunConfig>(value) {
        Ok(config) => Ok(Resolved { config, sources }),
        Err(whole) => Err(locate_value_error::<PpoRunConfig>(
            &layered, &origins, &schema, whole,
        )),
    }
}

/// What `--resume` may change of a run's config: how far it goes, where it runs, how often it
/// saves and evaluates, and whether it prints the Elo table. Anything else would be another run.
pub const RESUMABLE: [&str; 5] = [
    "rollout.timesteps",
    "device",
    "checkpoint_every",
    "eval.every",
    "league.track_elo",
];

/// The config a resumed run continues with: the run's own (`stored`), with the command line's
/// settings (`cli`, an overlay) applied where they may change ([`RESUMABLE`]). A setting the
/// command line gives that differs from the run's and may not change is refused, naming it and
/// both values; one that repeats the run's value is fine.
pub fn resume_config(stored: &PpoRunConfig, cli: &Value) -> Result<PpoRunConfig, ConfigError> {
    let schema = ppo_key_schema();
    check_keys(cli, &schema, "", "the command line")?;
    let before = serde_json::to_value(stored).expect("PpoRunConfig serializes to JSON");
    let mut after = before.clone();
    merge(&mut after, cli);
    let mut keys = Vec::new();
    leaf_keys(cli, "", &mut keys);
    let resumed: PpoRunConfig = serde_json::from_value(after.clone()).map_err(|e| {
        let origins: BTreeMap<String, String> = keys
            .iter()
            .map(|k| (k.clone(), "the command line".to_string()))
            .collect();
        let layered = [(FROM_CLI, "the command line".to_string(), cli.clone())];
        locate_value_error::<PpoRunConfig>(&layered, &origins, &schema, e)
    })?;
    let mut refused = Vec::new();
    for key in keys {
        let (was, now) = (get_path(&before, &key), get_path(&after, &key));
        if was != now && !RESUMABLE.contains(&key.as_str()) {
            let show = |v: Option<&Value>| v.map_or_else(|| "(unset)".into(), Value::to_string);
            refused.push(format!(
                "{key} (the run has {}, not {})",
                show(was),
                show(now)
            ));
        }
    }
    if !refused.is_empty() {
        return Err(ConfigError::Value {
            origin: "--resume".into(),
            key: refused.join(", "),
            message: format!(
                "a resumed run continues with its own config; only {} can change. To change \
                 the others, start a new run",
                RESUMABLE.join(", ")
            ),
        });
    }
    Ok(resumed)
}

impl PpoRunConfig {
    /// Frames the main learner plays per update (`num_games × rollout_steps`).
    pub fn frames_per_update(&self) -> u64 {
        self.rollout.num_games as u64 * self.rollout.rollout_steps as u64
    }

    /// Updates a fresh run makes to reach `timesteps`.
    pub fn updates(&self) -> u64 {
        self.rollout
            .timesteps
            .div_ceil(self.frames_per_update().max(1))
    }

    /// The learners of the run: `learner` alone, or (self-play with exploiters) the main agent
    /// and its exploiters, by the names the run gives them.
    pub fn learners(&self, selfplay: bool) -> Vec<String> {
        let l = &self.league;
        if !(selfplay && l.is_league()) {
            return vec!["learner".into()];
        }
        let numbered = |base: &str, k: usize, of: usize| {
            if of == 1 {
                base.to_string()
            } else {
                format!("{base}_{}", k + 1)
            }
        };
        let mut names = vec!["main".to_string()];
        names.extend(
            (0..l.main_exploiters).map(|k| numbered("main_exploiter", k, l.main_exploiters)),
        );
        names.extend(
            (0..l.league_exploiters).map(|k| numbered("league_exploiter", k, l.league_exploiters)),
        );
        names
    }

    /// What a run of this config does, in lines (`--dry-run` prints them).
    pub fn plan(&self, selfplay: bool) -> Vec<String> {
        let r = &self.rollout;
        let per_update = self.frames_per_update();
        let updates = self.updates();
        let learners = self.learners(selfplay);
        let minibatches = per_update.div_ceil(self.ppo.minibatch.max(1) as u64);
        let opponent = if selfplay {
            let w = &self.league.weights;
            format!(
                "the population (current {}, historical {} of up to {} snapshots by {}, \
                 scripted {}: {})",
                w.current,
                w.historical,
                self.league.history,
                match self.league.sampling {
                    HistoricalSampling::Pfsp => "pfsp",
                    HistoricalSampling::Uniform => "uniform",
                },
                w.scripted,
                self.league.scripted.join(", ")
            )
        } else {
            r.opponent.clone()
        };
        let mut lines = vec![
            "Plan:".to_string(),
            format!(
                "  Games:             {} stepped together on {}, against {opponent}",
                r.num_games, r.stage
            ),
            format!(
                "  Frames per update: {per_update} ({} games × {} frames)",
                r.num_games, r.rollout_steps
            ),
            format!(
                "  Updates:           {updates} to reach {} frames",
                r.timesteps
            ),
            format!(
                "  Minibatches:       {minibatches} of {} rows per epoch × {} epochs = {} \
                 optimiser steps per update",
                self.ppo.minibatch,
                self.ppo.epochs,
                minibatches * self.ppo.epochs as u64
            ),
            format!(
                "  Learners:          {} ({}), {} frames in all",
                learners.len(),
                learners.join(", "),
                per_update * updates * learners.len() as u64
            ),
        ];
        if selfplay {
            lines.push(format!(
                "  Snapshots:         every {} updates per agent",
                self.league.snapshot_every
            ));
        }
        if self.eval.every > 0 {
            lines.push(format!(
                "  Evaluations:       every {} updates and at the end, {} games against the \
                 imitation base and each scripted bot; the best is the run's policy",
                self.eval.every, self.eval.games
            ));
        }
        lines.push(if self.checkpoint_every > 0 {
            format!(
                "  Checkpoints:       every {} updates and at the end",
                self.checkpoint_every
            )
        } else {
            "  Checkpoints:       at the end".to_string()
        });
        lines
    }

    /// Every setting out of range, naming its key and flag and why (an `Err` holding all of
    /// them); `Ok` when the config can run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut bad: Vec<BadSetting> = Vec::new();
        let mut refuse = |key: &str, reason: String| {
            bad.push(BadSetting {
                key: key.to_string(),
                flag: flag_for_key_in(PPO_FLAGS, key).map(|f| f.name),
                reason,
            })
        };
        if !valid_device(&self.device) {
            refuse(
                "device",
                format!(
                    "must be `cpu`, `gpu`, `cuda:N`, `vulkan`, `vulkan:N` or `vulkan:cpu`, not `{}`",
                    self.device
                ),
            );
        }
        let p = &self.ppo;
        if !(p.gamma.is_finite() && p.gamma > 0.0 && p.gamma <= 1.0) {
            refuse("ppo.gamma", format!("must be in (0, 1], not {}", p.gamma));
        }
        if !(p.gae_lambda.is_finite() && (0.0..=1.0).contains(&p.gae_lambda)) {
            refuse(
                "ppo.gae_lambda",
                format!("must be in [0, 1], not {}", p.gae_lambda),
            );
        }
        if !(p.clip_epsilon.is_finite() && p.clip_epsilon > 0.0) {
            refuse(
                "ppo.clip_epsilon",
                format!("must be a finite number > 0, not {}", p.clip_epsilon),
            );
        }
        if !(p.lr.is_finite() && p.lr > 0.0) {
            refuse(
                "ppo.lr",
                format!("must be a finite number > 0, not {}", p.lr),
            );
        }
        for (key, v) in [
            ("ppo.value_coef", p.value_coef),
            ("ppo.entropy_coef", p.entropy_coef),
            ("ppo.teacher_kl", p.teacher_kl),
            ("ppo.max_grad_norm", p.max_grad_norm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                refuse(key, format!("must be finite and >= 0, not {v}"));
            }
        }
        if p.epochs == 0 {
            refuse("ppo.epochs", "must be at least 1".into());
        }
        if self.eval.every > 0 && self.eval.games == 0 {
            refuse(
                "eval.games",
                "must be at least 1 when evaluating (--eval-every > 0)".into(),
            );
        }
        let r = &self.rollout;
        if r.timesteps == 0 {
            refuse("rollout.timesteps", "must be at least 1".into());
        }
        if r.num_games == 0 {
            refuse("rollout.num_games", "must be at least 1".into());
        }
        if r.rollout_steps == 0 {
            refuse("rollout.rollout_steps", "must be at least 1".into());
        }
        let rows = self.frames_per_update();
        if p.minibatch == 0 {
            refuse("ppo.minibatch", "must be at least 1".into());
        } else if rows > 0 && p.minibatch as u64 > rows {
            refuse(
                "ppo.minibatch",
                format!(
                    "is {} but a rollout holds {rows} rows (rollout.num_games {} × \
                     rollout.rollout_steps {})",
                    p.minibatch, r.num_games, r.rollout_steps
                ),
            );
        }
        if r.max_episode_frames < 0 {
            refuse(
                "rollout.max_episode_frames",
                format!("must be >= 0 (0: no limit), not {}", r.max_episode_frames),
            );
        }
        let o = &r.opponent;
        let named = |prefix: &str| o.strip_prefix(prefix).is_some_and(|n| !n.is_empty());
        if !(o == "self" || named("bot:") || named("policy:")) {
            refuse(
                "rollout.opponent",
                format!("must be self, bot:NAME or policy:RUN, not `{o}`"),
            );
        }
        let w = &self.reward;
        for (key, v) in [
            ("reward.damage", w.damage),
            ("reward.stock", w.stock),
            ("reward.win", w.win),
            ("reward.approach", w.approach),
            ("reward.combo", w.combo),
            ("reward.edge_guard", w.edge_guard),
            ("reward.recovery_risk", w.recovery_risk),
        ] {
            if !v.is_finite() {
                refuse(key, format!("must be a finite number, not {v}"));
            }
        }
        let l = &self.league.weights;
        let ws = [l.current, l.historical, l.scripted];
        if ws.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || ws.iter().sum::<f64>() <= 0.0 {
            refuse(
                "league.weights",
                format!(
                    "must be non-negative with a positive sum, not {}, {}, {}",
                    l.current, l.historical, l.scripted
                ),
            );
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::BadSettings { what: "PPO", bad })
        }
    }
}

/// The keys under `section` (`league`) that the config file or the command line set, by a
/// resolution's `sources`, in key order: the settings a user chose there (a preset's are not).
pub fn chosen_in(sources: &BTreeMap<String, String>, section: &str) -> Vec<String> {
    let prefix = format!("{section}.");
    sources
        .iter()
        .filter(|(k, layer)| {
            (k.starts_with(&prefix) || k.as_str() == section)
                && (layer.as_str() == FROM_FILE || layer.as_str() == FROM_CLI)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_names_a_key_of_the_schema() {
        let schema = ppo_key_schema();
        for f in PPO_FLAGS {
            assert!(
                get_path(&schema, f.key).is_some(),
                "--{}: {}",
                f.name,
                f.key
            );
        }
    }

    #[test]
    fn presets_validate() {
        for p in ppo_presets() {
            let layers = Layers {
                preset: Some(p.name.into()),
                ..Layers::default()
            };
            let r = resolve_ppo(&layers).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            r.config
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        PpoRunConfig::default().validate().unwrap();
    }
}
