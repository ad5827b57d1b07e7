//! Special moves and the new fighters: each special walks through its Melee action ids with
//! the expected frame counts (Fire Fox ends in FallSpecial, Illusion dashes the replays'
//! distance, a laser hits from range), Rest sleeps in Jigglypuff's own ids, Falco's and Marth's
//! movement measures within 2% of the real replays' through the fidelity bench, and the rule
//! bot still beats the random one with every fighter.

use exphil_replay::ExternalCharacter;
use exphil_sim::fidelity::{measure, simulate_for, Quantity};
use exphil_sim::fighter::action;
use exphil_sim::game::{Act, Game};
use exphil_sim::{Fighter, FIGHTERS, STAGES};
use exphil_state::{Buttons, Controller};
use std::collections::BTreeMap;
mod common;
use common::*;

const B: usize = 1;
const X: usize = 2;

fn fighter(name: &str) -> &'static Fighter {
    Fighter::parse(name).unwrap()
}

fn pad(x: f32, y: f32, buttons: &[usize]) -> Controller {
    let mut c = Controller {
        main_x: 0.5 + x * 0.5,
        main_y: 0.5 + y * 0.5,
        ..N
    };
    for &b in buttons {
        c.buttons = Buttons(c.buttons.0 | 1 << b);
    }
    c
}

