//! A player's state in the simulator: what it is doing ([`Act`], [`Opt`]), where and how fast,
//! its damage, shield, stocks, inputs and projectiles ([`Player`]). The game (`game.rs`) steps
//! it; the modules of its parts (`damage.rs`, `options.rs`, `specials.rs`) read and change it.

use crate::fighter::{action, Fighter, MoveKind, SpecialDir};
use exphil_state::Controller;

/// Stocks each player starts with.
pub const STOCKS: u8 = 4;
/// Shield health.
pub const SHIELD_MAX: f32 = 60.0;

/// Melee action-state ids (all in [`crate::fighter::action`]).
pub use crate::fighter::action as id;

/// What a player is doing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Standing.
    Idle,
    /// Walking.
    Walk,
    /// Dashing (the first frames of a run).
    Dash,
    /// Running.
    Run,
    /// Jump squat (jumps when it ends; a short hop when the button was released).
    JumpSquat,
    /// Airborne and actionable (rising, it shows the jump it took: `Player::jump_action`).
    Air,
    /// Landing lag.
    Landing(u16),
    /// Landing lag out of an airdodge or a helpless fall (a wavedash slides in it).
    LandingSpecial(u16),
    /// An aerial's landing lag (halved when L-cancelled) and its Melee action id.
    LandingAir(u16, u16),
    /// Helpless fall: drifts and falls, nothing else, until it lands.
    FallSpecial,
    /// A move.
    Attack(MoveKind),
    /// Shielding.
    Shield,
    /// Shield stun.
    ShieldStun(u16),
    /// Shield broken: dizzy.
    Dizzy(u16),
    /// Hit: in hitstun.
    Hitstun,
    /// Holding the opponent.
    Holding,
    /// Held by the opponent.
    Held,
    /// Airdodge (EscapeAir): glides along the stick, then falls; helpless when it ends airborne.
    Airdodge,
    /// Hanging on a ledge (side −1 left, 1 right).
    Ledge,
    /// Climbing up from a ledge.
    Climb,
    /// Asleep (after Rest).
    Asleep(u16),
    /// Lost a stock; waiting to respawn.
    Dead,
    /// On the respawn platform.
    Respawn,
    /// Tumbling after a strong hit's hitstun ended (DamageFall): acts as `Air`, techs on
    /// landing.
    DamageFall,
    /// Teched in place (Passive).
    Passive,
    /// Tech roll (PassiveStandF/B); true forward.
    PassiveStand(bool),
    /// A missed tech's bounce (DownBoundU/D); true face up.
    DownBound(bool),
    /// Lying down until an input (DownWaitU/D); true face up.
    DownWait(bool),
    /// Getting up in place (DownStandU/D); true face up.
    DownStand(bool),
    /// Getup roll (DownFowardU/D, DownBackU/D): face up, forward.
    DownRoll(bool, bool),
    /// Getup attack (DownAttackU/D); true face up.
    DownAttack(bool),
    /// The respawn platform coming down (Rebirth), before `Respawn`.
    Rebirth,
    /// A ground, defensive or ledge option (turns, crouch, shield start and release, rolls,
    /// ledge getups, being thrown): see [`crate::options`].
    Opt(Opt),
    /// A special move's phase (see [`crate::specials`]).
    Special(SpecialDir, u8),
}

