//! End-to-end tests of `exphil dataset`: the real binary builds a dataset from real replays in a
//! temporary directory, rebuilds it from the cache, and describes it.

mod common;
use common::{exphil, s};

use exphil_testdata::replays_dir as replays;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

/// The shared complete games, in path order.
fn shared_games() -> Vec<PathBuf> {
    let mut games: Vec<_> = std::fs::read_dir(replays().join("games"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slp"))
        .collect();
    games.sort();
    games
}

/// Three real games and a file that is not a replay, copied into a temporary directory.
fn tempdir_with_games() -> PathBuf {
    let d = std::env::temp_dir().join(format!("exphil-dataset-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("replays")).unwrap();
    for g in shared_games().iter().take(3) {
        std::fs::copy(g, d.join("replays").join(g.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        d.join("replays/broken.slp"),
        b"\x89PNG\r\n\x1a\nnot a replay",
    )
    .unwrap();
    d
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn build_reuse_and_info() {
    let d = tempdir_with_games();
    let out = d.join("ds");
    let replay_dir = d.join("replays");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "dataset",
            "build",
            "--replays",
            s(&replay_dir),
            "--out",
            s(&out),
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        exphil(&args)
    };

    // The broken file is reported, the rest is built, and the exit status says a file failed.
    let o = build(&[]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("broken.slp"), "{stderr}");
    assert!(stdout.contains("3 games in the dataset"), "{stdout}");
    assert!(
        stdout.contains("tables: 3 built, 0 reused; shards: 3 built"),
        "{stdout}"
    );
    assert!(out.join("dataset.json").is_file());

    // Same inputs: nothing is rebuilt.
    let (stdout, _) = text(&build(&[]));
    assert!(
        stdout.contains("tables: 0 built, 3 reused; shards: 0 built, 3 reused"),
        "{stdout}"
    );

    // Another embedding: shards rebuilt, tables kept.
    let (stdout, _) = text(&build(&["--embed-preset", "minimal", "--mirror"]));
    assert!(
        stdout.contains("tables: 0 built, 3 reused; shards: 3 built, 0 reused; 3 stale"),
        "{stdout}"
    );

    // `info` prints the counts and the layout of the embedding the dataset was built with.
    let o = exphil(&["dataset", "info", s(&out)]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("games:    3"), "{stdout}");
    assert!(stdout.contains("Feature layout:"), "{stdout}");
    assert!(stdout.contains("self.percent"), "{stdout}");
    assert!(stdout.contains("of the .slp bytes"), "{stdout}");

    let o = exphil(&["dataset", "info", s(&out), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["games"], 3);
    assert!(v["layout"]["features"].as_u64().unwrap() > 0);
    let examples =
        v["train_examples"].as_u64().unwrap() + v["validation_examples"].as_u64().unwrap();
    assert!(examples > 0);

    // A player registry built from the games, and noisy copies: the registry is written next to
    // dataset.json, the embedding's player_names follows its capacity, and the shards rebuild.
    let o = build(&[
        "--embed-preset",
        "minimal",
        "--num-player-names",
        "8",
        "--noise-std",
        "1.5",
        "--noise-copies",
        "2",
    ]);
    let (stdout, _) = text(&o);
    assert!(stdout.contains("shards: 3 built, 0 reused"), "{stdout}");
    assert!(stdout.contains("player names:"), "{stdout}");
    let reg: Value =
        serde_json::from_slice(&std::fs::read(out.join("players.json")).unwrap()).unwrap();
    assert_eq!(reg["capacity"], 8);
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(m["embed"]["player_names"], 8);
    assert_eq!(m["players"]["file"], "players.json");
    assert_eq!(m["examples"]["noise"]["copies"], 2);
    // Using that registry file gives the same shards.
    let reg_path = d.join("players.json");
    std::fs::copy(out.join("players.json"), &reg_path).unwrap();
    let (stdout, _) = text(&build(&[
        "--embed-preset",
        "minimal",
        "--player-names",
        s(&reg_path),
        "--noise-std",
        "1.5",
        "--noise-copies",
        "2",
    ]));
    assert!(stdout.contains("shards: 0 built, 3 reused"), "{stdout}");
    // An embedding config that sets another player_names is refused.
    let cfg_path = d.join("embed.json");
    std::fs::write(&cfg_path, r#"{"player_names": 4}"#).unwrap();
    let o = build(&["--embed-config", s(&cfg_path), "--num-player-names", "8"]);
    let (_, stderr) = text(&o);
    assert!(!o.status.success());
    assert!(stderr.contains("player_names"), "{stderr}");
    // Invalid noise is refused.
    let o = build(&["--noise-std", "0", "--noise-copies", "1"]);
    assert!(!o.status.success());

    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn info_prints_a_preset_layout() {
    let o = exphil(&["dataset", "info", "--preset", "compact"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("Embedding preset compact"), "{stdout}");
    assert!(stdout.contains("self.percent"), "{stdout}");
    let o = exphil(&["dataset", "info", "--preset", "nope"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown preset"));
}

/// An error names what failed once: a cause already at the end of the message is not printed
/// again ("… dataset.json: No such file or directory (os error 2): No such file or directory
/// (os error 2)" before).
#[test]
fn an_error_prints_each_cause_once() {
    let missing = std::env::temp_dir().join(format!("exphil-no-dataset-{}", std::process::id()));
    let out = exphil(&["dataset", "info", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dataset.json"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// Entries of games already built under `out` (one `entry.json` per game).
fn built_entries(out: &std::path::Path) -> usize {
    std::fs::read_dir(out.join("shards"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("entry.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

/// A build killed outright keeps the games it finished: the next build reuses them and builds
/// the rest. Replays added later are built alone, the others reused.
#[test]
fn a_killed_build_resumes_and_added_replays_build_incrementally() {
    let root = std::env::temp_dir().join(format!("exphil-dataset-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let replays_dir = root.join("replays");
    std::fs::create_dir_all(&replays_dir).unwrap();
    let games = shared_games();
    let (first, later) = games.split_at(games.len() - 4);
    for g in first {
        std::fs::copy(g, replays_dir.join(g.file_name().unwrap())).unwrap();
    }
    let out = root.join("ds");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_exphil"))
            .args([
                "dataset",
                "build",
                "--replays",
                s(&replays_dir),
                "--out",
                s(&out),
            ])
            .args(["--threads", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Killed (SIGKILL) once a few games are done and before the build ends.
    let mut child = start();
    let t = std::time::Instant::now();
    while built_entries(&out) < 3 && t.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = built_entries(&out);
    assert!(done >= 3, "{done} games built before the kill");
    assert!(
        done < first.len() && !out.join("dataset.json").exists(),
        "the build finished before it was killed ({done} of {} games)",
        first.len()
    );
    let o = start().wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    // "shards: B built, R reused": every game finished before the kill is reused.
    let reused: usize = stdout
        .split("shards: ")
        .nth(1)
        .and_then(|x| x.split("built, ").nth(1))
        .and_then(|x| x.split(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(reused >= done, "{done} built before the kill: {stdout}");
    assert!(
        stdout.contains(&format!("{} games in the dataset", first.len())),
        "{stdout}"
    );
    // Replays added: only they are built.
    for g in later {
        std::fs::copy(g, replays_dir.join(g.file_name().unwrap())).unwrap();
    }
    let o = start().wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "shards: {} built, {} reused",
            later.len(),
            first.len()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} games in the dataset", games.len())),
        "{stdout}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
