//! UMI v1 messages: `u32` little-endian length, then one msgpack map with a string field `t`.
//! Arrays travel as raw little-endian bytes in `bin` fields. Reading never allocates more than
//! the bytes that have arrived (plus one 64 KiB chunk), whatever length a peer announces.

use crate::msgpack::{decode, encode, DecodeError, Value};
use exphil_replay::ExternalCharacter;
use exphil_state::umi::FRAME_BYTES;
use exphil_state::GameState;
use std::io::{self, Read, Write};

/// The protocol version a bot declares.
pub const UMI_VERSION: &str = "1.0";
/// The largest message, by the spec (2^28 bytes).
pub const MAX_MESSAGE: usize = 1 << 28;
/// Floats in a controller row: main x, main y, C x, C y, shoulder, then A B X Y Z L R D_UP.
pub const CTRL_LEN: usize = 13;
/// A controller row.
pub type Controller13 = [f32; CTRL_LEN];
/// Bytes read at a time into a message body.
const CHUNK: usize = 64 * 1024;

/// What went wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer closed the connection (between messages).
    #[error("the arena closed the connection")]
    Closed,
    /// The peer closed the connection inside a message.
    #[error("the arena closed the connection in the middle of a message ({got} of {want} bytes)")]
    ClosedMidMessage {
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        want: usize,
    },
    /// A length of zero or over [`MAX_MESSAGE`].
    #[error("a message of {0} bytes (a message is 1 to 2^28 bytes)")]
    Size(u64),
    /// The body is not msgpack.
    #[error("a message is not valid msgpack: {0}")]
    Decode(#[from] DecodeError),
    /// Valid msgpack that is not a UMI message, or a message out of order.
    #[error("{0}")]
    Invalid(String),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn invalid(s: impl Into<String>) -> ProtocolError {
    ProtocolError::Invalid(s.into())
}

/// Reads one message (a map with a string `t`).
pub fn read_message(r: &mut impl Read) -> Result<Value, ProtocolError> {
    read_message_limited(r, MAX_MESSAGE)
}

/// The largest message a session of `max_games` games can legally send (an observation of
/// every game is about 775 bytes a game), with room to spare; at least 1 MiB.
pub fn session_limit(max_games: usize) -> usize {
    max_games.saturating_mul(4096).clamp(1 << 20, MAX_MESSAGE)
}

/// [`read_message`], refusing messages longer than `limit` bytes from their length alone.
pub fn read_message_limited(r: &mut impl Read, limit: usize) -> Result<Value, ProtocolError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(ProtocolError::Closed),
            Ok(0) => return Err(ProtocolError::ClosedMidMessage { got, want: 4 }),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let n = u32::from_le_bytes(len) as usize;
    if n == 0 || n > MAX_MESSAGE {
        return Err(ProtocolError::Size(n as u64));
    }
    if n > limit {
        return Err(ProtocolError::Invalid(format!(
            "a message of {n} bytes, more than the {limit} bytes any message of this session \
             can need"
        )));
    }
    // Grow with what arrives: a peer announcing 256 MiB and sending 10 bytes costs 64 KiB.
    let mut body: Vec<u8> = Vec::with_capacity(n.min(CHUNK));
    while body.len() < n {
        let want = (n - body.len()).min(CHUNK);
        let start = body.len();
        body.resize(start + want, 0);
        match r.read(&mut body[start..]) {
            Ok(0) => {
                return Err(ProtocolError::ClosedMidMessage {
                    got: start,
                    want: n,
                });
            }
            Ok(k) => body.truncate(start + k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => body.truncate(start),
            Err(e) => return Err(e.into()),
        }
    }
    let v = decode(&body)?;
    match v.get("t") {
        Some(Value::Str(_)) => Ok(v),
        _ => Err(invalid("a message must be a map with a string field 't'")),
    }
}

/// Writes one message.
pub fn write_message(w: &mut impl Write, v: &Value) -> Result<(), ProtocolError> {
    let mut body = Vec::with_capacity(256);
    encode(v, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out)?;
    w.flush()?;
    Ok(())
}

fn str_field<'a>(m: &'a Value, key: &str) -> Result<&'a str, ProtocolError> {
    m.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{} without a string {key:?}", kind(m))))
}

