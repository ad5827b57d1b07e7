//! The event-stream decoder: one code path for whole files and for bytes that arrive a piece at
//! a time (the live Dolphin spectator stream).
//!
//! Feed raw event bytes (starting with Event Payloads) with [`Decoder::feed`]; finish with
//! [`Decoder::finish`]. Frames are committed when complete (a Frame Bookend from 3.0 on; before
//! 3.0, when every character seen in the frame has both its pre- and post-frame update and the
//! next frame begins or the stream ends). Nothing is allocated from an unchecked length: event
//! sizes are `u16`, the carry-over buffer holds at most one event, and reassembled
//! Message Splitter data is capped.

use crate::event::{self, Payload};
use crate::game::*;
use crate::parse;
use crate::warning::{DecodeError, Warning, WarningKind};

/// Most item slots a frame keeps (the game's own limit in the UMI frame).
pub const ITEM_SLOTS: usize = 15;
/// Cap on Message Splitter reassembly (real Gecko lists are tens of KiB).
pub const MAX_SPLIT_BYTES: usize = 4 << 20;
/// Cap on stored non-damage warnings; further ones are counted only.
pub const MAX_WARNINGS: usize = 256;
/// How far from the end a frame id never seen before may be inserted (each insertion moves the
/// rows after it); real rollbacks go back at most 7 frames, and re-send frames already seen.
const MAX_LATE_ROWS: usize = 32;

const METADATA_MARKER: &[u8] = b"U\x08metadata";
const UNDECLARED: u32 = u32::MAX;

/// Options for decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Which occurrence of a frame repeated by rollback is kept (default: last).
    pub rollback: RollbackMode,
}

#[derive(Clone, Copy, Default)]
struct CharSlot {
    pre: Option<PreFrame>,
    post: Option<PostFrame>,
}

struct Pending {
    active: bool,
    id: i32,
    offset: u64,
    start: Option<FrameStart>,
    bookend: Option<FrameBookend>,
    /// By index into `Frames::ports`, then leader (0) / follower (1).
    chars: Vec<[CharSlot; 2]>,
    items: Vec<Item>,
    stage: Vec<StageEvent>,
}

impl Pending {
    fn reset(&mut self, id: i32, offset: u64) {
        self.active = true;
        self.id = id;
        self.offset = offset;
        self.start = None;
        self.bookend = None;
        self.chars.iter_mut().for_each(|c| *c = Default::default());
        self.items.clear();
        self.stage.clear();
    }

    /// What is missing for the frame to count as complete without a bookend, if anything.
    fn missing(&self) -> Option<String> {
        let mut any = false;
        for (i, pair) in self.chars.iter().enumerate() {
            for (j, c) in pair.iter().enumerate() {
                let who = if j == 0 { "leader" } else { "follower" };
                match (c.pre.is_some(), c.post.is_some()) {
                    (true, true) => any = true,
                    (true, false) => return Some(format!("post-frame of player #{i} {who}")),
                    (false, true) => return Some(format!("pre-frame of player #{i} {who}")),
                    (false, false) => {}
                }
            }
        }
        (!any).then(|| "character data".to_string())
    }
}

enum Phase {
    Payloads,
    Start,
    Frames,
    /// Decoding stopped: damage found, or the metadata marker reached.
    Stopped,
}

/// Streaming decoder of the raw Slippi event stream.
pub struct Decoder {
    opts: DecodeOptions,
    phase: Phase,
    sizes: [u32; 256],
    carry: Vec<u8>,
    /// Absolute offset (in the file or stream) of the next unconsumed byte.
    offset: u64,
    game: Option<Game>,
    port_column: [Option<usize>; 4],
    has_bookend: bool,
    pending: Pending,
    split: Vec<u8>,
    split_overflow: bool,
    slots: [Option<u32>; ITEM_SLOTS],
    ended: bool,
    warned_after_end: bool,
    warned_codes: [bool; 256],
    metadata_at: Option<u64>,
    committed: Vec<usize>,
    warnings_dropped: u64,
    early_warnings: Vec<Warning>,
    /// The raw stream's length when known (a file), to size the frame columns once.
    size_hint: usize,
    /// The absolute offset of the stream's first byte.
    base: u64,
}

