//! Writing a [`Game`] as a `.slp` file: the inverse of decoding, so games that never ran in
//! Dolphin (the simulator's) go through the same dataset, training and evaluation code as real
//! replays.
//!
//! The writer always uses the newest layout the decoder knows ([`WRITE_VERSION`]): every event
//! is declared at its full size and every optional field is written, as its value or, when the
//! game does not have it, as zero. Events are written in the order Slippi writes them: Frame
//! Start, the pre-frame updates, the item updates, the post-frame updates, the stage events and
//! the Frame Bookend of each frame, then Game End and the metadata object. A decoded game has one
//! row per frame id, so the file has no rollback re-sends. The Gecko code list is not written.

use crate::event;
use crate::file::SIGNATURE;
use crate::game::*;
use serde_json::Value;
use std::io;
use std::path::Path;

/// The format version a written file declares.
pub const WRITE_VERSION: Version = Version(3, 18, 0);

/// Payload sizes the writer declares (Game Start 3.14+, pre-frame 3.17+, post-frame 3.16+, …).
const SIZES: [(u8, u16); 10] = [
    (event::GAME_START, 760),
    (event::PRE_FRAME, 66),
    (event::POST_FRAME, 84),
    (event::GAME_END, 6),
    (event::FRAME_START, 12),
    (event::ITEM_UPDATE, 44),
    (event::FRAME_BOOKEND, 8),
    (event::FOD_PLATFORM, 9),
    (event::WHISPY, 5),
    (event::STADIUM_TRANSFORMATION, 8),
];

/// A fixed-size payload written field by field at the decoder's offsets.
struct Buf(Vec<u8>);

impl Buf {
    fn new(code: u8) -> Buf {
        let size = SIZES.iter().find(|s| s.0 == code).map_or(0, |s| s.1);
        Buf(vec![0; size as usize])
    }
    fn put(&mut self, off: usize, bytes: &[u8]) {
        self.0[off..off + bytes.len()].copy_from_slice(bytes);
    }
    fn u8(&mut self, off: usize, v: u8) {
        self.0[off] = v;
    }
    fn u16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_be_bytes());
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_be_bytes());
    }
    fn i32(&mut self, off: usize, v: i32) {
        self.put(off, &v.to_be_bytes());
    }
    fn f32(&mut self, off: usize, v: f32) {
        self.put(off, &v.to_be_bytes());
    }
    /// A string in Melee's Shift-JIS, NUL-padded to `len` bytes (cut at `len - 1`).
    fn sjis(&mut self, off: usize, len: usize, text: &str) {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let n = bytes.len().min(len - 1);
        self.put(off, &bytes[..n]);
    }
    fn utf8(&mut self, off: usize, len: usize, text: &str) {
        let n = text.len().min(len - 1);
        self.put(off, &text.as_bytes()[..n]);
    }
}

fn game_start(s: &GameStart) -> Buf {
    let mut p = Buf::new(event::GAME_START);
    let v = WRITE_VERSION;
    p.put(0, &[v.0, v.1, v.2, 0]);
    p.put(4, &s.bitfield);
    p.u8(10, s.is_raining_bombs as u8);
    p.u8(12, s.is_teams as u8);
    p.u8(15, s.item_spawn_frequency as u8);
    p.u8(16, s.self_destruct_score as u8);
    p.u16(18, s.stage.0);
    p.u32(20, s.timer_seconds);
    p.put(39, &s.item_spawn_bitfield);
    p.f32(52, s.damage_ratio);
    for i in 0..4usize {
        let base = 100 + 36 * i;
        let Some(pl) = s.players.iter().find(|pl| pl.port.index() == i) else {
            p.u8(base + 1, 3); // empty slot
            continue;
        };
        p.u8(base, pl.character.0);
        p.u8(
            base + 1,
            match pl.kind {
                PlayerKind::Human => 0,
                PlayerKind::Cpu => 1,
                PlayerKind::Demo => 2,
            },
        );
        p.u8(base + 2, pl.stocks);
        p.u8(base + 3, pl.costume);
        if let Some(team) = pl.team {
            p.u8(base + 7, team.shade);
            p.u8(base + 9, team.color);
        }
        p.u8(base + 8, pl.handicap);
        p.u8(base + 12, pl.bitfield);
        p.u8(base + 15, pl.cpu_level.unwrap_or(0));
        p.u16(base + 16, pl.damage_start);
        p.u16(base + 18, pl.damage_spawn);
        p.f32(base + 24, pl.offense_ratio);
        p.f32(base + 28, pl.defense_ratio);
        p.f32(base + 32, pl.model_scale);
        if let Some(ucf) = pl.ucf {
            p.u32(320 + 8 * i, ucf.dash_back);
            p.u32(324 + 8 * i, ucf.shield_drop);
        }
        if let Some(tag) = &pl.name_tag {
            p.sjis(352 + 16 * i, 16, tag);
        }
        if let Some(n) = &pl.netplay {
            p.sjis(420 + 31 * i, 31, &n.name);
            p.sjis(544 + 10 * i, 10, &n.code);
            if let Some(uid) = &n.uid {
                p.utf8(584 + 29 * i, 29, uid);
            }
        }
    }
    p.u32(316, s.random_seed);
    p.u8(416, s.is_pal.unwrap_or(false) as u8);
    p.u8(417, s.is_frozen_ps.unwrap_or(false) as u8);
    if let Some(scene) = s.scene {
        p.u8(418, scene.minor);
        p.u8(419, scene.major);
    }
    p.u8(700, s.language.unwrap_or(1));
    if let Some(m) = &s.match_info {
        p.utf8(701, 51, &m.id);
        p.u32(752, m.game_number);
        p.u32(756, m.tiebreaker_number);
    }
    p
}

