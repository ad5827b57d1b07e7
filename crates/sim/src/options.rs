//! Ground, defensive and ledge options in Melee's own action states: turning and dashing back
//! (dash-dance), run turn and run brake, crouching, shield start and release, rolls and spot
//! dodge out of shield, dropping through platforms, the ledge catch and its getups, and the
//! grab/throw states' ids. `game.rs` calls in here from small hooks; everything here is plain
//! arithmetic on one [`Player`] (no allocation).
//!
//! Frame counts are Melee's as the shared real replays show them (the length of an
//! uninterrupted run of the action, and the frames flagged intangible in it), per character
//! where the replays have both Fox and Jigglypuff; where they do not, the value is marked
//! assumed.

use crate::fighter::{Fighter, MoveKind};
use crate::player::{Act, Player};
pub use crate::player::{Getup, Opt};
use crate::stage::Stage;

/// Melee action-state ids of the options (all in [`crate::fighter::action`]).
pub use crate::fighter::action;

/// Per-character frame counts of the options.
#[derive(Clone, Copy, Debug)]
pub struct OptionFrames {
    /// Turn (standing).
    pub turn: u16,
    /// Run turn.
    pub turn_run: u16,
    /// Run brake.
    pub run_brake: u16,
    /// Squat (to SquatWait).
    pub squat: u16,
    /// SquatRv.
    pub squat_rv: u16,
    /// GuardOn.
    pub guard_on: u16,
    /// GuardOff.
    pub guard_off: u16,
    /// Rolls (both ways).
    pub roll: u16,
    /// Rolls' intangible frames (1-based, inclusive).
    pub roll_intangible: (u16, u16),
    /// Roll distance (units).
    pub roll_distance: f32,
    /// Spot dodge.
    pub spot_dodge: u16,
    /// Spot dodge's intangible frames.
    pub spot_dodge_intangible: (u16, u16),
    /// Pass (shown while it falls, actionable).
    pub pass: u16,
    /// Ledge options, quick then slow: climb, attack, roll, jump (on the ledge).
    pub getup: [[u16; 2]; 4],
    /// Their last intangible frame (from frame 1), quick then slow.
    pub getup_intangible: [[u16; 2]; 4],
}

/// Fox's, from the real replays: Turn 11, RunBrake 18, Squat 7, SquatRv 10, GuardOn 8,
/// GuardOff 15, rolls 31 (intangible 4–19), spot dodge 22 (2–15), Pass 16, CliffCatch 7,
/// ledge climb 34/59 (intangible to 30/55), ledge roll 49/79 (to 34/62). Assumed: TurnRun 12
/// (one sample), the ledge attack 55/69 and its intangibility to 24/40, the ledge jump's
/// on-ledge part 14/17 (Jigglypuff's), the roll distances.
const FOX: OptionFrames = OptionFrames {
    turn: 11,
    turn_run: 12,
    run_brake: 18,
    squat: 7,
    squat_rv: 10,
    guard_on: 8,
    guard_off: 15,
    roll: 31,
    roll_intangible: (4, 19),
    roll_distance: 30.0,
    spot_dodge: 22,
    spot_dodge_intangible: (2, 15),
    pass: 16,
    getup: [[34, 59], [55, 69], [49, 79], [14, 17]],
    getup_intangible: [[30, 55], [24, 40], [34, 62], [14, 17]],
};

/// Jigglypuff's, from the real replays: GuardOff 14, rolls 34 (intangible 4–19), spot dodge
/// 27 (2–15), Pass 24, ledge climb 33/59 (to 30/55), ledge jump 14/17. TurnRun 7 (one
/// sample). The rest as Fox's (assumed).
const PUFF: OptionFrames = OptionFrames {
    turn_run: 7,
    guard_off: 14,
    roll: 34,
    roll_distance: 25.0,
    spot_dodge: 27,
    pass: 24,
    getup: [[33, 59], [55, 69], [49, 79], [14, 17]],
    ..FOX
};

