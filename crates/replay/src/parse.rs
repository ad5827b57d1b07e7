//! Typed events from payload bytes. Each function takes a payload already checked against
//! [`crate::event::min_size`], so required fields are present; tail fields past the declared
//! size read as `None`.

use crate::event::Payload;
use crate::game::*;
use crate::ids::{ExternalCharacter, ExternalStage, InternalCharacter};

/// Reads a required field: present because the payload passed its minimum-size check.
macro_rules! req {
    ($e:expr) => {
        $e.unwrap_or_default()
    };
}

/// Decodes a NUL-terminated Shift-JIS string (Melee's encoding) to UTF-8.
pub fn melee_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes[..end]);
    text.chars().map(normalize_char).collect()
}

/// Maps full-width forms to ASCII (Melee writes connect codes as `ＡＢＣＤ＃１２３`), and the
/// quotation marks Melee's keyboard writes for `'` and `"` (`’`, `”`) back to ASCII, as
/// Slippi's own metadata and slippi-js do.
fn normalize_char(c: char) -> char {
    let u = c as u32;
    let mapped = match u {
        0xff01..=0xff5e => u - 0xff00 + 0x20,
        0x3000 => 0x20,
        0x2019 => 0x27,
        0x201d => 0x22,
        _ => u,
    };
    char::from_u32(mapped).unwrap_or(c)
}

fn utf8_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Game Start (payload ≥ 320 bytes).
pub fn game_start(p: Payload<'_>) -> GameStart {
    let version = Version(req!(p.u8(0)), req!(p.u8(1)), req!(p.u8(2)));
    let is_teams = req!(p.u8(12)) != 0;
    let mut players = Vec::with_capacity(4);
    for i in 0..4usize {
        let base = 100 + 36 * i;
        let kind = match req!(p.u8(base + 1)) {
            0 => PlayerKind::Human,
            1 => PlayerKind::Cpu,
            2 => PlayerKind::Demo,
            _ => continue, // 3 = empty slot; other values are not players either
        };
        let port = match Port::from_index(i as u8) {
            Some(port) => port,
            None => continue,
        };
        let ucf = match (p.u32(320 + 8 * i), p.u32(324 + 8 * i)) {
            (Some(dash_back), Some(shield_drop)) => Some(Ucf {
                dash_back,
                shield_drop,
            }),
            _ => None,
        };
        let name_tag = p.bytes::<16>(352 + 16 * i).map(|b| melee_string(&b));
        let netplay = match (p.bytes::<31>(420 + 31 * i), p.bytes::<10>(544 + 10 * i)) {
            (Some(name), Some(code)) => Some(Netplay {
                name: melee_string(&name),
                code: melee_string(&code),
                uid: p.bytes::<29>(584 + 29 * i).map(|b| utf8_string(&b)),
            }),
            _ => None,
        };
        players.push(Player {
            port,
            character: ExternalCharacter(req!(p.u8(base))),
            kind,
            stocks: req!(p.u8(base + 2)),
            costume: req!(p.u8(base + 3)),
            team: is_teams.then(|| Team {
                color: req!(p.u8(base + 9)),
                shade: req!(p.u8(base + 7)),
            }),
            handicap: req!(p.u8(base + 8)),
            bitfield: req!(p.u8(base + 12)),
            cpu_level: (kind == PlayerKind::Cpu).then(|| req!(p.u8(base + 15))),
            damage_start: req!(p.u16(base + 16)),
            damage_spawn: req!(p.u16(base + 18)),
            offense_ratio: req!(p.f32(base + 24)),
            defense_ratio: req!(p.f32(base + 28)),
            model_scale: req!(p.f32(base + 32)),
            ucf,
            name_tag,
            netplay,
        });
    }
    let match_info = p.bytes::<51>(701).and_then(|id| {
        Some(MatchInfo {
            id: utf8_string(&id),
            game_number: p.u32(752)?,
            tiebreaker_number: p.u32(756)?,
        })
    });
    GameStart {
        version,
        bitfield: req!(p.bytes::<4>(4)),
        is_raining_bombs: req!(p.u8(10)) != 0,
        is_teams,
        item_spawn_frequency: req!(p.i8(15)),
        self_destruct_score: req!(p.i8(16)),
        stage: ExternalStage(req!(p.u16(18))),
        timer_seconds: req!(p.u32(20)),
        item_spawn_bitfield: req!(p.bytes::<5>(39)),
        damage_ratio: req!(p.f32(52)),
        players,
        random_seed: req!(p.u32(316)),
        is_pal: p.u8(416).map(|b| b != 0),
        is_frozen_ps: p.u8(417).map(|b| b != 0),
        scene: match (p.u8(418), p.u8(419)) {
            (Some(minor), Some(major)) => Some(Scene { minor, major }),
            _ => None,
        },
        language: p.u8(700),
        match_info,
    }
}