fn uint_field(m: &Value, key: &str) -> Result<u64, ProtocolError> {
    m.get(key).and_then(Value::as_u64).ok_or_else(|| {
        invalid(format!(
            "{} without a non-negative integer {key:?}",
            kind(m)
        ))
    })
}

fn bin_field<'a>(m: &'a Value, key: &str) -> Result<&'a [u8], ProtocolError> {
    m.get(key)
        .and_then(Value::as_bin)
        .ok_or_else(|| invalid(format!("{} without binary {key:?}", kind(m))))
}

fn kind(m: &Value) -> String {
    m.get("t")
        .and_then(Value::as_str)
        .map_or_else(|| "a message".into(), |t| format!("{t:?}"))
}

/// The bot's first message.
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    /// The bot's name.
    pub name: String,
    /// `ALL`, or UMI character names joined by `+` in name order (`FALCO+FOX`).
    pub characters: String,
    /// The input delay it plays at.
    pub delay: u8,
    /// Whether the same frames always give the same actions.
    pub deterministic: bool,
}

impl Hello {
    /// As a message.
    pub fn to_value(&self) -> Value {
        Value::map(vec![
            ("t", Value::Str("hello".into())),
            ("umi", Value::Str(UMI_VERSION.into())),
            ("name", Value::Str(self.name.clone())),
            ("characters", Value::Str(self.characters.clone())),
            ("delay", Value::UInt(u64::from(self.delay))),
            ("max_games", Value::Nil),
            (
                "info",
                Value::map(vec![
                    ("win_prob", Value::Bool(false)),
                    ("value", Value::Bool(false)),
                    ("extras", Value::Map(Vec::new())),
                ]),
            ),
            ("deterministic", Value::Bool(self.deterministic)),
        ])
    }
}

/// The arena's answer to hello.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    /// The input delay the arena applies.
    pub delay: u8,
    /// Concurrent games at most.
    pub max_games: usize,
    /// Groups of games, each answered as one batch.
    pub lanes: usize,
    /// Warmup observations before `ready`.
    pub warmups: usize,
    /// Seconds before an unanswered observation is a fault.
    pub act_s: f64,
    /// The session's random seed.
    pub rng_seed: u64,
}

/// One observation (or warmup): a frame per game.
#[derive(Clone, Debug, PartialEq)]
pub struct Obs {
    /// Sequence number, echoed by `act`.
    pub seq: u64,
    /// The lane.
    pub lane: u64,
    /// Game handles.
    pub games: Vec<u32>,
    /// Whether this is each game's first observation.
    pub first: Vec<bool>,
    /// Each game's frame from the bot's seat.
    pub frames: Vec<GameState>,
}

/// A game about to start.
#[derive(Clone, Debug, PartialEq)]
pub struct GameInfo {
    /// Its handle.
    pub game: u32,
    /// The bot's character (UMI name).
    pub character: String,
    /// The opponent's character.
    pub opp_character: String,
    /// The stage.
    pub stage: String,
}

/// Games that ended.
#[derive(Clone, Debug, PartialEq)]
pub struct EndGames {
    /// Their handles.
    pub games: Vec<u32>,
}

/// The most concurrent games a session may announce.
pub const MAX_GAMES: u64 = 1 << 16;
/// The most warmup observations a session may announce.
pub const MAX_WARMUPS: u64 = 10_000;
/// The most batch buckets a session may announce.
pub const MAX_BUCKETS: usize = 1_024;
/// The longest timeout a session may announce (one day).
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

impl Welcome {
    /// Checks an observation against the session's terms: its lane must be one of the
    /// session's lanes.
    pub fn check(&self, obs: &Obs) -> Result<(), ProtocolError> {
        if obs.lane >= self.lanes as u64 {
            return Err(invalid(format!(
                "observation {} on lane {}, the session has {} lane(s)",
                obs.seq, obs.lane, self.lanes
            )));
        }
        Ok(())
    }
}

