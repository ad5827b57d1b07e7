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
    /// Up throw.
    Uthrow,
    /// Down throw.
    Dthrow,
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

/// Physics and moves of one character. Field names follow Melee's character attribute table
/// (`ftCo_DatAttrs`); each fighter's values say where they come from.
#[derive(Debug, PartialEq)]
pub struct Fighter {
    /// The character (external id).
    pub character: ExternalCharacter,
    /// Archetype in words.
    pub archetype: &'static str,
    /// Weight.
    pub weight: f32,
    /// Gravity: vertical speed lost per airborne frame.
    pub gravity: f32,
    /// Terminal (maximum) falling speed.
    pub terminal: f32,
    /// Fast-fall speed.
    pub fast_fall: f32,
    /// Walk initial velocity: the stick-proportional part of the walk acceleration.
    pub walk_init_vel: f32,
    /// Walk acceleration: the constant part of the walk acceleration.
    pub walk_accel: f32,
    /// Walk maximum velocity (at full stick; the cap is proportional to the stick).
    pub walk_max_vel: f32,
    /// Ground friction (traction) per frame.
    pub ground_friction: f32,
    /// Dash initial velocity: the ground speed on a dash's first frame from standing.
    pub dash_initial_velocity: f32,
    /// Dash/run acceleration A (times the stick).
    pub dash_run_accel_a: f32,
    /// Dash/run acceleration B (constant).
    pub dash_run_accel_b: f32,
    /// Run terminal velocity (at full stick; the cap is proportional to the stick).
    pub run_terminal_velocity: f32,
    /// The dash frame after which a held stick turns the dash into a run.
    pub dash_run_frame: u16,
    /// Frames of the dash animation (it ends in standing when not run out of).
    pub dash_frames: u16,
    /// Jump squat frames.
    pub jump_squat: u16,
    /// Jump H initial velocity (times the stick) added at takeoff.
    pub jump_h_initial_velocity: f32,
    /// Jump V initial velocity: a full hop's takeoff speed.
    pub jump_v_initial_velocity: f32,
    /// Hop V initial velocity: a short hop's takeoff speed.
    pub hop_v_initial_velocity: f32,
    /// Ground-to-air jump momentum multiplier: the share of ground speed kept at takeoff.
    pub ground_to_air_multiplier: f32,
    /// Jump H maximum velocity: the cap on the takeoff's horizontal speed.
    pub jump_h_max_velocity: f32,
    /// Air jump V multiplier (times the jump V initial velocity).
    pub air_jump_v_multiplier: f32,
    /// Air jump H multiplier (times the jump H initial velocity and the stick).
    pub air_jump_h_multiplier: f32,
    /// Multi-jumpers' per-jump vertical speeds, first aerial jump first (each lower); empty
    /// for everyone else, who use the air jump V multiplier.
    pub air_jump_v: &'static [f32],
    /// Aerial jumps.
    pub air_jumps: u8,
    /// Air mobility A: air acceleration times the stick.
    pub air_mobility_a: f32,
    /// Air mobility B: constant air acceleration.
    pub air_mobility_b: f32,
    /// Maximum aerial horizontal velocity (at full stick; the cap is proportional to the stick).
    pub air_max_h: f32,
    /// Air friction per frame.
    pub air_friction: f32,
    /// Normal landing lag (frames in Landing).
    pub landing_lag: u16,
    /// Frames of an airdodge (EscapeAir) that stays airborne, before helpless fall.
    pub airdodge_frames: u16,
    /// Hurtbox half-width and height.
    pub size: (f32, f32),
    /// Moves.
    pub moves: &'static [Move],
    /// Special moves by direction (see [`crate::specials`]); a direction without one falls
    /// back to the down special, else to the `MoveKind::Special` move.
    pub specials: &'static [Special],
    /// Multi-jumpers' aerial jump actions, first aerial jump first (Jigglypuff's Jump2–6,
    /// 341–345); empty for everyone else, who show JumpAerialF/B.
    pub air_jump_actions: &'static [u16],
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
    /// First jump, forward (or straight up).
    pub const JUMP_F: u16 = 25;
    /// First jump, backward.
    pub const JUMP_B: u16 = 26;
    /// Aerial jump, forward (or straight up).
    pub const JUMP_AERIAL_F: u16 = 27;
    /// Aerial jump, backward.
    pub const JUMP_AERIAL_B: u16 = 28;
    /// Falling.
    pub const FALL: u16 = 29;
    /// Helpless fall (after an airdodge that stays airborne).
    pub const FALL_SPECIAL: u16 = 35;
    /// Landing.
    pub const LANDING: u16 = 42;
    /// Landing helpless, or out of an airdodge (a wavedash's slide).
    pub const LANDING_FALL_SPECIAL: u16 = 43;
    /// An aerial's landing: LandingAirN; F, B, Hi and Lw follow (71–74).
    pub const LANDING_AIR_N: u16 = 70;
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
    /// Walking slowly (stick under half way).
    pub const WALK_SLOW: u16 = 15;
    /// Walking fast (stick past three quarters).
    pub const WALK_FAST: u16 = 17;
    /// Turning around standing (or the one frame before a dash back).
    pub const TURN: u16 = 18;
    /// Turning a run around.
    pub const TURN_RUN: u16 = 19;
    /// Stopping a run.
    pub const RUN_BRAKE: u16 = 23;
    /// Crouching down.
    pub const SQUAT: u16 = 39;
    /// Crouched.
    pub const SQUAT_WAIT: u16 = 40;
    /// Standing up from a crouch.
    pub const SQUAT_RV: u16 = 41;
    /// Shield coming up.
    pub const GUARD_ON: u16 = 178;
    /// Shield released.
    pub const GUARD_OFF: u16 = 180;
    /// The grab pulling the opponent in.
    pub const CATCH_PULL: u16 = 213;
    /// Forward, back, up and down throws: 219, 220, 221, 222.
    pub const THROW_HI: u16 = 221;
    /// Down throw.
    pub const THROW_LW: u16 = 222;
    /// Pulled in by a grab (small victims), then held: 223, 224.
    pub const CAPTURE_PULLED_HI: u16 = 223;
    /// Held (small victims).
    pub const CAPTURE_WAIT_HI: u16 = 224;
    /// Pulled in by a grab, then held: 226, 227.
    pub const CAPTURE_PULLED_LW: u16 = 226;
    /// Held.
    pub const CAPTURE_WAIT_LW: u16 = 227;
    /// Forward roll.
    pub const ESCAPE_F: u16 = 233;
    /// Back roll.
    pub const ESCAPE_B: u16 = 234;
    /// Spot dodge.
    pub const ESCAPE: u16 = 235;
    /// Being thrown forward; back, up and down follow (240–242).
    pub const THROWN_F: u16 = 239;
    /// Dropping through a platform.
    pub const PASS: u16 = 244;
    /// Catching a ledge.
    pub const CLIFF_CATCH: u16 = 252;
    /// Ledge climb (slow, 100% or more; the quick one is 255).
    pub const CLIFF_CLIMB_SLOW: u16 = 254;
    /// Ledge attack (slow; quick 257).
    pub const CLIFF_ATTACK_SLOW: u16 = 256;
    /// Ledge roll (slow; quick 259).
    pub const CLIFF_ESCAPE_SLOW: u16 = 258;
    /// Ledge jump, on the ledge (slow; quick 262).
    pub const CLIFF_JUMP_SLOW_1: u16 = 260;
    /// Ledge jump, airborne (slow; quick 263).
    pub const CLIFF_JUMP_SLOW_2: u16 = 261;
    /// Ledge jump, on the ledge (quick).
    pub const CLIFF_JUMP_QUICK_1: u16 = 262;
    /// Ledge jump, airborne (quick).
    pub const CLIFF_JUMP_QUICK_2: u16 = 263;
    /// Fell out of the bottom blast zone.
    pub const DEAD_DOWN: u16 = 0;
    /// Out of the left blast zone.
    pub const DEAD_LEFT: u16 = 1;
    /// Out of the right blast zone.
    pub const DEAD_RIGHT: u16 = 2;
    /// Out of the top blast zone, not launched.
    pub const DEAD_UP: u16 = 3;
    /// Out of the top blast zone, launched (the star KO).
    pub const DEAD_UP_STAR: u16 = 4;
    /// The respawn platform coming down.
    pub const REBIRTH: u16 = 12;
    /// Tumbling after a strong hit's hitstun.
    pub const DAMAGE_FALL: u16 = 38;
    /// The first weak-hit reaction (DamageHi1); 75–83 are Hi/N/Lw by strength.
    pub const DAMAGE_HI1: u16 = 75;
    /// The first airborne weak-hit reaction (DamageAir1); 84–86 by strength.
    pub const DAMAGE_AIR1: u16 = 84;
    /// Tumble-strength launch, hit high.
    pub const DAMAGE_FLY_HI: u16 = 87;
    /// Tumble-strength launch, hit in the middle.
    pub const DAMAGE_FLY_N: u16 = 88;
    /// Tumble-strength launch, hit low.
    pub const DAMAGE_FLY_LW: u16 = 89;
    /// Tumble-strength launch straight up.
    pub const DAMAGE_FLY_TOP: u16 = 90;
    /// Tumble-strength launch, spinning.
    pub const DAMAGE_FLY_ROLL: u16 = 91;
    /// Missed tech, face up: the bounce (DownBoundU); the face-down ids are 8 higher.
    pub const DOWN_BOUND_U: u16 = 183;
    /// Lying face up (DownWaitU).
    pub const DOWN_WAIT_U: u16 = 184;
    /// Getting up in place, face up (DownStandU).
    pub const DOWN_STAND_U: u16 = 186;
    /// Getup attack, face up (DownAttackU).
    pub const DOWN_ATTACK_U: u16 = 187;
    /// Getup roll forward, face up (DownFowardU, Melee's spelling).
    pub const DOWN_FOWARD_U: u16 = 188;
    /// Getup roll backward, face up (DownBackU).
    pub const DOWN_BACK_U: u16 = 189;
    /// Face-down ids are the face-up ones plus this (DownBoundD = 191, …).
    pub const FACE_DOWN_OFFSET: u16 = 8;
    /// Tech in place.
    pub const PASSIVE: u16 = 199;
    /// Tech roll forward.
    pub const PASSIVE_STAND_F: u16 = 200;
    /// Tech roll backward.
    pub const PASSIVE_STAND_B: u16 = 201;
    /// Helpless fall, backward drift.
    pub const FALL_SPECIAL_B: u16 = 37;
    /// Neutral air (the first of the five aerials, 65–69).
    pub const ATTACK_AIR_N: u16 = 65;
    /// Down air (the last aerial).
    pub const ATTACK_AIR_LW: u16 = 69;
    /// Last ledge action.
    pub const CLIFF_LAST: u16 = 263;
    /// First character-specific id.
    pub const FIRST_SPECIAL: u16 = 341;
}

