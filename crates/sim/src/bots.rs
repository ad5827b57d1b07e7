//! Scripted opponents: idle, random, and a rule-based bot that approaches, attacks, shields and
//! recovers. They read the same game-state view a policy reads and answer the same controller.

use crate::stage::{Stage, STAGES};
use exphil_state::{Buttons, Controller, GameState};

/// A scripted player.
pub trait Bot: Send {
    /// The controller for this frame, seen from the bot's seat (`players[0]` is the bot).
    fn act(&mut self, state: &GameState) -> Controller;
    /// Forgets the game (a new one starts).
    fn reset(&mut self) {}
}

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Does nothing.
pub struct Idle;

impl Bot for Idle {
    fn act(&mut self, _: &GameState) -> Controller {
        Controller::NEUTRAL
    }
}

/// Random sticks and buttons, each held for a few frames.
pub struct Random {
    rng: Rng,
    held: Controller,
    left: u32,
}

impl Random {
    /// A random bot from a seed.
    pub fn new(seed: u64) -> Random {
        Random {
            rng: Rng::new(seed),
            held: Controller::NEUTRAL,
            left: 0,
        }
    }
}

impl Bot for Random {
    fn act(&mut self, _: &GameState) -> Controller {
        if self.left == 0 {
            let r = &mut self.rng;
            let mut c = Controller::NEUTRAL;
            c.main_x = r.unit();
            c.main_y = r.unit();
            if r.unit() < 0.15 {
                c.c_x = r.unit();
                c.c_y = r.unit();
            }
            let mut b = 0u8;
            for i in 0..8 {
                if r.unit() < 0.08 {
                    b |= 1 << i;
                }
            }
            c.buttons = Buttons(b);
            self.held = c;
            self.left = 2 + (r.next_u64() % 10) as u32;
        }
        self.left -= 1;
        self.held
    }
}

/// Approaches, attacks in range, shields what comes at it, and recovers to the stage.
pub struct Rule {
    rng: Rng,
    t: u64,
    shield_for: u32,
    /// Frames left holding the jump button (a full hop).
    jump_for: u32,
}

impl Rule {
    /// A rule-based bot from a seed (for its choices among attacks).
    pub fn new(seed: u64) -> Rule {
        Rule {
            rng: Rng::new(seed),
            t: 0,
            shield_for: 0,
            jump_for: 0,
        }
    }
}

fn stage_of(state: &GameState) -> &'static Stage {
    STAGES
        .iter()
        .find(|s| s.id.to_internal() == Some(state.stage))
        .unwrap_or(&STAGES[0])
}

fn stick(x: f32, y: f32) -> Controller {
    Controller {
        main_x: 0.5 + x.clamp(-1.0, 1.0) * 0.5,
        main_y: 0.5 + y.clamp(-1.0, 1.0) * 0.5,
        ..Controller::NEUTRAL
    }
}

fn with(mut c: Controller, button: usize) -> Controller {
    c.buttons.set(button, true);
    c
}

impl Bot for Rule {
    fn reset(&mut self) {
        self.t = 0;
        self.shield_for = 0;
        self.jump_for = 0;
    }

