//! Movement against real Melee: each figure measured on real replays (through the same decoder
//! as the simulator's games) is reproduced within 2% by a `Game` driven with scripted
//! controller inputs — jump apexes, the dash's first frame, stick-proportional run and drift
//! caps, takeoff speed out of a run, landing lag, the airdodge and its helpless fall, the
//! wavedash slide, Jigglypuff's shrinking aerial jumps and L-cancelling.

use exphil_sim::fighter::action;
use exphil_sim::game::{Act, Game};
use exphil_sim::Fighter;
use exphil_state::Controller;
mod common;
use common::*;

const X: usize = 2;
const Z: usize = 4;
const L: usize = 5;

/// `got` is within 2% of the real figure `real`.
fn near(what: &str, got: f32, real: f32) {
    assert!(
        (got - real).abs() <= real.abs() * 0.02,
        "{what}: simulator {got}, real replays {real}"
    );
}

/// A game past the countdown, player 1 (`f`) standing at the centre of Final Destination.
fn started(f: &'static Fighter) -> Game {
    let mut g = Game::new(fd(), [f, puff()]);
    while g.frame < 0 {
        g.step([N, N]);
    }
    g.players[0].x = 0.0;
    g
}

/// Player 1 airborne and actionable, `y` above the stage's centre.
fn airborne(f: &'static Fighter, y: f32) -> Game {
    let mut g = started(f);
    let p = &mut g.players[0];
    p.y = y;
    p.grounded = false;
    p.act = Act::Air;
    g
}

/// The apex of a jump from standing: X held for `hold` frames.
fn ground_jump_apex(f: &'static Fighter, hold: usize) -> f32 {
    let mut g = started(f);
    let mut apex: f32 = 0.0;
    for t in 0..200 {
        g.step([if t < hold { with(N, X) } else { N }, N]);
        apex = apex.max(g.players[0].y);
        if t > 5 && g.players[0].grounded {
            break;
        }
    }
    apex
}

#[test]
fn fox_full_hop_and_short_hop_reach_melees_apexes() {
    let full = ground_jump_apex(fox(), 20);
    let short = ground_jump_apex(fox(), 1);
    println!("fox full hop apex {full}, short hop apex {short}");
    near("Fox full hop apex", full, 31.28);
    near("Fox short hop apex", short, 10.65);
}

#[test]
fn fox_double_jump_loses_gravity_on_its_first_frame() {
    // 3.68 x 1.2 = 4.416, less one frame of gravity: the 4.186 a replay shows.
    let mut g = airborne(fox(), 50.0);
    g.step([with(N, X), N]);
    let v = g.view(0).players[0];
    assert_eq!(v.action, action::JUMP_AERIAL_F);
    println!("fox double jump first-frame speed {}", v.speed_y_self);
    near("Fox double jump first-frame speed", v.speed_y_self, 4.186);
}

#[test]
fn fox_dashes_at_its_initial_velocity_from_standing() {
    let mut g = started(fox());
    g.step([stick(1.0, 0.0), N]);
    let v = g.view(0).players[0];
    assert_eq!(v.action, action::DASH);
    println!("fox first dash frame speed {}", v.speed_ground_x_self);
    near("Fox first dash frame speed", v.speed_ground_x_self, 1.90);
}

/// Fox's ground speed after dashing and running `frames` with the stick at `x`.
fn run_speed(g: &mut Game, x: f32, frames: usize) -> f32 {
    for _ in 0..frames {
        g.step([stick(x, 0.0), N]);
    }
    g.view(0).players[0].speed_ground_x_self
}

#[test]
fn run_and_air_drift_caps_are_proportional_to_the_stick() {
    let mut g = started(fox());
    g.players[0].x = -80.0;
    let full = run_speed(&mut g, 1.0, 40);
    assert_eq!(g.view(0).players[0].action, action::RUN);
    let part = run_speed(&mut g, 0.7, 40);
    assert_eq!(g.view(0).players[0].action, action::RUN);
    println!("fox run speed at full stick {full}, at 0.7 stick {part}");
    near("Fox run speed, full stick", full, 2.2);
    near("Fox run speed, 0.7 stick", part, 2.2 * 0.7);

    for (x, cap) in [(1.0, 0.83), (0.5, 0.83 * 0.5)] {
        let mut g = airborne(fox(), 150.0);
        for _ in 0..30 {
            g.step([stick(x, 0.0), N]);
        }
        let v = g.view(0).players[0].speed_air_x_self;
        println!("fox air drift at stick {x}: {v}");
        near("Fox air drift cap", v, cap);
    }
}

