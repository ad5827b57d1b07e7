//! Being hit and what follows, in Melee's own action states (issue 26): the hit reaction a
//! hit's knockback and angle choose (DamageHi/N/Lw 1–3 on the ground, DamageAir1–3 in the air,
//! DamageFlyHi/N/Lw/Top/Roll at tumble strength), DI on the last hitlag frame, DamageFall when
//! a tumble outlasts its hitstun, teching on landing (Passive, PassiveStandF/B) and a missed
//! tech's down states (DownBound, DownWait, DownStand, DownFoward/DownBack, DownAttack), and
//! blast-zone deaths (DeadDown/Left/Right/Up/UpStar) followed by Rebirth and RebirthWait.
//!
//! [`crate::game`] calls in here from a few hooks; the states are the [`Act`] variants at the
//! end of that enum. Frame counts marked "measured" are the most common run lengths of the
//! action in the shared real replays; the ones marked "assumed" are not from Melee's tables.

pub use crate::player::id;
use crate::player::{Act, Player};
use crate::stage::Stage;

/// Hitstun frames per unit of knockback (Melee's x154).
const HITSTUN_PER_KB: f32 = 0.4;
/// Hitstun (knockback × 0.4, before rounding) from which a weak hit is level 2, level 3, and
/// a tumble (DamageFly): Melee's x158/x15C/x160. Measured: in the shared replays the
/// level-1 reactions start with at most 9 frames of hitstun, level 2 with 10–20, level 3
/// with 21–31 and the DamageFly ones with 32 or more (knockback 80, the tumble threshold).
const LEVEL_HITSTUN: [f32; 3] = [10.0, 21.0, 32.0];
/// Melee's damage-reaction table (ftCo_803C5520): by ground/air, then level × 3 + hit part
/// (low, middle, high).
const REACTION: [[u16; 12]; 2] = [
    [81, 78, 75, 82, 79, 76, 83, 80, 77, 89, 88, 87],
    [84, 84, 84, 85, 85, 85, 86, 86, 86, 89, 88, 87],
];
/// A tumble launched at an angle strictly inside this band (degrees, before DI) is
/// DamageFlyTop (Melee's x234/x238: 70° and 110°).
const FLY_TOP_DEG: (f32, f32) = (70.0, 110.0);
/// At or above this percent a tumble that is not DamageFlyTop may spin (DamageFlyRoll,
/// Melee's x23C). Measured: no DamageFlyRoll below 100.09% in the shared replays.
const FLY_ROLL_PERCENT: f32 = 100.0;
/// The chance it does (Melee's x240). Measured: 84 of the 320 non-Top tumbles at 100% or more
/// in the shared replays spin (0.26).
const FLY_ROLL_CHANCE: f32 = 0.25;
/// The share of missed techs that land face down (DownBoundD), out of DamageFlyHi, N, Lw,
/// Top, Roll and DamageFall. Melee picks the face from the tumble animation's pose, which the
/// simulator does not have; these are the shares measured in the shared replays (out of 47,
/// 114, 34, 54, 9 and 8 missed techs), drawn by a deterministic coin.
pub const FACE_DOWN_SHARE: [f32; 6] = [0.17, 0.37, 0.53, 0.19, 0.44, 0.6];
/// The most DI turns a launch: Melee's x1A8, 18°, with the stick perpendicular to it.
const DI_MAX_DEG: f32 = 18.0;
/// Melee zeroes each stick axis below this before DI reads it.
const STICK_DEADZONE: f32 = 0.2875;
/// Frames before landing in which an L or R press techs (Melee's tech window).
pub const TECH_WINDOW: u8 = 20;
/// Frames from a tech press before another press opens a new window (Melee's lockout).
pub const TECH_LOCKOUT: u8 = 40;
/// Tech in place (Passive) frames. Measured (97 of 122 runs are 26).
pub const PASSIVE_FRAMES: u16 = 26;
/// Tech roll (PassiveStandF/B) frames. Measured (94 of 124 runs are 40).
pub const PASSIVE_STAND_FRAMES: u16 = 40;
/// Distance a tech roll covers. Measured: Fox's median is 41 forward, 39 back; assumed for
/// every fighter, spread evenly over the moving frames.
const PASSIVE_STAND_DISTANCE: f32 = 40.0;
/// Missed tech bounce (DownBound) frames. Measured (149 of 268 runs are 26).
pub const DOWN_BOUND_FRAMES: u16 = 26;
/// Lying down (DownWait) until an input; with none, the fighter stands after this many frames.
/// Assumed (real players act within 23 frames in the shared replays).
pub const DOWN_WAIT_MAX_FRAMES: u16 = 60;
/// Getting up in place (DownStand) frames. Measured (31 of 42 runs are 30).
pub const DOWN_STAND_FRAMES: u16 = 30;
/// Getup roll (DownFoward/DownBack) frames. Measured (69 of 79 runs are 35).
pub const DOWN_ROLL_FRAMES: u16 = 35;
/// Distance a getup roll covers. Measured: about 34 either way (median over the cast).
const DOWN_ROLL_DISTANCE: f32 = 34.0;
/// Getup attack (DownAttack) frames. Measured: face-up runs are 49–53; assumed 50 for both.
pub const DOWN_ATTACK_FRAMES: u16 = 50;
/// Frames a tech or a getup is intangible. Assumed (Melee's are about 20 for each).
const GETUP_INTANGIBLE: u16 = 20;
/// Frames a death shows before the respawn. Measured: DeadDown/Left/Right runs are 60.
pub const DEAD_FRAMES: u16 = 60;
/// Frames a star KO (DeadUpStar) shows. Measured: 15 of 17 runs are 176.
pub const DEAD_UP_STAR_FRAMES: u16 = 176;
/// Frames the respawn platform comes down (Rebirth). Measured: 181 of 183 runs are 60.
pub const REBIRTH_FRAMES: u16 = 60;
/// Height the platform comes down from, above the respawn point. Assumed (the real ones
/// come down 65–104 units over the 60 frames, by stage).
const REBIRTH_DROP: f32 = 60.0;

