//! `exphil serve`: a trained policy as a UMI v1 bot (FORMATS §3). The main thread owns the
//! socket; a worker thread owns the model and answers jobs in order (so every game's memory
//! sees its frames in order). An observation the worker has not answered by the deadline is
//! answered with each game's previous controller (neutral for a new game) and counted; the
//! late answer is dropped.

use crate::eval::{checkpoints_dir, policy_path};
use anyhow::{bail, Context, Result};
use clap::Args;
use exphil_policy::Sampling;
use exphil_replay::ExternalCharacter;
use exphil_train::agent::BatchedPolicy;
use exphil_train::model_file::{load_for_play, LoadedPolicy};
use exphil_train::trainer::device_of;
use exphil_umi::protocol::{act, error, read_message_limited, ready, session_limit, write_message};
use exphil_umi::{characters_of, Controller13, Hello, Message, Obs, ProtocolError, Welcome};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// `exphil serve` arguments.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The policy: a run directory, a run name in the registry, or a weights file.
    #[arg(long, value_name = "RUN")]
    pub policy: String,
    /// The input delay to declare [default: the delay the policy trained with].
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u8).range(0..=30))]
    pub delay: Option<u8>,
    /// The characters to declare: ALL, or names joined by commas or + [default: the
    /// characters the policy trained on].
    #[arg(long, value_name = "CHARS")]
    pub characters: Option<String>,
    /// Always the most likely controller (and declare the bot deterministic).
    #[arg(long, conflicts_with = "temperature")]
    pub deterministic: bool,
    /// Sampling temperature (1 samples the policy's own distribution).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub temperature: f64,
    /// The arena's Unix socket [default: $UMI_SOCKET].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The bot's name [default: exphil-<the run's name>].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Answer an observation within this many milliseconds, with each game's previous
    /// controller when the model is late [default: 80% of the arena's act timeout].
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<f64>,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// The neutral controller row.
const NEUTRAL: Controller13 = [
    0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

/// Work for the model, in arrival order.
enum Job {
    Start(Welcome),
    Obs { obs: Obs, warmup: bool },
    NewGames(Vec<u32>),
    EndGames(Vec<u32>),
}

/// The model's answer to an observation.
struct Answer {
    seq: u64,
    rows: Vec<Controller13>,
    /// Rows whose frame had out-of-range values (answered with the previous controller).
    anomalous: Vec<bool>,
}

/// The model and every game's memory: the arena's games mapped to slots of a batched policy.
/// Slots `max_games..` serve warmups, whose memory is thrown away.
struct Brain {
    policy: BatchedPolicy,
    max_games: usize,
    slots: HashMap<u32, usize>,
    free: Vec<usize>,
}

impl Brain {
    fn start(&mut self, w: &Welcome) {
        self.policy.configure(w.max_games, w.delay);
        self.policy.seed(w.rng_seed);
        self.max_games = w.max_games;
        self.slots.clear();
        self.free = (0..w.max_games).rev().collect();
    }

    fn slot(&mut self, game: u32) -> Result<usize, String> {
        if let Some(&s) = self.slots.get(&game) {
            return Ok(s);
        }
        // A game observed without new_games gets a slot too, when one is free.
        let s = self
            .free
            .pop()
            .ok_or_else(|| format!("game {game}: more concurrent games than max_games"))?;
        self.slots.insert(game, s);
        Ok(s)
    }

    fn end(&mut self, game: u32) {
        if let Some(s) = self.slots.remove(&game) {
            self.free.push(s);
        }
    }

    fn answer(&mut self, obs: &Obs, warmup: bool) -> Result<Answer, String> {
        let n = obs.games.len();
        let slots: Vec<usize> = if warmup {
            let first = self.max_games;
            self.policy.ensure_slots(first + n);
            (first..first + n).collect()
        } else {
            obs.games
                .iter()
                .map(|&g| self.slot(g))
                .collect::<Result<_, _>>()?
        };
        let mut seen = std::collections::HashSet::with_capacity(n);
        if !slots.iter().all(|s| seen.insert(*s)) {
            return Err("a game twice in one observation".into());
        }
        for (i, &slot) in slots.iter().enumerate() {
            // A warmup, and a game's first observation, start afresh.
            if warmup || obs.first[i] {
                self.policy.reset(slot);
            }
        }
        let rows: Vec<(usize, &exphil_state::GameState)> =
            slots.iter().copied().zip(&obs.frames).collect();
        // Out-of-range values: the model still steps (its memory stays in time) on cleaned
        // features, and the game repeats its previous controller (the caller's part).
        let (rows, anomalous) = self
            .policy
            .step(&rows)
            .into_iter()
            .map(|(c, bad)| (c.to_row(), bad))
            .unzip();
        Ok(Answer {
            seq: obs.seq,
            rows,
            anomalous,
        })
    }
}

/// The worker: answers jobs in order until the channel closes.
fn work(mut brain: Brain, jobs: Receiver<Job>, answers: Sender<Result<Answer, String>>) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Start(w) => brain.start(&w),
            Job::NewGames(g) => {
                for h in g {
                    if let Err(e) = brain.slot(h) {
                        let _ = answers.send(Err(e));
                    }
                }
            }
            Job::EndGames(g) => {
                for h in g {
                    brain.end(h);
                }
            }
            Job::Obs { obs, warmup } => {
                if answers.send(brain.answer(&obs, warmup)).is_err() {
                    return;
                }
            }
        }
    }
}

