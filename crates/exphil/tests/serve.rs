//! `exphil serve` against a test arena on a Unix socket: a whole session with real replay
//! frames, the robustness rows of RELIABILITY.md ("serving": oversized, zero-length, truncated
//! and garbage messages, a peer that trickles bytes or disconnects mid-message, a model slower
//! than the deadline), and — when a Python with `umi-melee` is at hand (always on CI) — the
//! conformance tool `umi-conform --realtime` for an MLP and a recurrent policy.

mod common;

use common::{isolated, text, train_quick};
use exphil_state::GameState;
use exphil_testdata::replays_dir;
use exphil_umi::msgpack::Value;
use exphil_umi::protocol::{read_message, write_message};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Runs {
    root: PathBuf,
}

/// An MLP and a GRU trained briefly on the shared games, once for all tests.
fn runs() -> &'static Runs {
    static R: OnceLock<Runs> = OnceLock::new();
    R.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for (name, extra) in [
            ("mlp", vec![]),
            (
                "gru",
                vec![
                    "--temporal",
                    "--backbone",
                    "gru",
                    "--window-size",
                    "8",
                    "--stride",
                    "8",
                    "--hidden-size",
                    "32",
                    "--num-layers",
                    "1",
                ],
            ),
        ] {
            train_quick(&root, name, "3", "3", &extra);
        }
        Runs { root }
    })
}

/// A test arena: a listening socket and the bot process connected to it.
struct Arena {
    conn: UnixStream,
    bot: Child,
    _dir: tempfile::TempDir,
}

