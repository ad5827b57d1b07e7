//! Helpers shared by the end-to-end tests of the `exphil` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `exphil` binary with `args`.
pub fn exphil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exphil"))
        .args(args)
        .output()
        .expect("run exphil")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The binary with a private HOME and none of the caller's `EXPHIL_*` or `UMI_SOCKET`
/// variables.
pub fn isolated(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_exphil"));
    c.env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.starts_with("EXPHIL_") || k == "UMI_SOCKET" {
            c.env_remove(k);
        }
    }
    c
}

/// A finished command's stdout and stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Trains a quick-preset run named `name` on the first `max_files` shared games into
/// `<root>/ck` (cache in `<root>/cache`), with `extra` flags; panics with the output on failure.
pub fn train_quick(root: &Path, name: &str, max_files: &str, seed: &str, extra: &[&str]) {
    let games = exphil_testdata::replays_dir().join("games");
    let o = isolated(root)
        .current_dir(root)
        .args(["train", "--preset", "quick", "--replays", s(&games)])
        .args([
            "--max-files",
            max_files,
            "--checkpoints",
            "ck",
            "--cache-dir",
            "cache",
        ])
        .args(["--name", name, "--seed", seed, "--quiet"])
        .args(extra)
        .output()
        .expect("run exphil train");
    assert!(o.status.success(), "{}", text(&o));
}