const GRAB: Move = mv(Grab, 30, &[], 0, 212);

static FOX_MOVES: [Move; 18] = [
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
    // Up and down throws: the lengths are the real replays' (up throw's median 33 frames);
    // damage, angle and knockback are assumed (Melee-like: up throw straight up with high
    // growth, down throw low and behind).
    mv(
        Uthrow,
        33,
        &[hb(1, 1, 0.0, 14.0, 6.0, 2.0, 90.0, 70.0, 110.0)],
        0,
        221,
    ),
    mv(
        Dthrow,
        40,
        &[hb(1, 1, 0.0, 0.0, 6.0, 2.0, 100.0, 60.0, 40.0)],
        0,
        222,
    ),
];

static PUFF_MOVES: [Move; 18] = [
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
    // Aerial landing lags measured from the shared replays (`exphil bench sim-fidelity`):
    // fair, bair, uair 20 (L-cancelled 10; 12, 11 and 14 samples), dair 30 (L-cancelled 15),
    // nair 20 (3 samples only).
    mv(
        Nair,
        44,
        &[
            hb(6, 9, 0.0, 5.0, 7.0, 12.0, 361.0, 10.0, 100.0),
            hb(10, 29, 0.0, 5.0, 6.0, 9.0, 361.0, 0.0, 100.0),
        ],
        20,
        65,
    ),
    mv(
        Fair,
        39,
        &[hb(6, 9, 8.0, 5.0, 5.0, 10.0, 361.0, 10.0, 90.0)],
        20,
        66,
    ),
    mv(
        Bair,
        35,
        &[hb(9, 12, -9.0, 5.0, 6.0, 13.0, 361.0, 10.0, 100.0)],
        20,
        67,
    ),
    mv(
        Uair,
        38,
        &[hb(8, 10, 0.0, 12.0, 6.0, 9.0, 80.0, 15.0, 110.0)],
        20,
        68,
    ),
    mv(
        Dair,
        49,
        &[hb(8, 30, 0.0, 0.0, 5.0, 2.0, 290.0, 0.0, 100.0)],
        30,
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
    // Up and down throws: lengths from the real replays (32 and the one down throw seen, 94);
    // damage and knockback assumed.
    mv(
        Uthrow,
        32,
        &[hb(1, 1, 0.0, 12.0, 6.0, 10.0, 90.0, 60.0, 60.0)],
        0,
        221,
    ),
    mv(
        Dthrow,
        94,
        &[hb(1, 1, 0.0, 0.0, 6.0, 10.0, 80.0, 60.0, 50.0)],
        0,
        222,
    ),
];

static BOWSER_MOVES: [Move; 18] = [
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
    // Up and down throws: assumed.
    mv(
        Uthrow,
        40,
        &[hb(1, 1, 0.0, 20.0, 8.0, 8.0, 90.0, 70.0, 70.0)],
        0,
        221,
    ),
    mv(
        Dthrow,
        40,
        &[hb(1, 1, 0.0, 0.0, 8.0, 8.0, 80.0, 70.0, 60.0)],
        0,
        222,
    ),
];

// ---------------------------------------------------------------------------------------------
// Special moves: what each is made of (their behaviour is `specials.rs`).

/// Which special: B alone or with a direction (Melee's SpecialN, S, Hi and Lw).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecialDir {
    /// Neutral B.
    N,
    /// Side B.
    S,
    /// Up B.
    Hi,
    /// Down B.
    Lw,
}