fn start(run: &str, extra: &[&str]) -> Arena {
    let r = runs();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("umi.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let bot = isolated(&r.root)
        .current_dir(&r.root)
        .args(["serve", "--policy", &format!("ck/{run}")])
        .args(extra)
        .env("UMI_SOCKET", &sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let t0 = Instant::now();
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(_) if t0.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("the bot never connected: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    Arena {
        conn,
        bot,
        _dir: dir,
    }
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

fn welcome(max_games: u64, warmups: u64) -> Value {
    exphil_umi::arena::welcome(0, max_games, warmups, 10.0)
}

fn obs(t: &str, seq: u64, games: &[u32], first: &[bool], frames: &[GameState]) -> Value {
    exphil_umi::arena::obs(t, seq, games, first, frames)
}

fn new_games(games: &[u32]) -> Value {
    exphil_umi::arena::new_games(games)
}

/// Real frames from a shared replay, from port 1's seat.
fn real_frames() -> Vec<GameState> {
    let g = exphil_replay::read_file(
        &replays_dir()
            .join("games")
            .join("py-slippi__ACID_441_Peach_vs_NUT_356_Marth_on_FD_-_12-15-22_01.42am.slp"),
        exphil_replay::DecodeOptions::default(),
    )
    .unwrap();
    let (a, b) = (g.start.players[0].port, g.start.players[1].port);
    exphil_state::states(&g, a, b)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

fn ctrl(act: &Value, n: usize) -> Vec<[f32; 13]> {
    let (_, rows) = exphil_umi::arena::act_rows(act).unwrap_or_else(|e| panic!("{e}: {act:?}"));
    assert_eq!(rows.len(), n);
    rows
}

/// hello → welcome → warmups → ready.
fn handshake(a: &mut Arena, max_games: u64) -> Value {
    let hello = read_message(&mut a.conn).unwrap();
    assert_eq!(hello.get("t").and_then(Value::as_str), Some("hello"));
    write_message(&mut a.conn, &welcome(max_games, 2)).unwrap();
    let frames = real_frames();
    for (k, n) in [1usize, 8].iter().enumerate() {
        let games: Vec<u32> = (0..*n as u32).map(|i| 1_000_000 + i).collect();
        write_message(
            &mut a.conn,
            &obs(
                "warmup",
                100 + k as u64,
                &games,
                &vec![true; *n],
                &frames[..*n],
            ),
        )
        .unwrap();
        let r = read_message(&mut a.conn).unwrap();
        assert_eq!(r.get("seq").and_then(Value::as_u64), Some(100 + k as u64));
        ctrl(&r, *n);
    }
    let r = read_message(&mut a.conn).unwrap();
    assert_eq!(r.get("t").and_then(Value::as_str), Some("ready"));
    hello
}

fn finish(a: Arena) -> (Option<i32>, String) {
    let mut bot = a.bot;
    drop(a.conn);
    let t0 = Instant::now();
    loop {
        if let Some(st) = bot.try_wait().unwrap() {
            let mut err = String::new();
            bot.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (st.code(), err);
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = bot.kill();
            panic!("the bot did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_whole_session_with_real_frames() {
    for run in ["mlp", "gru"] {
        let mut a = start(run, &["--deterministic"]);
        let hello = handshake(&mut a, 8);
        assert_eq!(hello.get("umi").and_then(Value::as_str), Some("1.0"));
        assert_eq!(hello.get("deterministic"), Some(&Value::Bool(true)));
        assert!(
            hello
                .get("characters")
                .and_then(Value::as_str)
                .unwrap()
                .contains("MARTH"),
            "{hello:?}"
        );
        let frames = real_frames();
        // Two games; game 2 starts later from the same frames, so (deterministic, with its
        // memory reset on its first observation) it repeats game 1's answers.
        write_message(&mut a.conn, &new_games(&[1, 2])).unwrap();
        let mut answers: Vec<Vec<[f32; 13]>> = vec![Vec::new(), Vec::new()];
        for t in 0..60usize {
            let (games, first, fr): (Vec<u32>, Vec<bool>, Vec<GameState>) = if t < 20 {
                (vec![1], vec![t == 0], vec![frames[300 + t]])
            } else {
                (
                    vec![2, 1],
                    vec![t == 20, false],
                    vec![frames[300 + t - 20], frames[300 + t]],
                )
            };
            write_message(&mut a.conn, &obs("obs", t as u64, &games, &first, &fr)).unwrap();
            let r = read_message(&mut a.conn).unwrap();
            assert_eq!(r.get("seq").and_then(Value::as_u64), Some(t as u64));
            let rows = ctrl(&r, games.len());
            for (g, row) in games.iter().zip(&rows) {
                assert!(
                    row.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x)),
                    "{row:?}"
                );
                answers[*g as usize - 1].push(*row);
            }
        }
        assert_eq!(
            answers[1][..],
            answers[0][..40],
            "{run}: game 2 repeats game 1"
        );
        let end = Value::map(vec![
            ("t", s("end_games")),
            (
                "games",
                Value::Array(vec![Value::map(vec![("game", Value::UInt(1))])]),
            ),
        ]);
        write_message(&mut a.conn, &end).unwrap();
        write_message(
            &mut a.conn,
            &Value::map(vec![("t", s("shutdown")), ("reason", s("done"))]),
        )
        .unwrap();
        let (code, err) = finish(a);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            err.contains("60 observations") && err.contains("0 answered by the fallback"),
            "{err}"
        );
    }
}

/// Sends raw bytes after the handshake; the bot reports an error to the arena and exits 1
/// with `want` in its message.
fn refused(raw: &[u8], close: bool, want: &str) {
    let mut a = start("mlp", &[]);
    handshake(&mut a, 8);
    a.conn.write_all(raw).unwrap();
    if close {
        a.conn.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let t0 = Instant::now();
    // The bot's error report, when it is not a closed connection.
    if !close {
        let r = read_message(&mut a.conn).unwrap();
        assert_eq!(r.get("t").and_then(Value::as_str), Some("error"), "{r:?}");
        let msg = r.get("msg").and_then(Value::as_str).unwrap().to_string();
        assert!(msg.contains(want), "{msg}");
    }
    let (code, err) = finish(a);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(want), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn hostile_messages_are_refused_with_a_reason() {
    // Over the 2^28 limit: refused from the length alone (no allocation).
    refused(&((1u32 << 28) + 1).to_le_bytes(), false, "268435457 bytes");
    // Legal by the spec's 2^28 but more than 8 games can need: refused from the length.
    refused(
        &(64u32 << 20).to_le_bytes(),
        false,
        "more than the 1048576 bytes",
    );
    // Zero-length.
    refused(&[0, 0, 0, 0], false, "0 bytes");
    // Garbage.
    refused(&[3, 0, 0, 0, 0xc1, 0xff, 0x00], false, "not valid msgpack");
    // Valid msgpack, not a message.
    refused(&[1, 0, 0, 0, 0x07], false, "string field 't'");
    // An observation whose arrays disagree.
    let mut bad = Vec::new();
    let frames = real_frames();
    write_message(&mut bad, &obs("obs", 1, &[1, 2], &[true], &frames[..2])).unwrap();
    refused(&bad, false, "first flags");
    // 512 KiB announced, 10 bytes sent, then the arena leaves.
    let mut trunc = (512u32 << 10).to_le_bytes().to_vec();
    trunc.extend_from_slice(&[0x81; 10]);
    refused(&trunc, true, "in the middle of a message");
    // An observation on a lane the session does not have.
    let mut lane = Vec::new();
    let mut o = obs("obs", 2, &[1], &[true], &frames[..1]);
    if let Value::Map(entries) = &mut o {
        entries.retain(|(k, _)| k.as_str() != Some("lane"));
        entries.push((s("lane"), Value::UInt(1 << 40)));
    }
    write_message(&mut lane, &o).unwrap();
    refused(&lane, false, "lane");
}

/// A welcome whose numbers are out of bounds (a timeout of 1e20 s panicked the bot once) is
/// refused with the reason, as an error exit, never a panic.
#[test]
fn a_welcome_out_of_bounds_is_refused_not_a_panic() {
    for (key, value, want) in [
        (
            "timeouts",
            Value::map(vec![("act_s", Value::F64(1e20))]),
            "act_s",
        ),
        (
            "timeouts",
            Value::map(vec![("act_s", Value::F64(f64::NAN))]),
            "act_s",
        ),
        ("warmups", Value::UInt(1 << 40), "warmups"),
        (
            "buckets",
            Value::Array(vec![Value::UInt(8); 100_000]),
            "buckets",
        ),
    ] {
        let mut a = start("mlp", &[]);
        let hello = read_message(&mut a.conn).unwrap();
        assert_eq!(hello.get("t").and_then(Value::as_str), Some("hello"));
        let mut w = welcome(8, 0);
        if let Value::Map(entries) = &mut w {
            entries.retain(|(k, _)| k.as_str() != Some(key));
            entries.push((s(key), value));
        }
        write_message(&mut a.conn, &w).unwrap();
        let (code, err) = finish(a);
        assert_eq!(code, Some(1), "{key}: {err}");
        assert!(
            err.contains(want) && !err.contains("panicked"),
            "{key}: {err}"
        );
    }
}

#[test]
fn a_trickling_peer_and_a_slow_model_are_still_answered() {
    // Bytes one at a time.
    let mut a = start("gru", &[]);
    handshake(&mut a, 8);
    let frames = real_frames();
    write_message(&mut a.conn, &new_games(&[7])).unwrap();
    let mut msg = Vec::new();
    write_message(&mut msg, &obs("obs", 5, &[7], &[true], &frames[500..501])).unwrap();
    for b in &msg {
        a.conn.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let r = read_message(&mut a.conn).unwrap();
    assert_eq!(r.get("seq").and_then(Value::as_u64), Some(5));
    ctrl(&r, 1);
    // The arena disconnects mid-game: the bot exits, reporting it.
    let (code, err) = finish(a);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("closed the connection"), "{err}");

    // A deadline the model cannot meet: every observation is still answered, in order, by
    // the fallback (the previous controller, neutral at first), and the count is reported.
    let mut a = start("gru", &["--deadline-ms", "0"]);
    handshake(&mut a, 8);
    write_message(&mut a.conn, &new_games(&[1, 2])).unwrap();
    for t in 0..40u64 {
        write_message(
            &mut a.conn,
            &obs(
                "obs",
                t,
                &[1, 2],
                &[t == 0, t == 0],
                &[frames[600 + t as usize], frames[900 + t as usize]],
            ),
        )
        .unwrap();
        let r = read_message(&mut a.conn).unwrap();
        assert_eq!(r.get("seq").and_then(Value::as_u64), Some(t));
        for row in ctrl(&r, 2) {
            assert!(row.iter().all(|x| x.is_finite()));
        }
    }
    write_message(&mut a.conn, &Value::map(vec![("t", s("shutdown"))])).unwrap();
    let (code, err) = finish(a);
    assert_eq!(code, Some(0), "{err}");
    let fallbacks: u64 = err
        .split(" answered by the fallback")
        .next()
        .and_then(|x| x.rsplit(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    // With no time at all, the model (about 0.1 ms a step) misses most deadlines; it may
    // still catch some while the test arena is slow to send the next observation.
    assert!(fallbacks >= 1, "{fallbacks} fallbacks: {err}");
    assert!(err.contains("40 observations, 80 game frames"), "{err}");
}

#[test]
fn umi_conform_passes_for_an_mlp_and_a_recurrent_policy() {
    let Some(python) = std::env::var_os("EXPHIL_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but EXPHIL_PYTHON is not: .ci/run must provide a Python with umi-melee"
        );
        eprintln!("EXPHIL_PYTHON not set: umi-conform did not run");
        return;
    };
    let conform = Path::new(&python).with_file_name("umi-conform");
    assert!(
        conform.is_file(),
        "{} is missing: install umi-melee in that Python's environment (.ci/run does)",
        conform.display()
    );
    let r = runs();
    let bin = env!("CARGO_BIN_EXE_exphil");
    for (run, extra) in [("mlp", " --deterministic"), ("gru", "")] {
        let cmd = format!("{bin} serve --policy ck/{run}{extra}");
        let o = Command::new(&conform)
            .current_dir(&r.root)
            .env("HOME", &r.root)
            .args(["--realtime", "--steps", "100", "--cmd", &cmd])
            .output()
            .unwrap();
        let out = text(&o);
        assert!(
            o.status.success() && out.contains("PASSED"),
            "{run}:\n{out}"
        );
        assert!(out.contains("PASS  real time"), "{run}:\n{out}");
    }
}
