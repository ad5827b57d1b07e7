//! Being hit and what follows (issue 26), driven through `Game::step` with scripted inputs:
//! hit reactions by strength and angle, DamageFall after a tumble's hitstun, DI turning the
//! launch by Melee's formula, techs and missed techs, blast-zone deaths and the respawn, and
//! that the rule bot still beats the random one.

use exphil_sim::damage::{self, id};
use exphil_sim::game::{Act, Game, STOCKS};
use exphil_sim::{Fighter, STAGES};
use exphil_state::{Buttons, Controller};
mod common;
use common::*;

const A: usize = 0;
const L: usize = 5;

fn press(b: usize) -> Controller {
    Controller {
        buttons: Buttons(1 << b),
        ..N
    }
}

/// A game past the countdown.
fn started(f: [&'static Fighter; 2]) -> Game {
    let mut g = Game::new(fd(), f);
    while g.frame < 0 {
        g.step([N, N]);
    }
    g
}

/// Fox at x = 0 facing right starts `attack` on Jigglypuff at x = 12 (6 for an up smash) and `percent`; steps until
/// the hit lands. `def` is Jigglypuff's controller in hitlag but its last frame, `on_last_hitlag`
/// on that one. Returns the game right after that last hitlag frame (DI applied).
fn hit(attack: Controller, percent: f32, def: Controller, on_last_hitlag: Controller) -> Game {
    let mut g = started([fox(), puff()]);
    g.players[0].x = 0.0;
    // Close enough for the up smash (2 forward, radius 7) and the forward smash (11, 5).
    g.players[1].x = if attack.c_y > 0.5 { 6.0 } else { 12.0 };
    g.players[1].percent = percent;
    g.step([attack, N]);
    for _ in 0..40 {
        g.step([N, N]);
        if g.players[1].act == Act::Hitstun {
            break;
        }
    }
    assert_eq!(g.players[1].act, Act::Hitstun, "the attack connects");
    while g.players[1].hitlag > 1 {
        g.step([N, def]);
    }
    g.step([N, on_last_hitlag]);
    assert_eq!(g.players[1].hitlag, 0);
    g
}

/// Frames Jigglypuff shows `act` from now (the current frame counts), stepping neutral.
fn run_length(g: &mut Game, act: Act) -> u16 {
    let mut frames = 0;
    while g.players[1].act == act {
        frames += 1;
        g.step([N, N]);
    }
    frames
}

fn usmash() -> Controller {
    Controller { c_y: 1.0, ..N }
}
fn fsmash() -> Controller {
    Controller { c_x: 1.0, ..N }
}

fn launch_deg(g: &Game) -> f32 {
    let p = &g.players[1];
    p.ky.atan2(p.kx).to_degrees()
}

#[test]
fn a_strong_hit_up_is_damage_fly_top_then_damage_fall() {
    // Fox's up smash launches at 80°, inside Melee's DamageFlyTop band (70°–110°).
    let mut g = hit(usmash(), 15.0, N, N);
    let p = &g.players[1];
    assert!(p.hitstun >= 32, "tumble strength: {} frames", p.hitstun);
    assert_eq!(p.action(), id::DAMAGE_FLY_TOP);
    assert!((launch_deg(&g) - 80.0).abs() < 0.01, "{}", launch_deg(&g));
    // Hitstun runs out in the air: DamageFall, which lands in a missed tech.
    let mut seen_fall = false;
    for _ in 0..400 {
        g.step([N, N]);
        let p = &g.players[1];
        if p.act == Act::DamageFall {
            assert!(!p.grounded);
            assert_eq!(p.hitstun, 0);
            assert_eq!(p.action(), id::DAMAGE_FALL);
            seen_fall = true;
        }
        if p.grounded {
            break;
        }
    }
    assert!(seen_fall, "tumbled after hitstun");
    let Act::DownBound(up) = g.players[1].act else {
        panic!("a missed tech: {:?}", g.players[1].act)
    };
    assert_eq!(g.players[1].action(), id::DOWN_BOUND_U + face(up));
}

/// The offset of the face-down ids.
fn face(up: bool) -> u16 {
    if up {
        0
    } else {
        id::FACE_DOWN_OFFSET
    }
}

#[test]
fn a_strong_sideways_hit_is_the_fly_reaction_of_the_part_it_struck() {
    // Fox's forward smash (Sakurai angle: 44° at this strength) strikes Jigglypuff (10 tall)
    // 7 up: the upper third, DamageFlyHi. Below 100% it never spins.
    let g = hit(fsmash(), 80.0, N, N);
    let p = &g.players[1];
    assert!(p.hitstun >= 32);
    assert_eq!(p.action(), id::DAMAGE_FLY_HI);
    assert!((launch_deg(&g) - 44.0).abs() < 0.01);
}

#[test]
fn weak_hits_show_their_level_on_the_ground_and_in_the_air() {
    // Fox's jab at 0%: a weak hit; grounded, it is one of DamageHi/N/Lw 1–3.
    let g = hit(press(A), 0.0, N, N);
    let p = &g.players[1];
    assert!(p.hitstun < 32);
    let level = [10, 21].iter().filter(|&&t| p.hitstun >= t).count() as u16;
    assert!((75..=83).contains(&p.action()), "{}", p.action());
    assert_eq!(
        (p.action() - 75) / 3,
        level,
        "level of {} frames",
        p.hitstun
    );
    // The same jab on an airborne Jigglypuff: DamageAir of that level.
    let mut g = started([fox(), puff()]);
    g.players[0].x = 0.0;
    g.players[1].x = 10.0;
    g.players[1].y = 4.0;
    g.players[1].grounded = false;
    g.players[1].act = Act::Air;
    g.step([press(A), N]);
    for _ in 0..10 {
        if g.players[1].act == Act::Hitstun {
            break;
        }
        g.step([N, N]);
    }
    let p = &g.players[1];
    assert_eq!(p.act, Act::Hitstun);
    assert_eq!(p.action(), id::DAMAGE_AIR1 + level);
}

#[test]
fn di_turns_the_launch_by_the_perpendicular_stick_squared_times_18_degrees() {
    let base = hit(usmash(), 60.0, N, N);
    let a0 = launch_deg(&base);
    let speed0 = base.players[1].kx.hypot(base.players[1].ky);
    // Full right against an 80° launch: perpendicular component sin 80°, so 18·sin²80° ≈
    // 17.46° toward the right.
    let right = hit(usmash(), 60.0, N, stick(1.0, 0.0));
    let a1 = launch_deg(&right);
    let want = 18.0 * 80f32.to_radians().sin().powi(2);
    assert!((a0 - a1 - want).abs() < 0.01, "{a0} → {a1}, want −{want}");
    let speed1 = right.players[1].kx.hypot(right.players[1].ky);
    assert!((speed1 - speed0).abs() < 1e-4, "DI keeps the speed");
    // Left turns it the other way.
    let left = hit(usmash(), 60.0, N, stick(-1.0, 0.0));
    assert!((launch_deg(&left) - a0 - want).abs() < 0.01);
    // Straight up is nearly along it: 18·cos²80° ≈ 0.54° toward up (to the left).
    let up = hit(usmash(), 60.0, N, stick(0.0, 1.0));
    let want_up = 18.0 * 80f32.to_radians().cos().powi(2);
    assert!((launch_deg(&up) - a0 - want_up).abs() < 0.01);
    // Only the last hitlag frame counts: held through hitlag but let go on the last, no DI.
    let early = hit(usmash(), 60.0, stick(1.0, 0.0), N);
    assert!((launch_deg(&early) - a0).abs() < 0.01);
}

/// Jigglypuff tumbling 40 above Final Destination, falling; `press_at` frames from now it
/// presses L (`None`: never), holding `hold` otherwise. Returns the game on the landing frame
/// and the frames it took.
fn tumble_onto_the_stage(press_at: Option<u32>, hold: Controller) -> (Game, u32) {
    let mut g = started([fox(), puff()]);
    let p = &mut g.players[1];
    p.x = 20.0;
    p.y = 40.0;
    p.grounded = false;
    p.act = Act::Hitstun;
    p.damage_action = id::DAMAGE_FLY_N;
    p.hitstun = 200;
    for t in 0..200 {
        let mut c = hold;
        if press_at == Some(t) {
            c.buttons.set(L, true);
        }
        g.step([N, c]);
        if g.players[1].grounded {
            return (g, t);
        }
    }
    panic!("never landed");
}

#[test]
fn l_pressed_within_20_frames_of_landing_techs_and_earlier_misses() {
    let (_, land_t) = tumble_onto_the_stage(None, N);
    assert!(land_t > 25, "a long enough fall to press early: {land_t}");
    // In place: Passive for 26 frames, intangible, then standing.
    let (mut g, _) = tumble_onto_the_stage(Some(land_t - 15), N);
    assert_eq!(g.players[1].act, Act::Passive);
    assert_eq!(g.players[1].action(), id::PASSIVE);
    assert!(g.players[1].intangible());
    assert_eq!(run_length(&mut g, Act::Passive), damage::PASSIVE_FRAMES);
    assert_eq!(g.players[1].act, Act::Idle);
    // With the stick toward where it faces (left, at Fox): a forward tech roll, 40 frames.
    let (mut g, _) = tumble_onto_the_stage(Some(land_t - 3), stick(-1.0, 0.0));
    assert_eq!(g.players[1].act, Act::PassiveStand(true));
    assert_eq!(g.players[1].action(), id::PASSIVE_STAND_F);
    let x0 = g.players[1].x;
    assert_eq!(
        run_length(&mut g, Act::PassiveStand(true)),
        damage::PASSIVE_STAND_FRAMES
    );
    assert!(
        g.players[1].x < x0 - 30.0,
        "rolled left: {x0} → {}",
        g.players[1].x
    );
    // Backward.
    let (g, _) = tumble_onto_the_stage(Some(land_t - 3), stick(1.0, 0.0));
    assert_eq!(g.players[1].action(), id::PASSIVE_STAND_B);
    // 21 frames before landing is too early: a missed tech.
    let (g, _) = tumble_onto_the_stage(Some(land_t - 21), N);
    assert!(matches!(g.players[1].act, Act::DownBound(_)));
}

#[test]
fn a_missed_tech_bounces_then_lies_down_until_an_input() {
    let (mut g, _) = tumble_onto_the_stage(None, N);
    let Act::DownBound(up) = g.players[1].act else {
        panic!("a missed tech: {:?}", g.players[1].act)
    };
    assert_eq!(g.players[1].action(), id::DOWN_BOUND_U + face(up));
    assert_eq!(
        run_length(&mut g, Act::DownBound(up)),
        damage::DOWN_BOUND_FRAMES
    );
    assert_eq!(g.players[1].action(), id::DOWN_WAIT_U + face(up));
    for _ in 0..30 {
        g.step([N, N]);
    }
    assert_eq!(g.players[1].act, Act::DownWait(up), "waits for an input");
    // Up: stand in place (30 frames), then stand.
    g.step([N, stick(0.0, 1.0)]);
    assert_eq!(g.players[1].action(), id::DOWN_STAND_U + face(up));
    assert_eq!(
        run_length(&mut g, Act::DownStand(up)),
        damage::DOWN_STAND_FRAMES
    );
    assert_eq!(g.players[1].act, Act::Idle);
    // The other getups out of DownWait: rolls and the getup attack.
    for (c, want) in [
        (stick(-1.0, 0.0), id::DOWN_FOWARD_U),
        (stick(1.0, 0.0), id::DOWN_BACK_U),
        (press(A), id::DOWN_ATTACK_U),
    ] {
        let (mut g, _) = tumble_onto_the_stage(None, N);
        for _ in 0..damage::DOWN_BOUND_FRAMES + 2 {
            g.step([N, N]);
        }
        g.step([N, c]);
        assert_eq!(g.players[1].action(), want + face(up));
    }
    // With no input it gets up by itself.
    let (mut g, _) = tumble_onto_the_stage(None, N);
    for _ in 0..damage::DOWN_BOUND_FRAMES + damage::DOWN_WAIT_MAX_FRAMES + 1 {
        g.step([N, N]);
    }
    assert_eq!(g.players[1].act, Act::DownStand(up));
}

/// Puts Jigglypuff just inside a blast zone moving out, launched; returns the game on the
/// frame it died.
fn die_at(x: f32, y: f32, kx: f32, ky: f32) -> Game {
    let mut g = started([fox(), puff()]);
    let p = &mut g.players[1];
    p.x = x;
    p.y = y;
    p.kx = kx;
    p.ky = ky;
    p.grounded = false;
    p.act = Act::Hitstun;
    p.hitstun = 100;
    for _ in 0..10 {
        let info = g.step([N, N]);
        if info.stock_lost[1] {
            return g;
        }
    }
    panic!("did not die");
}

#[test]
fn a_blast_zone_death_shows_its_side_then_rebirth_then_rebirth_wait() {
    let [left, right, top, bottom] = fd().blast;
    for (x, y, kx, ky, want) in [
        (left + 1.0, 20.0, -3.0, 0.0, id::DEAD_LEFT),
        (right - 1.0, 20.0, 3.0, 0.0, id::DEAD_RIGHT),
        (0.0, bottom + 1.0, 0.0, -3.0, id::DEAD_DOWN),
        (0.0, top - 1.0, 0.0, 3.0, id::DEAD_UP_STAR),
    ] {
        let mut g = die_at(x, y, kx, ky);
        assert_eq!(g.players[1].stocks, STOCKS - 1);
        assert_eq!(g.players[1].act, Act::Dead);
        assert_eq!(g.players[1].action(), want);
        assert_eq!(run_length(&mut g, Act::Dead), damage::dead_frames(want));
        assert_eq!(g.players[1].action(), id::REBIRTH);
        assert!(g.players[1].intangible());
        let y0 = g.players[1].y;
        assert_eq!(run_length(&mut g, Act::Rebirth), damage::REBIRTH_FRAMES);
        assert_eq!(g.players[1].act, Act::Respawn);
        assert_eq!(g.players[1].action(), 13);
        assert!(g.players[1].y < y0, "came down");
        assert_eq!(g.players[1].y, fd().respawn(1).1);
        // Moving the stick drops it off the platform, still invincible.
        g.step([N, stick(0.0, -1.0)]);
        assert_eq!(g.players[1].act, Act::Air);
        assert!(g.players[1].intangible());
    }
    // Floating out of the top unlaunched is DeadUp.
    let mut g = started([fox(), puff()]);
    g.players[1].y = top - 0.5;
    g.players[1].vy = 2.0;
    g.players[1].grounded = false;
    g.players[1].act = Act::Air;
    g.step([N, N]);
    assert_eq!(g.players[1].action(), id::DEAD_UP);
}

#[test]
fn rule_beats_random_at_least_20_of_24_games() {
    let mut wins = 0;
    for seed in 0..24u64 {
        let stage = &STAGES[seed as usize % STAGES.len()];
        let fighters = [fox(), puff(), Fighter::parse("bowser").unwrap()];
        let f = [
            fighters[seed as usize % 3],
            fighters[(seed as usize / 3) % 3],
        ];
        wins += usize::from(rule_beats_random(Game::new(stage, f), (seed, seed + 100)));
    }
    println!("rule beat random in {wins} of 24");
    assert!(wins >= 20, "rule beat random in {wins} of 24");
}
