//! The live link without Dolphin: a fake spectator server on loopback (real ENet, the real
//! message format) streams real replays; every frame decoded live must equal the file decode.
//! A test pipe reader records the controller batches.

use exphil_dolphin::pipe::{make_fifo, ControllerPipe, Pad};
use exphil_dolphin::{seats, LiveEvent, LiveStream, Message, SeatView, SpectatorClient};
use exphil_replay::{read, DecodeOptions, RollbackMode};
use exphil_state::DelayQueue;
use exphil_state::{states, GameState};
use exphil_testdata::spectator::{event_messages, read_fifo_batches, Send, SpectatorServer};
use std::time::Duration;

const ROLLBACKS: &str = "games/slippi-js__rollbackFrameTest.slp";
const NETPLAY: &str =
    "games/py-slippi__COWS_797_Pikachu_vs_NUT_356_Falco_on_DL_-_12-22-22_12.34am.slp";
const FOD: &str = "games/py-slippi__DOOP_555_Mario_vs_NUT_356_Falco_on_FoD_-_12-23-22_02.12am.slp";

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(exphil_testdata::replay(name)).expect("replay")
}

/// What a live client saw: for each game, the states from each port's seat.
struct Seen {
    games: Vec<[Vec<GameState>; 2]>,
    resends: u64,
    gaps: u64,
    menus: usize,
    starts: usize,
}

fn watch(server: &SpectatorServer, expected_games: usize) -> Seen {
    let mut client =
        SpectatorClient::connect(server.addr, 0, Duration::from_secs(20)).expect("connect");
    assert_eq!(client.server.0, "fake-dolphin");
    let mut live = LiveStream::new();
    let mut seen = Seen {
        games: Vec::new(),
        resends: 0,
        gaps: 0,
        menus: 0,
        starts: 0,
    };
    let mut views: Option<[SeatView; 2]> = None;
    let mut ended = 0;
    while ended < expected_games {
        let m = client
            .recv(Duration::from_secs(20))
            .expect("recv")
            .expect("the server stopped sending");
        match m {
            Message::GameEvent { payload, .. } => {
                if client.gaps > seen.gaps {
                    seen.gaps = client.gaps;
                    live.resync();
                }
                for e in live.feed(&payload) {
                    let game = live.game().expect("a game");
                    match e {
                        LiveEvent::GameStart => {
                            let (a, b) =
                                seats(game, game.start.players[0].port, None).expect("1v1");
                            views = Some([SeatView::new(game, a, b), SeatView::new(game, b, a)]);
                            seen.games.push([Vec::new(), Vec::new()]);
                        }
                        LiveEvent::Frame { row, .. } => {
                            let v = views.as_mut().expect("started");
                            let g = seen.games.last_mut().unwrap();
                            for s in 0..2 {
                                if let Some(st) = v[s].state(game, row) {
                                    g[s].push(st);
                                }
                            }
                        }
                        LiveEvent::GameEnd => ended += 1,
                    }
                }
            }
            Message::MenuEvent(_) => seen.menus += 1,
            Message::StartGame(_) => seen.starts += 1,
            _ => {}
        }
    }
    seen.resends = live.resends();
    client.close();
    seen
}

fn file_states(slp: &[u8]) -> [Vec<GameState>; 2] {
    let game = read(
        slp,
        DecodeOptions {
            rollback: RollbackMode::First,
        },
    )
    .expect("decode");
    let (a, b) = seats(&game, game.start.players[0].port, None).expect("1v1");
    [states(&game, a, b), states(&game, b, a)].map(|v| v.into_iter().map(|(_, s)| s).collect())
}