/// The option frames of a fighter (Fox's for a fighter without its own: assumed).
pub fn frames(f: &Fighter) -> &'static OptionFrames {
    match f.character.0 {
        15 => &PUFF,
        _ => &FOX,
    }
}

/// A stick x at or past this, crossed this frame, is a dash or a roll (as the game's).
const SMASH_X: f32 = 0.8;
/// Stick y at or below this crouches (assumed: Melee's crouch threshold is near it).
const SQUAT_Y: f32 = -0.6;
/// A stick x against the facing past this turns around (the walk threshold).
const TURN_X: f32 = 0.25;
/// A stick x held forward at or past this keeps a run running (as the game's).
const RUN_STICK: f32 = 0.625;
/// A fresh stick-down past this on a platform drops through it (as the game's).
const PASS_Y: f32 = -0.7;

/// This frame's inputs as the options read them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inputs {
    pub sx: f32,
    pub sy: f32,
    pub psx: f32,
    pub psy: f32,
    pub jump: bool,
    pub shield_held: bool,
    pub shield_fresh: bool,
    pub attack: bool,
    pub special: bool,
    pub grab: bool,
}

impl Inputs {
    fn flick_back(&self, facing: f32) -> bool {
        self.sx * facing <= -SMASH_X && self.psx * facing > -SMASH_X
    }
    fn flick_forward(&self, facing: f32) -> bool {
        self.sx * facing >= SMASH_X && self.psx * facing < SMASH_X
    }
    fn down_fresh(&self) -> bool {
        self.sy <= PASS_Y && self.psy > -0.3
    }
}

/// Starts a dash the way the player faces (Melee's Dash_Enter, as `game.rs`'s dash).
fn dash(p: &mut Player) {
    let init = p.facing * p.fighter.dash_initial_velocity;
    p.vx = if p.vx * p.facing < 0.0 {
        p.vx + init
    } else {
        init
    };
    p.set(Act::Dash);
}

/// Drops through the platform the player stands on (Pass).
pub(crate) fn pass(p: &mut Player) {
    p.grounded = false;
    p.drop_through = 10;
    p.set(Act::Air);
    p.jump_action = action::PASS;
}

/// The ground-movement hook, before `game.rs`'s own locomotion: turns, dash backs, run turn
/// and brake, crouching. Returns whether it handled the frame.
pub(crate) fn ground(p: &mut Player, c: &Inputs) -> bool {
    let fr = frames(p.fighter);
    let facing = p.facing;
    let crouch = c.sy <= SQUAT_Y && c.sy.abs() > c.sx.abs();
    match p.act {
        Act::Idle | Act::Walk => {
            if crouch {
                p.set(Act::Opt(Opt::Squat));
            } else if c.sx * facing < -TURN_X {
                // A flick back turns for one frame and dashes; a tilt back turns.
                p.facing = -facing;
                p.set(Act::Opt(Opt::Turn {
                    dash: c.flick_back(facing),
                }));
            } else {
                return false;
            }
        }
        // Dash-dance: one frame of Turn, then a dash the other way.
        Act::Dash if c.flick_back(facing) => {
            p.facing = -facing;
            p.set(Act::Opt(Opt::Turn { dash: true }));
        }
        Act::Run => {
            if c.sx * facing <= -TURN_X {
                p.set(Act::Opt(Opt::TurnRun));
            } else if c.sx * facing < RUN_STICK {
                p.set(Act::Opt(Opt::RunBrake));
            } else {
                return false;
            }
        }
        Act::Opt(Opt::Turn { dash: true }) => {
            if p.frame >= 1 {
                dash(p);
            }
        }
        Act::Opt(Opt::Turn { dash: false }) => {
            if c.flick_forward(facing) {
                dash(p);
            } else if crouch {
                p.set(Act::Opt(Opt::Squat));
            } else if p.frame >= fr.turn {
                if c.sx * facing > TURN_X {
                    p.set(Act::Walk);
                } else {
                    p.set(Act::Idle);
                }
            }
        }
        Act::Opt(Opt::RunBrake) => {
            if c.sx * facing <= -TURN_X {
                p.set(Act::Opt(Opt::TurnRun));
            } else if crouch {
                p.set(Act::Opt(Opt::Squat));
            } else if p.frame >= fr.run_brake {
                p.set(Act::Idle);
            }
        }
        Act::Opt(Opt::Squat) => {
            if p.frame >= fr.squat {
                p.set(Act::Opt(if c.sy <= SQUAT_Y {
                    Opt::SquatWait
                } else {
                    Opt::SquatRv
                }));
            }
        }
        Act::Opt(Opt::SquatWait) => {
            if c.sy > SQUAT_Y {
                p.set(Act::Opt(Opt::SquatRv));
            }
        }
        Act::Opt(Opt::SquatRv) => {
            if crouch {
                p.set(Act::Opt(Opt::Squat));
            } else if c.sx.abs() > TURN_X {
                return false; // walks or dashes out of it
            } else if p.frame >= fr.squat_rv {
                p.set(Act::Idle);
            }
        }
        _ => return false,
    }
    true
}

