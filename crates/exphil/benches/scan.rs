//! Whole-process scan speed, one thread: `exphil replays scan --threads 1 DIR` (which decodes,
//! hashes and scores every file and prints its report) against a small peppi 2.1.2 program
//! that reads every `.slp` under DIR and counts its frames. Each is timed as a process, in
//! alternating runs (`$EXPHIL_BENCH_ROUNDS`, default 5); the best and the median are reported.
//!
//! `cargo bench -p exphil --bench scan`. DIR is `$EXPHIL_REPLAYS`, else `../shared/replays`
//! beside the workspace (its `games/` and `edge/`: every class of Slippi version, and files
//! peppi refuses). The peppi program is this bench binary itself, run with
//! `EXPHIL_PEPPI_SCAN=DIR`.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn replays_dir() -> PathBuf {
    std::env::var_os("EXPHIL_REPLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/replays")
        })
}

/// Every `.slp` file under `dir`, in path order.
fn slp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.filter_map(Result::ok).map(|e| e.path()) {
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "slp") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The peppi program: reads every file, counts frames, and says how many it could not read.
fn peppi_scan(dir: &Path) {
    std::panic::set_hook(Box::new(|_| {}));
    let (mut frames, mut failed, mut files) = (0usize, 0usize, 0usize);
    for path in slp_files(dir) {
        files += 1;
        let Ok(bytes) = std::fs::read(&path) else {
            failed += 1;
            continue;
        };
        let read = std::panic::catch_unwind(|| {
            peppi::io::slippi::read(Cursor::new(bytes.as_slice()), None).map(|g| g.frames.len())
        });
        match read {
            Ok(Ok(n)) => frames += n,
            _ => failed += 1,
        }
    }
    println!("{files} files, {frames} frames, {failed} not read");
}

/// How long `cmd` takes to run to its end (its output discarded).
fn time(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the process");
    let d = t.elapsed();
    // `replays scan` exits 1 when some file is not a replay: it still read them all.
    assert!(status.code().is_some(), "the process was killed: {status}");
    d
}

fn main() {
    if let Some(dir) = std::env::var_os("EXPHIL_PEPPI_SCAN") {
        peppi_scan(Path::new(&dir));
        return;
    }
    let dir = replays_dir();
    let files = slp_files(&dir);
    assert!(!files.is_empty(), "no .slp files under {}", dir.display());
    let bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let rounds: usize = std::env::var("EXPHIL_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(5);
    let exphil = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_exphil"));
        c.args(["replays", "scan", "--threads", "1"]).arg(&dir);
        c
    };
    let peppi = || {
        let mut c = Command::new(std::env::current_exe().expect("this bench's path"));
        c.env("EXPHIL_PEPPI_SCAN", &dir);
        c
    };
    // Warm-up (the page cache), and what the peppi program read.
    time(exphil());
    let out = peppi().output().expect("run the peppi program");
    let peppi_line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r % 2 == 0 {
            ours.push(time(exphil()));
            theirs.push(time(peppi()));
        } else {
            theirs.push(time(peppi()));
            ours.push(time(exphil()));
        }
    }
    ours.sort();
    theirs.sort();
    let (ob, om) = (ours[0].as_secs_f64(), ours[rounds / 2].as_secs_f64());
    let (tb, tm) = (theirs[0].as_secs_f64(), theirs[rounds / 2].as_secs_f64());
    println!(
        "scan, one thread, whole process: {} files, {:.1} MB under {} ({rounds} alternating runs)",
        files.len(),
        bytes as f64 / 1e6,
        dir.display()
    );
    println!("exphil replays scan --threads 1: best {ob:.3} s, median {om:.3} s");
    println!("peppi 2.1.2 ({peppi_line}): best {tb:.3} s, median {tm:.3} s");
    println!(
        "exphil/peppi speed ratio: best {:.2}x, median {:.2}x",
        tb / ob,
        tm / om
    );
}
