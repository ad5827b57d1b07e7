//! Single-thread decode throughput of exphil against peppi 2.1.2 on the shared complete games.
//!
//! `cargo bench -p exphil-replay --bench decode`. Reads every file of `games/` under the replay
//! folder (`$EXPHIL_REPLAYS`, else `../shared/replays` beside the workspace) into memory once,
//! then decodes the whole set with each decoder for several rounds (`$EXPHIL_BENCH_ROUNDS`,
//! default 9), alternating which one goes first, and reports the best and the median round.
//! Frames per second count exphil's frame rows (one per frame id) for both decoders.

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

fn load_games() -> Vec<(String, Vec<u8>)> {
    let dir = replays_dir().join("games");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); set EXPHIL_REPLAYS to the shared replay folder",
            dir.display()
        )
    });
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slp"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slp files in {}", dir.display());
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

fn report(name: &str, s: &Stats, bytes: usize, frames: usize) {
    let mb = bytes as f64 / 1e6;
    for (which, d) in [("best", s.best), ("median", s.median)] {
        let secs = d.as_secs_f64();
        println!(
            "{name:<7} {which:<6} {mb:8.1} MB  {secs:8.4} s  {:8.1} MB/s  {:10.0} frames/s",
            mb / secs,
            frames as f64 / secs
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported, so ignore arguments.
    let files = load_games();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let rounds: usize = std::env::var("EXPHIL_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(9);

    // Warm-up round (also counts frames and checks both decoders accept every file).
    let frames: usize = files
        .iter()
        .map(|(name, b)| {
            exphil_replay::read(b, OPTS)
                .unwrap_or_else(|e| panic!("exphil: {name}: {e}"))
                .frames
                .len()
        })
        .sum();
    round_peppi(&files);

    let mut ours = Vec::with_capacity(rounds);
    let mut theirs = Vec::with_capacity(rounds);
    for r in 0..rounds {
        if r % 2 == 0 {
            ours.push(round_exphil(&files));
            theirs.push(round_peppi(&files));
        } else {
            theirs.push(round_peppi(&files));
            ours.push(round_exphil(&files));
        }
    }
    let (ours, theirs) = (stats(ours), stats(theirs));

    println!(
        "decode, one thread: {} games, {:.1} MB, {frames} frames, {rounds} rounds",
        files.len(),
        bytes as f64 / 1e6
    );
    report("exphil", &ours, bytes, frames);
    report("peppi", &theirs, bytes, frames);
    println!(
        "exphil/peppi speed ratio: best {:.2}x, median {:.2}x",
        theirs.best.as_secs_f64() / ours.best.as_secs_f64(),
        theirs.median.as_secs_f64() / ours.median.as_secs_f64()
    );
}