/// Out of shield (GuardOn or Guard): a spot dodge (a platform: a drop through it) on a fresh
/// stick down, a roll on a stick flick sideways. Returns whether it started one.
pub(crate) fn out_of_shield(p: &mut Player, c: &Inputs) -> bool {
    if c.down_fresh() {
        if p.y > 0.0 {
            pass(p);
        } else {
            p.set(Act::Opt(Opt::SpotDodge));
        }
        true
    } else if c.sx.abs() >= SMASH_X && c.psx.abs() < SMASH_X {
        p.set(Act::Opt(Opt::Roll {
            forward: c.sx * p.facing > 0.0,
        }));
        true
    } else {
        false
    }
}

/// The other options' frame: returns whether movement is skipped this frame (on the ledge,
/// or moved here).
pub(crate) fn update(p: &mut Player, o: Opt, c: &Inputs, stage: &Stage) -> bool {
    let fr = frames(p.fighter);
    let f = p.fighter;
    let frame = p.frame;
    match o {
        Opt::TurnRun => {
            if c.jump {
                p.jump_held = true;
                p.set(Act::JumpSquat);
            } else if frame >= fr.turn_run {
                p.facing = -p.facing;
                p.set(if c.sx * p.facing >= RUN_STICK {
                    Act::Run
                } else {
                    Act::Idle
                });
            }
        }
        Opt::GuardOn => {
            if c.jump {
                p.jump_held = true;
                p.set(Act::JumpSquat);
            } else if c.grab || c.attack {
                p.set(Act::Attack(MoveKind::Grab));
            } else if out_of_shield(p, c) {
            } else if frame >= fr.guard_on {
                p.set(if c.shield_held {
                    Act::Shield
                } else {
                    Act::Opt(Opt::GuardOff)
                });
            }
        }
        Opt::GuardOff => {
            if c.jump {
                p.jump_held = true;
                p.set(Act::JumpSquat);
            } else if frame >= fr.guard_off {
                p.set(Act::Idle);
            }
        }
        Opt::Roll { forward } => {
            let dir = if forward { p.facing } else { -p.facing };
            let (a, b) = fr.roll_intangible;
            if (a..=b).contains(&frame) {
                let step = fr.roll_distance / (b - a + 1) as f32;
                let x = p.x + dir * step;
                // Rolls stop at the edge (they never roll off).
                if stage.supports(x, p.y) {
                    p.x = x;
                }
            }
            if frame >= fr.roll {
                if forward {
                    p.facing = -p.facing;
                }
                p.set(Act::Idle);
            }
            p.vx = 0.0;
            return true;
        }
        Opt::SpotDodge => {
            if frame >= fr.spot_dodge {
                p.set(Act::Idle);
            }
        }
        Opt::CliffCatch => {
            if frame >= 7 {
                p.set(Act::Ledge);
            }
            return true;
        }
        Opt::Getup(kind, slow) => {
            let n = fr.getup[kind as usize][slow as usize];
            let side = p.x.signum();
            if kind == Getup::Jump {
                if frame >= n {
                    // Up from the ledge's corner, drifting in (assumed: the jump's
                    // horizontal initial velocity).
                    p.x = side * (stage.edge - f.size.0);
                    p.y = 0.0;
                    p.grounded = false;
                    p.vy = f.jump_v_initial_velocity;
                    p.vx = -side * f.jump_h_initial_velocity;
                    p.set(Act::Air);
                    p.jump_action = if slow {
                        action::CLIFF_JUMP_SLOW_2
                    } else {
                        action::CLIFF_JUMP_QUICK_2
                    };
                    return false;
                }
                return true;
            }
            if kind == Getup::Roll {
                // The roll's distance over its intangible frames (assumed: 30 units).
                let t = fr.getup_intangible[2][slow as usize];
                if frame <= t {
                    let x = p.x - side * 30.0 / t as f32;
                    if stage.supports(x, p.y) {
                        p.x = x;
                    }
                }
            }
            if frame >= n {
                p.set(Act::Idle);
            }
            p.vx = 0.0;
            return true;
        }
        Opt::Thrown(_) => {
            // The release: the throw's knockback (set with the hitlag) takes over.
            p.set(Act::Hitstun);
        }
        // Handled by `ground`.
        Opt::Turn { .. } | Opt::RunBrake | Opt::Squat | Opt::SquatWait | Opt::SquatRv => {}
    }
    false
}

