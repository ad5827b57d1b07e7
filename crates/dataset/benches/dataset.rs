//! Dataset benchmark on the shared real games (`cargo bench -p exphil-dataset --bench dataset`):
//! embedding throughput on one thread (game states, embedding, and both together, from already
//! decoded games), bytes per frame of the `.npy` shards against the `.slp` bytes, and loader
//! throughput (batches of 256 frames and of 256 windows of 30) against a trainer-consumption
//! reference measured in the same run.
//!
//! The reference is deliberately a *lower bound* on a trainer's work per example: one naive f32
//! linear layer (features → 256, forward only, one thread) over each batch. A real trainer does a
//! deep network forward and backward, so the true loader/trainer ratio is at least the printed one.
//! Set `EXPHIL_BENCH_REPEATS` (default 3) for more timing repeats; the best repeat is reported.

use exphil_dataset::{game_examples, ExampleConfig, Loader, LoaderConfig, Precision, Shard};
use exphil_embed::{EmbedConfig, Embedder, FrameContext, TargetCoder, TargetConfig};
use exphil_replay::{read_file, DecodeOptions, Game};
use exphil_state::{states, Controller, GameState};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    // repeats >= 1, so `out` was set.
    (best, out.expect("at least one repeat"))
}

fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are used.
    let repeats: usize = std::env::var("EXPHIL_BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = exphil_testdata::replays_dir().join("games");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("games folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slp"))
        .collect();
    files.sort();
    let mut games: Vec<Game> = Vec::new();
    let mut slp_bytes = 0u64;
    for f in &files {
        match read_file(f, DecodeOptions::default()) {
            Ok(g) if g.start.players.len() == 2 => {
                slp_bytes += std::fs::metadata(f).map_or(0, |m| m.len());
                games.push(g);
            }
            Ok(_) => eprintln!("skip {} (not two players)", f.display()),
            Err(e) => eprintln!("skip {}: {e}", f.display()),
        }
    }
    let frames: usize = games.iter().map(|g| g.frames.len()).sum();
    println!(
        "games: {} two-player of {} files, {frames} frame rows, {slp_bytes} .slp bytes, best of {repeats}",
        games.len(),
        files.len()
    );

    // --- Embedding throughput, one thread -------------------------------------------------
    let coder = TargetCoder::new(TargetConfig::default()).expect("default targets");
    for preset in ["compact", "full"] {
        let e = Embedder::new(EmbedConfig::preset(preset).expect("preset")).expect("embedder");
        let ports = |g: &Game| (g.start.players[0].port, g.start.players[1].port);
        let (t_states, all) = best(repeats, || {
            let mut v: Vec<Vec<GameState>> = Vec::new();
            for g in &games {
                let (a, b) = ports(g);
                v.push(states(g, a, b).into_iter().map(|(_, s)| s).collect());
                v.push(states(g, b, a).into_iter().map(|(_, s)| s).collect());
            }
            v
        });
        let n_states: usize = all.iter().map(Vec::len).sum();
        let mut f = vec![0f32; e.layout().features];
        let mut ids = vec![0u32; e.layout().ids];
        let k = e.config().prev_controllers;
        let (t_embed, bad) = best(repeats, || {
            let mut bad = 0usize;
            let mut prev: Vec<Controller> = Vec::with_capacity(k);
            for game in &all {
                for (i, s) in game.iter().enumerate() {
                    prev.clear();
                    prev.extend((1..=k.min(i)).map(|j| game[i - j].players[0].controller));
                    let ctx = FrameContext {
                        prev_controllers: &prev,
                        delay: 0,
                        player_name: 0,
                    };
                    if e.embed(s, &ctx, &mut f, &mut ids).is_err() {
                        bad += 1;
                    }
                    black_box((&f, &ids));
                }
            }
            bad
        });
        let cfg = ExampleConfig::default();
        let (t_both, n_ex) = best(repeats, || {
            let mut n = 0;
            for g in &games {
                if let Ok(v) = game_examples(g, &e, &coder, &cfg) {
                    n += v.iter().map(|x| x.len()).sum::<usize>();
                    black_box(v);
                }
            }
            n
        });
        println!(
            "embedding [{preset}, {} features, {} ids], 1 thread: states {:.0} frames/s, embed {:.0} frames/s ({bad} anomalies), states+embed+targets (game_examples) {:.0} examples/s; target 1000000 frames/s: embed ratio {:.2}, together ratio {:.2}",
            e.layout().features,
            e.layout().ids,
            per_s(n_states, t_states),
            per_s(n_states, t_embed),
            per_s(n_ex, t_both),
            per_s(n_states, t_embed) / 1e6,
            per_s(n_ex, t_both) / 1e6,
        );
    }

    // --- Shard bytes on disk ---------------------------------------------------------------
    let e = Embedder::new(EmbedConfig::default()).expect("embedder");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut dirs = Vec::new();
    for precision in [Precision::F32, Precision::F16] {
        let mut bytes = 0u64;
        let mut n = 0usize;
        for (gi, g) in games.iter().enumerate() {
            let Ok(v) = game_examples(g, &e, &coder, &ExampleConfig::default()) else {
                continue;
            };
            for mut ex in v {
                ex.source = format!("game{gi}");
                let d = tmp.path().join(format!("{precision:?}-{gi}-p{}", ex.port));
                let info = Shard::write(&d, &ex, precision).expect("write shard");
                bytes += info.bytes;
                n += info.n;
                if precision == Precision::F32 {
                    dirs.push(d);
                }
            }
        }
        println!(
            "shards [compact, {precision:?}, both perspectives]: {n} examples, {bytes} bytes, {:.1} bytes/example = {:.1} bytes per game frame; .slp {:.1} bytes per frame; shards/.slp = {:.2}",
            bytes as f64 / n as f64,
            bytes as f64 / frames as f64,
            slp_bytes as f64 / frames as f64,
            bytes as f64 / slp_bytes as f64
        );
    }

    // --- Trainer-consumption reference --------------------------------------------------------
    let nf = e.layout().features;
    let hidden = 256;
    let weights: Vec<f32> = (0..nf * hidden).map(|i| (i % 7) as f32 * 0.01).collect();
    let batch_in: Vec<f32> = (0..256 * nf).map(|i| (i % 11) as f32 * 0.1).collect();
    let mut out = vec![0f32; 256 * hidden];
    let ref_batches = 200;
    let (t_ref, _) = best(repeats, || {
        for _ in 0..ref_batches {
            for b in 0..256 {
                let x = &batch_in[b * nf..(b + 1) * nf];
                let o = &mut out[b * hidden..(b + 1) * hidden];
                o.fill(0.0);
                for (j, xv) in x.iter().enumerate() {
                    let w = &weights[j * hidden..(j + 1) * hidden];
                    for (oh, wh) in o.iter_mut().zip(w) {
                        *oh += xv * wh;
                    }
                }
            }
            black_box(&out);
        }
    });
    let ref_rate = per_s(ref_batches * 256, t_ref);
    println!(
        "trainer reference (lower bound): one linear layer {nf}->{hidden} forward, 1 thread: {ref_rate:.0} examples/s"
    );

    // --- Loader throughput -----------------------------------------------------------------
    for (label, window, streaming, parallel) in [
        ("frames, 1 assembly thread", None, false, false),
        ("frames", None, false, true),
        ("windows of 30", Some(30), false, true),
        ("frames, streaming 4 shards", None, true, true),
    ] {
        let cfg = LoaderConfig {
            batch_size: 256,
            window,
            streaming,
            parallel,
            max_open_shards: 4,
            prefetch: 4,
            seed: 1,
            ..LoaderConfig::default()
        };
        let loader = Loader::open(&dirs, cfg).expect("loader");
        let (t, (batches, units)) = best(repeats, || {
            let mut nb = 0;
            let mut nu = 0;
            for b in loader.epoch(0) {
                let b = b.expect("batch");
                nb += 1;
                nu += b.len;
                black_box(&b);
            }
            (nb, nu)
        });
        let rows = units * window.unwrap_or(1);
        println!(
            "loader [{label}, batch 256, prefetch 4, {} cores]: {:.0} batches/s, {:.0} units/s, {:.0} frames/s; vs trainer reference (frames/s over reference examples/s): {:.1}x",
            rayon::current_num_threads(),
            per_s(batches, t),
            per_s(units, t),
            per_s(rows, t),
            per_s(rows, t) / ref_rate
        );
    }
}
