//! Special moves (B, alone or with a direction) as Melee plays them: each is a short list of
//! phases, every phase shown with its Melee action id (one for the ground, one for the air),
//! lasting its Melee frame count, with its own hitboxes and motion — Fox's and Falco's Blaster
//! (a projectile), Fire Fox / Fire Bird (charge, launch along the stick, helpless fall),
//! Illusion / Phantasm (startup, dash, end), Jigglypuff's Rest (she sleeps in Rest's own
//! action) and Pound, Marth's Shield Breaker, Dancing Blade, Dolphin Slash and Counter.
//!
//! The game calls in through a few hooks: [`start`] when B is pressed, [`update`] and
//! [`physics`] each frame of a special, [`land`] on touching down, [`active_hitboxes`] for the
//! hit check, [`intangible`], [`grabs_ledge`] and [`shots`] for projectiles. Nothing here
//! allocates. Where a fighter has no special for a direction, B falls back to its down
//! special, else to its `MoveKind::Special` move.

pub use crate::fighter::{phase, Chain, Land, Motion, Phase, ShotKind, Special, SpecialDir};
use crate::fighter::{Fighter, Hitbox, MoveKind};
pub use crate::player::Shot;
use crate::player::{Act, Player};

/// The B button's index in the controller.
const B: usize = 1;
/// Stick deflection past which B takes a direction.
const DIRECTION_STICK: f32 = 0.5;
/// Below this stick deflection a Fire Fox launches straight up.
const LAUNCH_DEADZONE: f32 = 0.2;
/// Landing lag of a helpless landing (LandingFallSpecial), as the game's own.
const HELPLESS_LANDING: u16 = 10;

fn current(p: &Player) -> Option<(&'static Special, &'static Phase)> {
    let Act::Special(dir, i) = p.act else {
        return None;
    };
    let s = p.fighter.special(dir)?;
    Some((s, s.phases.get(i as usize)?))
}

fn enter(p: &mut Player, dir: SpecialDir, i: u8) {
    p.set(Act::Special(dir, i));
    p.connected = 0;
    p.special_b = false;
}

/// B pressed while actionable, with the stick at (`sx`, `sy`): starts the special for that
/// direction (a side special turns to the stick first), or falls back as the module says.
pub fn start(p: &mut Player, sx: f32, sy: f32) {
    let dir = if sy.abs() >= sx.abs() && sy > DIRECTION_STICK {
        SpecialDir::Hi
    } else if sy.abs() >= sx.abs() && sy < -DIRECTION_STICK {
        SpecialDir::Lw
    } else if sx.abs() > DIRECTION_STICK {
        SpecialDir::S
    } else {
        SpecialDir::N
    };
    let f = p.fighter;
    let chosen = f.special(dir).or_else(|| f.special(SpecialDir::Lw));
    match chosen {
        Some(s) => {
            if s.dir == SpecialDir::S {
                p.facing = sx.signum();
            }
            p.fast_fall = false;
            enter(p, s.dir, 0);
        }
        None => p.set(Act::Attack(MoveKind::Special)),
    }
}

/// The Melee action id a special shows.
pub fn action(p: &Player) -> u16 {
    match current(p) {
        Some((_, ph)) => {
            let id = ph.action[usize::from(!p.grounded)];
            if p.facing < 0.0 {
                (id as i16 + ph.left_offset) as u16
            } else {
                id
            }
        }
        None => crate::fighter::action::WAIT,
    }
}

/// Hitboxes of the move or special phase a player is in (none in hitlag, grabs and throws).
pub fn active_hitboxes(p: &Player) -> Option<&'static [Hitbox]> {
    if p.hitlag > 0 {
        return None;
    }
    match p.act {
        Act::Attack(
            MoveKind::Grab
            | MoveKind::Fthrow
            | MoveKind::Bthrow
            | MoveKind::Uthrow
            | MoveKind::Dthrow,
        ) => None,
        Act::Attack(k) => Some(p.fighter.get(k).hitboxes),
        Act::Special(..) => current(p).map(|(_, ph)| ph.hitboxes),
        _ => None,
    }
}

