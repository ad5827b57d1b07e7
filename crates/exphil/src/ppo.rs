//! `exphil ppo`: improves an imitation policy by proximal policy optimisation in the simulator.
//! Rollouts step many games at once with one batched model step per frame; the learner plays
//! seat 1 of every game against `--opponent` (itself, a scripted bot, or another policy). A game
//! that fails is replaced and its transition ends the episode; the learner never stops for it.
//! The result is a run directory like `exphil train`'s, so every other command reads it.

use crate::agent::BatchedPolicy;
use crate::eval::{checkpoints_dir, policy_path};
use anyhow::{bail, Context, Result};
use burn::module::Module;
use clap::Args;
use exphil_dataset::LiveGame;
use exphil_embed::Embedder;
use exphil_policy::{params, PolicyInput, Sampling, TargetBatch};
use exphil_runs::checkpoint::rfc3339_utc;
use exphil_runs::config::OptimConfig;
use exphil_sim::{bot, Batch, Bot, Fighter, Game, Stage, BOT_NAMES, STAGES};
use exphil_state::{Controller, GameState};
use exphil_train::model_file::{load_policy, read_weights};
use exphil_train::optim::Optimizer;
use exphil_train::ppo::{update, PpoConfig, Rollout, UpdateStats};
use exphil_train::trainer::device_of;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

/// `exphil ppo` arguments.
#[derive(Args, Debug)]
pub struct PpoArgs {
    /// The imitation policy to start from (and the teacher of the KL penalty).
    #[arg(long, value_name = "RUN")]
    pub pretrained: String,
    /// Environment frames to learn from (the learner's frames).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub timesteps: u64,
    /// Games stepped together.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub num_games: usize,
    /// Frames per game in each rollout.
    #[arg(long, default_value_t = 128, value_name = "T")]
    pub rollout_steps: usize,
    /// Epochs over each rollout.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub ppo_epochs: usize,
    /// Rows per minibatch.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub minibatch: usize,
    /// Surrogate clip ε.
    #[arg(long, default_value_t = 0.2, value_name = "EPS")]
    pub clip_epsilon: f64,
    /// Do not clip the value loss.
    #[arg(long)]
    pub no_value_clip: bool,
    /// GAE λ.
    #[arg(long, default_value_t = 0.95, value_name = "L")]
    pub gae_lambda: f64,
    /// Discount γ.
    #[arg(long, default_value_t = 0.99, value_name = "G")]
    pub gamma: f64,
    /// Learning rate.
    #[arg(long, default_value_t = 3e-4, value_name = "LR")]
    pub lr: f64,
    /// Entropy bonus weight.
    #[arg(long, default_value_t = 0.01, value_name = "W")]
    pub entropy_coef: f64,
    /// Value loss weight.
    #[arg(long, default_value_t = 0.5, value_name = "W")]
    pub value_coef: f64,
    /// KL penalty toward the imitation policy (the teacher weight; 0 turns it off).
    #[arg(long, default_value_t = 0.1, value_name = "W")]
    pub teacher_kl: f64,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 0.5, value_name = "N")]
    pub max_grad_norm: f64,
    /// Who the learner plays: `self` (its current weights), `bot:NAME` (idle, random, rule),
    /// or `policy:RUN` (a fixed policy).
    #[arg(long, default_value = "bot:rule", value_name = "WHO")]
    pub opponent: String,
    /// Reward per percent of damage dealt (minus damage taken).
    #[arg(long, default_value_t = 0.01, value_name = "R")]
    pub damage_reward: f32,
    /// Reward per stock taken (minus stocks lost).
    #[arg(long, default_value_t = 1.0, value_name = "R")]
    pub stock_reward: f32,
    /// End each game after this many frames from GO (keeps episodes short).
    #[arg(long, default_value_t = 3600, value_name = "N")]
    pub max_episode_frames: i32,
    /// The stage (fd, bf, ys, dl, fod, ps), or `random` per game.
    #[arg(long, default_value = "random", value_name = "NAME")]
    pub stage: String,
    /// The learner's character [default: the policy's, when the simulator has it; else fox].
    #[arg(long, value_name = "NAME")]
    pub character: Option<String>,
    /// The opponent's character [default: the learner's].
    #[arg(long, value_name = "NAME")]
    pub opponent_character: Option<String>,
    /// The new run's name [default: ppo_<pretrained>_<time>].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Save the weights every this many updates (and at the end).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub checkpoint_every: u64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where runs live [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Testing: corrupt one game every N frames (it must be replaced, and learning go on).
    #[arg(long, hide = true, value_name = "N")]
    pub fault_every: Option<u64>,
}

