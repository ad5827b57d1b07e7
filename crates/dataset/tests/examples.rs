//! Examples from real replays: the delay pairing checked against `Embedder::embed` directly,
//! delay augmentation, the mirrored copies, perspectives and skip reasons, and a shard round trip
//! of real examples.

use exphil_dataset::{
    game_examples, game_examples_named, player_key, ExampleConfig, GameExamples, NoiseConfig,
    Perspective, PlayerRegistry, Precision, Shard, SkipReason, VARIANT_MIRRORED,
    VARIANT_NOISY_FIRST, VARIANT_ORIGINAL,
};
use exphil_embed::{mirror, EmbedConfig, Embedder, FrameContext, TargetCoder, TargetConfig};
use exphil_replay::{read_file, DecodeOptions, ExternalCharacter, Game, Port};
use exphil_state::{states, Controller, GameState};
use std::path::PathBuf;

fn replays() -> PathBuf {
    exphil_testdata::replays_dir()
}

fn game(name: &str) -> Game {
    read_file(
        &replays().join("games").join(name),
        DecodeOptions::default(),
    )
    .unwrap()
}

/// P1 Peach, P2 Marth on Final Destination.
const PEACH_MARTH: &str = "py-slippi__ACID_441_Peach_vs_NUT_356_Marth_on_FD_-_12-15-22_01.42am.slp";
/// P1 Marth, P2 Marth.
const MARTH_DITTO: &str = "py-slippi__ERIC_431_Marth_vs_NUT_356_Marth_on_DL_-_12-09-22_02.33am.slp";
/// P2 Sheik, P4 Marth.
const PORTS_2_4: &str = "peppi__nintendont.slp";

fn setup(preset: &str) -> (Embedder, TargetCoder) {
    (
        Embedder::new(EmbedConfig::preset(preset).unwrap()).unwrap(),
        TargetCoder::new(TargetConfig::default()).unwrap(),
    )
}

/// The expected example for target frame index `ti` with delay `d`, computed independently: the
/// decision frame is `ti - 1 - d`, and its own controller is the most recent of the history.
fn expected(
    e: &Embedder,
    all: &[GameState],
    ti: usize,
    d: usize,
    mirrored: bool,
) -> (Vec<f32>, Vec<u32>) {
    let k = e.config().prev_controllers;
    let si = ti - 1 - d;
    let prev: Vec<Controller> = (0..k)
        .take_while(|j| *j <= si)
        .map(|j| {
            let c = all[si - j].players[0].controller;
            if mirrored {
                c.mirrored()
            } else {
                c
            }
        })
        .collect();
    let s = if mirrored { mirror(&all[si]) } else { all[si] };
    let mut f = vec![0.0; e.layout().features];
    let mut ids = vec![0; e.layout().ids];
    let ctx = FrameContext {
        prev_controllers: &prev,
        delay: d as u8,
        player_name: 0,
    };
    e.embed(&s, &ctx, &mut f, &mut ids).unwrap();
    (f, ids)
}

fn row<T>(v: &[T], i: usize, w: usize) -> &[T] {
    &v[i * w..(i + 1) * w]
}

#[test]
fn delay_pairs_decision_frame_t_with_the_input_of_t_plus_1_plus_d() {
    let g = game(PEACH_MARTH);
    for preset in ["compact", "full"] {
        let (e, coder) = setup(preset);
        let (nf, ni) = (e.layout().features, e.layout().ids);
        let cfg = ExampleConfig {
            perspective: Perspective::Port(2),
            frame_delay: 18,
            ..ExampleConfig::default()
        };
        let out = game_examples(&g, &e, &coder, &cfg).unwrap();
        assert_eq!(out.len(), 1);
        let ex = &out[0];
        assert_eq!(ex.port, 2);
        let all: Vec<GameState> = states(
            &g,
            Port::from_number(2).unwrap(),
            Port::from_number(1).unwrap(),
        )
        .into_iter()
        .map(|(_, s)| s)
        .collect();
        // Contiguous frames in this game: the first 1 + 18 frames are never targets.
        let dropped: u64 = ex.anomalies.values().sum();
        assert_eq!(ex.len() as u64 + dropped, all.len() as u64 - 19);
        assert!(ex.delays.iter().all(|&d| d == 18));
        assert_eq!(ex.frame_ids[0], all[19].frame);
        for i in 0..ex.len() {
            let t = ex.frame_ids[i];
            let ti = (t - all[0].frame) as usize;
            assert_eq!(all[ti].frame, t);
            assert_eq!(ex.targets[i], coder.encode(&all[ti].players[0].controller));
            let (f, ids) = expected(&e, &all, ti, 18, false);
            assert_eq!(row(&ex.features, i, nf), &f[..], "features at frame {t}");
            assert_eq!(row(&ex.ids, i, ni), &ids[..], "ids at frame {t}");
        }
    }
}