/// Hanging on a ledge (CliffWait): let go (stick down or away, or after 300 frames), jump
/// (X, Y, stick up), climb (toward the stage), attack (A, B), roll (L, R, Z); slow at 100% or
/// more. Returns whether movement is skipped (still on the ledge, or getting up).
pub(crate) fn ledge(p: &mut Player, c: &Inputs, stage: &Stage) -> bool {
    let side = p.x.signum();
    let slow = p.percent >= 100.0;
    if p.frame > 300 || c.sy < -0.5 || c.sx * side > 0.5 {
        p.ledge_cooldown = 30;
        p.grounded = false;
        p.set(Act::Air);
        return false;
    }
    let kind = if c.jump || c.sy > 0.5 {
        Getup::Jump
    } else if c.sx * side < -0.5 {
        Getup::Climb
    } else if c.attack || c.special {
        Getup::Attack
    } else if c.shield_fresh || c.grab {
        Getup::Roll
    } else {
        return true;
    };
    if kind != Getup::Jump {
        // Up on the stage from the start, still intangible (the climb's animation is not
        // modelled frame by frame).
        p.x = side * (stage.edge - p.fighter.size.0 * 1.5);
        p.y = 0.0;
        p.grounded = true;
        p.vx = 0.0;
        p.vy = 0.0;
        p.facing = -side;
    }
    p.set(Act::Opt(Opt::Getup(kind, slow)));
    true
}

/// Whether an option leaves the player intangible now.
pub(crate) fn intangible(p: &Player) -> bool {
    let Act::Opt(o) = p.act else { return false };
    let fr = frames(p.fighter);
    // Frame data is 1-based; `Player::frame` is 0 on the first frame.
    let n = p.frame + 1;
    match o {
        Opt::Roll { .. } => (fr.roll_intangible.0..=fr.roll_intangible.1).contains(&n),
        Opt::SpotDodge => (fr.spot_dodge_intangible.0..=fr.spot_dodge_intangible.1).contains(&n),
        Opt::CliffCatch => true,
        Opt::Getup(kind, slow) => n <= fr.getup_intangible[kind as usize][slow as usize],
        _ => false,
    }
}