/// The opponent seat of every game.
enum Opponent {
    Bots(Vec<Box<dyn Bot>>),
    Policy(Box<BatchedPolicy>),
    /// The learner's current weights.
    Learner(Box<BatchedPolicy>),
}

fn fighter(name: &str) -> Result<&'static Fighter> {
    Fighter::parse(name).with_context(|| {
        let have: Vec<&str> = exphil_sim::FIGHTERS
            .iter()
            .filter_map(|f| f.character.name())
            .collect();
        format!("the simulator has no {name:?}; it has {}", have.join(", "))
    })
}

/// The learner's embedding state per game.
struct Seats {
    embedder: Embedder,
    live: Vec<LiveGame>,
    delay: u8,
}

impl Seats {
    /// Embeds each game's view into `f`/`ids`; `commit`: remember the frame in the history.
    fn embed(
        &mut self,
        views: &[GameState],
        nf: usize,
        ni: usize,
        commit: bool,
    ) -> (Vec<f32>, Vec<u32>) {
        let n = views.len();
        let mut f = vec![0f32; n * nf];
        let mut ids = vec![0u32; n * ni];
        for (i, v) in views.iter().enumerate() {
            let mut scratch;
            let live = if commit {
                &mut self.live[i]
            } else {
                scratch = self.live[i].clone();
                &mut scratch
            };
            let fi = &mut f[i * nf..(i + 1) * nf];
            if live
                .embed(
                    &self.embedder,
                    v,
                    self.delay,
                    0,
                    fi,
                    &mut ids[i * ni..(i + 1) * ni],
                )
                .is_err()
            {
                for x in fi.iter_mut() {
                    *x = if x.is_finite() {
                        x.clamp(-1e4, 1e4)
                    } else {
                        0.0
                    };
                }
            }
        }
        (f, ids)
    }
}