#[test]
fn delay_augmentation_is_seeded_and_paired_per_example() {
    let g = game(PEACH_MARTH);
    let (e, coder) = setup("compact");
    let nf = e.layout().features;
    let cfg = ExampleConfig {
        perspective: Perspective::Port(1),
        delay_augment: Some((2, 9)),
        seed: 5,
        ..ExampleConfig::default()
    };
    let a = game_examples(&g, &e, &coder, &cfg).unwrap().remove(0);
    let b = game_examples(&g, &e, &coder, &cfg).unwrap().remove(0);
    assert_eq!(a, b, "same seed, same examples");
    let c = game_examples(
        &g,
        &e,
        &coder,
        &ExampleConfig {
            seed: 6,
            ..cfg.clone()
        },
    )
    .unwrap()
    .remove(0);
    assert_ne!(a.delays, c.delays);
    assert!(a.delays.iter().all(|d| (2..=9).contains(d)));
    for d in 2..=9 {
        assert!(a.delays.contains(&d), "delay {d} never drawn");
    }
    let all: Vec<GameState> = states(
        &g,
        Port::from_number(1).unwrap(),
        Port::from_number(2).unwrap(),
    )
    .into_iter()
    .map(|(_, s)| s)
    .collect();
    for i in (0..a.len()).step_by(97) {
        let ti = (a.frame_ids[i] - all[0].frame) as usize;
        let (f, _) = expected(&e, &all, ti, a.delays[i] as usize, false);
        assert_eq!(row(&a.features, i, nf), &f[..]);
        assert_eq!(a.targets[i], coder.encode(&all[ti].players[0].controller));
    }
}

#[test]
fn mirrored_copies_follow_the_originals() {
    let g = game(PEACH_MARTH);
    let (e, coder) = setup("compact");
    let nf = e.layout().features;
    let cfg = ExampleConfig {
        perspective: Perspective::Port(1),
        frame_delay: 2,
        mirror: true,
        ..ExampleConfig::default()
    };
    let ex = game_examples(&g, &e, &coder, &cfg).unwrap().remove(0);
    let n = ex.len() / 2;
    assert_eq!(ex.len(), 2 * n);
    assert!(ex.variant[..n].iter().all(|&v| v == VARIANT_ORIGINAL));
    assert!(ex.variant[n..].iter().all(|&v| v == VARIANT_MIRRORED));
    assert_eq!(ex.frame_ids[..n], ex.frame_ids[n..]);
    let all: Vec<GameState> = states(
        &g,
        Port::from_number(1).unwrap(),
        Port::from_number(2).unwrap(),
    )
    .into_iter()
    .map(|(_, s)| s)
    .collect();
    for i in (0..n).step_by(53) {
        assert_eq!(ex.targets[n + i], coder.mirror(&ex.targets[i]));
        let ti = (ex.frame_ids[i] - all[0].frame) as usize;
        let (f, _) = expected(&e, &all, ti, 2, true);
        assert_eq!(row(&ex.features, n + i, nf), &f[..]);
    }
}

