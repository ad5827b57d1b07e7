//! Playing live in Slippi Dolphin: the loop from the spectator stream to the controller pipes,
//! one loop for both modes. Each frame every piped port gets one batch; what it holds comes
//! from a decision source: [`Inline`] decides every frame before its input is sent (Dolphin
//! waits: synchronous), [`Background`] decides on the newest state on a worker thread and each
//! frame sends the newest decision made (asynchronous). Menus are navigated from menu frames;
//! a game's start resets every seat; silences are bridged with idle batches when Dolphin waits.

use exphil_dolphin::pipe::{ControllerPipe, Pad, PipeError};
use exphil_dolphin::userdir::Dolphin;
use exphil_dolphin::{
    LiveEvent, LiveStream, MenuState, Message, Navigator, SeatView, SpectatorClient, SpectatorError,
};
use exphil_policy::agent::Player;
use exphil_replay::Port;
use exphil_state::DelayQueue;
use exphil_state::{Controller, GameState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Why play stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A controller pipe failed.
    #[error(transparent)]
    Pipe(#[from] PipeError),
    /// The spectator server went away.
    #[error("{0} (Dolphin closed, or the game was quit)")]
    Disconnected(SpectatorError),
    /// The spectator stream failed otherwise.
    #[error(transparent)]
    Spectator(SpectatorError),
    /// The Dolphin exphil launched exited.
    #[error("Dolphin exited ({0})")]
    DolphinExited(std::process::ExitStatus),
}

type Result<T> = std::result::Result<T, LiveError>;

/// What play needs of its options: how many games (0: until stopped), and how to find the
/// opponent's port (`opponent_port`, or online, the player whose connect code is not ours).
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Games to play (0: no limit).
    pub games: u64,
    /// The opponent's port, when known.
    pub opponent_port: Option<u8>,
    /// The opponent's connect code, online.
    pub connect_code: Option<String>,
}

/// One piped port in a game: who decides its input, and its delay queue.
pub struct Seat {
    /// The port (1–4).
    pub port: u8,
    /// Its controller pipe.
    pub pipe: ControllerPipe,
    /// The player deciding it (an index into the decision source; None: a CPU's port,
    /// neutral in game).
    pub player: Option<usize>,
    /// The game from its seat, while in a game.
    pub view: Option<SeatView>,
    /// Decisions waiting their delay.
    pub queue: DelayQueue<Pad>,
    /// Its last controller.
    pub last: Controller,
    /// The menu navigator, when exphil picks characters and stage.
    pub navigator: Option<Navigator>,
}

/// Live statistics.
#[derive(Default)]
pub struct LiveStats {
    /// Game frames.
    pub frames: u64,
    /// Games ended.
    pub games: u64,
    /// Decisions made.
    pub inferences: u64,
    /// Each decision's time, in microseconds.
    pub infer_us: Vec<f64>,
    /// Async: frames that got a decision made for an earlier frame.
    pub stale: u64,
    /// Menu frames.
    pub menu_frames: u64,
    /// Batches sent while Dolphin sent nothing.
    pub idle_batches: u64,
    /// When play started.
    pub started: Option<Instant>,
}

impl LiveStats {
    /// The one-line summary printed as play goes.
    pub fn line(&self) -> String {
        let mut v = self.infer_us.clone();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if v.is_empty() {
                0.0
            } else {
                exphil_policy::sample::quantile(&v, p) / 1000.0
            }
        };
        let secs = self
            .started
            .map_or(0.0, |s| s.elapsed().as_secs_f64())
            .max(1e-9);
        format!(
            "{} games, {} game frames ({:.1}/s), {} inferences ({:.1}/s), inference {:.2} ms \
             median, {:.2} ms p99; {} stale decisions; {} menu frames; {} idle batches",
            self.games,
            self.frames,
            self.frames as f64 / secs,
            self.inferences,
            self.inferences as f64 / secs,
            q(0.5),
            q(0.99),
            self.stale,
            self.menu_frames,
            self.idle_batches
        )
    }
}

/// The asynchronous worker's mailbox: the newest state to decide on, the newest decision.
#[derive(Default)]
struct Mailbox {
    /// (seat, frame, state), newest per seat.
    todo: Vec<Option<(i32, GameState)>>,
    /// (frame decided, controller), newest per seat.
    done: Vec<Option<(i32, Controller)>>,
    reset: Vec<bool>,
    stop: bool,
    infer_us: Vec<f64>,
}

/// What a message asks of the seats this frame.
enum Step {
    /// A game frame by row (every seat answers it).
    Frame(usize),
    /// A menu frame.
    Menu(MenuState),
    /// A game started.
    Start,
    /// A game ended.
    End,
}

