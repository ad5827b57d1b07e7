//! The arguments of `exphil ppo` and `exphil selfplay` (clap), and their command-line layer of
//! the PPO run config: only the flags given, through the one flag table
//! [`crate::ppo_config::PPO_FLAGS`] that the config file's flat keys use too.
// The flags are documented by their clap help.
#![allow(missing_docs)]

use crate::args::{finite, finite32, given_flags};
use crate::ppo_config::{ppo_presets, PPO_FLAGS};
use crate::presets::{merge, overlay_from_flags_in, ConfigError, Layers};
use clap::builder::PossibleValuesParser;
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The `--preset` help: every PPO preset with its description.
fn preset_help() -> String {
    let mut help =
        String::from("Start from a preset; the config file and flags override it. Presets:");
    for p in ppo_presets() {
        help.push_str(&format!("\n  {}: {}", p.name, p.description));
    }
    help
}

/// `exphil ppo` arguments (and those `exphil selfplay` shares).
#[derive(Args, Clone, Debug, Default, serde::Serialize)]
pub struct PpoArgs {
    // ------------------------------------------------------------------ Config
    #[arg(
        long,
        value_name = "NAME",
        help = "Start from a preset: quick, standard, gpu (see --help)",
        long_help = preset_help(),
        help_heading = "Config"
    )]
    pub preset: Option<String>,
    /// YAML or JSON config file: the nested config shape (ppo, rollout, reward, league,
    /// device, seed, checkpoint_every) and/or flat flag names (`minibatch: 256`).
    #[arg(long, value_name = "FILE.yaml", help_heading = "Config")]
    pub config: Option<PathBuf>,
    /// Check the config, print it and the plan (games, frames per update, updates, learners),
    /// and stop before training.
    #[arg(long, help_heading = "Config")]
    pub dry_run: bool,
    /// The imitation policy to start from (and the teacher of the KL penalty). Required.
    #[arg(long, value_name = "RUN", help_heading = "Config")]
    pub pretrained: Option<String>,
    /// The new run's name [default: ppo_<pretrained>_<time>].
    #[arg(long, value_name = "NAME", help_heading = "Config")]
    pub name: Option<String>,
    /// Resume a run (its directory or name) from its last checkpoint with its own config:
    /// every learner's weights, optimiser state, counters and history, the Elo table and the
    /// population's snapshots. `--timesteps` is the total to reach; `--pretrained` defaults to
    /// the run's parent. Games in flight when it stopped start afresh.
    #[arg(
        long,
        value_name = "RUN",
        conflicts_with = "name",
        help_heading = "Config"
    )]
    pub resume: Option<String>,
    /// Where runs live [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR", help_heading = "Config")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).[default: cpu].
    #[arg(long, value_name = "DEVICE", help_heading = "Config")]
    pub device: Option<String>,
    /// Seed [default: 0].
    #[arg(long, value_name = "N", help_heading = "Config")]
    pub seed: Option<u64>,
    /// Save the weights every this many updates (and at the end) [default: 10].
    #[arg(long, value_name = "N", help_heading = "Config")]
    pub checkpoint_every: Option<u64>,
    /// Evaluate the learner every this many updates (and at the end) against its imitation
    /// base and every scripted bot; the weights with the best worst-case win rate become the
    /// run's policy (0: no evaluations, the run's policy is its last weights) [default: 0].
    #[arg(long, value_name = "N", help_heading = "Config")]
    pub eval_every: Option<u64>,
    /// Games against each opponent per evaluation, over the six stages [default: 24].
    #[arg(long, value_name = "N", help_heading = "Config")]
    pub eval_games: Option<u32>,
    /// Testing: corrupt one game every N frames (it must be replaced, and learning go on).
    #[arg(long, hide = true, value_name = "N")]
    pub fault_every: Option<u64>,

    // ------------------------------------------------------------------ Rollouts
    /// Environment frames to learn from (the learner's frames) [default: 100000].
    #[arg(long, value_name = "N", help_heading = "Rollouts")]
    pub timesteps: Option<u64>,
    /// Games stepped together [default: 64].
    #[arg(long, value_name = "N", help_heading = "Rollouts")]
    pub num_games: Option<usize>,
    /// Frames per game in each rollout [default: 128].
    #[arg(long, value_name = "T", help_heading = "Rollouts")]
    pub rollout_steps: Option<usize>,
    /// End each game after this many frames from GO (keeps episodes short) [default: 3600].
    #[arg(long, value_name = "N", help_heading = "Rollouts")]
    pub max_episode_frames: Option<i32>,
    /// Who the learner plays: `self` (its current weights), `bot:NAME` (idle, random, rule),
    /// or `policy:RUN` (a fixed policy) [default: bot:rule].
    #[arg(long, value_name = "WHO", help_heading = "Rollouts")]
    pub opponent: Option<String>,
    /// The stage (fd, bf, ys, dl, fod, ps), or `random` per game [default: random].
    #[arg(long, value_name = "NAME", help_heading = "Rollouts")]
    pub stage: Option<String>,
    /// The learner's character [default: the policy's, when the simulator has it; else fox].
    #[arg(long, value_name = "NAME", help_heading = "Rollouts")]
    pub character: Option<String>,
    /// The opponent's character [default: the learner's].
    #[arg(long, value_name = "NAME", help_heading = "Rollouts")]
    pub opponent_character: Option<String>,

    // ------------------------------------------------------------------ Update
    /// Epochs over each rollout [default: 4].
    #[arg(long, value_name = "N", help_heading = "Update")]
    pub ppo_epochs: Option<usize>,
    /// Rows per minibatch [default: 1024].
    #[arg(long, value_name = "N", help_heading = "Update")]
    pub minibatch: Option<usize>,
    /// Surrogate clip ε [default: 0.2].
    #[arg(long, value_name = "EPS", value_parser = finite, help_heading = "Update")]
    pub clip_epsilon: Option<f64>,
    /// Clip the value loss around the old values [default].
    #[arg(long, overrides_with = "no_value_clip", help_heading = "Update")]
    pub value_clip: bool,
    /// Do not clip the value loss.
    #[arg(long, overrides_with = "value_clip", help_heading = "Update")]
    pub no_value_clip: bool,
    /// GAE λ [default: 0.95].
    #[arg(long, value_name = "L", value_parser = finite, help_heading = "Update")]
    pub gae_lambda: Option<f64>,
    /// Discount γ [default: 0.99].
    #[arg(long, value_name = "G", value_parser = finite, help_heading = "Update")]
    pub gamma: Option<f64>,
    /// Learning rate [default: 3e-4].
    #[arg(long, value_name = "LR", value_parser = finite, help_heading = "Update")]
    pub lr: Option<f64>,
    /// Decay the learning rate linearly from `--lr` toward 0 over `--timesteps`.
    #[arg(long, help_heading = "Update")]
    pub anneal_lr: bool,
    /// Entropy bonus weight [default: 0.01].
    #[arg(long, value_name = "W", value_parser = finite, help_heading = "Update")]
    pub entropy_coef: Option<f64>,
    /// Value loss weight [default: 0.5].
    #[arg(long, value_name = "W", value_parser = finite, help_heading = "Update")]
    pub value_coef: Option<f64>,
    /// KL penalty toward the imitation policy (the teacher weight; 0 turns it off)
    /// [default: 0.1].
    #[arg(long, value_name = "W", value_parser = finite, help_heading = "Update")]
    pub teacher_kl: Option<f64>,
    /// Global gradient-norm clip [default: 0.5].
    #[arg(long, value_name = "N", value_parser = finite, help_heading = "Update")]
    pub max_grad_norm: Option<f64>,

    // ------------------------------------------------------------------ Reward
    /// Reward per percent of damage dealt (minus damage taken) [default: 0.01].
    #[arg(long, value_name = "R", value_parser = finite32, help_heading = "Reward")]
    pub damage_reward: Option<f32>,
    /// Reward per stock taken (minus stocks lost) [default: 1].
    #[arg(long, value_name = "R", value_parser = finite32, help_heading = "Reward")]
    pub stock_reward: Option<f32>,
    /// Reward for winning a game (minus for losing one): the sparse reward [default: 0].
    #[arg(long, value_name = "R", value_parser = finite32, help_heading = "Reward")]
    pub win_reward: Option<f32>,
    /// Shaping: weight of closing the distance to the opponent (per 3 units a frame)
    /// [default: 0].
    #[arg(long, value_name = "W", value_parser = finite32, help_heading = "Reward")]
    pub approach_reward: Option<f32>,
    /// Shaping: weight of hits that start or extend hitstun, and of keeping it going
    /// [default: 0].
    #[arg(long, value_name = "W", value_parser = finite32, help_heading = "Reward")]
    pub combo_reward: Option<f32>,
    /// Shaping: weight of hitting an off-stage opponent while on stage [default: 0].
    #[arg(long, value_name = "W", value_parser = finite32, help_heading = "Reward")]
    pub edge_guard_reward: Option<f32>,
    /// Shaping: weight of the per-frame penalty for being off-stage (by how far out and
    /// down) [default: 0].
    #[arg(long, value_name = "W", value_parser = finite32, help_heading = "Reward")]
    pub recovery_risk: Option<f32>,
}

