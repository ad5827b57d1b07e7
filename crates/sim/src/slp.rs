//! Recording a simulator game as a Slippi replay ([`exphil_replay::Game`], written with
//! [`exphil_replay::write`]), so simulated games feed the same corpus, dataset and training
//! commands as real ones.
//!
//! Each step becomes one frame row: the pre-frame update holds the controller of that step (sticks
//! on the real controller's 1/80 grid) and the state before it, the post-frame update the state
//! after it. Decoded with the replay crate and seen through `exphil_state::StateBuilder`, a
//! recorded frame is the simulator's own view of it (`Game::view`), up to the stick grid and
//! Yoshi's Story's Randall (which the replay side places by frame number and the simulator does
//! not have). On Fountain of Dreams the side platforms are recorded, with platform events on
//! the first frame, at the simulator's fixed heights.

use crate::fighter::{action, MoveKind};
use crate::game::{Act, End, Game, Player};
use crate::options::Opt;
use exphil_replay::{
    CharFrame, EndMethod, FrameBookend, FrameStart, GameEnd, GameStart, Metadata, MetadataPlayer,
    Netplay, Player as SlpPlayer, PlayerKind, PostFrame, PreFrame, Scene, StageEvent, Stick,
    Velocities, WRITE_VERSION,
};
use exphil_state::Controller;
use serde_json::json;

/// Slippi processed-button masks for A, B, X, Y, Z, L, R, D-up (the state crate's button order).
const SLIPPI_MASKS: [u32; 8] = [
    0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x0008,
];

/// A 0..1 controller axis as the processed −1..1 value on the raw 1/80 grid, and the raw unit.
fn axis(v: f32) -> (f32, i8) {
    let raw = ((v.clamp(0.0, 1.0) * 2.0 - 1.0) * 80.0).round();
    (raw / 80.0, raw as i8)
}

fn pre_frame(c: &Controller, before: &PostFrame, seed: u32) -> PreFrame {
    let (jx, rx) = axis(c.main_x);
    let (jy, ry) = axis(c.main_y);
    let (cx, rcx) = axis(c.c_x);
    let (cy, rcy) = axis(c.c_y);
    let buttons = SLIPPI_MASKS
        .iter()
        .enumerate()
        .filter(|(i, _)| c.buttons.pressed(*i))
        .fold(0u32, |b, (_, m)| b | m);
    PreFrame {
        random_seed: seed,
        action_state: before.action_state,
        x: before.x,
        y: before.y,
        facing: before.facing,
        joystick: Stick { x: jx, y: jy },
        cstick: Stick { x: cx, y: cy },
        trigger: c.shoulder,
        buttons,
        buttons_physical: buttons as u16,
        trigger_physical_l: c.shoulder,
        trigger_physical_r: 0.0,
        raw_analog_x: Some(rx),
        percent: Some(before.percent),
        raw_analog_y: Some(ry),
        raw_cstick_x: Some(rcx),
        raw_cstick_y: Some(rcy),
    }
}

/// Slippi's post-frame L-cancel status: on an aerial's landing frame 1 when it was
/// L-cancelled (its lag halved), 2 when not; 0 on every other frame.
fn l_cancel_status(p: &Player) -> u8 {
    let Act::LandingAir(lag, id) = p.act else {
        return 0;
    };
    if p.frame != 0 {
        return 0;
    }
    let kind = match id.wrapping_sub(action::LANDING_AIR_N) {
        0 => MoveKind::Nair,
        1 => MoveKind::Fair,
        2 => MoveKind::Bair,
        3 => MoveKind::Uair,
        4 => MoveKind::Dair,
        _ => return 0,
    };
    let full = p.fighter.get(kind).landing_lag.max(p.fighter.landing_lag);
    if lag < full {
        1
    } else {
        2
    }
}

fn post_frame(game: &Game, i: usize) -> PostFrame {
    let p = &game.players[i];
    let mut flags = [0u8; 5];
    let mut set = |(byte, mask): (usize, u8), on: bool| {
        if on {
            flags[byte] |= mask;
        }
    };
    set(exphil_replay::FLAG_HITSTUN, p.hitstun > 0);
    set(exphil_replay::FLAG_HITLAG, p.hitlag > 0);
    set(exphil_replay::FLAG_FAST_FALL, p.fast_fall && !p.grounded);
    set(
        exphil_replay::FLAG_SHIELD,
        matches!(p.act, Act::Shield | Act::Opt(Opt::GuardOn)),
    );
    set(exphil_replay::FLAG_UNTOUCHABLE, p.intangible());
    set(exphil_replay::FLAG_DEAD, p.act == Act::Dead);
    PostFrame {
        character: p.fighter.character.to_internal().unwrap_or_default(),
        action_state: p.action(),
        x: p.x,
        y: p.y,
        facing: p.facing,
        percent: p.percent,
        shield: p.shield,
        last_attack_landed: 0,
        combo_count: 0,
        last_hit_by: 6,
        stocks: p.stocks,
        state_age: Some(p.frame as f32),
        state_flags: Some(flags),
        misc_as: Some(p.hitstun as f32),
        airborne: Some(!p.grounded as u8),
        ground_id: Some(if p.grounded { 0 } else { u16::MAX }),
        jumps_remaining: Some(p.jumps),
        l_cancel: Some(l_cancel_status(p)),
        hurtbox_state: Some(p.intangible() as u8),
        velocities: Some(Velocities {
            self_x_air: if p.grounded { 0.0 } else { p.vx },
            self_y: p.vy,
            knockback_x: p.kx,
            knockback_y: p.ky,
            self_x_ground: if p.grounded { p.vx } else { 0.0 },
        }),
        hitlag_remaining: Some(p.hitlag as f32),
        animation_index: Some(0),
        last_hit_by_instance: Some(0),
        instance_id: Some(i as u16 + 1),
    }
}