#[test]
fn perspectives_pick_ports_and_skip_with_reasons() {
    let (e, coder) = setup("minimal");
    let run = |g: &Game, p: Perspective| {
        game_examples(
            g,
            &e,
            &coder,
            &ExampleConfig {
                perspective: p,
                ..ExampleConfig::default()
            },
        )
    };
    let ports = |r: Result<Vec<GameExamples>, SkipReason>| {
        r.unwrap().iter().map(|x| x.port).collect::<Vec<_>>()
    };
    let pm = game(PEACH_MARTH);
    assert_eq!(ports(run(&pm, Perspective::Dual)), [1, 2]);
    assert_eq!(ports(run(&pm, Perspective::Port(2))), [2]);
    let marth = ExternalCharacter::parse("marth").unwrap();
    let fox = ExternalCharacter::parse("fox").unwrap();
    assert_eq!(ports(run(&pm, Perspective::Character(vec![marth]))), [2]);
    let skip = run(&pm, Perspective::Port(3)).unwrap_err();
    assert_eq!(skip, SkipReason::PortAbsent { port: 3 });
    assert_eq!(skip.to_string(), "no player on port 3");
    let skip = run(&pm, Perspective::Character(vec![fox])).unwrap_err();
    assert!(matches!(skip, SkipReason::CharacterAbsent { .. }));
    let msg = skip.to_string();
    assert!(
        msg.contains("Fox") && msg.contains("Peach") && msg.contains("Marth"),
        "{msg}"
    );

    // Both players are Marth: both perspectives.
    let ditto = game(MARTH_DITTO);
    assert_eq!(
        ports(run(&ditto, Perspective::Character(vec![marth]))),
        [1, 2]
    );

    // Ports 2 and 4.
    let g24 = game(PORTS_2_4);
    assert_eq!(ports(run(&g24, Perspective::Port(4))), [4]);
    assert_eq!(ports(run(&g24, Perspective::Dual)), [2, 4]);
    assert_eq!(
        run(&g24, Perspective::Port(1)).unwrap_err(),
        SkipReason::PortAbsent { port: 1 }
    );

    // Dual examples of one port equal that port's own examples.
    let dual = run(&pm, Perspective::Dual).unwrap();
    let p2 = run(&pm, Perspective::Port(2)).unwrap();
    assert_eq!(dual[1], p2[0]);

    // Not a two-player game.
    let mut one = pm.clone();
    one.start.players.truncate(1);
    let skip = run(&one, Perspective::Dual).unwrap_err();
    assert_eq!(skip, SkipReason::NotTwoPlayers { players: 1 });
    assert!(skip.to_string().contains("exactly 2"));
}

#[test]
fn real_examples_round_trip_through_a_shard() {
    let g = game(MARTH_DITTO);
    let (e, coder) = setup("compact");
    let mut ex = game_examples(
        &g,
        &e,
        &coder,
        &ExampleConfig {
            frame_delay: 4,
            mirror: true,
            ..ExampleConfig::default()
        },
    )
    .unwrap()
    .remove(1);
    ex.source = "0123456789abcdef".into();
    let dir = tempfile::tempdir().unwrap();
    let nf = e.layout().features;
    for p in [Precision::F32, Precision::F16] {
        let d = dir.path().join(format!("{p:?}"));
        let info = Shard::write(&d, &ex, p).unwrap();
        assert_eq!((info.n, info.port, info.features), (ex.len(), 2, nf));
        assert_eq!(info.mirrored, ex.len() / 2);
        let s = Shard::open(&d).unwrap();
        assert_eq!(s.info().source, "0123456789abcdef");
        for i in 0..ex.len() {
            let want = row(&ex.features, i, nf);
            let got = s.features(i);
            match p {
                Precision::F32 => assert_eq!(&got[..], want),
                Precision::F16 => {
                    for (a, b) in want.iter().zip(got.iter()) {
                        assert!((a - b).abs() <= a.abs() / 1024.0 + 1e-7, "{a} vs {b}");
                    }
                }
            }
            assert_eq!(s.ids(i), row(&ex.ids, i, e.layout().ids));
            assert_eq!(s.targets(i), ex.targets[i]);
        }
        assert_eq!(s.frames(), &ex.frame_ids[..]);
        assert_eq!(s.delays(), &ex.delays[..]);
    }
}