/// Turns a message into steps; `live` keeps the game.
fn steps(
    m: Message,
    live: &mut LiveStream,
    client: &SpectatorClient,
    gaps: &mut u64,
    note: &mut dyn FnMut(String),
) -> Vec<Step> {
    match m {
        Message::GameEvent { payload, .. } => {
            if client.gaps > *gaps {
                *gaps = client.gaps;
                note("the spectator stream skipped events; waiting for the next game".into());
                live.resync();
            }
            live.feed(&payload)
                .into_iter()
                .map(|e| match e {
                    LiveEvent::GameStart => Step::Start,
                    LiveEvent::Frame { row, .. } => Step::Frame(row),
                    LiveEvent::GameEnd => Step::End,
                })
                .collect()
        }
        Message::Invalid(why) => {
            note(format!("skipped a spectator message: {why}"));
            Vec::new()
        }
        Message::MenuEvent(b) => match MenuState::parse(&b) {
            Ok(m) => vec![Step::Menu(m)],
            Err(e) => {
                note(format!("a menu block was not understood: {e}"));
                Vec::new()
            }
        },
        _ => Vec::new(),
    }
}

/// A game started: each seat's view of it, fresh queues and memories.
fn start_game(
    a: &LiveOptions,
    live: &LiveStream,
    seats: &mut [Seat],
    reset: &mut dyn FnMut(usize),
    note: &mut dyn FnMut(String),
) -> Result<()> {
    let game = live.game().expect("started");
    let ports: Vec<String> = game
        .start
        .players
        .iter()
        .map(|p| {
            format!(
                "port {} {}",
                p.port.number(),
                p.character.name().unwrap_or("?")
            )
        })
        .collect();
    note(format!(
        "game on {}: {}",
        game.start.stage.name().unwrap_or("?"),
        ports.join(", ")
    ));
    for s in seats.iter_mut() {
        s.queue.clear();
        s.last = Controller::NEUTRAL;
        s.view = None;
        // The game polls the first frame's input before sending that frame: one neutral batch
        // answers it (as libmelee does at game start).
        s.pipe.send(&Pad::NEUTRAL)?;
        if let Some(p) = s.player {
            let mut me = Port::from_number(s.port).expect("1-4");
            let mut them = a.opponent_port.and_then(Port::from_number);
            // Online, the local pad (port 1) may play any in-game port: ours is the one whose
            // connect code is not the opponent's.
            if let Some(code) = &a.connect_code {
                let (theirs, ours): (Vec<_>, Vec<_>) = game
                    .start
                    .players
                    .iter()
                    .filter(|pl| pl.netplay.is_some())
                    .partition(|pl| {
                        pl.netplay
                            .as_ref()
                            .is_some_and(|n| n.code.eq_ignore_ascii_case(code))
                    });
                if let ([t], [o]) = (theirs.as_slice(), ours.as_slice()) {
                    me = o.port;
                    them = Some(t.port);
                }
            }
            match exphil_dolphin::seats(game, me, them) {
                Ok((me, them)) => {
                    s.view = Some(SeatView::new(game, me, them));
                    reset(p);
                }
                Err(e) => note(format!("port {}: {e}; it plays neutral", s.port)),
            }
        }
    }
    Ok(())
}

fn menu_pads(seats: &mut [Seat], m: &MenuState) -> Vec<Pad> {
    let ready: Vec<bool> = seats
        .iter()
        .map(|s| s.navigator.as_ref().is_none_or(|n| n.done(m)))
        .collect();
    seats
        .iter_mut()
        .enumerate()
        .map(|(i, s)| match &mut s.navigator {
            Some(n) => {
                n.set_others_ready(ready.iter().enumerate().all(|(j, r)| j == i || *r));
                n.step(m)
            }
            None => Pad::NEUTRAL,
        })
        .collect()
}

/// Says once when menus should be navigated but Dolphin sends no menu frames.
fn menu_hint(
    seats: &[Seat],
    stats: &LiveStats,
    live: &LiveStream,
    hinted: &mut bool,
    note: &mut dyn FnMut(String),
) {
    let waited = stats
        .started
        .is_some_and(|s| s.elapsed() > Duration::from_secs(15));
    if !*hinted
        && waited
        && stats.menu_frames == 0
        && live.games == 0
        && !live.in_game()
        && seats.iter().any(|s| s.navigator.is_some())
    {
        *hinted = true;
        note(
            "no menu frames from Dolphin after 15 s: its Gecko codes do not send \
             them, so the menus cannot be navigated. Give --gecko-ini with a code list that \
             has a menu-frame code (libmelee's GALE01r2.ini does), or pick the characters and \
             stage yourself (--no-menus)"
                .into(),
        );
    }
}