/// Records a simulator game, step by step, as a replay.
pub struct SlpRecorder {
    game: exphil_replay::Game,
    last: [PostFrame; 2],
    seed: u32,
    names: [String; 2],
}

impl SlpRecorder {
    /// A recorder for `game` (at its countdown, before the first step), whose players are
    /// called `names` (a bot's or policy's name: it becomes the name tag, cut to 8 characters,
    /// and the netplay name, so dataset filters by player work on simulated games).
    pub fn new(game: &Game, names: [&str; 2], seed: u32) -> SlpRecorder {
        let players = (0..2)
            .map(|i| {
                let fighter = game.players[i].fighter;
                SlpPlayer {
                    port: exphil_replay::Port::from_index(i as u8).expect("ports 1 and 2"),
                    character: fighter.character,
                    kind: PlayerKind::Human,
                    stocks: game.players[i].stocks,
                    costume: 0,
                    team: None,
                    handicap: 9,
                    bitfield: 0xC0,
                    cpu_level: None,
                    damage_start: 0,
                    damage_spawn: 0,
                    offense_ratio: 1.0,
                    defense_ratio: 1.0,
                    model_scale: 1.0,
                    ucf: None,
                    name_tag: Some(names[i].chars().take(8).collect()),
                    netplay: Some(Netplay {
                        name: names[i].to_string(),
                        code: String::new(),
                        uid: None,
                    }),
                }
            })
            .collect();
        let timer_frames = if game.frame_limit > 0 {
            game.frame_limit
        } else {
            crate::game::TIMER_FRAMES
        };
        let start = GameStart {
            version: WRITE_VERSION,
            bitfield: [0x32, 0x01, 0x86, 0x4C],
            is_raining_bombs: false,
            is_teams: false,
            item_spawn_frequency: -1,
            self_destruct_score: -1,
            stage: game.stage.id,
            timer_seconds: (timer_frames / 60) as u32,
            item_spawn_bitfield: [0; 5],
            damage_ratio: 1.0,
            players,
            random_seed: seed,
            is_pal: Some(false),
            is_frozen_ps: Some(false),
            scene: Some(Scene { minor: 2, major: 2 }),
            language: Some(1),
            match_info: None,
        };
        let last = [post_frame(game, 0), post_frame(game, 1)];
        SlpRecorder {
            game: exphil_replay::Game::new(start),
            last,
            seed,
            names: names.map(str::to_string),
        }
    }

    /// Records the step just played (call after each `Game::step`).
    pub fn push(&mut self, game: &Game) {
        let id = game.frame - 1;
        // Melee's seed advances every frame; any deterministic sequence will do here.
        self.seed = self
            .seed
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let mut chars = [None; 2];
        for (i, slot) in chars.iter_mut().enumerate() {
            let post = post_frame(game, i);
            let pre = pre_frame(&game.players[i].input, &self.last[i], self.seed);
            *slot = Some(CharFrame { pre, post });
            self.last[i] = post;
        }
        let start = FrameStart {
            random_seed: self.seed,
            scene_frame_counter: Some((id - crate::game::FIRST_FRAME) as u32),
        };
        let bookend = FrameBookend {
            latest_finalized_frame: Some(id),
        };
        // Fountain of Dreams: the side platforms stand at the simulator's heights, said once
        // at the first frame as Slippi's platform events would.
        let mut events = Vec::new();
        if id == crate::game::FIRST_FRAME {
            if let Some([left, right]) = game.stage.fod_heights() {
                events.push(StageEvent::FodPlatform {
                    platform: 1,
                    height: left,
                });
                events.push(StageEvent::FodPlatform {
                    platform: 0,
                    height: right,
                });
            }
        }
        self.game
            .frames
            .push_row(id, Some(start), Some(bookend), &chars, &events);
    }

    /// The recorded replay, with Game End (when the game is over) and metadata.
    pub fn finish(mut self, game: &Game) -> exphil_replay::Game {
        if let Some(o) = game.outcome {
            let method = match o.end {
                End::Stocks => 2,
                End::Timer | End::FrameLimit => 1,
            };
            let placements = match o.winner {
                Some(w) => {
                    let mut p = [-1i8; 4];
                    p[w] = 0;
                    p[1 - w] = 1;
                    p
                }
                None => [0, 0, -1, -1],
            };
            self.game.end = Some(GameEnd {
                method: EndMethod(method),
                lras_initiator: Some(None),
                placements: Some(placements),
            });
        }
        let frames = self.game.frames.len() as i64;
        let last_frame = self.game.frames.id.last().copied().unwrap_or(0);
        let players: serde_json::Map<String, serde_json::Value> = (0..2)
            .map(|i| {
                let internal = game.players[i]
                    .fighter
                    .character
                    .to_internal()
                    .unwrap_or_default();
                let value = json!({
                    "characters": { internal.0.to_string(): frames },
                    "names": { "netplay": self.names[i], "code": "" },
                });
                (i.to_string(), value)
            })
            .collect();
        let raw = json!({
            "lastFrame": last_frame,
            "playedOn": "exphil-sim",
            "players": players,
        });
        self.game.metadata = Some(Metadata {
            start_at: None,
            last_frame: Some(last_frame),
            played_on: Some("exphil-sim".into()),
            console_nick: None,
            players: (0..2)
                .map(|i| MetadataPlayer {
                    port_index: i as u8,
                    netplay: Some(self.names[i].clone()),
                    code: Some(String::new()),
                    characters: vec![(
                        game.players[i]
                            .fighter
                            .character
                            .to_internal()
                            .unwrap_or_default()
                            .0,
                        frames,
                    )],
                })
                .collect(),
            raw,
        });
        self.game
    }
}