#[test]
fn frames_missing_a_player_leave_a_gap_that_nothing_crosses() {
    let mut g = game(PEACH_MARTH);
    // Port 2 has no data on rows 1000..1010: those frames have no state.
    let rows = 1000..1010;
    let gap: Vec<i32> = rows.clone().map(|r| g.frames.id[r]).collect();
    for r in rows {
        g.frames.ports[1].leader[r] = None;
    }
    let (e, coder) = setup("compact");
    let d = 3;
    let ex = game_examples(
        &g,
        &e,
        &coder,
        &ExampleConfig {
            perspective: Perspective::Port(1),
            frame_delay: d,
            ..ExampleConfig::default()
        },
    )
    .unwrap()
    .remove(0);
    let all: Vec<GameState> = states(
        &g,
        Port::from_number(1).unwrap(),
        Port::from_number(2).unwrap(),
    )
    .into_iter()
    .map(|(_, s)| s)
    .collect();
    assert_eq!(all.len(), g.frames.len() - gap.len());
    for (i, &t) in ex.frame_ids.iter().enumerate() {
        assert!(
            !gap.contains(&t) && !gap.contains(&(t - 1 - d as i32)),
            "frame {t}"
        );
        let s = all.iter().find(|s| s.frame == t).unwrap();
        assert_eq!(ex.targets[i], coder.encode(&s.players[0].controller));
    }
    // Every frame whose target and source both exist has its example.
    let have = |id: i32| all.iter().any(|s| s.frame == id);
    let want = all.iter().filter(|s| have(s.frame - 1 - d as i32)).count();
    assert_eq!(ex.len(), want);
    // Windows of the shard break at the gap.
    let dir = tempfile::tempdir().unwrap();
    Shard::write(dir.path().join("s").as_path(), &ex, Precision::F32).unwrap();
    let s = Shard::open(&dir.path().join("s")).unwrap();
    for r in exphil_dataset::unit_starts(&s, Some(8), Some(1)) {
        let f = &s.frames()[r as usize..r as usize + 8];
        assert!(f.windows(2).all(|p| p[1] == p[0] + 1), "{f:?}");
    }
}

/// The learning player's registry id is in the `player_name` id column of every example
/// (originals and augmented copies); a player not in the registry is 0.
#[test]
fn examples_carry_the_learning_players_name_id() {
    let path = replays().join("games").join(PEACH_MARTH);
    let g = game(PEACH_MARTH);
    let info = exphil_corpus::inspect(&path, exphil_corpus::Depth::Metadata).unwrap();
    let keys: Vec<Option<String>> = info.players.iter().map(player_key).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(Option::is_some), "{keys:?}");
    assert_ne!(keys[0], keys[1]);
    // Capacity 2: only port 1's player gets an id (1); port 2's is unknown (0).
    let reg = PlayerRegistry::from_keys(2, [keys[0].clone()]).unwrap();
    let mut names = [0u32; 4];
    for p in &info.players {
        names[p.port as usize - 1] = reg.id_of(p);
    }
    assert_eq!(names, [1, 0, 0, 0]);
    let mut cfg = EmbedConfig::preset("compact").unwrap();
    cfg.player_names = reg.capacity;
    let e = Embedder::new(cfg).unwrap();
    let coder = TargetCoder::new(TargetConfig::default()).unwrap();
    let c = e.layout().component("player_name").unwrap().clone();
    assert_eq!(c.size, 1);
    let ni = e.layout().ids;
    let ex_cfg = ExampleConfig {
        mirror: true,
        noise: Some(NoiseConfig {
            std: 1.0,
            copies: 1,
        }),
        ..ExampleConfig::default()
    };
    let out = game_examples_named(&g, &e, &coder, &ex_cfg, names).unwrap();
    assert_eq!(out.len(), 2);
    for ex in &out {
        let want = names[ex.port as usize - 1];
        assert!(!ex.is_empty());
        for i in 0..ex.len() {
            assert_eq!(
                row(&ex.ids, i, ni)[c.offset],
                want,
                "port {} row {i}",
                ex.port
            );
        }
    }
    // Without names (game_examples), everyone is unknown.
    for ex in game_examples(&g, &e, &coder, &ex_cfg).unwrap() {
        assert!((0..ex.len()).all(|i| row(&ex.ids, i, ni)[c.offset] == 0));
    }
}

