//! `exphil play` without Dolphin: a fake spectator server on loopback (real ENet, the real
//! message format) streams menu frames and a real replay, and test pipe readers record the
//! controller lines. Every frame must get exactly one well-formed batch ending in FLUSH on
//! every driven port, in synchronous and asynchronous mode.

mod common;

use common::{isolated, text, train_quick};
use exphil_dolphin::pipe::make_fifo;
use exphil_dolphin::{MenuState, Scene};
use exphil_replay::{read, DecodeOptions, Port, RollbackMode};
use exphil_testdata::replays_dir;
use exphil_testdata::spectator::{event_messages, read_fifo_batches, Send, SpectatorServer};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const GAME: &str =
    "games/py-slippi__COWS_797_Pikachu_vs_NUT_356_Falco_on_DL_-_12-22-22_12.34am.slp";
const MENU_FRAMES: usize = 30;

/// A quick MLP trained once for all tests.
fn root() -> &'static PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("play-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        train_quick(&root, "mlp", "3", "5", &[]);
        root
    })
}

/// A character-select block with port 1's cursor below and right of Fox.
fn css_block(frame: i32) -> Vec<u8> {
    MenuState {
        scene: Scene::CharacterSelect,
        cursor: [(0.0, -10.0), (10.0, -10.0), (0.0, 0.0), (0.0, 0.0)],
        ready_to_start: 0,
        stage: 0,
        status: [0, 0, 3, 3],
        character: [0x21; 4],
        coin_down: [false; 4],
        stage_cursor: (0.0, 0.0),
        frame,
        submenu: 0,
        selection: 0,
        cpu_level: [0; 4],
        holding_slider: [false; 4],
    }
    .to_bytes()
}

/// Checks a batch is well-formed; returns (main x, main y, any button pressed).
fn check(b: &[String]) -> (f32, f32, bool) {
    assert_eq!(
        b.len(),
        17,
        "12 buttons, 2 sticks, 2 shoulders, FLUSH: {b:?}"
    );
    assert_eq!(b[16], "FLUSH");
    let mut main = (f32::NAN, f32::NAN);
    let mut pressed = false;
    for line in &b[..16] {
        let w: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| {
            let v: f32 = s.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!((0.0..=1.0).contains(&v), "{line}");
            v
        };
        match w.as_slice() {
            ["PRESS", _] => pressed = true,
            ["RELEASE", _] => {}
            ["SET", "MAIN", x, y] => main = (num(x), num(y)),
            ["SET", "C", x, y] => {
                num(x);
                num(y);
            }
            ["SET", "L" | "R", v] => {
                num(v);
            }
            _ => panic!("malformed {line:?}"),
        }
    }
    (main.0, main.1, pressed)
}

/// Frames port 1 sees live (first arrival of each frame), and how many are before GO.
fn live_frames(slp: &[u8]) -> (usize, usize) {
    let game = read(
        slp,
        DecodeOptions {
            rollback: RollbackMode::First,
        },
    )
    .unwrap();
    let s = exphil_state::states(
        &game,
        Port::from_number(1).unwrap(),
        Port::from_number(2).unwrap(),
    );
    let before_go = s.iter().filter(|(_, st)| st.frame < 0).count();
    (s.len(), before_go)
}

