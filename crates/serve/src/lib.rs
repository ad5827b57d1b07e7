//! Serving a policy to the Computer Melee Championship arena (UMI v1): the session from `hello`
//! to `shutdown` over any byte stream, answering each observation before a deadline through a
//! decision source ([`Decide`]) that runs on its own thread. A late model never delays a reply:
//! the game repeats its previous controller (the fallback), and the late answer is dropped.
//! [`PolicyBrain`] is the decision source of a trained policy; tests drive the session with
//! their own. [`live`] is the other way to play: live in Slippi Dolphin.
#![deny(missing_docs)]

pub mod live;

use exphil_policy::agent::BatchedPolicy;
use exphil_policy::file::LoadedPolicy;
use exphil_replay::ExternalCharacter;
use exphil_umi::protocol::{act, read_message_limited, ready, session_limit, write_message};
use exphil_umi::{characters_of, Controller13, Hello, Message, Obs, ProtocolError, Welcome};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The neutral controller row: what a game gets before its first answer.
pub const NEUTRAL: Controller13 = [
    0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

/// A decision source's answer to one observation: a controller row per game, and which games'
/// frames had out-of-range values (those games repeat their previous controller).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// One row per game of the observation, in order.
    pub rows: Vec<Controller13>,
    /// Per game: its frame had out-of-range values.
    pub anomalous: Vec<bool>,
}

/// What answers the arena: a model and every game's memory. It runs on the session's worker
/// thread, one call at a time, in arrival order.
pub trait Decide: Send + 'static {
    /// A session starts.
    fn start(&mut self, welcome: &Welcome);
    /// A game begins: memory for it, or why there is none.
    fn new_game(&mut self, game: u32) -> Result<(), String>;
    /// A game ended: its memory is freed.
    fn end_game(&mut self, game: u32);
    /// The controllers for `obs`. A warmup's memory is thrown away; a game's first observation
    /// starts its memory afresh.
    fn answer(&mut self, obs: &Obs, warmup: bool) -> Result<Answer, String>;
}

/// A trained policy as a decision source: the arena's games mapped to slots of a batched
/// policy; slots `max_games..` serve warmups, whose memory is thrown away.
pub struct PolicyBrain {
    policy: BatchedPolicy,
    max_games: usize,
    slots: HashMap<u32, usize>,
    free: Vec<usize>,
}

impl PolicyBrain {
    /// The decision source of `policy`.
    pub fn new(policy: BatchedPolicy) -> PolicyBrain {
        PolicyBrain {
            policy,
            max_games: 0,
            slots: HashMap::new(),
            free: Vec::new(),
        }
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
}

impl Decide for PolicyBrain {
    fn start(&mut self, w: &Welcome) {
        self.policy.configure(w.max_games, w.delay);
        self.policy.seed(w.rng_seed);
        self.max_games = w.max_games;
        self.slots.clear();
        self.free = (0..w.max_games).rev().collect();
    }

    fn new_game(&mut self, game: u32) -> Result<(), String> {
        self.slot(game).map(|_| ())
    }

    fn end_game(&mut self, game: u32) {
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
        // features, and the game repeats its previous controller (the session's part).
        let (rows, anomalous) = self
            .policy
            .step(&rows)
            .into_iter()
            .map(|(c, bad)| (c.to_row(), bad))
            .unzip();
        Ok(Answer { rows, anomalous })
    }
}

/// What a policy declares in `hello`: `given` (`ALL`, or names joined by commas or `+`), else
/// its training characters, as UMI names (`ALL` when none of them is playable).
pub fn declared_characters(loaded: &LoadedPolicy, given: Option<&str>) -> Result<String, String> {
    let parse = |names: &[String]| -> Result<Vec<ExternalCharacter>, String> {
        names
            .iter()
            .map(|n| {
                ExternalCharacter::parse(n.trim()).ok_or_else(|| format!("unknown character {n:?}"))
            })
            .collect()
    };
    if let Some(g) = given {
        if g.trim().eq_ignore_ascii_case("all") {
            return Ok("ALL".into());
        }
        let names: Vec<String> = g.split([',', '+']).map(str::to_owned).collect();
        return characters_of(&parse(&names)?)
            .ok_or_else(|| "no playable character in --characters".to_string());
    }
    let mut names = loaded.trained_characters();
    names.retain(|n| ExternalCharacter::parse(n).is_some());
    Ok(characters_of(&parse(&names)?).unwrap_or_else(|| "ALL".into()))
}

/// What a session did: observations answered, game frames, fallbacks (the model past the
/// deadline), frames with out-of-range values, and each observation's reply time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Observations answered (warmups aside).
    pub observations: u64,
    /// Game frames in them.
    pub frames: u64,
    /// Observations answered by the fallback.
    pub fallbacks: u64,
    /// Frames with out-of-range values.
    pub anomalies: u64,
    /// Reply time of each observation, in microseconds.
    pub reply_us: Vec<f64>,
}

impl Stats {
    /// The median and 99th-percentile reply times in microseconds (0 with no observation).
    pub fn reply_quantiles(&self) -> (f64, f64) {
        if self.reply_us.is_empty() {
            return (0.0, 0.0);
        }
        let mut v = self.reply_us.clone();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| exphil_policy::sample::quantile(&v, p);
        (q(0.5), q(0.99))
    }
}