fn check_dolphin(dolphin: &mut Option<Dolphin>) -> Result<()> {
    match dolphin.as_mut().and_then(Dolphin::exited) {
        Some(status) => Err(LiveError::DolphinExited(status)),
        None => Ok(()),
    }
}

/// Between games, how long without a message before a synchronous session sends neutral
/// input, to keep a Dolphin that waits on its pipes moving (menus without the menu-info code,
/// or `--no-menus`): about one frame.
const IDLE_MENU: Duration = Duration::from_millis(20);
/// In a game, how long without a frame before one extra batch is sent (once per silence), in
/// case Dolphin waits for an input exphil has not seen the need for; never more, so a paused
/// Dolphin does not build up a queue of late inputs.
const IDLE_GAME: Duration = Duration::from_secs(1);
/// How often live statistics are printed.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Where a live game's decisions come from.
pub trait Decisions {
    /// Whether Dolphin waits for exphil's input every frame (sync): silences are bridged with
    /// idle batches.
    fn paced(&self) -> bool;
    /// Player `p` starts a new game afresh.
    fn reset(&mut self, p: usize);
    /// Player `p`'s controller for this frame, given its state (`None`: the frame could not
    /// be read from its seat) and its previous controller; `None`: no decision yet (neutral).
    fn decide(
        &mut self,
        p: usize,
        state: Option<GameState>,
        last: Controller,
        stats: &mut LiveStats,
    ) -> Option<Controller>;
    /// Every seat of a frame has been asked.
    fn frame_done(&mut self) {}
    /// Brings the inference statistics into `stats`.
    fn report(&mut self, _stats: &mut LiveStats) {}
    /// Stops whatever runs in the background, bringing the final statistics into `stats`.
    fn finish(&mut self, _stats: &mut LiveStats) {}
}

/// Sync mode: the policy decides every frame before its input is sent.
pub struct Inline<'a> {
    /// The players, one per piped policy.
    pub players: &'a mut [Player],
}

impl Decisions for Inline<'_> {
    fn paced(&self) -> bool {
        true
    }
    fn reset(&mut self, p: usize) {
        self.players[p].reset();
    }
    fn decide(
        &mut self,
        p: usize,
        state: Option<GameState>,
        last: Controller,
        stats: &mut LiveStats,
    ) -> Option<Controller> {
        let Some(state) = state else {
            return Some(last);
        };
        let t0 = Instant::now();
        let c = self.players[p].act(&state, last);
        stats.infer_us.push(t0.elapsed().as_secs_f64() * 1e6);
        stats.inferences += 1;
        Some(c)
    }
}

/// Async mode: a worker thread decides on the newest state of each seat; each frame sends the
/// newest decision made (possibly for an earlier frame: counted as stale).
pub struct Background {
    mailbox: Arc<(Mutex<Mailbox>, Condvar)>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts the worker over `players`.
    pub fn start(players: Vec<Player>) -> Background {
        let n = players.len();
        let mailbox = Arc::new((
            Mutex::new(Mailbox {
                todo: vec![None; n],
                done: vec![None; n],
                reset: vec![false; n],
                ..Mailbox::default()
            }),
            Condvar::new(),
        ));
        let worker = {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || infer_worker(players, &mailbox))
        };
        Background {
            mailbox,
            worker: Some(worker),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        self.mailbox.0.lock().expect("mailbox")
    }
}

