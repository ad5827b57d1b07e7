//! One 1v1 game: each step takes one controller per player (the policy's controller type) and
//! advances one frame — state machine, physics, hitboxes against hurtboxes, Melee's knockback
//! formula with weight, hitstun and hitlag, shields, grabs and throws, ledges, blast zones,
//! respawns, stocks and the timer. Everything is plain f32 arithmetic with no randomness: the
//! same inputs give the same game.

use crate::damage;
use crate::fighter::{action, Fighter, Hitbox, MoveKind};
use crate::options;
use crate::player::Shot;
pub use crate::player::{Act, Opt, Player, SHIELD_MAX, STOCKS};
use crate::specials;
use crate::stage::Stage;
use exphil_replay::InternalCharacter;
use exphil_state::{Buttons, Controller, Fighter as View, GameState, ItemState, MAX_ITEMS};

/// The frame the game starts on (Melee's countdown: inputs are ignored before frame 0).
pub const FIRST_FRAME: i32 = -123;
/// The timer: 8 minutes.
pub const TIMER_FRAMES: i32 = 8 * 60 * 60;
/// Knockback speed lost per frame.
const KB_DECAY: f32 = 0.051;
/// Frames of invincibility after respawning.
const RESPAWN_INVULN: u16 = 120;
/// Frames of invincibility on grabbing a ledge.
const LEDGE_INVULN: u16 = 30;
/// Ground friction is multiplied by this while faster than the walk maximum, in the states
/// that only slow down (standing, landing, attacks): Melee's friction_when_above_walk_speed.
const FRICTION_ABOVE_WALK: f32 = 2.0;
/// Walk acceleration taper: `accel *= (1 - v/target) * this` below the target (Melee's
/// walk_accel_taper_gain, PlCo.dat).
const WALK_TAPER: f32 = 0.5;
/// Run acceleration taper, as the walk's (Melee's run_accel_taper_gain, PlCo.dat).
const RUN_TAPER: f32 = 0.4;
/// Ground speed cap (Melee's ground max horizontal velocity, the same for the whole cast).
const GROUND_MAX_VEL: f32 = 3.0;
/// Air speed cap however it was reached (Melee's air max horizontal velocity).
const AIR_MAX_VEL: f32 = 3.0;
/// Stick deadzone Melee applies before the air drift sees the stick.
const STICK_DEADZONE: f32 = 0.28;
/// A stick x at or past this, crossed this frame, is a dash (Melee's dash/smash threshold).
const DASH_STICK: f32 = 0.8;
/// A stick x held at or past this (forward) keeps a dash going into a run, and a run running.
const RUN_STICK: f32 = 0.625;
/// Airdodge (EscapeAir) speed on entry, along the stick (Melee's escapeair_force).
const AIRDODGE_FORCE: f32 = 3.1;
/// Airdodge speed kept per frame while it glides (Melee's escapeair_decay).
const AIRDODGE_DECAY: f32 = 0.9;
/// Stick deflection (either axis) below which an airdodge is in place.
const AIRDODGE_DEADZONE: f32 = 0.25;
/// Frames an airdodge glides (its decay applies) before gravity takes over. Melee stops the
/// decay from EscapeAir's animation script; the frame is not in the attribute tables, so this
/// is assumed: the end of its intangibility (frame 29), as the simulator had before.
const AIRDODGE_GLIDE_FRAMES: u16 = 30;
/// Landing lag out of an airdodge or a helpless fall (LandingFallSpecial; Melee's x344).
const LANDING_SPECIAL_LAG: u16 = 10;
/// Frames before landing in which an L, R or Z press halves an aerial's landing lag.
const LCANCEL_WINDOW: u8 = 7;

impl Player {
    /// Whether hitboxes pass through this player now.
    pub fn intangible(&self) -> bool {
        self.invuln > 0
            || matches!(self.act, Act::Dead | Act::Ledge | Act::Climb | Act::Respawn)
            || (self.act == Act::Airdodge && (4..=29).contains(&self.frame))
            || options::intangible(self)
            || specials::intangible(self)
    }

    /// The Melee action id shown for this state.
    pub fn action(&self) -> u16 {
        match self.act {
            Act::Idle => action::WAIT,
            Act::Walk => options::walk_action(self, action::WALK),
            Act::Dash => action::DASH,
            Act::Run => action::RUN,
            Act::JumpSquat => action::KNEE_BEND,
            Act::Air => options::air_action(self, action::FALL),
            Act::Landing(_) => action::LANDING,
            Act::LandingSpecial(_) => action::LANDING_FALL_SPECIAL,
            Act::LandingAir(_, a) => a,
            Act::FallSpecial => action::FALL_SPECIAL,
            Act::Attack(k) => self.fighter.get(k).action,
            Act::Shield => action::GUARD,
            Act::ShieldStun(_) => action::GUARD_SET_OFF,
            Act::Dizzy(_) => action::FURA_FURA,
            Act::Hitstun => damage::action(self),
            Act::Holding => options::hold_action(self, true, action::CATCH_WAIT),
            Act::Held => options::hold_action(self, false, action::CAPTURE_WAIT),
            Act::Airdodge => action::ESCAPE_AIR,
            Act::Ledge => action::CLIFF_WAIT,
            Act::Climb => action::CLIFF_CLIMB,
            Act::Asleep(_) => action::SLEEP,
            Act::Dead => damage::action(self),
            Act::Respawn => action::REBIRTH_WAIT,
            Act::DamageFall
            | Act::Passive
            | Act::PassiveStand(_)
            | Act::DownBound(_)
            | Act::DownWait(_)
            | Act::DownStand(_)
            | Act::DownRoll(..)
            | Act::DownAttack(_)
            | Act::Rebirth => damage::action(self),
            Act::Opt(o) => options::action_of(o),
            Act::Special(..) => specials::action(self),
        }
    }

    fn stick(&self) -> (f32, f32) {
        stick(&self.input)
    }