/// The Melee action id an option shows.
pub(crate) fn action_of(o: Opt) -> u16 {
    match o {
        Opt::Turn { .. } => action::TURN,
        Opt::TurnRun => action::TURN_RUN,
        Opt::RunBrake => action::RUN_BRAKE,
        Opt::Squat => action::SQUAT,
        Opt::SquatWait => action::SQUAT_WAIT,
        Opt::SquatRv => action::SQUAT_RV,
        Opt::GuardOn => action::GUARD_ON,
        Opt::GuardOff => action::GUARD_OFF,
        Opt::Roll { forward: true } => action::ESCAPE_F,
        Opt::Roll { forward: false } => action::ESCAPE_B,
        Opt::SpotDodge => action::ESCAPE,
        Opt::CliffCatch => action::CLIFF_CATCH,
        Opt::Getup(kind, slow) => {
            let base = match kind {
                Getup::Climb => action::CLIFF_CLIMB_SLOW,
                Getup::Attack => action::CLIFF_ATTACK_SLOW,
                Getup::Roll => action::CLIFF_ESCAPE_SLOW,
                Getup::Jump => {
                    return if slow {
                        action::CLIFF_JUMP_SLOW_1
                    } else {
                        action::CLIFF_JUMP_QUICK_1
                    }
                }
            };
            if slow {
                base
            } else {
                base + 1
            }
        }
        Opt::Thrown(k) => {
            action::THROWN_F
                + match k {
                    MoveKind::Bthrow => 1,
                    MoveKind::Uthrow => 2,
                    MoveKind::Dthrow => 3,
                    _ => 0,
                }
        }
    }
}

/// The action shown while airborne and actionable: Pass for its first frames after a drop
/// through a platform, the jump taken while rising, else Fall.
pub(crate) fn air_action(p: &Player, fall: u16) -> u16 {
    if p.jump_action == action::PASS {
        if p.frame < frames(p.fighter).pass {
            return action::PASS;
        }
        return fall;
    }
    if p.vy > 0.0 {
        p.jump_action
    } else {
        fall
    }
}

/// Walking's action by how far the stick is pushed: WalkSlow, WalkMiddle or WalkFast (the
/// thresholds, half and three quarters, are assumed).
pub(crate) fn walk_action(p: &Player, middle: u16) -> u16 {
    let x = ((p.input.main_x - 0.5) * 2.0).abs();
    if x < 0.5 {
        action::WALK_SLOW
    } else if x < 0.75 {
        middle
    } else {
        action::WALK_FAST
    }
}

/// The grab states: CatchPull for the grab's first 2 frames then CatchWait; the victim
/// CapturePulled then CaptureWait, "Hi" for small victims (under 12 units tall: assumed
/// rule, after the replays: Jigglypuff shows Hi, Fox mostly Lw).
pub(crate) fn hold_action(p: &Player, holding: bool, catch_wait: u16) -> u16 {
    let pulled = p.frame < 2;
    if holding {
        return if pulled {
            action::CATCH_PULL
        } else {
            catch_wait
        };
    }
    match (p.fighter.size.1 < 12.0, pulled) {
        (true, true) => action::CAPTURE_PULLED_HI,
        (true, false) => action::CAPTURE_WAIT_HI,
        (false, true) => action::CAPTURE_PULLED_LW,
        (false, false) => action::CAPTURE_WAIT_LW,
    }
}

/// Frames a throw holds its victim before the release (the victim shows Thrown*), from the
/// real replays' Thrown runs on Fox: forward 9, back 22, up 9, down 15 (the thrower's own
/// release frame differs per character in Melee; one set for all is assumed).
pub(crate) fn throw_release(kind: MoveKind) -> u16 {
    match kind {
        MoveKind::Bthrow => 22,
        MoveKind::Dthrow => 15,
        _ => 9,
    }
}
