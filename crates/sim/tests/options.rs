//! Ground, defensive and ledge options driven by scripted inputs: each shows Melee's action
//! state for Melee's number of frames (see `exphil_sim::options` for where each comes from).

use exphil_replay::{read, write, DecodeOptions};
use exphil_sim::fighter::action as a;
use exphil_sim::game::{Act, Game};
use exphil_sim::options::{action as o, frames, Opt};
use exphil_sim::{Fighter, MoveKind, SlpRecorder, Stage};
use exphil_state::Controller;
mod common;
use common::*;

const A: usize = 0;
const B: usize = 1;
const X: usize = 2;
const L: usize = 5;
const R: usize = 6;

/// A game past the countdown, player 1 standing at `x` facing right, player 2 far away.
fn standing(stage: &'static Stage, f: &'static Fighter, x: f32) -> Game {
    let mut g = Game::new(stage, [f, puff()]);
    while g.frame < 0 {
        g.step([N, N]);
    }
    g.players[0].x = x;
    g.players[1].x = if x > 0.0 { -60.0 } else { 60.0 };
    g.step([N, N]);
    g
}

/// Steps with player 1's controller `c` (player 2 neutral); returns player 1's action.
fn step(g: &mut Game, c: Controller) -> u16 {
    g.step([c, N]);
    g.players[0].action()
}

/// Holds `c` while player 1 shows `id`; returns how many frames it showed it (the frame
/// `step` was already in it counts).
fn run_of(g: &mut Game, c: Controller, id: u16) -> u32 {
    let mut n = 1;
    while step(g, c) == id {
        n += 1;
        assert!(n < 1000, "stuck in {id}");
    }
    n
}

#[test]
fn a_tilted_stick_back_turns_around_for_eleven_frames() {
    let mut g = standing(fd(), fox(), 0.0);
    assert_eq!(g.players[0].facing, 1.0);
    assert_eq!(step(&mut g, stick(-0.5, 0.0)), o::TURN);
    assert_eq!(g.players[0].facing, -1.0, "faces the new way at once");
    assert_eq!(run_of(&mut g, stick(-0.5, 0.0), o::TURN), 11);
    assert_eq!(g.players[0].act, Act::Walk, "walks on the new way");
    assert_eq!(g.players[0].action(), a::WALK, "stick half way: WalkMiddle");
}

#[test]
fn a_dash_reversed_turns_for_one_frame_then_dashes_back() {
    let mut g = standing(fd(), fox(), 0.0);
    assert_eq!(step(&mut g, stick(1.0, 0.0)), a::DASH);
    for _ in 0..4 {
        step(&mut g, stick(1.0, 0.0));
    }
    let vx = g.players[0].vx;
    assert!(vx > 1.0);
    // Dash-dance: a flick the other way.
    assert_eq!(step(&mut g, stick(-1.0, 0.0)), o::TURN);
    assert_eq!(step(&mut g, stick(-1.0, 0.0)), a::DASH);
    assert_eq!(g.players[0].facing, -1.0);
    assert!(g.players[0].vx < vx, "the dash back's speed is added");
    // And back again.
    assert_eq!(step(&mut g, stick(1.0, 0.0)), o::TURN);
    assert_eq!(step(&mut g, stick(1.0, 0.0)), a::DASH);
    assert_eq!(g.players[0].facing, 1.0);
}

#[test]
fn a_flick_back_from_standing_dashes_after_one_turn_frame() {
    let mut g = standing(fd(), fox(), 0.0);
    assert_eq!(step(&mut g, stick(-1.0, 0.0)), o::TURN);
    assert_eq!(step(&mut g, stick(-1.0, 0.0)), a::DASH);
    assert!(g.players[0].vx < -1.0);
}

