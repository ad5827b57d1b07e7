//! The PPO run behind `exphil ppo` and `exphil selfplay`: improves an imitation policy by
//! proximal policy optimisation in the simulator.
//! Rollouts step many games at once with one batched model step per frame; the learner plays
//! seat 1 of every game against `--opponent` (itself, a scripted bot, or another policy). A game
//! that fails is replaced and its transition ends the episode; the learner never stops for it.
//! The result is a run directory like `exphil train`'s, so every other command reads it.

use crate::error::{refuse, Doing, Line, Result, RlError, Say};
use crate::evals::{evaluate, Evaluation};
use crate::league::{Elo, HistoricalSampling, Pick, Population, Ratings, Weights};
use crate::matches::{PolicyAgent, RoundSpec};
use crate::ppo::{update, PpoConfig, Rollout, TeacherLogits, UpdateStats};
use crate::reward::{Reward, Snap};
use burn::module::Module;
use exphil_dataset::{target_row, LiveGame};
use exphil_embed::Embedder;
use exphil_policy::agent::BatchedPolicy;
use exphil_policy::device::device_of;
use exphil_policy::file::{load_for_play, read_weights};
use exphil_policy::{params, BackboneState, PolicyInput, Sampling, TargetBatch};
use exphil_runs::checkpoint::{load_checkpoint, rfc3339_utc, save_checkpoint};
use exphil_runs::config::OptimConfig;
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_runs::ppo_config::{LeagueConfig, PpoRunConfig};
use exphil_runs::rundir::{RunDir, RunFile, RunProcess, MODEL_FILE};
use exphil_runs::tensors::{decode_tensors, encode_tensors, NamedTensor};
use exphil_sim::{bot, Agent, Batch, Bots, Fighter, Game, Stage, BOT_NAMES, STAGES};
use exphil_state::{Controller, GameState};
use exphil_train::board::Board;
use exphil_train::optim::Optimizer;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

/// What a run needs besides its config: the policy it starts from, its name or the run it
/// resumes, and where runs live.
#[derive(Clone, Debug, Default)]
pub struct PpoRun {
    /// The imitation policy to start from (a resumed run defaults to its parent).
    pub pretrained: Option<String>,
    /// The new run's name [default: ppo_<pretrained>_<time>].
    pub name: Option<String>,
    /// The run to resume (its directory or name).
    pub resume: Option<String>,
    /// Where runs live (`None`: `$EXPHIL_CHECKPOINTS_DIR`, else `checkpoints`).
    pub checkpoints: Option<PathBuf>,
    /// Testing: corrupt one game every N frames.
    pub fault_every: Option<u64>,
}

/// The directory of the run `--resume` names: a directory as given, else a run of that name
/// in `dir`; an error when there is none.
pub fn resume_dir(dir: &Path, run: &str) -> Result<PathBuf> {
    let rd = if Path::new(run).is_dir() {
        PathBuf::from(run)
    } else {
        dir.join(run)
    };
    if !rd.is_dir() {
        refuse!("--resume {run}: no run directory {}", rd.display());
    }
    Ok(rd)
}

/// Who plays seat 2 of a game.
#[derive(Clone, Debug, PartialEq)]
enum Member {
    /// A scripted bot.
    Bot(String),
    /// A policy of the pool, by name.
    Policy(String),
}

/// The opponents, one member per game: agents (a policy answers for every game assigned to it
/// in one batched step; a scripted bot plays each game with a bot of its own).
struct Pool {
    policies: Vec<(String, PolicyAgent)>,
    bots: Vec<(String, Bots)>,
    assign: Vec<Member>,
    seed: u64,
}

impl Pool {
    fn new(n: usize, seed: u64) -> Pool {
        Pool {
            policies: Vec::new(),
            bots: Vec::new(),
            assign: vec![Member::Bot("idle".into()); n],
            seed,
        }
    }

    /// A policy joins the pool under `name`.
    fn add_policy(&mut self, name: String, policy: BatchedPolicy) {
        self.policies.push((name, PolicyAgent::new(policy)));
    }

    /// The agent of a member (`None` for a policy no longer in the pool or an unknown bot).
    fn agent(&mut self, m: &Member) -> Option<&mut dyn Agent> {
        match m {
            Member::Bot(name) => {
                if !self.bots.iter().any(|(n, _)| n == name) {
                    self.bots.push((name.clone(), Bots::named(name).ok()?));
                }
                let (_, b) = self.bots.iter_mut().find(|(n, _)| n == name)?;
                Some(b)
            }
            Member::Policy(name) => {
                let (_, p) = self.policies.iter_mut().find(|(n, _)| n == name)?;
                Some(p)
            }
        }
    }

    /// Game `slot` (starting afresh) is played by `m`.
    fn assign(&mut self, slot: usize, m: Member) {
        self.seed = self.seed.wrapping_add(1);
        let seed = self.seed ^ slot as u64;
        if let Some(a) = self.agent(&m) {
            a.reset(slot, seed);
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

    /// Seat 2's controller in every game: one call per member for all its games.
    fn act(&mut self, games: &[Game]) -> Vec<Controller> {
        let views: Vec<GameState> = games.iter().map(|g| g.view(1)).collect();
        let mut out = vec![Controller::NEUTRAL; games.len()];
        let mut members: Vec<Member> = Vec::new();
        for m in &self.assign {
            if !members.contains(m) {
                members.push(m.clone());
            }
        }
        for m in members {
            let rows: Vec<(usize, &GameState)> = views
                .iter()
                .enumerate()
                .filter(|(slot, _)| self.assign[*slot] == m)
                .collect();
            if let Some(agent) = self.agent(&m) {
                for ((slot, _), c) in rows.iter().zip(agent.act(&rows)) {
                    out[*slot] = c;
                }
            }
        }
        out
    }
}

/// A PPO run's checkpoint, under the run's `checkpoints/` like imitation's (written every
/// `--checkpoint-every` updates, at an interrupt and at the end).
const CHECKPOINT: &str = "latest";
/// Where runs of exphil 0.1 kept their one PPO checkpoint (`<run>/checkpoint`); resuming one
/// moves it to `checkpoints/latest`.
const OLD_CHECKPOINT: &str = "checkpoint";

/// The run's checkpoints directory, with an old run's `checkpoint/` moved into it (said on
/// stderr as `what`).
fn checkpoints_of(rd: &Path, what: &str, say: Say<'_>) -> Result<PathBuf> {
    let dir = RunDir::new(rd).checkpoints_path();
    let old = rd.join(OLD_CHECKPOINT);
    if old.join(exphil_runs::checkpoint::MANIFEST).is_file() && !dir.join(CHECKPOINT).exists() {
        std::fs::create_dir_all(&dir).doing(|| format!("creating {}", dir.display()))?;
        std::fs::rename(&old, dir.join(CHECKPOINT)).doing(|| {
            format!(
                "moving {} to {}",
                old.display(),
                dir.join(CHECKPOINT).display()
            )
        })?;
        exphil_io::fsync_dir(rd).doing(|| format!("syncing {}", rd.display()))?;
        say(Line::Note(format!(
            "{what}: upgraded {}: its checkpoint moved from checkpoint/ to checkpoints/{CHECKPOINT}/",
            rd.display()
        )));
    }
    Ok(dir)
}
/// The version of `state.json` written and read.
const SAVED_VERSION: u32 = 1;

/// A learner in a checkpoint's `state.json` (its weights and optimiser state are files beside).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedLearner {
    name: String,
    steps: u64,
    updates: u64,
    frame_count: u64,
    wins: u64,
    losses: u64,
    episodes: u64,
    resets: u32,
    optim_steps: u64,
    history: Vec<serde_json::Value>,
    recent: Vec<f64>,
    /// Its population's snapshots, oldest first.
    snapshots: Vec<String>,
}

/// A checkpoint's `state.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedRun {
    version: u32,
    learners: Vec<SavedLearner>,
    snapshots_taken: Vec<String>,
    ratings: Ratings,
    resumes: Vec<String>,
    /// The evaluations so far (`--eval-every`).
    #[serde(default)]
    evaluations: Vec<Evaluation>,
    /// The evaluation whose weights (`best.safetensors`) are the run's policy.
    #[serde(default)]
    best: Option<usize>,
}

