//! The loader on shards built from real replays: every unit exactly once per epoch, the same order
//! for the same seed, windows that never cross a game or a seam, the whole-game split, streaming,
//! and a prefetch thread that stops when the epoch is dropped.

use exphil_dataset::{
    game_examples, split_games, unit_starts, Batch, ExampleConfig, Loader, LoaderConfig, Precision,
    Shard, Split,
};
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_replay::{read_file, DecodeOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn replays() -> PathBuf {
    exphil_testdata::replays_dir()
}

const GAMES: [&str; 3] = [
    "py-slippi__COWS_797_Pikachu_vs_NUT_356_Falco_on_DL_-_12-22-22_12.34am.slp",
    "slippi-js__test.slp",
    "py-slippi__ACID_441_Peach_vs_NUT_356_Marth_on_FD_-_12-15-22_01.42am.slp",
];

/// Shards of both perspectives of three games (the third with mirrored copies, in f16).
fn dataset() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let e = Embedder::new(EmbedConfig::preset("minimal").unwrap()).unwrap();
    let coder = TargetCoder::new(TargetConfig::default()).unwrap();
    let mut dirs = Vec::new();
    for (gi, name) in GAMES.iter().enumerate() {
        let g = read_file(
            &replays().join("games").join(name),
            DecodeOptions::default(),
        )
        .unwrap();
        let cfg = ExampleConfig {
            frame_delay: 3,
            mirror: gi == 2,
            ..ExampleConfig::default()
        };
        for mut ex in game_examples(&g, &e, &coder, &cfg).unwrap() {
            ex.source = format!("game{gi}");
            let d = dir.path().join(format!("g{gi}-p{}", ex.port));
            let precision = if gi == 2 {
                Precision::F16
            } else {
                Precision::F32
            };
            Shard::write(&d, &ex, precision).unwrap();
            dirs.push(d);
        }
    }
    (dir, dirs)
}

fn collect(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(Result::unwrap).collect()
}

/// (game, frames of the unit) of every unit in an epoch, in order.
fn units(batches: &[Batch]) -> Vec<(u32, Vec<i32>)> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.len {
            out.push((
                b.game[i],
                b.frame[i * b.window..(i + 1) * b.window].to_vec(),
            ));
        }
    }
    out
}

