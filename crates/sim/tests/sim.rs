//! The simulator: determinism, physics, combat (Melee's knockback with weight, shields,
//! grabs, ledges, blast zones), scripted bots, batched stepping that survives a failing game,
//! the recorded viewer, and that its views embed as replay frames do.

use exphil_embed::{EmbedConfig, Embedder, FrameContext};
use exphil_sim::fighter::action;
use exphil_sim::game::{Act, End, Game, FIRST_FRAME, STOCKS};
use exphil_sim::record::Recording;
use exphil_sim::{bot, Batch, Fighter, MoveKind, Stage, STAGES};
use exphil_state::{Buttons, Controller, GameState};
mod common;
use common::*;

fn press(b: usize) -> Controller {
    let mut c = Controller::NEUTRAL;
    c.buttons = Buttons(1 << b);
    c
}

/// A game past the countdown.
fn started(stage: &'static Stage, f: [&'static Fighter; 2]) -> Game {
    let mut g = Game::new(stage, f);
    while g.frame < 0 {
        g.step([N, N]);
    }
    g
}

/// Plays bots against each other to the end; returns the game and both seats' views.
fn play_bots(
    a: &str,
    b: &str,
    seed: u64,
    stage: &'static Stage,
    f: [&'static Fighter; 2],
) -> (Game, Vec<[GameState; 2]>) {
    let mut g = Game::new(stage, f);
    let mut bots = [bot(a, seed).unwrap(), bot(b, seed + 1).unwrap()];
    let mut views = Vec::new();
    while !g.is_over() {
        let v = [g.view(0), g.view(1)];
        let c = [bots[0].act(&v[0]), bots[1].act(&v[1])];
        views.push(v);
        g.step(c);
    }
    (g, views)
}

#[test]
fn the_same_inputs_give_the_same_game() {
    let (a, va) = play_bots("random", "rule", 7, &STAGES[1], [fox(), bowser()]);
    let (b, vb) = play_bots("random", "rule", 7, &STAGES[1], [fox(), bowser()]);
    assert_eq!(a.outcome, b.outcome);
    assert_eq!(va, vb);
    let (c, vc) = play_bots("random", "rule", 8, &STAGES[1], [fox(), bowser()]);
    assert!(
        vc != va || c.outcome != a.outcome,
        "another seed plays differently"
    );
}

#[test]
fn the_countdown_ignores_inputs_and_views_mirror_each_other() {
    let mut g = Game::new(fd(), [fox(), puff()]);
    assert_eq!(g.frame, FIRST_FRAME);
    let x0 = g.players[0].x;
    for _ in 0..100 {
        g.step([stick(1.0, 0.0), press(0)]);
    }
    assert_eq!(g.players[0].x, x0);
    let v0 = g.view(0);
    let v1 = g.view(1);
    assert_eq!(v0.players[0], v1.players[1]);
    assert_eq!(v0.players[1], v1.players[0]);
    assert_eq!(v0.swapped(), v1);
    assert_eq!(v0.players[0].stocks, STOCKS);
}

#[test]
fn walking_off_the_stage_loses_a_stock_then_respawns_invincible() {
    let mut g = started(fd(), [fox(), puff()]);
    let mut lost = false;
    for _ in 0..600 {
        let info = g.step([stick(1.0, 0.0), N]);
        if info.stock_lost[0] {
            lost = true;
            break;
        }
    }
    assert!(lost, "ran off the right edge and fell out of the bottom");
    assert_eq!(g.players[0].stocks, STOCKS - 1);
    assert_eq!(g.players[0].act, Act::Dead);
    for _ in 0..61 {
        g.step([N, N]);
    }
    // The platform comes down (Rebirth) for 60 frames, then waits (RebirthWait).
    assert_eq!(g.players[0].act, Act::Rebirth);
    assert!(g.players[0].intangible());
    for _ in 0..60 {
        g.step([N, N]);
    }
    assert_eq!(g.players[0].act, Act::Respawn);
    assert!(g.players[0].intangible());
    g.step([stick(0.5, 0.0), N]);
    assert_eq!(g.players[0].act, Act::Air);
    assert!(g.players[0].invuln > 100);
}

/// Frames from a jump press until landing, and the peak height.
fn jump(f: &'static Fighter, hold: bool) -> (u32, f32) {
    let mut g = started(fd(), [f, puff()]);
    let mut peak: f32 = 0.0;
    let mut frames = 0;
    let mut left_ground = false;
    for t in 0..400 {
        let c = if t == 0 || (hold && t < 20) {
            press(2)
        } else {
            N
        };
        g.step([c, N]);
        frames += 1;
        peak = peak.max(g.players[0].y);
        if !g.players[0].grounded {
            left_ground = true;
        }
        if left_ground && g.players[0].grounded {
            break;
        }
    }
    (frames, peak)
}

#[test]
fn physics_differ_by_archetype() {
    let (fox_full, fox_peak) = jump(fox(), true);
    let (_, fox_short) = jump(fox(), false);
    assert!(
        fox_peak > fox_short * 1.5,
        "full hop {fox_peak} vs short hop {fox_short}"
    );
    let (puff_full, _) = jump(puff(), true);
    assert!(
        puff_full > fox_full,
        "the floaty stays up longer: {puff_full} vs {fox_full}"
    );
    // A fast-fallen full hop lands sooner.
    let mut g = started(fd(), [fox(), puff()]);
    let mut t = 0;
    let mut left = false;
    while t < 200 {
        let c = if t < 20 {
            press(2)
        } else if g.players[0].vy < 0.0 {
            stick(0.0, -1.0)
        } else {
            N
        };
        // Release the stick between frames so the flick is fresh.
        let c = if t % 2 == 1 && t >= 20 { N } else { c };
        g.step([c, N]);
        t += 1;
        left |= !g.players[0].grounded;
        if left && g.players[0].grounded {
            break;
        }
    }
    assert!(
        t < fox_full,
        "fast-fallen jump lands sooner: {t} vs {fox_full}"
    );
}

/// Percent, knockback speed and hitstun of a fox fsmash on `target` at `percent`.
fn smash(target: &'static Fighter, percent: f32) -> (f32, f32, u16) {
    let mut g = started(fd(), [fox(), target]);
    g.players[0].x = 0.0;
    g.players[1].x = 12.0;
    g.players[1].percent = percent;
    let fsmash = Controller { c_x: 1.0, ..N };
    g.step([fsmash, N]);
    assert_eq!(g.players[0].act, Act::Attack(MoveKind::Fsmash));
    for _ in 0..30 {
        g.step([N, N]);
        if g.players[1].act == Act::Hitstun {
            break;
        }
    }
    let p = &g.players[1];
    (p.percent, p.kx.hypot(p.ky), p.hitstun)
}

#[test]
fn knockback_grows_with_percent_and_shrinks_with_weight() {
    let (p0, k0, h0) = smash(puff(), 0.0);
    let (p1, k1, h1) = smash(puff(), 100.0);
    assert_eq!(p0, 15.0);
    assert_eq!(p1, 115.0);
    assert!(k1 > k0 * 1.8, "{k0} → {k1}");
    assert!(h1 > h0);
    // Melee's formula: ((p/10 + p*d/20) * 200/(w+100) * 1.4 + 18) * g/100 + b; speed = kb * 0.03.
    let kb = ((115.0f32 / 10.0 + 115.0 * 15.0 / 20.0) * 200.0 / 160.0 * 1.4 + 18.0) + 20.0;
    assert!((k1 - kb * 0.03).abs() < 0.06, "{k1} vs {}", kb * 0.03);
    assert_eq!(h1, (kb * 0.4).floor() as u16);
    let (_, heavy, _) = smash(bowser(), 100.0);
    assert!(heavy < k1, "the heavy flies less: {heavy} vs {k1}");
}

#[test]
fn shields_take_the_hit_and_grabs_beat_shields() {
    let mut g = started(fd(), [fox(), bowser()]);
    g.players[0].x = 0.0;
    g.players[1].x = 12.0;
    let shield = press(6);
    g.step([Controller { c_x: 1.0, ..N }, shield]);
    for _ in 0..20 {
        g.step([N, shield]);
    }
    assert_eq!(g.players[1].percent, 0.0, "shielded");
    assert!(g.players[1].shield < 60.0 - 14.0);
    for _ in 0..40 {
        g.step([N, shield]);
    }
    // A grab on the shielding heavy, then a back throw.
    g.players[0].x = g.players[1].x - 10.0;
    g.step([press(4), shield]);
    let mut held = false;
    for _ in 0..12 {
        g.step([N, shield]);
        held |= g.players[1].act == Act::Held;
    }
    assert!(held, "grabbed through the shield");
    assert_eq!(g.players[0].act, Act::Holding);
    g.step([stick(-1.0, 0.0), N]);
    assert_eq!(g.players[0].act, Act::Attack(MoveKind::Bthrow));
    // Held in the throw (ThrownB) until the release, then launched.
    assert_eq!(
        g.players[1].act,
        Act::Opt(exphil_sim::options::Opt::Thrown(MoveKind::Bthrow))
    );
    assert!(g.players[1].percent > 0.0);
    assert!(g.players[1].kx < 0.0, "thrown backwards");
    for _ in 0..30 {
        g.step([N, N]);
    }
    assert_eq!(g.players[1].act, Act::Hitstun);
}

#[test]
fn a_falling_fighter_grabs_the_ledge_and_climbs() {
    let mut g = started(fd(), [fox(), puff()]);
    let edge = fd().edge;
    g.players[0].x = edge + 6.0;
    g.players[0].y = 3.0;
    g.players[0].grounded = false;
    g.players[0].act = Act::Air;
    let mut grabbed = false;
    for _ in 0..30 {
        g.step([N, N]);
        if g.players[0].act == Act::Ledge {
            grabbed = true;
            break;
        }
    }
    assert!(grabbed);
    assert!(g.players[0].intangible());
    assert_eq!(g.view(0).players[0].action, action::CLIFF_WAIT);
    g.step([stick(-1.0, 0.0), N]);
    for _ in 0..31 {
        g.step([N, N]);
    }
    let p = &g.players[0];
    assert!(p.grounded && p.y == 0.0 && p.x < edge, "{:?}", p.act);
}

#[test]
fn the_rule_bot_beats_idle_and_random() {
    let mut wins = 0;
    for seed in 0..6u64 {
        let stage = &STAGES[seed as usize % 6];
        let (g, _) = play_bots("rule", "random", seed * 10, stage, [fox(), puff()]);
        if g.outcome.unwrap().winner == Some(0) {
            wins += 1;
        }
    }
    assert!(wins >= 5, "rule beat random in {wins} of 6");
    let (g, _) = play_bots("rule", "idle", 1, fd(), [bowser(), fox()]);
    let o = g.outcome.unwrap();
    assert_eq!(o.winner, Some(0));
    assert_eq!(o.end, End::Stocks);
    assert_eq!(o.stocks[1], 0);
}

#[test]
fn sim_views_embed_like_replay_frames() {
    let e = Embedder::new(EmbedConfig::preset("compact").unwrap()).unwrap();
    let (mut f, mut ids) = (vec![0f32; e.layout().features], vec![0u32; e.layout().ids]);
    let (_, views) = play_bots("rule", "random", 3, &STAGES[4], [puff(), bowser()]);
    let ctx = FrameContext {
        prev_controllers: &[],
        delay: 0,
        player_name: 0,
    };
    for v in views.iter().step_by(7) {
        for s in v {
            e.embed(s, &ctx, &mut f, &mut ids).expect("no anomaly");
            assert!(f.iter().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn a_failing_game_is_replaced_and_the_others_go_on() {
    let make = |_: usize| Game::new(fd(), [fox(), bowser()]);
    let mut batch = Batch::new(4, make);
    let mut alone = Batch::new(4, make);
    let bots_for = || -> Vec<_> {
        (0..4u64)
            .map(|i| [bot("random", i).unwrap(), bot("rule", i + 9).unwrap()])
            .collect()
    };
    let (mut bots, mut bots2) = (bots_for(), bots_for());
    for t in 0..600 {
        if t == 300 {
            batch.games[2].players[1].x = f32::NAN;
        }
        let inputs = |b: &Batch, bots: &mut Vec<[Box<dyn exphil_sim::Bot>; 2]>| {
            b.games
                .iter()
                .zip(bots.iter_mut())
                .map(|(g, b)| [b[0].act(&g.view(0)), b[1].act(&g.view(1))])
                .collect::<Vec<[Controller; 2]>>()
        };
        let i1 = inputs(&batch, &mut bots);
        let i2 = inputs(&alone, &mut bots2);
        let steps = batch.step(&i1);
        alone.step(&i2);
        assert_eq!(steps[2].replaced, t == 300);
    }
    assert_eq!(batch.faults.len(), 1);
    assert!(
        batch.faults[0].error.contains("player 2 x is NaN"),
        "{:?}",
        batch.faults
    );
    assert_eq!(batch.faults[0].slot, 2);
    for s in [0, 1, 3] {
        assert_eq!(
            batch.games[s].view(0),
            alone.games[s].view(0),
            "slot {s} unaffected"
        );
    }
    assert_eq!(
        batch.games[2].frame,
        FIRST_FRAME + 299,
        "a fresh game in slot 2"
    );
}

#[test]
fn a_recording_is_a_self_contained_viewer() {
    let mut g = Game::new(&STAGES[1], [fox(), puff()]);
    let mut rec = Recording::new(&g);
    for _ in 0..200 {
        g.step([stick(1.0, 0.0), N]);
        rec.push(&g);
    }
    rec.result = "test".into();
    let html = rec.html();
    assert!(html.contains("\"Battlefield\"") && html.contains("<canvas"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    assert_eq!(rec.frames.len(), 200);
}