    fn fresh(&self, b: usize) -> bool {
        self.input.buttons.pressed(b) && !self.prev.buttons.pressed(b)
    }
}

fn stick(c: &Controller) -> (f32, f32) {
    let f = |v: f32| {
        if v.is_finite() {
            ((v - 0.5) * 2.0).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    };
    (f(c.main_x), f(c.main_y))
}

fn cstick(c: &Controller) -> (f32, f32) {
    let f = |v: f32| {
        if v.is_finite() {
            ((v - 0.5) * 2.0).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    };
    (f(c.c_x), f(c.c_y))
}

const A: usize = 0;
const B: usize = 1;
const X: usize = 2;
const Y: usize = 3;
const Z: usize = 4;
const L: usize = 5;
const R: usize = 6;

/// How a game ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum End {
    /// A player lost every stock.
    Stocks,
    /// The timer ran out.
    Timer,
    /// The frame limit given to the game was reached.
    FrameLimit,
}

/// The result of a finished game.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// The winner (0 or 1), `None` for a draw.
    pub winner: Option<usize>,
    /// Why it ended.
    pub end: End,
    /// Frames played from GO.
    pub frames: i32,
    /// Stocks left.
    pub stocks: [u8; 2],
    /// Final percents.
    pub percent: [f32; 2],
}

/// What one step did (for rewards and statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepInfo {
    /// Damage each player dealt this frame.
    pub damage_dealt: [f32; 2],
    /// Whether each player lost a stock this frame.
    pub stock_lost: [bool; 2],
    /// Set on the frame the game ends.
    pub outcome: Option<Outcome>,
}

/// One game.
#[derive(Clone, Debug)]
pub struct Game {
    /// The stage.
    pub stage: &'static Stage,
    /// The two players.
    pub players: [Player; 2],
    /// The frame about to be played.
    pub frame: i32,
    /// Stop after this many frames from GO (0: only stocks and the timer end the game).
    pub frame_limit: i32,
    /// Set once the game is over.
    pub outcome: Option<Outcome>,
    /// Dead players' frames until respawn.
    dead_for: [u16; 2],
}