/// One player's state.
#[derive(Clone, Debug)]
pub struct Player {
    /// The fighter.
    pub fighter: &'static Fighter,
    /// What it is doing.
    pub act: Act,
    /// Frames spent in `act` (0 on its first frame).
    pub frame: u16,
    /// Position.
    pub x: f32,
    /// Position (feet).
    pub y: f32,
    /// Own velocity.
    pub vx: f32,
    /// Own velocity.
    pub vy: f32,
    /// Knockback velocity.
    pub kx: f32,
    /// Knockback velocity.
    pub ky: f32,
    /// +1 facing right, −1 left.
    pub facing: f32,
    /// On a surface.
    pub grounded: bool,
    /// Aerial jumps left.
    pub jumps: u8,
    /// Damage.
    pub percent: f32,
    /// Stocks left.
    pub stocks: u8,
    /// Shield health.
    pub shield: f32,
    /// Hitstun frames left.
    pub hitstun: u16,
    /// Hitlag frames left (frozen).
    pub hitlag: u16,
    /// Invincibility frames left.
    pub invuln: u16,
    /// Fast falling.
    pub fast_fall: bool,
    /// Frames platforms are ignored (dropping through).
    pub drop_through: u16,
    /// Frames before a ledge can be grabbed again.
    pub ledge_cooldown: u16,
    /// Hitboxes of the current move that have hit (bit per hitbox).
    pub connected: u32,
    /// This frame's controller and the previous one.
    pub input: Controller,
    /// The previous frame's controller.
    pub prev: Controller,
    /// Whether the jump button is still held in jump squat.
    pub jump_held: bool,
    /// The action shown while rising in `Act::Air` (JumpF/B, JumpAerialF/B or Fall).
    pub jump_action: u16,
    /// Frames left in which a landing aerial is L-cancelled.
    pub lcancel: u8,
    /// The Melee action shown in `Act::Hitstun` (chosen by [`damage::react`] on the hit).
    pub damage_action: u16,
    /// The Melee action shown in `Act::Dead` (by the blast zone left through).
    pub dead_action: u16,
    /// Frames left in which landing in tumble techs (an L or R press opens it).
    pub tech_window: u8,
    /// Frames before another L or R press may open a tech window.
    pub tech_lockout: u8,
    /// A special's launch angle (Fire Fox), in radians.
    pub special_angle: f32,
    /// Whether B was pressed again during the special's phase.
    pub special_b: bool,
    /// Projectiles in flight.
    pub shots: [Shot; 2],
}

/// An option in progress (the state [`Act::Opt`] holds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Opt {
    /// Turning around; `dash`: a smash turn, which becomes a dash the new way next frame.
    Turn {
        /// Dash after the turn's first frame.
        dash: bool,
    },
    /// A run turned around: slows, then runs (or stands) the other way.
    TurnRun,
    /// A run let go: slides to a stop.
    RunBrake,
    /// Crouching down.
    Squat,
    /// Crouched.
    SquatWait,
    /// Standing up.
    SquatRv,
    /// Shield start (it already shields).
    GuardOn,
    /// Shield release lag.
    GuardOff,
    /// A roll out of shield.
    Roll {
        /// Toward the facing direction (EscapeF); it ends facing back.
        forward: bool,
    },
    /// A spot dodge out of shield.
    SpotDodge,
    /// Catching a ledge.
    CliffCatch,
    /// A ledge getup; `slow` at 100% or more.
    Getup(Getup, bool),
    /// Being thrown (frozen in the thrower's hands until the release).
    Thrown(MoveKind),
}

/// The ledge options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Getup {
    /// Climb up (stick toward the stage).
    Climb,
    /// Getup attack (A or B).
    Attack,
    /// Roll in (L, R or Z).
    Roll,
    /// Jump (X, Y or stick up): the on-ledge part; then it is airborne.
    Jump,
}

/// A projectile in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shot {
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Speed.
    pub vx: f32,
    /// Frames left (0: none).
    pub life: u16,
    /// Radius.
    pub r: f32,
    /// Damage.
    pub damage: f32,
    /// Launch angle (361: Sakurai angle).
    pub angle: f32,
    /// Base knockback.
    pub bkb: f32,
    /// Knockback growth.
    pub kbg: f32,
}

impl Player {
    pub(crate) fn new(fighter: &'static Fighter, (x, y): (f32, f32), facing: f32) -> Player {
        Player {
            fighter,
            act: Act::Idle,
            frame: 0,
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            kx: 0.0,
            ky: 0.0,
            facing,
            grounded: true,
            jumps: fighter.air_jumps,
            percent: 0.0,
            stocks: STOCKS,
            shield: SHIELD_MAX,
            hitstun: 0,
            hitlag: 0,
            invuln: 0,
            fast_fall: false,
            drop_through: 0,
            ledge_cooldown: 0,
            connected: 0,
            input: Controller::NEUTRAL,
            prev: Controller::NEUTRAL,
            jump_held: false,
            jump_action: action::FALL,
            lcancel: 0,
            damage_action: id::DAMAGE_FLY_N,
            dead_action: id::DEAD_DOWN,
            tech_window: 0,
            tech_lockout: 0,
            special_angle: 0.0,
            special_b: false,
            shots: [Shot::default(); 2],
        }
    }

    pub(crate) fn set(&mut self, act: Act) {
        self.act = act;
        self.frame = 0;
        match act {
            Act::Attack(_) => self.connected = 0,
            Act::Air => self.jump_action = action::FALL,
            _ => {}
        }
    }
}