/// Whether a hit reaction is a tumble (DamageFly*) or DamageFall.
pub fn tumbling(p: &Player) -> bool {
    matches!(p.act, Act::DamageFall)
        || (p.act == Act::Hitstun
            && (id::DAMAGE_FLY_HI..=id::DAMAGE_FLY_ROLL).contains(&p.damage_action))
}

/// A deterministic coin in [0, 1) from a seed (the simulator has no randomness of its own).
fn coin(seed: u32) -> f32 {
    let mut z = seed.wrapping_mul(0x9E37_79B9) ^ 0x85EB_CA6B;
    z ^= z >> 15;
    z = z.wrapping_mul(0x2C1B_3C6D);
    z ^= z >> 12;
    z = z.wrapping_mul(0x297A_2D39);
    z ^= z >> 15;
    (z >> 8) as f32 / (1u32 << 24) as f32
}

/// The hit reaction for a hit of knockback `kb` at `angle_deg` (the hitbox's, Sakurai angle
/// resolved, before DI) whose centre is at height `hit_y`: Melee's level by hitstun, the
/// ground or air row by where the player was, the part by where on the body it struck (lower
/// third, middle, upper third: assumed, for Melee's per-hurtbox high/middle/low), DamageFlyTop
/// by angle and DamageFlyRoll by chance above 100%. Sets `p.damage_action`; `seed` varies
/// the chance between hits.
pub fn react(p: &mut Player, kb: f32, angle_deg: f32, hit_y: f32, seed: u32) {
    let hitstun = kb * HITSTUN_PER_KB;
    let level = LEVEL_HITSTUN.iter().filter(|&&t| hitstun >= t).count();
    let height = p.fighter.size.1.max(1.0);
    let rel = (hit_y - p.y) / height;
    let part = if rel < 1.0 / 3.0 {
        0
    } else if rel < 2.0 / 3.0 {
        1
    } else {
        2
    };
    let row = usize::from(!p.grounded);
    let mut a = REACTION[row][level * 3 + part];
    if level == 3 {
        let angle = angle_deg.rem_euclid(360.0);
        if angle > FLY_TOP_DEG.0 && angle < FLY_TOP_DEG.1 {
            a = id::DAMAGE_FLY_TOP;
        } else if p.percent >= FLY_ROLL_PERCENT
            && coin(seed ^ p.percent.to_bits()) < FLY_ROLL_CHANCE
        {
            a = id::DAMAGE_FLY_ROLL;
        }
    }
    p.damage_action = a;
}

