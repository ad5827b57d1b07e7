//! Tests of building a dataset from real replays: Parquet frame tables, the cache, the split.

use exphil_dataset::{
    build, read_footer, split_games, table_columns, BuildConfig, BuildError, Compression,
    DatasetManifest, FrameTable, NoiseConfig, PlayerNames, PlayerRegistry, Progress, Shard, Split,
    REGISTRY_FILE,
};
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_replay::{read_file, DecodeOptions};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Every shared game's table: the row count and columns read back, and the tables' total size
/// is at most a tenth of the `.slp` bytes (an issue target).
#[test]
fn tables_of_every_game_are_small_and_read_back() {
    let dir = exphil_testdata::replays_dir().join("games");
    let out = std::env::temp_dir().join(format!("exphil-dataset-tables-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let coder = TargetCoder::new(TargetConfig::default()).unwrap();
    let (mut slp, mut parquet, mut games) = (0u64, 0u64, 0usize);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slp"))
        .collect();
    paths.sort();
    for p in &paths {
        let game = read_file(p, DecodeOptions::default()).unwrap();
        let Ok(table) = FrameTable::of_game(&game, &coder) else {
            continue;
        };
        let dst = out.join(format!("{games}.parquet"));
        parquet += table.write(&dst, &[]).unwrap();
        slp += std::fs::metadata(p).unwrap().len();
        let footer = read_footer(&dst).unwrap();
        assert_eq!(footer.rows as usize, table.rows());
        assert_eq!(footer.columns, table_columns());
        games += 1;
    }
    let ratio = parquet as f64 / slp as f64;
    println!(
        "{games} games: {parquet} Parquet bytes / {slp} .slp bytes = {ratio:.4} (1/{:.1})",
        1.0 / ratio
    );
    std::fs::remove_dir_all(&out).unwrap();
    assert!(games >= 30, "only {games} two-player games");
    assert!(ratio <= 0.1, "tables are {ratio:.3} of the .slp size");
}

/// The training store of every shared game (the default embedding, both perspectives,
/// compressed shards) is at most a quarter of the `.slp` bytes (an issue target), and the
/// uncompressed `.npy` store more than ten times that.
#[test]
fn the_compressed_store_is_at_most_a_quarter_of_the_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let games = exphil_testdata::replays_dir().join("games");
    let mut sizes = Vec::new();
    for compression in [Compression::Zstd, Compression::None] {
        let out = tmp.path().join(format!("{compression:?}"));
        let cfg = BuildConfig {
            compression,
            ..BuildConfig::default()
        };
        build(std::slice::from_ref(&games), &out, &cfg, false, &|_| {}).unwrap();
        let m = DatasetManifest::read(&out).unwrap();
        let slp: u64 = m.games.iter().map(|g| g.slp_bytes).sum();
        let shards: u64 = m
            .games
            .iter()
            .flat_map(|g| &g.shards)
            .map(|s| s.bytes)
            .sum();
        assert!(m.games.len() >= 30, "{} games", m.games.len());
        sizes.push(shards as f64 / slp as f64);
    }
    println!(
        "shards / .slp bytes: zstd {:.3}, npy {:.3}",
        sizes[0], sizes[1]
    );
    assert!(
        sizes[0] <= 0.25,
        "the compressed store is {:.3}x the replays",
        sizes[0]
    );
    assert!(sizes[1] > 10.0 * sizes[0], "{sizes:?}");
}

/// A temporary folder of `n` real games plus a file that is not a replay.
fn replay_folder(n: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let replays = tmp.path().join("replays");
    std::fs::create_dir_all(&replays).unwrap();
    let mut games: Vec<_> = std::fs::read_dir(exphil_testdata::replays_dir().join("games"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slp"))
        .collect();
    games.sort();
    for g in games.iter().take(n) {
        std::fs::copy(g, replays.join(g.file_name().unwrap())).unwrap();
    }
    std::fs::write(replays.join("junk.slp"), b"<html>not a replay</html>").unwrap();
    (tmp, replays)
}

fn config(preset: &str) -> BuildConfig {
    BuildConfig {
        embed: EmbedConfig::preset(preset).unwrap(),
        validation_fraction: 0.5,
        split_seed: 3,
        threads: Some(2),
        ..BuildConfig::default()
    }
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(mtimes(&p));
        } else {
            out.insert(
                p.clone(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            );
        }
    }
    out
}

/// The cache: a second build reuses everything, an embedding change rebuilds the shards but
/// not the tables (and removes the old shards), `no_cache` rebuilds everything; a file that is
/// not a replay is reported and skipped.
#[test]
fn second_build_is_a_no_op_and_config_changes_rebuild_what_they_affect() {
    let (tmp, replays) = replay_folder(4);
    let out = tmp.path().join("ds");
    let none = |_: Progress| {};
    let r1 = build(
        std::slice::from_ref(&replays),
        &out,
        &config("compact"),
        false,
        &none,
    )
    .unwrap();
    assert_eq!(r1.files, 5);
    assert_eq!(r1.games, 4);
    assert_eq!((r1.tables_built, r1.shards_built), (4, 4));
    assert_eq!(r1.failed.len(), 1, "{:?}", r1.failed);
    assert!(r1.failed[0].0.ends_with("junk.slp"));
    let manifest = DatasetManifest::read(&out).unwrap();
    assert_eq!(manifest.games.len(), 4);
    assert!(manifest
        .skipped
        .iter()
        .any(|s| s.failed && s.path.ends_with("junk.slp")));
    assert_eq!(
        manifest.layout,
        *Embedder::new(EmbedConfig::preset("compact").unwrap())
            .unwrap()
            .layout()
    );

    let before = mtimes(&out.join("tables"));
    let shards_before = mtimes(&out.join("shards"));
    let r2 = build(
        std::slice::from_ref(&replays),
        &out,
        &config("compact"),
        false,
        &none,
    )
    .unwrap();
    assert_eq!(r2.rebuilt(), 0, "{r2:?}");
    assert_eq!((r2.tables_reused, r2.shards_reused, r2.removed), (4, 4, 0));
    assert_eq!(mtimes(&out.join("tables")), before);
    assert_eq!(mtimes(&out.join("shards")), shards_before);
    assert_eq!(DatasetManifest::read(&out).unwrap().games, manifest.games);

    let r3 = build(
        std::slice::from_ref(&replays),
        &out,
        &config("minimal"),
        false,
        &none,
    )
    .unwrap();
    assert_eq!((r3.tables_built, r3.tables_reused), (0, 4), "{r3:?}");
    assert_eq!((r3.shards_built, r3.removed), (4, 4), "{r3:?}");
    assert_eq!(mtimes(&out.join("tables")), before);
    assert_eq!(std::fs::read_dir(out.join("shards")).unwrap().count(), 4);

    let r4 = build(&[replays], &out, &config("minimal"), true, &none).unwrap();
    assert_eq!((r4.tables_built, r4.shards_built), (4, 4), "{r4:?}");
}

/// Every game is on one side of the split, its shards hold its own examples, and both sides
/// are non-empty for these games and seed.
#[test]
fn split_is_by_whole_games() {
    let (tmp, replays) = replay_folder(4);
    let out = tmp.path().join("ds");
    build(&[replays], &out, &config("compact"), false, &|_| {}).unwrap();
    let m = DatasetManifest::read(&out).unwrap();
    let mut sides: BTreeMap<String, HashSet<Split>> = BTreeMap::new();
    let keys: Vec<&str> = m.games.iter().map(|g| g.content_hash.as_str()).collect();
    let want = split_games(&keys, 3, 0.5);
    for (g, want) in m.games.iter().zip(want) {
        assert_eq!(g.split, want);
        sides
            .entry(g.content_hash.clone())
            .or_default()
            .insert(g.split);
        for s in &g.shards {
            let shard = Shard::open(&out.join(&s.dir)).unwrap();
            assert_eq!(shard.info().source, g.content_hash);
            assert_eq!(shard.len(), s.examples);
        }
    }
    assert!(sides.values().all(|s| s.len() == 1));
    let all: HashSet<Split> = m.games.iter().map(|g| g.split).collect();
    assert_eq!(
        all.len(),
        2,
        "both sides used: {:?}",
        m.games.iter().map(|g| g.split).collect::<Vec<_>>()
    );
}

/// pyarrow reads every table (columns, row counts, types, order) — run when `EXPHIL_PYTHON`
/// names a Python with pyarrow; on CI (`CI` set) a missing `EXPHIL_PYTHON` is a failure.
#[test]
fn pyarrow_reads_the_tables() {
    let Some(python) = std::env::var_os("EXPHIL_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but EXPHIL_PYTHON is not: .ci/run must provide a Python with pyarrow"
        );
        eprintln!("EXPHIL_PYTHON not set: the pyarrow check did not run");
        return;
    };
    let (tmp, replays) = replay_folder(3);
    let out = tmp.path().join("ds");
    build(
        std::slice::from_ref(&replays),
        &out,
        &config("compact"),
        false,
        &|_| {},
    )
    .unwrap();
    // The same games with `.npy` shards: both stores must read as exphil reads them.
    let out_npy = tmp.path().join("ds-npy");
    let npy = BuildConfig {
        compression: Compression::None,
        ..config("compact")
    };
    build(&[replays], &out_npy, &npy, false, &|_| {}).unwrap();
    let m = DatasetManifest::read(&out).unwrap();
    let tables: Vec<_> = m
        .games
        .iter()
        .map(|g| {
            serde_json::json!({
                "path": out.join(g.table.as_ref().unwrap()),
                "rows": g.table_rows,
                "content_hash": g.content_hash,
            })
        })
        .collect();
    assert_eq!(tables.len(), 3);
    // The feature shards: numpy must read the same values exphil memory-maps.
    let m_npy = DatasetManifest::read(&out_npy).unwrap();
    assert_eq!(m_npy.compression, Compression::None);
    assert_eq!(m.compression, Compression::Zstd);
    let shards: Vec<_> = [(&out, &m), (&out_npy, &m_npy)]
        .into_iter()
        .flat_map(|(root, m)| {
            m.games
                .iter()
                .flat_map(|g| g.shards.iter())
                .map(move |e| root.join(&e.dir))
        })
        .map(|dir| {
            let shard = exphil_dataset::Shard::open(&dir).unwrap();
            let last = shard.len() - 1;
            serde_json::json!({
                "dir": dir,
                "rows": shard.len(),
                "first": shard.features(0).to_vec(),
                "last": shard.features(last).to_vec(),
                "ids_first": shard.ids(0),
                "sum": (0..shard.len())
                    .map(|r| shard.features(r).iter().map(|&x| f64::from(x)).sum::<f64>())
                    .sum::<f64>(),
            })
        })
        .collect();
    assert_eq!(shards.len(), 12, "two perspectives per game, two stores");
    let expect = tmp.path().join("expect.json");
    std::fs::write(
        &expect,
        serde_json::to_vec(&serde_json::json!({
            "columns": table_columns(),
            "tables": tables,
            "shards": shards,
        }))
        .unwrap(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_parquet.py");
    let o = Command::new(python)
        .arg(&script)
        .arg(&expect)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{}", String::from_utf8_lossy(&o.stdout));
}

/// Player names: a registry built from the kept games is written to `players.json` and recorded
/// in `dataset.json`; the embedding must match its capacity; a different registry gives
/// different shard keys; noise copies are counted per shard.
#[test]
fn player_registry_and_noise_are_part_of_the_build() {
    let (tmp, replays) = replay_folder(2);
    let out = tmp.path().join("ds");
    let none = |_: Progress| {};
    let mut cfg = config("minimal");
    cfg.players = PlayerNames::Build(16);
    let err = build(std::slice::from_ref(&replays), &out, &cfg, false, &none).unwrap_err();
    assert!(matches!(err, BuildError::PlayerNames { .. }), "{err}");
    cfg.embed.player_names = 16;
    cfg.examples.noise = Some(NoiseConfig {
        std: 1.0,
        copies: 2,
    });
    build(std::slice::from_ref(&replays), &out, &cfg, false, &none).unwrap();
    let m = DatasetManifest::read(&out).unwrap();
    let reg = PlayerRegistry::read(&out.join(REGISTRY_FILE)).unwrap();
    let entry = m.players.clone().unwrap();
    assert_eq!(entry.hash, reg.hash());
    assert_eq!(entry.capacity, 16);
    assert_eq!(entry.names, reg.names.len());
    for s in m.games.iter().flat_map(|g| &g.shards) {
        assert_eq!(s.noisy, 2 * s.examples / 3, "{s:?}");
    }
    // A different registry (same capacity) rebuilds every shard under new keys.
    let keys: Vec<String> = m.games.iter().map(|g| g.shard_key.clone()).collect();
    let mut other = reg.clone();
    other.names.insert("someone else".into(), 15);
    cfg.players = PlayerNames::Registry(other);
    let r = build(std::slice::from_ref(&replays), &out, &cfg, false, &none).unwrap();
    assert_eq!(r.shards_built, m.games.len());
    let m2 = DatasetManifest::read(&out).unwrap();
    for (g, k) in m2.games.iter().zip(&keys) {
        assert_ne!(&g.shard_key, k);
    }
    // Without a registry the file is removed.
    cfg.players = PlayerNames::Off;
    build(std::slice::from_ref(&replays), &out, &cfg, false, &none).unwrap();
    assert!(!out.join(REGISTRY_FILE).exists());
    assert!(DatasetManifest::read(&out).unwrap().players.is_none());
}
