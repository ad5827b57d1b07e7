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
    /// The imitation policy to start from (and the teacher of the KL penalty). Required.
    #[arg(long, value_name = "RUN")]
    pub pretrained: Option<String>,
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

/// Who plays seat 2 of a game.
#[derive(Clone, Debug, PartialEq)]
enum Member {
    /// A scripted bot.
    Bot(String),
    /// A policy of the pool, by name.
    Policy(String),
}

/// The opponents: policies (each answering for the games assigned to it, in one batched step)
/// and scripted bots, one member per game.
struct Pool {
    policies: Vec<(String, BatchedPolicy)>,
    /// The name of the policy that mirrors the learner's latest weights, if any.
    mirror: Option<String>,
    assign: Vec<Member>,
    bots: Vec<Option<Box<dyn Bot>>>,
    seed: u64,
}

impl Pool {
    fn new(n: usize, seed: u64) -> Pool {
        Pool {
            policies: Vec::new(),
            mirror: None,
            assign: vec![Member::Bot("idle".into()); n],
            bots: (0..n).map(|_| None).collect(),
            seed,
        }
    }

    /// Game `slot` (starting afresh) is played by `m`.
    fn assign(&mut self, slot: usize, m: Member) {
        self.seed = self.seed.wrapping_add(1);
        self.bots[slot] = match &m {
            Member::Bot(name) => bot(name, self.seed ^ slot as u64),
            Member::Policy(_) => None,
        };
        if let Member::Policy(name) = &m {
            if let Some((_, p)) = self.policies.iter_mut().find(|(n, _)| n == name) {
                p.reset(slot);
            }
        }
        self.assign[slot] = m;
    }

    /// The name a member is rated under.
    fn name(&self, slot: usize) -> String {
        match &self.assign[slot] {
            Member::Bot(b) => format!("bot:{b}"),
            Member::Policy(p) => p.clone(),
        }
    }

    /// Seat 2's controller in every game.
    fn act(&mut self, games: &[Game]) -> Vec<Controller> {
        let views: Vec<GameState> = games.iter().map(|g| g.view(1)).collect();
        let mut out = vec![Controller::NEUTRAL; games.len()];
        for (slot, v) in views.iter().enumerate() {
            if let Some(b) = self.bots[slot].as_mut() {
                out[slot] = b.act(v);
            }
        }
        for (name, p) in self.policies.iter_mut() {
            let rows: Vec<(usize, &GameState)> = views
                .iter()
                .enumerate()
                .filter(|(slot, _)| matches!(&self.assign[*slot], Member::Policy(m) if m == name))
                .collect();
            if rows.is_empty() {
                continue;
            }
            for ((slot, _), c) in rows.iter().zip(p.act(&rows)) {
                out[*slot] = c;
            }
        }
        out
    }
}

/// Self-play settings (`exphil selfplay`): opponents drawn from a population.
pub struct League {
    /// The population.
    pub population: exphil_sim::league::Population,
    /// Take a snapshot of the learner every this many updates.
    pub snapshot_every: u64,
    /// Print the Elo table after each update.
    pub track_elo: bool,
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
            live.embed_cleaned(
                &self.embedder,
                v,
                self.delay,
                0,
                &mut f[i * nf..(i + 1) * nf],
                &mut ids[i * ni..(i + 1) * ni],
            );
        }
        (f, ids)
    }
}

/// Runs `exphil ppo`.
pub fn run(a: PpoArgs) -> Result<ExitCode> {
    train(&a, None)
}