/// How a phase moves the fighter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Motion {
    /// As an attack: ground friction; in the air drift, gravity and fast fall.
    Drift,
    /// Held still: speed kept at zero (Illusion's startup).
    Stall,
    /// Fire Fox's charge: horizontal speed lost to friction; in the air no fall for `delay`
    /// frames, then `fall` more downward speed each frame.
    Hover {
        /// Frames without falling.
        delay: u16,
        /// Downward speed gained per frame after the delay.
        fall: f32,
    },
    /// A launch along the stick (straight up when neutral) at `speed`, the speed dropping by
    /// `decel` a frame from frame `decel_from` (0-based) of the phase.
    Launch {
        /// Launch speed.
        speed: f32,
        /// First frame that slows down.
        decel_from: u16,
        /// Speed lost per frame.
        decel: f32,
    },
    /// A dash forward at `speed` on frames `from..=to` (0-based), still on the others.
    Dash {
        /// Speed.
        speed: f32,
        /// First moving frame.
        from: u16,
        /// Last moving frame.
        to: u16,
    },
    /// After a dash: `speed` forward on entry, slowing by `decel` a frame; gravity and air
    /// friction in the air, no drift.
    Slide {
        /// Entry speed.
        speed: f32,
        /// Speed lost per frame.
        decel: f32,
    },
    /// Falls without drift (air friction and gravity); ground friction on the ground.
    Fall,
    /// Pound: speed lost by `slow` a frame, then on frame `at` a lunge at `speed` kept at the
    /// rate `keep` per frame; gravity in the air, no drift.
    Lunge {
        /// Frame of the lunge (0-based).
        at: u16,
        /// Speed lost per frame before it.
        slow: f32,
        /// Lunge speed.
        speed: f32,
        /// Share of the speed kept each frame after it.
        keep: f32,
    },
    /// Dolphin Slash: still for `from` frames (falling under gravity in the air), then the
    /// rise: `jump[i]` upward on frame `from + i`, then `vy` upward losing `decel` a frame
    /// until it falls, then `fall` more downward speed a frame.
    Rise {
        /// First rising frame.
        from: u16,
        /// Upward speeds of the first rising frames.
        jump: &'static [f32],
        /// Upward speed after them.
        vy: f32,
        /// Upward speed lost per frame while rising.
        decel: f32,
        /// Downward speed gained per frame while falling.
        fall: f32,
    },
}

/// What touching the ground does to a phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Land {
    /// Normal landing lag (Landing).
    Normal,
    /// The phase goes on, shown with its ground id.
    Stay,
    /// Landing lag `frames` long, shown as `action`.
    Lag {
        /// Melee action id.
        action: u16,
        /// Frames.
        frames: u16,
    },
    /// A helpless landing (LandingFallSpecial).
    Helpless,
}

/// How a phase leads to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    /// The next phase follows when this one ends.
    Always,
    /// The phase plays again when B was pressed during it, else the next follows (the
    /// Blaster's loop).
    RepeatOnB,
    /// The next phase follows only when B was pressed during this one; otherwise the special
    /// ends here (Dancing Blade's follow-ups).
    NextOnB,
    /// The phase ends early when B is let go (Shield Breaker's charge).
    WhileHeld,
}

/// One phase of a special.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// Melee action ids on the ground and in the air (facing right where they differ).
    pub action: [u16; 2],
    /// Added to the ids when facing left (Rest's L ids are 2 below its R ones), else 0.
    pub left_offset: i16,
    /// Frames on the ground and in the air; 0 in the air: until it lands.
    pub frames: [u16; 2],
    /// Hitboxes, frames counted from the phase's first frame (0).
    pub hitboxes: &'static [Hitbox],
    /// Motion.
    pub motion: Motion,
    /// Touching down.
    pub land: Land,
    /// How it leads to the next phase.
    pub chain: Chain,
    /// The frame (0-based) this phase fires the special's shot, if it has one.
    pub fire: Option<u16>,
    /// Frames (0-based, inclusive) in which hitboxes pass through (Counter's window).
    pub intangible: Option<(u16, u16)>,
}

/// A projectile's flight and hitbox.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShotKind {
    /// Launch point ahead of and above the feet.
    pub offset: (f32, f32),
    /// Speed (units per frame, forward).
    pub speed: f32,
    /// Frames it flies.
    pub life: u16,
    /// Its hitbox (position unused; radius, damage and knockback).
    pub hitbox: Hitbox,
}

/// A special move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Special {
    /// Its input.
    pub dir: SpecialDir,
    /// Its phases, in order.
    pub phases: &'static [Phase],
    /// Ends in helpless fall (FallSpecial) when airborne, and may grab ledges.
    pub helpless: bool,
    /// Its projectile.
    pub shot: Option<ShotKind>,
}

/// A phase with the usual defaults: drift, normal landing, always chained, no shot.
pub const fn phase(action: [u16; 2], frames: [u16; 2], hitboxes: &'static [Hitbox]) -> Phase {
    Phase {
        action,
        left_offset: 0,
        frames,
        hitboxes,
        motion: Motion::Drift,
        land: Land::Normal,
        chain: Chain::Always,
        fire: None,
        intangible: None,
    }
}

impl Phase {
    /// With this motion.
    pub const fn motion(mut self, m: Motion) -> Phase {
        self.motion = m;
        self
    }
    /// With this landing.
    pub const fn land(mut self, l: Land) -> Phase {
        self.land = l;
        self
    }
    /// With this chain.
    pub const fn chain(mut self, c: Chain) -> Phase {
        self.chain = c;
        self
    }
    /// Firing the shot on this frame.
    pub const fn fire(mut self, frame: u16) -> Phase {
        self.fire = Some(frame);
        self
    }
    /// Intangible on these frames.
    pub const fn intangible(mut self, from: u16, to: u16) -> Phase {
        self.intangible = Some((from, to));
        self
    }
    /// Facing left, the ids are offset by this.
    pub const fn left_offset(mut self, d: i16) -> Phase {
        self.left_offset = d;
        self
    }
}

