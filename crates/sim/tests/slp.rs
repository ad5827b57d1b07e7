//! Simulator games recorded as Slippi replays decode to the simulator's own views.

use exphil_replay::{read, write, DecodeOptions, Port};
use exphil_sim::game::Game;
use exphil_sim::{bot, Fighter, SlpRecorder, STAGES};
use exphil_state::{Controller, GameState, StateBuilder};

/// The stick value a replay gives back for `v`: the nearest raw controller unit.
fn on_grid(v: f32) -> f32 {
    (((v * 2.0 - 1.0) * 80.0).round() + 80.0) / 160.0
}

fn as_replayed(mut s: GameState) -> GameState {
    for p in &mut s.players {
        let c = p.controller;
        p.controller = Controller {
            main_x: on_grid(c.main_x),
            main_y: on_grid(c.main_y),
            c_x: on_grid(c.c_x),
            c_y: on_grid(c.c_y),
            ..c
        };
    }
    s
}

#[test]
fn recorded_games_decode_to_the_simulator_views_on_every_stage() {
    let fighters = ["fox", "puff", "bowser"].map(|f| Fighter::parse(f).unwrap());
    for (k, stage) in STAGES.iter().enumerate() {
        let pair = [fighters[k % 3], fighters[(k + 1) % 3]];
        let mut g = Game::new(stage, pair);
        g.frame_limit = 1800;
        let mut bots = [bot("random", k as u64).unwrap(), bot("rule", 99).unwrap()];
        let mut rec = SlpRecorder::new(&g, ["bot:random", "bot:rule"], 7);
        let mut views = Vec::new();
        while !g.is_over() {
            let c = [bots[0].act(&g.view(0)), bots[1].act(&g.view(1))];
            g.step(c);
            rec.push(&g);
            views.push([g.view(0), g.view(1)]);
        }
        let recorded = rec.finish(&g);
        let bytes = write(&recorded);
        let game = read(&bytes, DecodeOptions::default()).unwrap();
        assert!(game.is_complete(), "{}: {:?}", stage.name, game.warnings);
        assert!(game.warnings.is_empty(), "{:?}", game.warnings);
        assert_eq!(game.start.stage, stage.id);
        assert_eq!(game.frames.len(), views.len());
        assert_eq!(game.frames.id[0], -123);
        let end = game.end.clone().unwrap();
        let outcome = g.outcome.unwrap();
        match outcome.winner {
            Some(w) => assert_eq!(end.placements.unwrap()[w], 0),
            None => assert_eq!(end.method.0, 1),
        }
        let meta = game.metadata.as_ref().unwrap();
        assert_eq!(meta.played_on.as_deref(), Some("exphil-sim"));
        assert_eq!(meta.players[1].netplay.as_deref(), Some("bot:rule"));
        assert_eq!(game.start.players[0].name_tag.as_deref(), Some("bot:rand"));

        let (p1, p2) = (Port::from_number(1).unwrap(), Port::from_number(2).unwrap());
        for (seat, (me, them)) in [(p1, p2), (p2, p1)].into_iter().enumerate() {
            let mut builder = StateBuilder::new(&game, me, them);
            for (frame, v) in game.frames.iter().zip(&views) {
                let mut s = builder.state(frame).unwrap();
                // The replay side places Yoshi's Story's Randall by frame; the sim has none.
                s.randall_x = 0.0;
                s.randall_y = 0.0;
                let mut expected = as_replayed(v[seat]);
                // The sim's view is numbered by the frame about to be played.
                expected.frame -= 1;
                for k in 0..2 {
                    assert_eq!(
                        s.players[k],
                        expected.players[k],
                        "{} seat {seat} frame {} player {k}",
                        stage.name,
                        frame.id()
                    );
                }
                assert_eq!(
                    s,
                    expected,
                    "{} seat {seat} frame {}",
                    stage.name,
                    frame.id()
                );
            }
        }
    }
}