/// A run's evaluations and the weights chosen as its policy (`--eval-every`).
#[derive(Default)]
struct Choice {
    evals: Vec<Evaluation>,
    /// The evaluation whose weights are the run's policy, and those weights.
    best: Option<(usize, exphil_policy::Policy)>,
}

impl Choice {
    /// The evaluation chosen, if any.
    fn chosen(&self) -> Option<&Evaluation> {
        self.best.as_ref().map(|(i, _)| &self.evals[*i])
    }

    /// Adds `e` of the weights `now`; whether they became the run's policy.
    fn add(&mut self, e: Evaluation, now: &exphil_policy::Policy) -> bool {
        let better = e.beats(self.chosen());
        if better {
            self.best = Some((self.evals.len(), now.valid()));
        }
        self.evals.push(e);
        better
    }
}

/// Points every pool's mirror of the main learner (learner 0) at its latest weights.
fn follow_main(learners: &mut [Learner]) {
    let latest = learners[0].policy().valid();
    for l in learners.iter_mut() {
        let mirror = l.current.clone();
        if let Some((_, o)) = l.pool.policies.iter_mut().find(|(n, _)| *n == mirror) {
            o.policy_mut().set_policy(latest.clone());
        }
    }
}

/// A learner's part in an AlphaStar-style league.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The agent being built: self-play against itself, prioritised fictitious self-play
    /// against every snapshot of the league, and the scripted bots (the population's weights).
    Main,
    /// Plays only the current main agent, to find its weaknesses; starts over from the
    /// imitation policy once it beats the main agent in more than 70% of recent games.
    MainExploiter,
    /// Prioritised fictitious self-play against every snapshot of the league, to find what the
    /// league as a whole gets wrong; starts over from the imitation policy with probability
    /// 1/4 after each of its snapshots.
    LeagueExploiter,
}

/// Self-play settings (`exphil selfplay`): opponents drawn from a population, optionally with
/// exploiters in a league.
struct League {
    /// The main agent's population (weights, history size, snapshot sampling, bots).
    population: Population,
    /// Each agent adds a snapshot of itself to the league every this many of its updates.
    snapshot_every: u64,
    /// Print the Elo table after each round of updates.
    track_elo: bool,
    /// Main exploiters trained beside the main agent.
    main_exploiters: usize,
    /// League exploiters trained beside the main agent.
    league_exploiters: usize,
}

impl League {
    fn new(c: &LeagueConfig) -> League {
        League {
            population: Population::new(c.history, c.weights, c.sampling, c.scripted.clone()),
            snapshot_every: c.snapshot_every,
            track_elo: c.track_elo,
            main_exploiters: c.main_exploiters,
            league_exploiters: c.league_exploiters,
        }
    }

    fn is_league(&self) -> bool {
        self.main_exploiters + self.league_exploiters > 0
    }
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

/// What every learner of a run shares.
struct Ctx<'a> {
    run: &'a PpoRunConfig,
    opts: &'a PpoRun,
    what: &'static str,
    cfg: PpoConfig,
    spec: exphil_policy::InputSpec,
    coder: exphil_embed::TargetCoder,
    teacher: exphil_policy::Policy,
    /// The device without autodiff (acting, the teacher).
    inner: burn::tensor::Device,
    /// The training device.
    device: burn::tensor::Device,
    /// A fresh learner from the imitation weights.
    imitation: &'a dyn Fn() -> Result<exphil_policy::Policy>,
    /// Prefix update lines with the learner's name.
    named: bool,
    /// A temporal policy: states carried through games, updates over whole games.
    temporal: bool,
    /// The reward's terms.
    reward: Reward,
    /// Where the run's lines go.
    say: Say<'a>,
}

/// One learner: its policy, optimiser, games, opponents and counters.
struct Learner {
    /// Its name in the Elo table ("learner" outside a league).
    name: String,
    role: Role,
    /// What `Pick::Current` means for it: the pool policy mirroring the main learner.
    current: String,
    policy: Option<exphil_policy::Policy>,
    optim: Optimizer,
    rng: StdRng,
    rng_league: exphil_sim::Rng,
    pool: Pool,
    population: Option<Population>,
    batch: Batch,
    seats: Seats,
    /// Every game's stepping state (temporal policies; on the acting device).
    state: BackboneState,
    /// The teacher's stepping state in every game (temporal policies).
    teacher_state: BackboneState,
    steps: u64,
    /// Frames already done when this process started (a resumed run).
    steps0: u64,
    updates: u64,
    frame_count: u64,
    faults_seen: usize,
    wins: u64,
    losses: u64,
    episodes: u64,
    episode_return: Vec<f32>,
    returns_done: Vec<f32>,
    history: Vec<serde_json::Value>,
    /// Its TensorBoard record (`<run>/tensorboard`, `<run>/tensorboard/NAME` in a league).
    board: Option<Board>,
    /// Recent scores against the main agent (main exploiters' reset rule).
    recent: std::collections::VecDeque<f64>,
    resets: u32,
}

/// The update's settings: `cfg` with, under `anneal_lr`, the learning rate scaled by the
/// share of the run's `timesteps` still ahead after `done` frames (clamped to [0, 1]).
fn annealed(cfg: &PpoConfig, done: u64, timesteps: u64) -> PpoConfig {
    let mut c = cfg.clone();
    if c.anneal_lr {
        c.lr *= (1.0 - done as f64 / timesteps.max(1) as f64).clamp(0.0, 1.0);
    }
    c
}

impl Learner {
    /// An update's scalars in the learner's TensorBoard record (step: frames so far); a write
    /// failure is said once and the record stops.
    fn record_board(
        &mut self,
        stats: &UpdateStats,
        mean_return: f32,
        secs: f64,
        ratings: &Ratings,
        say: Say<'_>,
    ) {
        let Some(b) = self.board.as_mut() else {
            return;
        };
        let mut v: Vec<(String, f64)> = vec![
            ("ppo/policy_loss".into(), stats.policy_loss),
            ("ppo/value_loss".into(), stats.value_loss),
            ("ppo/entropy".into(), stats.entropy),
            ("ppo/teacher_kl".into(), stats.teacher_kl),
            ("ppo/approx_kl".into(), stats.approx_kl),
            ("ppo/clip_fraction".into(), stats.clip_fraction),
            ("ppo/skipped_minibatches".into(), stats.skipped as f64),
            (
                "rollout/frames_per_sec".into(),
                (self.steps - self.steps0) as f64 / secs.max(1e-9),
            ),
            ("rollout/episodes".into(), self.episodes as f64),
            ("rollout/wins".into(), self.wins as f64),
            ("rollout/losses".into(), self.losses as f64),
        ];
        if mean_return.is_finite() {
            v.push(("rollout/mean_return".into(), f64::from(mean_return)));
        }
        for r in ratings.leaderboard() {
            v.push((format!("elo/{}", r.name), r.rating));
        }
        let v: Vec<(&str, f64)> = v.iter().map(|(k, x)| (k.as_str(), *x)).collect();
        if let Some(stop) = b.write(self.steps as i64, &v) {
            say(Line::Note(stop));
        }
    }