/// Noisy copies: deterministic, `copies` blocks after the originals, features that differ only
/// in position and speed components (and those computed from positions), identical targets.
#[test]
fn noisy_copies_are_seeded_and_touch_only_positions_and_speeds() {
    let g = game(PEACH_MARTH);
    let (e, coder) = setup("compact");
    let nf = e.layout().features;
    let cfg = ExampleConfig {
        perspective: Perspective::Port(1),
        frame_delay: 2,
        noise: Some(NoiseConfig {
            std: 2.0,
            copies: 3,
        }),
        seed: 11,
        ..ExampleConfig::default()
    };
    let a = game_examples(&g, &e, &coder, &cfg).unwrap().remove(0);
    let b = game_examples(&g, &e, &coder, &cfg).unwrap().remove(0);
    assert_eq!(a, b, "same config, same noise");
    let other = game_examples(
        &g,
        &e,
        &coder,
        &ExampleConfig {
            seed: 12,
            ..cfg.clone()
        },
    )
    .unwrap()
    .remove(0);
    assert_ne!(a.features, other.features, "another seed, other noise");
    let plain = game_examples(
        &g,
        &e,
        &coder,
        &ExampleConfig {
            noise: None,
            ..cfg.clone()
        },
    )
    .unwrap()
    .remove(0);
    let n = plain.len();
    assert!(
        !a.anomalies.keys().any(|k| k.contains("noisy")),
        "{:?}",
        a.anomalies
    );
    assert_eq!(a.len(), 4 * n);
    assert_eq!(a.noisy(), 3 * n);
    assert_eq!(a.mirrored(), 0);
    assert_eq!(a.features[..n * nf], plain.features[..]);
    let changeable: Vec<std::ops::Range<usize>> = e
        .layout()
        .components
        .iter()
        .filter(|c| {
            c.name.ends_with(".position")
                || c.name.ends_with(".speeds")
                || c.name.ends_with(".ledge_distance")
                || c.name == "spatial"
        })
        .map(|c| c.offset..c.offset + c.size)
        .collect();
    assert!(!changeable.is_empty());
    let mut differ = 0;
    for c in 0..3u8 {
        let base = (1 + c as usize) * n;
        assert!(a.variant[base..base + n]
            .iter()
            .all(|&v| v == VARIANT_NOISY_FIRST + c));
        assert_eq!(a.targets[base..base + n], plain.targets[..]);
        assert_eq!(a.frame_ids[base..base + n], plain.frame_ids[..]);
        assert_eq!(a.delays[base..base + n], plain.delays[..]);
        assert_eq!(
            a.ids[base * e.layout().ids..(base + n) * e.layout().ids],
            plain.ids[..]
        );
        for i in 0..n {
            let (x, y) = (row(&a.features, base + i, nf), row(&plain.features, i, nf));
            for j in 0..nf {
                if x[j] != y[j] {
                    assert!(
                        changeable.iter().any(|r| r.contains(&j)),
                        "feature {j} changed in copy {c}, row {i}"
                    );
                    differ += 1;
                }
            }
        }
    }
    assert!(differ > n, "noise changed only {differ} values");
}

/// Play's view equals training's: a real game streamed frame by frame through UMI v1 frame bytes
/// into `LiveGame` gives, for every example, exactly the features and ids `game_examples` built
/// (both perspectives, delays 0 and 18, both embedding presets).
#[test]
fn live_frames_through_umi_bytes_embed_as_training_did() {
    let g = game(PEACH_MARTH);
    for preset in ["compact", "full"] {
        let (embedder, coder) = setup(preset);
        let (nf, ni) = (embedder.layout().features, embedder.layout().ids);
        for delay in [0u8, 18] {
            let cfg = ExampleConfig {
                frame_delay: delay,
                ..ExampleConfig::default()
            };
            let per_port = game_examples(&g, &embedder, &coder, &cfg).unwrap();
            assert_eq!(per_port.len(), 2);
            for ex in &per_port {
                let me = Port::from_number(ex.port).unwrap();
                let opp = g
                    .start
                    .players
                    .iter()
                    .map(|p| p.port)
                    .find(|p| *p != me)
                    .unwrap();
                let mut live = exphil_dataset::LiveGame::new();
                let mut by_frame = std::collections::BTreeMap::new();
                let (mut f, mut ids) = (vec![0f32; nf], vec![0u32; ni]);
                for (_, s) in states(&g, me, opp) {
                    let wire = GameState::from_umi(&s.to_umi()).unwrap();
                    if live
                        .embed(&embedder, &wire, delay, 0, &mut f, &mut ids)
                        .is_ok()
                    {
                        by_frame.insert(s.frame, (f.clone(), ids.clone()));
                    }
                }
                assert!(ex.len() > 1000);
                for i in 0..ex.len() {
                    let src = ex.frame_ids[i] - 1 - i32::from(delay);
                    let (lf, li) = by_frame.get(&src).unwrap_or_else(|| panic!("frame {src}"));
                    assert_eq!(
                        &ex.features[i * nf..(i + 1) * nf],
                        &lf[..],
                        "{preset} d{delay} port {} frame {src}",
                        ex.port
                    );
                    assert_eq!(
                        &ex.ids[i * ni..(i + 1) * ni],
                        &li[..],
                        "{preset} d{delay} port {} frame {src}",
                        ex.port
                    );
                }
            }
        }
    }
}

