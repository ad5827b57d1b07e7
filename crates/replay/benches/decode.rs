//! Single-thread decode throughput of exphil against peppi 2.1.2 per Slippi version class
//! (0.x-1.x, 2.x, 3.0-3.11, 3.12+) and over everything.
//!
//! `cargo bench -p exphil-replay --bench decode`. Reads every file of `games/` and `edge/` under
//! the replay folder (`$EXPHIL_REPLAYS`, else `../shared/replays` beside the workspace) into
//! memory once; keeps those both decoders read whole (no exphil warning, no peppi error: the
//! others are listed as left out), then decodes each class with each decoder for several rounds
//! (`$EXPHIL_BENCH_ROUNDS`, default 9), alternating which one goes first. It reports MB/s and
//! frames/s of the best round and the speed ratio of the best and of the median rounds. Frames
//! per second count exphil's frame rows (one per frame id) for both decoders.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use exphil_replay::{DecodeOptions, RollbackMode};

fn replays_dir() -> PathBuf {
    std::env::var_os("EXPHIL_REPLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/replays")
        })
}

/// Every `.slp` file of the shared folder's `games/` and `edge/`, by name.
fn load_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in ["games", "edge"] {
        let dir = replays_dir().join(sub);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}); set EXPHIL_REPLAYS to the shared replay folder",
                dir.display()
            )
        });
        for p in entries.filter_map(Result::ok).map(|e| e.path()) {
            if p.extension().is_some_and(|x| x == "slp") {
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
                files.push((name, bytes));
            }
        }
    }
    files.sort();
    assert!(
        !files.is_empty(),
        "no .slp files under {}",
        replays_dir().display()
    );
    files
}

const OPTS: DecodeOptions = DecodeOptions {
    rollback: RollbackMode::Last,
};

fn round_exphil(files: &[(String, Vec<u8>)]) -> Duration {
    let t = Instant::now();
    for (name, bytes) in files {
        let game = exphil_replay::read(black_box(bytes), OPTS)
            .unwrap_or_else(|e| panic!("exphil: {name}: {e}"));
        black_box(&game);
    }
    t.elapsed()
}

fn round_peppi(files: &[(String, Vec<u8>)]) -> Duration {
    let t = Instant::now();
    for (name, bytes) in files {
        let game = peppi::io::slippi::read(Cursor::new(black_box(bytes.as_slice())), None)
            .unwrap_or_else(|e| panic!("peppi: {name}: {e}"));
        black_box(&game);
    }
    t.elapsed()
}

struct Stats {
    best: Duration,
    median: Duration,
}

fn stats(mut rounds: Vec<Duration>) -> Stats {
    rounds.sort();
    Stats {
        best: rounds[0],
        median: rounds[rounds.len() / 2],
    }
}

/// Files by name, with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// A Slippi version class: old recordings behave differently (no bookends, shorter payloads).
fn class_of(v: exphil_replay::Version) -> &'static str {
    match (v.0, v.1) {
        (0 | 1, _) => "0.x-1.x",
        (2, _) => "2.x",
        (3, 0..=11) => "3.0-3.11",
        _ => "3.12+",
    }
}

/// The order classes are reported in.
const CLASSES: [&str; 4] = ["0.x-1.x", "2.x", "3.0-3.11", "3.12+"];

/// Alternating rounds of both decoders over `files`: exphil's and peppi's statistics.
fn race(files: &[(String, Vec<u8>)], rounds: usize) -> (Stats, Stats) {
    let mut ours = Vec::with_capacity(rounds);
    let mut theirs = Vec::with_capacity(rounds);
    for r in 0..rounds {
        if r % 2 == 0 {
            ours.push(round_exphil(files));
            theirs.push(round_peppi(files));
        } else {
            theirs.push(round_peppi(files));
            ours.push(round_exphil(files));
        }
    }
    (stats(ours), stats(theirs))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported, so ignore arguments.
    let rounds: usize = std::env::var("EXPHIL_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(9);
    // Every shared replay both decoders read whole (warm-up: also counts frames), by class.
    let mut by_class: BTreeMap<&str, (Files, usize)> = BTreeMap::new();
    let mut left_out = Vec::new();
    // peppi panics on some files (10-Man, Home-Run Contest): quietly, those are left out.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (name, bytes) in load_files() {
        let ours = exphil_replay::read(&bytes, OPTS);
        let theirs = std::panic::catch_unwind(|| {
            peppi::io::slippi::read(Cursor::new(bytes.as_slice()), None)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|_| Err("panicked".to_string()));
        match (ours, theirs) {
            (Ok(g), Ok(_)) if g.warnings.is_empty() => {
                let e = by_class.entry(class_of(g.start.version)).or_default();
                e.1 += g.frames.len();
                e.0.push((name, bytes));
            }
            (Ok(g), Ok(_)) => left_out.push(format!("{name} (exphil: {})", g.warnings[0])),
            (Err(e), _) => left_out.push(format!("{name} (exphil: {e})")),
            (_, Err(e)) => left_out.push(format!("{name} (peppi: {e})")),
        }
    }
    std::panic::set_hook(hook);
    let all: Files = by_class.values().flat_map(|c| c.0.clone()).collect();
    let all_frames: usize = by_class.values().map(|c| c.1).sum();
    println!(
        "decode, one thread, exphil against peppi 2.1.2, {rounds} alternating rounds (best, median)"
    );
    println!(
        "{:<10} {:>5} {:>8} {:>9}  {:>10} {:>10}  {:>12} {:>12}  {:>13}",
        "class",
        "files",
        "MB",
        "frames",
        "exphil MB/s",
        "peppi MB/s",
        "exphil fr/s",
        "peppi fr/s",
        "ratio"
    );
    let mut rows: Vec<(&str, &Files, usize)> = CLASSES
        .iter()
        .filter_map(|c| by_class.get(c).map(|(f, n)| (*c, f, *n)))
        .collect();
    rows.push(("all", &all, all_frames));
    for (class, files, frames) in rows {
        let (ours, theirs) = race(files, rounds);
        let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
        let mb = bytes as f64 / 1e6;
        let (o, t) = (ours.best.as_secs_f64(), theirs.best.as_secs_f64());
        println!(
            "{class:<10} {:>5} {mb:>8.1} {frames:>9}  {:>10.1} {:>10.1}  {:>12.0} {:>12.0}  {:>5.2}x {:>5.2}x",
            files.len(),
            mb / o,
            mb / t,
            frames as f64 / o,
            frames as f64 / t,
            t / o,
            theirs.median.as_secs_f64() / ours.median.as_secs_f64(),
        );
    }
    for f in &left_out {
        println!("left out: {f}");
    }
}