/// PPO against `a.opponent`, or (with a league) against opponents drawn from a population.
pub fn train(a: &PpoArgs, league: Option<League>) -> Result<ExitCode> {
    let what = if league.is_some() {
        "exphil selfplay"
    } else {
        "exphil ppo"
    };
    let Some(pretrained) = a.pretrained.as_deref() else {
        bail!("{what} needs --pretrained RUN: the imitation policy to start from");
    };
    if a.num_games == 0 || a.rollout_steps == 0 {
        bail!("--num-games and --rollout-steps must be at least 1");
    }
    let base = device_of(&a.device)?;
    let device = base.clone().autodiff();
    device.seed(a.seed);
    let dir = checkpoints_dir(&a.checkpoints);
    let path = policy_path(&dir, pretrained)?;
    let loaded = load_policy(&path, &device).with_context(|| format!("loading {pretrained}"))?;
    if loaded.policy.backbone.window() > 1
        || !matches!(loaded.policy.backbone, exphil_policy::Backbone::Mlp(_))
    {
        bail!(
            "{} is {}: PPO with recurrent and temporal policies (carried state through rollouts) \
             is not built yet; start from an MLP run",
            pretrained,
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
    // The teacher only answers questions: it lives without autodiff.
    let teacher = params::import(fresh(), &weights.tensors)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .valid();
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
    let new_policy = |l: exphil_train::model_file::LoadedPolicy, seed: u64| {
        let d = l.frame_delay();
        BatchedPolicy::new(l, base.clone(), Sampling::Temperature(1.0), d, n, seed)
    };
    let mut pool = Pool::new(n, a.seed * 7919);
    let mut rng_league = exphil_sim::Rng::new(a.seed ^ 0x5e1f);
    if league.is_some() {
        // The learner's mirror; snapshots join as they are taken.
        pool.policies.push((
            "current".into(),
            new_policy(load_policy(&path, &base)?, a.seed + 1)?,
        ));
        pool.mirror = Some("current".into());
    } else if let Some(name) = a.opponent.strip_prefix("bot:") {
        if bot(name, 0).is_none() {
            bail!(
                "unknown bot {name:?}; the bots are {}",
                BOT_NAMES.join(", ")
            );
        }
        for slot in 0..n {
            pool.assign(slot, Member::Bot(name.into()));
        }
    } else if let Some(run) = a.opponent.strip_prefix("policy:") {
        let p = policy_path(&dir, run)?;
        let l = load_policy(&p, &base).with_context(|| format!("loading {run}"))?;
        pool.policies
            .push((run.to_string(), new_policy(l, a.seed + 1)?));
        for slot in 0..n {
            pool.assign(slot, Member::Policy(run.into()));
        }
    } else if a.opponent == "self" {
        pool.policies.push((
            "current".into(),
            new_policy(load_policy(&path, &base)?, a.seed + 1)?,
        ));
        pool.mirror = Some("current".into());
        for slot in 0..n {
            pool.assign(slot, Member::Policy("current".into()));
        }
    } else {
        bail!(
            "--opponent {:?}: expected self, bot:NAME or policy:RUN",
            a.opponent
        );
    }
    let mut ratings = exphil_sim::league::Ratings::new(exphil_sim::league::Elo::default());
    let mut league = league;
    // Draws an opponent for a game from the population.
    let draw = |league: &mut League, pool: &mut Pool, rng: &mut exphil_sim::Rng, slot: usize| {
        let m = match league.population.sample(rng) {
            exphil_sim::league::Pick::Current => Member::Policy("current".into()),
            exphil_sim::league::Pick::Historical(i) => {
                Member::Policy(league.population.snapshots[i].clone())
            }
            exphil_sim::league::Pick::Scripted(b) => Member::Bot(b),
        };
        pool.assign(slot, m);
    };
    if let Some(l) = league.as_mut() {
        for slot in 0..n {
            draw(l, &mut pool, &mut rng_league, slot);
        }
    }
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
        "{what}: {} ({}) as {} against {} ({}), {} games × {} frames per rollout, {} timesteps → {}",
        pretrained,
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
            let theirs = pool.act(&batch.games);
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
                    let score = match o.winner {
                        Some(0) => {
                            wins += 1;
                            1.0
                        }
                        Some(_) => {
                            losses += 1;
                            0.0
                        }
                        None => 0.5,
                    };
                    let them = pool.name(slot);
                    ratings.record("learner", &them, score);
                    if let Some(l) = league.as_mut() {
                        if let Some(k) = l.population.snapshots.iter().position(|x| *x == them) {
                            l.population.record(k, score);
                        }
                    }
                }
                if done {
                    if !s.replaced {
                        batch.restart(slot);
                    }
                    returns_done.push(episode_return[slot]);
                    episode_return[slot] = 0.0;
                    seats.live[slot].reset();
                    match league.as_mut() {
                        Some(l) => draw(l, &mut pool, &mut rng_league, slot),
                        None => {
                            let m = pool.assign[slot].clone();
                            pool.assign(slot, m);
                        }
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
                "{what}: game in slot {} failed on frame {} ({}); replaced (its episode ends there)",
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
            Some((&teacher, &inner)),
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
        if let Some(m) = pool.mirror.clone() {
            if let Some((_, o)) = pool.policies.iter_mut().find(|(n, _)| *n == m) {
                o.set_policy(policy.valid());
            }
        }
        if let Some(l) = league.as_mut() {
            if l.snapshot_every > 0 && updates.is_multiple_of(l.snapshot_every) {
                let snap = format!("v{updates}");
                let rating = ratings.get("learner").map(|r| r.rating);
                ratings.add(&snap, rating);
                let mut bp = new_policy(load_policy(&path, &base)?, a.seed + updates)?;
                bp.set_policy(policy.valid());
                pool.policies.push((snap.clone(), bp));
                let before = l.population.snapshots.clone();
                l.population.add_snapshot(&snap);
                for gone in before
                    .iter()
                    .filter(|x| !l.population.snapshots.contains(x))
                {
                    pool.policies.retain(|(n, _)| n != gone);
                    for slot in 0..n {
                        if pool.assign[slot] == Member::Policy(gone.clone()) {
                            pool.assign(slot, Member::Policy("current".into()));
                        }
                    }
                }
                eprintln!(
                    "exphil selfplay: snapshot {snap} joins the population ({} kept)",
                    l.population.snapshots.len()
                );
            }
            if l.track_elo {
                let table: Vec<String> = ratings
                    .leaderboard()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {:.0} ({}-{}-{})",
                            r.name, r.rating, r.wins, r.losses, r.draws
                        )
                    })
                    .collect();
                eprintln!("Elo: {}", table.join(", "));
            }
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
            "elo": ratings.leaderboard().iter().map(|r| serde_json::json!({"name": r.name, "rating": r.rating, "games": r.games})).collect::<Vec<_>>(),
            "stats": stats,
        }));
        returns_done.clear();
        if a.checkpoint_every > 0 && updates.is_multiple_of(a.checkpoint_every) {
            save(&policy, "running", &history, steps_done)?;
        }
    }
    save(&policy, "completed", &history, steps_done)?;
    if let Err(e) = exphil_runs::models::register_run(&dir, &run_dir) {
        eprintln!("{what}: warning: the registry was not updated: {e}");
    }
    println!(
        "{what}: {} updates, {steps_done} frames in {:.1} s ({:.0} frames/s); {episodes} episodes \
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
