//! The embedding on real replay frames: golden values, train/play parity through UMI frame
//! bytes, the mirror involution, preset layouts and anomaly flagging.
//!
//! Re-record the golden files after an intended change of the embedding with
//! `EXPHIL_RECORD_GOLDEN=1 cargo test -p exphil-embed --test embedding`, and review the diff.

use exphil_embed::{mirror, EmbedConfig, Embedder, FrameContext, PRESETS};
use exphil_replay::{read_file, DecodeOptions, Game, Port};
use exphil_state::{states, Controller, GameState};
use std::path::PathBuf;

use exphil_testdata::replays_dir as replays;

fn game(name: &str) -> Game {
    read_file(&replays().join(name), DecodeOptions::default()).unwrap()
}

fn ports(g: &Game) -> (Port, Port) {
    (g.start.players[0].port, g.start.players[1].port)
}

fn embed(e: &Embedder, s: &GameState, prev: &[Controller]) -> (Vec<f32>, Vec<u32>) {
    let mut f = vec![f32::NAN; e.layout().features];
    let mut ids = vec![u32::MAX; e.layout().ids];
    let ctx = FrameContext {
        prev_controllers: prev,
        delay: 18,
        player_name: 0,
    };
    e.embed(s, &ctx, &mut f, &mut ids)
        .unwrap_or_else(|a| panic!("anomaly {a}"));
    (f, ids)
}

/// States of a game (self = first player) and each frame's previous controllers.
fn frames(g: &Game) -> Vec<(GameState, Vec<Controller>)> {
    let (a, b) = ports(g);
    let all = states(g, a, b);
    let mut out = Vec::with_capacity(all.len());
    let mut history: Vec<Controller> = Vec::new();
    for (_, s) in all {
        out.push((s, history.iter().rev().take(2).copied().collect()));
        history.push(s.players[0].controller);
    }
    out
}

#[test]
fn presets_have_consistent_layouts() {
    for name in PRESETS {
        let e = Embedder::new(EmbedConfig::preset(name).unwrap()).unwrap();
        let l = e.layout();
        let mut f_end = 0;
        let mut i_end = 0;
        for c in &l.components {
            match c.kind {
                exphil_embed::ComponentKind::Id { .. } => {
                    assert_eq!(c.offset, i_end, "{name}: {}", c.name);
                    i_end += c.size;
                }
                _ => {
                    assert_eq!(c.offset, f_end, "{name}: {}", c.name);
                    f_end += c.size;
                }
            }
        }
        assert_eq!((f_end, i_end), (l.features, l.ids), "{name}");
        assert!(l.to_string().contains("self.percent"));
    }
    assert!(EmbedConfig::preset("nope")
        .unwrap_err()
        .to_string()
        .contains("compact"));
    let bad = EmbedConfig {
        item_slots: 16,
        ..EmbedConfig::default()
    };
    assert!(Embedder::new(bad).is_err());
}

#[test]
fn every_frame_embeds_identically_after_a_trip_through_umi_bytes() {
    for name in [
        "games/py-slippi__v3.14.0.slp",
        "edge/py-slippi__Game_20221228T034923.slp", // Ice Climbers, items, rollbacks
        "games/peppi__v0.1.slp",
    ] {
        let g = game(name);
        for preset in PRESETS {
            let e = Embedder::new(EmbedConfig::preset(preset).unwrap()).unwrap();
            for (s, prev) in frames(&g) {
                let back = GameState::from_umi(&s.to_umi()).unwrap();
                let (f1, i1) = embed(&e, &s, &prev);
                let (f2, i2) = embed(&e, &back, &prev);
                assert_eq!(i1, i2, "{name} {preset} frame {}", s.frame);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&f1), bits(&f2), "{name} {preset} frame {}", s.frame);
                assert!(f1.iter().all(|x| x.is_finite()));
            }
        }
    }
}

#[test]
fn mirroring_twice_is_the_identity_and_mirrors_the_embedding() {
    let g = game("edge/py-slippi__Game_20221228T034923.slp");
    let e = Embedder::new(EmbedConfig::preset("full").unwrap()).unwrap();
    let x = e.layout().component("self.position").unwrap().offset;
    for (s, _) in frames(&g) {
        assert_eq!(
            mirror(&mirror(&s)).to_umi(),
            s.to_umi(),
            "frame {}",
            s.frame
        );
        let (f, _) = embed(&e, &s, &[]);
        let (m, _) = embed(&e, &mirror(&s), &[]);
        assert_eq!(m[x], -f[x]);
        assert_eq!(m[x + 1], f[x + 1]);
    }
}

#[test]
fn anomalies_are_flagged_not_embedded() {
    let g = game("games/py-slippi__v3.14.0.slp");
    let e = Embedder::new(EmbedConfig::default()).unwrap();
    let (mut s, _) = frames(&g)[500];
    let mut f = vec![0.0; e.layout().features];
    let mut ids = vec![0; e.layout().ids];
    s.players[1].x = f32::NAN;
    let err = e
        .embed(&s, &FrameContext::default(), &mut f, &mut ids)
        .unwrap_err();
    assert_eq!(err.component, "position.x");
    s.players[1].x = 0.0;
    s.players[0].shield = 300.0;
    let err = e
        .embed(&s, &FrameContext::default(), &mut f, &mut ids)
        .unwrap_err();
    assert_eq!(err.component, "shield");
    s.players[0].shield = 60.0;
    s.players[0].action = 4000;
    assert!(e
        .embed(&s, &FrameContext::default(), &mut f, &mut ids)
        .is_err());
}

#[test]
fn golden_embeddings_of_chosen_frames() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/embedding.json");
    let mut got = serde_json::Map::new();
    for (file, rows) in [
        ("games/py-slippi__v3.14.0.slp", [0usize, 500, 5000]),
        (
            "edge/py-slippi__Game_20221228T034923.slp",
            [300, 2000, 4000],
        ),
    ] {
        let g = game(file);
        let all = frames(&g);
        for preset in ["compact", "full"] {
            let e = Embedder::new(EmbedConfig::preset(preset).unwrap()).unwrap();
            for row in rows {
                let (s, prev) = &all[row];
                let (f, ids) = embed(&e, s, prev);
                got.insert(
                    format!("{file}#{row}/{preset}"),
                    serde_json::json!({ "frame": s.frame, "features": f, "ids": ids }),
                );
            }
        }
    }
    let got = serde_json::Value::Object(got);
    if std::env::var_os("EXPHIL_RECORD_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", path.display());
        return;
    }
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (record with EXPHIL_RECORD_GOLDEN=1)",
                path.display()
            )
        }))
        .unwrap();
    for (key, w) in want.as_object().unwrap() {
        let g = &got[key];
        assert_eq!(g["ids"], w["ids"], "{key}: ids");
        let (gf, wf) = (
            g["features"].as_array().unwrap(),
            w["features"].as_array().unwrap(),
        );
        assert_eq!(gf.len(), wf.len(), "{key}: feature count");
        for (i, (a, b)) in gf.iter().zip(wf).enumerate() {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-6, "{key}: feature {i}: {a} != {b}");
        }
    }
    assert_eq!(
        want.as_object().unwrap().len(),
        got.as_object().unwrap().len()
    );
}