/// The population and league flags of `exphil selfplay`.
#[derive(Args, Clone, Debug, Default, serde::Serialize)]
pub struct LeagueArgs {
    /// Historical snapshots kept in the population [default: 5].
    #[arg(long, value_name = "K", help_heading = "Self-play")]
    pub history: Option<usize>,
    /// Sampling weights of the current learner, historical snapshots and scripted bots
    /// [default: 0.5,0.3,0.2].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "C,H,S",
        value_parser = finite,
        help_heading = "Self-play"
    )]
    pub weights: Vec<f64>,
    /// Scripted bots in the population, drawn uniformly when a game draws a bot; a bot listed
    /// k times comes k times as often (`rule,rule,random`) [default: rule,random].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "BOT,BOT",
        help_heading = "Self-play"
    )]
    pub scripted: Vec<String>,
    /// How snapshots are drawn: `pfsp` (the ones the learner beats least, most often) or
    /// `uniform` [default: pfsp].
    #[arg(
        long,
        value_name = "HOW",
        value_parser = PossibleValuesParser::new(["pfsp", "uniform"]),
        help_heading = "Self-play"
    )]
    pub sampling: Option<String>,
    /// Take a snapshot of the learner every this many updates [default: 5].
    #[arg(long, value_name = "N", help_heading = "Self-play")]
    pub snapshot_every: Option<u64>,
    /// Print the Elo table after every update.
    #[arg(long, help_heading = "Self-play")]
    pub track_elo: bool,
    /// League mode (AlphaStar): main exploiters trained beside the main agent, each playing
    /// only the current main agent and starting over once it beats it in 70% of games
    /// [default: 0].
    #[arg(long, value_name = "N", help_heading = "Self-play")]
    pub main_exploiters: Option<usize>,
    /// League mode: league exploiters, each playing every snapshot of the league by
    /// prioritised fictitious self-play and starting over with probability 1/4 per snapshot
    /// [default: 0].
    #[arg(long, value_name = "N", help_heading = "Self-play")]
    pub league_exploiters: Option<usize>,
    /// League mode with one main exploiter and one league exploiter (unless given).
    #[arg(long, help_heading = "Self-play")]
    pub league: bool,
}