impl Decoder {
    /// A decoder whose first byte is at absolute offset `base` (15 in a `.slp` file, 0 live).
    pub fn new(opts: DecodeOptions, base: u64) -> Decoder {
        Decoder {
            opts,
            phase: Phase::Payloads,
            sizes: [UNDECLARED; 256],
            carry: Vec::new(),
            offset: base,
            game: None,
            port_column: [None; 4],
            has_bookend: false,
            pending: Pending {
                active: false,
                id: 0,
                offset: 0,
                start: None,
                bookend: None,
                chars: Vec::new(),
                items: Vec::new(),
                stage: Vec::new(),
            },
            split: Vec::new(),
            split_overflow: false,
            slots: [None; ITEM_SLOTS],
            ended: false,
            warned_after_end: false,
            warned_codes: [false; 256],
            metadata_at: None,
            committed: Vec::new(),
            warnings_dropped: 0,
            early_warnings: Vec::new(),
            size_hint: 0,
            base,
        }
    }

    /// Tells the decoder how many bytes the raw stream holds (a file's), so that the frame
    /// columns are sized for the frames the rest of the stream can hold when the first frame
    /// comes, instead of growing by copying as frames arrive. A wrong hint costs memory or a
    /// regrow, never correctness.
    pub fn size_hint(&mut self, raw_bytes: usize) {
        self.size_hint = raw_bytes;
    }

    /// Room for the frames still to come, when the frame columns are full: as many as the
    /// rest of the stream (from `offset`) can hold at most (every frame has a Pre- and a
    /// Post-Frame Update per player and, where the file declares them, a Frame Start and a
    /// Frame Bookend), and at least an eighth more rows, so a low estimate never makes growth
    /// quadratic. Reserving when the frames come, not at Game Start, keeps a file that is
    /// mostly something else from reserving memory for frames it does not hold.
    fn rows_to_reserve(&self, players: usize, rows: usize, offset: u64) -> usize {
        /// Rows reserved at most at once, whatever the hint (about 5 hours of play).
        const MAX_RESERVED: usize = 1 << 20;
        let bytes_of = |code: u8| match self.sizes[code as usize] {
            UNDECLARED => 0,
            size => size as usize + 1,
        };
        let per_frame = players.max(1) * (bytes_of(event::PRE_FRAME) + bytes_of(event::POST_FRAME))
            + bytes_of(event::FRAME_START)
            + bytes_of(event::FRAME_BOOKEND);
        let end = self.base.saturating_add(self.size_hint as u64);
        let left = end.saturating_sub(offset) as usize;
        (left / per_frame.max(1) + 1)
            .max(rows / 8)
            .min(MAX_RESERVED)
    }

    /// The game decoded so far (`None` until Game Start has been read).
    pub fn game(&self) -> Option<&Game> {
        self.game.as_ref()
    }

    /// Whether Game Start has been decoded.
    pub fn has_start(&self) -> bool {
        self.game.is_some()
    }

    /// Whether Game End has been decoded.
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// Whether decoding stopped (damage, or the metadata marker of an unfinished file).
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// Absolute offset of the metadata marker, when an unfinished recording reached it.
    pub fn metadata_offset(&self) -> Option<u64> {
        self.metadata_at
    }

    /// Absolute offset of the next byte the decoder expects.
    pub fn offset(&self) -> u64 {
        self.offset + self.carry.len() as u64
    }

    /// Declared payload size of an event code, if declared.
    pub fn declared_size(&self, code: u8) -> Option<u16> {
        let s = self.sizes[code as usize];
        (s != UNDECLARED).then_some(s as u16)
    }