impl Fighter {
    /// The special for a direction, if the fighter has one.
    pub fn special(&self, dir: SpecialDir) -> Option<&'static Special> {
        self.specials.iter().find(|s| s.dir == dir)
    }
}

// Special moves. Action ids are Melee's character motion states, numbered from 341
// (ftCo_MS_Count) in the order of the decompilation's enums (doldecomp/melee
// `ft/chara/ftFox/forward.h` `ftFox_MotionState`, shared by Falco; `ftPurin/forward.h`;
// `ftMars/forward.h`), named below as libmelee / slippi-js name them where they do. Frame counts
// are the most common run lengths of those ids in the shared replays (their `MANIFEST.tsv`
// games), unless a comment says otherwise; motion values come from those replays or from
// meleelight (schmooblidon/meleelight, `src/characters/*/moves`), hitboxes from meleelight's
// tables (`hitbox(size, damage, angle, growth, base)`) unless marked assumed.

/// Fox's Blaster shot: 3% and no knockback (Melee's laser neither flinches nor launches).
/// Speed, life and radius are assumed; the launch point is meleelight's (8 ahead, 9 up).
const FOX_LASER: ShotKind = ShotKind {
    offset: (8.0, 9.0),
    speed: 7.0,
    life: 35,
    hitbox: hb(0, 0, 0.0, 0.0, 1.5, 3.0, 361.0, 0.0, 0.0),
};

/// Falco's Blaster shot: 3% with knockback that flinches (growth and base assumed).
const FALCO_LASER: ShotKind = ShotKind {
    offset: (8.0, 9.0),
    speed: 6.0,
    life: 35,
    hitbox: hb(0, 0, 0.0, 0.0, 1.5, 3.0, 361.0, 0.0, 100.0),
};

/// Blaster: SpecialNStart (341, 6 frames) / SpecialAirNStart (344, 4); the loop
/// SpecialNLoop (342, 10) / SpecialAirNLoop (345, 16), firing on its second frame (assumed)
/// and played again when B is pressed during it; SpecialNEnd (343, 24) / SpecialAirNEnd
/// (346, 22). Landing cuts it into a normal landing, as the replays show (345 → 42).
static FOX_BLASTER: [Phase; 3] = [
    phase([341, 344], [6, 4], &[]),
    phase([342, 345], [10, 16], &[])
        .chain(Chain::RepeatOnB)
        .fire(1),
    phase([343, 346], [24, 22], &[]),
];

/// Falco's Blaster: the same states; his ground loop lasts 24 frames and his end 25.
static FALCO_BLASTER: [Phase; 3] = [
    phase([341, 344], [6, 4], &[]),
    phase([342, 345], [24, 16], &[])
        .chain(Chain::RepeatOnB)
        .fire(1),
    phase([343, 346], [25, 22], &[]),
];

/// Illusion's dash hitbox, reaching back over the frame's 18.72 units (7%, angle and
/// knockback assumed).
static FOX_ILLUSION_HB: [Hitbox; 1] = [hb(1, 3, -9.0, 6.0, 10.0, 7.0, 80.0, 40.0, 50.0)];

/// Fox Illusion: SpecialSStart (347) / SpecialAirSStart (350), 19 frames held still; the
/// dash SpecialS (348) / SpecialAirS (351), 4 frames, the last three at 18.72 units a frame
/// (the replays' figure, 56.16 in all); SpecialSEnd (349) / SpecialAirSEnd (352), 39 frames
/// (meleelight's ground end) sliding from 2.1 (meleelight), then helpless when airborne.
static FOX_ILLUSION: [Phase; 3] = [
    phase([347, 350], [19, 19], &[])
        .motion(Motion::Stall)
        .land(Land::Stay),
    phase([348, 351], [4, 4], &FOX_ILLUSION_HB)
        .motion(Motion::Dash {
            speed: 18.72,
            from: 1,
            to: 3,
        })
        .land(Land::Stay),
    phase([349, 352], [39, 39], &[])
        .motion(Motion::Slide {
            speed: 2.1,
            decel: 0.1,
        })
        .land(Land::Helpless),
];

/// Falco's Phantasm dash hitbox (7%; angle and knockback assumed).
static FALCO_PHANTASM_HB: [Hitbox; 1] = [hb(1, 3, -8.0, 6.0, 9.0, 7.0, 20.0, 30.0, 50.0)];

/// Falco Phantasm: the same states; 15 frames of startup, 16.5 units a frame in the dash
/// (the replays' figures) and 40 frames of end (the replays' longest).
static FALCO_PHANTASM: [Phase; 3] = [
    phase([347, 350], [15, 15], &[])
        .motion(Motion::Stall)
        .land(Land::Stay),
    phase([348, 351], [4, 4], &FALCO_PHANTASM_HB)
        .motion(Motion::Dash {
            speed: 16.5,
            from: 1,
            to: 3,
        })
        .land(Land::Stay),
    phase([349, 352], [40, 40], &[])
        .motion(Motion::Slide {
            speed: 2.1,
            decel: 0.1,
        })
        .land(Land::Helpless),
];