/// A game on Final Destination past the countdown, the players placed at `xs`.
fn game(f: [&'static Fighter; 2], xs: [f32; 2]) -> Game {
    let mut g = Game::new(fd(), f);
    while g.frame < 0 {
        g.step([N, N]);
    }
    for (p, x) in g.players.iter_mut().zip(xs) {
        p.x = x;
    }
    g
}

/// Plays player 0's inputs (then neutral) for `frames` frames; returns the action shown on
/// each frame, run-length encoded, from the first input on.
fn runs(g: &mut Game, inputs: &[Controller], frames: usize) -> Vec<(u16, usize)> {
    let mut out: Vec<(u16, usize)> = Vec::new();
    for t in 0..frames {
        let c = inputs.get(t).copied().unwrap_or(N);
        g.step([c, N]);
        let a = g.players[0].action();
        match out.last_mut() {
            Some((b, n)) if *b == a => *n += 1,
            _ => out.push((a, 1)),
        }
    }
    out
}

/// The runs from the first one showing `id` on.
fn from(r: &[(u16, usize)], id: u16) -> Vec<(u16, usize)> {
    let i = r
        .iter()
        .position(|&(a, _)| a == id)
        .expect("the id is shown");
    r[i..].to_vec()
}

#[test]
fn fox_blaster_walks_its_ground_and_air_states() {
    let fox = fighter("fox");
    let mut g = game([fox, fox], [-30.0, 60.0]);
    let r = runs(&mut g, &[pad(0.0, 0.0, &[B])], 60);
    assert_eq!(
        r[..4],
        [(341, 6), (342, 10), (343, 24), (action::WAIT, 20)],
        "{r:?}"
    );
    // A full hop, then B at once in the air: AirNStart, AirNLoop, AirNEnd, then a fall.
    let mut g = game([fox, fox], [-30.0, 60.0]);
    let mut inputs = vec![pad(0.0, 0.0, &[X]); 8];
    inputs.push(pad(0.0, 0.0, &[X, B]));
    let r = runs(&mut g, &inputs, 80);
    let r = from(&r, 344);
    assert_eq!(r[..2], [(344, 4), (345, 16)], "{r:?}");
    // AirNEnd (346, 22 frames) is cut short by the landing, as in the replays.
    assert_eq!(r[2].0, 346, "{r:?}");
    assert!(r[2].1 < 22);
    assert_eq!(r[3], (action::LANDING, 4), "{r:?}");
}

#[test]
fn a_laser_hits_from_range_for_three_percent_without_knockback() {
    let fox = fighter("fox");
    let mut g = game([fox, fox], [-50.0, 50.0]);
    let mut hit_at = None;
    for t in 0..60 {
        g.step([if t == 0 { pad(0.0, 0.0, &[B]) } else { N }, N]);
        if hit_at.is_none() && g.players[1].percent > 0.0 {
            hit_at = Some(t);
        }
    }
    assert!(hit_at.is_some(), "the laser never hit across 100 units");
    assert_eq!(g.players[1].percent, 3.0);
    assert_eq!(g.players[1].act, Act::Idle, "Fox's laser does not flinch");
    // Falco's laser flinches.
    let falco = fighter("falco");
    let mut g = game([falco, fox], [-50.0, 50.0]);
    let mut flinched = false;
    for t in 0..60 {
        g.step([if t == 0 { pad(0.0, 0.0, &[B]) } else { N }, N]);
        flinched |= g.players[1].act == Act::Hitstun;
    }
    assert_eq!(g.players[1].percent, 3.0);
    assert!(flinched);
}

#[test]
fn fire_fox_charges_launches_and_ends_in_helpless_fall() {
    for (name, launch) in [("fox", 30), ("falco", 22)] {
        let f = fighter(name);
        let mut g = game([f, f], [0.0, 80.0]);
        let mut inputs = vec![pad(0.0, 0.0, &[X]); 10];
        inputs.push(pad(0.0, 1.0, &[B]));
        inputs.extend(std::iter::repeat_n(pad(0.0, 1.0, &[]), 60));
        let r = runs(&mut g, &inputs, 140);
        let r = from(&r, 354);
        assert_eq!(
            r[..4],
            [
                (354, 42),
                (356, launch),
                (358, 20),
                (action::FALL_SPECIAL, r[3].1)
            ],
            "{name}: {r:?}"
        );
        // Launched straight up at 3.8: well above the hop at the launch's end.
        let mut g = game([f, f], [0.0, 80.0]);
        runs(&mut g, &inputs, 10 + 42 + launch);
        assert!(g.players[0].y > 60.0, "{name} rose to {}", g.players[0].y);
    }
    // Launched toward the ground from the air: it lands in SpecialHiLanding.
    let fox = fighter("fox");
    let mut g = game([fox, fox], [0.0, 80.0]);
    let mut inputs = vec![pad(0.0, 0.0, &[X]); 10];
    inputs.push(pad(0.0, 1.0, &[B]));
    inputs.extend(std::iter::repeat_n(pad(1.0, -1.0, &[]), 60));
    let r = runs(&mut g, &inputs, 120);
    let r = from(&r, 356);
    assert_eq!(r[1], (357, 6), "{r:?}");
}

#[test]
fn fire_fox_hits_on_its_launch() {
    let fox = fighter("fox");
    let mut g = game([fox, fox], [0.0, 0.0]);
    let mut inputs = vec![pad(0.0, 1.0, &[B])];
    inputs.extend(std::iter::repeat_n(pad(0.0, 1.0, &[]), 50));
    runs(&mut g, &inputs, 50);
    // Seven 2% charge hits, then the 14% launch.
    assert!(g.players[1].percent >= 14.0, "{}", g.players[1].percent);
}

#[test]
fn illusion_dashes_the_replays_distance() {
    for (name, start, speed) in [("fox", 19, 18.72f32), ("falco", 15, 16.5)] {
        let f = fighter(name);
        let mut g = game([f, f], [-70.0, 80.0]);
        let mut xs = Vec::new();
        let mut acts = Vec::new();
        for t in 0..80 {
            g.step([if t == 0 { pad(1.0, 0.0, &[B]) } else { N }, N]);
            xs.push(g.players[0].x);
            acts.push(g.players[0].action());
        }
        let count = |id: u16| acts.iter().filter(|&&a| a == id).count();
        assert_eq!(count(347), start, "{name}");
        assert_eq!(count(348), 4, "{name}");
        let first = acts.iter().position(|&a| a == 348).unwrap();
        let dash = xs[first + 3] - xs[first - 1];
        assert!(
            (dash - 3.0 * speed).abs() < 1e-3,
            "{name} dashed {dash}, want {}",
            3.0 * speed
        );
        assert_eq!(acts[first + 4], 349, "{name}");
    }
    // Airborne, it ends in helpless fall.
    let fox = fighter("fox");
    let mut g = game([fox, fox], [-70.0, 80.0]);
    let mut inputs = vec![pad(0.0, 0.0, &[X]); 12];
    inputs.push(pad(1.0, 0.0, &[B]));
    let r = runs(&mut g, &inputs, 120);
    let r = from(&r, 350);
    assert_eq!(r[..3], [(350, 19), (351, 4), (352, r[2].1)], "{r:?}");
    assert!(
        r[3].0 == action::FALL_SPECIAL || r[3].0 == action::LANDING_FALL_SPECIAL,
        "{r:?}"
    );
}

#[test]
fn rest_sleeps_in_jigglypuffs_own_action() {
    let puff = fighter("puff");
    let fox = fighter("fox");
    // Facing right: SpecialLwR (371); the opponent touching her is launched.
    let mut g = game([puff, fox], [0.0, 6.0]);
    let r = runs(&mut g, &[pad(0.0, -1.0, &[B])], 260);
    // 200 frames, and 9 of hitlag from hitting Fox (20% / 3 + 3).
    assert_eq!(r[..2], [(371, 209), (action::WAIT, r[1].1)], "{r:?}");
    assert!(r.iter().all(|&(a, _)| a != action::SLEEP));
    assert!(g.players[1].percent >= 20.0);
    // Facing left: SpecialLwL (369); in the air SpecialAirLwL (370) until she lands.
    let mut g = game([puff, fox], [0.0, 80.0]);
    g.players[0].facing = -1.0;
    let mut inputs = vec![pad(0.0, 0.0, &[X]); 10];
    inputs.push(pad(0.0, -1.0, &[B]));
    let r = runs(&mut g, &inputs, 300);
    let r = from(&r, 370);
    assert_eq!(r[1].0, 369, "{r:?}");
    assert_eq!(r[0].1 + r[1].1, 200, "{r:?}");
}

#[test]
fn jigglypuffs_pound_and_aerial_jumps_show_her_ids() {
    let puff = fighter("puff");
    let mut g = game([puff, puff], [0.0, 80.0]);
    let r = runs(&mut g, &[pad(1.0, 0.0, &[B])], 50);
    assert_eq!(r[0], (363, 45), "{r:?}");
    // Five aerial jumps: Jump2..Jump6 (341–345), each shown while rising.
    let mut g = game([puff, puff], [0.0, 80.0]);
    let mut inputs = vec![pad(0.0, 0.0, &[X]); 8];
    for _ in 0..5 {
        inputs.extend(std::iter::repeat_n(N, 20));
        inputs.push(pad(0.0, 0.0, &[X]));
    }
    let r = runs(&mut g, &inputs, inputs.len() + 5);
    let jumps: Vec<u16> = r.iter().map(|&(a, _)| a).filter(|&a| a >= 341).collect();
    assert_eq!(jumps, [341, 342, 343, 344, 345], "{r:?}");
}

#[test]
fn marths_specials_walk_their_states() {
    let marth = fighter("marth");
    let fox = fighter("fox");
    // Shield Breaker tapped: start, one loop frame, the swing.
    let mut g = game([marth, fox], [-60.0, 60.0]);
    let r = runs(&mut g, &[pad(0.0, 0.0, &[B])], 60);
    assert_eq!(r[..3], [(341, 11), (342, 1), (343, 37)], "{r:?}");
    // Dancing Blade: a second B press chains the second hit.
    let mut g = game([marth, fox], [-60.0, 60.0]);
    let mut inputs = vec![pad(1.0, 0.0, &[B]), N, N, N, N];
    inputs.push(pad(0.0, 0.0, &[B]));
    let r = runs(&mut g, &inputs, 70);
    assert_eq!(
        r[..3],
        [(349, 29), (350, 29), (action::WAIT, r[2].1)],
        "{r:?}"
    );
    // Dolphin Slash: rises, then helpless, then lands helpless.
    let mut g = game([marth, fox], [-60.0, 60.0]);
    let r = runs(&mut g, &[pad(0.0, 1.0, &[B])], 200);
    assert_eq!(r[0], (367, 5), "{r:?}");
    assert_eq!(r[1].0, 368, "{r:?}");
    assert_eq!(r[0].1 + r[1].1, 39, "{r:?}");
    assert_eq!(r[2].0, action::FALL_SPECIAL, "{r:?}");
    assert!(r.iter().any(|&(a, _)| a == action::LANDING_FALL_SPECIAL));
    // Counter: 59 frames, intangible in its window.
    let mut g = game([marth, fox], [-60.0, 60.0]);
    let r = runs(&mut g, &[pad(0.0, -1.0, &[B])], 10);
    assert!(g.players[0].intangible());
    assert_eq!(r[0].0, 369);
}

/// The real replays' figures for Falco and Marth (the fidelity bench on the shared games).
fn real(name: &str) -> Vec<(Quantity, f64)> {
    use Quantity::*;
    let mut v = vec![
        (JumpSquatFrames, 5.0),
        (FullHopHeight, 51.50),
        (ShortHopHeight, 11.58),
        (DashFirstFrameSpeed, 1.90),
        (DashFrames, 11.0),
        (RunSpeedPerStick, 1.50),
        (AirDriftPerStick, 0.83),
        (AerialJump1Height, 41.78),
        (LandingFrames, 4.0),
        (Gravity, 0.170),
        (TerminalSpeed, 3.10),
        (FastFallSpeed, 3.50),
    ];
    if name == "marth" {
        v = vec![
            (JumpSquatFrames, 4.0),
            (FullHopHeight, 35.09),
            (ShortHopHeight, 13.99),
            (DashFirstFrameSpeed, 1.50),
            (DashFrames, 15.0),
            (RunSpeedPerStick, 1.80),
            (AirDriftPerStick, 0.90),
            (AerialJump1Height, 25.19),
            (LandingFrames, 4.0),
            (Gravity, 0.085),
            (TerminalSpeed, 2.20),
            (FastFallSpeed, 2.50),
        ];
    }
    v
}

#[test]
fn falco_and_marth_move_within_two_percent_of_the_real_replays() {
    for name in ["falco", "marth"] {
        let f = fighter(name);
        let games = simulate_for(f, 1).unwrap();
        let mut m = measure(&games[0]);
        for g in &games[1..] {
            m.merge(&measure(g));
        }
        let figs: BTreeMap<Quantity, f64> = m.characters[&f.character]
            .figures()
            .into_iter()
            .map(|(q, fig)| (q, fig.value))
            .collect();
        for (q, want) in real(name) {
            let got = figs.get(&q).copied();
            println!("{name} {q:?}: sim {got:?}, real {want}");
            assert!(
                got.is_some_and(|g| ((g - want) / want).abs() <= 0.02),
                "{name} {q:?}: simulated {got:?}, real {want}"
            );
        }
    }
}

#[test]
fn the_rule_bot_beats_the_random_bot_with_every_fighter() {
    for f in &FIGHTERS {
        let mut wins = 0;
        let games = 24;
        for seed in 0..games as u64 {
            let other = &FIGHTERS[seed as usize % FIGHTERS.len()];
            let stage = &STAGES[seed as usize % STAGES.len()];
            let mut g = Game::new(stage, [f, other]);
            g.frame_limit = 3 * 3600;
            if rule_beats_random(g, (seed * 7, seed * 7 + 1)) {
                wins += 1;
            }
        }
        let name = f.character.name().unwrap();
        println!("{name}: rule beat random in {wins} of {games}");
        assert!(wins >= 20, "{name}: rule beat random in {wins} of {games}");
    }
}

#[test]
fn every_fighter_is_found_by_name_and_id() {
    for (name, id) in [("falco", 20), ("marth", 9), ("fox", 2), ("puff", 15)] {
        let f = Fighter::parse(name).unwrap();
        assert_eq!(f.character, ExternalCharacter(id));
        assert!(std::ptr::eq(Fighter::of(ExternalCharacter(id)).unwrap(), f));
    }
}