    fn policy(&self) -> &exphil_policy::Policy {
        self.policy
            .as_ref()
            .expect("the learner holds its policy between updates")
    }

    /// Draws game `slot`'s next opponent (from the population, else the same member again).
    fn draw(&mut self, slot: usize) {
        let m = match &self.population {
            None => self.pool.assign[slot].clone(),
            Some(p) => match p.sample(&mut self.rng_league) {
                Pick::Current => Member::Policy(self.current.clone()),
                Pick::Historical(i) => Member::Policy(p.snapshots[i].clone()),
                Pick::Scripted(b) => Member::Bot(b),
            },
        };
        self.pool.assign(slot, m);
    }

    /// Starts over from the imitation policy with a fresh optimiser.
    fn reset_to_imitation(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        self.policy = Some((ctx.imitation)()?);
        self.optim = Optimizer::new(&OptimConfig {
            lr: ctx.run.ppo.lr,
            ..OptimConfig::default()
        });
        self.recent.clear();
        self.resets += 1;
        let n = self.state.rows();
        self.state = ctx.teacher.initial_state(n, &ctx.inner);
        Ok(())
    }

    /// One rollout of every game and one PPO update.
    fn iterate(&mut self, ctx: &Ctx<'_>, ratings: &mut Ratings, started: Instant) {
        let a = &ctx.run.rollout;
        let cfg = annealed(&ctx.cfg, self.steps, a.timesteps);
        let n = a.num_games;
        let (nf, ni) = (ctx.spec.features, ctx.spec.ids);
        let mut r = Rollout {
            envs: n,
            ..Rollout::default()
        };
        let teach = ctx.temporal && ctx.cfg.teacher_kl > 0.0;
        if ctx.temporal {
            r.start_state = Some(self.state.clone());
            r.teacher_logits = teach.then(|| TeacherLogits::new(&ctx.spec));
        }
        let mut fresh_controllers = vec![Controller::NEUTRAL; n];
        // The acting copy: the learner's weights without the autodiff graph.
        let actor = self.policy().valid();
        for _ in 0..a.rollout_steps {
            self.frame_count += 1;
            if let Some(k) = ctx.opts.fault_every {
                if k > 0 && self.frame_count.is_multiple_of(k) {
                    let slot = (self.frame_count / k) as usize % n;
                    self.batch.games[slot].players[0].y = f32::NAN;
                }
            }
            let views: Vec<GameState> = self.batch.games.iter().map(|g| g.view(0)).collect();
            let (f, ids) = self.seats.embed(&views, nf, ni, true);
            let input = PolicyInput::new(&ctx.spec, &f, &ids, n, &ctx.inner);
            // One frame per game, the state carried (nothing to carry for an MLP).
            let state = std::mem::replace(&mut self.state, BackboneState::Stateless(n));
            let (h, next) = actor.step_trunk(&input, state);
            self.state = next;
            let acted = actor.act_from_trunk(h.clone(), Sampling::Temperature(1.0), &mut self.rng);
            let acts: Vec<u16> = acted.iter().flat_map(target_row).collect();
            let targets = TargetBatch::new(n, &acts, &ctx.inner);
            let ev = actor.evaluate_trunk(h, &targets);
            if let Some(tl) = r.teacher_logits.as_mut() {
                let state = std::mem::replace(&mut self.teacher_state, BackboneState::Stateless(n));
                let (th, next) = ctx.teacher.step_trunk(&input, state);
                self.teacher_state = next;
                tl.push(&ctx.teacher.evaluate_trunk(th, &targets).dist.log);
            }
            let lp = params::tensor_values(&ev.log_prob);
            let vals = params::tensor_values(&ev.values);
            for (c, t) in fresh_controllers.iter_mut().zip(&acted) {
                *c = ctx.coder.decode(t);
            }
            let theirs = self.pool.act(&self.batch.games);
            let inputs: Vec<[Controller; 2]> = fresh_controllers
                .iter()
                .zip(theirs)
                .map(|(m, t)| [*m, t])
                .collect();
            let before: Option<Vec<[Snap; 2]>> = ctx
                .reward
                .shaped()
                .then(|| self.batch.games.iter().map(Snap::of).collect());
            let stepped = self.batch.step(&inputs);
            let ended: Vec<usize> = stepped
                .iter()
                .enumerate()
                .filter(|(_, s)| s.replaced || s.info.outcome.is_some())
                .map(|(slot, _)| slot)
                .collect();
            self.state.reset_rows(&ended);
            self.teacher_state.reset_rows(&ended);
            for (slot, s) in stepped.iter().enumerate() {
                let i = s.info;
                let around = match &before {
                    Some(b) if !s.replaced => Some((b[slot], Snap::of(&self.batch.games[slot]))),
                    _ => None,
                };
                let rew = ctx
                    .reward
                    .step(self.batch.games[slot].stage.edge, &i, around);
                let done = s.replaced || i.outcome.is_some();
                self.episode_return[slot] += rew;
                r.rewards.push(rew);
                r.done.push(done);
                if let Some(o) = i.outcome {
                    self.episodes += 1;
                    let score = match o.winner {
                        Some(0) => {
                            self.wins += 1;
                            1.0
                        }
                        Some(_) => {
                            self.losses += 1;
                            0.0
                        }
                        None => 0.5,
                    };
                    let them = self.pool.name(slot);
                    ratings.record(&self.name, &them, score);
                    if let Some(p) = self.population.as_mut() {
                        if let Some(k) = p.snapshots.iter().position(|x| *x == them) {
                            p.record(k, score);
                        }
                    }
                    if them == self.current && self.role == Role::MainExploiter {
                        self.recent.push_back(score);
                        if self.recent.len() > 50 {
                            self.recent.pop_front();
                        }
                    }
                }
                if done {
                    if !s.replaced {
                        self.batch.restart(slot);
                    }
                    self.returns_done.push(self.episode_return[slot]);
                    self.episode_return[slot] = 0.0;
                    self.seats.live[slot].reset();
                    self.draw(slot);
                }
            }
            r.features.extend_from_slice(&f);
            r.ids.extend_from_slice(&ids);
            r.actions.extend_from_slice(&acts);
            r.log_prob.extend_from_slice(&lp);
            r.values.extend_from_slice(&vals);
            self.steps += n as u64;
        }
        for fault in &self.batch.faults[self.faults_seen..] {
            (ctx.say)(Line::Note(format!(
                "{}: game in slot {} failed on frame {} ({}); replaced (its episode ends there)",
                ctx.what, fault.slot, fault.frame, fault.error
            )));
        }
        self.faults_seen = self.batch.faults.len();
        // Bootstrap from the states after the last step.
        let views: Vec<GameState> = self.batch.games.iter().map(|g| g.view(0)).collect();
        let (f, ids) = self.seats.embed(&views, nf, ni, false);
        let input = PolicyInput::new(&ctx.spec, &f, &ids, n, &ctx.inner);
        let (h, _) = actor.step_trunk(&input, self.state.clone());
        let last = params::tensor_values(&actor.values_from_trunk(h));
        let t0 = Instant::now();
        let policy = self.policy.take().expect("the learner holds its policy");
        let (p, stats) = update(
            policy,
            Some((&ctx.teacher, &ctx.inner)),
            &mut self.optim,
            &cfg,
            &ctx.spec,
            &r,
            &last,
            &ctx.device,
            &mut self.rng,
        );
        self.policy = Some(p);
        self.updates += 1;
        let secs = started.elapsed().as_secs_f64();
        let mean_return = if self.returns_done.is_empty() {
            f32::NAN
        } else {
            self.returns_done.iter().sum::<f32>() / self.returns_done.len() as f32
        };
        // "NaN" would read as a fault: no episode ended in this update.
        let ret = if mean_return.is_finite() {
            format!("{mean_return:.2}")
        } else {
            "- (none ended)".to_string()
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
        let who = if ctx.named {
            format!("[{}] ", self.name)
        } else {
            String::new()
        };
        (ctx.say)(Line::Note(format!(
            "{who}update {}: {}/{} frames ({:.0}/s; update {:.1} s), episodes {} (won {}, lost {}), \
             return/episode {ret}, policy {policy_loss:.3}, value {value_loss:.3}, \
             entropy {entropy:.2}, KL teacher {teacher_kl:.3}, approx KL {approx_kl:.4}, clipped \
             {:.0}%{}{}",
            self.updates,
            self.steps,
            a.timesteps,
            (self.steps - self.steps0) as f64 / secs,
            t0.elapsed().as_secs_f64(),
            self.episodes,
            self.wins,
            self.losses,
            clip_fraction * 100.0,
            if cfg.anneal_lr {
                format!(", lr {:.2e}", cfg.lr)
            } else {
                String::new()
            },
            if skipped > 0 {
                format!(", {skipped} minibatches skipped (non-finite)")
            } else {
                String::new()
            }
        )));
        self.history.push(serde_json::json!({
            "update": self.updates, "timesteps": self.steps, "seconds": secs,
            "frames_per_second": (self.steps - self.steps0) as f64 / secs,
            "episodes": self.episodes, "wins": self.wins, "losses": self.losses, "lr": cfg.lr,
            "mean_return": if mean_return.is_finite() { Some(mean_return) } else { None },
            "failed_games": self.batch.faults.len(),
            "elo": ratings.leaderboard().iter().map(|r| serde_json::json!({"name": r.name, "rating": r.rating, "games": r.games})).collect::<Vec<_>>(),
            "stats": stats,
        }));
        self.record_board(&stats, mean_return, secs, ratings, ctx.say);
        (ctx.say)(Line::Progress {
            done: self.steps,
            total: a.timesteps,
            message: format!(
                "{who}update {}: return/episode {ret}, policy {policy_loss:.3}, \
                 {:.0} frames/s",
                self.updates,
                (self.steps - self.steps0) as f64 / secs.max(1e-9)
            ),
        });
        self.returns_done.clear();
    }
}

/// A run being resumed: its directory, its last checkpoint, the state in it and the run's parent.
struct Resumed {
    rd: PathBuf,
    ck: exphil_runs::checkpoint::CheckpointFiles,
    state: SavedRun,
    parent: Option<String>,
}

/// The run `--resume r` names, with its last checkpoint: an old run's checkpoint moved into
/// place, leftovers of interrupted saves cleaned up, the checkpoint's version checked.
fn open_resume(dir: &Path, r: &str, what: &str, say: Say<'_>) -> Result<Resumed> {
    let rd = resume_dir(dir, r)?;
    // What interrupted saves left behind goes first (and a swapped-out checkpoint a save was
    // replacing comes back).
    let ckpts = checkpoints_of(&rd, what, say)?;
    let report = exphil_runs::checkpoint::cleanup(&ckpts)
        .doing(|| format!("cleaning up {}", ckpts.display()))?;
    if !report.removed.is_empty() {
        say(Line::Note(format!(
            "{what}: removed {} leftovers of interrupted checkpoint saves",
            report.removed.len()
        )));
    }
    let ck = load_checkpoint(&ckpts, CHECKPOINT).doing(|| {
        format!(
            "--resume {r}: no usable PPO checkpoint in {} (one is written every \
             --checkpoint-every updates)",
            rd.display()
        )
    })?;
    for w in &ck.warnings {
        say(Line::Note(format!("{what}: {w}")));
    }
    let state: SavedRun = serde_json::from_slice(ck.require("state.json")?)
        .doing(|| format!("reading {}/state.json", ck.dir.display()))?;
    if state.version != SAVED_VERSION {
        refuse!(
            "{}: checkpoint version {} (this exphil reads {SAVED_VERSION})",
            ck.dir.display(),
            state.version
        );
    }
    let parent = RunDir::new(&rd).read().ok().and_then(|v| v.parent);
    Ok(Resumed {
        rd,
        ck,
        state,
        parent,
    })
}

/// The learners of a run and their names: one, or in a league the main agent and its
/// exploiters.
fn roles_of(league: Option<&League>) -> Vec<(Role, String)> {
    let Some(l) = league else {
        return vec![(Role::Main, "learner".to_string())];
    };
    let numbered = |base: &str, k: usize, of: usize| {
        if of == 1 {
            base.to_string()
        } else {
            format!("{base}_{}", k + 1)
        }
    };
    let mut roles = vec![(Role::Main, "main".to_string())];
    for k in 0..l.main_exploiters {
        roles.push((
            Role::MainExploiter,
            numbered("main_exploiter", k, l.main_exploiters),
        ));
    }
    for k in 0..l.league_exploiters {
        roles.push((
            Role::LeagueExploiter,
            numbered("league_exploiter", k, l.league_exploiters),
        ));
    }
    roles
}

/// The population a learner of `role` draws its opponents from: the league's for the main
/// agent; the main agent alone for a main exploiter; the league's snapshots (twice as many
/// kept) for a league exploiter.
fn population_of(l: &League, role: Role) -> Population {
    let only = |current, historical| Weights {
        current,
        historical,
        scripted: 0.0,
    };
    match role {
        Role::Main => l.population.clone(),
        Role::MainExploiter => {
            Population::new(0, only(1.0, 0.0), HistoricalSampling::Pfsp, Vec::new())
        }
        Role::LeagueExploiter => Population::new(
            l.population.max_history.max(1) * 2,
            only(0.0, 1.0),
            HistoricalSampling::Pfsp,
            Vec::new(),
        ),
    }
}

/// PPO of a validated config against `rollout.opponent`, or (`selfplay`) against opponents
/// drawn from a population, with exploiters beside the main learner when the league has them.
/// The config is written into the run's `config.json`.
pub fn train(
    config: &PpoRunConfig,
    opts: &PpoRun,
    selfplay: bool,
    say: Say<'_>,
) -> Result<ExitCode> {
    let what = if selfplay {
        "exphil selfplay"
    } else {
        "exphil ppo"
    };
    let league = selfplay.then(|| League::new(&config.league));
    let a = &config.rollout;
    let seed = config.seed;
    let dir = checkpoints_dir(&opts.checkpoints);
    // A run to resume: its directory, last checkpoint and config.
    let resumed = match &opts.resume {
        None => None,
        Some(r) => Some(open_resume(&dir, r, what, say)?),
    };
    let pretrained = match (&opts.pretrained, &resumed) {
        (Some(p), _) => p.clone(),
        (
            None,
            Some(Resumed {
                rd,
                parent: Some(parent),
                ..
            }),
        ) => {
            say(Line::Note(format!(
                "{what}: resuming {} from its parent {parent}",
                rd.display()
            )));
            parent.clone()
        }
        _ => refuse!("{what} needs --pretrained RUN: the imitation policy to start from"),
    };
    let pretrained = pretrained.as_str();
    if a.num_games == 0 || a.rollout_steps == 0 {
        refuse!("--num-games and --rollout-steps must be at least 1");
    }
    let base = device_of(&config.device)?;
    let device = base.clone().autodiff();
    device.seed(seed);
    let path = policy_path(&dir, pretrained)?;
    let loaded = load_for_play(&path, &device).doing(|| format!("loading {pretrained}"))?;
    // Temporal policies act frame by frame with their state carried through each game, and
    // the update replays whole games from the state each rollout began with.
    let temporal = !matches!(loaded.policy.backbone, exphil_policy::Backbone::Mlp(_));
    let weights = read_weights(&path).doing(|| format!("reading {}", path.display()))?;
    // PPO compares log-probabilities of the same actions before and after an update: the
    // learner and the teacher run without dropout.
    let mut cfg0 = loaded.config.clone();
    cfg0.backbone.set_dropout(0.0);
    let pos_weight = loaded.policy.button_offsets().map(f32::exp);
    let fresh = || {
        exphil_policy::Policy::new(&cfg0, &loaded.spec, &device).with_button_pos_weight(&pos_weight)
    };
    let imitation = || {
        params::import(fresh(), &weights.tensors)
            .map_err(|e| RlError::Refused(format!("{}: {e}", path.display())))
    };
    // The teacher only answers questions: it lives without autodiff.
    let teacher = imitation()?.valid();
    let learner_fighter = match &a.character {
        Some(c) => Fighter::named(c)?,
        None => loaded
            .trained_characters()
            .iter()
            .find_map(|n| Fighter::parse(n))
            .unwrap_or(&exphil_sim::FIGHTERS[0]),
    };
    let opp_fighter = match &a.opponent_character {
        Some(c) => Fighter::named(c)?,
        None => learner_fighter,
    };
    let fixed_stage = if a.stage.eq_ignore_ascii_case("random") {
        None
    } else {
        Some(
            Stage::parse(&a.stage)
                .ok_or_else(|| RlError::Refused(format!("{:?} is not a legal stage", a.stage)))?,
        )
    };
    let n = a.num_games;
    let delay = loaded.frame_delay();
    let opponent = |seed: u64| -> Result<BatchedPolicy> {
        let l = load_for_play(&path, &base)?;
        let d = l.frame_delay();
        Ok(BatchedPolicy::new(
            l,
            base.clone(),
            Sampling::Temperature(1.0),
            d,
            n,
            seed,
        )?)
    };
    let name = opts.name.clone().unwrap_or_else(|| {
        let t = rfc3339_utc(SystemTime::now()).replace([':', '-'], "");
        format!("ppo_{}_{}", loaded.name(), &t[..15.min(t.len())])
    });
    let run_dir = match &resumed {
        Some(r) => r.rd.clone(),
        None => dir.join(&name),
    };
    if resumed.is_none() && run_dir.exists() {
        refuse!("{} exists; choose another --name", run_dir.display());
    }
    let cfg = config.ppo.clone();
    let spec = loaded.spec.clone();
    let embedder = Embedder::new(loaded.embed.clone())?;
    let coder = exphil_embed::TargetCoder::new(loaded.targets.clone())?;
    let inner = device.clone().inner();
    let is_league = league.as_ref().is_some_and(League::is_league);
    let ctx = Ctx {
        run: config,
        opts,
        what,
        cfg,
        spec,
        coder,
        teacher,
        inner,
        device: device.clone(),
        imitation: &imitation,
        named: is_league,
        temporal,
        reward: Reward::new(config.reward),
        say,
    };

    // The learners: one, or in a league the main agent and its exploiters.
    let roles = roles_of(league.as_ref().filter(|_| is_league));
    // The pool name of the policy mirroring the main learner.
    let current = if is_league { "main" } else { "current" }.to_string();
    let mut learners: Vec<Learner> = Vec::new();
    for (k, (role, lname)) in roles.into_iter().enumerate() {
        let seed = seed.wrapping_add(k as u64 * 104_729);
        let mut pool = Pool::new(n, seed * 7919);
        let population = league.as_ref().map(|l| population_of(l, role));
        if league.is_some() {
            pool.add_policy(current.clone(), opponent(seed + 1)?);
        } else if let Some(b) = a.opponent.strip_prefix("bot:") {
            if bot(b, 0).is_none() {
                refuse!("unknown bot {b:?}; the bots are {}", BOT_NAMES.join(", "));
            }
            for slot in 0..n {
                pool.assign(slot, Member::Bot(b.into()));
            }
        } else if let Some(run) = a.opponent.strip_prefix("policy:") {
            let p = policy_path(&dir, run)?;
            let l = load_for_play(&p, &base).doing(|| format!("loading {run}"))?;
            let d = l.frame_delay();
            let bp =
                BatchedPolicy::new(l, base.clone(), Sampling::Temperature(1.0), d, n, seed + 1)?;
            pool.add_policy(run.to_string(), bp);
            for slot in 0..n {
                pool.assign(slot, Member::Policy(run.into()));
            }
        } else if a.opponent == "self" {
            pool.add_policy(current.clone(), opponent(seed + 1)?);
            for slot in 0..n {
                pool.assign(slot, Member::Policy(current.clone()));
            }
        } else {
            refuse!(
                "--opponent {:?}: expected self, bot:NAME or policy:RUN",
                a.opponent
            );
        }
        let mut stage_rng = exphil_sim::Rng::new(seed);
        let frame_limit = a.max_episode_frames;
        let fighters = [learner_fighter, opp_fighter];
        let first: Vec<&'static Stage> = (0..n)
            .map(|_| fixed_stage.unwrap_or_else(|| &STAGES[(stage_rng.next_u64() % 6) as usize]))
            .collect();
        let batch = Batch::new(n, move |slot| {
            let mut g = Game::new(first[slot % first.len()], fighters);
            g.frame_limit = frame_limit;
            // The countdown teaches nothing: start at GO.
            while g.frame < 0 {
                g.step([Controller::NEUTRAL; 2]);
            }
            g
        });
        let mut learner = Learner {
            name: lname,
            role,
            current: current.clone(),
            policy: Some(imitation()?),
            optim: Optimizer::new(&OptimConfig {
                lr: config.ppo.lr,
                ..OptimConfig::default()
            }),
            rng: StdRng::seed_from_u64(seed),
            rng_league: exphil_sim::Rng::new(seed ^ 0x5e1f),
            pool,
            population,
            batch,
            seats: Seats {
                embedder: embedder.clone(),
                live: vec![LiveGame::new(); n],
                delay,
            },
            state: ctx.teacher.initial_state(n, &ctx.inner),
            teacher_state: ctx.teacher.initial_state(n, &ctx.inner),
            steps: 0,
            steps0: 0,
            updates: 0,
            frame_count: 0,
            faults_seen: 0,
            wins: 0,
            losses: 0,
            episodes: 0,
            episode_return: vec![0.0; n],
            returns_done: Vec::new(),
            history: Vec::new(),
            board: None,
            recent: Default::default(),
            resets: 0,
        };
        if learner.population.is_some() {
            for slot in 0..n {
                learner.draw(slot);
            }
        }
        learners.push(learner);
    }
    std::fs::create_dir_all(&run_dir).doing(|| format!("creating {}", run_dir.display()))?;
    for l in &mut learners {
        let mut dir = RunDir::new(&run_dir).board_path();
        if is_league {
            dir.push(&l.name);
        }
        let (board, warning) = Board::open(&dir, None);
        if let Some(w) = warning {
            say(Line::Note(format!("{what}: {w}")));
        }
        l.board = Some(board);
    }
    say(Line::Note(format!(
        "{what}: {} ({}) as {} against {} ({}), {} games × {} frames per rollout, {} timesteps{} → {}",
        pretrained,
        loaded.config.backbone.describe(),
        learner_fighter.character.name().unwrap_or("?"),
        if league.is_some() { "the population" } else { a.opponent.as_str() },
        opp_fighter.character.name().unwrap_or("?"),
        n,
        a.rollout_steps,
        a.timesteps,
        if is_league {
            let names: Vec<&str> = learners.iter().map(|l| l.name.as_str()).collect();
            format!(", league of {}", names.join(", "))
        } else {
            String::new()
        },
        run_dir.display()
    )));
    let mut ratings = Ratings::new(Elo::default());
    let mut league_rng = exphil_sim::Rng::new(seed ^ 0x1ea9);
    let mut snapshots_taken: Vec<String> = Vec::new();
    // The weights of every snapshot still in a population (checkpoints hold them).
    let mut snap_weights: BTreeMap<String, exphil_policy::Policy> = BTreeMap::new();
    let mut resumes: Vec<String> = Vec::new();
    let mut choice = Choice::default();
    if let Some(Resumed { rd, ck, state, .. }) = &resumed {
        let built: Vec<&str> = learners.iter().map(|l| l.name.as_str()).collect();
        let saved: Vec<&str> = state.learners.iter().map(|l| l.name.as_str()).collect();
        if built != saved {
            refuse!(
                "{} holds the learners {} but this command builds {}: resume with the same \
                 self-play and league flags",
                rd.display(),
                saved.join(", "),
                built.join(", ")
            );
        }
        let tensors_of = |file: &str| -> Result<Vec<NamedTensor>> {
            let (t, _) = decode_tensors(Path::new(file), ck.require(file)?)
                .doing(|| format!("{}/{file}", ck.dir.display()))?;
            Ok(t)
        };
        let import = |file: &str| -> Result<exphil_policy::Policy> {
            params::import(fresh(), &tensors_of(file)?)
                .map_err(|e| RlError::Refused(format!("{}/{file}: {e}", ck.dir.display())))
        };
        for sv in &state.learners {
            for name in &sv.snapshots {
                if !snap_weights.contains_key(name) {
                    let w = import(&format!("snapshot-{name}.safetensors"))?.valid();
                    snap_weights.insert(name.clone(), w);
                }
            }
        }
        for (k, (l, sv)) in learners.iter_mut().zip(&state.learners).enumerate() {
            let policy = import(&format!("learner-{k}.safetensors"))?;
            let optim = tensors_of(&format!("learner-{k}.optim.safetensors"))?;
            l.optim
                .load_state(sv.optim_steps, &optim, &policy, &device)
                .map_err(|e| {
                    RlError::Refused(format!(
                        "{}/learner-{k}.optim.safetensors: {e}",
                        ck.dir.display()
                    ))
                })?;
            l.policy = Some(policy);
            (l.steps, l.steps0, l.updates) = (sv.steps, sv.steps, sv.updates);
            (l.wins, l.losses, l.episodes) = (sv.wins, sv.losses, sv.episodes);
            (l.frame_count, l.resets) = (sv.frame_count, sv.resets);
            l.history = sv.history.clone();
            l.recent = sv.recent.iter().copied().collect();
            // A fresh stream for the frames to come (the saved one is not kept).
            l.rng = StdRng::seed_from_u64(seed ^ sv.updates.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if let Some(p) = l.population.as_mut() {
                for (i, name) in sv.snapshots.iter().enumerate() {
                    p.add_snapshot(name);
                    let mut bp = opponent(seed.wrapping_add(sv.updates * 31 + i as u64))?;
                    bp.set_policy(snap_weights[name].clone());
                    l.pool.add_policy(name.clone(), bp);
                }
                for slot in 0..n {
                    l.draw(slot);
                }
            }
        }
        follow_main(&mut learners);
        ratings = state.ratings.clone();
        snapshots_taken = state.snapshots_taken.clone();
        resumes = state.resumes.clone();
        resumes.push(rfc3339_utc(SystemTime::now()));
        choice.evals = state.evaluations.clone();
        if let Some(i) = state.best.filter(|&i| i < choice.evals.len()) {
            choice.best = Some((i, import("best.safetensors")?.valid()));
        }
        say(Line::Note(format!(
            "{what}: resumed {} at update {}, {} frames{}",
            rd.display(),
            learners[0].updates,
            learners[0].steps,
            if snap_weights.is_empty() {
                String::new()
            } else {
                format!(", {} snapshots in the population", snap_weights.len())
            }
        )));
    }
    let started = Instant::now();
    let meta = weights.metadata.clone();
    // The base run's record (the new record starts from it) and this run's creation time (kept
    // from its own record when resumed).
    let base_record = loaded_record(&weights.run_dir);
    let created_at = match &resumed {
        Some(r) => RunDir::new(&r.rd).read().ok().and_then(|f| f.created_at),
        None => None,
    }
    .unwrap_or_else(|| rfc3339_utc(SystemTime::now()));
    let save = |learners: &[Learner],
                status: &str,
                snapshots: &[String],
                ratings: &Ratings,
                choice: &Choice|
     -> Result<()> {
        let main = &learners[0];
        // The run's policy: the best evaluated weights (`--eval-every`), else the latest.
        let tensors = params::export(choice.best.as_ref().map_or(main.policy(), |(_, p)| p));
        let bytes = exphil_runs::tensors::encode_tensors(Path::new(MODEL_FILE), &tensors, &meta)?;
        exphil_io::write_atomic(&RunDir::new(&run_dir).model_path(), &bytes)?;
        for l in &learners[1..] {
            let tensors = params::export(l.policy());
            let file = format!("{}.safetensors", l.name);
            let bytes = exphil_runs::tensors::encode_tensors(Path::new(&file), &tensors, &meta)?;
            std::fs::create_dir_all(run_dir.join("league"))?;
            exphil_io::write_atomic(&run_dir.join("league").join(file), &bytes)?;
        }
        // The base run's record, with what this run is.
        let mut v = base_record.clone().unwrap_or_default();
        v.timestamp = Some(rfc3339_utc(SystemTime::now()));
        v.created_at = Some(created_at.clone());
        v.status = Some(status.into());
        // While running, the process (so a run killed outright reads as `killed`).
        v.process = (status == "running").then(RunProcess::current);
        v.training_type = Some(if league.is_some() { "self_play" } else { "ppo" }.into());
        v.parent = weights
            .run_dir
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned());
        v.resumes = resumes.clone();
        v.ppo_config = serde_json::to_value(config)?;
        v.other.insert(
            "ppo".into(),
            serde_json::json!({
                "config": ctx.cfg,
                "opponent": if league.is_some() { "population" } else { a.opponent.as_str() },
                "characters": [learner_fighter.character.name(), opp_fighter.character.name()],
                "timesteps": main.steps,
                "reward": ctx.reward.weights,
                "max_episode_frames": a.max_episode_frames,
                "history": main.history,
                "evaluations": choice.evals,
                "policy_from": choice.chosen(),
            }),
        );
        if is_league {
            v.other.insert("league".into(), serde_json::json!({
                "agents": learners.iter().map(|l| serde_json::json!({
                    "name": l.name, "role": l.role, "updates": l.updates, "timesteps": l.steps,
                    "episodes": l.episodes, "wins": l.wins, "losses": l.losses,
                    "resets": l.resets,
                    "weights": if l.role == Role::Main { MODEL_FILE.to_string() } else { format!("league/{}.safetensors", l.name) },
                })).collect::<Vec<_>>(),
                "snapshots": snapshots,
                "elo": ratings_table(ratings),
            }));
        }
        v.results = main
            .history
            .last()
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        RunDir::new(&run_dir).write(&v)?;
        Ok(())
    };
    // Everything needed to resume, written as one checkpoint directory (all or nothing).
    let checkpoint = |learners: &[Learner],
                      snapshots_taken: &[String],
                      ratings: &Ratings,
                      snap_weights: &BTreeMap<String, exphil_policy::Policy>,
                      choice: &Choice|
     -> Result<()> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut add = |name: String, tensors: &[NamedTensor], meta: &BTreeMap<String, String>| {
            let bytes = encode_tensors(Path::new(&name), tensors, meta)?;
            files.push((name, bytes));
            Ok::<(), RlError>(())
        };
        for (k, l) in learners.iter().enumerate() {
            add(
                format!("learner-{k}.safetensors"),
                &params::export(l.policy()),
                &meta,
            )?;
            add(
                format!("learner-{k}.optim.safetensors"),
                &l.optim.state_tensors(),
                &BTreeMap::new(),
            )?;
        }
        for (name, p) in snap_weights {
            add(
                format!("snapshot-{name}.safetensors"),
                &params::export(p),
                &meta,
            )?;
        }
        if let Some((_, p)) = &choice.best {
            add("best.safetensors".into(), &params::export(p), &meta)?;
        }
        let state = SavedRun {
            version: SAVED_VERSION,
            learners: learners
                .iter()
                .map(|l| SavedLearner {
                    name: l.name.clone(),
                    steps: l.steps,
                    updates: l.updates,
                    frame_count: l.frame_count,
                    wins: l.wins,
                    losses: l.losses,
                    episodes: l.episodes,
                    resets: l.resets,
                    optim_steps: l.optim.steps(),
                    history: l.history.clone(),
                    recent: l.recent.iter().copied().collect(),
                    snapshots: l
                        .population
                        .as_ref()
                        .map(|p| p.snapshots.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            snapshots_taken: snapshots_taken.to_vec(),
            ratings: ratings.clone(),
            resumes: resumes.clone(),
            evaluations: choice.evals.clone(),
            best: choice.best.as_ref().map(|(i, _)| *i),
        };
        files.push(("state.json".into(), serde_json::to_vec_pretty(&state)?));
        let (names, bytes): (Vec<String>, Vec<Vec<u8>>) = files.into_iter().unzip();
        let refs: Vec<(&str, Vec<u8>)> = names.iter().map(String::as_str).zip(bytes).collect();
        let ckpts = RunDir::new(&run_dir).checkpoints_path();
        std::fs::create_dir_all(&ckpts).doing(|| format!("creating {}", ckpts.display()))?;
        save_checkpoint(&ckpts, CHECKPOINT, &refs)?;
        Ok(())
    };
    save(&learners, "running", &snapshots_taken, &ratings, &choice)?;
    // The main learner's weights now against the imitation base and every scripted bot
    // (`--eval-every`): said, recorded, and kept as the run's policy when the best so far.
    let evaluate_now = |l: &mut Learner, choice: &mut Choice| -> Result<()> {
        let t0 = Instant::now();
        let mut me = opponent(seed ^ 0xe7a1)?;
        me.set_policy(l.policy().valid());
        let spec = RoundSpec {
            fighters: [learner_fighter, opp_fighter],
            games: config.eval.games,
            seed: seed.wrapping_add(l.updates.wrapping_mul(7919)),
            max_frames: a.max_episode_frames,
        };
        let base = opponent(seed ^ 0xba5e)?;
        let e = Evaluation::new(
            l.updates,
            l.steps,
            evaluate(me, base, "base", delay as usize, &spec),
        );
        let line = e.line();
        let mut scalars: Vec<(String, f64)> = e
            .results
            .iter()
            .map(|v| (format!("eval/{}", v.opponent), v.win_rate()))
            .collect();
        scalars.push(("eval/worst".into(), e.score));
        let chosen = choice.add(e, l.policy());
        say(Line::Note(format!(
            "{what}: evaluation at update {} ({} frames, {:.1} s): {line}{}",
            l.updates,
            l.steps,
            t0.elapsed().as_secs_f64(),
            if chosen { ", the run's policy now" } else { "" }
        )));
        if let Some(b) = l.board.as_mut() {
            let v: Vec<(&str, f64)> = scalars.iter().map(|(k, x)| (k.as_str(), *x)).collect();
            if let Some(stop) = b.write(l.steps as i64, &v) {
                say(Line::Note(stop));
            }
        }
        Ok(())
    };
    // Ctrl-C or SIGTERM: the update in progress finishes, a checkpoint is saved and the run is
    // marked `interrupted`.
    let stop = exphil_train::trainer::checkpoint_on_interrupt();
    // An error or a panic marks the run `failed` (its weights are left as last saved).
    let looped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<()> {
        while learners[0].steps < a.timesteps && !stop.load(Ordering::SeqCst) {
            for k in 0..learners.len() {
                learners[k].iterate(&ctx, &mut ratings, started);
                // Every pool's mirror of the main learner follows it.
                if k == 0 {
                    follow_main(&mut learners);
                }
                let Some(l) = &league else { continue };
                let updates = learners[k].updates;
                if l.snapshot_every == 0 || !updates.is_multiple_of(l.snapshot_every) {
                    continue;
                }
                let snap = if is_league {
                    format!("{}-v{updates}", learners[k].name)
                } else {
                    format!("v{updates}")
                };
                let rating = ratings.get(&learners[k].name).map(|r| r.rating);
                ratings.add(&snap, rating);
                let weights_now = learners[k].policy().valid();
                for (j, target) in learners.iter_mut().enumerate() {
                    // Main exploiters face only the current main agent.
                    if target.role == Role::MainExploiter {
                        continue;
                    }
                    let Some(p) = target.population.as_mut() else {
                        continue;
                    };
                    let before = p.snapshots.clone();
                    p.add_snapshot(&snap);
                    let after = p.snapshots.clone();
                    let mut bp = opponent(seed.wrapping_add(updates * 31 + j as u64))?;
                    bp.set_policy(weights_now.clone());
                    target.pool.add_policy(snap.clone(), bp);
                    snap_weights.insert(snap.clone(), weights_now.clone());
                    for gone in before.iter().filter(|x| !after.contains(x)) {
                        target.pool.policies.retain(|(n, _)| n != gone);
                        for slot in 0..n {
                            if target.pool.assign[slot] == Member::Policy(gone.clone()) {
                                target.draw(slot);
                            }
                        }
                    }
                }
                snapshots_taken.push(snap.clone());
                snap_weights.retain(|name, _| {
                    learners.iter().any(|l| {
                        l.population
                            .as_ref()
                            .is_some_and(|p| p.snapshots.contains(name))
                    })
                });
                say(Line::Note(format!(
                    "exphil selfplay: snapshot {snap} joins the population ({} kept)",
                    learners[0]
                        .population
                        .as_ref()
                        .map_or(0, |p| p.snapshots.len())
                )));
                // Exploiters start over once they have done their job.
                let learner = &mut learners[k];
                let recent =
                    learner.recent.iter().sum::<f64>() / learner.recent.len().max(1) as f64;
                let restart = match learner.role {
                    Role::Main => false,
                    Role::MainExploiter => learner.recent.len() >= 10 && recent > 0.7,
                    Role::LeagueExploiter => league_rng.unit() < 0.25,
                };
                if restart {
                    learner.reset_to_imitation(&ctx)?;
                    say(Line::Note(format!(
                        "exphil selfplay: {} starts over from the imitation policy (reset {})",
                        learner.name, learner.resets
                    )));
                }
            }
            if league.as_ref().is_some_and(|l| l.track_elo) {
                // Snapshots nobody has played yet are left out.
                let table: Vec<String> = ratings
                    .leaderboard()
                    .iter()
                    .filter(|r| r.games > 0)
                    .map(|r| {
                        format!(
                            "{} {:.0} ({}-{}-{})",
                            r.name, r.rating, r.wins, r.losses, r.draws
                        )
                    })
                    .collect();
                say(Line::Note(format!("Elo: {}", table.join(", "))));
            }
            if config.eval.every > 0 && learners[0].updates.is_multiple_of(config.eval.every) {
                evaluate_now(&mut learners[0], &mut choice)?;
            }
            if config.checkpoint_every > 0
                && learners[0].updates.is_multiple_of(config.checkpoint_every)
            {
                save(&learners, "running", &snapshots_taken, &ratings, &choice)?;
                checkpoint(
                    &learners,
                    &snapshots_taken,
                    &ratings,
                    &snap_weights,
                    &choice,
                )?;
            }
        }
        // A last evaluation of the final weights, unless the run was stopped.
        if config.eval.every > 0
            && !stop.load(Ordering::SeqCst)
            && choice
                .evals
                .last()
                .is_none_or(|e| e.update != learners[0].updates)
        {
            evaluate_now(&mut learners[0], &mut choice)?;
        }
        Ok(())
    }));
    let register = || {
        if let Err(e) = exphil_runs::models::register_run(&dir, &run_dir) {
            say(Line::Note(format!(
                "{what}: warning: the registry was not updated: {e}"
            )));
        }
    };
    let failed = |why: &str| {
        if let Err(e) = exphil_runs::models::set_run_status(&run_dir, "failed") {
            say(Line::Note(format!("{what}: warning: {e}")));
        }
        register();
        say(Line::Note(format!(
            "{what}: the run {} failed ({why})",
            run_dir.display()
        )));
    };
    match looped {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            failed("an error");
            return Err(e);
        }
        Err(panic) => {
            failed("a panic");
            std::panic::resume_unwind(panic);
        }
    }
    if stop.load(Ordering::SeqCst) {
        save(
            &learners,
            "interrupted",
            &snapshots_taken,
            &ratings,
            &choice,
        )?;
        checkpoint(
            &learners,
            &snapshots_taken,
            &ratings,
            &snap_weights,
            &choice,
        )?;
        register();
        say(Line::Out(format!(
            "✓ Interrupt checkpoint saved at update {} ({} frames)",
            learners[0].updates, learners[0].steps
        )));
        say(Line::Out(format!(
            "  Resume with the same command and --resume {}",
            run_dir.display()
        )));
        return Ok(ExitCode::from(130));
    }
    save(&learners, "completed", &snapshots_taken, &ratings, &choice)?;
    checkpoint(
        &learners,
        &snapshots_taken,
        &ratings,
        &snap_weights,
        &choice,
    )?;
    register();
    let main = &learners[0];
    let secs = started.elapsed().as_secs_f64();
    let failed: usize = learners.iter().map(|l| l.batch.faults.len()).sum();
    let all_frames: u64 = learners.iter().map(|l| l.steps - l.steps0).sum();
    say(Line::Out(format!(
        "{what}: {} updates, {} frames in {secs:.1} s ({:.0} frames/s{}); {} episodes \
         (won {}, lost {}); {failed} games failed and were replaced; saved {}",
        main.updates,
        main.steps,
        all_frames as f64 / secs,
        if learners.len() > 1 {
            format!(" over all {} learners", learners.len())
        } else {
            String::new()
        },
        main.episodes,
        main.wins,
        main.losses,
        run_dir.display()
    )));
    if let Some(e) = choice.chosen() {
        say(Line::Out(format!(
            "  its policy: the weights of update {} ({} frames), the best of {} evaluations \
             ({})",
            e.update,
            e.timesteps,
            choice.evals.len(),
            e.line()
        )));
    }
    if is_league {
        for l in &learners[1..] {
            say(Line::Out(format!(
                "  {}: {} updates, {} episodes (won {}, lost {}), started over {} times; weights \
                 in {}",
                l.name,
                l.updates,
                l.episodes,
                l.wins,
                l.losses,
                l.resets,
                run_dir
                    .join("league")
                    .join(format!("{}.safetensors", l.name))
                    .display()
            )));
        }
        say(Line::Out(format!("  Elo: {}", ratings_line(&ratings))));
    }
    Ok(ExitCode::SUCCESS)
}