    fn act(&mut self, s: &GameState) -> Controller {
        use crate::fighter::action;
        self.t += 1;
        let even = self.t.is_multiple_of(2);
        let me = &s.players[0];
        let them = &s.players[1];
        let stage = stage_of(s);
        let toward_centre = -me.x.signum();
        let offstage = me.x.abs() > stage.edge + 2.0 || me.y < -4.0;
        // Hanging on a ledge: climb.
        if me.action == action::CLIFF_WAIT {
            return if even {
                stick(toward_centre, 0.0)
            } else {
                Controller::NEUTRAL
            };
        }
        // In hitstun: drift toward the stage.
        if me.hitstun_left > 0 {
            return stick(toward_centre, 0.3);
        }
        if offstage && !me.on_ground {
            // Recover: drift in, jump when falling below the stage top; out of jumps and
            // below it, the up special toward the ledge (for fighters that have one).
            let mut c = stick(toward_centre, 0.0);
            if me.action >= 341 {
                // In the up special: aim at the ledge (Fire Fox launches along the stick).
                let (lx, ly) = ((me.x.abs() - stage.edge).max(0.0), -me.y + 5.0);
                let n = lx.hypot(ly).max(1e-3);
                return stick(toward_centre * lx / n, ly / n);
            }
            if me.speed_y_self <= 0.0 && me.y < 10.0 && me.jumps_left > 0 && even {
                c = with(c, 2); // X
            } else if me.speed_y_self < 0.0
                && me.y < -10.0
                && me.jumps_left == 0
                && me.action != action::FALL_SPECIAL
                && has_up_special(s)
                && even
            {
                c = with(stick(toward_centre * 0.6, 0.8), 1); // B up
            }
            return c;
        }
        let dx = them.x - me.x;
        let dy = them.y - me.y;
        if self.jump_for > 0 {
            self.jump_for -= 1;
            return with(stick(dx.signum() * 0.5, 0.0), 2);
        }
        let facing = if me.facing_right { 1.0 } else { -1.0 };
        let attacking = (44..=69).contains(&them.action) || them.action >= 341;
        // Shield what comes at it.
        if self.shield_for > 0 {
            self.shield_for -= 1;
            return with(Controller::NEUTRAL, 6); // R
        }
        if me.on_ground && attacking && dx.abs() < 22.0 && dy.abs() < 20.0 && self.rng.unit() < 0.35
        {
            self.shield_for = 8;
            return with(Controller::NEUTRAL, 6);
        }
        if !me.on_ground {
            // Below an opponent on a platform: jump again on the way down.
            if dy > 8.0 && me.speed_y_self <= 0.0 && me.jumps_left > 0 && even {
                return with(stick(dx.signum() * 0.5, 0.0), 2);
            }
            // In the air near the opponent: an aerial; otherwise drift toward it.
            if dx.abs() < 14.0 && dy.abs() < 16.0 && even {
                let dir = if dy > 6.0 {
                    (0.0, 1.0)
                } else if dy < -6.0 {
                    (0.0, -1.0)
                } else {
                    (dx.signum() * 0.0, 0.0)
                };
                return with(stick(dir.0, dir.1), 0);
            }
            return stick(dx.signum() * 0.6, 0.0);
        }
        let in_reach = dx.abs() < 16.0 && dy.abs() < 12.0;
        if in_reach {
            if dx.signum() != facing && dx.abs() > 2.0 {
                // Turn around first (a light tap).
                return stick(dx.signum() * 0.4, 0.0);
            }
            if !even {
                return Controller::NEUTRAL;
            }
            let r = self.rng.unit();
            return if r < 0.25 {
                with(Controller::NEUTRAL, 0) // jab
            } else if r < 0.45 {
                with(stick(dx.signum() * 0.5, 0.0), 0) // ftilt
            } else if r < 0.6 {
                with(Controller::NEUTRAL, 4) // grab
            } else if r < 0.75 {
                Controller {
                    c_x: 0.5 + dx.signum() * 0.5,
                    ..Controller::NEUTRAL
                } // fsmash
            } else if r < 0.9 {
                Controller {
                    c_y: 1.0,
                    ..Controller::NEUTRAL
                } // usmash
            } else {
                with(Controller::NEUTRAL, 1) // special
            };
        }
        if dy > 10.0 && dx.abs() < 25.0 && even {
            // A full hop up to it (a platform): hold the button through the jump squat.
            self.jump_for = 12;
            return with(stick(dx.signum() * 0.3, 0.0), 2);
        }
        // Approach, not running off the stage.
        let next = me.x + dx.signum() * 6.0;
        if next.abs() > stage.edge - 4.0 && me.y == 0.0 {
            return Controller::NEUTRAL;
        }
        stick(dx.signum(), 0.0)
    }
}

/// Whether seat 0's fighter has an up special (a recovery).
fn has_up_special(s: &GameState) -> bool {
    s.players[0]
        .character
        .to_external()
        .and_then(crate::fighter::Fighter::of)
        .is_some_and(|f| f.special(crate::specials::SpecialDir::Hi).is_some())
}

/// A bot by name: `idle`, `random` or `rule`.
pub fn bot(name: &str, seed: u64) -> Option<Box<dyn Bot>> {
    match name {
        "idle" => Some(Box::new(Idle)),
        "random" => Some(Box::new(Random::new(seed))),
        "rule" | "rules" | "rule-based" => Some(Box::new(Rule::new(seed))),
        _ => None,
    }
}

/// The bots' names.
pub const BOT_NAMES: [&str; 3] = ["idle", "random", "rule"];