fn pre_frame(id: i32, port: u8, follower: bool, f: &PreFrame) -> Buf {
    let mut p = Buf::new(event::PRE_FRAME);
    p.i32(0, id);
    p.u8(4, port);
    p.u8(5, follower as u8);
    p.u32(6, f.random_seed);
    p.u16(10, f.action_state);
    p.f32(12, f.x);
    p.f32(16, f.y);
    p.f32(20, f.facing);
    p.f32(24, f.joystick.x);
    p.f32(28, f.joystick.y);
    p.f32(32, f.cstick.x);
    p.f32(36, f.cstick.y);
    p.f32(40, f.trigger);
    p.u32(44, f.buttons);
    p.u16(48, f.buttons_physical);
    p.f32(50, f.trigger_physical_l);
    p.f32(54, f.trigger_physical_r);
    p.u8(58, f.raw_analog_x.unwrap_or(0) as u8);
    p.f32(59, f.percent.unwrap_or(0.0));
    p.u8(63, f.raw_analog_y.unwrap_or(0) as u8);
    p.u8(64, f.raw_cstick_x.unwrap_or(0) as u8);
    p.u8(65, f.raw_cstick_y.unwrap_or(0) as u8);
    p
}

fn post_frame(id: i32, port: u8, follower: bool, f: &PostFrame) -> Buf {
    let mut p = Buf::new(event::POST_FRAME);
    p.i32(0, id);
    p.u8(4, port);
    p.u8(5, follower as u8);
    p.u8(6, f.character.0);
    p.u16(7, f.action_state);
    p.f32(9, f.x);
    p.f32(13, f.y);
    p.f32(17, f.facing);
    p.f32(21, f.percent);
    p.f32(25, f.shield);
    p.u8(29, f.last_attack_landed);
    p.u8(30, f.combo_count);
    p.u8(31, f.last_hit_by);
    p.u8(32, f.stocks);
    p.f32(33, f.state_age.unwrap_or(0.0));
    p.put(37, &f.state_flags.unwrap_or_default());
    p.f32(42, f.misc_as.unwrap_or(0.0));
    p.u8(46, f.airborne.unwrap_or(0));
    p.u16(47, f.ground_id.unwrap_or(0));
    p.u8(49, f.jumps_remaining.unwrap_or(0));
    p.u8(50, f.l_cancel.unwrap_or(0));
    p.u8(51, f.hurtbox_state.unwrap_or(0));
    let v = f.velocities.unwrap_or_default();
    p.f32(52, v.self_x_air);
    p.f32(56, v.self_y);
    p.f32(60, v.knockback_x);
    p.f32(64, v.knockback_y);
    p.f32(68, v.self_x_ground);
    p.f32(72, f.hitlag_remaining.unwrap_or(0.0));
    p.u32(76, f.animation_index.unwrap_or(0));
    p.u16(80, f.last_hit_by_instance.unwrap_or(0));
    p.u16(82, f.instance_id.unwrap_or(0));
    p
}

fn item(id: i32, it: &Item) -> Buf {
    let mut p = Buf::new(event::ITEM_UPDATE);
    p.i32(0, id);
    p.u16(4, it.kind);
    p.u8(6, it.state);
    p.f32(7, it.facing);
    p.f32(11, it.vx);
    p.f32(15, it.vy);
    p.f32(19, it.x);
    p.f32(23, it.y);
    p.u16(27, it.damage);
    p.f32(29, it.timer);
    p.u32(33, it.spawn_id);
    p.put(37, &it.misc.unwrap_or_default());
    p.u8(41, it.owner.unwrap_or(-1) as u8);
    p.u16(42, it.instance_id.unwrap_or(0));
    p
}

fn stage_event(id: i32, e: &StageEvent) -> (u8, Buf) {
    let code = match e {
        StageEvent::FodPlatform { .. } => event::FOD_PLATFORM,
        StageEvent::Whispy { .. } => event::WHISPY,
        StageEvent::StadiumTransformation { .. } => event::STADIUM_TRANSFORMATION,
    };
    let mut p = Buf::new(code);
    p.i32(0, id);
    match *e {
        StageEvent::FodPlatform { platform, height } => {
            p.u8(4, platform);
            p.f32(5, height);
        }
        StageEvent::Whispy { direction } => p.u8(4, direction),
        StageEvent::StadiumTransformation { event, kind } => {
            p.u16(4, event);
            p.u16(6, kind);
        }
    }
    (code, p)
}