#[test]
fn a_jump_out_of_a_run_keeps_its_momentum_up_to_the_air_cap() {
    let mut g = started(fox());
    g.players[0].x = -80.0;
    run_speed(&mut g, 1.0, 30);
    let mut takeoff = None;
    for t in 0..10 {
        g.step([with(stick(1.0, 0.0), X), N]);
        if !g.players[0].grounded {
            takeoff = Some((t, g.view(0).players[0].speed_air_x_self));
            break;
        }
    }
    let (t, v) = takeoff.expect("took off");
    assert_eq!(t, 3, "Fox's jump squat is 3 frames");
    println!("fox takeoff speed out of a run {v}");
    near("Fox takeoff speed out of a run", v, 1.70);
}

/// The ground speeds of a jump squat out of a full run to the right and the takeoff's air
/// speed, with the stick at `last_stick` on the last jump-squat frame (the one the takeoff
/// reads) and at 1.0 before it.
fn running_jump(f: &'static Fighter, last_stick: f32) -> (Vec<f32>, f32) {
    let mut g = started(f);
    g.players[0].x = -80.0;
    run_speed(&mut g, 1.0, 40);
    let mut squat = Vec::new();
    for t in 0..20 {
        let last = t + 1 == f.jump_squat as usize;
        let x = if last { last_stick } else { 1.0 };
        g.step([with(stick(x, 0.0), X), N]);
        let me = g.view(0).players[0];
        if !g.players[0].grounded {
            return (squat, me.speed_air_x_self);
        }
        squat.push(me.speed_ground_x_self);
    }
    panic!("no takeoff");
}

#[test]
fn a_running_jump_slows_on_traction_in_its_jump_squat_then_takes_off() {
    // The real replays (Jigglypuff out of a 1.1 run): 0.92, 0.74, 0.56, 0.47, 0.38 in the
    // jump squat (traction 0.09, doubled above the walk speed 0.7), then 0.38 x 1.0 (the
    // ground-to-air multiplier) + 0.7 (jump H initial velocity) x the last squat frame's
    // stick: 1.08 with the stick held, 0.38 - 0.665 = -0.285 with it pulled back to -0.95.
    let (squat, held) = running_jump(puff(), 1.0);
    let want = [0.92, 0.74, 0.56, 0.47, 0.38];
    assert_eq!(squat.len(), want.len(), "{squat:?}");
    for (got, real) in squat.iter().zip(want) {
        assert!(
            (got - real).abs() < 1e-3,
            "jump squat speeds {squat:?}, real {want:?}"
        );
    }
    near("Jigglypuff's running takeoff, stick held", held, 1.08);
    let (_, back) = running_jump(puff(), -0.95);
    near(
        "Jigglypuff's running takeoff, stick pulled back",
        back,
        -0.285,
    );
    // Falco (multiplier 1.0): 1.5 -> 1.34, 1.26, 1.18, 1.10, 1.02; stick let go: 1.02.
    let falco = Fighter::named("falco").unwrap();
    let (_, neutral) = running_jump(falco, 0.0);
    near("Falco's running takeoff, stick let go", neutral, 1.02);
    let (_, held) = running_jump(falco, 1.0);
    near("Falco's running takeoff, stick held (the cap)", held, 1.70);
    // Fox (multiplier 0.83): 2.2 -> 2.04, 1.88, 1.72; stick let go: 1.72 x 0.83 = 1.428.
    let (_, neutral) = running_jump(fox(), 0.0);
    near("Fox's running takeoff, stick let go", neutral, 1.428);
}

