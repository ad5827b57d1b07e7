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
//! and each frame gets the newest decision (counted when it is not for that frame). The live
//! loop is `exphil_serve::live`; this command sets Dolphin up and chooses its decision source.

use anyhow::{bail, Context, Result};
use clap::Args;
use exphil_dolphin::pipe::{make_fifo, ControllerPipe, Pad};
use exphil_dolphin::userdir::{pipe_path, prepare, Dolphin, UserDir, UserDirOptions};
use exphil_dolphin::{MenuGoal, Navigator, SpectatorClient, SpectatorError};
use exphil_policy::agent::Player;
use exphil_policy::device::device_of;
use exphil_policy::file::{load_for_play, LoadedPolicy};
use exphil_policy::Sampling;
use exphil_replay::{ExternalCharacter, ExternalStage};
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_serve::live::{play_live, Background, Decisions, Inline, LiveOptions, LiveStats, Seat};
use exphil_state::Controller;
use exphil_state::DelayQueue;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
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
    let character = play_character(&a, &loaded)?;
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
    if let (Opponent::Policy(run), false) = (&opponent, online) {
        players.push(Player::new(load(run)?, device.clone(), sampling, delay)?);
    }
    let piped = piped_ports(&a, &opponent, [character, opponent_character], stage);
    // The user directory and Dolphin.
    let ports: Vec<u8> = piped.iter().map(|p| p.0).collect();
    let (addr, user, mut dolphin, _user_dir) = start_dolphin(&a, &ports, sync)?;
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
    let mut stats = LiveStats {
        started: Some(Instant::now()),
        ..LiveStats::default()
    };
    let options = LiveOptions {
        games: a.games,
        opponent_port: a.opponent_port,
        connect_code: a.connect_code.clone(),
    };
    let mut note = |n: String| eprintln!("exphil play: {n}");
    let mut inline;
    let mut background;
    let decisions: &mut dyn Decisions = if sync {
        inline = Inline {
            players: &mut players,
        };
        &mut inline
    } else {
        background = Background::start(players);
        &mut background
    };
    let result = play_live(
        &options,
        client,
        &mut seats,
        decisions,
        &mut stats,
        &stop,
        &mut dolphin,
        &mut note,
    );
    eprintln!("exphil play: {}", stats.line());
    for s in &seats {
        if s.pipe.dropped > 0 {
            eprintln!(
                "exphil play: port {}: {} batches dropped (the pipe was full)",
                s.port, s.pipe.dropped
            );
        }
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The ports exphil drives, each with the player on it (an index into the players) and what
/// to choose in the menus: the policy's port, and the opponent's when it is a CPU or a second
/// policy (none online: the remote player has their own).
fn piped_ports(
    a: &PlayArgs,
    opponent: &Opponent,
    [character, opponent_character]: [ExternalCharacter; 2],
    stage: ExternalStage,
) -> Vec<(u8, Option<usize>, Option<MenuGoal>)> {
    let opponent_port = a.opponent_port.unwrap_or(if a.port == 2 { 1 } else { 2 });
    let mut piped = vec![(
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
    let goal = |cpu_level| MenuGoal {
        character: opponent_character,
        cpu_level,
        stage: None,
        start: false,
        connect_code: None,
    };
    match opponent {
        _ if a.connect_code.is_some() => {}
        Opponent::Cpu(level) => piped.push((opponent_port, None, Some(goal(*level)))),
        Opponent::Policy(_) => piped.push((opponent_port, Some(1), Some(goal(0)))),
        Opponent::Human => {}
    }
    piped
}

/// The character the policy plays: `--character`, else the one it trained on (an error when it
/// trained on several or none is known).
fn play_character(a: &PlayArgs, loaded: &LoadedPolicy) -> Result<ExternalCharacter> {
    if let Some(c) = &a.character {
        return parse_character(c);
    }
    let names = loaded.trained_characters();
    let chars: Vec<ExternalCharacter> = names
        .iter()
        .filter_map(|n| ExternalCharacter::parse(n))
        .collect();
    match chars.as_slice() {
        [c] => Ok(*c),
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

/// Where the spectator server is and the user directory holding the pipes: Dolphin launched
/// on a fresh user directory (kept while the guard lives), or `--attach` to one running.
#[allow(clippy::type_complexity)]
fn start_dolphin(
    a: &PlayArgs,
    ports: &[u8],
    sync: bool,
) -> Result<(SocketAddr, PathBuf, Option<Dolphin>, Option<UserDir>)> {
    if let Some(at) = &a.attach {
        let addr = at
            .to_socket_addrs()
            .with_context(|| format!("--attach {at}: not HOST:PORT"))?
            .next()
            .with_context(|| format!("--attach {at}: no address"))?;
        let user = a.pipes.clone().expect("clap requires --pipes");
        for p in ports {
            make_fifo(&pipe_path(&user, *p))?;
        }
        return Ok((addr, user, None, None));
    }
    let d = prepare(&UserDirOptions {
        spectator_port: a.spectator_port,
        pipe_ports: ports.to_vec(),
        blocking_pipes: sync,
        online_delay: 2,
        gecko_ini: a.gecko_ini.clone(),
        copy_from: a.user_dir.clone(),
    })?;
    let dolphin_path = a.dolphin.clone().expect("clap requires --dolphin");
    let iso = a.iso.clone().expect("clap requires --iso");
    let dolphin = Dolphin::launch(&dolphin_path, &iso, &d.path)?;
    eprintln!(
        "exphil play: Dolphin started with user directory {}",
        d.path.display()
    );
    let user = d.path.clone();
    Ok((
        SocketAddr::from(([127, 0, 0, 1], a.spectator_port)),
        user,
        Some(dolphin),
        Some(d),
    ))
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