impl Decisions for Background {
    fn paced(&self) -> bool {
        false
    }
    fn reset(&mut self, p: usize) {
        let mut mb = self.lock();
        mb.reset[p] = true;
        mb.todo[p] = None;
        mb.done[p] = None;
    }
    fn decide(
        &mut self,
        p: usize,
        state: Option<GameState>,
        _last: Controller,
        stats: &mut LiveStats,
    ) -> Option<Controller> {
        let mut mb = self.lock();
        let frame = state.as_ref().map(|s| s.frame);
        if let Some(st) = state {
            mb.todo[p] = Some((st.frame, st));
        }
        let (f, c) = mb.done[p]?;
        if Some(f) != frame {
            stats.stale += 1;
        }
        Some(c)
    }
    fn frame_done(&mut self) {
        self.mailbox.1.notify_all();
    }
    fn report(&mut self, stats: &mut LiveStats) {
        let mb = self.lock();
        stats.inferences = mb.infer_us.len() as u64;
        stats.infer_us = mb.infer_us.clone();
    }
    fn finish(&mut self, stats: &mut LiveStats) {
        self.report(stats);
        self.lock().stop = true;
        self.mailbox.1.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The live loop: spectator messages in, one controller batch per pipe out, until `stop`, the
/// wanted number of games, or an error. One loop for both modes; `decisions` says which.
#[allow(clippy::too_many_arguments)]
pub fn play_live(
    a: &LiveOptions,
    mut client: SpectatorClient,
    seats: &mut [Seat],
    decisions: &mut dyn Decisions,
    stats: &mut LiveStats,
    stop: &AtomicBool,
    dolphin: &mut Option<Dolphin>,
    note: &mut dyn FnMut(String),
) -> Result<()> {
    let result = (|| -> Result<()> {
        let mut live = LiveStream::new();
        let mut gaps = 0;
        let mut last_report = Instant::now();
        let mut ticked = false;
        let mut hinted = false;
        while !stop.load(Ordering::SeqCst) {
            check_dolphin(dolphin)?;
            menu_hint(seats, stats, &live, &mut hinted, note);
            let wait = match (decisions.paced(), live.in_game()) {
                (true, true) => IDLE_GAME,
                (true, false) => IDLE_MENU,
                (false, _) => Duration::from_millis(100),
            };
            let Some(m) = recv(&mut client, wait)? else {
                // A paced Dolphin waits for input: keep it going (once per silence in game).
                if decisions.paced() && (!live.in_game() || !ticked) {
                    for s in seats.iter_mut() {
                        let pad = if live.in_game() {
                            Pad::from(&s.last)
                        } else {
                            Pad::NEUTRAL
                        };
                        s.pipe.send(&pad)?;
                    }
                    stats.idle_batches += 1;
                    ticked = true;
                }
                continue;
            };
            ticked = false;
            for step in steps(m, &mut live, &client, &mut gaps, note) {
                match step {
                    Step::Start => start_game(a, &live, seats, &mut |p| decisions.reset(p), note)?,
                    Step::Menu(m) => {
                        stats.menu_frames += 1;
                        let pads = menu_pads(seats, &m);
                        for (s, pad) in seats.iter_mut().zip(pads) {
                            s.pipe.send(&pad)?;
                        }
                    }
                    Step::Frame(row) => {
                        let game = live.game().expect("in game");
                        stats.frames += 1;
                        for s in seats.iter_mut() {
                            let decision = match (s.player, s.view.as_mut()) {
                                (Some(p), Some(view)) => {
                                    let state = view.state(game, row);
                                    match decisions.decide(p, state, s.last, stats) {
                                        Some(c) => {
                                            s.last = c;
                                            Pad::from(&c)
                                        }
                                        None => Pad::NEUTRAL,
                                    }
                                }
                                _ => Pad::NEUTRAL,
                            };
                            let pad = s.queue.push(decision);
                            s.pipe.send(&pad)?;
                        }
                        decisions.frame_done();
                    }
                    Step::End => {
                        stats.games += 1;
                        decisions.report(stats);
                        note(format!("game over; {}", stats.line()));
                        if a.games > 0 && stats.games >= a.games {
                            return Ok(());
                        }
                    }
                }
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                decisions.report(stats);
                note(stats.line());
            }
        }
        Ok(())
    })();
    decisions.finish(stats);
    client.close();
    result
}

fn recv(client: &mut SpectatorClient, timeout: Duration) -> Result<Option<Message>> {
    client.recv(timeout).map_err(|e| match e {
        SpectatorError::Disconnected(_) => LiveError::Disconnected(e),
        e => LiveError::Spectator(e),
    })
}

/// The asynchronous worker: decides on the newest state of each seat.
fn infer_worker(mut players: Vec<Player>, mailbox: &(Mutex<Mailbox>, Condvar)) {
    let (lock, cv) = mailbox;
    let mut last = vec![Controller::NEUTRAL; players.len()];
    loop {
        let mut jobs = Vec::new();
        {
            let mut mb = lock.lock().expect("mailbox");
            loop {
                if mb.stop {
                    return;
                }
                for p in 0..players.len() {
                    if std::mem::take(&mut mb.reset[p]) {
                        players[p].reset();
                        last[p] = Controller::NEUTRAL;
                    }
                    if let Some(job) = mb.todo[p].take() {
                        jobs.push((p, job));
                    }
                }
                if !jobs.is_empty() {
                    break;
                }
                mb = cv.wait(mb).expect("mailbox");
            }
        }
        for (p, (frame, state)) in jobs {
            let t0 = Instant::now();
            let c = players[p].act(&state, last[p]);
            let us = t0.elapsed().as_secs_f64() * 1e6;
            last[p] = c;
            let mut mb = lock.lock().expect("mailbox");
            // A reset while deciding: this decision belongs to the old game.
            if !mb.reset[p] {
                mb.done[p] = Some((frame, c));
            }
            mb.infer_us.push(us);
        }
    }
}