#[test]
fn a_dash_held_runs_after_the_fighters_dash_frames() {
    for (f, want) in [(fox(), 11), (puff(), 12)] {
        let mut g = standing(fd(), f, -40.0);
        assert_eq!(step(&mut g, stick(1.0, 0.0)), a::DASH);
        assert_eq!(run_of(&mut g, stick(1.0, 0.0), a::DASH), want);
        assert_eq!(g.players[0].act, Act::Run);
    }
}

#[test]
fn a_run_let_go_brakes_and_a_run_reversed_turns() {
    let mut g = standing(fd(), fox(), -60.0);
    for _ in 0..20 {
        step(&mut g, stick(1.0, 0.0));
    }
    assert_eq!(g.players[0].act, Act::Run);
    assert_eq!(step(&mut g, N), o::RUN_BRAKE);
    assert_eq!(run_of(&mut g, N, o::RUN_BRAKE), 18);
    assert_eq!(g.players[0].act, Act::Idle);

    let mut g = standing(fd(), fox(), -60.0);
    for _ in 0..20 {
        step(&mut g, stick(1.0, 0.0));
    }
    assert_eq!(step(&mut g, stick(-1.0, 0.0)), o::TURN_RUN);
    assert_eq!(run_of(&mut g, stick(-1.0, 0.0), o::TURN_RUN), 12);
    assert_eq!(g.players[0].act, Act::Run);
    assert_eq!(g.players[0].facing, -1.0, "runs the other way");
}

#[test]
fn down_crouches_and_up_stands() {
    let mut g = standing(fd(), fox(), 0.0);
    let down = stick(0.0, -1.0);
    assert_eq!(step(&mut g, down), o::SQUAT);
    assert_eq!(run_of(&mut g, down, o::SQUAT), 7);
    assert_eq!(g.players[0].action(), o::SQUAT_WAIT);
    for _ in 0..20 {
        assert_eq!(step(&mut g, down), o::SQUAT_WAIT);
    }
    assert_eq!(step(&mut g, N), o::SQUAT_RV);
    assert_eq!(run_of(&mut g, N, o::SQUAT_RV), 10);
    assert_eq!(g.players[0].action(), a::WAIT);
    // A down tilt out of the crouch.
    step(&mut g, down);
    assert!(matches!(
        g.players[0].act,
        Act::Opt(Opt::Squat | Opt::SquatWait)
    ));
    step(&mut g, with(down, A));
    assert_eq!(g.players[0].act, Act::Attack(MoveKind::Dtilt));
}

#[test]
fn a_shield_starts_holds_and_releases_with_melees_frames() {
    for (f, off) in [(fox(), 15), (puff(), 14)] {
        let mut g = standing(fd(), f, 0.0);
        let shield = with(N, R);
        assert_eq!(step(&mut g, shield), o::GUARD_ON);
        assert_eq!(run_of(&mut g, shield, o::GUARD_ON), 8);
        assert_eq!(g.players[0].action(), a::GUARD);
        for _ in 0..30 {
            assert_eq!(step(&mut g, shield), a::GUARD);
        }
        assert_eq!(step(&mut g, N), o::GUARD_OFF);
        assert_eq!(run_of(&mut g, N, o::GUARD_OFF), off);
        assert_eq!(g.players[0].action(), a::WAIT);
    }
}

#[test]
fn a_shield_coming_up_already_blocks() {
    let mut g = standing(fd(), fox(), 0.0);
    g.players[1].x = 12.0;
    g.players[1].facing = -1.0;
    // Player 2 jabs while player 1 raises the shield.
    g.step([with(N, R), with(N, A)]);
    for _ in 0..6 {
        g.step([with(N, R), N]);
    }
    assert_eq!(g.players[0].percent, 0.0);
    assert!(g.players[0].shield < 60.0);
}

