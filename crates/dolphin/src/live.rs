//! Game events from the spectator stream, decoded as they arrive by the replay crate's
//! streaming decoder (the same code path as a file), into game states from one port's seat.
//! A rollback re-send of a frame already seen is dropped: the first arrival is what a live
//! player saw, so the live view equals a file decode with [`RollbackMode::First`].

use exphil_replay::{DecodeOptions, Decoder, Game, Port, RollbackMode};
use exphil_state::{GameState, StateBuilder};

/// The Event Payloads code, which starts every game's event stream.
const EVENT_PAYLOADS: u8 = 0x35;

/// Something that happened in the live stream.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// A game started (its Game Start has been decoded).
    GameStart,
    /// A new frame (its first arrival), by row in [`LiveStream::game`].
    Frame {
        /// Row in the game's frames.
        row: usize,
        /// Frame number.
        id: i32,
    },
    /// The game ended (Game End decoded).
    GameEnd,
}

/// The live decoder of a spectator stream (one game after another).
pub struct LiveStream {
    decoder: Option<Decoder>,
    started: bool,
    ended: bool,
    last_id: Option<i32>,
    /// Games started.
    pub games: u64,
    /// Rollback re-sends dropped in games before the current one, and by frame number.
    dropped: u64,
    /// Payloads ignored while waiting for a game's start (after a gap, or joined mid-game).
    pub skipped: u64,
    /// Errors of a game's stream that made it undecodable (the stream waits for the next game).
    pub errors: Vec<String>,
}

impl Default for LiveStream {
    fn default() -> Self {
        LiveStream::new()
    }
}

impl LiveStream {
    /// A stream that waits for a game to start.
    pub fn new() -> LiveStream {
        LiveStream {
            decoder: None,
            started: false,
            ended: false,
            last_id: None,
            games: 0,
            dropped: 0,
            skipped: 0,
            errors: Vec::new(),
        }
    }

    /// The game being decoded (`None` before its Game Start).
    pub fn game(&self) -> Option<&Game> {
        self.decoder.as_ref().and_then(Decoder::game)
    }

    /// Whether a game is in progress (started, not ended).
    pub fn in_game(&self) -> bool {
        self.started && !self.ended
    }

    /// Rollback re-sends dropped (frames already seen, sent again).
    pub fn resends(&self) -> u64 {
        self.dropped + self.game().map_or(0, |g| g.rollback_resends as u64)
    }

    /// Forgets the current game (events were missed): decoding resumes at the next game.
    pub fn resync(&mut self) {
        self.dropped = self.resends();
        self.decoder = None;
        self.started = false;
        self.ended = false;
    }

    /// Feeds one game event's payload; returns what it completed, in order.
    pub fn feed(&mut self, payload: &[u8]) -> Vec<LiveEvent> {
        let mut out = Vec::new();
        if payload.first() == Some(&EVENT_PAYLOADS) {
            if self.in_game() {
                // A new game before the last one's end (Dolphin restarted the game).
                out.push(LiveEvent::GameEnd);
            }
            self.dropped = self.resends();
            self.decoder = Some(Decoder::new(
                DecodeOptions {
                    rollback: RollbackMode::First,
                },
                0,
            ));
            self.started = false;
            self.ended = false;
            self.last_id = None;
        }
        let Some(decoder) = self.decoder.as_mut() else {
            self.skipped += 1;
            return out;
        };
        if let Err(e) = decoder.feed(payload) {
            self.errors.push(e.to_string());
            self.resync();
            return out;
        }
        if !self.started && decoder.has_start() {
            self.started = true;
            self.games += 1;
            out.push(LiveEvent::GameStart);
        }
        let rows: Vec<usize> = decoder.drain_committed().collect();
        let game = decoder
            .game()
            .expect("frames are committed only after Game Start");
        for row in rows {
            let Some(frame) = game.frames.get(row) else {
                continue;
            };
            let id = frame.id();
            if self.last_id.is_some_and(|l| id <= l) {
                self.dropped += 1;
                continue;
            }
            self.last_id = Some(id);
            out.push(LiveEvent::Frame { row, id });
        }
        if decoder.has_ended() && !self.ended && self.started {
            self.ended = true;
            out.push(LiveEvent::GameEnd);
        }
        out
    }
}

/// The two ports of a 1v1 game from `me`'s seat: `me` and the opponent (`opponent`, or the
/// other occupied port). `Err` names the problem.
pub fn seats(game: &Game, me: Port, opponent: Option<Port>) -> Result<(Port, Port), String> {
    let ports: Vec<Port> = game.start.players.iter().map(|p| p.port).collect();
    let list = || {
        ports
            .iter()
            .map(|p| p.number().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !ports.contains(&me) {
        return Err(format!(
            "port {} has no player in this game (occupied: {})",
            me.number(),
            list()
        ));
    }
    let them = match opponent {
        Some(o) if ports.contains(&o) && o != me => o,
        Some(o) => {
            return Err(format!(
                "opponent port {} has no player in this game (occupied: {})",
                o.number(),
                list()
            ))
        }
        None => {
            let others: Vec<Port> = ports.iter().copied().filter(|&p| p != me).collect();
            match others.as_slice() {
                [o] => *o,
                _ => {
                    return Err(format!(
                        "{} other players (ports {}); give --opponent-port",
                        others.len(),
                        list()
                    ))
                }
            }
        }
    };
    Ok((me, them))
}

/// Game states of the live game from one seat, built frame by frame in arrival order.
pub struct SeatView {
    builder: StateBuilder,
}

impl SeatView {
    /// A view of `game` from `me` against `opponent`.
    pub fn new(game: &Game, me: Port, opponent: Port) -> SeatView {
        SeatView {
            builder: StateBuilder::new(game, me, opponent),
        }
    }

    /// The state of `row` (`None` when a player has no data in it).
    pub fn state(&mut self, game: &Game, row: usize) -> Option<GameState> {
        self.builder.state(game.frames.get(row)?)
    }
}