/// Whether a special's phase makes the player intangible now.
pub fn intangible(p: &Player) -> bool {
    current(p)
        .and_then(|(_, ph)| ph.intangible)
        .is_some_and(|(a, b)| (a..=b).contains(&p.frame))
}

/// Whether a player in a special may grab a ledge (recovery specials, falling).
pub fn grabs_ledge(p: &Player) -> bool {
    current(p).is_some_and(|(s, _)| s.helpless)
}

/// One frame of a special's state machine (`frame` is the frame count already advanced):
/// a B press is remembered, shots fire, and a phase that is over leads to the next, plays
/// again, or ends the special.
pub fn update(p: &mut Player, frame: u16) {
    let Some((s, ph)) = current(p) else {
        p.set(if p.grounded { Act::Idle } else { Act::Air });
        return;
    };
    let Act::Special(dir, i) = p.act else { return };
    let b_held = p.input.buttons.pressed(B);
    if b_held && !p.prev.buttons.pressed(B) {
        p.special_b = true;
    }
    if let (Some(at), Some(kind)) = (ph.fire, s.shot) {
        if frame == at {
            fire(p, &kind);
        }
    }
    let len = ph.frames[usize::from(!p.grounded)];
    let over = (len > 0 && frame >= len) || (ph.chain == Chain::WhileHeld && !b_held);
    if !over {
        return;
    }
    let again = p.special_b;
    let next = match ph.chain {
        Chain::RepeatOnB if again => Some(i),
        Chain::NextOnB if !again => None,
        _ => Some(i + 1),
    };
    match next {
        Some(n) if (n as usize) < s.phases.len() => enter(p, dir, n),
        _ => {
            p.set(if p.grounded {
                Act::Idle
            } else if s.helpless {
                Act::FallSpecial
            } else {
                Act::Air
            });
        }
    }
}

fn fire(p: &mut Player, kind: &ShotKind) {
    let shot = Shot {
        x: p.x + p.facing * kind.offset.0,
        y: p.y + kind.offset.1,
        vx: p.facing * kind.speed,
        life: kind.life,
        r: kind.hitbox.r,
        damage: kind.hitbox.damage,
        angle: kind.hitbox.angle,
        bkb: kind.hitbox.bkb,
        kbg: kind.hitbox.kbg,
    };
    // The older of the two slots makes way.
    let slot = if p.shots[0].life <= p.shots[1].life {
        0
    } else {
        1
    };
    p.shots[slot] = shot;
}

fn toward_zero(v: f32, friction: f32) -> f32 {
    if friction >= v.abs() {
        0.0
    } else {
        v - friction.copysign(v)
    }
}

