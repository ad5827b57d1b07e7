//! The training store against the trainer, on the shared real games: bytes on disk of the
//! compressed (default) and `.npy` shards against the `.slp` bytes, and the loader's rate against
//! what the trainer consumes, for the two CPU recipes, measured in the same run:
//!
//! - the MLP [512, 512] recipe (the default config: frames, batch 64), its loader streaming over
//!   compressed shards (`--stream`, 8 games open);
//! - the sequence-trained LSTM recipe (`--preset strong-cpu`: 64 streams × 32-frame unrolls), its
//!   stream loader over compressed shards.
//!
//! The trainer's rate is `exphil_train::trainer::train` itself for a fixed number of optimiser
//! steps (data loading included, as a run does it); the loader's is a whole epoch drained as fast
//! as it goes, on the same shards and config. Both use every core (2 on the CI machines).
//!
//! `cargo bench -p exphil-train --bench store` (`EXPHIL_BENCH_STEPS`, default 60, sets the
//! trainer's steps).

use exphil_dataset::{build, Compression, DatasetManifest, Shard};
use exphil_runs::config::TrainConfig;
use exphil_runs::presets::{merge, preset};
use exphil_train::data::{build_config, prepare, PreparedData};
use exphil_train::event::Event;
use exphil_train::trainer::{train, RunOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

fn games() -> PathBuf {
    exphil_testdata::replays_dir().join("games")
}

fn recipe(name: &str, cache: &Path) -> TrainConfig {
    let mut v = serde_json::to_value(TrainConfig::default()).expect("config as JSON");
    if name != "default" {
        merge(&mut v, &preset(name).expect("preset").overlay);
    }
    let mut cfg: TrainConfig = serde_json::from_value(v).expect("config from JSON");
    cfg.data.replays = vec![games().display().to_string()];
    cfg.data.cache_dir = Some(cache.display().to_string());
    cfg.data.stream = true;
    cfg.train.seed = Some(1);
    cfg
}

/// Rows a whole epoch of the loader yields per second.
fn loader_rate(cfg: &TrainConfig, data: &PreparedData) -> (f64, u64) {
    let t = Instant::now();
    let mut rows = 0u64;
    if cfg.policy.backbone.window().is_some() && cfg.train.sequence.enabled {
        for b in data.train_streams(cfg, 1).expect("streams").epoch(0) {
            let b = b.expect("stream batch");
            rows += b.valid.iter().filter(|&&v| v).count() as u64;
        }
    } else {
        for b in data.train_loader(cfg, 1).expect("loader").epoch(0) {
            let b = b.expect("batch");
            rows += (b.len * cfg.policy.backbone.window().unwrap_or(1)) as u64;
        }
    }
    (rows as f64 / t.elapsed().as_secs_f64(), rows)
}

/// Scored rows per second over `steps` optimiser steps of the real training loop.
fn trainer_rate(cfg: &TrainConfig, data: &PreparedData, steps: usize, dir: &Path) -> f64 {
    let mut cfg = cfg.clone();
    cfg.train.max_batches = Some(steps);
    cfg.train.log_interval = 10;
    let opts = RunOptions {
        run_dir: dir.to_path_buf(),
        resume: None,
        stop: Arc::new(AtomicBool::new(false)),
        faults: Default::default(),
        init: None,
    };
    std::fs::create_dir_all(dir).expect("run dir");
    // The loop's own figure: scored frames per second since the epoch started, as its
    // progress line prints it.
    let mut rate = 0.0;
    train(&cfg, data, &opts, &mut |e| {
        if let Event::Progress { scored_per_sec, .. } = e {
            rate = scored_per_sec;
        }
    })
    .expect("training");
    rate
}

fn main() {
    let steps: usize = std::env::var("EXPHIL_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let tmp = tempfile::tempdir().expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // --- Bytes on disk ---------------------------------------------------------------------
    let files: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(games())
            .expect("games folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "slp"))
            .collect();
        v.sort();
        v
    };
    let base = recipe("default", tmp.path());
    for (compression, precision) in [
        (Compression::Zstd, exphil_dataset::Precision::F32),
        (Compression::Zstd, exphil_dataset::Precision::F16),
        (Compression::None, exphil_dataset::Precision::F32),
    ] {
        let mut bc = build_config(&base.data, 1).expect("build config");
        bc.compression = compression;
        bc.precision = precision;
        let out = tmp.path().join(format!("ds-{compression:?}-{precision:?}"));
        let t = Instant::now();
        build(&files, &out, &bc, false, &|_| {}).expect("dataset build");
        let secs = t.elapsed().as_secs_f64();
        let m = DatasetManifest::read(&out).expect("manifest");
        let slp: u64 = m.games.iter().map(|g| g.slp_bytes).sum();
        let shards: u64 = m
            .games
            .iter()
            .flat_map(|g| g.shards.iter())
            .map(|s| s.bytes)
            .sum();
        let tables: u64 = m.games.iter().map(|g| g.table_bytes).sum();
        // Opening every shard once (decompressing it, or mapping it and touching every byte).
        let dirs: Vec<PathBuf> = m
            .games
            .iter()
            .flat_map(|g| g.shards.iter())
            .map(|s| out.join(&s.dir))
            .collect();
        let t = Instant::now();
        let (mut rows, mut open_bytes, mut sum) = (0usize, 0u64, 0f64);
        for d in &dirs {
            let sh = Shard::open(d).expect("shard");
            rows += sh.len();
            open_bytes += sh.info().open_bytes();
            let mut row = vec![0f32; sh.feature_width()];
            for r in (0..sh.len()).step_by(97) {
                sh.features_into(r, &mut row);
                sum += f64::from(row[0]);
            }
        }
        std::hint::black_box(sum);
        let open_s = t.elapsed().as_secs_f64();
        println!(
            "store [{compression:?}, {precision:?}, default embedding, both perspectives, {} games]: shards {:.1} MB = {:.3}x the .slp bytes ({:.1} MB); with the Parquet tables {:.3}x; build {secs:.1} s on {cores} cores; opening every shard: {:.0} rows/s ({:.0} MB/s of arrays), one thread",
            m.games.len(),
            shards as f64 / 1e6,
            shards as f64 / slp as f64,
            slp as f64 / 1e6,
            (shards + tables) as f64 / slp as f64,
            rows as f64 / open_s,
            open_bytes as f64 / 1e6 / open_s,
        );
    }

    // --- Loader against trainer --------------------------------------------------------------
    for (label, name) in [
        ("MLP [512, 512], frames, batch 64", "default"),
        (
            "LSTM strong-cpu, 64 streams x 32-frame unrolls",
            "strong-cpu",
        ),
    ] {
        let cfg = recipe(name, tmp.path());
        let data = prepare(&cfg, 1, &|_| {}).expect("prepared data");
        let (loader, rows) = loader_rate(&cfg, &data);
        let trainer = trainer_rate(&cfg, &data, steps, &tmp.path().join(format!("run-{name}")));
        println!(
            "{label}: loader {loader:.0} rows/s over one epoch ({rows} rows, compressed shards, streaming); trainer {trainer:.0} scored rows/s ({steps} steps); loader/trainer = {:.1}x (target >= 10x)",
            loader / trainer
        );
    }
}
