//! Test support for every exphil crate: locating the shared real replays (`../shared/replays`
//! beside the checkout, or `$EXPHIL_REPLAYS`) and reading their `MANIFEST.tsv`; and a fake Slippi
//! Dolphin spectator server ([`spectator`]) for the live-play tests. A dev-dependency
//! only; tests that need real replays fail loudly when they are missing, never skip.
#![deny(missing_docs)]

pub mod spectator;

use std::path::PathBuf;

/// The shared replay folder (`$EXPHIL_REPLAYS`, else `../shared/replays` beside the checkout).
/// Panics with instructions when it is missing: these tests must never skip silently.
pub fn replays_dir() -> PathBuf {
    let dir = std::env::var_os("EXPHIL_REPLAYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/replays")
        });
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "real replays not found at {} (set EXPHIL_REPLAYS or put the shared folder beside the checkout)",
        dir.display()
    );
    dir
}

/// One row of `MANIFEST.tsv`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the replay folder (`games/…` or `edge/…`).
    pub file: String,
    /// Absolute path.
    pub path: PathBuf,
    /// Slippi version.
    pub version: String,
    /// Stage name.
    pub stage: String,
    /// Players and characters.
    pub characters: String,
    /// Distinct frame ids, when the reference parser read the file.
    pub frames: Option<usize>,
    /// Notes (edge cases, `PARSE FAILED`, …).
    pub notes: String,
}

impl Entry {
    /// A complete game from `games/`.
    pub fn is_game(&self) -> bool {
        self.file.starts_with("games/")
    }
    /// The reference parser (peppi 2.1.2) failed on it.
    pub fn peppi_failed(&self) -> bool {
        self.notes.contains("PARSE FAILED")
    }
    /// Not a replay at all.
    pub fn not_a_replay(&self) -> bool {
        self.notes.starts_with("not a replay")
    }
}

/// Every row of the manifest.
pub fn manifest() -> Vec<Entry> {
    let dir = replays_dir();
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (f, v, s, c, n, no) = (
        col("file"),
        col("slippi_version"),
        col("stage"),
        col("characters"),
        col("frames"),
        col("notes"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            let get = |i: usize| cells.get(i).copied().unwrap_or("").to_string();
            Entry {
                file: get(f),
                path: dir.join(get(f)),
                version: get(v),
                stage: get(s),
                characters: get(c),
                frames: get(n).parse().ok(),
                notes: get(no),
            }
        })
        .collect()
}

/// The path of one shared replay, e.g. `replay("games/peppi__v2.0.slp")`.
pub fn replay(name: &str) -> PathBuf {
    replays_dir().join(name)
}
