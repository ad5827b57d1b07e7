//! Fighters: per-character physics (values after Melee's character attributes) and a compact
//! move set per archetype as hitboxes (damage, angle, base and growth knockback, active frames).

use exphil_replay::ExternalCharacter;

/// Which move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveKind {
    /// Jab.
    Jab,
    /// Forward tilt.
    Ftilt,
    /// Up tilt.
    Utilt,
    /// Down tilt.
    Dtilt,
    /// Forward smash.
    Fsmash,
    /// Up smash.
    Usmash,
    /// Down smash.
    Dsmash,
    /// Neutral air.
    Nair,
    /// Forward air.
    Fair,
    /// Back air.
    Bair,
    /// Up air.
    Uair,
    /// Down air.
    Dair,
    /// The neutral special.
    Special,
    /// Grab (the grab box).
    Grab,
    /// Forward throw.
    Fthrow,
    /// Back throw.
    Bthrow,
}

/// One hitbox of a move, relative to the fighter (x forward).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hitbox {
    /// First active frame (1-based, as frame data is written).
    pub start: u16,
    /// Last active frame.
    pub end: u16,
    /// Offset forward.
    pub x: f32,
    /// Offset up.
    pub y: f32,
    /// Radius.
    pub r: f32,
    /// Damage (percent).
    pub damage: f32,
    /// Launch angle in degrees (forward = 0, up = 90); 361 is the "Sakurai angle".
    pub angle: f32,
    /// Base knockback.
    pub bkb: f32,
    /// Knockback growth.
    pub kbg: f32,
    /// Set knockback (weight-independent, 0 = none).
    pub fixed: f32,
}

/// A move: its length, hitboxes, landing lag (aerials) and the Melee action id it shows as.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Move {
    /// Which.
    pub kind: MoveKind,
    /// Total frames.
    pub frames: u16,
    /// Hitboxes.
    pub hitboxes: &'static [Hitbox],
    /// Landing lag when an aerial is cut short by landing.
    pub landing_lag: u16,
    /// Melee action-state id.
    pub action: u16,
    /// Frames this move leaves the user intangible (from frame 1), for specials like Rest.
    pub sleep_after: u16,
}

/// Physics and moves of one character.
#[derive(Debug, PartialEq)]
pub struct Fighter {
    /// The character (external id).
    pub character: ExternalCharacter,
    /// Archetype in words.
    pub archetype: &'static str,
    /// Weight.
    pub weight: f32,
    /// Gravity per frame.
    pub gravity: f32,
    /// Terminal falling speed.
    pub terminal: f32,
    /// Fast-fall speed.
    pub fast_fall: f32,
    /// Walk speed.
    pub walk: f32,
    /// Run (dash) speed.
    pub run: f32,
    /// Ground acceleration per frame.
    pub ground_accel: f32,
    /// Ground friction per frame.
    pub friction: f32,
    /// Air speed.
    pub air_speed: f32,
    /// Air acceleration per frame.
    pub air_accel: f32,
    /// Air friction per frame.
    pub air_friction: f32,
    /// Jump squat frames.
    pub jump_squat: u16,
    /// Full-hop initial vertical speed.
    pub full_hop: f32,
    /// Short-hop initial vertical speed.
    pub short_hop: f32,
    /// Double-jump initial vertical speed.
    pub double_jump: f32,
    /// Aerial jumps.
    pub air_jumps: u8,
    /// Normal landing lag.
    pub landing_lag: u16,
    /// Hurtbox half-width and height.
    pub size: (f32, f32),
    /// Moves.
    pub moves: &'static [Move],
}

/// A character the simulator does not have.
#[derive(Debug, thiserror::Error)]
#[error("the simulator has no {0:?}; it has {have}", have = fighter_names())]
pub struct UnknownFighter(pub String);

/// The simulator's characters, comma-separated.
fn fighter_names() -> String {
    let have: Vec<&str> = FIGHTERS.iter().filter_map(|f| f.character.name()).collect();
    have.join(", ")
}

