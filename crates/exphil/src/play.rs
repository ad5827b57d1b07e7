//! `exphil play`: a trained policy plays live in Slippi Dolphin (FORMATS §2). exphil makes a
//! fresh Dolphin user directory (spectator server on, pipe controllers, background input),
//! launches Dolphin, reads the spectator stream over ENet, decodes it live with the replay
//! decoder, navigates the menus, and each frame writes the policy's controller to the port's
//! pipe, applied exactly D frames after its decision. `--attach` plays in a Dolphin that is
//! already running instead.
//!
//! Synchronous mode (the default): Dolphin waits for each frame's `FLUSH` (blocking pipes), and
//! the policy answers every frame before the game goes on — lock-step, nothing dropped.
//! Asynchronous mode: the game runs in real time; a worker thread infers on the newest frame,
//! and each frame gets the newest decision (counted when it is not for that frame). One live
//! loop serves both: the mode is its decision source ([`Inline`] or [`Background`]).

use crate::eval::{checkpoints_dir, policy_path};
use anyhow::{bail, Context, Result};
use clap::Args;
use exphil_dolphin::pipe::{make_fifo, ControllerPipe, DelayQueue, Pad};
use exphil_dolphin::userdir::{pipe_path, prepare, Dolphin, UserDirOptions};
use exphil_dolphin::{
    LiveEvent, LiveStream, MenuGoal, MenuState, Message, Navigator, SeatView, SpectatorClient,
    SpectatorError,
};
use exphil_policy::Sampling;
use exphil_replay::{ExternalCharacter, ExternalStage, Port};
use exphil_state::{Controller, GameState};
use exphil_train::agent::Player;
use exphil_train::model_file::{load_for_play, LoadedPolicy};
use exphil_train::trainer::device_of;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `exphil play` arguments.
#[derive(Args, Debug)]
pub struct PlayArgs {
    /// The policy: a run directory, a run name in the registry, or a weights file.
    #[arg(long, value_name = "RUN")]
    pub policy: String,
    /// Slippi Dolphin: the executable or AppImage, its folder, or a macOS .app.
    #[arg(long, value_name = "PATH", required_unless_present = "attach")]
    pub dolphin: Option<PathBuf>,
    /// The Melee NTSC 1.02 disc image.
    #[arg(long, value_name = "PATH", required_unless_present = "attach")]
    pub iso: Option<PathBuf>,
    /// The port the policy plays (1-4).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub port: u8,
    /// The opponent's port [default: the other player in the game; 2 for the menus].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub opponent_port: Option<u8>,
    /// The policy's character [default: the character it trained on].
    #[arg(long, value_name = "NAME")]
    pub character: Option<String>,
    /// The stage (one of the six legal stages).
    #[arg(long, default_value = "final destination", value_name = "NAME")]
    pub stage: String,
    /// Who plays the other port: `cpu:LEVEL` (1-9), `human` (a controller of your own), or
    /// `policy:RUN` (another policy, on its own pipe).
    #[arg(long, default_value = "cpu:9", value_name = "WHO")]
    pub opponent: String,
    /// The opponent's character (a CPU or a second policy) [default: the policy's].
    #[arg(long, value_name = "NAME")]
    pub opponent_character: Option<String>,
    /// Play Slippi Online by direct connect against this code (e.g. ABCD#123).
    #[arg(long, value_name = "CODE")]
    pub connect_code: Option<String>,
    /// Apply each decision this many frames after it is made [default: the policy's training
    /// delay].
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u8).range(0..=60))]
    pub frame_delay: Option<u8>,
    /// Lock-step: Dolphin waits for every frame's input (blocking pipes). The default offline.
    #[arg(long, conflicts_with = "async_mode")]
    pub sync: bool,
    /// Real time: the newest decision each frame; inference runs beside the game. The default
    /// with --connect-code.
    #[arg(long = "async")]
    pub async_mode: bool,
    /// Always the most likely controller.
    #[arg(long, conflicts_with = "temperature")]
    pub deterministic: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub temperature: f64,
    /// Stop after this many games (0: until interrupted).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub games: u64,
    /// Do not navigate the menus (pick characters and stage yourself).
    #[arg(long)]
    pub no_menus: bool,
    /// A Gecko code list (GALE01r2.ini) to install; menu navigation needs one with a code that
    /// sends menu frames (as libmelee's does).
    #[arg(long, value_name = "PATH")]
    pub gecko_ini: Option<PathBuf>,
    /// Start the fresh user directory as a copy of this one (Slippi login, graphics settings).
    #[arg(long, value_name = "DIR")]
    pub user_dir: Option<PathBuf>,
    /// The spectator server's UDP port in the launched Dolphin.
    #[arg(long, default_value_t = exphil_dolphin::spectator::DEFAULT_PORT, value_name = "PORT")]
    pub spectator_port: u16,
    /// Play in a Dolphin already running: its spectator server's HOST:PORT (no launch).
    #[arg(long, value_name = "HOST:PORT", requires = "pipes")]
    pub attach: Option<String>,
    /// With --attach: that Dolphin's user directory (its Pipes/slippibot<port> FIFOs are used,
    /// and made when missing).
    #[arg(long, value_name = "DIR")]
    pub pipes: Option<PathBuf>,
    /// Seconds to wait for Dolphin to open the pipes and start its spectator server.
    #[arg(long, default_value_t = 120.0, value_name = "S")]
    pub boot_timeout: f64,
    /// Where run names are looked up [default: $EXPHIL_CHECKPOINTS_DIR, else checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// Who plays the other port.