impl Game {
    /// A game on `stage` between two fighters, at the countdown.
    pub fn new(stage: &'static Stage, fighters: [&'static Fighter; 2]) -> Game {
        Game {
            stage,
            players: [
                Player::new(fighters[0], stage.spawn(0), 1.0),
                Player::new(fighters[1], stage.spawn(1), -1.0),
            ],
            frame: FIRST_FRAME,
            frame_limit: 0,
            outcome: None,
            dead_for: [0; 2],
        }
    }

    /// Whether the game is over.
    pub fn is_over(&self) -> bool {
        self.outcome.is_some()
    }

    /// Checks that the state is sound (finite, in bounds); `Err` says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (i, p) in self.players.iter().enumerate() {
            for (name, v) in [
                ("x", p.x),
                ("y", p.y),
                ("vx", p.vx),
                ("vy", p.vy),
                ("kx", p.kx),
                ("ky", p.ky),
                ("percent", p.percent),
                ("shield", p.shield),
            ] {
                if !v.is_finite() {
                    return Err(format!(
                        "player {} {name} is {v} on frame {}",
                        i + 1,
                        self.frame
                    ));
                }
            }
        }
        Ok(())
    }

    /// The game state from player `me`'s seat (0 or 1): the view the trainer embeds.
    pub fn view(&self, me: usize) -> GameState {
        let f = |p: &Player| View {
            exists: true,
            character: p
                .fighter
                .character
                .to_internal()
                .unwrap_or(InternalCharacter(0)),
            stocks: p.stocks,
            facing_right: p.facing > 0.0,
            on_ground: p.grounded,
            invulnerable: p.intangible(),
            hurtbox_state: if p.intangible() { 1 } else { 0 },
            jumps_left: p.jumps,
            action: p.action(),
            action_frame: p.frame.min(i16::MAX as u16) as i16,
            percent: p.percent.floor().clamp(0.0, 999.0) as u16,
            hitlag_left: p.hitlag,
            hitstun_left: p.hitstun,
            x: p.x,
            y: p.y,
            shield: p.shield,
            speed_air_x_self: if p.grounded { 0.0 } else { p.vx },
            speed_ground_x_self: if p.grounded { p.vx } else { 0.0 },
            speed_y_self: p.vy,
            speed_x_attack: p.kx,
            speed_y_attack: p.ky,
            controller: p.input,
        };
        let them = 1 - me;
        let [fod_left, fod_right] = self.stage.fod_heights().unwrap_or([0.0; 2]);
        GameState {
            frame: self.frame,
            stage: self
                .stage
                .id
                .to_internal()
                .unwrap_or(exphil_replay::InternalStage(0)),
            randall_x: 0.0,
            randall_y: 0.0,
            fod_left,
            fod_right,
            players: [f(&self.players[me]), f(&self.players[them])],
            nana: [View::default(), View::default()],
            items: [ItemState::default(); MAX_ITEMS],
        }
    }

    /// Plays one frame with these controllers (player 1's, player 2's).
    pub fn step(&mut self, inputs: [Controller; 2]) -> StepInfo {
        let mut info = StepInfo::default();
        if self.outcome.is_some() {
            return info;
        }
        for (p, c) in self.players.iter_mut().zip(inputs) {
            p.prev = p.input;
            p.input = sanitize(c);
        }
        if self.frame < 0 {
            // The countdown: nobody moves.
            self.frame += 1;
            return info;
        }
        for i in 0..2 {
            self.update(i);
        }
        self.hits(&mut info);
        shots(self, &mut info);
        self.grabs();
        for i in 0..2 {
            self.blast(i, &mut info);
        }
        self.frame += 1;
        self.finish(&mut info);
        info
    }

    fn finish(&mut self, info: &mut StepInfo) {
        let [a, b] = [&self.players[0], &self.players[1]];
        let by_stocks = if a.stocks == 0 || b.stocks == 0 {
            Some(End::Stocks)
        } else if self.frame >= TIMER_FRAMES {
            Some(End::Timer)
        } else if self.frame_limit > 0 && self.frame >= self.frame_limit {
            Some(End::FrameLimit)
        } else {
            None
        };
        if let Some(end) = by_stocks {
            let winner = match (a.stocks.cmp(&b.stocks), a.percent.total_cmp(&b.percent)) {
                (std::cmp::Ordering::Greater, _) => Some(0),
                (std::cmp::Ordering::Less, _) => Some(1),
                (_, std::cmp::Ordering::Less) => Some(0),
                (_, std::cmp::Ordering::Greater) => Some(1),
                _ => None,
            };
            let o = Outcome {
                winner,
                end,
                frames: self.frame,
                stocks: [a.stocks, b.stocks],
                percent: [a.percent, b.percent],
            };
            self.outcome = Some(o);
            info.outcome = Some(o);
        }
    }

    /// One player's decisions and movement.
    fn update(&mut self, i: usize) {
        let stage = self.stage;
        let (ox, _) = {
            let o = &self.players[1 - i];
            (o.x, o.y)
        };
        let p = &mut self.players[i];
        p.invuln = p.invuln.saturating_sub(1);
        p.drop_through = p.drop_through.saturating_sub(1);
        p.ledge_cooldown = p.ledge_cooldown.saturating_sub(1);
        if p.hitlag > 0 {
            p.hitlag -= 1;
            if p.hitlag == 0 && p.act == Act::Hitstun {
                damage::di(p);
            }
            return;
        }
        if !matches!(p.act, Act::Shield | Act::ShieldStun(_)) {
            p.shield = (p.shield + 0.07).min(SHIELD_MAX);
        }
        let f = p.fighter;
        let (sx, sy) = p.stick();
        let (psx, psy) = stick(&p.prev);
        let (cx, cy) = cstick(&p.input);
        let (pcx, pcy) = cstick(&p.prev);
        let c_fresh = cx.hypot(cy) > 0.6 && pcx.hypot(pcy) < 0.3;
        let jump = p.fresh(X) || p.fresh(Y) || (sy > 0.6 && psy < 0.3);
        let shield_held =
            p.input.buttons.pressed(L) || p.input.buttons.pressed(R) || p.input.shoulder > 0.3;
        let shield_fresh =
            (p.fresh(L) || p.fresh(R)) || (p.input.shoulder > 0.3 && p.prev.shoulder <= 0.3);
        p.frame = p.frame.saturating_add(1);
        let frame = p.frame;
        p.lcancel = p.lcancel.saturating_sub(1);
        if !p.grounded && (p.fresh(L) || p.fresh(R) || p.fresh(Z)) {
            p.lcancel = LCANCEL_WINDOW;
        }
        damage::track_tech(p);
        let inputs = options::Inputs {
            sx,
            sy,
            psx,
            psy,
            jump,
            shield_held,
            shield_fresh,
            attack: p.fresh(A),
            special: p.fresh(B),
            grab: p.fresh(Z),
        };
        // A ground jump's first airborne frame has no gravity and no drift (as in Melee).
        let mut takeoff = false;
        match p.act {
            Act::Dead => return,
            Act::Rebirth => {
                damage::update_rebirth(p);
                return;
            }
            Act::Passive
            | Act::PassiveStand(_)
            | Act::DownBound(_)
            | Act::DownWait(_)
            | Act::DownStand(_)
            | Act::DownRoll(..)
            | Act::DownAttack(_) => damage::update_down(p, stage),
            Act::Respawn => {
                p.vx = 0.0;
                p.vy = 0.0;
                if frame > 300 || sx.abs() > 0.3 || sy.abs() > 0.3 || p.input.buttons.0 != 0 {
                    p.set(Act::Air);
                    p.invuln = RESPAWN_INVULN;
                }
                return;
            }
            Act::Idle
            | Act::Walk
            | Act::Dash
            | Act::Run
            | Act::Opt(
                Opt::Turn { .. } | Opt::RunBrake | Opt::Squat | Opt::SquatWait | Opt::SquatRv,
            ) => {
                // B with the stick flicked up is an up special, not a tap jump.
                if jump && !p.fresh(B) {
                    p.jump_held = true;
                    p.set(Act::JumpSquat);
                } else if shield_held {
                    p.set(Act::Opt(Opt::GuardOn));
                } else if p.fresh(Z) {
                    p.set(Act::Attack(MoveKind::Grab));
                } else if p.fresh(B) {
                    specials::start(p, sx, sy);
                } else if p.fresh(A) || c_fresh {
                    let (dx, dy, smash) = if c_fresh {
                        (cx, cy, true)
                    } else {
                        (sx, sy, sx.hypot(sy) > 0.8 && psx.hypot(psy) < 0.5)
                    };
                    if dx.abs() > 0.3 && dx.abs() >= dy.abs() {
                        p.facing = dx.signum();
                    }
                    p.set(Act::Attack(ground_move(dx, dy, smash)));
                } else if sy < -0.7 && psy > -0.3 && p.y > 0.0 {
                    // Down through a platform.
                    options::pass(p);
                } else if !options::ground(p, &inputs) {
                    locomotion(p, sx, psx);
                }
            }
            Act::JumpSquat => {
                if !(p.input.buttons.pressed(X) || p.input.buttons.pressed(Y) || sy > 0.6) {
                    p.jump_held = false;
                }
                if frame >= f.jump_squat {
                    // Melee's jump: vertical speed by hop or full jump; horizontal, the ground
                    // speed left after the jump squat's friction times the ground-to-air
                    // multiplier plus the stick's share, capped. The stick is the last
                    // jump-squat frame's (the real replays: the takeoff speed follows it, not
                    // the first airborne frame's stick).
                    p.vy = if p.jump_held {
                        f.jump_v_initial_velocity
                    } else {
                        f.hop_v_initial_velocity
                    };
                    p.vx = (p.vx * f.ground_to_air_multiplier + psx * f.jump_h_initial_velocity)
                        .clamp(-f.jump_h_max_velocity, f.jump_h_max_velocity);
                    p.grounded = false;
                    p.set(Act::Air);
                    p.jump_action = if sx * p.facing < -0.3 {
                        action::JUMP_B
                    } else {
                        action::JUMP_F
                    };
                    takeoff = true;
                }
            }
            Act::Air | Act::DamageFall => {
                if jump && p.jumps > 0 && !p.fresh(B) {
                    // Aerial jumps: multi-jumpers' each lower, everyone else's the jump
                    // speed times the air jump multiplier; gravity applies on the first frame.
                    let nth = (f.air_jumps - p.jumps) as usize;
                    p.jumps -= 1;
                    p.vy = f
                        .air_jump_v
                        .get(nth)
                        .copied()
                        .unwrap_or(f.jump_v_initial_velocity * f.air_jump_v_multiplier);
                    p.vx = sx * f.air_jump_h_multiplier;
                    p.fast_fall = false;
                    p.set(Act::Air);
                    p.jump_action = if sx * p.facing < -0.3 {
                        action::JUMP_AERIAL_B
                    } else {
                        action::JUMP_AERIAL_F
                    };
                    // Multi-jumpers show each aerial jump's own action (Jigglypuff's Jump2-6).
                    if let Some(&a) = f.air_jump_actions.get(nth) {
                        p.jump_action = a;
                    }
                } else if shield_fresh {
                    p.set(Act::Airdodge);
                    p.fast_fall = false;
                    if sx.abs() < AIRDODGE_DEADZONE && sy.abs() < AIRDODGE_DEADZONE {
                        p.vx = 0.0;
                        p.vy = 0.0;
                    } else {
                        let a = sy.atan2(sx);
                        p.vx = AIRDODGE_FORCE * a.cos();
                        p.vy = AIRDODGE_FORCE * a.sin();
                    }
                } else if p.fresh(B) {
                    specials::start(p, sx, sy);
                } else if p.fresh(A) || c_fresh {
                    let (dx, dy) = if c_fresh { (cx, cy) } else { (sx, sy) };
                    p.set(Act::Attack(air_move(dx * p.facing, dy)));
                }
            }
            Act::Landing(lag)
            | Act::LandingSpecial(lag)
            | Act::LandingAir(lag, _)
            | Act::ShieldStun(lag)
            | Act::Dizzy(lag)
            | Act::Asleep(lag) => {
                if frame >= lag {
                    p.set(if matches!(p.act, Act::ShieldStun(_)) && shield_held {
                        Act::Shield
                    } else {
                        Act::Idle
                    });
                }
            }
            Act::Attack(k) => {
                let m = f.get(k);
                if frame >= m.frames {
                    if m.sleep_after > 0 && p.grounded {
                        p.set(Act::Asleep(m.sleep_after));
                    } else {
                        p.set(if p.grounded { Act::Idle } else { Act::Air });
                    }
                }
            }
            Act::Shield => {
                p.shield -= 0.28;
                if p.shield <= 0.0 {
                    p.shield = SHIELD_MAX * 0.5;
                    p.set(Act::Dizzy(240));
                } else if jump {
                    p.jump_held = true;
                    p.set(Act::JumpSquat);
                } else if p.fresh(A) || p.fresh(Z) {
                    p.set(Act::Attack(MoveKind::Grab));
                } else if options::out_of_shield(p, &inputs) {
                } else if !shield_held {
                    p.set(Act::Opt(Opt::GuardOff));
                }
            }
            Act::Hitstun => {
                p.hitstun = p.hitstun.saturating_sub(1);
                if p.hitstun == 0 {
                    p.set(if p.grounded {
                        Act::Idle
                    } else if damage::tumbling(p) {
                        Act::DamageFall
                    } else {
                        Act::Air
                    });
                }
            }
            Act::Holding | Act::Held => {}
            Act::Special(..) => specials::update(p, frame),
            Act::Airdodge => {
                if frame >= f.airdodge_frames {
                    p.set(Act::FallSpecial);
                }
            }
            Act::FallSpecial => {}
            Act::Ledge => {
                if options::ledge(p, &inputs, stage) {
                    return;
                }
            }
            Act::Climb => {
                if frame >= 30 {
                    let side = p.x.signum();
                    p.x = side * (stage.edge - f.size.0 * 1.5);
                    p.y = 0.0;
                    p.grounded = true;
                    p.set(Act::Idle);
                }
                return;
            }
            Act::Opt(o) => {
                if options::update(p, o, &inputs, stage) {
                    return;
                }
            }
        }
        // Movement.
        let f = p.fighter;
        if matches!(p.act, Act::Special(..)) {
            specials::physics(p, sx, sy, psy, air_drift);
        } else if p.grounded {
            p.vx = match p.act {
                Act::Walk => {
                    // Melee's walk: a stick-scaled plus a constant acceleration, tapered
                    // below a target proportional to the stick.
                    let accel = sx * f.walk_init_vel + f.walk_accel.copysign(sx);
                    let target = sx * f.walk_max_vel;
                    approach(
                        p.vx,
                        taper(accel, p.vx, target, WALK_TAPER),
                        target,
                        f.ground_friction,
                        GROUND_MAX_VEL,
                    )
                }
                // The dash's first frame is its initial velocity alone.
                Act::Dash if p.frame == 0 => p.vx,
                Act::Dash | Act::Run => {
                    let accel = sx * f.dash_run_accel_a + f.dash_run_accel_b.copysign(sx);
                    let target = sx * f.run_terminal_velocity;
                    let accel = if p.act == Act::Run {
                        taper(accel, p.vx, target, RUN_TAPER)
                    } else {
                        accel
                    };
                    if sx.abs() < STICK_DEADZONE {
                        toward_zero(p.vx, f.ground_friction)
                    } else {
                        approach(p.vx, accel, target, f.ground_friction, GROUND_MAX_VEL)
                    }
                }
                // Jump squat slows down like standing (the real replays: Jigglypuff's 1.1 run
                // goes 0.92, 0.74, 0.56, 0.47, 0.38 over its five jump-squat frames).
                _ => {
                    let k = if p.vx.abs() > f.walk_max_vel {
                        FRICTION_ABOVE_WALK
                    } else {
                        1.0
                    };
                    toward_zero(p.vx, f.ground_friction * k)
                }
            };
            p.vy = 0.0;
        } else if p.act == Act::Airdodge {
            if p.frame < AIRDODGE_GLIDE_FRAMES {
                p.vx *= AIRDODGE_DECAY;
                p.vy *= AIRDODGE_DECAY;
            } else {
                // Past the glide, Melee's EscapeAir physics (ft_80084DB0) falls: gravity and
                // air friction, no drift (taken as such; not checked frame by frame).
                p.vx = toward_zero(p.vx, f.air_friction);
                p.vy = (p.vy - f.gravity).max(-f.terminal);
            }
        } else if !takeoff {
            // Helpless fall drifts as a normal fall: Melee scales its drift by a common
            // mobility factor (x340) whose value we do not have, so 1 is assumed.
            let drift = matches!(
                p.act,
                Act::Air | Act::Attack(_) | Act::Hitstun | Act::FallSpecial | Act::DamageFall
            );
            p.vx = if drift {
                air_drift(f, p.vx, sx)
            } else {
                toward_zero(p.vx, f.air_friction)
            };
            if p.vy < 0.0 && sy < -0.7 && psy > -0.3 && matches!(p.act, Act::Air | Act::Attack(_)) {
                p.fast_fall = true;
            }
            p.vy = if p.fast_fall {
                -f.fast_fall
            } else {
                (p.vy - f.gravity).max(-f.terminal)
            };
        }
        // Knockback decays along its direction.
        let k = p.kx.hypot(p.ky);
        if k > 0.0 {
            let scale = (k - KB_DECAY).max(0.0) / k;
            p.kx *= scale;
            p.ky *= scale;
        }
        let (x0, y0) = (p.x, p.y);
        p.x += p.vx + p.kx;
        let y1 = p.y + p.vy + p.ky;
        if p.grounded {
            if p.ky > 0.0 {
                p.grounded = false;
                p.y = y1;
            } else if !stage.supports(p.x, p.y) {
                p.grounded = false;
                p.fast_fall = false;
                if matches!(
                    p.act,
                    Act::Idle
                        | Act::Walk
                        | Act::Dash
                        | Act::Run
                        | Act::JumpSquat
                        | Act::Attack(_)
                        | Act::Landing(_)
                        | Act::LandingSpecial(_)
                        | Act::LandingAir(..)
                        | Act::Shield
                        | Act::Opt(_)
                ) {
                    p.set(Act::Air);
                    p.jumps = p.jumps.min(f.air_jumps);
                    // Off the edge, the ground speed carries into the air capped at the air
                    // speed (the real replays: every run-off's first falling frame shows the
                    // character's maximum air speed, Fox 0.83 out of 2.17, Marth 0.9 out of
                    // 1.34 and 1.76; the frame's own move was at ground speed).
                    p.vx = p.vx.clamp(-f.air_max_h, f.air_max_h);
                }
            }
        } else {
            let falling = y1 <= y0;
            let landing = if falling {
                stage.landing(
                    p.x,
                    y0,
                    y1,
                    p.drop_through > 0 || (sy < -0.7 && p.act == Act::Air),
                )
            } else {
                None
            };
            match landing {
                Some((surface, _)) => {
                    p.y = surface;
                    p.grounded = true;
                    p.vy = 0.0;
                    p.ky = 0.0;
                    p.fast_fall = false;
                    p.jumps = f.air_jumps;
                    let landed = match p.act {
                        Act::Hitstun | Act::DamageFall => Some(damage::land(p, f.landing_lag)),
                        Act::Attack(MoveKind::Special) => None,
                        Act::Special(..) => specials::land(p),
                        Act::Airdodge | Act::FallSpecial => {
                            Some(Act::LandingSpecial(LANDING_SPECIAL_LAG))
                        }
                        Act::Attack(k) => match landing_air_action(k) {
                            Some(a) => {
                                let lag = f.get(k).landing_lag.max(f.landing_lag);
                                // L-cancelled: half the lag.
                                let lag = if p.lcancel > 0 { lag / 2 } else { lag };
                                Some(Act::LandingAir(lag, a))
                            }
                            None => Some(Act::Landing(f.landing_lag)),
                        },
                        _ => Some(Act::Landing(f.landing_lag)),
                    };
                    if let Some(act) = landed {
                        p.set(act);
                    }
                    p.lcancel = 0;
                }
                None => {
                    p.y = y1;
                    // The stage's body is solid below its top.
                    if p.y < 0.0 && p.x.abs() < stage.edge && y0 < 0.0 {
                        p.x = x0.signum() * stage.edge.max(x0.abs());
                        p.vx = 0.0;
                        p.kx = 0.0;
                    }
                    // Ledge grab: falling near a ledge, not in hitstun.
                    let side = p.x.signum();
                    let dx = p.x.abs() - stage.edge;
                    if p.vy + p.ky <= 0.0
                        && (-4.0..=14.0).contains(&dx)
                        && (-25.0..=4.0).contains(&p.y)
                        && p.ledge_cooldown == 0
                        && (matches!(
                            p.act,
                            Act::Air | Act::Airdodge | Act::FallSpecial | Act::DamageFall
                        ) || specials::grabs_ledge(p))
                        && (ox.abs() < stage.edge
                            || ox.signum() != side
                            || (ox.abs() - stage.edge) > 14.0)
                    {
                        p.x = side * (stage.edge + f.size.0);
                        p.y = -f.size.1 * 0.8;
                        p.vx = 0.0;
                        p.vy = 0.0;
                        p.kx = 0.0;
                        p.ky = 0.0;
                        p.facing = -side;
                        p.jumps = f.air_jumps;
                        p.fast_fall = false;
                        p.invuln = LEDGE_INVULN;
                        p.set(Act::Opt(Opt::CliffCatch));
                    }
                }
            }
        }
    }

    /// Hitboxes against hurtboxes, both ways, resolved together (trades happen).
    fn hits(&mut self, info: &mut StepInfo) {
        let mut landed: [Option<(usize, Hitbox)>; 2] = [None, None];
        for (a, slot) in landed.iter_mut().enumerate() {
            let (att, def) = (&self.players[a], &self.players[1 - a]);
            let Some(hitboxes) = specials::active_hitboxes(att) else {
                continue;
            };
            if def.intangible() {
                continue;
            }
            let f = att.frame;
            for (h_i, h) in hitboxes.iter().enumerate() {
                if f < h.start || f > h.end || att.connected >> h_i & 1 == 1 {
                    continue;
                }
                let hx = att.x + att.facing * h.x;
                let hy = att.y + h.y;
                let (w, ht) = def.fighter.size;
                let nx = hx.clamp(def.x - w, def.x + w);
                let ny = hy.clamp(def.y, def.y + ht);
                if (hx - nx).powi(2) + (hy - ny).powi(2) <= h.r * h.r {
                    *slot = Some((h_i, *h));
                    break;
                }
            }
        }
        for (a, l) in landed.into_iter().enumerate() {
            let Some((h_i, h)) = l else { continue };
            let d = 1 - a;
            self.players[a].connected |= 1 << h_i;
            let hitlag = (h.damage / 3.0 + 3.0).floor() as u16;
            let dir = {
                let (ax, dx) = (self.players[a].x, self.players[d].x);
                if (dx - ax).abs() > 0.01 {
                    (dx - ax).signum()
                } else {
                    self.players[a].facing
                }
            };
            let att_hitlag = &mut self.players[a].hitlag;
            *att_hitlag = (*att_hitlag).max(hitlag);
            let def = &mut self.players[d];
            if matches!(def.act, Act::Shield | Act::Opt(Opt::GuardOn)) {
                def.shield -= h.damage;
                def.hitlag = hitlag;
                def.kx = dir * (h.damage * 0.08 + 0.4);
                let stun = (h.damage * 0.447 + 2.0).floor() as u16;
                if def.shield <= 0.0 {
                    def.shield = SHIELD_MAX * 0.5;
                    def.set(Act::Dizzy(240));
                } else {
                    def.set(Act::ShieldStun(stun));
                }
                continue;
            }
            // Melee's knockback formula, with weight.
            def.percent += h.damage;
            info.damage_dealt[a] += h.damage;
            let p = def.percent;
            let w = def.fighter.weight;
            let kb = if h.fixed > 0.0 {
                ((1.0 + 10.0 * h.fixed / 20.0) * 200.0 / (w + 100.0) * 1.4 + 18.0) + h.bkb
            } else {
                knockback(p, h.damage, w, h.kbg, h.bkb)
            };
            let angle = launch_angle(h.angle, def.grounded, kb);
            let speed = kb * 0.03;
            let rad = angle.to_radians();
            def.kx = dir * rad.cos() * speed;
            def.ky = rad.sin() * speed;
            if def.grounded && def.ky < 0.0 {
                def.ky = -def.ky * 0.8; // a spike on the ground bounces
            }
            def.vx = 0.0;
            def.vy = 0.0;
            def.fast_fall = false;
            def.hitstun = (kb * 0.4).floor() as u16;
            def.hitlag = hitlag;
            def.facing = -dir;
            if def.act == Act::Holding || def.act == Act::Held {
                let other = &mut self.players[a];
                if other.act == Act::Held || other.act == Act::Holding {
                    other.set(Act::Idle);
                }
            }
            let hit_y = self.players[a].y + h.y;
            let seed = self.frame as u32 ^ ((d as u32) << 24);
            let def = &mut self.players[d];
            if def.hitstun > 0 {
                def.set(Act::Hitstun);
                damage::react(def, kb, angle, hit_y, seed);
            }
        }
    }

    /// Grab boxes, holds, escapes and throws.
    fn grabs(&mut self) {
        for a in 0..2 {
            let d = 1 - a;
            match self.players[a].act {
                Act::Attack(MoveKind::Grab) => {
                    let att = &self.players[a];
                    let def = &self.players[d];
                    if !(7..=8).contains(&att.frame) || def.intangible() || !def.grounded {
                        continue;
                    }
                    let gx = att.x + att.facing * 10.0;
                    let (w, _) = def.fighter.size;
                    if (gx - def.x).abs() <= 6.0 + w
                        && (att.y - def.y).abs() < 8.0
                        && !matches!(def.act, Act::Held | Act::Holding | Act::Dead)
                    {
                        let facing = att.facing;
                        let (ax, ay) = (att.x, att.y);
                        self.players[a].set(Act::Holding);
                        let def = &mut self.players[d];
                        def.set(Act::Held);
                        def.x = ax + facing * 8.0;
                        def.y = ay;
                        def.vx = 0.0;
                        def.kx = 0.0;
                        def.facing = -facing;
                    }
                }
                Act::Holding => {
                    let held_for = self.players[a].frame;
                    let (sx, sy) = self.players[a].stick();
                    let facing = self.players[a].facing;
                    let escape_at = 60 + (self.players[d].percent / 2.0) as u16;
                    let throw = if sx * facing > 0.5 || held_for >= 45 {
                        Some(MoveKind::Fthrow)
                    } else if sx * facing < -0.5 {
                        Some(MoveKind::Bthrow)
                    } else if sy > 0.5 {
                        Some(MoveKind::Uthrow)
                    } else if sy < -0.5 {
                        Some(MoveKind::Dthrow)
                    } else {
                        None
                    };
                    if let Some(k) = throw {
                        self.throw(a, k);
                    } else if self.players[d].frame >= escape_at {
                        self.players[a].set(Act::Idle);
                        let def = &mut self.players[d];
                        def.set(Act::Idle);
                        def.kx = facing * 1.2;
                    }
                }
                _ => {}
            }
        }
    }

    fn throw(&mut self, a: usize, kind: MoveKind) {
        let d = 1 - a;
        let h = self.players[a].fighter.get(kind).hitboxes[0];
        let facing = self.players[a].facing;
        self.players[a].set(Act::Attack(kind));
        self.players[a].connected = 1;
        let def = &mut self.players[d];
        def.percent += h.damage;
        let p = def.percent;
        let w = def.fighter.weight;
        let kb = (((p / 10.0 + p * h.damage / 20.0) * 200.0 / (w + 100.0) * 1.4) + 18.0) * h.kbg
            / 100.0
            + h.bkb;
        let rad = h.angle.to_radians();
        let speed = kb * 0.03;
        def.kx = facing * rad.cos() * speed;
        def.ky = rad.sin() * speed;
        def.grounded = false;
        def.hitstun = (kb * 0.4).floor() as u16;
        let mid = def.y + def.fighter.size.1 * 0.5;
        damage::react(
            def,
            kb,
            h.angle,
            mid,
            self.frame as u32 ^ ((d as u32) << 24),
        );
        // Held in the throw until its release (Thrown*), then launched.
        def.set(Act::Opt(Opt::Thrown(kind)));
        def.hitlag = options::throw_release(kind);
    }

    /// Blast zones: a stock lost, then a respawn.
    fn blast(&mut self, i: usize, info: &mut StepInfo) {
        let stage = self.stage;
        let p = &mut self.players[i];
        if p.act == Act::Dead {
            self.dead_for[i] = self.dead_for[i].saturating_sub(1);
            if self.dead_for[i] == 0 && p.stocks > 0 {
                let (x, y) = stage.respawn(i);
                let f = p.fighter;
                let stocks = p.stocks;
                *p = Player::new(f, (x, y), if i == 0 { 1.0 } else { -1.0 });
                p.stocks = stocks;
                p.grounded = false;
                p.invuln = RESPAWN_INVULN;
                damage::start_rebirth(p);
            }
            return;
        }
        if stage.outside(p.x, p.y) {
            let dead = damage::dead_action(p, stage);
            p.dead_action = dead;
            p.stocks = p.stocks.saturating_sub(1);
            info.stock_lost[i] = true;
            p.set(Act::Dead);
            p.vx = 0.0;
            p.vy = 0.0;
            p.kx = 0.0;
            p.ky = 0.0;
            p.hitstun = 0;
            p.hitlag = 0;
            self.dead_for[i] = damage::dead_frames(dead);
            // Whoever held or was held by the dead player is let go.
            let o = &mut self.players[1 - i];
            if matches!(o.act, Act::Holding | Act::Held) {
                o.set(if o.grounded { Act::Idle } else { Act::Air });
            }
        }
    }
}