/// Player 1 shielding (Guard), then `c` for one frame: the option's action, its length and
/// its intangible frames (1-based), and how far it moved.
fn out_of_shield(f: &'static Fighter, c: Controller) -> (u16, u32, Vec<u32>, f32) {
    let mut g = standing(fd(), f, 0.0);
    for _ in 0..12 {
        step(&mut g, with(N, R));
    }
    let x0 = g.players[0].x;
    let id = step(&mut g, with(c, R));
    let mut intangible = Vec::new();
    let mut n = 1;
    loop {
        if g.players[0].intangible() {
            intangible.push(n);
        }
        if step(&mut g, N) != id {
            break;
        }
        n += 1;
    }
    (id, n, intangible, g.players[0].x - x0)
}

#[test]
fn rolls_and_spot_dodges_out_of_shield_with_their_intangible_frames() {
    let span = |a: u32, b: u32| (a..=b).collect::<Vec<_>>();
    let (id, n, int, dx) = out_of_shield(fox(), stick(1.0, 0.0));
    assert_eq!((id, n, int), (o::ESCAPE_F, 31, span(4, 19)));
    assert!(dx > 20.0, "rolled forward {dx}");
    let (id, n, int, dx) = out_of_shield(fox(), stick(-1.0, 0.0));
    assert_eq!((id, n, int), (o::ESCAPE_B, 31, span(4, 19)));
    assert!(dx < -20.0, "rolled back {dx}");
    let (id, n, int, dx) = out_of_shield(fox(), stick(0.0, -1.0));
    assert_eq!((id, n, int, dx), (o::ESCAPE, 22, span(2, 15), 0.0));
    let (id, n, _, _) = out_of_shield(puff(), stick(1.0, 0.0));
    assert_eq!((id, n), (o::ESCAPE_F, 34));
    let (id, n, _, _) = out_of_shield(puff(), stick(0.0, -1.0));
    assert_eq!((id, n), (o::ESCAPE, 27));
}

#[test]
fn a_forward_roll_ends_facing_back() {
    let mut g = standing(fd(), fox(), 0.0);
    for _ in 0..12 {
        step(&mut g, with(N, R));
    }
    step(&mut g, with(stick(1.0, 0.0), R));
    for _ in 0..40 {
        step(&mut g, N);
    }
    assert_eq!(g.players[0].facing, -1.0);
}

/// Player 1 grabs player 2 (standing in front) and throws with `dir`; returns the thrower's
/// and the victim's actions at the throw, the victim's after the release and its knockback.
fn throw(dir: Controller) -> (u16, u16, u16, (f32, f32)) {
    let mut g = standing(fd(), fox(), 0.0);
    g.players[1].x = 10.0;
    g.step([with(N, 4), N]); // Z
    let mut pulled = Vec::new();
    for _ in 0..12 {
        g.step([N, N]);
        pulled.push((g.players[0].action(), g.players[1].action()));
    }
    assert!(
        pulled.contains(&(o::CATCH_PULL, o::CAPTURE_PULLED_HI)),
        "{pulled:?}"
    );
    assert_eq!(g.players[0].action(), a::CATCH_WAIT);
    assert_eq!(g.players[1].action(), o::CAPTURE_WAIT_HI, "a small victim");
    g.step([dir, N]);
    let at = (g.players[0].action(), g.players[1].action());
    let k = (g.players[1].kx, g.players[1].ky);
    for _ in 0..30 {
        g.step([N, N]);
    }
    (at.0, at.1, g.players[1].action(), k)
}

#[test]
fn up_and_down_throws_show_melees_throw_states() {
    let (thrower, victim, after, (kx, ky)) = throw(stick(0.0, 1.0));
    assert_eq!((thrower, victim), (o::THROW_HI, o::THROWN_F + 2));
    assert!(ky > 0.0 && kx.abs() < 1e-3, "straight up: {kx} {ky}");
    // Launched: one of Melee's hit reactions (Damage*, 75–91).
    assert!((75..=91).contains(&after), "{after}");
    let (thrower, victim, _, (_, ky)) = throw(stick(0.0, -1.0));
    assert_eq!((thrower, victim), (o::THROW_LW, o::THROWN_F + 3));
    assert!(ky > 0.0);
    let (thrower, victim, _, (kx, _)) = throw(stick(1.0, 0.0));
    assert_eq!((thrower, victim), (219, o::THROWN_F));
    assert!(kx > 0.0);
}