    /// Rows committed (appended or replaced) since the last call, in commit order.
    pub fn drain_committed(&mut self) -> std::vec::Drain<'_, usize> {
        self.committed.drain(..)
    }

    /// Feeds the next bytes of the event stream. An `Err` means the stream is unusable from the
    /// start (not a replay, or a malformed Event Payloads / Game Start); damage after Game Start
    /// is a warning on the game instead, and later bytes are ignored.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        if self.is_stopped() {
            return Ok(());
        }
        if self.carry.is_empty() {
            let used = self.process(data)?;
            if !self.is_stopped() {
                self.carry.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(data);
            let used = self.process(&buf)?;
            if !self.is_stopped() {
                buf.drain(..used);
                self.carry = buf;
            }
        }
        Ok(())
    }

    /// Ends the stream: closes the last frame (kept only if complete), reports a partial event
    /// as truncation, and returns the game.
    pub fn finish(mut self) -> Result<Game, DecodeError> {
        let offset = self.offset;
        if self.game.is_none() {
            let what = match self.phase {
                Phase::Payloads => "Event Payloads",
                _ => "Game Start",
            };
            return Err(DecodeError::TruncatedHeader {
                offset: offset + self.carry.len() as u64,
                what,
            });
        }
        if !self.carry.is_empty() && !self.is_stopped() {
            let code = self.carry[0];
            let what = format!("{} (0x{code:02x})", event::name(code));
            self.warn(offset, WarningKind::Truncated { what });
        }
        if self.pending.active {
            self.close_pending(offset + self.carry.len() as u64);
        }
        let mut game = self.game.take().expect("checked above: game is Some");
        let mut warnings = std::mem::take(&mut self.early_warnings);
        warnings.append(&mut game.warnings);
        game.warnings = warnings;
        if self.warnings_dropped > 0 {
            game.warnings.push(Warning {
                offset,
                kind: WarningKind::MoreWarnings {
                    count: self.warnings_dropped,
                },
            });
        }
        Ok(game)
    }

    fn warn(&mut self, offset: u64, kind: WarningKind) {
        let w = Warning { offset, kind };
        let Some(game) = self.game.as_mut() else {
            self.early_warnings.push(w);
            return;
        };
        if w.is_damage() || game.warnings.len() < MAX_WARNINGS {
            game.warnings.push(w);
        } else {
            self.warnings_dropped += 1;
        }
    }

    fn damage(&mut self, offset: u64, kind: WarningKind) {
        self.warn(offset, kind);
        self.phase = Phase::Stopped;
    }

    /// Processes complete events from `data`; returns the bytes consumed.
    fn process(&mut self, data: &[u8]) -> Result<usize, DecodeError> {
        let mut pos = 0usize;
        while pos < data.len() {
            let at = self.offset;
            let code = data[pos];
            match self.phase {
                Phase::Stopped => break,
                Phase::Payloads => {
                    if code != event::EVENT_PAYLOADS {
                        return Err(DecodeError::Invalid {
                            offset: at,
                            what: "event stream",
                            reason: format!(
                                "expected Event Payloads (0x35) first, found 0x{code:02x}"
                            ),
                        });
                    }
                    let Some(&size) = data.get(pos + 1) else {
                        break;
                    };
                    let total = 1 + size as usize;
                    if data.len() - pos < total {
                        break;
                    }
                    // The size byte counts itself: a size of 0 has no table (and is rejected
                    // below), so the slice must not assume `pos + 2 <= pos + total`.
                    let table = data.get(pos + 2..pos + total).unwrap_or_default();
                    self.payloads(table, size, at)?;
                    pos += total;
                    self.offset += total as u64;
                    self.phase = Phase::Start;
                    continue;
                }
                _ => {}
            }
            let size = self.sizes[code as usize];
            if size == UNDECLARED {
                let rest = &data[pos..];
                let n = rest.len().min(METADATA_MARKER.len());
                if rest[..n] == METADATA_MARKER[..n] {
                    if n < METADATA_MARKER.len() {
                        break; // might be the marker: wait for more bytes
                    }
                    self.metadata_at = Some(at);
                    self.phase = Phase::Stopped;
                    break;
                }
                if matches!(self.phase, Phase::Start) {
                    return Err(DecodeError::Invalid {
                        offset: at,
                        what: "event stream",
                        reason: format!("event 0x{code:02x} has no declared size"),
                    });
                }
                self.damage(
                    at,
                    WarningKind::Corrupt {
                        reason: format!(
                            "event code 0x{code:02x} was never declared in Event Payloads"
                        ),
                    },
                );
                break;
            }
            let total = 1 + size as usize;
            if data.len() - pos < total {
                break;
            }
            let payload = Payload(&data[pos + 1..pos + total]);
            if matches!(self.phase, Phase::Start) {
                if code != event::GAME_START {
                    return Err(DecodeError::Invalid {
                        offset: at,
                        what: "event stream",
                        reason: format!(
                            "expected Game Start (0x36) after Event Payloads, found {} (0x{code:02x})",
                            event::name(code)
                        ),
                    });
                }
                self.start(payload);
            } else {
                self.event(code, payload, at);
            }
            pos += total;
            self.offset += total as u64;
        }
        Ok(pos)
    }

    fn payloads(&mut self, table: &[u8], size_byte: u8, at: u64) -> Result<(), DecodeError> {
        let invalid = |reason: String| DecodeError::Invalid {
            offset: at,
            what: "Event Payloads",
            reason,
        };
        if size_byte % 3 != 1 {
            return Err(invalid(format!(
                "size byte {size_byte} is not 3n+1 (n entries of 3 bytes)"
            )));
        }
        for entry in table.chunks_exact(3) {
            let size = u16::from_be_bytes([entry[1], entry[2]]);
            self.sizes[entry[0] as usize] = size as u32;
        }
        self.sizes[event::EVENT_PAYLOADS as usize] = UNDECLARED;
        for code in [event::GAME_START, event::PRE_FRAME, event::POST_FRAME] {
            let declared = self.sizes[code as usize];
            if declared == UNDECLARED {
                if code == event::GAME_START {
                    return Err(invalid("Game Start is not declared".into()));
                }
                continue;
            }
            if (declared as usize) < event::min_size(code) {
                return Err(invalid(format!(
                    "{} declared as {declared} bytes, below the {} bytes of its first version",
                    event::name(code),
                    event::min_size(code)
                )));
            }
        }
        self.has_bookend = self.sizes[event::FRAME_BOOKEND as usize] != UNDECLARED;
        Ok(())
    }

    fn start(&mut self, payload: Payload<'_>) {
        let start = parse::game_start(payload);
        for (column, player) in start.players.iter().enumerate() {
            self.port_column[player.port.index()] = Some(column);
        }
        self.pending.chars = vec![Default::default(); start.players.len()];
        self.game = Some(Game::new(start));
        self.phase = Phase::Frames;
    }

    /// Warns once per event code.
    fn warn_code(&mut self, code: u8, at: u64, kind: WarningKind) {
        if !self.warned_codes[code as usize] {
            self.warned_codes[code as usize] = true;
            self.warn(at, kind);
        }
    }

    fn event(&mut self, code: u8, payload: Payload<'_>, at: u64) {
        let size = payload.0.len();
        if size < event::min_size(code) {
            self.warn_code(
                code,
                at,
                WarningKind::EventTooSmall {
                    code,
                    size: size as u16,
                },
            );
            return;
        }
        let is_frame_event = matches!(
            code,
            event::PRE_FRAME
                | event::POST_FRAME
                | event::FRAME_START
                | event::ITEM_UPDATE
                | event::FRAME_BOOKEND
                | event::FOD_PLATFORM
                | event::WHISPY
                | event::STADIUM_TRANSFORMATION
        );
        if self.ended && is_frame_event {
            if !self.warned_after_end {
                self.warned_after_end = true;
                self.warn(at, WarningKind::EventsAfterGameEnd);
            }
            return;
        }
        match code {
            event::PRE_FRAME | event::POST_FRAME => {
                let (id, port, follower) = parse::frame_header(payload);
                let column = Port::from_index(port).and_then(|p| self.port_column[p.index()]);
                let Some(column) = column else {
                    self.warn_code(code, at, WarningKind::BadPort { code, port });
                    return;
                };
                self.enter_frame(id, at);
                let slot = &mut self.pending.chars[column][follower as usize];
                if code == event::PRE_FRAME {
                    slot.pre = Some(parse::pre_frame(payload));
                } else {
                    slot.post = Some(parse::post_frame(payload));
                }
            }
            event::FRAME_START => {
                let id = payload.i32(0).unwrap_or_default();
                if self.pending.active {
                    self.close_pending(at);
                }
                self.pending.reset(id, at);
                self.pending.start = Some(parse::frame_start(payload));
            }
            event::ITEM_UPDATE => {
                let id = payload.i32(0).unwrap_or_default();
                self.enter_frame(id, at);
                self.pending.items.push(parse::item(payload));
            }
            event::FOD_PLATFORM | event::WHISPY | event::STADIUM_TRANSFORMATION => {
                let id = payload.i32(0).unwrap_or_default();
                self.enter_frame(id, at);
                let e = match code {
                    event::FOD_PLATFORM => parse::fod_platform(payload),
                    event::WHISPY => parse::whispy(payload),
                    _ => parse::stadium_transformation(payload),
                };
                self.pending.stage.push(e);
            }
            event::FRAME_BOOKEND => {
                let id = payload.i32(0).unwrap_or_default();
                if self.pending.active && self.pending.id == id {
                    self.pending.bookend = Some(parse::frame_bookend(payload));
                    self.close_pending(at);
                } else if self.pending.active {
                    self.close_pending(at);
                }
            }
            event::GAME_END => {
                if self.pending.active {
                    self.close_pending(at);
                }
                if self.ended {
                    self.warn(at, WarningKind::DuplicateGameEnd);
                } else if let Some(game) = self.game.as_mut() {
                    game.end = Some(parse::game_end(payload));
                    self.ended = true;
                }
            }
            event::MESSAGE_SPLITTER => self.splitter(payload, at),
            event::GECKO_LIST => {
                if let Some(game) = self.game.as_mut() {
                    game.gecko_codes = Some(payload.0.to_vec());
                }
            }
            event::GAME_START => self.damage(
                at,
                WarningKind::Corrupt {
                    reason: "a second Game Start in one stream".into(),
                },
            ),
            _ => self.warn_code(code, at, WarningKind::UnknownEvent { code }),
        }
    }

    fn splitter(&mut self, payload: Payload<'_>, at: u64) {
        let actual = (payload.u16(512).unwrap_or_default() as usize).min(512);
        let inner = payload.u8(514).unwrap_or_default();
        let last = payload.u8(515).unwrap_or_default() != 0;
        // Once a message overflows, the rest of it is discarded too (up to its last block): a
        // tail of it must not be delivered as if it were the whole message.
        if !self.split_overflow {
            if self.split.len() + actual > MAX_SPLIT_BYTES {
                self.split_overflow = true;
                self.warn(
                    at,
                    WarningKind::SplitterOverflow {
                        limit: MAX_SPLIT_BYTES as u64,
                    },
                );
                self.split = Vec::new();
            } else {
                self.split.extend_from_slice(&payload.0[..actual]);
            }
        }
        if last {
            let data = std::mem::take(&mut self.split);
            if std::mem::replace(&mut self.split_overflow, false) {
                return;
            }
            if inner == event::MESSAGE_SPLITTER || inner == event::GAME_START {
                self.warn_code(inner, at, WarningKind::UnknownEvent { code: inner });
            } else if inner == event::GECKO_LIST || event::min_size(inner) == 0 {
                self.event(inner, Payload(&data), at);
            } else {
                self.warn_code(inner, at, WarningKind::UnknownEvent { code: inner });
            }
        }
    }

    /// Makes frame `id` the pending frame, closing a different pending frame first.
    #[inline]
    fn enter_frame(&mut self, id: i32, at: u64) {
        if self.pending.active {
            if self.pending.id == id {
                return;
            }
            self.close_pending(at);
        }
        self.pending.reset(id, at);
    }

    fn close_pending(&mut self, at: u64) {
        self.pending.active = false;
        let missing = if self.has_bookend {
            self.pending
                .bookend
                .is_none()
                .then(|| "Frame Bookend".to_string())
        } else {
            self.pending.missing()
        };
        if let Some(missing) = missing {
            let frame = self.pending.id;
            self.warn(at, WarningKind::IncompleteFrame { frame, missing });
            return;
        }
        self.commit();
    }

    fn commit(&mut self) {
        // Full frame columns grow once for the frames the rest of the stream can hold.
        let reserve = match self.game.as_ref() {
            Some(g) if self.size_hint > 0 && g.frames.id.len() == g.frames.id.capacity() => Some(
                self.rows_to_reserve(g.frames.ports.len(), g.frames.id.len(), self.pending.offset),
            ),
            _ => None,
        };
        let Some(game) = self.game.as_mut() else {
            return;
        };
        let frames = &mut game.frames;
        let id = self.pending.id;
        let row = match frames.id.last() {
            None => Ok(0),
            Some(&last) if id > last => Ok(frames.id.len()),
            Some(_) => frames.id.binary_search(&id),
        };
        let (row, replace) = match row {
            Ok(r) if r == frames.id.len() => (r, false),
            Ok(r) => {
                game.rollback_resends += 1;
                if self.opts.rollback == RollbackMode::First {
                    return;
                }
                (r, true)
            }
            // An id lower than the last, never seen: insert in order, when it is at most
            // MAX_LATE_ROWS rows from the end. Further back, inserting would move every later
            // row of every column, and a stream of ever-lower ids would take quadratic time; no
            // real replay does that (rollback re-sends frames already seen), so such a frame is
            // dropped with a warning and decoding goes on.
            Err(r) if frames.id.len() - r <= MAX_LATE_ROWS => (r, false),
            Err(r) => {
                let kind = WarningKind::LateFrame {
                    frame: id,
                    rows_late: (frames.id.len() - r) as u64,
                };
                let at = self.pending.offset;
                self.warn(at, kind);
                return;
            }
        };
        let frame_id = id;
        let pending = &mut self.pending;

        // Items: each keeps the slot it had in the previous committed frame.
        let mut slots: [Option<u32>; ITEM_SLOTS] = [None; ITEM_SLOTS];
        let mut dropped = 0usize;
        let count = pending.items.len();
        for item in pending.items.iter_mut() {
            if let Some(s) = self.slots.iter().position(|&x| x == Some(item.spawn_id)) {
                if slots[s].is_none() {
                    slots[s] = Some(item.spawn_id);
                    item.slot = s as u8;
                    continue;
                }
            }
            item.slot = u8::MAX;
        }
        for item in pending.items.iter_mut().filter(|i| i.slot == u8::MAX) {
            match slots.iter().position(Option::is_none) {
                Some(s) => {
                    slots[s] = Some(item.spawn_id);
                    item.slot = s as u8;
                }
                None => dropped += 1,
            }
        }
        pending.items.retain(|i| i.slot != u8::MAX);
        pending.items.sort_unstable_by_key(|i| i.slot);
        self.slots = slots;

        let item_span = Span {
            start: frames.items.len() as u32,
            len: pending.items.len() as u16,
        };
        frames.items.extend_from_slice(&pending.items);
        let stage_span = Span {
            start: frames.stage_events.len() as u32,
            len: pending.stage.len().min(u16::MAX as usize) as u16,
        };
        frames.stage_events.extend_from_slice(&pending.stage);

        let old_len = frames.id.len();
        if let Some(rows) = reserve.filter(|_| !replace) {
            frames.reserve(rows);
        }
        if replace {
            frames.start[row] = pending.start;
            frames.bookend[row] = pending.bookend;
            frames.item_spans[row] = item_span;
            frames.stage_spans[row] = stage_span;
        } else {
            frames.id.insert(row, id);
            frames.start.insert(row, pending.start);
            frames.bookend.insert(row, pending.bookend);
            frames.item_spans.insert(row, item_span);
            frames.stage_spans.insert(row, stage_span);
        }
        for (column, port) in frames.ports.iter_mut().enumerate() {
            let [leader, follower] = pending.chars[column];
            let as_frame = |c: CharSlot| match (c.pre, c.post) {
                (Some(pre), Some(post)) => Some(CharFrame { pre, post }),
                _ => None,
            };
            let leader = as_frame(leader);
            let follower = as_frame(follower);
            // The follower column exists from the first frame that has a follower on; before
            // that it is empty. (Test the need for it before padding: padding to `old_len` rows
            // leaves it empty when the follower appears in the very first frame.)
            let has_follower_column = follower.is_some() || !port.follower.is_empty();
            if has_follower_column && port.follower.is_empty() {
                port.follower.resize(old_len, None);
            }
            if replace {
                port.leader[row] = leader;
                if has_follower_column {
                    port.follower[row] = follower;
                }
            } else {
                port.leader.insert(row, leader);
                if has_follower_column {
                    port.follower.insert(row, follower);
                }
            }
        }
        self.committed.push(row);
        if dropped > 0 {
            let at = self.pending.offset;
            self.warn(
                at,
                WarningKind::TooManyItems {
                    frame: frame_id,
                    count,
                },
            );
        }
    }
}