/// Standing, walking, dashing and running on the stick (no button pressed): a flick past
/// the dash threshold dashes (the dash's initial velocity, added when moving the other way,
/// as in Melee's Dash_Enter), a dash held forward becomes a run after its first frames, a run
/// ends when the stick lets go, and a lighter stick walks.
fn locomotion(p: &mut Player, sx: f32, psx: f32) {
    let f = p.fighter;
    let flick = sx.abs() >= DASH_STICK && psx.abs() < DASH_STICK;
    let dash = |p: &mut Player| {
        p.facing = sx.signum();
        let init = p.facing * f.dash_initial_velocity;
        p.vx = if p.vx * p.facing < 0.0 {
            p.vx + init
        } else {
            init
        };
        p.set(Act::Dash);
    };
    match p.act {
        Act::Dash => {
            if flick && sx.signum() != p.facing {
                dash(p); // a dash dance
            } else if p.frame >= f.dash_run_frame && sx * p.facing >= RUN_STICK {
                p.set(Act::Run);
            } else if p.frame >= f.dash_frames {
                p.set(Act::Idle);
            }
        }
        Act::Run => {
            if sx * p.facing < RUN_STICK {
                p.set(Act::Idle);
            }
        }
        _ => {
            if flick {
                dash(p);
            } else if sx.abs() > 0.25 {
                p.facing = sx.signum();
                if p.act != Act::Walk {
                    p.set(Act::Walk);
                }
            } else if p.act != Act::Idle {
                p.set(Act::Idle);
            }
        }
    }
}