fn emit(raw: &mut Vec<u8>, code: u8, payload: Buf) {
    raw.push(code);
    raw.extend_from_slice(&payload.0);
}

/// The raw event stream of `game` (what follows the header's length field).
pub fn raw_events(game: &Game) -> Vec<u8> {
    let frames = &game.frames;
    let chars = frames.ports.len() * 2;
    let per_frame = 1 + 12 + 1 + 8 + chars * (2 + 66 + 84);
    let mut raw = Vec::with_capacity(1024 + frames.len() * per_frame);
    raw.push(event::EVENT_PAYLOADS);
    raw.push((SIZES.len() * 3 + 1) as u8);
    for (code, size) in SIZES {
        raw.push(code);
        raw.extend_from_slice(&size.to_be_bytes());
    }
    emit(&mut raw, event::GAME_START, game_start(&game.start));
    for f in frames.iter() {
        let id = f.id();
        let mut start = Buf::new(event::FRAME_START);
        start.i32(0, id);
        let fs = f.start().copied().unwrap_or_default();
        start.u32(4, fs.random_seed);
        start.u32(8, fs.scene_frame_counter.unwrap_or(0));
        emit(&mut raw, event::FRAME_START, start);
        let players: Vec<PlayerFrame<'_>> = f.players().collect();
        for p in &players {
            let port = p.port.index() as u8;
            emit(
                &mut raw,
                event::PRE_FRAME,
                pre_frame(id, port, false, &p.leader.pre),
            );
            if let Some(n) = p.follower {
                emit(
                    &mut raw,
                    event::PRE_FRAME,
                    pre_frame(id, port, true, &n.pre),
                );
            }
        }
        for it in f.items() {
            emit(&mut raw, event::ITEM_UPDATE, item(id, it));
        }
        for p in &players {
            let port = p.port.index() as u8;
            emit(
                &mut raw,
                event::POST_FRAME,
                post_frame(id, port, false, &p.leader.post),
            );
            if let Some(n) = p.follower {
                emit(
                    &mut raw,
                    event::POST_FRAME,
                    post_frame(id, port, true, &n.post),
                );
            }
        }
        for e in f.stage_events() {
            let (code, payload) = stage_event(id, e);
            emit(&mut raw, code, payload);
        }
        let mut bookend = Buf::new(event::FRAME_BOOKEND);
        bookend.i32(0, id);
        let latest = f.bookend().and_then(|b| b.latest_finalized_frame);
        bookend.i32(4, latest.unwrap_or(id));
        emit(&mut raw, event::FRAME_BOOKEND, bookend);
    }
    if let Some(end) = &game.end {
        let mut p = Buf::new(event::GAME_END);
        p.u8(0, end.method.0);
        let lras = end.lras_initiator.flatten();
        p.u8(1, lras.map_or(u8::MAX, |port| port.index() as u8));
        let placements = end.placements.unwrap_or([-1; 4]);
        p.put(2, &placements.map(|x| x as u8));
        emit(&mut raw, event::GAME_END, p);
    }
    raw
}

/// Appends one UBJSON value (integers as int32/int64, floats as float64, strings with the
/// smallest length marker).
fn ubjson_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(b'Z'),
        Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if i32::try_from(i).is_ok() => {
                out.push(b'l');
                out.extend_from_slice(&(i as i32).to_be_bytes());
            }
            (Some(i), _) => {
                out.push(b'L');
                out.extend_from_slice(&i.to_be_bytes());
            }
            (None, f) => {
                out.push(b'D');
                out.extend_from_slice(&f.unwrap_or(0.0).to_be_bytes());
            }
        },
        Value::String(s) => {
            out.push(b'S');
            ubjson_string(out, s);
        }
        Value::Array(items) => {
            out.push(b'[');
            for item in items {
                ubjson_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (k, v) in map {
                ubjson_string(out, k);
                ubjson_value(out, v);
            }
            out.push(b'}');
        }
    }
}

fn ubjson_string(out: &mut Vec<u8>, s: &str) {
    if s.len() < 256 {
        out.push(b'U');
        out.push(s.len() as u8);
    } else {
        out.push(b'l');
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// The whole `.slp` file of `game`: header, raw events and the metadata object (the game's, or
/// an empty one).
pub fn write(game: &Game) -> Vec<u8> {
    let raw = raw_events(game);
    let mut out = Vec::with_capacity(raw.len() + 512);
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&(raw.len() as u32).to_be_bytes());
    out.extend_from_slice(&raw);
    out.extend_from_slice(b"U\x08metadata");
    let empty = Value::Object(Default::default());
    let meta = game.metadata.as_ref().map_or(&empty, |m| &m.raw);
    match meta {
        Value::Object(_) => ubjson_value(&mut out, meta),
        _ => ubjson_value(&mut out, &empty),
    }
    out.push(b'}');
    out
}

/// Writes `game` to `path` atomically (a temporary file renamed into place), so a crash never
/// leaves half a replay under the final name.
pub fn write_file(path: &Path, game: &Game) -> io::Result<()> {
    let bytes = write(game);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}