#[derive(Clone, Debug, PartialEq)]
enum Opponent {
    Cpu(u8),
    Human,
    Policy(String),
}

fn parse_opponent(s: &str) -> Result<Opponent> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("human") {
        return Ok(Opponent::Human);
    }
    if let Some(level) = s.strip_prefix("cpu:").or_else(|| s.strip_prefix("cpu")) {
        let level: u8 = level
            .trim()
            .parse()
            .ok()
            .filter(|l| (1..=9).contains(l))
            .with_context(|| format!("--opponent {s}: a CPU level is 1 to 9 (cpu:9)"))?;
        return Ok(Opponent::Cpu(level));
    }
    if let Some(run) = s.strip_prefix("policy:") {
        return Ok(Opponent::Policy(run.to_string()));
    }
    bail!("--opponent {s:?}: expected cpu:LEVEL, human or policy:RUN")
}

fn parse_character(s: &str) -> Result<ExternalCharacter> {
    ExternalCharacter::parse(s).with_context(|| format!("unknown character {s:?}"))
}

/// One piped port in a game: who decides its input, and its delay queue.
struct Seat {
    port: u8,
    pipe: ControllerPipe,
    /// The policy (None: a CPU's port, neutral in game).
    player: Option<usize>,
    view: Option<SeatView>,
    queue: DelayQueue<Pad>,
    last: Controller,
    navigator: Option<Navigator>,
}

/// Live statistics.
#[derive(Default)]
struct Stats {
    frames: u64,
    games: u64,
    inferences: u64,
    infer_us: Vec<f64>,
    /// Async: frames that got a decision made for an earlier frame.
    stale: u64,
    menu_frames: u64,
    idle_batches: u64,
    started: Option<Instant>,
}