#[test]
fn running_off_an_edge_keeps_the_ground_speed_up_to_the_air_speed() {
    // The real replays: the first falling frame off a run shows the maximum air speed
    // (Fox 0.83 out of a 2.17 run, Falco 0.83 out of 1.5, Marth 0.9 out of 1.34 and 1.76).
    for (name, real) in [("fox", 0.83), ("falco", 0.83), ("marth", 0.9)] {
        let f = Fighter::named(name).unwrap();
        let mut g = started(f);
        g.players[0].x = g.stage.edge - 60.0;
        let mut first_fall = None;
        for _ in 0..200 {
            g.step([stick(1.0, 0.0), N]);
            if !g.players[0].grounded {
                first_fall = Some(g.view(0).players[0]);
                break;
            }
        }
        let me = first_fall.expect("ran off the edge");
        assert_eq!(me.action, action::FALL, "{name}");
        near(
            &format!("{name}'s run-off air speed"),
            me.speed_air_x_self,
            real,
        );
    }
}

/// Frames a run of frames showed `act` (counted from its first appearance), stepping `input`.
fn frames_in(g: &mut Game, act: u16, mut input: impl FnMut(usize) -> Controller) -> usize {
    let (mut n, mut seen) = (0, false);
    for t in 0..400 {
        g.step([input(t), N]);
        let a = g.view(0).players[0].action;
        if a == act {
            n += 1;
            seen = true;
        } else if seen {
            break;
        }
    }
    n
}

#[test]
fn fox_lands_in_four_frames() {
    let mut g = started(fox());
    let n = frames_in(
        &mut g,
        action::LANDING,
        |t| if t < 20 { with(N, X) } else { N },
    );
    println!("fox normal landing {n} frames");
    assert_eq!(n, 4);
    assert_eq!(g.view(0).players[0].action, action::WAIT);
}

#[test]
fn an_airdodge_that_stays_airborne_lasts_49_frames_then_falls_helpless() {
    let mut g = airborne(fox(), 120.0);
    let n = frames_in(&mut g, action::ESCAPE_AIR, |t| {
        if t == 0 {
            with(N, L)
        } else {
            N
        }
    });
    println!(
        "fox airdodge {n} frames, then action {}",
        g.view(0).players[0].action
    );
    assert_eq!(n, 49);
    assert_eq!(g.view(0).players[0].action, action::FALL_SPECIAL);
    // Helpless: no aerial jump, no attack, no second airdodge; it drifts and falls.
    let x0 = g.players[0].x;
    for t in 0..20 {
        let c = match t % 4 {
            0 => with(N, X),
            1 => with(N, 0),
            2 => with(N, L),
            _ => stick(1.0, 0.0),
        };
        g.step([c, N]);
        assert_eq!(g.view(0).players[0].action, action::FALL_SPECIAL);
    }
    assert!(g.players[0].x > x0, "drifts");
    let n = frames_in(&mut g, action::LANDING_FALL_SPECIAL, |_| N);
    assert_eq!(n, 10, "LandingFallSpecial's lag");
    assert_eq!(g.view(0).players[0].action, action::WAIT);
}

#[test]
fn a_wavedash_slides_on_ground_friction() {
    let mut g = started(fox());
    let x0 = g.players[0].x;
    // Jump, and on the first airborne frame airdodge down and forward.
    let mut t = 0;
    while g.players[0].grounded {
        g.step([if t == 0 { with(N, X) } else { N }, N]);
        t += 1;
    }
    g.step([with(stick(1.0, -0.4), L), N]);
    let mut landed = false;
    for _ in 0..5 {
        if g.players[0].grounded {
            landed = true;
            break;
        }
        g.step([N, N]);
    }
    assert!(landed, "the airdodge met the ground");
    assert_eq!(g.view(0).players[0].action, action::LANDING_FALL_SPECIAL);
    let f = fox();
    let mut v = g.view(0).players[0].speed_ground_x_self;
    assert!(v > f.walk_max_vel, "slides fast: {v}");
    let mut frames = 1;
    while g.view(0).players[0].action == action::LANDING_FALL_SPECIAL {
        g.step([N, N]);
        let w = g.view(0).players[0].speed_ground_x_self;
        // Melee's traction, doubled above the walk speed.
        let friction = if v > f.walk_max_vel { 2.0 } else { 1.0 } * f.ground_friction;
        assert!((v - w - friction).abs() < 1e-4, "{v} -> {w}");
        v = w;
        if g.view(0).players[0].action == action::LANDING_FALL_SPECIAL {
            frames += 1;
        }
    }
    assert_eq!(frames, 10, "LandingFallSpecial's lag");
    let slid = g.players[0].x - x0;
    println!("fox wavedash: {slid} units forward, {v} left");
    assert!(slid > 15.0, "slid {slid}");
}