impl Fighter {
    /// The fighter called `name`, or why there is none (naming the ones there are).
    pub fn named(name: &str) -> Result<&'static Fighter, UnknownFighter> {
        Fighter::parse(name).ok_or_else(|| UnknownFighter(name.to_string()))
    }

    /// The move of a kind.
    pub fn get(&self, kind: MoveKind) -> &Move {
        self.moves
            .iter()
            .find(|m| m.kind == kind)
            .expect("every fighter has every move kind")
    }
}

#[allow(clippy::too_many_arguments)]
const fn hb(
    start: u16,
    end: u16,
    x: f32,
    y: f32,
    r: f32,
    damage: f32,
    angle: f32,
    bkb: f32,
    kbg: f32,
) -> Hitbox {
    Hitbox {
        start,
        end,
        x,
        y,
        r,
        damage,
        angle,
        bkb,
        kbg,
        fixed: 0.0,
    }
}

const fn mv(
    kind: MoveKind,
    frames: u16,
    hitboxes: &'static [Hitbox],
    landing_lag: u16,
    action: u16,
) -> Move {
    Move {
        kind,
        frames,
        hitboxes,
        landing_lag,
        action,
        sleep_after: 0,
    }
}

use MoveKind::*;

/// Melee action ids the simulator shows.
pub mod action {
    /// Dead (blast zone).
    pub const DEAD: u16 = 0;
    /// Respawn platform.
    pub const REBIRTH_WAIT: u16 = 13;
    /// Standing.
    pub const WAIT: u16 = 14;
    /// Walking.
    pub const WALK: u16 = 16;
    /// Dashing.
    pub const DASH: u16 = 20;
    /// Running.
    pub const RUN: u16 = 21;
    /// Jump squat.
    pub const KNEE_BEND: u16 = 24;
    /// First jump.
    pub const JUMP_F: u16 = 25;
    /// Aerial jump.
    pub const JUMP_AERIAL: u16 = 27;
    /// Falling.
    pub const FALL: u16 = 29;
    /// Landing.
    pub const LANDING: u16 = 42;
    /// Hitstun.
    pub const DAMAGE: u16 = 75;
    /// Tumble (hitstun with high knockback).
    pub const DAMAGE_FLY: u16 = 88;
    /// Shielding.
    pub const GUARD: u16 = 179;
    /// Shield stun.
    pub const GUARD_SET_OFF: u16 = 181;
    /// Shield broken (dizzy).
    pub const FURA_FURA: u16 = 211;
    /// Holding an opponent.
    pub const CATCH_WAIT: u16 = 216;
    /// Held.
    pub const CAPTURE_WAIT: u16 = 227;
    /// Airdodge.
    pub const ESCAPE_AIR: u16 = 236;
    /// Hanging on a ledge.
    pub const CLIFF_WAIT: u16 = 253;
    /// Climbing up from a ledge.
    pub const CLIFF_CLIMB: u16 = 254;
    /// Asleep (after Rest).
    pub const SLEEP: u16 = 11;
}

const GRAB: Move = mv(Grab, 30, &[], 0, 212);

