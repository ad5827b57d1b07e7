//! Test support for every exphil crate: locating the shared real replays (`../shared/replays`
//! beside the checkout, or `$EXPHIL_REPLAYS`) and reading their `MANIFEST.tsv`; and a fake Slippi
//! Dolphin spectator server ([`spectator`]) for the live-play tests; the browser and Python
//! used by the reference checks ([`chromium`], [`python`]). A dev-dependency
//! only; tests that need real replays fail loudly when they are missing, never skip.
#![deny(missing_docs)]

pub mod browser;
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

/// Headless Chromium for the page tests: `$EXPHIL_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on the `PATH`. `None` (with a note) where there is
/// none; under CI (`$CI` set) a missing browser panics instead, so the checks never skip there.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("EXPHIL_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (or set EXPHIL_CHROMIUM)"
        );
        eprintln!("note: no chromium found (set EXPHIL_CHROMIUM); the browser check is skipped");
    }
    found
}

/// A Python that imports every module of `modules` (such as `"onnxruntime, numpy"`), for the
/// reference checks: `$EXPHIL_PYTHON`, else `python3`. `None` (with a note) where it cannot import
/// them; under CI (`$CI` set) that panics instead, so the checks never skip there.
pub fn python(modules: &str) -> Option<PathBuf> {
    let python = std::env::var_os("EXPHIL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let probe = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    let why = match probe {
        Ok(o) if o.status.success() => return Some(python),
        // The traceback's last line names the missing module.
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide a Python with {modules} (EXPHIL_PYTHON={}): {why}",
        python.display()
    );
    eprintln!(
        "note: {} cannot import {modules} (set EXPHIL_PYTHON); the Python check is skipped: {why}",
        python.display()
    );
    None
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

/// The replay `slp` with every byte of every per-frame event of frames after `frame` replaced
/// by a pseudo-random one (seeded by `seed`), except each event's frame number, and the port and
/// follower bytes of pre- and post-frame events (so the later frames still exist, with other
/// values): Pre-Frame, Post-Frame, Frame Start, Item, Frame Bookend and the stage events, and the
/// Game End. What a bot has seen after `frame` is untouched; everything after it changes. Returns
/// the new bytes and the number of events changed.
pub fn perturb_frames_after(slp: &[u8], frame: i32, seed: u64) -> (Vec<u8>, usize) {
    let mut out = slp.to_vec();
    let len = u32::from_be_bytes([slp[11], slp[12], slp[13], slp[14]]) as usize;
    let raw = 15..15 + len;
    assert_eq!(
        out[raw.start], 0x35,
        "raw stream starts with Event Payloads"
    );
    let mut sizes = [0usize; 256];
    let n = out[raw.start + 1] as usize;
    sizes[0x35] = n;
    for e in out[raw.start + 2..raw.start + 1 + n].chunks(3) {
        sizes[e[0] as usize] = u16::from_be_bytes([e[1], e[2]]) as usize;
    }
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    };
    let mut changed = 0;
    let mut at = raw.start;
    while at < raw.end {
        let code = out[at];
        let size = sizes[code as usize];
        let payload = at + 1..(at + 1 + size).min(raw.end);
        // Per-frame events carry their frame number first; Game End carries none.
        let frame_of = |p: &[u8]| i32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        let keep = match code {
            0x37 | 0x38 => 6,
            0x3A | 0x3B | 0x3C | 0x3F | 0x40 | 0x41 => 4,
            0x39 => 0,
            _ => usize::MAX,
        };
        let later = code == 0x39 || (payload.len() >= 4 && frame_of(&out[payload.clone()]) > frame);
        if keep != usize::MAX && later {
            for b in &mut out[payload.start + keep.min(payload.len())..payload.end] {
                *b = next();
            }
            changed += 1;
        }
        at = payload.end;
    }
    (out, changed)
}