#[test]
fn a_45_degree_wavedash_slides_as_far_as_in_melee() {
    // Full hop, airdodge at the stick's 45° notch on the next frame: the slide from the last
    // EscapeAir frame to the last LandingFallSpecial frame, as the fidelity bench measures
    // it. The real replays' wavedashes out of a ground jump at exactly 45° slide 14.04
    // (Marth), 12.79 (Fox) and 11.02 (Falco).
    for (name, real) in [("marth", 14.04), ("fox", 12.79), ("falco", 11.02)] {
        let f = Fighter::named(name).unwrap();
        let mut g = started(f);
        while g.players[0].grounded {
            g.step([with(N, X), N]);
        }
        g.step([with(stick(0.7, -0.7), L), N]);
        let mut dodge_x = None;
        let mut last_x = None;
        for _ in 0..30 {
            let me = g.view(0).players[0];
            if me.action == action::ESCAPE_AIR {
                dodge_x = Some(me.x);
            }
            g.step([N, N]);
            let me = g.view(0).players[0];
            if me.action == action::LANDING_FALL_SPECIAL {
                last_x = Some(me.x);
            } else if last_x.is_some() {
                break;
            }
        }
        let slid = last_x.expect("landed") - dodge_x.expect("an EscapeAir frame");
        near(&format!("{name}'s 45° wavedash slide"), slid, real);
    }
}

#[test]
fn jigglypuffs_aerial_jumps_each_rise_less() {
    let mut g = airborne(puff(), 100.0);
    let mut apexes = Vec::new();
    for _ in 0..5 {
        let y0 = g.players[0].y;
        g.step([with(N, X), N]);
        let mut apex = g.players[0].y;
        while g.players[0].vy > 0.0 {
            g.step([N, N]);
            apex = apex.max(g.players[0].y);
        }
        apexes.push(apex - y0);
        g.step([N, N]);
    }
    println!("jigglypuff aerial jump heights {apexes:?}");
    assert!(apexes.windows(2).all(|w| w[1] < w[0]), "{apexes:?}");
    near("Jigglypuff first aerial jump", apexes[0], 20.45);
    near("Jigglypuff fifth aerial jump", apexes[4], 11.59);
    // No sixth.
    let vy = g.players[0].vy;
    g.step([with(N, X), N]);
    assert!(g.players[0].vy <= vy);
}

/// Frames of an aerial's landing (LandingAirN) after a short-hopped nair, with Z pressed
/// `lcancel_before` frames before landing (None: not pressed).
fn nair_landing(lcancel_before: Option<usize>) -> usize {
    let mut g = started(fox());
    // A short hop, then nair as it rises; find when it lands.
    let script = |g: &mut Game, z_at: Option<usize>| -> usize {
        let mut t = 0;
        loop {
            let c = match t {
                0 => with(N, X),
                4 => with(N, 0),
                _ if Some(t) == z_at => with(N, Z),
                _ => N,
            };
            g.step([c, N]);
            t += 1;
            if t > 4 && g.players[0].grounded {
                return t;
            }
        }
    };
    let probe = script(&mut g.clone(), None);
    let z_at = lcancel_before.map(|k| probe - k);
    script(&mut g, z_at);
    let mut n = 1;
    assert_eq!(g.view(0).players[0].action, action::LANDING_AIR_N);
    while g.view(0).players[0].action == action::LANDING_AIR_N {
        g.step([N, N]);
        n += 1;
    }
    n - 1
}

#[test]
fn an_l_cancel_halves_an_aerials_landing_lag() {
    let plain = nair_landing(None);
    let cancelled = nair_landing(Some(3));
    let late = nair_landing(Some(9));
    println!("fox nair landing: {plain} frames, L-cancelled {cancelled}, pressed too early {late}");
    assert_eq!(plain, 15);
    assert_eq!(cancelled, 7);
    assert_eq!(
        late, 15,
        "a press 9 frames before landing is outside the 7-frame window"
    );
}
