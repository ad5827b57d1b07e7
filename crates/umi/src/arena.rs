//! The arena's side of UMI v1, for tests and tools that drive a bot: the messages an arena sends
//! (`welcome`, `warmup`/`obs`, `new_games`, `end_games`, `shutdown`) and the rows of the `act`
//! a bot answers with. The bot's side parses these with [`crate::Message::parse`].

use crate::msgpack::Value;
use crate::protocol::{Controller13, ProtocolError, CTRL_LEN};
use exphil_state::GameState;

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

/// A `welcome`: one lane, buckets of 1 and 8 games, an observation every 6 frames, the arena's
/// `delay`, `max_games` at once, `warmups` before `ready`, `act_s` seconds to answer.
pub fn welcome(delay: u8, max_games: u64, warmups: u64, act_s: f64) -> Value {
    Value::map(vec![
        ("t", s("welcome")),
        ("delay", Value::UInt(u64::from(delay))),
        ("max_games", Value::UInt(max_games)),
        ("lanes", Value::UInt(1)),
        (
            "buckets",
            Value::Array(vec![Value::UInt(1), Value::UInt(8)]),
        ),
        ("info_every", Value::UInt(6)),
        ("warmups", Value::UInt(warmups)),
        (
            "timeouts",
            Value::map(vec![
                ("ready_s", Value::UInt(300)),
                ("act_s", Value::F64(act_s)),
            ]),
        ),
        ("rng_seed", Value::UInt(0)),
    ])
}

/// An observation (`t` = `obs`) or a warmup (`t` = `warmup`) on lane 0: a frame per game.
pub fn obs(t: &str, seq: u64, games: &[u32], first: &[bool], frames: &[GameState]) -> Value {
    Value::map(vec![
        ("t", s(t)),
        ("seq", Value::UInt(seq)),
        ("lane", Value::UInt(0)),
        (
            "games",
            Value::Bin(games.iter().flat_map(|g| g.to_le_bytes()).collect()),
        ),
        (
            "first",
            Value::Bin(first.iter().map(|&f| u8::from(f)).collect()),
        ),
        (
            "frames",
            Value::Bin(frames.iter().flat_map(|f| f.to_umi()).collect()),
        ),
    ])
}

/// `new_games`: the bot plays port 1 as Fox against Marth on Battlefield in each.
pub fn new_games(games: &[u32]) -> Value {
    let list = games
        .iter()
        .map(|&g| {
            Value::map(vec![
                ("game", Value::UInt(u64::from(g))),
                ("port", Value::UInt(1)),
                ("character", s("FOX")),
                ("opp_character", s("MARTH")),
                ("stage", s("BATTLEFIELD")),
            ])
        })
        .collect();
    Value::map(vec![("t", s("new_games")), ("games", Value::Array(list))])
}

/// `end_games`.
pub fn end_games(games: &[u32]) -> Value {
    Value::map(vec![
        ("t", s("end_games")),
        (
            "games",
            Value::Array(games.iter().map(|&g| Value::UInt(u64::from(g))).collect()),
        ),
    ])
}

/// `shutdown` with `reason`.
pub fn shutdown(reason: &str) -> Value {
    Value::map(vec![("t", s("shutdown")), ("reason", s(reason))])
}

/// The sequence number and controller rows of an `act`.
pub fn act_rows(v: &Value) -> Result<(u64, Vec<Controller13>), ProtocolError> {
    let bad = |why: &str| ProtocolError::Invalid(format!("act: {why}"));
    if v.get("t").and_then(Value::as_str) != Some("act") {
        return Err(bad("not an act message"));
    }
    let seq = v
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no seq"))?;
    let b = v
        .get("ctrl")
        .and_then(Value::as_bin)
        .ok_or_else(|| bad("no ctrl"))?;
    if b.len() % (CTRL_LEN * 4) != 0 {
        return Err(bad("ctrl is not whole rows of 13 f32"));
    }
    let rows = b
        .chunks_exact(CTRL_LEN * 4)
        .map(|r| {
            std::array::from_fn(|i| {
                f32::from_le_bytes(r[i * 4..i * 4 + 4].try_into().unwrap_or_default())
            })
        })
        .collect();
    Ok((seq, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{act, Message};

    #[test]
    fn what_the_arena_sends_parses_and_acts_read_back() {
        let Message::Welcome(w) = Message::parse(&welcome(3, 4, 2, 0.5), 0).unwrap() else {
            panic!("not a welcome");
        };
        assert_eq!((w.delay, w.max_games, w.warmups, w.act_s), (3, 4, 2, 0.5));
        let frame = GameState::from_umi(&[0u8; exphil_state::FRAME_BYTES]).unwrap();
        let Message::Obs(o) =
            Message::parse(&obs("obs", 7, &[1, 2], &[true, false], &[frame; 2]), 4).unwrap()
        else {
            panic!("not an obs");
        };
        assert_eq!(
            (o.seq, o.games, o.first),
            (7, vec![1, 2], vec![true, false])
        );
        assert!(matches!(
            Message::parse(&obs("warmup", 1, &[5], &[true], &[frame]), 4).unwrap(),
            Message::Warmup(_)
        ));
        assert!(matches!(
            Message::parse(&new_games(&[9]), 4).unwrap(),
            Message::NewGames(g) if g.len() == 1 && g[0].game == 9
        ));
        assert!(matches!(
            Message::parse(&end_games(&[9]), 4).unwrap(),
            Message::EndGames(e) if e.games == [9]
        ));
        assert!(matches!(
            Message::parse(&shutdown("done"), 4).unwrap(),
            Message::Shutdown(r) if r == "done"
        ));
        let rows = [[0.25f32; CTRL_LEN], [0.5; CTRL_LEN]];
        assert_eq!(act_rows(&act(11, &rows)).unwrap(), (11, rows.to_vec()));
        assert!(act_rows(&shutdown("x")).is_err());
    }
}