static FOX_MOVES: [Move; 16] = [
    mv(
        Jab,
        16,
        &[hb(2, 3, 8.0, 7.0, 4.0, 4.0, 361.0, 0.0, 100.0)],
        0,
        44,
    ),
    mv(
        Ftilt,
        26,
        &[hb(5, 8, 9.0, 7.0, 4.5, 9.0, 361.0, 10.0, 100.0)],
        0,
        53,
    ),
    mv(
        Utilt,
        24,
        &[hb(5, 11, 4.0, 14.0, 5.5, 12.0, 110.0, 18.0, 130.0)],
        0,
        56,
    ),
    mv(
        Dtilt,
        28,
        &[hb(7, 9, 9.0, 2.0, 4.5, 10.0, 80.0, 30.0, 100.0)],
        0,
        57,
    ),
    mv(
        Fsmash,
        39,
        &[hb(12, 22, 11.0, 7.0, 5.0, 15.0, 361.0, 20.0, 100.0)],
        0,
        60,
    ),
    mv(
        Usmash,
        41,
        &[hb(7, 17, 2.0, 17.0, 7.0, 18.0, 80.0, 30.0, 112.0)],
        0,
        63,
    ),
    mv(
        Dsmash,
        49,
        &[
            hb(6, 9, 10.0, 2.0, 5.5, 15.0, 25.0, 20.0, 70.0),
            hb(6, 9, -10.0, 2.0, 5.5, 15.0, 25.0, 20.0, 70.0),
        ],
        0,
        64,
    ),
    mv(
        Nair,
        42,
        &[
            hb(4, 7, 0.0, 6.0, 7.0, 12.0, 361.0, 10.0, 100.0),
            hb(8, 31, 0.0, 6.0, 6.0, 9.0, 361.0, 0.0, 100.0),
        ],
        15,
        65,
    ),
    mv(
        Fair,
        59,
        &[
            hb(6, 8, 8.0, 6.0, 5.0, 7.0, 361.0, 0.0, 100.0),
            hb(24, 26, 8.0, 6.0, 5.0, 7.0, 361.0, 20.0, 100.0),
        ],
        22,
        66,
    ),
    mv(
        Bair,
        39,
        &[
            hb(4, 7, -9.0, 6.0, 5.5, 15.0, 361.0, 10.0, 100.0),
            hb(8, 19, -9.0, 6.0, 5.0, 9.0, 361.0, 0.0, 100.0),
        ],
        20,
        67,
    ),
    mv(
        Uair,
        39,
        &[
            hb(8, 9, 0.0, 14.0, 5.0, 5.0, 80.0, 0.0, 100.0),
            hb(11, 14, 0.0, 15.0, 6.5, 13.0, 80.0, 35.0, 100.0),
        ],
        18,
        68,
    ),
    mv(
        Dair,
        49,
        &[hb(5, 21, 0.0, 0.0, 5.5, 3.0, 290.0, 0.0, 100.0)],
        18,
        69,
    ),
    // Shine: frame 1, set knockback, a reflector's worth of range.
    Move {
        kind: Special,
        frames: 22,
        hitboxes: &[Hitbox {
            start: 1,
            end: 1,
            x: 0.0,
            y: 6.0,
            r: 8.0,
            damage: 5.0,
            angle: 20.0,
            bkb: 0.0,
            kbg: 0.0,
            fixed: 80.0,
        }],
        landing_lag: 0,
        action: 360,
        sleep_after: 0,
    },
    GRAB,
    mv(
        Fthrow,
        28,
        &[hb(1, 1, 8.0, 8.0, 6.0, 7.0, 45.0, 70.0, 60.0)],
        0,
        219,
    ),
    mv(
        Bthrow,
        30,
        &[hb(1, 1, -8.0, 8.0, 6.0, 2.0, 135.0, 60.0, 50.0)],
        0,
        220,
    ),
];

