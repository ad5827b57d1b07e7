//! The UMI session in-process: a fake arena on one end of a socket pair, the session with a
//! fake decision source on the other. Replies, fallbacks past the deadline, out-of-range frames,
//! the order of what the decision source hears, and a failing model.

use exphil_serve::{run_session, Answer, Decide, Stats, NEUTRAL};
use exphil_state::{GameState, FRAME_BYTES};
use exphil_umi::arena;
use exphil_umi::msgpack::Value;
use exphil_umi::protocol::{read_message, write_message};
use exphil_umi::{Controller13, Hello, Obs, ProtocolError, Welcome};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A decision source that answers row `[game / 100, seq / 100, …]`, marks the games in `bad`
/// as out-of-range from observation 3 on, sleeps `delay` per observation, refuses game
/// `refuse`, and logs every call.
struct Fake {
    log: Arc<Mutex<Vec<String>>>,
    bad: Vec<u32>,
    delay: Duration,
    refuse: Option<u32>,
}

fn row(game: u32, seq: u64) -> Controller13 {
    let mut r = NEUTRAL;
    r[0] = game as f32 / 100.0;
    r[1] = seq as f32 / 100.0;
    r
}

impl Decide for Fake {
    fn start(&mut self, w: &Welcome) {
        self.log
            .lock()
            .unwrap()
            .push(format!("start {}", w.max_games));
    }
    fn new_game(&mut self, game: u32) -> Result<(), String> {
        self.log.lock().unwrap().push(format!("new {game}"));
        match self.refuse {
            Some(g) if g == game => Err(format!("no room for game {game}")),
            _ => Ok(()),
        }
    }
    fn end_game(&mut self, game: u32) {
        self.log.lock().unwrap().push(format!("end {game}"));
    }
    fn answer(&mut self, obs: &Obs, warmup: bool) -> Result<Answer, String> {
        self.log.lock().unwrap().push(format!(
            "{} {} {:?}",
            if warmup { "warmup" } else { "obs" },
            obs.seq,
            obs.games
        ));
        std::thread::sleep(self.delay);
        Ok(Answer {
            rows: obs.games.iter().map(|&g| row(g, obs.seq)).collect(),
            anomalous: obs
                .games
                .iter()
                .map(|g| obs.seq >= 3 && self.bad.contains(g))
                .collect(),
        })
    }
}

/// An observation of `games`, each with an all-zero frame (valid UMI; the fake never reads it).
fn obs(t: &str, seq: u64, games: &[u32], first: bool) -> Value {
    let frame = GameState::from_umi(&[0u8; FRAME_BYTES]).unwrap();
    arena::obs(
        t,
        seq,
        games,
        &vec![first; games.len()],
        &vec![frame; games.len()],
    )
}

/// The rows of an `act` for `seq`.
fn rows(act: &Value, seq: u64) -> Vec<Controller13> {
    let (got, rows) = arena::act_rows(act).unwrap_or_else(|e| panic!("{e}: {act:?}"));
    assert_eq!(got, seq);
    rows
}

/// Runs a session with `fake` and `deadline_ms` against `arena` (which plays the arena's side
/// on its socket); the session's outcome, stats, notes and the fake's log.
fn with_arena(
    fake: Fake,
    deadline_ms: Option<f64>,
    arena: impl FnOnce(&mut UnixStream) + Send + 'static,
) -> (
    Result<String, ProtocolError>,
    Stats,
    Vec<String>,
    Vec<String>,
) {
    let log = fake.log.clone();
    let (mut bot, mut peer) = UnixStream::pair().unwrap();
    let arena = std::thread::spawn(move || arena(&mut peer));
    let hello = Hello {
        name: "test".into(),
        characters: "FOX".into(),
        delay: 0,
        deterministic: true,
    };
    let mut notes = Vec::new();
    let mut reader = bot.try_clone().unwrap();
    let (result, stats) = run_session(fake, &hello, deadline_ms, &mut reader, &mut bot, &mut |n| {
        notes.push(n)
    });
    drop((bot, reader));
    arena.join().unwrap();
    let log = log.lock().unwrap().clone();
    (result, stats, notes, log)
}

fn fake() -> Fake {
    Fake {
        log: Arc::new(Mutex::new(Vec::new())),
        bad: vec![9],
        delay: Duration::ZERO,
        refuse: None,
    }
}