impl PpoArgs {
    /// The command-line layer of the config: only the flags given, at their config keys.
    pub fn overlay(&self) -> Result<Value, ConfigError> {
        overlay_from_flags_in(
            PPO_FLAGS,
            "the command line",
            given_flags(self, PPO_FLAGS, &[])?,
        )
    }

    /// The config layers of these arguments, with `league`'s flags (self-play) on the command
    /// line's layer. No environment: PPO has no environment layer.
    pub fn layers(&self, league: Option<&LeagueArgs>) -> Result<Layers, ConfigError> {
        let mut cli = self.overlay()?;
        if let Some(l) = league {
            merge(&mut cli, &l.overlay()?);
        }
        Ok(Layers {
            preset: self.preset.clone(),
            file: self.config.clone(),
            env: Default::default(),
            cli,
        })
    }
}

impl LeagueArgs {
    /// The command-line layer of the league settings: only the flags given.
    pub fn overlay(&self) -> Result<Value, ConfigError> {
        const SPECIAL: [&str; 3] = ["weights", "main-exploiters", "league-exploiters"];
        let mut given = given_flags(self, PPO_FLAGS, &SPECIAL)?;
        if !self.weights.is_empty() {
            let [current, historical, scripted] = self.weights[..] else {
                return Err(ConfigError::Value {
                    origin: "the command line".into(),
                    key: "--weights".into(),
                    message: "takes three numbers: current,historical,scripted".into(),
                });
            };
            given.push((
                "weights",
                json!({"current": current, "historical": historical, "scripted": scripted}),
            ));
        }
        // --league: one exploiter of each kind unless their numbers are given.
        let one = |n: Option<usize>| n.or(self.league.then_some(1));
        for (name, n) in [
            ("main-exploiters", one(self.main_exploiters)),
            ("league-exploiters", one(self.league_exploiters)),
        ] {
            if let Some(n) = n {
                given.push((name, json!(n)));
            }
        }
        overlay_from_flags_in(PPO_FLAGS, "the command line", given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::find_flag_in;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ppo: PpoArgs,
        #[command(flatten)]
        league: LeagueArgs,
    }

    /// Flags that are not config settings.
    const NOT_SETTINGS: [&str; 9] = [
        "preset",
        "config",
        "dry-run",
        "pretrained",
        "name",
        "resume",
        "checkpoints",
        "fault-every",
        "league",
    ];

    #[test]
    fn every_setting_flag_is_in_the_table_and_sets_its_key() {
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if NOT_SETTINGS.contains(&long) {
                continue;
            }
            let base = long.strip_prefix("no-").unwrap_or(long);
            assert!(find_flag_in(PPO_FLAGS, base).is_some(), "--{long}");
        }
        for f in PPO_FLAGS {
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(f.name)),
                "--{} has no clap flag",
                f.name
            );
        }
    }

    #[test]
    fn only_the_flags_given_make_the_overlay() {
        let parse = |argv: &[&str]| {
            let c =
                Cli::try_parse_from(std::iter::once("ppo").chain(argv.iter().copied())).unwrap();
            let mut o = c.ppo.overlay().unwrap();
            merge(&mut o, &c.league.overlay().unwrap());
            o
        };
        assert_eq!(parse(&[]), json!({}));
        assert_eq!(
            parse(&[
                "--minibatch",
                "256",
                "--no-value-clip",
                "--recovery-risk",
                "0.5"
            ]),
            json!({"ppo": {"minibatch": 256, "clip_value": false},
                   "reward": {"recovery_risk": 0.5}})
        );
        assert_eq!(
            parse(&["--league", "--main-exploiters", "2", "--weights", "1,0,0"]),
            json!({"league": {"main_exploiters": 2, "league_exploiters": 1,
                   "weights": {"current": 1.0, "historical": 0.0, "scripted": 0.0}}})
        );
        let c = Cli::try_parse_from(["ppo", "--weights", "1,2"]).unwrap();
        assert!(c
            .league
            .overlay()
            .unwrap_err()
            .to_string()
            .contains("three numbers"));
        assert!(Cli::try_parse_from(["ppo", "--lr", "nan"]).is_err());
    }
}
