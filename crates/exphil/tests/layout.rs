//! The workspace's crate arrows, read from `cargo metadata`: every crate depends only on crates
//! below it in the data flow (dev-dependencies aside), and the crates along the data flow build
//! without the ML framework.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Each workspace crate's level: a crate may depend on crates of lower levels only.
const LEVELS: &[(&str, u32)] = &[
    ("exphil-io", 0),
    ("exphil-replay", 0),
    ("exphil-testdata", 0),
    ("exphil-corpus", 1),
    ("exphil-state", 1),
    ("exphil-embed", 2),
    ("exphil-umi", 2),
    ("exphil-dolphin", 2),
    ("exphil-sim", 2),
    ("exphil-dataset", 3),
    ("exphil-runs", 3),
    ("exphil-policy", 4),
    ("exphil-train", 5),
    ("exphil-rl", 6),
    ("exphil-serve", 7),
    ("exphil", 8),
];

/// Crates that must not depend on burn, directly or through another workspace crate.
const FRAMEWORK_FREE: &[&str] = &[
    "exphil-io",
    "exphil-replay",
    "exphil-corpus",
    "exphil-state",
    "exphil-embed",
    "exphil-umi",
    "exphil-dolphin",
    "exphil-sim",
    "exphil-dataset",
    "exphil-runs",
];

#[test]
fn crates_depend_only_downwards_and_the_data_flow_is_framework_free() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let level: BTreeMap<&str, u32> = LEVELS.iter().copied().collect();
    // Each workspace crate's normal (and build) dependencies.
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        let normal = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        deps.insert(name, normal);
    }
    let mut wrong = Vec::new();
    for (name, ds) in &deps {
        let Some(&mine) = level.get(name.as_str()) else {
            wrong.push(format!(
                "{name} has no level in LEVELS: place it in the layout"
            ));
            continue;
        };
        for d in ds.iter().filter(|d| deps.contains_key(*d)) {
            let theirs = level.get(d.as_str()).copied().unwrap_or(u32::MAX);
            if theirs >= mine {
                wrong.push(format!(
                    "{name} (level {mine}) depends on {d} (level {theirs}), not below it"
                ));
            }
        }
    }
    // burn through any chain of workspace crates.
    let uses_burn = |start: &str| {
        let mut todo = vec![start.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(c) = todo.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            for d in deps.get(&c).into_iter().flatten() {
                if d == "burn" || d.starts_with("burn-") {
                    return Some(c);
                }
                if deps.contains_key(d) {
                    todo.push(d.clone());
                }
            }
        }
        None
    };
    for c in FRAMEWORK_FREE {
        assert!(deps.contains_key(*c), "{c} is not in the workspace");
        if let Some(via) = uses_burn(c) {
            wrong.push(format!("{c} depends on burn (through {via})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