/// Melee's acceleration taper: below the target (same sign, slower) the acceleration shrinks
/// by `(1 - v/target) * gain`.
fn taper(accel: f32, v: f32, target: f32, gain: f32) -> f32 {
    if target != 0.0 {
        let frac = v / target;
        if frac > 0.0 && frac < 1.0 {
            return accel * (1.0 - frac) * gain;
        }
    }
    accel
}

/// One step of friction toward zero that stops at zero.
fn toward_zero(v: f32, friction: f32) -> f32 {
    if friction >= v.abs() {
        0.0
    } else {
        v - friction.copysign(v)
    }
}

/// Melee's accelerate-toward-target step (ftCommon_8007C98C on the ground, 8007D174 in the
/// air): accelerate until the target; past it, slow by `friction` but not below it; against
/// the current motion, the full acceleration. Then the hard cap `max`.
fn approach(v: f32, accel: f32, target: f32, friction: f32, max: f32) -> f32 {
    let mut a = accel;
    if v * a >= 0.0 {
        if a > 0.0 {
            if v + a > target {
                a = -friction;
                if v + a < target {
                    a = target - v;
                }
            }
        } else if v + a < target {
            a = friction;
            if v + a > target {
                a = target - v;
            }
        }
    }
    (v + a).clamp(-max, max)
}