impl Stats {
    fn line(&self) -> String {
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

/// Runs `exphil play`.
pub fn run(a: PlayArgs) -> Result<ExitCode> {
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be positive");
    }
    let opponent = parse_opponent(&a.opponent)?;
    let stage =
        ExternalStage::parse(&a.stage).with_context(|| format!("unknown stage {:?}", a.stage))?;
    let device = device_of(&a.device)?;
    let dir = checkpoints_dir(&a.checkpoints);
    let load = |run: &str| -> Result<LoadedPolicy> {
        let path = policy_path(&dir, run)?;
        load_for_play(&path, &device).with_context(|| format!("loading {run}"))
    };
    let loaded = load(&a.policy)?;
    let character = match &a.character {
        Some(c) => parse_character(c)?,
        None => {
            let names = loaded.trained_characters();
            let chars: Vec<ExternalCharacter> = names
                .iter()
                .filter_map(|n| ExternalCharacter::parse(n))
                .collect();
            match chars.as_slice() {
                [c] => *c,
                _ => bail!(
                    "the policy trained on {}; choose one with --character",
                    if names.is_empty() {
                        "unknown characters".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            }
        }
    };
    let opponent_character = match &a.opponent_character {
        Some(c) => parse_character(c)?,
        None => character,
    };
    let delay = a.frame_delay.unwrap_or_else(|| loaded.frame_delay());
    let sync = !a.async_mode && (a.sync || a.connect_code.is_none());
    let sampling = if a.deterministic {
        Sampling::Argmax
    } else {
        Sampling::Temperature(a.temperature)
    };
    let opponent_port = a.opponent_port.unwrap_or(if a.port == 2 { 1 } else { 2 });
    if opponent_port == a.port {
        bail!("--opponent-port must differ from --port");
    }
    if a.connect_code.is_some() && opponent != Opponent::Cpu(9) && opponent != Opponent::Human {
        bail!("--connect-code plays a remote opponent; leave --opponent out");
    }
    let online = a.connect_code.is_some();
    let mut players = vec![Player::new(loaded, device.clone(), sampling, delay)?];
    // The ports exphil drives: the policy's, and the opponent's when it is a CPU (set up in
    // the menus) or a second policy.
    let mut piped: Vec<(u8, Option<usize>, Option<MenuGoal>)> = vec![(
        a.port,
        Some(0),
        Some(MenuGoal {
            character,
            cpu_level: 0,
            stage: Some(stage),
            start: true,
            connect_code: a.connect_code.clone(),
        }),
    )];
    if !online {
        match &opponent {
            Opponent::Cpu(level) => piped.push((
                opponent_port,
                None,
                Some(MenuGoal {
                    character: opponent_character,
                    cpu_level: *level,
                    stage: None,
                    start: false,
                    connect_code: None,
                }),
            )),
            Opponent::Policy(run) => {
                players.push(Player::new(load(run)?, device.clone(), sampling, delay)?);
                piped.push((
                    opponent_port,
                    Some(1),
                    Some(MenuGoal {
                        character: opponent_character,
                        cpu_level: 0,
                        stage: None,
                        start: false,
                        connect_code: None,
                    }),
                ));
            }
            Opponent::Human => {}
        }
    }
    // The user directory and Dolphin.
    let mut dolphin = None;
    let mut _user_dir = None;
    let (addr, user): (SocketAddr, PathBuf) = match &a.attach {
        Some(at) => {
            let addr = at
                .to_socket_addrs()
                .with_context(|| format!("--attach {at}: not HOST:PORT"))?
                .next()
                .with_context(|| format!("--attach {at}: no address"))?;
            let user = a.pipes.clone().expect("clap requires --pipes");
            for (p, _, _) in &piped {
                make_fifo(&pipe_path(&user, *p))?;
            }
            (addr, user)
        }
        None => {
            let d = prepare(&UserDirOptions {
                spectator_port: a.spectator_port,
                pipe_ports: piped.iter().map(|p| p.0).collect(),
                blocking_pipes: sync,
                online_delay: 2,
                gecko_ini: a.gecko_ini.clone(),
                copy_from: a.user_dir.clone(),
            })?;
            let dolphin_path = a.dolphin.clone().expect("clap requires --dolphin");
            let iso = a.iso.clone().expect("clap requires --iso");
            dolphin = Some(Dolphin::launch(&dolphin_path, &iso, &d.path)?);
            eprintln!(
                "exphil play: Dolphin started with user directory {}",
                d.path.display()
            );
            let user = d.path.clone();
            _user_dir = Some(d);
            (SocketAddr::from(([127, 0, 0, 1], a.spectator_port)), user)
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let boot = Duration::from_secs_f64(a.boot_timeout.max(0.1));
    let mut seats = Vec::new();
    for (port, player, goal) in piped {
        let pipe = ControllerPipe::open(&pipe_path(&user, port), sync, boot)?;
        let navigator = match (goal, a.no_menus) {
            (Some(g), false) => Some(Navigator::new(port, g).map_err(anyhow::Error::msg)?),
            _ => None,
        };
        seats.push(Seat {
            port,
            pipe,
            player,
            view: None,
            queue: DelayQueue::new(delay as usize, Pad::NEUTRAL),
            last: Controller::NEUTRAL,
            navigator,
        });
    }
    let client = connect(addr, boot, &stop, &mut dolphin)?;
    eprintln!(
        "exphil play: connected to {} ({} {}); port {} plays {} ({}), delay {delay}, {}",
        addr,
        client.server.0,
        client.server.1,
        a.port,
        character.name().unwrap_or("?"),
        players[0].loaded().config.backbone.describe(),
        if sync { "synchronous" } else { "asynchronous" }
    );
    let mut stats = Stats {
        started: Some(Instant::now()),
        ..Stats::default()
    };
    let result = if sync {
        let mut inline = Inline {
            players: &mut players,
        };
        play_live(
            &a,
            client,
            &mut seats,
            &mut inline,
            &mut stats,
            &stop,
            &mut dolphin,
        )
    } else {
        let mut background = Background::start(players);
        play_live(
            &a,
            client,
            &mut seats,
            &mut background,
            &mut stats,
            &stop,
            &mut dolphin,
        )
    };
    eprintln!("exphil play: {}", stats.line());
    for s in &seats {
        if s.pipe.dropped > 0 {
            eprintln!(
                "exphil play: port {}: {} batches dropped (the pipe was full)",
                s.port, s.pipe.dropped
            );
        }
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// Connects to the spectator server, retrying while Dolphin boots.
fn connect(
    addr: SocketAddr,
    boot: Duration,
    stop: &AtomicBool,
    dolphin: &mut Option<Dolphin>,
) -> Result<SpectatorClient> {
    let end = Instant::now() + boot;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match SpectatorClient::connect(addr, 0, left.min(Duration::from_secs(2))) {
            Ok(c) => return Ok(c),
            Err(SpectatorError::ConnectTimeout { .. } | SpectatorError::Disconnected(_))
                if !left.is_zero() && !stop.load(Ordering::SeqCst) =>
            {
                if let Some(status) = dolphin.as_mut().and_then(Dolphin::exited) {
                    bail!("Dolphin exited ({status}) before its spectator server answered");
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
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
fn steps(m: Message, live: &mut LiveStream, client: &SpectatorClient, gaps: &mut u64) -> Vec<Step> {
    match m {
        Message::GameEvent { payload, .. } => {
            if client.gaps > *gaps {
                *gaps = client.gaps;
                eprintln!(
                    "exphil play: the spectator stream skipped events; waiting for the next game"
                );
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
            eprintln!("exphil play: skipped a spectator message: {why}");
            Vec::new()
        }
        Message::MenuEvent(b) => match MenuState::parse(&b) {
            Ok(m) => vec![Step::Menu(m)],
            Err(e) => {
                eprintln!("exphil play: a menu block was not understood: {e}");
                Vec::new()
            }
        },
        _ => Vec::new(),
    }
}

/// A game started: each seat's view of it, fresh queues and memories.
fn start_game(
    a: &PlayArgs,
    live: &LiveStream,
    seats: &mut [Seat],
    reset: &mut dyn FnMut(usize),
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
    eprintln!(
        "exphil play: game on {}: {}",
        game.start.stage.name().unwrap_or("?"),
        ports.join(", ")
    );
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
                Err(e) => eprintln!("exphil play: port {}: {e}; it plays neutral", s.port),
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
fn menu_hint(seats: &[Seat], stats: &Stats, live: &LiveStream, hinted: &mut bool) {
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
        eprintln!(
            "exphil play: no menu frames from Dolphin after 15 s: its Gecko codes do not send \
             them, so the menus cannot be navigated. Give --gecko-ini with a code list that \
             has a menu-frame code (libmelee's GALE01r2.ini does), or pick the characters and \
             stage yourself (--no-menus)"
        );
    }
}

fn check_dolphin(dolphin: &mut Option<Dolphin>) -> Result<()> {
    if let Some(status) = dolphin.as_mut().and_then(Dolphin::exited) {
        bail!("Dolphin exited ({status})");
    }
    Ok(())
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
trait Decisions {
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
        stats: &mut Stats,
    ) -> Option<Controller>;
    /// Every seat of a frame has been asked.
    fn frame_done(&mut self) {}
    /// Brings the inference statistics into `stats`.
    fn report(&mut self, _stats: &mut Stats) {}
    /// Stops whatever runs in the background, bringing the final statistics into `stats`.
    fn finish(&mut self, _stats: &mut Stats) {}
}

/// Sync mode: the policy decides every frame before its input is sent.
struct Inline<'a> {
    players: &'a mut [Player],
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
        stats: &mut Stats,
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
struct Background {
    mailbox: Arc<(Mutex<Mailbox>, Condvar)>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn start(players: Vec<Player>) -> Background {
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
        stats: &mut Stats,
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
    fn report(&mut self, stats: &mut Stats) {
        let mb = self.lock();
        stats.inferences = mb.infer_us.len() as u64;
        stats.infer_us = mb.infer_us.clone();
    }
    fn finish(&mut self, stats: &mut Stats) {
        {
            let mut mb = self.lock();
            mb.stop = true;
            stats.inferences = mb.infer_us.len() as u64;
            stats.infer_us = mb.infer_us.clone();
        }
        self.mailbox.1.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The live loop: spectator messages in, one controller batch per pipe out, until `stop`, the
/// wanted number of games, or an error. One loop for both modes; `decisions` says which.
fn play_live(
    a: &PlayArgs,
    mut client: SpectatorClient,
    seats: &mut [Seat],
    decisions: &mut dyn Decisions,
    stats: &mut Stats,
    stop: &AtomicBool,
    dolphin: &mut Option<Dolphin>,
) -> Result<()> {
    let result = (|| -> Result<()> {
        let mut live = LiveStream::new();
        let mut gaps = 0;
        let mut last_report = Instant::now();
        let mut ticked = false;
        let mut hinted = false;
        while !stop.load(Ordering::SeqCst) {
            check_dolphin(dolphin)?;
            menu_hint(seats, stats, &live, &mut hinted);
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
            for step in steps(m, &mut live, &client, &mut gaps) {
                match step {
                    Step::Start => start_game(a, &live, seats, &mut |p| decisions.reset(p))?,
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
                        eprintln!("exphil play: game over; {}", stats.line());
                        if a.games > 0 && stats.games >= a.games {
                            return Ok(());
                        }
                    }
                }
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                decisions.report(stats);
                eprintln!("exphil play: {}", stats.line());
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
        SpectatorError::Disconnected(_) => {
            anyhow::anyhow!("{e} (Dolphin closed, or the game was quit)")
        }
        e => e.into(),
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