/// One frame of a special's motion, in place of the game's own (`sx`, `sy` the stick,
/// `psy` the last frame's stick y, `drift` the game's air drift).
pub fn physics(p: &mut Player, sx: f32, sy: f32, psy: f32, drift: fn(&Fighter, f32, f32) -> f32) {
    let Some((_, ph)) = current(p) else { return };
    let f = p.fighter;
    let frame = p.frame;
    let fall = |p: &mut Player| {
        p.vx = toward_zero(p.vx, f.air_friction);
        p.vy = (p.vy - f.gravity).max(-f.terminal);
    };
    match ph.motion {
        Motion::Drift => {
            if p.grounded {
                p.vx = toward_zero(p.vx, f.ground_friction);
            } else {
                p.vx = drift(f, p.vx, sx);
                if p.vy < 0.0 && sy < -0.7 && psy > -0.3 {
                    p.fast_fall = true;
                }
                p.vy = if p.fast_fall {
                    -f.fast_fall
                } else {
                    (p.vy - f.gravity).max(-f.terminal)
                };
            }
        }
        Motion::Stall => {
            p.vx = 0.0;
            p.vy = 0.0;
        }
        Motion::Hover { delay, fall } => {
            if p.grounded {
                p.vx = toward_zero(p.vx, f.ground_friction);
            } else {
                p.vx = toward_zero(p.vx, f.air_friction);
                p.vy = if frame == 0 {
                    0.0
                } else if frame >= delay {
                    (p.vy - fall).max(-f.terminal)
                } else {
                    p.vy
                };
            }
        }
        Motion::Launch {
            speed,
            decel_from,
            decel,
        } => {
            if frame == 0 {
                p.special_angle = if sx.hypot(sy) < LAUNCH_DEADZONE {
                    std::f32::consts::FRAC_PI_2
                } else {
                    let a = sy.atan2(sx);
                    if p.grounded {
                        a.clamp(0.0, std::f32::consts::PI)
                    } else {
                        a
                    }
                };
                if p.special_angle.cos().abs() > 0.05 {
                    p.facing = p.special_angle.cos().signum();
                }
            }
            let s = if frame < decel_from {
                speed
            } else {
                (speed - decel * (frame - decel_from + 1) as f32).max(0.0)
            };
            p.vx = s * p.special_angle.cos();
            p.vy = s * p.special_angle.sin();
            if p.grounded && p.vy > 0.0 {
                p.grounded = false;
            }
            if p.grounded {
                p.vy = 0.0;
            }
        }
        Motion::Dash { speed, from, to } => {
            p.vx = if (from..=to).contains(&frame) {
                p.facing * speed
            } else {
                0.0
            };
            p.vy = 0.0;
        }
        Motion::Slide { speed, decel } => {
            if frame == 0 {
                p.vx = p.facing * speed;
            } else {
                p.vx = toward_zero(p.vx, decel);
            }
            if !p.grounded {
                p.vy = (p.vy - f.gravity).max(-f.terminal);
            }
        }
        Motion::Fall => {
            if p.grounded {
                p.vx = toward_zero(p.vx, f.ground_friction);
            } else {
                fall(p);
            }
        }
        Motion::Lunge {
            at,
            slow,
            speed,
            keep,
        } => {
            p.vx = if frame < at {
                toward_zero(p.vx, slow)
            } else if frame == at {
                p.facing * speed
            } else {
                p.vx * keep
            };
            if !p.grounded {
                p.vy = (p.vy - f.gravity).max(-f.terminal);
            }
        }
        Motion::Rise {
            from,
            jump,
            vy,
            decel,
            fall,
        } => {
            p.vx = if p.grounded {
                toward_zero(p.vx, f.ground_friction)
            } else {
                toward_zero(p.vx, f.air_friction)
            };
            if frame < from {
                if !p.grounded {
                    p.vy = (p.vy - f.gravity).max(-f.terminal);
                }
            } else if let Some(&up) = jump.get((frame - from) as usize) {
                p.vy = up;
                p.grounded = false;
            } else if frame == from + jump.len() as u16 {
                p.vy = vy;
            } else if p.vy > 0.0 {
                p.vy -= decel;
            } else {
                p.vy = (p.vy - fall).max(-f.terminal);
            }
        }
    }
}

/// Touching down in a special: the act that follows, or `None` to go on (shown with the
/// phase's ground id).
pub fn land(p: &Player) -> Option<Act> {
    let (s, ph) = current(p)?;
    match ph.land {
        Land::Stay => None,
        Land::Normal => Some(Act::Landing(p.fighter.landing_lag)),
        Land::Lag { action, frames } => Some(Act::LandingAir(frames, action)),
        Land::Helpless => Some(if s.helpless {
            Act::LandingSpecial(HELPLESS_LANDING)
        } else {
            Act::Landing(p.fighter.landing_lag)
        }),
    }
}