/// Melee's air drift: air mobility A times the stick plus B, toward the maximum aerial speed
/// times the stick; with the stick in its deadzone, air friction.
fn air_drift(f: &Fighter, v: f32, sx: f32) -> f32 {
    if sx.abs() < STICK_DEADZONE {
        return toward_zero(v, f.air_friction);
    }
    let accel = sx * f.air_mobility_a + f.air_mobility_b.copysign(sx);
    approach(v, accel, sx * f.air_max_h, f.air_friction, AIR_MAX_VEL)
}

/// The aerial landing action (LandingAirN..LandingAirLw) of an aerial, if it is one.
fn landing_air_action(k: MoveKind) -> Option<u16> {
    use MoveKind::*;
    let n = match k {
        Nair => 0,
        Fair => 1,
        Bair => 2,
        Uair => 3,
        Dair => 4,
        _ => return None,
    };
    Some(action::LANDING_AIR_N + n)
}

/// The ground move for a stick (or C-stick) direction.
fn ground_move(dx: f32, dy: f32, smash: bool) -> MoveKind {
    use MoveKind::*;
    if dx.abs() < 0.3 && dy.abs() < 0.3 {
        return Jab;
    }
    if dy.abs() > dx.abs() {
        match (dy > 0.0, smash) {
            (true, true) => Usmash,
            (true, false) => Utilt,
            (false, true) => Dsmash,
            (false, false) => Dtilt,
        }
    } else if smash {
        Fsmash
    } else {
        Ftilt
    }
}

