//! Scan scaling: summarises every shared game (full decode + quality) with 1, 2, … threads and
//! prints files/s, MB/s and the speed-up over one thread measured in the same run.
//!
//! `cargo bench -p exphil-corpus --bench scan` (replays from `$EXPHIL_REPLAYS` or
//! `../shared/replays`).

use exphil_corpus::{inspect_bytes, Depth};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let dir = std::env::var_os("EXPHIL_REPLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/replays")
        })
        .join("games");
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slp"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    files.sort();
    let mb = files.iter().map(|f| f.1.len()).sum::<usize>() as f64 / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts: Vec<usize> = vec![1, 2, 4, 8];
    counts.retain(|&n| n <= cores.max(2));
    println!(
        "scan of {} games ({mb:.1} MB), full decode + summary, {cores} cores",
        files.len()
    );
    let mut base = None;
    for threads in counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let ok = pool.install(|| {
                files
                    .par_iter()
                    .filter(|(p, b)| inspect_bytes(p, b, Depth::Full).is_ok())
                    .count()
            });
            assert_eq!(ok, files.len());
            best = best.min(t.elapsed().as_secs_f64());
        }
        let base_t = *base.get_or_insert(best);
        println!(
            "threads {threads}: {best:.3} s, {:.0} files/s, {:.0} MB/s, speed-up {:.2}x (ideal {threads}x)",
            files.len() as f64 / best,
            mb / best,
            base_t / best
        );
    }
}