fn ratings_table(r: &Ratings) -> Vec<serde_json::Value> {
    r.leaderboard()
        .iter()
        .map(|p| serde_json::json!({"name": p.name, "rating": p.rating, "games": p.games, "wins": p.wins, "losses": p.losses, "draws": p.draws}))
        .collect()
}

fn ratings_line(r: &Ratings) -> String {
    let v: Vec<String> = r
        .leaderboard()
        .iter()
        .filter(|p| p.games > 0)
        .map(|p| format!("{} {:.0}", p.name, p.rating))
        .collect();
    v.join(", ")
}

/// The pretrained run's record, when it has a run directory.
fn loaded_record(run_dir: &Option<PathBuf>) -> Option<RunFile> {
    run_dir.as_ref().and_then(|d| RunDir::new(d).read().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annealed_learning_rate_falls_linearly_with_the_frames_done() {
        let mut cfg = PpoConfig {
            lr: 1e-3,
            ..PpoConfig::default()
        };
        assert_eq!(annealed(&cfg, 500, 1000).lr, 1e-3, "off by default");
        cfg.anneal_lr = true;
        assert_eq!(annealed(&cfg, 0, 1000).lr, 1e-3);
        assert!((annealed(&cfg, 250, 1000).lr - 7.5e-4).abs() < 1e-15);
        assert_eq!(annealed(&cfg, 1000, 1000).lr, 0.0);
        assert_eq!(
            annealed(&cfg, 1500, 1000).lr,
            0.0,
            "past the end: 0, not negative"
        );
        assert_eq!(annealed(&cfg, 10, 0).lr, 0.0);
    }
}
