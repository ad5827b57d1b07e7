//! Game states built from the shared real replays: complete, faithful to the decoded values,
//! and identical after a trip through UMI v1 frame bytes.

use exphil_replay::{read_file, DecodeOptions, Game, Port};
use exphil_state::{states, GameState, FRAME_BYTES};

use exphil_testdata::replays_dir as replays;

fn game(name: &str) -> Game {
    read_file(&replays().join(name), DecodeOptions::default()).unwrap()
}

fn ports(game: &Game) -> (Port, Port) {
    (game.start.players[0].port, game.start.players[1].port)
}

#[test]
fn every_game_frame_survives_the_umi_round_trip_from_both_sides() {
    let mut dir: Vec<_> = std::fs::read_dir(replays().join("games"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dir.sort();
    let mut total = 0usize;
    for path in dir {
        let g = read_file(&path, DecodeOptions::default()).unwrap();
        let (a, b) = ports(&g);
        let mine = states(&g, a, b);
        let theirs = states(&g, b, a);
        assert_eq!(mine.len(), g.frames.len(), "{}", path.display());
        assert_eq!(theirs.len(), mine.len());
        for ((row, s), (_, t)) in mine.iter().zip(&theirs) {
            let bytes = s.to_umi();
            assert_eq!(bytes.len(), FRAME_BYTES);
            let back = GameState::from_umi(&bytes).unwrap();
            assert_eq!(back.to_umi(), bytes, "{} row {row}", path.display());
            assert_eq!(
                t.swapped().to_umi(),
                bytes,
                "{} row {row}: swapped view",
                path.display()
            );
        }
        total += mine.len();
    }
    assert_eq!(total, 348_475);
}

#[test]
fn fields_follow_the_decoded_values() {
    let g = game("games/py-slippi__v3.14.0.slp");
    let (a, b) = ports(&g);
    let all = states(&g, a, b);
    let mut hitstun_frames = 0;
    for (row, s) in &all {
        let f = g.frames.get(*row).unwrap();
        let me = f.port(a).unwrap().leader;
        let p = &s.players[0];
        assert_eq!(s.frame, f.id());
        assert_eq!(p.percent, me.post.percent.floor() as u16);
        assert_eq!(p.action, me.post.action_state);
        assert_eq!(p.x.to_bits(), me.post.x.to_bits());
        assert_eq!(p.facing_right, me.post.facing > 0.0);
        assert_eq!(
            p.hitlag_left,
            me.post.hitlag_remaining.unwrap().floor() as u16
        );
        assert_eq!(
            p.hitstun_left,
            me.post.hitstun_remaining().unwrap().floor() as u16
        );
        hitstun_frames += (p.hitstun_left > 0) as usize;
        // Hitstun only in the damage action states (0x4B–0x5B).
        if p.hitstun_left > 0 {
            assert!(
                (0x4B..=0x5B).contains(&p.action),
                "row {row}: action {}",
                p.action
            );
        }
        assert!(!s.nana[0].exists && !s.nana[1].exists);
        assert_eq!(
            (s.randall_x, s.fod_left),
            (0.0, 0.0),
            "Dream Land has neither"
        );
    }
    assert!(hitstun_frames > 100);
}

#[test]
fn nana_items_and_moving_stages_are_filled_in() {
    // Ice Climbers (P1) in a full online game: Nana is there most of the time.
    let g = game("edge/py-slippi__Game_20221228T034923.slp");
    let (a, b) = ports(&g);
    let all = states(&g, a, b);
    let with_nana = all.iter().filter(|(_, s)| s.nana[0].exists).count();
    assert!(with_nana > all.len() / 2, "{with_nana} of {}", all.len());
    assert!(all.iter().all(|(_, s)| !s.nana[1].exists));
    let nana = all.iter().find(|(_, s)| s.nana[0].exists).unwrap().1.nana[0];
    assert_eq!(nana.character.0, 11, "Nana's internal id");

    // Items with owners mapped to self (0) and opponent (1).
    let g = game("games/py-slippi__NUT_356_Falco_vs_DOUB_160_Samus_on_YS_-_12-09-22_02.09am.slp");
    let (a, b) = ports(&g);
    let all = states(&g, a, b);
    let owners: std::collections::BTreeSet<i8> = all
        .iter()
        .flat_map(|(_, s)| s.items.iter().filter(|i| i.exists).map(|i| i.owner))
        .collect();
    assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
    // Yoshi's Story: Randall moves.
    let xs: Vec<f32> = all.iter().map(|(_, s)| s.randall_x).collect();
    assert!(xs.iter().any(|&x| x > 50.0) && xs.iter().any(|&x| x < -50.0));

    // Fountain of Dreams with platform events (3.18): heights start at 20/28, then move.
    let g = game("edge/peppi__v3.18.slp");
    let (a, b) = ports(&g);
    let all = states(&g, a, b);
    assert_eq!((all[0].1.fod_left, all[0].1.fod_right), (20.0, 28.0));
    assert!(all.iter().any(|(_, s)| s.fod_left != 20.0));
    assert!(all.iter().any(|(_, s)| s.fod_right != 28.0));
}