/// One stick axis as Melee's DI reads it: −1..1, zero inside the deadzone.
fn axis(v: f32) -> f32 {
    let s = if v.is_finite() {
        ((v - 0.5) * 2.0).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    if s.abs() < STICK_DEADZONE {
        0.0
    } else {
        s
    }
}

/// DI, on the last hitlag frame of a hit: Melee's ftCo_8008E5A4 turns the launch by up to
/// 18° times the square of the stick's component perpendicular to it (the stick clamped to
/// the unit circle), toward the stick's side; the speed is unchanged.
pub fn di(p: &mut Player) {
    let (mut sx, mut sy) = (axis(p.input.main_x), axis(p.input.main_y));
    let m = sx.hypot(sy);
    if m > 1.0 {
        sx /= m;
        sy /= m;
    }
    let (kx, ky) = (p.kx, p.ky);
    let k2 = kx * kx + ky * ky;
    if (sx == 0.0 && sy == 0.0) || k2 < 1e-5 {
        return;
    }
    let cross = kx * sy - ky * sx;
    let turn = DI_MAX_DEG.to_radians() * cross * cross.abs() / k2;
    let angle = ky.atan2(kx) + turn;
    let speed = k2.sqrt();
    p.kx = speed * angle.cos();
    p.ky = speed * angle.sin();
}

/// Opens the tech window on a fresh L or R press (digital or analog) outside the lockout, and
/// counts both down. Called once a frame outside hitlag.
pub fn track_tech(p: &mut Player) {
    p.tech_window = p.tech_window.saturating_sub(1);
    p.tech_lockout = p.tech_lockout.saturating_sub(1);
    let (now, before) = (p.input.buttons, p.prev.buttons);
    let fresh = (now.pressed(5) && !before.pressed(5))
        || (now.pressed(6) && !before.pressed(6))
        || (p.input.shoulder > 0.3 && p.prev.shoulder <= 0.3);
    if fresh && p.tech_lockout == 0 {
        p.tech_window = TECH_WINDOW;
        p.tech_lockout = TECH_LOCKOUT;
    }
}

/// The state a player in hitstun or DamageFall lands in: out of a weak hit, a plain landing
/// (Melee ends non-tumble hitstun on landing); out of a tumble, a tech when L or R was pressed
/// in the window (in place, or a roll with the stick past half toward a side), else a missed
/// tech's bounce, face down by chance at [`FACE_DOWN_SHARE`].
pub fn land(p: &mut Player, landing_lag: u16) -> Act {
    if !tumbling(p) {
        p.hitstun = 0;
        return Act::Landing(landing_lag);
    }
    p.hitstun = 0;
    p.fast_fall = false;
    if p.tech_window > 0 {
        p.tech_window = 0;
        p.invuln = p.invuln.max(GETUP_INTANGIBLE);
        p.kx = 0.0;
        let sx = axis(p.input.main_x);
        return if sx.abs() > 0.5 {
            Act::PassiveStand(sx * p.facing > 0.0)
        } else {
            Act::Passive
        };
    }
    let face_down_share = if p.act == Act::DamageFall {
        FACE_DOWN_SHARE[5]
    } else {
        FACE_DOWN_SHARE[usize::from(p.damage_action.saturating_sub(id::DAMAGE_FLY_HI)).min(4)]
    };
    let seed = p.x.to_bits() ^ p.percent.to_bits().rotate_left(16);
    Act::DownBound(coin(seed) >= face_down_share)
}

/// The getup a downed player's input asks for: up or a jump button stands, a side rolls that
/// way, A or B attacks (held inputs count at the end of a bounce, as Melee buffers them).
fn getup(p: &Player, face_up: bool) -> Option<Act> {
    let (sx, sy) = (axis(p.input.main_x), axis(p.input.main_y));
    let b = p.input.buttons;
    if b.pressed(0) || b.pressed(1) {
        Some(Act::DownAttack(face_up))
    } else if sx.abs() > 0.5 && sx.abs() >= sy.abs() {
        Some(Act::DownRoll(face_up, sx * p.facing > 0.0))
    } else if sy > 0.5 || b.pressed(2) || b.pressed(3) {
        Some(Act::DownStand(face_up))
    } else {
        None
    }
}

/// Moves `p` by `dx` along the ground if the ground is still under it there (rolls stop at
/// edges, as Melee's do).
fn roll(p: &mut Player, stage: &Stage, dx: f32) {
    if stage.supports(p.x + dx, p.y) {
        p.x += dx;
    }
    p.vx = 0.0;
}

/// One frame of the tech and down states (`p.frame` already counts this frame). A player who
/// slid off its surface falls.
pub fn update_down(p: &mut Player, stage: &Stage) {
    if !p.grounded {
        p.set(Act::Air);
        return;
    }
    let frame = p.frame;
    let facing = p.facing;
    let dir = |forward: bool| if forward { facing } else { -facing };
    match p.act {
        Act::PassiveStand(forward) => roll(
            p,
            stage,
            dir(forward) * PASSIVE_STAND_DISTANCE / PASSIVE_STAND_FRAMES as f32,
        ),
        Act::DownRoll(_, forward) => roll(
            p,
            stage,
            dir(forward) * DOWN_ROLL_DISTANCE / DOWN_ROLL_FRAMES as f32,
        ),
        Act::DownBound(up) if frame >= DOWN_BOUND_FRAMES => {
            let next = getup(p, up).unwrap_or(Act::DownWait(up));
            start_getup(p, next);
        }
        Act::DownWait(up) => {
            if let Some(next) = getup(p, up) {
                start_getup(p, next);
            } else if frame >= DOWN_WAIT_MAX_FRAMES {
                start_getup(p, Act::DownStand(up));
            }
        }
        _ => {}
    }
    let length = match p.act {
        Act::Passive => PASSIVE_FRAMES,
        Act::PassiveStand(_) => PASSIVE_STAND_FRAMES,
        Act::DownStand(_) => DOWN_STAND_FRAMES,
        Act::DownRoll(..) => DOWN_ROLL_FRAMES,
        Act::DownAttack(_) => DOWN_ATTACK_FRAMES,
        _ => u16::MAX,
    };
    if p.frame >= length {
        p.set(Act::Idle);
    }
}

fn start_getup(p: &mut Player, next: Act) {
    if !matches!(next, Act::DownWait(_)) {
        p.invuln = p.invuln.max(GETUP_INTANGIBLE);
    }
    p.set(next);
}

/// The action shown in the states this module adds, and in hitstun.
pub fn action(p: &Player) -> u16 {
    let face = |up: bool| if up { 0 } else { id::FACE_DOWN_OFFSET };
    match p.act {
        Act::Hitstun => p.damage_action,
        Act::DamageFall => id::DAMAGE_FALL,
        Act::Passive => id::PASSIVE,
        Act::PassiveStand(true) => id::PASSIVE_STAND_F,
        Act::PassiveStand(false) => id::PASSIVE_STAND_B,
        Act::DownBound(up) => id::DOWN_BOUND_U + face(up),
        Act::DownWait(up) => id::DOWN_WAIT_U + face(up),
        Act::DownStand(up) => id::DOWN_STAND_U + face(up),
        Act::DownAttack(up) => id::DOWN_ATTACK_U + face(up),
        Act::DownRoll(up, true) => id::DOWN_FOWARD_U + face(up),
        Act::DownRoll(up, false) => id::DOWN_BACK_U + face(up),
        Act::Rebirth => id::REBIRTH,
        Act::Dead => p.dead_action,
        _ => p.damage_action,
    }
}

/// The death a player outside the blast zones shows: by the side it left through; through the
/// top, the star KO when it was launched (in hitstun, tumbling or still carried up by
/// knockback), else DeadUp (real replays show no DeadUp at all).
pub fn dead_action(p: &Player, stage: &Stage) -> u16 {
    let [left, right, top, _] = stage.blast;
    if p.y > top {
        if p.ky > 0.0 || matches!(p.act, Act::Hitstun | Act::DamageFall) {
            id::DEAD_UP_STAR
        } else {
            id::DEAD_UP
        }
    } else if p.x < left {
        id::DEAD_LEFT
    } else if p.x > right {
        id::DEAD_RIGHT
    } else {
        id::DEAD_DOWN
    }
}

/// Frames a death shows before the respawn.
pub fn dead_frames(action: u16) -> u16 {
    if action == id::DEAD_UP_STAR {
        DEAD_UP_STAR_FRAMES
    } else {
        DEAD_FRAMES
    }
}

/// Starts the respawn platform's descent from above the respawn point `p` stands at.
pub fn start_rebirth(p: &mut Player) {
    p.y += REBIRTH_DROP;
    p.set(Act::Rebirth);
}

/// One frame of the descent; at its end the player waits on the platform (RebirthWait).
pub fn update_rebirth(p: &mut Player) {
    p.vx = 0.0;
    p.vy = 0.0;
    p.y -= REBIRTH_DROP / REBIRTH_FRAMES as f32;
    if p.frame >= REBIRTH_FRAMES {
        p.set(Act::Respawn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coin_is_spread_over_the_unit_interval() {
        let n = 10_000u32;
        let below: u32 = (0..n).map(|s| u32::from(coin(s) < FLY_ROLL_CHANCE)).sum();
        assert!((below as f32 / n as f32 - FLY_ROLL_CHANCE).abs() < 0.02);
        assert!((0..n).all(|s| (0.0..1.0).contains(&coin(s))));
    }
}