#[test]
fn down_on_a_platform_passes_through_it() {
    let bf = Stage::parse("battlefield").unwrap();
    let mut g = standing(bf, fox(), 0.0);
    // Onto the top platform.
    g.players[0].y = 54.4;
    g.step([N, N]);
    assert!(g.players[0].grounded && g.players[0].y == 54.4);
    assert_eq!(step(&mut g, stick(0.0, -1.0)), o::PASS);
    assert!(!g.players[0].grounded);
    assert_eq!(run_of(&mut g, N, o::PASS), frames(fox()).pass as u32);
    assert!(g.players[0].y < 54.4 - 10.0, "fell through");
    assert_eq!(g.players[0].action(), a::FALL);
    // Actionable while it drops: an aerial out of Pass.
    let mut g = standing(bf, fox(), 0.0);
    g.players[0].y = 54.4;
    g.step([N, N]);
    step(&mut g, stick(0.0, -1.0));
    step(&mut g, N);
    step(&mut g, with(N, A));
    assert_eq!(g.players[0].act, Act::Attack(MoveKind::Nair));
}

#[test]
fn shield_drop_passes_through_a_platform() {
    let bf = Stage::parse("battlefield").unwrap();
    let mut g = standing(bf, fox(), 0.0);
    g.players[0].y = 54.4;
    g.step([N, N]);
    for _ in 0..12 {
        step(&mut g, with(N, R));
    }
    assert_eq!(step(&mut g, with(stick(0.0, -1.0), R)), o::PASS);
}

/// Player 1 falling onto the right ledge of Final Destination and hanging (CliffWait), at
/// `percent`.
fn hanging(percent: f32) -> Game {
    let mut g = standing(fd(), fox(), 0.0);
    g.players[1].x = -60.0;
    let edge = fd().edge;
    let p = &mut g.players[0];
    p.x = edge + 6.0;
    p.y = 3.0;
    p.grounded = false;
    p.act = Act::Air;
    p.percent = percent;
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.push(step(&mut g, N));
        if g.players[0].act == Act::Ledge {
            break;
        }
    }
    let catch = seen.iter().filter(|&&x| x == o::CLIFF_CATCH).count();
    assert_eq!(catch, 7, "{seen:?}");
    assert_eq!(g.players[0].action(), a::CLIFF_WAIT);
    g
}

/// A ledge option: its action, the frames it shows, and where it ends.
fn ledge_option(percent: f32, c: Controller) -> (u16, u32, Game) {
    let mut g = hanging(percent);
    let id = step(&mut g, c);
    let n = run_of(&mut g, N, id);
    (id, n, g)
}

#[test]
fn each_ledge_option_shows_its_action_quick_and_slow() {
    let toward = stick(-1.0, 0.0);
    let edge = fd().edge;
    for (c, quick, slow) in [
        (toward, (255, 34), (254, 59)),
        (with(N, A), (257, 55), (256, 69)),
        (with(N, B), (257, 55), (256, 69)),
        (with(N, L), (259, 49), (258, 79)),
    ] {
        for (percent, want) in [(0.0, quick), (120.0, slow)] {
            let (id, n, g) = ledge_option(percent, c);
            assert_eq!((id, n), want, "at {percent}%");
            let p = &g.players[0];
            assert!(p.grounded && p.y == 0.0 && p.x < edge, "on the stage");
            assert_eq!(p.action(), a::WAIT);
        }
    }
    // The climb is intangible for its first 30 frames, then not.
    let mut g = hanging(0.0);
    step(&mut g, toward);
    for _ in 1..30 {
        step(&mut g, N);
    }
    assert!(g.players[0].intangible());
    for _ in 0..4 {
        step(&mut g, N);
    }
    assert!(!g.players[0].intangible());
}