static PUFF_MOVES: [Move; 16] = [
    mv(
        Jab,
        17,
        &[hb(3, 5, 7.0, 6.0, 4.0, 3.0, 361.0, 0.0, 100.0)],
        0,
        44,
    ),
    mv(
        Ftilt,
        26,
        &[hb(6, 9, 10.0, 5.0, 5.0, 10.0, 361.0, 8.0, 100.0)],
        0,
        53,
    ),
    mv(
        Utilt,
        29,
        &[hb(7, 12, 3.0, 13.0, 5.5, 9.0, 90.0, 20.0, 115.0)],
        0,
        56,
    ),
    mv(
        Dtilt,
        29,
        &[hb(7, 11, 10.0, 1.0, 4.5, 10.0, 30.0, 20.0, 80.0)],
        0,
        57,
    ),
    mv(
        Fsmash,
        44,
        &[hb(14, 17, 9.0, 6.0, 6.0, 16.0, 361.0, 25.0, 100.0)],
        0,
        60,
    ),
    mv(
        Usmash,
        44,
        &[hb(12, 17, 2.0, 16.0, 6.0, 14.0, 90.0, 30.0, 100.0)],
        0,
        63,
    ),
    mv(
        Dsmash,
        44,
        &[
            hb(8, 10, 9.0, 2.0, 6.0, 12.0, 30.0, 20.0, 90.0),
            hb(8, 10, -9.0, 2.0, 6.0, 12.0, 30.0, 20.0, 90.0),
        ],
        0,
        64,
    ),
    mv(
        Nair,
        44,
        &[
            hb(6, 9, 0.0, 5.0, 7.0, 12.0, 361.0, 10.0, 100.0),
            hb(10, 29, 0.0, 5.0, 6.0, 9.0, 361.0, 0.0, 100.0),
        ],
        15,
        65,
    ),
    mv(
        Fair,
        39,
        &[hb(6, 9, 8.0, 5.0, 5.0, 10.0, 361.0, 10.0, 90.0)],
        16,
        66,
    ),
    mv(
        Bair,
        35,
        &[hb(9, 12, -9.0, 5.0, 6.0, 13.0, 361.0, 10.0, 100.0)],
        15,
        67,
    ),
    mv(
        Uair,
        38,
        &[hb(8, 10, 0.0, 12.0, 6.0, 9.0, 80.0, 15.0, 110.0)],
        15,
        68,
    ),
    mv(
        Dair,
        49,
        &[hb(8, 30, 0.0, 0.0, 5.0, 2.0, 290.0, 0.0, 100.0)],
        20,
        69,
    ),
    // Rest: a tiny, huge hitbox on frame 2, then asleep.
    Move {
        kind: Special,
        frames: 40,
        hitboxes: &[hb(2, 2, 0.0, 5.0, 5.5, 20.0, 80.0, 90.0, 100.0)],
        landing_lag: 0,
        action: 369,
        sleep_after: 180,
    },
    GRAB,
    mv(
        Fthrow,
        30,
        &[hb(1, 1, 8.0, 8.0, 6.0, 10.0, 45.0, 60.0, 65.0)],
        0,
        219,
    ),
    mv(
        Bthrow,
        30,
        &[hb(1, 1, -8.0, 8.0, 6.0, 10.0, 135.0, 60.0, 65.0)],
        0,
        220,
    ),
];

static BOWSER_MOVES: [Move; 16] = [
    mv(
        Jab,
        24,
        &[hb(4, 6, 10.0, 12.0, 6.0, 8.0, 361.0, 10.0, 100.0)],
        0,
        44,
    ),
    mv(
        Ftilt,
        33,
        &[hb(9, 12, 13.0, 12.0, 7.0, 13.0, 361.0, 15.0, 90.0)],
        0,
        53,
    ),
    mv(
        Utilt,
        38,
        &[hb(10, 17, 5.0, 22.0, 8.0, 13.0, 90.0, 25.0, 100.0)],
        0,
        56,
    ),
    mv(
        Dtilt,
        42,
        &[hb(12, 15, 12.0, 3.0, 7.0, 14.0, 70.0, 30.0, 80.0)],
        0,
        57,
    ),
    mv(
        Fsmash,
        61,
        &[hb(26, 30, 15.0, 12.0, 8.0, 24.0, 361.0, 30.0, 100.0)],
        0,
        60,
    ),
    mv(
        Usmash,
        59,
        &[hb(16, 23, 0.0, 22.0, 10.0, 22.0, 90.0, 30.0, 100.0)],
        0,
        63,
    ),
    mv(
        Dsmash,
        69,
        &[
            hb(18, 35, 12.0, 3.0, 8.0, 5.0, 20.0, 10.0, 60.0),
            hb(18, 35, -12.0, 3.0, 8.0, 5.0, 20.0, 10.0, 60.0),
        ],
        0,
        64,
    ),
    mv(
        Nair,
        49,
        &[hb(7, 27, 0.0, 10.0, 10.0, 13.0, 361.0, 10.0, 100.0)],
        25,
        65,
    ),
    mv(
        Fair,
        49,
        &[hb(9, 12, 11.0, 10.0, 8.0, 17.0, 361.0, 20.0, 95.0)],
        25,
        66,
    ),
    mv(
        Bair,
        45,
        &[hb(8, 12, -11.0, 10.0, 8.0, 16.0, 361.0, 20.0, 95.0)],
        25,
        67,
    ),
    mv(
        Uair,
        49,
        &[hb(9, 14, 0.0, 22.0, 9.0, 17.0, 80.0, 30.0, 100.0)],
        25,
        68,
    ),
    mv(
        Dair,
        69,
        &[hb(14, 35, 0.0, 0.0, 8.0, 3.0, 290.0, 0.0, 100.0)],
        35,
        69,
    ),
    // Fire breath: a stream of weak hits in front.
    mv(
        Special,
        60,
        &[
            hb(15, 16, 16.0, 12.0, 8.0, 3.0, 361.0, 5.0, 30.0),
            hb(25, 26, 16.0, 12.0, 8.0, 3.0, 361.0, 5.0, 30.0),
            hb(35, 36, 16.0, 12.0, 8.0, 3.0, 361.0, 5.0, 30.0),
        ],
        0,
        341,
    ),
    GRAB,
    mv(
        Fthrow,
        40,
        &[hb(1, 1, 10.0, 10.0, 8.0, 12.0, 45.0, 70.0, 70.0)],
        0,
        219,
    ),
    mv(
        Bthrow,
        40,
        &[hb(1, 1, -10.0, 10.0, 8.0, 10.0, 135.0, 70.0, 70.0)],
        0,
        220,
    ),
];