#[test]
fn a_session_answers_in_order_and_out_of_range_frames_repeat_the_last_controller() {
    let (result, stats, notes, log) = with_arena(fake(), None, |c| {
        let hello = read_message(c).unwrap();
        assert_eq!(hello.get("t").and_then(Value::as_str), Some("hello"));
        write_message(c, &arena::welcome(2, 2, 1, 10.0)).unwrap();
        write_message(c, &obs("warmup", 1, &[100, 101], true)).unwrap();
        assert_eq!(rows(&read_message(c).unwrap(), 1).len(), 2);
        let ready = read_message(c).unwrap();
        assert_eq!(ready.get("t").and_then(Value::as_str), Some("ready"));
        write_message(c, &arena::new_games(&[7, 9])).unwrap();
        write_message(c, &obs("obs", 2, &[7, 9], true)).unwrap();
        assert_eq!(rows(&read_message(c).unwrap(), 2), [row(7, 2), row(9, 2)]);
        // From here game 9's frames are out of range: it repeats its previous controller.
        write_message(c, &obs("obs", 3, &[7, 9], false)).unwrap();
        assert_eq!(rows(&read_message(c).unwrap(), 3), [row(7, 3), row(9, 2)]);
        write_message(c, &arena::end_games(&[7])).unwrap();
        write_message(c, &obs("obs", 4, &[], false)).unwrap();
        assert!(rows(&read_message(c).unwrap(), 4).is_empty());
        write_message(c, &arena::shutdown("done")).unwrap();
    });
    assert_eq!(result.unwrap(), "done");
    // Warmups and empty observations are not counted.
    assert_eq!(stats.observations, 2, "{stats:?}");
    assert_eq!(stats.frames, 4);
    assert_eq!(stats.fallbacks, 0);
    assert_eq!(stats.anomalies, 1, "game 9 in observation 3");
    assert_eq!(stats.reply_us.len(), 2);
    // The arena's delay (2) differs from the declared one (0): the operator hears it.
    assert!(notes.iter().any(|n| n.contains("delay 2")), "{notes:?}");
    assert_eq!(
        log,
        [
            "start 2",
            "warmup 1 [100, 101]",
            "new 7",
            "new 9",
            "obs 2 [7, 9]",
            "obs 3 [7, 9]",
            "end 7",
        ]
    );
}

#[test]
fn a_model_past_the_deadline_is_answered_by_the_previous_controller() {
    let slow = Fake {
        bad: Vec::new(),
        delay: Duration::from_millis(150),
        ..fake()
    };
    let (result, stats, _, _) = with_arena(slow, Some(20.0), |c| {
        read_message(c).unwrap();
        write_message(c, &arena::welcome(2, 2, 0, 10.0)).unwrap();
        assert_eq!(
            read_message(c).unwrap().get("t").and_then(Value::as_str),
            Some("ready")
        );
        // Each observation is answered within the deadline by the fallback: neutral, as the
        // game has had no controller yet; the late answers are dropped, never sent.
        for seq in 1..=3 {
            write_message(c, &obs("obs", seq, &[5], seq == 1)).unwrap();
            let t0 = std::time::Instant::now();
            let r = rows(&read_message(c).unwrap(), seq);
            assert!(t0.elapsed() < Duration::from_millis(140), "answered late");
            assert_eq!(r, [NEUTRAL]);
        }
        write_message(c, &arena::shutdown("bye")).unwrap();
    });
    assert_eq!(result.unwrap(), "bye");
    assert_eq!(stats.fallbacks, 3);
    assert_eq!(stats.observations, 3);
}

#[test]
fn a_failing_model_ends_the_session_with_a_protocol_error() {
    let refusing = Fake {
        refuse: Some(8),
        ..fake()
    };
    let (result, _, _, _) = with_arena(refusing, None, |c| {
        read_message(c).unwrap();
        write_message(c, &arena::welcome(2, 1, 0, 10.0)).unwrap();
        read_message(c).unwrap();
        write_message(c, &arena::new_games(&[8])).unwrap();
        write_message(c, &obs("obs", 1, &[8], true)).unwrap();
        // The session ends: whatever it sends, the socket closes.
        while read_message(c).is_ok() {}
    });
    let e = result.unwrap_err().to_string();
    assert!(e.contains("no room for game 8"), "{e}");
    assert_eq!(
        exphil_serve::error_code(&ProtocolError::Invalid(e)),
        "ProtocolError"
    );
}