#[test]
fn every_frame_decoded_live_equals_the_file_decode() {
    let names = [ROLLBACKS, NETPLAY, FOD];
    let files: Vec<Vec<u8>> = names.iter().map(|n| bytes(n)).collect();
    let mut plan = vec![Send::Menu(vec![0x3E; 8])];
    for f in &files {
        plan.push(Send::Json(
            serde_json::json!({"type": "start_game", "players": []}),
        ));
        plan.extend(event_messages(f).into_iter().map(Send::Events));
        plan.push(Send::Json(serde_json::json!({"type": "end_game"})));
    }
    let server = SpectatorServer::start(plan, 7, Duration::ZERO, Duration::from_secs(10));
    let seen = watch(&server, names.len());
    let report = server.join();
    assert_eq!(report.requested_cursor, Some(0));
    assert!(report.client_disconnected);
    assert_eq!(seen.gaps, 0);
    assert_eq!(seen.menus, 1);
    assert_eq!(seen.starts, 3);
    assert_eq!(seen.games.len(), 3);
    let mut resends = 0;
    for ((name, f), live) in names.iter().zip(&files).zip(&seen.games) {
        let want = file_states(f);
        for s in 0..2 {
            assert_eq!(live[s].len(), want[s].len(), "{name}: frames from seat {s}");
            for (i, (a, b)) in live[s].iter().zip(&want[s]).enumerate() {
                assert_eq!(a, b, "{name}: seat {s}, state {i} (frame {})", b.frame);
            }
        }
        resends += read(f, DecodeOptions::default()).unwrap().rollback_resends as u64;
    }
    assert!(resends > 0, "the stream holds rollback re-sends");
    assert_eq!(seen.resends, resends, "every re-send dropped");
}

#[test]
fn a_missed_event_resyncs_at_the_next_game() {
    let a = bytes(NETPLAY);
    let b = bytes(ROLLBACKS);
    let mut plan: Vec<Send> = Vec::new();
    let ma = event_messages(&a);
    let cut = ma.len() / 2;
    for (i, m) in ma.into_iter().enumerate() {
        plan.push(if i == cut { Send::Gap } else { Send::Events(m) });
    }
    plan.extend(event_messages(&b).into_iter().map(Send::Events));
    let server = SpectatorServer::start(plan, 0, Duration::ZERO, Duration::from_secs(10));
    // Only the second game ends as a game: the first is dropped at the gap.
    let seen = watch(&server, 1);
    server.join();
    assert_eq!(seen.gaps, 1);
    assert_eq!(seen.games.len(), 2);
    let want = file_states(&b);
    assert_eq!(seen.games[1][0], want[0]);
    assert!(seen.games[0][0].len() < file_states(&a)[0].len());
}

#[test]
fn a_garbage_message_is_reported_and_the_next_game_decodes() {
    let a = bytes(NETPLAY);
    let b = bytes(ROLLBACKS);
    let mut plan: Vec<Send> = Vec::new();
    let ma = event_messages(&a);
    let cut = ma.len() / 3;
    for (i, m) in ma.into_iter().enumerate() {
        plan.push(if i == cut {
            Send::Raw(b"\x00\xffnot json".to_vec())
        } else {
            Send::Events(m)
        });
    }
    plan.push(Send::Json(
        serde_json::json!({"type": "game_event", "cursor": 1}),
    ));
    plan.extend(event_messages(&b).into_iter().map(Send::Events));
    plan.push(Send::Disconnect);
    let server = SpectatorServer::start(plan, 0, Duration::ZERO, Duration::from_secs(10));
    let mut client =
        SpectatorClient::connect(server.addr, 0, Duration::from_secs(20)).expect("connect");
    let mut live = LiveStream::new();
    let mut invalid = Vec::new();
    let mut ends = 0;
    let err = loop {
        match client.recv(Duration::from_secs(20)) {
            Ok(Some(Message::Invalid(why))) => invalid.push(why),
            Ok(Some(Message::GameEvent { payload, .. })) => {
                if client.gaps > 0 && live.in_game() && live.games == 1 {
                    live.resync();
                }
                ends += live
                    .feed(&payload)
                    .iter()
                    .filter(|e| **e == LiveEvent::GameEnd)
                    .count();
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the server went quiet"),
            Err(e) => break e,
        }
    };
    server.join();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
    assert!(invalid[0].contains("not JSON"), "{invalid:?}");
    assert!(invalid[1].contains("next_cursor"), "{invalid:?}");
    assert!(client.gaps >= 1);
    assert_eq!(client.invalid, 2);
    assert_eq!(live.games, 2);
    assert_eq!(ends, 1, "only the second game ends as a game");
    assert!(err.to_string().contains("disconnected"), "{err}");
}

#[test]
fn nothing_listening_times_out_with_the_address() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let err = SpectatorClient::connect(addr, 0, Duration::from_millis(300))
        .err()
        .expect("no server");
    let msg = err.to_string();
    assert!(
        msg.contains(&addr.to_string()) && msg.contains("spectator"),
        "{msg}"
    );
}