/// The UMI error code of a session's failure, for the `error` message sent before closing.
pub fn error_code(e: &ProtocolError) -> &'static str {
    match e {
        ProtocolError::Invalid(_) | ProtocolError::Size(_) | ProtocolError::Decode(_) => {
            "ProtocolError"
        }
        ProtocolError::Closed | ProtocolError::ClosedMidMessage { .. } => "Closed",
        ProtocolError::Io(_) => "IoError",
    }
}

/// Work for the decision source, in arrival order.
enum Job {
    Start(Welcome),
    Obs { obs: Obs, warmup: bool },
    NewGames(Vec<u32>),
    EndGames(Vec<u32>),
}

/// An answer with the sequence number it answers.
type Answered = Result<(u64, Answer), String>;

/// The worker: answers jobs in order until the channel closes.
fn work(mut brain: impl Decide, jobs: Receiver<Job>, answers: Sender<Answered>) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Start(w) => brain.start(&w),
            Job::NewGames(g) => {
                for h in g {
                    if let Err(e) = brain.new_game(h) {
                        let _ = answers.send(Err(e));
                    }
                }
            }
            Job::EndGames(g) => {
                for h in g {
                    brain.end_game(h);
                }
            }
            Job::Obs { obs, warmup } => {
                let answer = brain.answer(&obs, warmup).map(|a| (obs.seq, a));
                if answers.send(answer).is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs one session from `hello` to `shutdown` over `reader`/`writer`, with `brain` answering
/// on a thread of its own. `deadline_ms` bounds each reply (default: 80% of the arena's act
/// timeout). `note` hears what the operator should know (a delay the arena changed). Returns
/// the shutdown reason, or the protocol failure, and what the session did.
pub fn run_session(
    brain: impl Decide,
    hello: &Hello,
    deadline_ms: Option<f64>,
    reader: &mut impl Read,
    writer: &mut impl Write,
    note: &mut dyn FnMut(String),
) -> (Result<String, ProtocolError>, Stats) {
    let (job_tx, job_rx) = channel::<Job>();
    let (ans_tx, ans_rx) = channel::<Answered>();
    let worker = std::thread::spawn(move || work(brain, job_rx, ans_tx));
    let mut stats = Stats::default();
    let result = session(
        hello,
        deadline_ms,
        reader,
        writer,
        &job_tx,
        &ans_rx,
        &mut stats,
        note,
    );
    drop(job_tx);
    let _ = worker.join();
    (result, stats)
}

/// The protocol from hello to shutdown; returns the shutdown reason.
#[allow(clippy::too_many_arguments)]
fn session(
    hello: &Hello,
    deadline_ms: Option<f64>,
    reader: &mut impl Read,
    writer: &mut impl Write,
    jobs: &Sender<Job>,
    answers: &Receiver<Answered>,
    stats: &mut Stats,
    note: &mut dyn FnMut(String),
) -> Result<String, ProtocolError> {
    write_message(writer, &hello.to_value())?;
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
        note(format!(
            "the arena applies delay {} (declared {}); the policy is told {}",
            welcome.delay, hello.delay, welcome.delay
        ));
    }
    let deadline =
        Duration::from_secs_f64(deadline_ms.map_or(welcome.act_s * 0.8, |ms| ms.max(0.0) / 1000.0));
    let max_games = welcome.max_games;
    let _ = jobs.send(Job::Start(welcome.clone()));
    // Each game's last controller: the fallback.
    let mut last: HashMap<u32, Controller13> = HashMap::new();
    let mut warmups_left = welcome.warmups;
    let mut said_ready = welcome.warmups == 0;
    if said_ready {
        write_message(writer, &ready())?;
    }
    let limit = session_limit(max_games);
    loop {
        let msg = Message::parse(&read_message_limited(reader, limit)?, max_games)?;
        if let Message::Warmup(obs) | Message::Obs(obs) = &msg {
            welcome.check(obs)?;
        }
        match msg {
            Message::Warmup(obs) | Message::Obs(obs) if obs.games.is_empty() => {
                write_message(writer, &act(obs.seq, &[]))?;
            }
            Message::Warmup(obs) => {
                let seq = obs.seq;
                let _ = jobs.send(Job::Obs { obs, warmup: true });
                // Warmups wait as long as the model needs (they are for compiling).
                let ans = wait_for(answers, seq, Duration::from_secs(3600), stats)
                    .map_err(ProtocolError::Invalid)?;
                let rows = ans.map(|x| x.rows).unwrap_or_default();
                write_message(writer, &act(seq, &rows))?;
                warmups_left = warmups_left.saturating_sub(1);
                if warmups_left == 0 && !said_ready {
                    said_ready = true;
                    write_message(writer, &ready())?;
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
                write_message(writer, &act(seq, &rows))?;
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
    answers: &Receiver<Answered>,
    seq: u64,
    timeout: Duration,
    stats: &mut Stats,
) -> Result<Option<Answer>, String> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match answers.recv_timeout(left) {
            Ok(Ok((s, ans))) => {
                stats.anomalies += ans.anomalous.iter().filter(|&&a| a).count() as u64;
                if s == seq {
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