/// The fighters the simulator has.
pub static FIGHTERS: [Fighter; 3] = [
    Fighter {
        character: ExternalCharacter(2),
        archetype: "fast faller",
        weight: 75.0,
        gravity: 0.23,
        terminal: 2.8,
        fast_fall: 3.4,
        walk: 1.6,
        run: 2.2,
        ground_accel: 0.2,
        friction: 0.08,
        air_speed: 0.83,
        air_accel: 0.08,
        air_friction: 0.02,
        jump_squat: 3,
        full_hop: 3.68,
        short_hop: 2.1,
        double_jump: 4.42,
        air_jumps: 1,
        landing_lag: 4,
        size: (4.0, 13.0),
        moves: &FOX_MOVES,
    },
    Fighter {
        character: ExternalCharacter(15),
        archetype: "floaty",
        weight: 60.0,
        gravity: 0.064,
        terminal: 1.3,
        fast_fall: 1.6,
        walk: 0.7,
        run: 1.1,
        ground_accel: 0.1,
        friction: 0.09,
        air_speed: 1.35,
        air_accel: 0.28,
        air_friction: 0.05,
        jump_squat: 5,
        full_hop: 1.6,
        short_hop: 1.2,
        double_jump: 1.5,
        air_jumps: 5,
        landing_lag: 4,
        size: (5.0, 10.0),
        moves: &PUFF_MOVES,
    },
    Fighter {
        character: ExternalCharacter(5),
        archetype: "heavy",
        weight: 117.0,
        gravity: 0.13,
        terminal: 1.9,
        fast_fall: 2.4,
        walk: 1.0,
        run: 1.5,
        ground_accel: 0.1,
        friction: 0.06,
        air_speed: 0.8,
        air_accel: 0.05,
        air_friction: 0.01,
        jump_squat: 8,
        full_hop: 3.0,
        short_hop: 1.8,
        double_jump: 2.7,
        air_jumps: 1,
        landing_lag: 6,
        size: (7.0, 20.0),
        moves: &BOWSER_MOVES,
    },
];

impl Fighter {
    /// The fighter of a character, if the simulator has it.
    pub fn of(c: ExternalCharacter) -> Option<&'static Fighter> {
        FIGHTERS.iter().find(|f| f.character == c)
    }

    /// Parses a character name the simulator has.
    pub fn parse(text: &str) -> Option<&'static Fighter> {
        ExternalCharacter::parse(text).and_then(Fighter::of)
    }
}