/// Runs `exphil ppo`.
pub fn run(a: PpoArgs) -> Result<ExitCode> {
    if a.num_games == 0 || a.rollout_steps == 0 {
        bail!("--num-games and --rollout-steps must be at least 1");
    }
    let base = device_of(&a.device)?;
    let device = base.clone().autodiff();
    device.seed(a.seed);
    let dir = checkpoints_dir(&a.checkpoints);
    let path = policy_path(&dir, &a.pretrained)?;
    let loaded =
        load_policy(&path, &device).with_context(|| format!("loading {}", a.pretrained))?;
    if loaded.policy.backbone.window() > 1
        || !matches!(loaded.policy.backbone, exphil_policy::Backbone::Mlp(_))
    {
        bail!(
            "{} is {}: PPO with recurrent and temporal policies (carried state through rollouts) \
             is not built yet; start from an MLP run",
            a.pretrained,
            loaded.config.backbone.describe()
        );
    }
    let weights = read_weights(&path).with_context(|| format!("reading {}", path.display()))?;
    // PPO compares log-probabilities of the same actions before and after an update: the
    // learner and the teacher run without dropout.
    let mut cfg0 = loaded.config.clone();
    if let exphil_runs::config::BackboneConfig::Mlp(m) = &mut cfg0.backbone {
        m.dropout = 0.0;
    }
    let pos_weight = loaded.policy.button_offsets().map(f32::exp);
    let fresh = || {
        exphil_policy::Policy::new(&cfg0, &loaded.spec, &device).with_button_pos_weight(&pos_weight)
    };
    let learner = params::import(fresh(), &weights.tensors)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let teacher = params::import(fresh(), &weights.tensors)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let learner_fighter = match &a.character {
        Some(c) => fighter(c)?,
        None => crate::serve::trained_characters(&loaded)
            .iter()
            .find_map(|n| Fighter::parse(n))
            .unwrap_or(&exphil_sim::FIGHTERS[0]),
    };
    let opp_fighter = match &a.opponent_character {
        Some(c) => fighter(c)?,
        None => learner_fighter,
    };
    let fixed_stage = if a.stage.eq_ignore_ascii_case("random") {
        None
    } else {
        Some(
            Stage::parse(&a.stage)
                .with_context(|| format!("{:?} is not a legal stage", a.stage))?,
        )
    };
    let n = a.num_games;
    let delay = loaded.frame_delay();
    let mut opponent = if let Some(name) = a.opponent.strip_prefix("bot:") {
        let bots = (0..n)
            .map(|i| bot(name, a.seed * 7919 + i as u64))
            .collect::<Option<Vec<_>>>()
            .with_context(|| {
                format!(
                    "unknown bot {name:?}; the bots are {}",
                    BOT_NAMES.join(", ")
                )
            })?;
        Opponent::Bots(bots)
    } else if let Some(run) = a.opponent.strip_prefix("policy:") {
        let p = policy_path(&dir, run)?;
        let l = load_policy(&p, &base).with_context(|| format!("loading {run}"))?;
        let d = l.frame_delay();
        Opponent::Policy(Box::new(BatchedPolicy::new(
            l,
            base.clone(),
            Sampling::Temperature(1.0),
            d,
            n,
            a.seed + 1,
        )?))
    } else if a.opponent == "self" {
        let l = load_policy(&path, &base)?;
        Opponent::Learner(Box::new(BatchedPolicy::new(
            l,
            base.clone(),
            Sampling::Temperature(1.0),
            delay,
            n,
            a.seed + 1,
        )?))
    } else {
        bail!(
            "--opponent {:?}: expected self, bot:NAME or policy:RUN",
            a.opponent
        );
    };
    let name = a.name.clone().unwrap_or_else(|| {
        let t = rfc3339_utc(SystemTime::now()).replace([':', '-'], "");
        format!("ppo_{}_{}", loaded.name(), &t[..15.min(t.len())])
    });
    let run_dir = dir.join(&name);
    if run_dir.exists() {
        bail!("{} exists; choose another --name", run_dir.display());
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let cfg = PpoConfig {
        gamma: a.gamma,
        gae_lambda: a.gae_lambda,
        clip_epsilon: a.clip_epsilon,
        clip_value: !a.no_value_clip,
        value_coef: a.value_coef,
        entropy_coef: a.entropy_coef,
        teacher_kl: a.teacher_kl,
        epochs: a.ppo_epochs,
        minibatch: a.minibatch,
        lr: a.lr,
        max_grad_norm: a.max_grad_norm,
        normalize_advantages: true,
    };
    eprintln!(
        "exphil ppo: {} ({}) as {} against {} ({}), {} games × {} frames per rollout, {} timesteps → {}",
        a.pretrained,
        loaded.config.backbone.describe(),
        learner_fighter.character.name().unwrap_or("?"),
        a.opponent,
        opp_fighter.character.name().unwrap_or("?"),
        n,
        a.rollout_steps,
        a.timesteps,
        run_dir.display()
    );
    let spec = loaded.spec.clone();
    let (nf, ni) = (spec.features, spec.ids);
    let embedder = Embedder::new(loaded.embed.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seats = Seats {
        embedder,
        live: vec![LiveGame::new(); n],
        delay,
    };
    let mut stage_rng = exphil_sim::Rng::new(a.seed);
    let frame_limit = a.max_episode_frames;
    let fighters = [learner_fighter, opp_fighter];
    let mut stage_of =
        move || fixed_stage.unwrap_or_else(|| &STAGES[(stage_rng.next_u64() % 6) as usize]);
    let first: Vec<&'static Stage> = (0..n).map(|_| stage_of()).collect();
    let mut batch = Batch::new(n, move |slot| {
        let mut g = Game::new(first[slot % first.len()], fighters);
        g.frame_limit = frame_limit;
        // The countdown teaches nothing: start at GO.
        while g.frame < 0 {
            g.step([Controller::NEUTRAL; 2]);
        }
        g
    });
    let coder = exphil_embed::TargetCoder::new(loaded.targets.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut policy = learner;
    let inner = device.clone().inner();
    let mut optim = Optimizer::new(&OptimConfig {
        lr: a.lr,
        ..OptimConfig::default()
    });
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut steps_done = 0u64;
    let mut updates = 0u64;
    let mut history: Vec<serde_json::Value> = Vec::new();
    let (mut wins, mut losses, mut episodes) = (0u64, 0u64, 0u64);
    let mut episode_return = vec![0f32; n];
    let mut returns_done: Vec<f32> = Vec::new();
    let started = Instant::now();
    let mut faults_seen = 0usize;
    let mut frame_count = 0u64;
    let meta = weights.metadata.clone();
    let save = |policy: &exphil_policy::Policy,
                status: &str,
                history: &[serde_json::Value],
                steps: u64|
     -> Result<()> {
        let tensors = params::export(policy);
        let bytes =
            exphil_runs::tensors::encode_tensors(Path::new("model.safetensors"), &tensors, &meta)?;
        exphil_runs::io::write_atomic(&run_dir.join("model.safetensors"), &bytes)?;
        let mut v = match loaded_config_json(&weights.run_dir) {
            Some(v) => v,
            None => serde_json::json!({}),
        };
        v["timestamp"] = rfc3339_utc(SystemTime::now()).into();
        v["created_at"] = v
            .get("ppo_created_at")
            .cloned()
            .unwrap_or_else(|| rfc3339_utc(SystemTime::now()).into());
        v["status"] = status.into();
        v["process"] = serde_json::Value::Null;
        v["training_type"] = "ppo".into();
        v["parent"] = weights
            .run_dir
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .into();
        v["resumes"] = serde_json::json!([]);
        v["ppo"] = serde_json::json!({
            "config": cfg,
            "opponent": a.opponent,
            "characters": [learner_fighter.character.name(), opp_fighter.character.name()],
            "timesteps": steps,
            "damage_reward": a.damage_reward,
            "stock_reward": a.stock_reward,
            "max_episode_frames": a.max_episode_frames,
            "history": history,
        });
        v["results"] = history.last().cloned().unwrap_or(serde_json::Value::Null);
        exphil_runs::io::write_atomic(
            &run_dir.join("config.json"),
            &serde_json::to_vec_pretty(&v)?,
        )?;
        Ok(())
    };
    save(&policy, "running", &history, 0)?;
    while steps_done < a.timesteps {
        let mut r = Rollout {
            envs: n,
            ..Rollout::default()
        };
        let mut fresh_controllers = vec![Controller::NEUTRAL; n];
        // The acting copy: the learner's weights without the autodiff graph.
        let actor = policy.valid();
        for _ in 0..a.rollout_steps {
            frame_count += 1;
            if let Some(k) = a.fault_every {
                if k > 0 && frame_count.is_multiple_of(k) {
                    let slot = (frame_count / k) as usize % n;
                    batch.games[slot].players[0].y = f32::NAN;
                }
            }
            let views: Vec<GameState> = batch.games.iter().map(|g| g.view(0)).collect();
            let (f, ids) = seats.embed(&views, nf, ni, true);
            let input = PolicyInput::new(&spec, &f, &ids, n, &inner);
            let acted = actor.act(&input, Sampling::Temperature(1.0), &mut rng);
            let mut acts = Vec::with_capacity(n * 6);
            for t in &acted {
                acts.extend([
                    t.buttons.0 as u16,
                    t.main_x,
                    t.main_y,
                    t.c_x,
                    t.c_y,
                    t.shoulder,
                ]);
            }
            let ev = actor.evaluate_actions(&input, &TargetBatch::new(n, &acts, &inner));
            let lp = params::tensor_values(&ev.log_prob);
            let vals = params::tensor_values(&ev.values);
            for (c, t) in fresh_controllers.iter_mut().zip(&acted) {
                *c = coder.decode(t);
            }
            let theirs: Vec<Controller> = match &mut opponent {
                Opponent::Bots(bots) => batch
                    .games
                    .iter()
                    .zip(bots.iter_mut())
                    .map(|(g, b)| b.act(&g.view(1)))
                    .collect(),
                Opponent::Policy(p) | Opponent::Learner(p) => {
                    let v: Vec<GameState> = batch.games.iter().map(|g| g.view(1)).collect();
                    let rows: Vec<(usize, &GameState)> = v.iter().enumerate().collect();
                    p.act(&rows)
                }
            };
            let inputs: Vec<[Controller; 2]> = fresh_controllers
                .iter()
                .zip(theirs)
                .map(|(m, t)| [*m, t])
                .collect();
            let stepped = batch.step(&inputs);
            for (slot, s) in stepped.iter().enumerate() {
                let i = s.info;
                let mut rew = a.damage_reward * (i.damage_dealt[0] - i.damage_dealt[1]);
                if i.stock_lost[1] {
                    rew += a.stock_reward;
                }
                if i.stock_lost[0] {
                    rew -= a.stock_reward;
                }
                let done = s.replaced || i.outcome.is_some();
                episode_return[slot] += rew;
                r.rewards.push(rew);
                r.done.push(done);
                if let Some(o) = i.outcome {
                    episodes += 1;
                    match o.winner {
                        Some(0) => wins += 1,
                        Some(_) => losses += 1,
                        None => {}
                    }
                }
                if done {
                    if !s.replaced {
                        batch.restart(slot);
                    }
                    returns_done.push(episode_return[slot]);
                    episode_return[slot] = 0.0;
                    seats.live[slot].reset();
                    if let Opponent::Policy(p) | Opponent::Learner(p) = &mut opponent {
                        p.reset(slot);
                    }
                }
            }
            r.features.extend_from_slice(&f);
            r.ids.extend_from_slice(&ids);
            r.actions.extend_from_slice(&acts);
            r.log_prob.extend_from_slice(&lp);
            r.values.extend_from_slice(&vals);
            steps_done += n as u64;
        }
        for fault in &batch.faults[faults_seen..] {
            eprintln!(
                "exphil ppo: game in slot {} failed on frame {} ({}); replaced (its episode ends there)",
                fault.slot, fault.frame, fault.error
            );
        }
        faults_seen = batch.faults.len();
        // Bootstrap from the states after the last step.
        let views: Vec<GameState> = batch.games.iter().map(|g| g.view(0)).collect();
        let (f, ids) = seats.embed(&views, nf, ni, false);
        let input = PolicyInput::new(&spec, &f, &ids, n, &inner);
        let last = params::tensor_values(&actor.values(&input));
        let t0 = Instant::now();
        let (p, stats) = update(
            policy,
            Some(&teacher),
            &mut optim,
            &cfg,
            &spec,
            &r,
            &last,
            &device,
            &mut rng,
        );
        policy = p;
        updates += 1;
        if let Opponent::Learner(o) = &mut opponent {
            o.set_policy(policy.valid());
        }
        let secs = started.elapsed().as_secs_f64();
        let mean_return = if returns_done.is_empty() {
            f32::NAN
        } else {
            returns_done.iter().sum::<f32>() / returns_done.len() as f32
        };
        let UpdateStats {
            policy_loss,
            value_loss,
            entropy,
            teacher_kl,
            approx_kl,
            clip_fraction,
            skipped,
            ..
        } = stats.clone();
        eprintln!(
            "update {updates}: {steps_done}/{} frames ({:.0}/s; update {:.1} s), episodes {episodes} \
             (won {wins}, lost {losses}), return/episode {mean_return:.2}, policy {policy_loss:.3}, \
             value {value_loss:.3}, entropy {entropy:.2}, KL teacher {teacher_kl:.3}, approx KL \
             {approx_kl:.4}, clipped {:.0}%{}",
            a.timesteps,
            steps_done as f64 / secs,
            t0.elapsed().as_secs_f64(),
            clip_fraction * 100.0,
            if skipped > 0 { format!(", {skipped} minibatches skipped (non-finite)") } else { String::new() }
        );
        history.push(serde_json::json!({
            "update": updates, "timesteps": steps_done, "seconds": secs,
            "frames_per_second": steps_done as f64 / secs,
            "episodes": episodes, "wins": wins, "losses": losses,
            "mean_return": if mean_return.is_finite() { Some(mean_return) } else { None },
            "failed_games": batch.faults.len(),
            "stats": stats,
        }));
        returns_done.clear();
        if a.checkpoint_every > 0 && updates.is_multiple_of(a.checkpoint_every) {
            save(&policy, "running", &history, steps_done)?;
        }
    }
    save(&policy, "completed", &history, steps_done)?;
    if let Err(e) = exphil_runs::models::register_run(&dir, &run_dir) {
        eprintln!("exphil ppo: warning: the registry was not updated: {e}");
    }
    println!(
        "exphil ppo: {} updates, {steps_done} frames in {:.1} s ({:.0} frames/s); {episodes} episodes \
         (won {wins}, lost {losses}); {} games failed and were replaced; saved {}",
        updates,
        started.elapsed().as_secs_f64(),
        steps_done as f64 / started.elapsed().as_secs_f64(),
        batch.faults.len(),
        run_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The pretrained run's `config.json`, when it has a run directory.
fn loaded_config_json(run_dir: &Option<PathBuf>) -> Option<serde_json::Value> {
    run_dir
        .as_ref()
        .and_then(|d| exphil_runs::models::read_json(&d.join("config.json")).ok())
}