/// The aerial for a direction relative to facing (`fx` > 0 forward).
fn air_move(fx: f32, dy: f32) -> MoveKind {
    use MoveKind::*;
    if fx.abs() < 0.3 && dy.abs() < 0.3 {
        Nair
    } else if dy.abs() > fx.abs() {
        if dy > 0.0 {
            Uair
        } else {
            Dair
        }
    } else if fx > 0.0 {
        Fair
    } else {
        Bair
    }
}

/// A controller with every value finite and in range.
fn sanitize(c: Controller) -> Controller {
    let f = |v: f32, d: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { d };
    Controller {
        main_x: f(c.main_x, 0.5),
        main_y: f(c.main_y, 0.5),
        c_x: f(c.c_x, 0.5),
        c_y: f(c.c_y, 0.5),
        shoulder: f(c.shoulder, 0.0),
        buttons: Buttons(c.buttons.0),
    }
}

/// Projectiles: each moves, leaves at the blast zones, and hits the other player.
/// Projectiles fly one frame and hit the other player (damage, and Melee's knockback
/// formula as the game's own hits use it); a shield takes the damage instead. Runs after the
/// game's hit check.
fn shots(g: &mut Game, info: &mut StepInfo) {
    for a in 0..2 {
        for k in 0..2 {
            let mut s = g.players[a].shots[k];
            if s.life == 0 {
                continue;
            }
            s.life -= 1;
            s.x += s.vx;
            if g.stage.outside(s.x, s.y) {
                s.life = 0;
            }
            let def = &g.players[1 - a];
            let (w, h) = def.fighter.size;
            let nx = s.x.clamp(def.x - w, def.x + w);
            let ny = s.y.clamp(def.y, def.y + h);
            let touches = (s.x - nx).powi(2) + (s.y - ny).powi(2) <= s.r * s.r;
            if s.life > 0 && touches && !def.intangible() && def.act != Act::Dead {
                s.life = 0;
                hit(g, a, &s, info);
            }
            g.players[a].shots[k] = s;
        }
    }
}