fn stat(stderr: &str, what: &str) -> u64 {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in\n{stderr}"));
    let before = &line[..line.find(what).unwrap()];
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.split('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {what:?} in {line}"))
}

fn play(mode: &str, opponent: &str, ports: &[u8], per_message: Duration) {
    let root = root();
    let slp = std::fs::read(replays_dir().join(GAME)).unwrap();
    let (frames, before_go) = live_frames(&slp);
    let mut plan: Vec<Send> = (0..MENU_FRAMES as i32)
        .map(|f| Send::Menu(css_block(f)))
        .collect();
    plan.extend(event_messages(&slp).into_iter().map(Send::Events));
    let server = SpectatorServer::start(plan, 0, per_message, Duration::from_secs(30));
    let user = tempfile::tempdir().unwrap();
    let readers: Vec<_> = ports
        .iter()
        .map(|&p| {
            let path = user.path().join(format!("Pipes/slippibot{p}"));
            make_fifo(&path).unwrap();
            read_fifo_batches(path)
        })
        .collect();
    let delay = 2;
    let o = isolated(root)
        .current_dir(root)
        .args([
            "play",
            "--attach",
            &server.addr.to_string(),
            "--pipes",
            user.path().to_str().unwrap(),
            "--policy",
            "mlp",
            "--checkpoints",
            "ck",
            "--port",
            "1",
            "--opponent",
            opponent,
            "--character",
            "pikachu",
            "--opponent-character",
            "falco",
            "--frame-delay",
            &delay.to_string(),
            mode,
            "--games",
            "1",
            "--deterministic",
            "--boot-timeout",
            "20",
        ])
        .output()
        .unwrap();
    let err = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(server.join().client_disconnected);
    assert!(err.contains("1 games"), "{err}");
    assert_eq!(stat(&err, "game frames"), frames as u64, "{err}");
    let idle = stat(&err, "idle batches") as usize;
    if mode == "--async" {
        assert_eq!(idle, 0);
        assert!(stat(&err, "inferences") > 0, "{err}");
    } else {
        // Lock-step: every frame (two seats, two policies) is decided.
        let policies = if opponent.starts_with("policy") { 2 } else { 1 };
        assert_eq!(
            stat(&err, "inferences") as usize,
            frames * policies,
            "{err}"
        );
    }
    assert_eq!(stat(&err, "menu frames"), MENU_FRAMES as u64, "{err}");
    for (i, r) in readers.into_iter().enumerate() {
        let batches = r.join().unwrap();
        assert_eq!(
            batches.len(),
            idle + MENU_FRAMES + 1 + frames,
            "port {}: one batch per menu frame, one at game start, one per game frame",
            ports[i]
        );
        let parsed: Vec<(f32, f32, bool)> = batches.iter().map(|b| check(b)).collect();
        let game = &parsed[idle + MENU_FRAMES..];
        assert_eq!(
            game[0],
            (0.5, 0.5, false),
            "the batch at game start is neutral"
        );
        let game = &game[1..];
        // Before GO (and for the delay after the first decision) the pad is neutral.
        for (k, p) in game.iter().take(before_go + delay).enumerate() {
            assert_eq!(*p, (0.5, 0.5, false), "port {} game frame {k}", ports[i]);
        }
        if ports[i] == 1 || opponent.starts_with("policy") {
            assert!(
                game[before_go + delay..]
                    .iter()
                    .any(|p| *p != (0.5, 0.5, false)),
                "the policy acts after GO"
            );
        } else {
            // A CPU's port stays neutral in game.
            assert!(game.iter().all(|p| *p == (0.5, 0.5, false)));
        }
        if ports[i] == 1 {
            // The navigator moves port 1's cursor toward Pikachu's portrait.
            let m = &parsed[idle..idle + MENU_FRAMES];
            assert!(
                m.iter()
                    .any(|p| p.1 > 0.9 || p.1 < 0.1 || p.0 > 0.9 || p.0 < 0.1),
                "{m:?}"
            );
        }
    }
}

#[test]
fn sync_play_against_a_cpu_writes_one_batch_per_frame_on_both_pipes() {
    play("--sync", "cpu:9", &[1, 2], Duration::ZERO);
}

#[test]
fn async_play_of_two_policies_writes_the_newest_decision_every_frame() {
    play("--async", "policy:mlp", &[1, 2], Duration::from_micros(300));
}

#[test]
fn play_refuses_bad_options_with_reasons() {
    let root = root();
    for (args, want) in [
        (vec!["--opponent", "cpu:12"], "1 to 9"),
        (vec!["--opponent", "bob"], "cpu:LEVEL"),
        (vec!["--stage", "moon"], "unknown stage"),
        (vec!["--opponent-character", "waluigi"], "unknown character"),
        (vec!["--port", "2", "--opponent-port", "2"], "must differ"),
    ] {
        let mut a = vec![
            "play",
            "--attach",
            "127.0.0.1:9",
            "--pipes",
            "p",
            "--policy",
            "mlp",
            "--checkpoints",
            "ck",
            "--character",
            "fox",
        ];
        a.extend(args);
        let o = isolated(root).current_dir(root).args(&a).output().unwrap();
        assert!(!o.status.success());
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }
    // Without --attach, Dolphin and the disc image are required.
    let o = isolated(root)
        .current_dir(root)
        .args(["play", "--policy", "mlp"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--dolphin") && text(&o).contains("--iso"),
        "{}",
        text(&o)
    );
    // A Dolphin path with nothing there is named.
    let o = isolated(root)
        .current_dir(root)
        .args([
            "play",
            "--policy",
            "mlp",
            "--checkpoints",
            "ck",
            "--character",
            "fox",
            "--dolphin",
            "/nonexistent/dolphin",
            "--iso",
            "/nonexistent/melee.iso",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("/nonexistent/dolphin"), "{}", text(&o));
}

#[test]
fn dolphin_going_away_mid_game_ends_play_with_a_reason_and_whole_batches() {
    let root = root();
    let slp = std::fs::read(replays_dir().join(GAME)).unwrap();
    let msgs = event_messages(&slp);
    let half = msgs.len() / 2;
    let mut plan: Vec<Send> = msgs.into_iter().take(half).map(Send::Events).collect();
    plan.push(Send::Raw(b"garbage".to_vec()));
    plan.push(Send::Disconnect);
    let server = SpectatorServer::start(plan, 0, Duration::ZERO, Duration::from_secs(5));
    let user = tempfile::tempdir().unwrap();
    let path = user.path().join("Pipes/slippibot1");
    make_fifo(&path).unwrap();
    let r = read_fifo_batches(path);
    let o = isolated(root)
        .current_dir(root)
        .args([
            "play",
            "--attach",
            &server.addr.to_string(),
            "--pipes",
            user.path().to_str().unwrap(),
            "--policy",
            "mlp",
            "--checkpoints",
            "ck",
            "--opponent",
            "human",
            "--character",
            "pikachu",
            "--no-menus",
            "--boot-timeout",
            "20",
        ])
        .output()
        .unwrap();
    server.join();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("skipped a spectator message: not JSON"),
        "{err}"
    );
    assert!(
        err.contains("disconnected") && err.contains(&server_addr_hint(&err)),
        "{err}"
    );
    // Whatever was written is whole batches, and the statistics were still printed.
    let batches = r.join().unwrap();
    assert!(batches.len() > 100);
    for b in &batches {
        check(b);
    }
    assert!(err.contains("0 games"), "{err}");
}

/// The "127.0.0.1:PORT" the error names.
fn server_addr_hint(err: &str) -> String {
    let at = err
        .find("127.0.0.1:")
        .expect("the server's address in the error");
    err[at..].split_whitespace().next().unwrap().to_string()
}