/// The characters a policy trained on (its `--train-character`, else its `--characters`
/// filter, else every character of its training games), as written in its run.
pub(crate) fn trained_characters(loaded: &LoadedPolicy) -> Vec<String> {
    let data = loaded.data.clone().unwrap_or_default();
    if !data.train_character.is_empty() {
        data.train_character.clone()
    } else if !data.characters.is_empty() {
        data.characters.clone()
    } else {
        loaded
            .run_dir
            .as_ref()
            .and_then(|d| exphil_runs::rundir::RunDir::new(d).read().ok())
            .and_then(|v| {
                v.provenance["character_distribution"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
            })
            .unwrap_or_default()
    }
}

/// What the policy declares: its training characters, as UMI names.
fn declared_characters(loaded: &LoadedPolicy, given: &Option<String>) -> Result<String> {
    let parse = |names: &[String]| -> Result<Vec<ExternalCharacter>> {
        names
            .iter()
            .map(|n| {
                ExternalCharacter::parse(n.trim())
                    .with_context(|| format!("unknown character {n:?}"))
            })
            .collect()
    };
    if let Some(g) = given {
        if g.trim().eq_ignore_ascii_case("all") {
            return Ok("ALL".into());
        }
        let names: Vec<String> = g.split([',', '+']).map(str::to_owned).collect();
        return characters_of(&parse(&names)?).context("no playable character in --characters");
    }
    let mut names = trained_characters(loaded);
    names.retain(|n| ExternalCharacter::parse(n).is_some());
    Ok(characters_of(&parse(&names)?).unwrap_or_else(|| "ALL".into()))
}

/// Reply-time statistics.
#[derive(Default)]
struct Stats {
    observations: u64,
    frames: u64,
    fallbacks: u64,
    anomalies: u64,
    reply_us: Vec<f64>,
}

/// Runs `exphil serve`.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let socket = a
        .socket
        .clone()
        .or_else(|| std::env::var_os("UMI_SOCKET").map(PathBuf::from))
        .context("no arena socket: set UMI_SOCKET or pass --socket PATH")?;
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be positive");
    }
    let device = device_of(&a.device)?;
    let path = policy_path(&checkpoints_dir(&a.checkpoints), &a.policy)?;
    let loaded = load_for_play(&path, &device).with_context(|| format!("loading {}", a.policy))?;
    let hello = Hello {
        name: a
            .name
            .clone()
            .unwrap_or_else(|| format!("exphil-{}", loaded.name())),
        characters: declared_characters(&loaded, &a.characters)?,
        delay: a.delay.unwrap_or_else(|| loaded.frame_delay().min(30)),
        deterministic: a.deterministic,
    };
    eprintln!(
        "exphil serve: {} ({}), characters {}, delay {}, {}",
        hello.name,
        loaded.config.backbone.describe(),
        hello.characters,
        hello.delay,
        if a.deterministic {
            "deterministic".to_string()
        } else {
            format!("temperature {}", a.temperature)
        }
    );
    let sampling = if a.deterministic {
        Sampling::Argmax
    } else {
        Sampling::Temperature(a.temperature)
    };
    let brain = Brain {
        policy: BatchedPolicy::new(loaded, device, sampling, hello.delay, 0, 0)?,
        max_games: 0,
        slots: HashMap::new(),
        free: Vec::new(),
    };
    let stream = UnixStream::connect(&socket)
        .with_context(|| format!("connecting to the arena at {}", socket.display()))?;
    let mut writer = stream.try_clone()?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stream);
    let (job_tx, job_rx) = channel::<Job>();
    let (ans_tx, ans_rx) = channel::<Result<Answer, String>>();
    let worker = std::thread::spawn(move || work(brain, job_rx, ans_tx));
    let mut stats = Stats::default();
    let result = session(
        &a,
        &hello,
        &mut reader,
        &mut writer,
        &job_tx,
        &ans_rx,
        &mut stats,
    );
    drop(job_tx);
    let _ = worker.join();
    report(&stats, &a);
    match result {
        Ok(reason) => {
            eprintln!("exphil serve: shutdown ({reason})");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // Tell the arena why, when the socket still takes it.
            let code = match &e {
                ProtocolError::Invalid(_) | ProtocolError::Size(_) | ProtocolError::Decode(_) => {
                    "ProtocolError"
                }
                ProtocolError::Closed | ProtocolError::ClosedMidMessage { .. } => "Closed",
                ProtocolError::Io(_) => "IoError",
            };
            let _ = write_message(&mut writer, &error(code, &e.to_string()));
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn report(stats: &Stats, a: &ServeArgs) {
    let mut v = stats.reply_us.clone();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| exphil_policy::sample::quantile(&v, p);
    eprintln!(
        "exphil serve: {} observations, {} game frames, reply p50 {:.0} µs, p99 {:.0} µs; {} \
         answered by the fallback (model past the {} deadline), {} frames with out-of-range values",
        stats.observations,
        stats.frames,
        if v.is_empty() { 0.0 } else { q(0.5) },
        if v.is_empty() { 0.0 } else { q(0.99) },
        stats.fallbacks,
        a.deadline_ms
            .map_or_else(|| "default".into(), |d| format!("{d} ms")),
        stats.anomalies
    );
}

/// The protocol from hello to shutdown; returns the shutdown reason.
#[allow(clippy::too_many_arguments)]
fn session(
    a: &ServeArgs,
    hello: &Hello,
    reader: &mut impl std::io::Read,
    writer: &mut UnixStream,
    jobs: &Sender<Job>,
    answers: &Receiver<Result<Answer, String>>,
    stats: &mut Stats,
) -> Result<String, ProtocolError> {
    let send = |w: &mut UnixStream, v| write_message(w, &v);
    send(writer, hello.to_value())?;
    let welcome = match Message::parse(&read_message_limited(reader, session_limit(0))?, 0)? {
        Message::Welcome(w) => w,
        Message::Shutdown(r) => return Ok(format!("turned away: {r}")),
        m => {
            return Err(ProtocolError::Invalid(format!(
                "expected welcome, got {}",
                name(&m)
            )))
        }
    };
    if welcome.delay != hello.delay {
        eprintln!(
            "exphil serve: the arena applies delay {} (declared {}); the policy is told {}",
            welcome.delay, hello.delay, welcome.delay
        );
    }
    let deadline = Duration::from_secs_f64(
        a.deadline_ms
            .map_or(welcome.act_s * 0.8, |ms| ms.max(0.0) / 1000.0),
    );
    let max_games = welcome.max_games;
    let _ = jobs.send(Job::Start(welcome.clone()));
    // Each game's last controller: the fallback.
    let mut last: HashMap<u32, Controller13> = HashMap::new();
    let mut warmups_left = welcome.warmups;
    let mut said_ready = welcome.warmups == 0;
    if said_ready {
        send(writer, ready())?;
    }
    let limit = session_limit(max_games);
    loop {
        let msg = Message::parse(&read_message_limited(reader, limit)?, max_games)?;
        if let Message::Warmup(obs) | Message::Obs(obs) = &msg {
            welcome.check(obs)?;
        }
        match msg {
            Message::Warmup(obs) | Message::Obs(obs) if obs.games.is_empty() => {
                send(writer, act(obs.seq, &[]))?;
            }
            Message::Warmup(obs) => {
                let seq = obs.seq;
                let _ = jobs.send(Job::Obs { obs, warmup: true });
                // Warmups wait as long as the model needs (they are for compiling).
                let ans = wait_for(answers, seq, Duration::from_secs(3600), stats)
                    .map_err(ProtocolError::Invalid)?;
                let rows = ans.map(|x| x.rows).unwrap_or_default();
                send(writer, act(seq, &rows))?;
                warmups_left = warmups_left.saturating_sub(1);
                if warmups_left == 0 && !said_ready {
                    said_ready = true;
                    send(writer, ready())?;
                }
            }
            Message::Obs(obs) => {
                let t0 = Instant::now();
                let seq = obs.seq;
                let games = obs.games.clone();
                let _ = jobs.send(Job::Obs { obs, warmup: false });
                let rows = match wait_for(answers, seq, deadline, stats)
                    .map_err(ProtocolError::Invalid)?
                {
                    Some(ans) => {
                        let mut rows = ans.rows;
                        for ((g, r), bad) in games.iter().zip(rows.iter_mut()).zip(&ans.anomalous) {
                            if *bad {
                                *r = last.get(g).copied().unwrap_or(NEUTRAL);
                            } else {
                                last.insert(*g, *r);
                            }
                        }
                        rows
                    }
                    None => {
                        stats.fallbacks += 1;
                        games
                            .iter()
                            .map(|g| last.get(g).copied().unwrap_or(NEUTRAL))
                            .collect()
                    }
                };
                send(writer, act(seq, &rows))?;
                stats.observations += 1;
                stats.frames += games.len() as u64;
                stats.reply_us.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            Message::NewGames(g) => {
                let handles: Vec<u32> = g.iter().map(|x| x.game).collect();
                for h in &handles {
                    last.remove(h);
                }
                let _ = jobs.send(Job::NewGames(handles));
            }
            Message::EndGames(e) => {
                for h in &e.games {
                    last.remove(h);
                }
                let _ = jobs.send(Job::EndGames(e.games));
            }
            Message::Shutdown(reason) => return Ok(reason),
            Message::Welcome(_) => {
                return Err(ProtocolError::Invalid("a second welcome".into()));
            }
        }
    }
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Welcome(_) => "welcome",
        Message::Warmup(_) => "warmup",
        Message::Obs(_) => "obs",
        Message::NewGames(_) => "new_games",
        Message::EndGames(_) => "end_games",
        Message::Shutdown(_) => "shutdown",
    }
}

/// Waits up to `timeout` for the answer to `seq`; earlier (late) answers, already answered by
/// the fallback, are dropped. `Ok(None)`: not in time. `Err`: the model failed.
fn wait_for(
    answers: &Receiver<Result<Answer, String>>,
    seq: u64,
    timeout: Duration,
    stats: &mut Stats,
) -> Result<Option<Answer>, String> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match answers.recv_timeout(left) {
            Ok(Ok(ans)) => {
                stats.anomalies += ans.anomalous.iter().filter(|&&a| a).count() as u64;
                if ans.seq == seq {
                    return Ok(Some(ans));
                }
                // A late answer to an earlier observation: already answered by the fallback.
            }
            Ok(Err(e)) => return Err(format!("the model failed: {e}")),
            Err(RecvTimeoutError::Timeout) => return Ok(None),
            Err(RecvTimeoutError::Disconnected) => return Err("the model's thread stopped".into()),
        }
    }
}