#[test]
fn bad_messages_are_named() {
    for (bytes, want) in [
        (&b"not json"[..], "not JSON"),
        (br#"{"cursor": 1}"#, "without a \"type\""),
        (
            br#"{"type": "game_event", "cursor": 1, "next_cursor": 2}"#,
            "payload",
        ),
        (
            br#"{"type": "game_event", "cursor": 1, "next_cursor": 2, "payload": "%%%"}"#,
            "not base64",
        ),
        (br#"{"type": "connect_reply"}"#, "cursor"),
    ] {
        let e = Message::parse(bytes).expect_err("refused").to_string();
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    assert_eq!(
        Message::parse(br#"{"type": "something_new"}"#).unwrap(),
        Message::Other("something_new".into())
    );
}

/// The pad a batch sets, checking it is well-formed: every button once, both sticks, both
/// shoulders, FLUSH last.
fn parse_batch(b: &[String]) -> Pad {
    let mut pad = Pad::NEUTRAL;
    let mut seen = std::collections::HashSet::new();
    for line in &b[..b.len() - 1] {
        let w: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| -> f32 {
            let v: f32 = s.parse().expect("a number");
            assert!((0.0..=1.0).contains(&v), "{line}");
            v
        };
        let key = match w.as_slice() {
            ["PRESS", name] => {
                pad = pad.press(name);
                name.to_string()
            }
            ["RELEASE", name] => {
                assert!(exphil_dolphin::PAD_BUTTONS.contains(name), "{line}");
                name.to_string()
            }
            ["SET", "MAIN", x, y] => {
                pad.main = (num(x), num(y));
                "MAIN".into()
            }
            ["SET", "C", x, y] => {
                pad.c = (num(x), num(y));
                "C".into()
            }
            ["SET", "L", v] => {
                pad.l = num(v);
                "SL".into()
            }
            ["SET", "R", v] => {
                pad.r = num(v);
                "SR".into()
            }
            _ => panic!("malformed line {line:?}"),
        };
        assert!(seen.insert(key), "{line} twice in one batch");
    }
    assert_eq!(seen.len(), exphil_dolphin::PAD_BUTTONS.len() + 4, "{b:?}");
    assert_eq!(b.last().map(String::as_str), Some("FLUSH"));
    pad
}

#[test]
fn the_pipe_gets_one_batch_per_frame_with_decisions_delayed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Pipes/slippibot1");
    make_fifo(&path).unwrap();
    make_fifo(&path).expect("an existing FIFO is reused");
    let reader = read_fifo_batches(path.clone());
    let mut pipe = ControllerPipe::open(&path, true, Duration::from_secs(10)).unwrap();
    let delay = 3;
    let mut q = DelayQueue::new(delay, Pad::NEUTRAL);
    // Two games of 50 and 20 frames; the decision of frame k sets main x = k / 1000.
    let games = [50usize, 20];
    for &n in &games {
        q.clear();
        for k in 0..n {
            let mut decision = Pad::NEUTRAL;
            decision.main.0 = k as f32 / 1000.0;
            if k % 2 == 0 {
                decision = decision.press("A");
            }
            pipe.send(&q.push(decision)).unwrap();
        }
    }
    assert_eq!(pipe.written, 70);
    drop(pipe);
    let batches = reader.join().unwrap();
    assert_eq!(batches.len(), 70, "one batch per frame");
    let mut i = 0;
    for &n in &games {
        for k in 0..n {
            let pad = parse_batch(&batches[i]);
            if k < delay {
                assert_eq!(
                    pad,
                    Pad::NEUTRAL,
                    "frame {k} of a game: before the first decision"
                );
            } else {
                let d = k - delay;
                assert!((pad.main.0 - d as f32 / 1000.0).abs() < 1e-4, "frame {k}");
                assert_eq!(pad.pressed("A"), d % 2 == 0, "frame {k}");
            }
            i += 1;
        }
    }
}

#[test]
fn pipe_errors_name_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let e = make_fifo(&file).unwrap_err().to_string();
    assert!(e.contains("plain") && e.contains("not a FIFO"), "{e}");
    let fifo = dir.path().join("nobody");
    make_fifo(&fifo).unwrap();
    let e = ControllerPipe::open(&fifo, true, Duration::from_millis(100))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nobody") && e.contains("reading"), "{e}");
}