/// Game End (payload ≥ 1 byte).
pub fn game_end(p: Payload<'_>) -> GameEnd {
    GameEnd {
        method: EndMethod(req!(p.u8(0))),
        lras_initiator: p.u8(1).map(Port::from_index),
        placements: p.bytes::<4>(2).map(|b| b.map(|x| x as i8)),
    }
}

/// Frame id, port byte and follower flag of a pre/post-frame payload.
#[inline]
pub fn frame_header(p: Payload<'_>) -> (i32, u8, bool) {
    (req!(p.i32(0)), req!(p.u8(4)), req!(p.u8(5)) != 0)
}

/// Pre-Frame Update (payload ≥ 58 bytes).
#[inline]
pub fn pre_frame(p: Payload<'_>) -> PreFrame {
    PreFrame {
        random_seed: req!(p.u32(6)),
        action_state: req!(p.u16(10)),
        x: req!(p.f32(12)),
        y: req!(p.f32(16)),
        facing: req!(p.f32(20)),
        joystick: Stick {
            x: req!(p.f32(24)),
            y: req!(p.f32(28)),
        },
        cstick: Stick {
            x: req!(p.f32(32)),
            y: req!(p.f32(36)),
        },
        trigger: req!(p.f32(40)),
        buttons: req!(p.u32(44)),
        buttons_physical: req!(p.u16(48)),
        trigger_physical_l: req!(p.f32(50)),
        trigger_physical_r: req!(p.f32(54)),
        raw_analog_x: p.i8(58),
        percent: p.f32(59),
        raw_analog_y: p.i8(63),
        raw_cstick_x: p.i8(64),
        raw_cstick_y: p.i8(65),
    }
}

/// Post-Frame Update (payload ≥ 33 bytes).
#[inline]
pub fn post_frame(p: Payload<'_>) -> PostFrame {
    let velocities = match (p.f32(52), p.f32(56), p.f32(60), p.f32(64), p.f32(68)) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => Some(Velocities {
            self_x_air: a,
            self_y: b,
            knockback_x: c,
            knockback_y: d,
            self_x_ground: e,
        }),
        _ => None,
    };
    PostFrame {
        character: InternalCharacter(req!(p.u8(6))),
        action_state: req!(p.u16(7)),
        x: req!(p.f32(9)),
        y: req!(p.f32(13)),
        facing: req!(p.f32(17)),
        percent: req!(p.f32(21)),
        shield: req!(p.f32(25)),
        last_attack_landed: req!(p.u8(29)),
        combo_count: req!(p.u8(30)),
        last_hit_by: req!(p.u8(31)),
        stocks: req!(p.u8(32)),
        state_age: p.f32(33),
        state_flags: p.bytes::<5>(37),
        misc_as: p.f32(42),
        airborne: p.u8(46),
        ground_id: p.u16(47),
        jumps_remaining: p.u8(49),
        l_cancel: p.u8(50),
        hurtbox_state: p.u8(51),
        velocities,
        hitlag_remaining: p.f32(72),
        animation_index: p.u32(76),
        last_hit_by_instance: p.u16(80),
        instance_id: p.u16(82),
    }
}

/// Item Update (payload ≥ 37 bytes); the slot is assigned later.
pub fn item(p: Payload<'_>) -> Item {
    Item {
        slot: 0,
        kind: req!(p.u16(4)),
        state: req!(p.u8(6)),
        facing: req!(p.f32(7)),
        vx: req!(p.f32(11)),
        vy: req!(p.f32(15)),
        x: req!(p.f32(19)),
        y: req!(p.f32(23)),
        damage: req!(p.u16(27)),
        timer: req!(p.f32(29)),
        spawn_id: req!(p.u32(33)),
        misc: p.bytes::<4>(37),
        owner: p.i8(41),
        instance_id: p.u16(42),
    }
}

/// Frame Start (payload ≥ 8 bytes).
pub fn frame_start(p: Payload<'_>) -> FrameStart {
    FrameStart {
        random_seed: req!(p.u32(4)),
        scene_frame_counter: p.u32(8),
    }
}

/// Frame Bookend (payload ≥ 4 bytes).
pub fn frame_bookend(p: Payload<'_>) -> FrameBookend {
    FrameBookend {
        latest_finalized_frame: p.i32(4),
    }
}

/// FoD Platform (payload ≥ 9 bytes).
pub fn fod_platform(p: Payload<'_>) -> StageEvent {
    StageEvent::FodPlatform {
        platform: req!(p.u8(4)),
        height: req!(p.f32(5)),
    }
}

/// Whispy (payload ≥ 5 bytes).
pub fn whispy(p: Payload<'_>) -> StageEvent {
    StageEvent::Whispy {
        direction: req!(p.u8(4)),
    }
}

/// Stadium Transformation (payload ≥ 8 bytes).
pub fn stadium_transformation(p: Payload<'_>) -> StageEvent {
    StageEvent::StadiumTransformation {
        event: req!(p.u16(4)),
        kind: req!(p.u16(6)),
    }
}