#[test]
fn frames_every_example_exactly_once_and_deterministic() {
    let (_tmp, dirs) = dataset();
    let cfg = LoaderConfig {
        batch_size: 256,
        seed: 11,
        ..LoaderConfig::default()
    };
    let loader = Loader::open(&dirs, cfg.clone()).unwrap();
    let shards: Vec<Shard> = dirs.iter().map(|d| Shard::open(d).unwrap()).collect();
    let total: usize = shards.iter().map(Shard::len).sum();
    assert_eq!(loader.len(), total);
    let a = collect(&loader, 0);
    assert_eq!(a.len(), loader.batches_per_epoch());
    assert!(a[..a.len() - 1].iter().all(|b| b.len == 256));
    // Every (game, frame) exactly as often as the shard holds it.
    let mut seen: BTreeMap<(u32, i32), usize> = BTreeMap::new();
    for (g, f) in units(&a) {
        *seen.entry((g, f[0])).or_default() += 1;
    }
    let mut want: BTreeMap<(u32, i32), usize> = BTreeMap::new();
    for (g, s) in shards.iter().enumerate() {
        for &f in s.frames() {
            *want.entry((g as u32, f)).or_default() += 1;
        }
    }
    assert_eq!(seen, want);
    // Features, ids and targets are the shard's rows.
    let b = &a[0];
    let (nf, ni) = (loader.feature_width(), loader.id_width());
    for i in 0..b.len {
        let s = &shards[b.game[i] as usize];
        let row = s.frames().iter().position(|&f| f == b.frame[i]).unwrap();
        if s.info().mirrored > 0 {
            continue; // two rows share the frame id; checked by the window test
        }
        assert_eq!(&b.features[i * nf..(i + 1) * nf], &s.features(row)[..]);
        assert_eq!(&b.ids[i * ni..(i + 1) * ni], s.ids(row));
        assert_eq!(&b.targets[i * 6..(i + 1) * 6], s.target_columns(row));
    }
    // Same seed and epoch: same batches, with or without the prefetch thread; another epoch or
    // seed: another order.
    assert_eq!(collect(&loader, 0), a);
    let sync = Loader::open(
        &dirs,
        LoaderConfig {
            prefetch: 0,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_eq!(collect(&sync, 0), a);
    let serial = Loader::open(
        &dirs,
        LoaderConfig {
            parallel: false,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_eq!(collect(&serial, 0), a);
    assert_ne!(units(&collect(&loader, 1)), units(&a));
    let other = Loader::open(&dirs, LoaderConfig { seed: 12, ..cfg }).unwrap();
    assert_ne!(units(&collect(&other, 0)), units(&a));
}

#[test]
fn windows_never_cross_games_gaps_or_the_mirror_seam() {
    let (_tmp, dirs) = dataset();
    let shards: Vec<Shard> = dirs.iter().map(|d| Shard::open(d).unwrap()).collect();
    for (window, stride, streaming) in [(30, None, false), (30, Some(7), true), (1, None, false)] {
        let cfg = LoaderConfig {
            batch_size: 64,
            window: Some(window),
            stride,
            streaming,
            max_open_shards: 2,
            seed: 3,
            ..LoaderConfig::default()
        };
        let loader = Loader::open(&dirs, cfg).unwrap();
        let want: usize = shards
            .iter()
            .map(|s| unit_starts(s, Some(window), stride).len())
            .sum();
        assert_eq!(loader.len(), want);
        let batches = collect(&loader, 0);
        let us = units(&batches);
        assert_eq!(us.len(), want);
        let (nf, w) = (loader.feature_width(), window);
        let mut starts: BTreeMap<u32, Vec<i32>> = BTreeMap::new();
        let mut k = 0;
        for b in &batches {
            for i in 0..b.len {
                let (g, frames) = &us[k];
                k += 1;
                assert!(frames.windows(2).all(|p| p[1] == p[0] + 1), "{frames:?}");
                // The window is a run of rows of its own shard: find its start row and compare.
                let s = &shards[*g as usize];
                let rows: Vec<usize> = s
                    .frames()
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| **f == frames[0])
                    .map(|(r, _)| r)
                    .collect();
                let feats = &b.features[i * w * nf..(i + 1) * w * nf];
                let mut buf = vec![0.0; w * nf];
                let found = rows.iter().any(|&r| {
                    r + w <= s.len() && {
                        s.features_range_into(r, w, &mut buf);
                        buf == feats && s.frames()[r..r + w] == frames[..]
                    }
                });
                assert!(
                    found,
                    "window of game {g} at {} is not a run of its rows",
                    frames[0]
                );
                starts.entry(*g).or_default().push(frames[0]);
            }
        }
        // Each shard's windows exactly once.
        for (g, s) in shards.iter().enumerate() {
            let mut got = starts.remove(&(g as u32)).unwrap_or_default();
            let mut expect: Vec<i32> = unit_starts(s, Some(window), stride)
                .iter()
                .map(|&r| s.frames()[r as usize])
                .collect();
            got.sort_unstable();
            expect.sort_unstable();
            assert_eq!(got, expect, "shard {g}");
        }
    }
}

#[test]
fn split_is_by_whole_games_and_streaming_covers_everything() {
    let (_tmp, dirs) = dataset();
    // A split seed that puts the three games on both sides (so the test is not vacuous).
    let split_seed = (0..)
        .find(|&s| {
            let sides = split_games(&["game0", "game1", "game2"], s, 0.5);
            sides.contains(&Split::Train) && sides.contains(&Split::Validation)
        })
        .unwrap();
    let base = LoaderConfig {
        validation_fraction: 0.5,
        split_seed,
        prefetch: 2,
        ..LoaderConfig::default()
    };
    let train = Loader::open(
        &dirs,
        LoaderConfig {
            split: Some(Split::Train),
            ..base.clone()
        },
    )
    .unwrap();
    let val = Loader::open(
        &dirs,
        LoaderConfig {
            split: Some(Split::Validation),
            streaming: true,
            max_open_shards: 1,
            ..base.clone()
        },
    )
    .unwrap();
    let all = Loader::open(&dirs, base).unwrap();
    let t: Vec<&std::path::Path> = train.shards();
    let v: Vec<&std::path::Path> = val.shards();
    assert!(!t.is_empty() && !v.is_empty());
    assert!(t.iter().all(|d| !v.contains(d)), "a shard on both sides");
    assert_eq!(t.len() + v.len(), dirs.len());
    assert_eq!(train.len() + val.len(), all.len());
    // Both perspectives of a game are on the same side.
    for side in [&t, &v] {
        for d in side.iter() {
            let name = d.file_name().unwrap().to_str().unwrap();
            let game = &name[..2];
            let n = dirs
                .iter()
                .filter(|x| x.file_name().unwrap().to_str().unwrap().starts_with(game))
                .count();
            let m = side
                .iter()
                .filter(|x| x.file_name().unwrap().to_str().unwrap().starts_with(game))
                .count();
            assert_eq!(n, m, "{name}");
        }
    }
    // Streaming with one shard open at a time still yields every example once.
    let got: usize = collect(&val, 0).iter().map(|b| b.len).sum();
    assert_eq!(got, val.len());
}

#[test]
fn dropping_an_epoch_stops_the_prefetch_thread() {
    let (_tmp, dirs) = dataset();
    let loader = Loader::open(
        &dirs,
        LoaderConfig {
            batch_size: 8,
            prefetch: 2,
            ..LoaderConfig::default()
        },
    )
    .unwrap();
    for _ in 0..20 {
        let mut e = loader.epoch(0);
        assert!(e.next().unwrap().is_ok());
        drop(e); // joins the producer, which is blocked on a full channel
        drop(loader.epoch(1)); // never read
    }
    // drop_last leaves out the short batch.
    let dl = Loader::open(
        &dirs,
        LoaderConfig {
            batch_size: 1000,
            drop_last: true,
            ..LoaderConfig::default()
        },
    )
    .unwrap();
    let b = collect(&dl, 0);
    assert_eq!(b.len(), dl.len() / 1000);
    assert!(b.iter().all(|b| b.len == 1000));
}

#[test]
fn mismatched_widths_are_an_error_naming_the_shard() {
    let (tmp, mut dirs) = dataset();
    let e = Embedder::new(EmbedConfig::preset("compact").unwrap()).unwrap();
    let coder = TargetCoder::new(TargetConfig::default()).unwrap();
    let g = read_file(
        &replays().join("games").join(GAMES[1]),
        DecodeOptions::default(),
    )
    .unwrap();
    let ex = game_examples(&g, &e, &coder, &ExampleConfig::default())
        .unwrap()
        .remove(0);
    let d = tmp.path().join("compact");
    Shard::write(&d, &ex, Precision::F32).unwrap();
    dirs.push(d);
    let err = Loader::open(&dirs, LoaderConfig::default()).err().unwrap();
    assert!(err.to_string().contains("compact"), "{err}");

    // A split needs every shard's source hash.
    let (_tmp2, dirs2) = dataset();
    let bare = tmp.path().join("bare");
    Shard::write(&bare, &ex, Precision::F32).unwrap();
    assert!(Loader::open(std::slice::from_ref(&bare), LoaderConfig::default()).is_ok());
    let mut with_bare = dirs2.clone();
    with_bare.push(bare);
    let err = Loader::open(
        &with_bare,
        LoaderConfig {
            split: Some(Split::Train),
            ..LoaderConfig::default()
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("no source hash"), "{err}");
}