fn hit(g: &mut Game, a: usize, s: &Shot, info: &mut StepInfo) {
    let seed = g.frame as u32 ^ ((1 - a as u32) << 24);
    let def = &mut g.players[1 - a];
    if def.act == Act::Shield {
        def.shield -= s.damage;
        return;
    }
    def.percent += s.damage;
    info.damage_dealt[a] += s.damage;
    let (p, w) = (def.percent, def.fighter.weight);
    let kb = knockback(p, s.damage, w, s.kbg, s.bkb);
    if s.kbg == 0.0 && s.bkb == 0.0 {
        return; // Fox's laser: damage only.
    }
    let angle = launch_angle(s.angle, def.grounded, kb);
    let dir = s.vx.signum();
    let rad = angle.to_radians();
    def.kx = dir * rad.cos() * kb * 0.03;
    def.ky = rad.sin() * kb * 0.03;
    def.vx = 0.0;
    def.vy = 0.0;
    def.fast_fall = false;
    def.hitstun = (kb * 0.4).floor() as u16;
    def.hitlag = (s.damage / 3.0 + 3.0).floor() as u16;
    if def.hitstun > 0 && !matches!(def.act, Act::Holding | Act::Held) {
        def.set(Act::Hitstun);
        damage::react(def, kb, angle, s.y, seed);
    }
}

/// Melee's knockback formula: the target's percent `p` (this hit's damage included) and
/// `weight`, the hit's damage, growth `kbg` and base `bkb`.
fn knockback(p: f32, damage: f32, weight: f32, kbg: f32, bkb: f32) -> f32 {
    (((p / 10.0 + p * damage / 20.0) * 200.0 / (weight + 100.0) * 1.4) + 18.0) * kbg / 100.0 + bkb
}

/// The launch angle in degrees: 361 is the Sakurai angle (0 for weak hits on the ground, else
/// 44).
fn launch_angle(angle: f32, grounded: bool, kb: f32) -> f32 {
    if angle != 361.0 {
        angle
    } else if grounded && kb < 32.0 {
        0.0
    } else {
        44.0
    }
}
