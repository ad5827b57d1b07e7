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

/// Random sticks and buttons, each held for a few frames; off the stage it mostly heads back,
/// and tumbling onto a surface it sometimes presses L.
pub struct Random {
    rng: Rng,
    held: Controller,
    left: u32,
    /// Whether this tumble's landing has had its chance of a tech press.
    teching: bool,
}

impl Random {
    /// A random bot from a seed.
    pub fn new(seed: u64) -> Random {
        Random {
            rng: Rng::new(seed),
            held: Controller::NEUTRAL,
            left: 0,
            teching: false,
        }
    }
}

impl Bot for Random {
    fn act(&mut self, state: &GameState) -> Controller {
        let me = &state.players[0];
        let stage = stage_of(state);
        // Tumbling down onto a surface: now and then a tech press, with any stick.
        let tumbling = (87..=91).contains(&me.action) && me.hitstun_left > 0;
        if tumbling && !me.on_ground && height_above_surface(stage, me) < 10.0 {
            if !self.teching {
                self.teching = true;
                if self.rng.unit() < 0.4 {
                    let mut c = stick(self.rng.unit() * 2.0 - 1.0, 0.0);
                    c.buttons.set(5, true); // L
                    self.held = c;
                    self.left = 12;
                }
            }
        } else {
            self.teching = false;
        }
        if self.left == 0 {
            let r = &mut self.rng;
            let mut c = Controller::NEUTRAL;
            c.main_x = r.unit();
            c.main_y = r.unit();
            // Off the stage, it mostly heads back (random play would otherwise lose most of
            // its stocks by falling, before any knockback could).
            let offstage = me.x.abs() > stage.edge || me.y < -4.0;
            let recover = offstage && !me.on_ground && r.unit() < 0.7;
            if recover {
                c.main_x = 0.5 - me.x.signum() * 0.5;
                c.main_y = 0.5;
            }
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
            if recover {
                // Jump back when falling low with a jump left (X, pressed afresh: the last
                // controller held none when it recovered too).
                b = 0;
                if me.speed_y_self <= 0.0 && me.y < 10.0 && me.jumps_left > 0 {
                    b = 1 << 2;
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
    /// Frames left of a wavedash in progress (jumped; airdodge down-forward once airborne).
    wavedash_for: u32,
    /// The direction of that wavedash.
    wavedash_dir: f32,
    /// What to do on landing in the current tumble.
    tech: Tech,
}

/// The rule bot's plan for landing in tumble.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tech {
    /// Not tumbling toward a surface yet.
    Undecided,
    /// Let it bounce (a missed tech).
    Miss,
    /// Tech in place.
    InPlace,
    /// Tech roll this way (stick x).
    Roll(f32),
}

/// Height above the surface under `me` (the main platform or a pass-through one); infinite
/// over the void.
fn height_above_surface(stage: &Stage, me: &exphil_state::Fighter) -> f32 {
    let mut best = f32::INFINITY;
    if me.x.abs() <= stage.edge && me.y >= 0.0 {
        best = me.y;
    }
    for p in stage.platforms {
        if me.x >= p.left && me.x <= p.right && me.y >= p.y {
            best = best.min(me.y - p.y);
        }
    }
    best
}

impl Rule {
    /// A rule-based bot from a seed (for its choices among attacks).
    pub fn new(seed: u64) -> Rule {
        Rule {
            rng: Rng::new(seed),
            t: 0,
            shield_for: 0,
            jump_for: 0,
            tech: Tech::Undecided,
            wavedash_for: 0,
            wavedash_dir: 0.0,
        }
    }
}

fn stage_of(state: &GameState) -> &'static Stage {
    STAGES
        .iter()
        .find(|s| s.id.to_internal() == Some(state.stage))
        .unwrap_or(&STAGES[0])
}

/// The main stick at `(x, y)` in [-1, 1] (clamped).
pub(crate) fn stick(x: f32, y: f32) -> Controller {
    Controller {
        main_x: 0.5 + x.clamp(-1.0, 1.0) * 0.5,
        main_y: 0.5 + y.clamp(-1.0, 1.0) * 0.5,
        ..Controller::NEUTRAL
    }
}

/// `c` with `button` pressed too.
pub(crate) fn with(mut c: Controller, button: usize) -> Controller {
    c.buttons.set(button, true);
    c
}

impl Bot for Rule {
    fn reset(&mut self) {
        self.t = 0;
        self.shield_for = 0;
        self.jump_for = 0;
        self.tech = Tech::Undecided;
        self.wavedash_for = 0;
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
        // Hanging on a ledge: climb mostly, else jump, roll or attack (slow above 100%).
        if me.action == action::CLIFF_WAIT {
            if !even {
                return Controller::NEUTRAL;
            }
            let r = self.rng.unit();
            return if r < 0.5 {
                stick(toward_centre, 0.0)
            } else if r < 0.7 {
                with(Controller::NEUTRAL, 2) // X: ledge jump
            } else if r < 0.85 {
                with(Controller::NEUTRAL, 6) // R: ledge roll
            } else {
                with(Controller::NEUTRAL, 0) // A: ledge attack
            };
        }
        // Holding the opponent: throw it, up mostly (a launcher), else down, or toward the
        // stage's centre.
        if me.action == action::CATCH_WAIT {
            if !even {
                return Controller::NEUTRAL;
            }
            let r = self.rng.unit();
            return if r < 0.4 {
                stick(0.0, 1.0)
            } else if r < 0.6 {
                stick(0.0, -1.0)
            } else {
                stick(-toward_centre, 0.0)
            };
        }
        // A wavedash in progress: the jump is pressed; airdodge down-forward once airborne.
        if self.wavedash_for > 0 {
            self.wavedash_for -= 1;
            if !me.on_ground {
                self.wavedash_for = 0;
                return with(stick(self.wavedash_dir * 0.7, -0.7), 6);
            }
            return Controller::NEUTRAL;
        }
        // In hitstun: DI and drift toward the stage; tumbling down onto a surface, tech (most
        // of the time: in place, or rolling either way).
        if me.hitstun_left > 0 {
            let tumbling = (87..=91).contains(&me.action);
            let falling = me.speed_y_self + me.speed_y_attack < 0.0;
            if tumbling && falling && !me.on_ground && height_above_surface(stage, me) < 10.0 {
                if self.tech == Tech::Undecided {
                    let r = self.rng.unit();
                    self.tech = if r < 0.2 {
                        Tech::Miss
                    } else if r < 0.6 {
                        Tech::InPlace
                    } else if r < 0.8 {
                        Tech::Roll(toward_centre)
                    } else {
                        Tech::Roll(-toward_centre)
                    };
                }
                return match self.tech {
                    Tech::InPlace => with(Controller::NEUTRAL, 6),
                    Tech::Roll(dir) => with(stick(dir, 0.0), 6),
                    _ => stick(toward_centre, 0.3),
                };
            }
            self.tech = Tech::Undecided;
            return stick(toward_centre, 0.3);
        }
        self.tech = Tech::Undecided;
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
            // Sometimes leaves the shield with a roll away or a spot dodge.
            if self.shield_for == 0 && self.rng.unit() < 0.3 {
                let c = if self.rng.unit() < 0.5 {
                    stick(-dx.signum(), 0.0)
                } else {
                    stick(0.0, -1.0)
                };
                return with(c, 6);
            }
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
            if them.percent >= 80 && r < 0.6 {
                // A kill move: a forward, up or down smash.
                return if r < 0.25 {
                    Controller {
                        c_x: 0.5 + dx.signum() * 0.5,
                        ..Controller::NEUTRAL
                    }
                } else if r < 0.45 {
                    Controller {
                        c_y: 1.0,
                        ..Controller::NEUTRAL
                    }
                } else {
                    Controller {
                        c_y: 0.0,
                        ..Controller::NEUTRAL
                    }
                };
            }
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
        // Approach, now and then with a wavedash (a jump, then an airdodge down-forward).
        if dx.abs() > 40.0 && me.y == 0.0 && me.action != action::KNEE_BEND && even {
            let wd_end = me.x + dx.signum() * 20.0;
            if wd_end.abs() < stage.edge - 10.0 && self.rng.unit() < 0.04 {
                self.wavedash_for = 12;
                self.wavedash_dir = dx.signum();
                return with(Controller::NEUTRAL, 2);
            }
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