/// Fire Fox's charge: 2% hits every other frame (meleelight's frames 20–33: size 8.2,
/// angle 70, growth 40, base 40).
static FIREFOX_CHARGE_HB: [Hitbox; 7] = [
    hb(19, 19, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(21, 21, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(23, 23, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(25, 25, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(27, 27, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(29, 29, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
    hb(31, 31, 0.0, 7.5, 8.2, 2.0, 70.0, 40.0, 40.0),
];

/// Fire Fox's launch: 14%, angle 80, growth 60, base 60 (meleelight), all the way.
static FIREFOX_LAUNCH_HB: [Hitbox; 1] = [hb(0, 29, 0.0, 8.0, 6.0, 14.0, 80.0, 60.0, 60.0)];

/// Fire Bird's launch hitbox (damage and knockback assumed Fire Fox's).
static FIREBIRD_LAUNCH_HB: [Hitbox; 1] = [hb(0, 21, 0.0, 8.0, 6.0, 14.0, 80.0, 60.0, 60.0)];

/// Fire Fox: SpecialHiHold (353, libmelee FIREFOX_WAIT_GROUND) / SpecialHiHoldAir (354,
/// FIREFOX_WAIT_AIR), 42 frames, falling slowly after 15 (meleelight: 0.015 a frame from
/// frame 16); the launch SpecialHi (355, FIREFOX_GROUND) / SpecialHiAir (356, FIREFOX_AIR),
/// 30 frames at 3.8 along the stick, slowing by 0.1 a frame from its sixth (meleelight);
/// then SpecialHiLanding (357) / SpecialHiFall (358), 20 frames, and FallSpecial (35) when
/// airborne. Touching down in the launch or the fall: SpecialHiLanding for 6 frames.
static FOX_FIREFOX: [Phase; 3] = [
    phase([353, 354], [42, 42], &FIREFOX_CHARGE_HB)
        .motion(Motion::Hover {
            delay: 15,
            fall: 0.015,
        })
        .land(Land::Stay),
    phase([355, 356], [30, 30], &FIREFOX_LAUNCH_HB)
        .motion(Motion::Launch {
            speed: 3.8,
            decel_from: 5,
            decel: 0.1,
        })
        .land(Land::Lag {
            action: 357,
            frames: 6,
        }),
    phase([357, 358], [20, 20], &[])
        .motion(Motion::Fall)
        .land(Land::Lag {
            action: 357,
            frames: 6,
        }),
];

/// Fire Bird: the same states; the launch lasts 22 frames (the replays), its speed is
/// assumed Fox's 3.8, and it slows from its fourth frame by 0.15 (from the replays' vertical
/// speeds).
static FALCO_FIREBIRD: [Phase; 3] = [
    phase([353, 354], [42, 42], &FIREFOX_CHARGE_HB)
        .motion(Motion::Hover {
            delay: 15,
            fall: 0.015,
        })
        .land(Land::Stay),
    phase([355, 356], [22, 22], &FIREBIRD_LAUNCH_HB)
        .motion(Motion::Launch {
            speed: 3.8,
            decel_from: 3,
            decel: 0.15,
        })
        .land(Land::Lag {
            action: 357,
            frames: 6,
        }),
    phase([357, 358], [20, 20], &[])
        .motion(Motion::Fall)
        .land(Land::Lag {
            action: 357,
            frames: 6,
        }),
];

static FOX_SPECIALS: [Special; 3] = [
    Special {
        dir: SpecialDir::N,
        phases: &FOX_BLASTER,
        helpless: false,
        shot: Some(FOX_LASER),
    },
    Special {
        dir: SpecialDir::S,
        phases: &FOX_ILLUSION,
        helpless: true,
        shot: None,
    },
    Special {
        dir: SpecialDir::Hi,
        phases: &FOX_FIREFOX,
        helpless: true,
        shot: None,
    },
];

static FALCO_SPECIALS: [Special; 3] = [
    Special {
        dir: SpecialDir::N,
        phases: &FALCO_BLASTER,
        helpless: false,
        shot: Some(FALCO_LASER),
    },
    Special {
        dir: SpecialDir::S,
        phases: &FALCO_PHANTASM,
        helpless: true,
        shot: None,
    },
    Special {
        dir: SpecialDir::Hi,
        phases: &FALCO_FIREBIRD,
        helpless: true,
        shot: None,
    },
];

/// Rest's hitbox: Melee's frame 2, tiny and strong.
static REST_HB: [Hitbox; 1] = [hb(1, 1, 0.0, 5.0, 5.5, 20.0, 80.0, 90.0, 100.0)];

/// Pound's hitbox (12%, angle, knockback and frames assumed; the lunge is the replays').
static POUND_HB: [Hitbox; 1] = [hb(11, 15, 8.0, 5.0, 6.0, 12.0, 361.0, 20.0, 80.0)];

/// Jigglypuff's Pound: SpecialS (363) / SpecialAirS (364), 45 frames; speed lost by 0.05 a
/// frame, then on frame 11 a lunge at 1.9 keeping 0.92 of it a frame (the replays).
static PUFF_POUND: [Phase; 1] = [phase([363, 364], [45, 45], &POUND_HB)
    .motion(Motion::Lunge {
        at: 11,
        slow: 0.05,
        speed: 1.9,
        keep: 0.92,
    })
    .land(Land::Stay)];

/// Jigglypuff's Rest: SpecialLwR (371) / SpecialAirLwR (372) facing right, SpecialLwL (369)
/// / SpecialAirLwL (370) facing left. She sleeps in it: the real replays stay in 369/371 up to
/// 200 frames (taken as its length from the start) and fall in 370/372 until they land.
static PUFF_REST: [Phase; 1] = [phase([371, 372], [200, 0], &REST_HB)
    .left_offset(-2)
    .motion(Motion::Fall)
    .land(Land::Stay)];

static PUFF_SPECIALS: [Special; 2] = [
    Special {
        dir: SpecialDir::S,
        phases: &PUFF_POUND,
        helpless: false,
        shot: None,
    },
    Special {
        dir: SpecialDir::Lw,
        phases: &PUFF_REST,
        helpless: false,
        shot: None,
    },
];

/// Shield Breaker, uncharged: 7%, angle 361, growth 100, base 30 (meleelight); frames assumed.
static SHIELD_BREAKER_HB: [Hitbox; 1] = [hb(4, 7, 16.0, 8.0, 5.0, 7.0, 361.0, 30.0, 100.0)];

/// Marth's Shield Breaker: SpecialNStart (341) / SpecialAirNStart (345), 11 frames; the
/// charge SpecialNLoop (342) / SpecialAirNLoop (346) while B is held, up to 60; the swing
/// SpecialNEnd0 (343) / SpecialAirNEnd0 (347), 37 frames (the replays' longest common).
static MARTH_SHIELD_BREAKER: [Phase; 3] = [
    phase([341, 345], [11, 11], &[]),
    phase([342, 346], [60, 60], &[]).chain(Chain::WhileHeld),
    phase([343, 347], [37, 37], &SHIELD_BREAKER_HB),
];

/// Dancing Blade's four hits (meleelight: 4% angle 85 growth 25 base 55; 5% angle 90 growth
/// 40 base 30; 10% angle 361 growth 160; 14% angle 361 growth 120 base 15); frames assumed.
static DB1_HB: [Hitbox; 1] = [hb(5, 8, 12.0, 10.0, 5.0, 4.0, 85.0, 55.0, 25.0)];
static DB2_HB: [Hitbox; 1] = [hb(4, 7, 12.0, 12.0, 5.0, 5.0, 90.0, 30.0, 40.0)];
static DB3_HB: [Hitbox; 1] = [hb(5, 8, 14.0, 9.0, 5.0, 10.0, 361.0, 0.0, 160.0)];
static DB4_HB: [Hitbox; 1] = [hb(8, 11, 14.0, 9.0, 5.0, 14.0, 361.0, 15.0, 120.0)];

/// Dancing Blade: SpecialS1 (349) / SpecialAirS1 (358), 29 frames (the replays), each next
/// hit only when B is pressed in the one before: SpecialS2Hi (350 / 359), SpecialS3S (353 /
/// 362), SpecialS4S (356 / 365); their lengths are assumed 29, 29 and 40. Momentum carries
/// with air friction and no drift (the replays' air 358 slides at a nearly constant speed).
static MARTH_DANCING_BLADE: [Phase; 4] = [
    phase([349, 358], [29, 29], &DB1_HB)
        .motion(Motion::Fall)
        .land(Land::Stay)
        .chain(Chain::NextOnB),
    phase([350, 359], [29, 29], &DB2_HB)
        .motion(Motion::Fall)
        .land(Land::Stay)
        .chain(Chain::NextOnB),
    phase([353, 362], [29, 29], &DB3_HB)
        .motion(Motion::Fall)
        .land(Land::Stay)
        .chain(Chain::NextOnB),
    phase([356, 365], [40, 40], &DB4_HB)
        .motion(Motion::Fall)
        .land(Land::Stay),
];

/// Dolphin Slash: the frame-5 sweet spot and the rising hits (13% and 7%, angle 80; knockback
/// assumed).
static DOLPHIN_SLASH_HB: [Hitbox; 2] = [
    hb(4, 4, 8.0, 10.0, 7.0, 13.0, 80.0, 80.0, 70.0),
    hb(5, 9, 4.0, 20.0, 7.0, 7.0, 80.0, 60.0, 70.0),
];

/// Dolphin Slash: SpecialHi (367) / SpecialAirHi (368), 39 frames, then helpless. Its rise is
/// the replays': five frames still, then 14.12, 15.21 and 8.44 up, then 2.28 up losing about
/// 0.2 a frame, then falling 0.06 a frame faster.
static MARTH_DOLPHIN_SLASH: [Phase; 1] = [phase([367, 368], [39, 39], &DOLPHIN_SLASH_HB)
    .motion(Motion::Rise {
        from: 5,
        jump: &[14.12, 15.21, 8.44],
        vy: 2.28,
        decel: 0.2,
        fall: 0.06,
    })
    .land(Land::Helpless)];

/// Counter: SpecialLw (369) / SpecialAirLw (371), 59 frames, intangible on frames 4–28 (the
/// window; the counterattack itself, SpecialLwHit 370 / 372, is not simulated). Assumed.
static MARTH_COUNTER: [Phase; 1] = [phase([369, 371], [59, 59], &[])
    .motion(Motion::Fall)
    .land(Land::Stay)
    .intangible(4, 28)];

static MARTH_SPECIALS: [Special; 4] = [
    Special {
        dir: SpecialDir::N,
        phases: &MARTH_SHIELD_BREAKER,
        helpless: false,
        shot: None,
    },
    Special {
        dir: SpecialDir::S,
        phases: &MARTH_DANCING_BLADE,
        helpless: false,
        shot: None,
    },
    Special {
        dir: SpecialDir::Hi,
        phases: &MARTH_DOLPHIN_SLASH,
        helpless: true,
        shot: None,
    },
    Special {
        dir: SpecialDir::Lw,
        phases: &MARTH_COUNTER,
        helpless: false,
        shot: None,
    },
];

// Falco's and Marth's normal moves: action ids are Melee's common ones (as Fox's); landing
// lags are the real replays' (L-cancelled halves match them too). Marth's smashes and throws
// and Falco's shine are meleelight's values; the rest are assumed, Fox-like for Falco.
static FALCO_MOVES: [Move; 18] = [
    mv(
        Jab,
        17,
        &[hb(2, 3, 8.0, 7.0, 4.0, 4.0, 361.0, 0.0, 100.0)],
        0,
        44,
    ),
    mv(
        Ftilt,
        27,
        &[hb(5, 8, 10.0, 8.0, 4.5, 9.0, 361.0, 10.0, 100.0)],
        0,
        53,
    ),
    mv(
        Utilt,
        24,
        &[hb(5, 11, 4.0, 15.0, 5.5, 9.0, 110.0, 18.0, 130.0)],
        0,
        56,
    ),
    mv(
        Dtilt,
        28,
        &[hb(7, 9, 10.0, 2.0, 4.5, 12.0, 80.0, 30.0, 100.0)],
        0,
        57,
    ),
    mv(
        Fsmash,
        39,
        &[hb(12, 15, 12.0, 8.0, 5.0, 16.0, 361.0, 20.0, 100.0)],
        0,
        60,
    ),
    mv(
        Usmash,
        41,
        &[hb(7, 17, 2.0, 18.0, 7.0, 17.0, 80.0, 30.0, 112.0)],
        0,
        63,
    ),
    mv(
        Dsmash,
        49,
        &[
            hb(6, 9, 11.0, 2.0, 5.5, 16.0, 25.0, 20.0, 70.0),
            hb(6, 9, -11.0, 2.0, 5.5, 16.0, 25.0, 20.0, 70.0),
        ],
        0,
        64,
    ),
    mv(
        Nair,
        42,
        &[
            hb(4, 7, 0.0, 7.0, 7.0, 12.0, 361.0, 10.0, 100.0),
            hb(8, 31, 0.0, 7.0, 6.0, 9.0, 361.0, 0.0, 100.0),
        ],
        // Melee's 15 (meleelight's LANDINGATTACKAIRN): every real landing that runs out is
        // 15; the 14 once read from the replays counted landings cut short by a hit.
        15,
        65,
    ),
    mv(
        Fair,
        59,
        &[hb(6, 28, 8.0, 7.0, 5.0, 5.0, 361.0, 10.0, 100.0)],
        22,
        66,
    ),
    mv(
        Bair,
        39,
        &[
            hb(4, 7, -9.0, 7.0, 5.5, 15.0, 361.0, 10.0, 100.0),
            hb(8, 19, -9.0, 7.0, 5.0, 9.0, 361.0, 0.0, 100.0),
        ],
        20,
        67,
    ),
    mv(
        Uair,
        39,
        &[hb(8, 14, 0.0, 16.0, 6.0, 13.0, 80.0, 30.0, 100.0)],
        18,
        68,
    ),
    // The spike.
    mv(
        Dair,
        49,
        &[hb(5, 19, 0.0, 0.0, 5.5, 12.0, 290.0, 10.0, 100.0)],
        18,
        69,
    ),
    // Shine (Reflector, SpecialLwStart 360): 8%, sends upward (meleelight's values, assumed).
    mv(
        Special,
        22,
        &[hb(1, 1, 0.0, 7.0, 8.0, 8.0, 84.0, 80.0, 50.0)],
        0,
        360,
    ),
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
        &[hb(1, 1, -8.0, 8.0, 6.0, 6.0, 135.0, 60.0, 50.0)],
        0,
        220,
    ),
    // Up and down throws: Fox's (a clone's; lengths the replays' Fox ones, knockback assumed).
    mv(
        Uthrow,
        33,
        &[hb(1, 1, 0.0, 14.0, 6.0, 2.0, 90.0, 70.0, 110.0)],
        0,
        221,
    ),
    mv(
        Dthrow,
        40,
        &[hb(1, 1, 0.0, 0.0, 6.0, 2.0, 100.0, 60.0, 40.0)],
        0,
        222,
    ),
];

static MARTH_MOVES: [Move; 18] = [
    mv(
        Jab,
        20,
        &[hb(4, 7, 14.0, 10.0, 5.0, 8.0, 361.0, 0.0, 100.0)],
        0,
        44,
    ),
    mv(
        Ftilt,
        35,
        &[hb(7, 10, 16.0, 10.0, 5.0, 12.0, 361.0, 15.0, 75.0)],
        0,
        53,
    ),
    mv(
        Utilt,
        35,
        &[hb(7, 12, 5.0, 22.0, 7.0, 11.0, 80.0, 30.0, 100.0)],
        0,
        56,
    ),
    mv(
        Dtilt,
        23,
        &[hb(7, 9, 18.0, 2.0, 4.5, 10.0, 45.0, 20.0, 50.0)],
        0,
        57,
    ),
    mv(
        Fsmash,
        47,
        &[
            hb(10, 13, 24.0, 8.0, 4.0, 20.0, 361.0, 80.0, 70.0),
            hb(10, 13, 14.0, 10.0, 6.0, 14.0, 361.0, 60.0, 70.0),
        ],
        0,
        60,
    ),
    mv(
        Usmash,
        45,
        &[hb(13, 16, 0.0, 24.0, 6.0, 18.0, 90.0, 60.0, 80.0)],
        0,
        63,
    ),
    mv(
        Dsmash,
        59,
        &[
            hb(6, 8, 18.0, 3.0, 5.0, 16.0, 70.0, 70.0, 100.0),
            hb(21, 23, -15.0, 3.0, 5.0, 16.0, 75.0, 70.0, 100.0),
        ],
        0,
        64,
    ),
    mv(
        Nair,
        48,
        &[
            hb(6, 8, 10.0, 10.0, 7.0, 8.0, 361.0, 20.0, 90.0),
            hb(15, 21, 0.0, 12.0, 10.0, 12.0, 361.0, 20.0, 90.0),
        ],
        15,
        65,
    ),
    mv(
        Fair,
        33,
        &[hb(4, 7, 12.0, 10.0, 7.0, 13.0, 361.0, 10.0, 80.0)],
        15,
        66,
    ),
    mv(
        Bair,
        39,
        &[hb(7, 10, -12.0, 10.0, 7.0, 13.0, 361.0, 10.0, 80.0)],
        24,
        67,
    ),
    mv(
        Uair,
        39,
        &[hb(5, 9, 0.0, 20.0, 8.0, 13.0, 90.0, 10.0, 80.0)],
        15,
        68,
    ),
    // The sword tip spikes.
    mv(
        Dair,
        49,
        &[hb(6, 9, 8.0, -2.0, 7.0, 14.0, 290.0, 10.0, 80.0)],
        32,
        69,
    ),
    // Not reached (Marth has a special for every direction): Shield Breaker's swing.
    mv(Special, 37, &SHIELD_BREAKER_HB, 0, 343),
    GRAB,
    mv(
        Fthrow,
        30,
        &[hb(1, 1, 8.0, 8.0, 6.0, 4.0, 50.0, 70.0, 45.0)],
        0,
        219,
    ),
    mv(
        Bthrow,
        30,
        &[hb(1, 1, -8.0, 8.0, 6.0, 4.0, 117.0, 70.0, 60.0)],
        0,
        220,
    ),
    // Up and down throws: lengths and knockback assumed (Fox's lengths; up straight up, down
    // low and forward).
    mv(
        Uthrow,
        33,
        &[hb(1, 1, 0.0, 14.0, 6.0, 4.0, 90.0, 70.0, 60.0)],
        0,
        221,
    ),
    mv(
        Dthrow,
        40,
        &[hb(1, 1, 0.0, 0.0, 6.0, 4.0, 70.0, 70.0, 50.0)],
        0,
        222,
    ),
];

/// Jigglypuff's five aerial jumps' vertical speeds. Derived, not read from Melee's table: the
/// speeds whose apexes (gravity applied on the jump's first frame, as for every aerial jump)
/// are the real replays' 20.45, 18.96, 16.15, 13.78 and 11.59 (`exphil bench sim-fidelity` on
/// the shared games: 68, 45, 18, 13 and 2 samples).
static PUFF_AIR_JUMPS: [f32; 5] = [1.65, 1.59, 1.47, 1.36, 1.25];

/// The fighters the simulator has.
pub static FIGHTERS: [Fighter; 5] = [
    // Fox: Melee's attribute values (as in meleelight's table of Melee's data, whose "dash turn
    // initial velocity" 1.9 is the dash initial velocity the real replays show), except where
    // a comment says a value was derived from real replays.
    Fighter {
        character: ExternalCharacter(2),
        archetype: "fast faller",
        weight: 75.0,
        gravity: 0.23,
        terminal: 2.8,
        fast_fall: 3.4,
        walk_init_vel: 0.16,
        walk_accel: 0.2,
        walk_max_vel: 1.6,
        ground_friction: 0.08,
        dash_initial_velocity: 1.9,
        dash_run_accel_a: 0.1,
        dash_run_accel_b: 0.02,
        run_terminal_velocity: 2.2,
        dash_run_frame: 11,
        dash_frames: 21,
        jump_squat: 3,
        jump_h_initial_velocity: 0.72,
        jump_v_initial_velocity: 3.68,
        hop_v_initial_velocity: 2.1,
        // meleelight's table (Melee's 0.83), which the real replays confirm once the jump
        // squat's friction is counted: 1.666 left on the last jump-squat frame, stick
        // neutral, takes off at 1.383 = 1.666 x 0.83.
        ground_to_air_multiplier: 0.83,
        jump_h_max_velocity: 1.7,
        air_jump_v_multiplier: 1.2,
        air_jump_h_multiplier: 0.9,
        air_jump_v: &[],
        air_jumps: 1,
        air_mobility_a: 0.06,
        air_mobility_b: 0.02,
        air_max_h: 0.83,
        air_friction: 0.02,
        landing_lag: 4,
        // The real replays: 49 frames of EscapeAir, then FallSpecial.
        airdodge_frames: 49,
        size: (4.0, 13.0),
        moves: &FOX_MOVES,
        specials: &FOX_SPECIALS,
        air_jump_actions: &[],
    },
    // Jigglypuff: Melee's attribute values (meleelight's table), except the aerial jumps
    // (derived, see PUFF_AIR_JUMPS) and the three marked as assumed.
    Fighter {
        character: ExternalCharacter(15),
        archetype: "floaty",
        weight: 60.0,
        gravity: 0.064,
        terminal: 1.3,
        fast_fall: 1.6,
        walk_init_vel: 0.16,
        walk_accel: 0.1,
        walk_max_vel: 0.7,
        ground_friction: 0.09,
        dash_initial_velocity: 1.4,
        dash_run_accel_a: 0.065,
        dash_run_accel_b: 0.02,
        run_terminal_velocity: 1.1,
        dash_run_frame: 12,
        dash_frames: 23,
        jump_squat: 5,
        jump_h_initial_velocity: 0.7,
        jump_v_initial_velocity: 1.6,
        hop_v_initial_velocity: 1.05,
        ground_to_air_multiplier: 1.0,
        jump_h_max_velocity: 1.35,
        air_jump_v_multiplier: 1.0,
        // Assumed (not in the tables we have): the aerial jumps' drift is the jump H initial
        // velocity times the stick.
        air_jump_h_multiplier: 1.0,
        air_jump_v: &PUFF_AIR_JUMPS,
        air_jumps: 5,
        air_mobility_a: 0.09,
        air_mobility_b: 0.19,
        air_max_h: 1.35,
        air_friction: 0.05,
        // Assumed: the common normal landing lag.
        landing_lag: 4,
        // Assumed: Fox's airdodge length (Jigglypuff's own was not measured).
        airdodge_frames: 49,
        size: (5.0, 10.0),
        moves: &PUFF_MOVES,
        specials: &PUFF_SPECIALS,
        // Melee's ftPurin motion states Jump2..Jump6 (341–345).
        air_jump_actions: &[341, 342, 343, 344, 345],
    },
    // Bowser: weight, gravity, terminal and fast-fall speeds, jump squat, air speed, air
    // acceleration, air friction and the double jump's vertical speed (2.8) are Melee's, the
    // figures `fidelity::documented` checks the simulator against. The rest are the
    // simulator's earlier values renamed into Melee's attributes (walk 1.0, run 1.5, ground
    // acceleration 0.1, friction 0.06, full/short hop 3.0/1.8, landing lag 6) and, where the
    // old model had no such attribute, Fox's value; none of these were checked against
    // Melee's table.
    Fighter {
        character: ExternalCharacter(5),
        archetype: "heavy",
        weight: 117.0,
        gravity: 0.13,
        terminal: 1.9,
        fast_fall: 2.4,
        walk_init_vel: 0.0,
        walk_accel: 0.1,
        walk_max_vel: 1.0,
        ground_friction: 0.06,
        dash_initial_velocity: 1.5,
        dash_run_accel_a: 0.1,
        dash_run_accel_b: 0.0,
        run_terminal_velocity: 1.5,
        dash_run_frame: 11,
        dash_frames: 21,
        jump_squat: 8,
        jump_h_initial_velocity: 0.72,
        jump_v_initial_velocity: 3.0,
        hop_v_initial_velocity: 1.8,
        ground_to_air_multiplier: 0.8,
        jump_h_max_velocity: 1.7,
        // Melee's double-jump vertical speed 2.8 over the full hop's 3.0.
        air_jump_v_multiplier: 2.8 / 3.0,
        air_jump_h_multiplier: 0.9,
        air_jump_v: &[],
        air_jumps: 1,
        air_mobility_a: 0.05,
        air_mobility_b: 0.0,
        air_max_h: 0.8,
        air_friction: 0.01,
        landing_lag: 6,
        airdodge_frames: 49,
        size: (7.0, 20.0),
        moves: &BOWSER_MOVES,
        specials: &[],
        air_jump_actions: &[],
    },
    // Falco: Melee's attribute values (meleelight's table of Melee's data, taking its dash
    // turn initial velocity 1.9 as the dash initial velocity, as for Fox), checked against the
    // real replays by the fidelity bench; the dash-to-run frame is the replays' 11-frame dash.
    Fighter {
        character: ExternalCharacter(20),
        archetype: "fast faller",
        weight: 80.0,
        gravity: 0.17,
        terminal: 3.1,
        fast_fall: 3.5,
        walk_init_vel: 0.2,
        walk_accel: 0.1,
        walk_max_vel: 1.4,
        ground_friction: 0.08,
        dash_initial_velocity: 1.9,
        dash_run_accel_a: 0.1,
        dash_run_accel_b: 0.02,
        run_terminal_velocity: 1.5,
        dash_run_frame: 11,
        dash_frames: 21,
        jump_squat: 5,
        jump_h_initial_velocity: 0.7,
        jump_v_initial_velocity: 4.1,
        hop_v_initial_velocity: 1.9,
        ground_to_air_multiplier: 1.0,
        jump_h_max_velocity: 1.7,
        air_jump_v_multiplier: 0.94,
        air_jump_h_multiplier: 0.94,
        air_jump_v: &[],
        air_jumps: 1,
        air_mobility_a: 0.05,
        air_mobility_b: 0.02,
        air_max_h: 0.83,
        air_friction: 0.02,
        landing_lag: 4,
        // The real replays: 49 frames, as Fox's.
        airdodge_frames: 49,
        // Assumed (a little taller than Fox).
        size: (4.5, 14.0),
        moves: &FALCO_MOVES,
        specials: &FALCO_SPECIALS,
        air_jump_actions: &[],
    },
    // Marth: Melee's attribute values (meleelight's table), checked against the real replays
    // by the fidelity bench; the dash-to-run frame is the replays' 15-frame dash.
    Fighter {
        character: ExternalCharacter(9),
        archetype: "swordsman",
        weight: 87.0,
        gravity: 0.085,
        terminal: 2.2,
        fast_fall: 2.5,
        walk_init_vel: 0.15,
        walk_accel: 0.0,
        walk_max_vel: 1.6,
        ground_friction: 0.06,
        dash_initial_velocity: 1.5,
        dash_run_accel_a: 0.06,
        dash_run_accel_b: 0.0,
        run_terminal_velocity: 1.8,
        dash_run_frame: 15,
        dash_frames: 27,
        jump_squat: 4,
        jump_h_initial_velocity: 1.0,
        jump_v_initial_velocity: 2.4,
        hop_v_initial_velocity: 1.5,
        ground_to_air_multiplier: 0.8,
        jump_h_max_velocity: 1.2,
        air_jump_v_multiplier: 0.88,
        air_jump_h_multiplier: 1.0,
        air_jump_v: &[],
        air_jumps: 1,
        air_mobility_a: 0.03,
        air_mobility_b: 0.02,
        air_max_h: 0.9,
        air_friction: 0.005,
        landing_lag: 4,
        // The real replays: 49 frames.
        airdodge_frames: 49,
        // Assumed.
        size: (4.5, 17.0),
        moves: &MARTH_MOVES,
        specials: &MARTH_SPECIALS,
        air_jump_actions: &[],
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
