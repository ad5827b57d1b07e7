//! End-to-end tests of `exphil replays …`: the real binary on the shared replays, in a
//! temporary directory.

mod common;
use common::{exphil, s};

use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

use exphil_testdata::replays_dir as replays;

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("exphil-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn scan_counts_match_the_manifest() {
    let games = replays().join("games");
    let out = exphil(&["replays", "scan", s(&games), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    let r = &j["report"];
    assert_eq!(r["files"], 37);
    assert_eq!(r["kept"], 37);
    assert_eq!(
        r["total_frames"], 348_475,
        "README of the shared replays gives 348,475"
    );
    assert_eq!(r["stages"].as_object().unwrap().len(), 6);
    assert_eq!(r["characters"].as_object().unwrap().len(), 14);
    // Metadata-only agrees on frame counts for complete games.
    let fast = json_of(&exphil(&[
        "replays",
        "scan",
        s(&games),
        "--json",
        "--metadata-only",
    ]));
    assert_eq!(fast["report"]["total_frames"], 348_475);
    // One thread gives the same report as two.
    let one = json_of(&exphil(&[
        "replays",
        "scan",
        s(&games),
        "--json",
        "--threads",
        "1",
    ]));
    assert_eq!(one["report"], j["report"]);
}

#[test]
fn scan_of_edge_cases_reports_failures_and_exits_nonzero() {
    let edge = replays().join("edge");
    let out = exphil(&["replays", "scan", s(&edge)]);
    assert_eq!(out.status.code(), Some(1), "failures give a non-zero exit");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Scanned 30 files"), "{text}");
    for bad in [
        "corrupt_game_1",
        "corrupt_game_2",
        "corrupt_game_3",
        "slippilab__doubles",
    ] {
        assert!(text.contains(bad), "{bad} missing from:\n{text}");
    }
    assert!(text.contains("not a Slippi replay: a PNG image"), "{text}");
}

#[test]
fn filters_select_and_dedupe() {
    let games = replays().join("games");
    let kept = |extra: &[&str]| {
        let mut args = vec!["replays", "scan", s(&games), "--json"];
        args.extend_from_slice(extra);
        let out = exphil(&args);
        assert!(
            out.status.success(),
            "{:?}: {}",
            extra,
            String::from_utf8_lossy(&out.stderr)
        );
        json_of(&out)["report"]["kept"].as_u64().unwrap()
    };
    let fd = kept(&["--stages", "fd"]);
    let fd_named = kept(&["--stages", "Final Destination"]);
    assert_eq!(fd, fd_named);
    assert!(fd > 0 && fd < 37);
    let fd_bf = kept(&["--stages", "fd,bf"]);
    assert!(fd_bf > fd);
    let falco = kept(&["--characters", "falco"]);
    assert!(falco > 0 && falco < 37);
    assert_eq!(kept(&["--one-v-one", "--human-only"]), 37);
    assert!(kept(&["--min-frames", "10000"]) < 37);
    assert!(kept(&["--min-quality", "90"]) < 37);

    // CPU games and doubles are filtered out of the edge set.
    let edge = replays().join("edge");
    let all = json_of(&exphil(&["replays", "scan", s(&edge), "--json"]));
    let human = json_of(&exphil(&[
        "replays",
        "scan",
        s(&edge),
        "--json",
        "--human-only",
        "--one-v-one",
    ]));
    let cut = all["report"]["kept"].as_u64().unwrap() - human["report"]["kept"].as_u64().unwrap();
    assert!(cut >= 8, "CPU games and doubles removed: {cut}");

    // The same game twice (under two names) is counted once.
    let dir = tempdir("dupes");
    let src = games.join("peppi__v2.0.slp");
    std::fs::copy(&src, dir.join("a.slp")).unwrap();
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::copy(&src, dir.join("nested/b.slp")).unwrap();
    let j = json_of(&exphil(&["replays", "scan", s(&dir), "--json"]));
    assert_eq!(j["report"]["kept"], 1);
    assert_eq!(j["report"]["duplicates"], 1);
    let j = json_of(&exphil(&[
        "replays",
        "scan",
        s(&dir),
        "--json",
        "--keep-duplicates",
    ]));
    assert_eq!(j["report"]["kept"], 2);

    // Unknown names are refused with a clear message.
    let out = exphil(&["replays", "scan", s(&games), "--characters", "waluigi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown character \"waluigi\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_lists_bad_files_and_writes_the_error_log() {
    let dir = tempdir("validate");
    let log = dir.join("errors.tsv");
    let edge = replays().join("edge");
    let out = exphil(&["replays", "validate", s(&edge), "--error-log", s(&log)]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 4, "{text}");
    assert!(lines.iter().all(|l| l.contains(".slp\t")), "{text}");
    assert!(
        text.contains("corrupt_game_2.slp\tnot a Slippi replay"),
        "{text}"
    );
    // A truncated copy of a real game is bad, with the byte offset of the damage.
    let bytes = std::fs::read(replays().join("games/peppi__v2.0.slp")).unwrap();
    std::fs::write(dir.join("cut.slp"), &bytes[..bytes.len() / 2]).unwrap();
    let out = exphil(&["replays", "validate", s(&dir.join("cut.slp"))]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("truncated at byte"), "{text}");
    let games = replays().join("games");
    assert!(exphil(&["replays", "validate", s(&games)]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn show_describes_a_game_and_dumps_frames() {
    let file = replays().join("games/py-slippi__v3.14.0.slp");
    let out = exphil(&["replays", "show", s(&file)]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Dream Land N64",
        "Falco",
        "Sheik",
        "12194 frames",
        "winner",
        "ended by game",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let out = exphil(&[
        "replays",
        "show",
        s(&file),
        "--frames",
        "-123..-100",
        "--port",
        "1",
        "--json",
    ]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 24);
    assert_eq!(lines[0]["frame"], -123);
    for l in &lines {
        let players = l["players"].as_array().unwrap();
        assert_eq!(players.len(), 1);
        assert_eq!(players[0]["port"], 1);
    }
    let out = exphil(&["replays", "show", s(&file), "--port", "4"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `replays scan /dev/zero` read until memory ran out: only regular files are read, each at
/// most `EXPHIL_MAX_REPLAY_MIB` MiB (1 GiB by default), and a refused one is named with why.
#[test]
fn scan_refuses_devices_pipes_and_oversized_files_by_name() {
    let dir = tempdir("nonregular");
    let out = exphil(&["replays", "scan", "/dev/zero"]);
    let t = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("/dev/zero") && t.contains("a device, not a replay file"),
        "{t}"
    );

    #[cfg(unix)]
    {
        let fifo = dir.join("pipe.slp");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Nothing ever writes the pipe: opening it to read would block for ever.
        let out = exphil(&["replays", "scan", s(&fifo)]);
        let t = common::text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(t.contains("pipe.slp") && t.contains("a named pipe"), "{t}");
    }

    // A real game over a 1 MiB limit is refused naming the limit and how to raise it; under
    // the default it scans.
    let games = replays().join("games");
    let big = std::fs::read_dir(&games)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 1 << 20)
        .expect("a shared game over 1 MiB");
    let copy = dir.join("big.slp");
    std::fs::copy(&big, &copy).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exphil"))
        .args(["replays", "scan", s(&copy)])
        .env("EXPHIL_MAX_REPLAY_MIB", "1")
        .output()
        .unwrap();
    let t = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("big.slp")
            && t.contains("larger than 1 MiB")
            && t.contains("EXPHIL_MAX_REPLAY_MIB"),
        "{t}"
    );
    let out = exphil(&["replays", "scan", s(&copy)]);
    assert!(out.status.success(), "{}", common::text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