/// The examples of `ex` whose decision frame (`target − 1 − delay`) is at most `t`, as
/// comparable rows: (frame, delay, variant, features, ids).
#[allow(clippy::type_complexity)]
fn decided_by(
    ex: &GameExamples,
    t: i32,
    nf: usize,
    ni: usize,
) -> Vec<(i32, u8, u8, Vec<f32>, Vec<u32>)> {
    (0..ex.len())
        .filter(|&i| ex.frame_ids[i] - 1 - i32::from(ex.delays[i]) <= t)
        .map(|i| {
            (
                ex.frame_ids[i],
                ex.delays[i],
                ex.variant[i],
                row(&ex.features, i, nf).to_vec(),
                row(&ex.ids, i, ni).to_vec(),
            )
        })
        .collect()
}

#[test]
fn no_feature_changes_when_every_frame_after_the_decision_frame_changes() {
    // A game with items (the full embedding reads them) and a plain one.
    for name in [PEACH_MARTH, MARTH_DITTO] {
        let path = replays().join("games").join(name);
        let bytes = std::fs::read(&path).unwrap();
        let g = exphil_replay::read(&bytes, DecodeOptions::default()).unwrap();
        let last = *g.frames.id.last().unwrap();
        let (e, coder) = setup("full");
        let (nf, ni) = (e.layout().features, e.layout().ids);
        let configs = [
            ExampleConfig {
                perspective: Perspective::Dual,
                frame_delay: 0,
                ..ExampleConfig::default()
            },
            ExampleConfig {
                perspective: Perspective::Dual,
                frame_delay: 4,
                mirror: true,
                ..ExampleConfig::default()
            },
            ExampleConfig {
                perspective: Perspective::Dual,
                delay_augment: Some((0, 8)),
                noise: Some(NoiseConfig {
                    std: 0.5,
                    copies: 1,
                }),
                seed: 3,
                ..ExampleConfig::default()
            },
        ];
        for (k, t) in [-60, 0, last / 2, last - 12].into_iter().enumerate() {
            let (changed_bytes, changed) =
                exphil_testdata::perturb_frames_after(&bytes, t, 17 + k as u64);
            assert!(changed > 0, "{name}: nothing after frame {t} to perturb");
            let pg = exphil_replay::read(&changed_bytes, DecodeOptions::default()).unwrap();
            assert_eq!(
                pg.frames.id, g.frames.id,
                "{name}: the later frames still exist"
            );
            for cfg in &configs {
                let a = game_examples(&g, &e, &coder, cfg).unwrap();
                let b = game_examples(&pg, &e, &coder, cfg).unwrap();
                assert_eq!(a.len(), b.len());
                let mut later_differs = false;
                for (a, b) in a.iter().zip(&b) {
                    let (da, db) = (decided_by(a, t, nf, ni), decided_by(b, t, nf, ni));
                    assert!(!da.is_empty() || t < 0, "{name}: no example decided by {t}");
                    assert_eq!(da.len(), db.len(), "{name} port {:?} t {t}", a.port);
                    for (x, y) in da.iter().zip(&db) {
                        assert_eq!(x, y, "{name} port {:?}: the example of frame {} (delay {}, variant {}) changed when frames after {t} did", a.port, x.0, x.1, x.2);
                    }
                    // The perturbation does reach the examples decided after t: the check above
                    // could fail.
                    let rest = |ex: &GameExamples| {
                        (0..ex.len())
                            .filter(|&i| ex.frame_ids[i] - 1 - i32::from(ex.delays[i]) > t)
                            .map(|i| row(&ex.features, i, nf).to_vec())
                            .collect::<Vec<_>>()
                    };
                    later_differs |= rest(a) != rest(b);
                }
                assert!(
                    later_differs,
                    "{name}: perturbing after {t} changed nothing at all"
                );
            }
        }
    }
}