#[test]
fn a_ledge_jump_then_airborne_and_letting_go_falls() {
    for (percent, first, second) in [(0.0, 262, 263), (150.0, 260, 261)] {
        let (id, n, mut g) = ledge_option(percent, with(N, X));
        assert_eq!(id, first);
        assert_eq!(n, if percent > 0.0 { 17 } else { 14 });
        assert_eq!(g.players[0].action(), second);
        assert!(!g.players[0].grounded && g.players[0].vy > 0.0);
        for _ in 0..40 {
            step(&mut g, N);
        }
        let p = &g.players[0];
        assert!(p.y > 0.0 || p.grounded, "over the stage: {} {}", p.x, p.y);
    }
    // Letting go: stick away, a plain fall.
    let mut g = hanging(0.0);
    assert_eq!(step(&mut g, stick(1.0, 0.0)), a::FALL);
    assert_eq!(g.players[0].act, Act::Air);
}

/// Player 1 short hops a neutral air and lands; with `lcancel`, L is pressed 3 frames before
/// landing. Returns the recorded L-cancel statuses of player 1's LandingAirN frames (decoded
/// from the written replay) and their count.
fn nair_landing(f: &'static Fighter, lcancel: bool) -> Vec<u8> {
    let mut g = standing(fd(), f, 0.0);
    let mut rec = SlpRecorder::new(&g, ["a", "b"], 1);
    let mut script: Vec<Controller> = vec![with(N, X)];
    script.extend(std::iter::repeat_n(N, f.jump_squat as usize + 1));
    script.push(with(N, A));
    let mut lcancelled = false;
    let mut i = 0;
    while i < 300 {
        let c = script.get(i).copied().unwrap_or(N);
        let p = &g.players[0];
        // L once the aerial is falling near the ground.
        let c = if lcancel && !lcancelled && matches!(p.act, Act::Attack(_)) && p.vy < 0.0 {
            let frames_left = p.y / -p.vy;
            if frames_left < 3.0 {
                lcancelled = true;
                with(c, L)
            } else {
                c
            }
        } else {
            c
        };
        g.step([c, N]);
        rec.push(&g);
        i += 1;
    }
    let replay = read(&write(&rec.finish(&g)), DecodeOptions::default()).unwrap();
    replay.frames.ports[0]
        .leader
        .iter()
        .flatten()
        .filter(|c| c.post.action_state == a::LANDING_AIR_N)
        .map(|c| c.post.l_cancel.unwrap_or(9))
        .collect()
}

#[test]
fn an_l_cancelled_nair_records_status_1_and_half_the_lag() {
    let with_l = nair_landing(fox(), true);
    let without = nair_landing(fox(), false);
    assert!(!with_l.is_empty() && !without.is_empty());
    assert_eq!(with_l[0], 1, "{with_l:?}");
    assert_eq!(without[0], 2, "{without:?}");
    assert!(
        with_l[1..].iter().all(|&s| s == 0),
        "only the landing frame"
    );
    assert!(with_l.len() * 2 <= without.len() + 1, "half the lag");
}

#[test]
fn the_rule_bot_beats_the_random_bot_with_the_new_options() {
    let fighters = [fox(), puff(), Fighter::parse("bowser").unwrap()];
    let mut wins = 0;
    let games = 24;
    for seed in 0..games {
        let stage = &exphil_sim::STAGES[seed as usize % 6];
        let f = [
            fighters[seed as usize % 3],
            fighters[(seed as usize / 3) % 3],
        ];
        if rule_beats_random(Game::new(stage, f), (seed * 7, seed * 7 + 1)) {
            wins += 1;
        }
    }
    eprintln!("rule beat random {wins} of {games}");
    assert!(wins >= 20, "rule won {wins} of {games}");
}
