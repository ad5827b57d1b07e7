//! The archive path at CI size: simulated games saved as replays, `dataset build` into the
//! compressed store, and `train --stream` over it, whose memory must not grow with the number of
//! games (the README's scale run takes the same path with 20,000 games).

mod common;

use common::{isolated, s, text};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Runs `cmd` to its end, sampling its peak resident memory (`VmHWM`, Linux) as it runs.
fn peak_rss(cmd: &mut std::process::Command) -> (std::process::Output, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Ok(text) = std::fs::read_to_string(&status) {
                let kb = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                if let Some(kb) = kb {
                    peak.fetch_max(kb * 1024, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    watcher.join().unwrap();
    (out, peak.load(std::sync::atomic::Ordering::Relaxed))
}

fn info(root: &Path, ds: &Path) -> Value {
    let o = isolated(root)
        .args(["dataset", "info", s(ds), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn simulated_games_build_a_compact_store_and_stream_training_stays_bounded() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("archive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let all = root.join("replays-240");
    let o = isolated(&root)
        .args(["sim", "play", "--games", "240", "--save-slp", s(&all)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // A sixth of them, for the memory comparison.
    let few = root.join("replays-40");
    std::fs::create_dir_all(&few).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 240);
    for f in files.iter().take(40) {
        std::fs::copy(f, few.join(f.file_name().unwrap())).unwrap();
    }
    let mut peaks = Vec::new();
    for (replays, games) in [(&few, 40), (&all, 240)] {
        let ds = root.join(format!("ds-{games}"));
        let o = isolated(&root)
            .args(["dataset", "build", "--replays", s(replays), "--out", s(&ds)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let v = info(&root, &ds);
        assert_eq!(v["games"], games, "{v}");
        let ratio = v["shard_bytes"].as_f64().unwrap() / v["slp_bytes"].as_f64().unwrap();
        assert!(ratio <= 0.25, "the store is {ratio:.3}x the replays: {v}");
        let (o, peak) = peak_rss(
            isolated(&root)
                .current_dir(&root)
                .args([
                    "train",
                    "--preset",
                    "quick",
                    "--dataset",
                    s(&ds),
                    "--stream",
                ])
                .args([
                    "--epochs",
                    "1",
                    "--max-batches",
                    "300",
                    "--checkpoints",
                    "ck",
                ])
                .args(["--name", &format!("stream-{games}"), "--quiet"]),
        );
        assert!(o.status.success(), "{}", text(&o));
        peaks.push(peak);
    }
    // Six times the games: the streaming trainer's peak barely moves (its loader keeps a
    // bounded number of games decompressed; the plan grows by 8 bytes per example).
    let (small, large) = (peaks[0] as f64, peaks[1] as f64);
    eprintln!(
        "peak RSS of train --stream: {:.0} MB (40 games), {:.0} MB (240 games)",
        small / 1e6,
        large / 1e6
    );
    assert!(
        large <= small * 1.25 + 48e6,
        "peak RSS {:.0} MB with 240 games against {:.0} MB with 40",
        large / 1e6,
        small / 1e6
    );
    std::fs::remove_dir_all(&root).unwrap();
}