/// A message from the arena.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The session's terms.
    Welcome(Welcome),
    /// A warmup observation (not a real game).
    Warmup(Obs),
    /// An observation to answer.
    Obs(Obs),
    /// Games starting.
    NewGames(Vec<GameInfo>),
    /// Games ending.
    EndGames(EndGames),
    /// The end of the session, with a reason.
    Shutdown(String),
}

impl Message {
    /// The typed message of a decoded value; `max_games` bounds an observation's size.
    pub fn parse(v: &Value, max_games: usize) -> Result<Message, ProtocolError> {
        let t = str_field(v, "t")?;
        Ok(match t {
            "welcome" => {
                let delay = uint_field(v, "delay")?;
                if delay > 30 {
                    return Err(invalid(format!("welcome with delay {delay} (0 to 30)")));
                }
                let max_games = uint_field(v, "max_games")?;
                if max_games == 0 || max_games > MAX_GAMES {
                    return Err(invalid(format!(
                        "welcome with max_games {max_games} (1 to {MAX_GAMES})"
                    )));
                }
                let lanes = uint_field(v, "lanes")?.max(1);
                if lanes > max_games {
                    return Err(invalid(format!(
                        "welcome with {lanes} lanes for at most {max_games} games"
                    )));
                }
                let warmups = match v.get("warmups") {
                    None | Some(Value::Nil) => 0,
                    Some(_) => uint_field(v, "warmups")?,
                };
                if warmups > MAX_WARMUPS {
                    return Err(invalid(format!(
                        "welcome with {warmups} warmups (at most {MAX_WARMUPS})"
                    )));
                }
                if let Some(b) = v.get("buckets").filter(|b| !matches!(b, Value::Nil)) {
                    let list = b
                        .as_array()
                        .ok_or_else(|| invalid("welcome with buckets that are not a list"))?;
                    if list.len() > MAX_BUCKETS {
                        return Err(invalid(format!(
                            "welcome with {} buckets (at most {MAX_BUCKETS})",
                            list.len()
                        )));
                    }
                    for x in list {
                        match x.as_u64() {
                            Some(n) if (1..=MAX_GAMES).contains(&n) => {}
                            _ => {
                                return Err(invalid(format!(
                                    "welcome with a bucket of {x:?} games (1 to {MAX_GAMES})"
                                )))
                            }
                        }
                    }
                }
                let mut act_s = 10.0;
                if let Some(t) = v.get("timeouts").filter(|t| !matches!(t, Value::Nil)) {
                    let Value::Map(entries) = t else {
                        return Err(invalid("welcome with timeouts that are not a map"));
                    };
                    for (k, x) in entries {
                        let k = match k {
                            Value::Str(k) => k.as_str(),
                            _ => "(a key that is not a string)",
                        };
                        let secs = x.as_f64().filter(|s| s.is_finite() && *s > 0.0);
                        match secs {
                            Some(s) if s <= MAX_TIMEOUT_S => {
                                if k == "act_s" {
                                    act_s = s;
                                }
                            }
                            _ => {
                                return Err(invalid(format!(
                                    "welcome with timeout {k} = {x:?} (a number of seconds \
                                     above 0, at most {MAX_TIMEOUT_S})"
                                )))
                            }
                        }
                    }
                }
                Message::Welcome(Welcome {
                    delay: delay as u8,
                    max_games: max_games as usize,
                    lanes: lanes as usize,
                    warmups: warmups as usize,
                    act_s,
                    rng_seed: v.get("rng_seed").and_then(Value::as_u64).unwrap_or(0),
                })
            }
            "obs" | "warmup" => {
                let games_b = bin_field(v, "games")?;
                let first_b = bin_field(v, "first")?;
                let frames_b = bin_field(v, "frames")?;
                if games_b.len() % 4 != 0 {
                    return Err(invalid(format!(
                        "{t} with {} bytes of game handles",
                        games_b.len()
                    )));
                }
                let n = games_b.len() / 4;
                if n > max_games {
                    return Err(invalid(format!(
                        "{t} with {n} games, more than the session's {max_games}"
                    )));
                }
                if first_b.len() != n || frames_b.len() != n * FRAME_BYTES {
                    return Err(invalid(format!(
                        "{t} with {n} games, {} first flags and {} frame bytes ({} per frame)",
                        first_b.len(),
                        frames_b.len(),
                        FRAME_BYTES
                    )));
                }
                let games = games_b
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let frames = frames_b
                    .chunks_exact(FRAME_BYTES)
                    .map(|c| GameState::from_umi(c).map_err(|e| invalid(e.to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                let obs = Obs {
                    seq: uint_field(v, "seq")?,
                    lane: v.get("lane").and_then(Value::as_u64).unwrap_or(0),
                    games,
                    first: first_b.iter().map(|&b| b != 0).collect(),
                    frames,
                };
                if t == "obs" {
                    Message::Obs(obs)
                } else {
                    Message::Warmup(obs)
                }
            }
            "new_games" => {
                let list = v
                    .get("games")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("new_games without a list of games"))?;
                if list.len() > max_games {
                    return Err(invalid(format!(
                        "new_games with {} games, more than the session's {max_games}",
                        list.len()
                    )));
                }
                let mut out = Vec::with_capacity(list.len());
                for g in list {
                    out.push(GameInfo {
                        game: u32::try_from(uint_field(g, "game")?)
                            .map_err(|_| invalid("a game handle over 2^32"))?,
                        character: g
                            .get("character")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                        opp_character: g
                            .get("opp_character")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                        stage: g.get("stage").and_then(Value::as_str).unwrap_or("").into(),
                    });
                }
                Message::NewGames(out)
            }
            "end_games" => {
                let list = v
                    .get("games")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("end_games without a list of games"))?;
                let mut games = Vec::with_capacity(list.len());
                for g in list {
                    let h = g.get("game").and_then(Value::as_u64).or_else(|| g.as_u64());
                    games.push(
                        h.and_then(|h| u32::try_from(h).ok())
                            .ok_or_else(|| invalid("end_games entry without a game handle"))?,
                    );
                }
                Message::EndGames(EndGames { games })
            }
            "shutdown" => Message::Shutdown(
                v.get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            other => return Err(invalid(format!("unexpected message {other:?}"))),
        })
    }
}

/// The `act` answering observation `seq`.
pub fn act(seq: u64, rows: &[Controller13]) -> Value {
    let mut ctrl = Vec::with_capacity(rows.len() * CTRL_LEN * 4);
    for r in rows {
        for x in r {
            ctrl.extend_from_slice(&x.to_le_bytes());
        }
    }
    Value::map(vec![
        ("t", Value::Str("act".into())),
        ("seq", Value::UInt(seq)),
        ("ctrl", Value::Bin(ctrl)),
    ])
}

/// `ready`.
pub fn ready() -> Value {
    Value::map(vec![("t", Value::Str("ready".into()))])
}

/// An error report to the arena.
pub fn error(code: &str, msg: &str) -> Value {
    let msg: String = msg.chars().take(2000).collect();
    Value::map(vec![
        ("t", Value::Str("error".into())),
        ("code", Value::Str(code.into())),
        ("msg", Value::Str(msg)),
    ])
}

/// UMI (libmelee) character names by internal character id.
const UMI_NAMES: [(u8, &str); 26] = [
    (0, "MARIO"),
    (1, "FOX"),
    (2, "CPTFALCON"),
    (3, "DK"),
    (4, "KIRBY"),
    (5, "BOWSER"),
    (6, "LINK"),
    (7, "SHEIK"),
    (8, "NESS"),
    (9, "PEACH"),
    (10, "POPO"),
    (12, "PIKACHU"),
    (13, "SAMUS"),
    (14, "YOSHI"),
    (15, "JIGGLYPUFF"),
    (16, "MEWTWO"),
    (17, "LUIGI"),
    (18, "MARTH"),
    (19, "ZELDA"),
    (20, "YLINK"),
    (21, "DOC"),
    (22, "FALCO"),
    (23, "PICHU"),
    (24, "GAMEANDWATCH"),
    (25, "GANONDORF"),
    (26, "ROY"),
];

/// The UMI name of a character (`None` for non-playable ones).
pub fn umi_character_name(c: ExternalCharacter) -> Option<&'static str> {
    let internal = c.to_internal()?.0;
    UMI_NAMES
        .iter()
        .find(|(i, _)| *i == internal)
        .map(|(_, n)| *n)
}

/// The UMI `characters` of a set of characters: `ALL` when every one is there, else their
/// names joined by `+` in name order. Unknown or non-playable characters are left out; `None`
/// when none is left.
pub fn characters_of(chars: &[ExternalCharacter]) -> Option<String> {
    let mut names: Vec<&str> = chars
        .iter()
        .filter_map(|c| umi_character_name(*c))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        None
    } else if names.len() == UMI_NAMES.len() {
        Some("ALL".into())
    } else {
        Some(names.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(msg: &Value) -> Vec<u8> {
        let mut b = Vec::new();
        write_message(&mut b, msg).unwrap();
        b
    }

    #[test]
    fn framing_limits() {
        // Zero length, over the limit, garbage body, no 't'.
        for (bytes, want) in [
            (vec![0, 0, 0, 0], "0 bytes"),
            (((1u32 << 28) + 1).to_le_bytes().to_vec(), "268435457 bytes"),
            (vec![2, 0, 0, 0, 0xc1, 0xc1], "not valid msgpack"),
            (
                frame(&Value::map(vec![("x", Value::Nil)])),
                "string field 't'",
            ),
            (frame(&Value::UInt(3)), "string field 't'"),
        ] {
            let e = read_message(&mut &bytes[..]).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // A peer announcing 256 MiB and closing after 10 bytes.
        let mut b = (1u32 << 28).to_le_bytes().to_vec();
        b.extend_from_slice(&[0x81; 10]);
        let e = read_message(&mut &b[..]).unwrap_err();
        assert!(
            matches!(e, ProtocolError::ClosedMidMessage { got: 10, .. }),
            "{e}"
        );
        assert!(matches!(
            read_message(&mut &[][..]),
            Err(ProtocolError::Closed)
        ));
        assert!(matches!(
            read_message(&mut &[5u8, 0][..]),
            Err(ProtocolError::ClosedMidMessage { .. })
        ));
    }

    /// A welcome with the given extra fields (delay 0, 8 games, 2 lanes unless overridden).
    fn welcome(extra: Vec<(&str, Value)>) -> Value {
        let mut fields = vec![
            ("t", Value::Str("welcome".into())),
            ("delay", Value::UInt(0)),
            ("max_games", Value::UInt(8)),
            ("lanes", Value::UInt(2)),
        ];
        for (k, v) in extra {
            fields.retain(|(f, _)| *f != k);
            fields.push((k, v));
        }
        Value::map(fields)
    }

    #[test]
    fn welcome_numbers_are_bounded() {
        let timeouts = |v: Value| Value::map(vec![("act_s", v)]);
        for (extra, want) in [
            (vec![("timeouts", timeouts(Value::F64(1.5e19)))], "act_s"),
            (vec![("timeouts", timeouts(Value::F64(1e20)))], "act_s"),
            (vec![("timeouts", timeouts(Value::F64(f64::NAN)))], "act_s"),
            (vec![("timeouts", timeouts(Value::F64(-1.0)))], "act_s"),
            (vec![("timeouts", Value::UInt(5))], "not a map"),
            (
                vec![("buckets", Value::Array(vec![Value::UInt(8); 100_000]))],
                "100000 buckets",
            ),
            (
                vec![("buckets", Value::Array(vec![Value::UInt(0)]))],
                "a bucket of",
            ),
            (vec![("warmups", Value::UInt(1 << 40))], "warmups"),
            (vec![("lanes", Value::UInt(1 << 40))], "lanes"),
            (vec![("max_games", Value::UInt(1 << 40))], "max_games"),
        ] {
            let e = Message::parse(&welcome(extra), 0).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        // In bounds: accepted, with its act_s.
        let ok = welcome(vec![
            ("timeouts", timeouts(Value::F64(2.5))),
            (
                "buckets",
                Value::Array(vec![Value::UInt(1), Value::UInt(8)]),
            ),
            ("warmups", Value::UInt(10)),
        ]);
        let Message::Welcome(w) = Message::parse(&ok, 0).unwrap() else {
            panic!("a welcome")
        };
        assert_eq!((w.act_s, w.warmups, w.lanes), (2.5, 10, 2));
        // An observation on a lane the session does not have, and more new games than it
        // allows, are refused.
        let obs = Obs {
            seq: 3,
            lane: 1 << 40,
            games: Vec::new(),
            first: Vec::new(),
            frames: Vec::new(),
        };
        assert!(w.check(&obs).unwrap_err().to_string().contains("lane"));
        assert!(w.check(&Obs { lane: 1, ..obs }).is_ok());
        let games: Vec<Value> = (0..9)
            .map(|g| Value::map(vec![("game", Value::UInt(g))]))
            .collect();
        let many = Value::map(vec![
            ("t", Value::Str("new_games".into())),
            ("games", Value::Array(games)),
        ]);
        let e = Message::parse(&many, 8).unwrap_err().to_string();
        assert!(e.contains("more than the session's 8"), "{e}");
    }

    #[test]
    fn observations_parse_and_are_checked() {
        let s = GameState {
            frame: 7,
            ..GameState::default()
        };
        let mut frames = s.to_umi().to_vec();
        frames.extend_from_slice(&s.to_umi());
        let obs = |games: Vec<u8>, first: Vec<u8>, frames: Vec<u8>| {
            Value::map(vec![
                ("t", Value::Str("obs".into())),
                ("seq", Value::UInt(9)),
                ("lane", Value::UInt(1)),
                ("games", Value::Bin(games)),
                ("first", Value::Bin(first)),
                ("frames", Value::Bin(frames)),
            ])
        };
        let ok = obs(vec![1, 0, 0, 0, 2, 0, 0, 0], vec![1, 0], frames.clone());
        let v = read_message(&mut &frame(&ok)[..]).unwrap();
        match Message::parse(&v, 8).unwrap() {
            Message::Obs(o) => {
                assert_eq!(o.games, vec![1, 2]);
                assert_eq!(o.first, vec![true, false]);
                assert_eq!(o.frames[1].frame, 7);
                assert_eq!((o.seq, o.lane), (9, 1));
            }
            m => panic!("{m:?}"),
        }
        assert!(Message::parse(&ok, 1)
            .unwrap_err()
            .to_string()
            .contains("more than"));
        let bad = obs(vec![1, 0, 0, 0, 2, 0, 0, 0], vec![1], frames.clone());
        assert!(Message::parse(&bad, 8)
            .unwrap_err()
            .to_string()
            .contains("first flags"));
        let bad = obs(vec![1, 0, 0], vec![1], frames);
        assert!(Message::parse(&bad, 8).is_err());
    }

    #[test]
    fn character_names() {
        let c = |n: &str| ExternalCharacter::parse(n).unwrap();
        assert_eq!(umi_character_name(c("falcon")), Some("CPTFALCON"));
        assert_eq!(umi_character_name(c("ics")), Some("POPO"));
        assert_eq!(
            characters_of(&[c("fox"), c("falco"), c("fox")]).unwrap(),
            "FALCO+FOX"
        );
        let all: Vec<ExternalCharacter> = (0..26).map(ExternalCharacter).collect();
        assert_eq!(characters_of(&all).unwrap(), "ALL");
    }
}
