//! Robustness of the replay decoder against damaged and hostile input (docs/RELIABILITY.md, rows
//! "replays"):
//!
//! 1. every real game cut at many offsets (also with the raw length set to 0) keeps exactly the
//!    complete frames before the cut, checked against an independent walk of the event stream;
//! 2. thousands of 1–4-byte mutations never panic, stay well under 1 s, and allocate in proportion
//!    to the input; feeding the same bytes in two pieces gives the same game;
//! 3. hostile lengths and malformed streams, built synthetically, are refused or capped;
//! 4. a real game fed to the streaming decoder in random-sized chunks equals the whole-file read.
//!
//! Randomised parts are seeded: the seed is printed, and `EXPHIL_FUZZ_SEED=<u64>` reproduces or
//! varies a run.

use exphil_testdata as common;

use exphil_replay::*;
use rand::distributions::WeightedIndex;
use rand::prelude::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------------
// Seeds

const DEFAULT_SEED: u64 = 0x0E8B_11A5_2026;

/// The run's base seed: `EXPHIL_FUZZ_SEED` or the fixed default.
fn base_seed() -> u64 {
    match std::env::var("EXPHIL_FUZZ_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("EXPHIL_FUZZ_SEED must be a u64, got {s:?}")),
        Err(_) => DEFAULT_SEED,
    }
}

/// A generator for one test (and one stream within it), derived from the base seed.
fn rng_for(test: &str, stream: u64) -> StdRng {
    let seed = base_seed();
    let mut h = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in test.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    StdRng::seed_from_u64(h)
}

fn announce_seed(test: &str) -> u64 {
    let seed = base_seed();
    eprintln!("{test}: seed {seed} (rerun with EXPHIL_FUZZ_SEED={seed})");
    seed
}

// ------------------------------------------------------------------------------------------------
// Allocation accounting: a counting global allocator with per-thread live and peak byte counts, so
// a decode's peak can be measured while other tests run on other threads.

struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Runs `f`; returns its result and the most bytes allocated at once on this thread while it ran,
/// beyond what was live before (what it returns still counts: it is live at the end).
fn peak_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - base).max(0) as usize)
}

// ------------------------------------------------------------------------------------------------
// Comparing decoded frames

/// Equal, or (for floats holding NaN, which is never `==`) equal in every printed digit.
fn same<T: PartialEq + Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// Why row `ra` of `a` differs from row `rb` of `b`, if it does.
fn row_diff(a: &Frames, ra: usize, b: &Frames, rb: usize) -> Option<String> {
    let (Some(fa), Some(fb)) = (a.get(ra), b.get(rb)) else {
        return Some(format!("row {ra} or {rb} missing"));
    };
    if fa.id() != fb.id() {
        return Some(format!("frame id {} vs {}", fa.id(), fb.id()));
    }
    let id = fa.id();
    if !same(&fa.start(), &fb.start()) {
        return Some(format!("frame {id}: Frame Start differs"));
    }
    if !same(&fa.bookend(), &fb.bookend()) {
        return Some(format!("frame {id}: Frame Bookend differs"));
    }
    if a.ports.len() != b.ports.len() {
        return Some("port columns differ".into());
    }
    for (pa, pb) in a.ports.iter().zip(&b.ports) {
        if pa.port != pb.port {
            return Some(format!("port {} vs {}", pa.port, pb.port));
        }
        if !same(&pa.leader[ra], &pb.leader[rb]) {
            return Some(format!(
                "frame {id} {}: leader differs:\n  {:?}\n  {:?}",
                pa.port, pa.leader[ra], pb.leader[rb]
            ));
        }
        let fa = pa.follower.get(ra).copied().flatten();
        let fb = pb.follower.get(rb).copied().flatten();
        if !same(&fa, &fb) {
            return Some(format!("frame {id} {}: follower differs", pa.port));
        }
    }
    if !same(&fa.items(), &fb.items()) {
        return Some(format!("frame {id}: items differ"));
    }
    if !same(&fa.stage_events(), &fb.stage_events()) {
        return Some(format!("frame {id}: stage events differ"));
    }
    None
}

/// Why two decoded games differ in frames, start, end, Gecko codes or rollback count, if they do.
fn game_diff(a: &Game, b: &Game) -> Option<String> {
    if !same(&a.start, &b.start) {
        return Some("Game Start differs".into());
    }
    if a.end != b.end {
        return Some(format!("Game End {:?} vs {:?}", a.end, b.end));
    }
    if a.gecko_codes != b.gecko_codes {
        return Some("Gecko codes differ".into());
    }
    if a.rollback_resends != b.rollback_resends {
        return Some(format!(
            "rollback resends {} vs {}",
            a.rollback_resends, b.rollback_resends
        ));
    }
    if a.frames.len() != b.frames.len() {
        return Some(format!("{} vs {} frames", a.frames.len(), b.frames.len()));
    }
    (0..a.frames.len()).find_map(|r| row_diff(&a.frames, r, &b.frames, r))
}

fn first_occurrence() -> DecodeOptions {
    DecodeOptions {
        rollback: RollbackMode::First,
    }
}

// ------------------------------------------------------------------------------------------------
// 1. Cuts

/// An independent walk of a complete file's event stream: where things end, and at which byte
/// each frame id is first complete.
struct Walk {
    len: usize,
    /// End of the root object's closing brace (some writers add a newline after it).
    content_end: usize,
    /// End of Event Payloads (start of Game Start).
    payloads_end: usize,
    /// End of Game Start: a cut before this cannot decode.
    start_end: usize,
    /// End of the raw event stream (start of the metadata).
    raw_end: usize,
    /// End of the first Game End event.
    game_end_at: Option<usize>,
    /// `(byte at which the frame is complete, frame id)` for the first complete occurrence of
    /// each id, in stream order. From 3.0 (Frame Bookend declared) a frame is complete when its
    /// bookend has been read; before, when every character in it has its post-frame update
    /// (all pre-frame updates of a frame precede its post-frame updates in these files).
    commits: Vec<(usize, i32)>,
    /// End offset of every event (for cuts exactly on and beside event boundaries).
    boundaries: Vec<usize>,
    /// Frame events (pre/post/bookend) seen, for a sanity check.
    frame_events: usize,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn walk(bytes: &[u8]) -> Walk {
    let raw_len = u32::from_be_bytes(bytes[11..15].try_into().unwrap()) as usize;
    assert!(raw_len > 0, "walk needs a finished file");
    let raw_end = 15 + raw_len;
    assert!(raw_end <= bytes.len());
    assert_eq!(bytes[15], 0x35, "Event Payloads first");
    let n = bytes[16] as usize;
    let mut sizes: [Option<usize>; 256] = [None; 256];
    for e in bytes[17..16 + n].chunks_exact(3) {
        sizes[e[0] as usize] = Some(u16::from_be_bytes([e[1], e[2]]) as usize);
    }
    let payloads_end = 16 + n;
    assert_eq!(bytes[payloads_end], 0x36, "Game Start second");
    let start_end = payloads_end + 1 + sizes[0x36].expect("Game Start declared");
    let has_bookend = sizes[0x3C].is_some();

    let mut seen = HashSet::new();
    let mut commits = Vec::new();
    let mut boundaries = Vec::new();
    let mut game_end_at = None;
    let mut frame_events = 0;
    // Pre-3.0: the occurrence being read: id, (port, follower, has pre, has post), last post end.
    type Occurrence = (i32, Vec<(u8, u8, bool, bool)>, usize);
    let mut cur: Option<Occurrence> = None;
    let mut flush = |occ: Option<Occurrence>, commits: &mut Vec<(usize, i32)>| {
        if let Some((id, chars, post_end)) = occ {
            let complete = !chars.is_empty() && chars.iter().all(|c| c.2 && c.3);
            if complete && seen.insert(id) {
                commits.push((post_end, id));
            }
        }
    };
    let mut seen_bookend = HashSet::new();
    let mut pos = start_end;
    while pos < raw_end {
        let code = bytes[pos];
        let size = sizes[code as usize]
            .unwrap_or_else(|| panic!("undeclared event 0x{code:02x} at {pos}"));
        let end = pos + 1 + size;
        assert!(end <= raw_end, "event at {pos} overruns the raw stream");
        match code {
            0x3C if has_bookend => {
                frame_events += 1;
                let id = be_i32(bytes, pos + 1);
                if seen_bookend.insert(id) {
                    commits.push((end, id));
                }
            }
            0x37 | 0x38 if !has_bookend => {
                frame_events += 1;
                let id = be_i32(bytes, pos + 1);
                let (port, follower) = (bytes[pos + 5], bytes[pos + 6]);
                if cur.as_ref().map(|c| c.0) != Some(id) {
                    flush(cur.take(), &mut commits);
                    cur = Some((id, Vec::new(), 0));
                }
                let occ = cur.as_mut().unwrap();
                let slot = match occ.1.iter().position(|c| (c.0, c.1) == (port, follower)) {
                    Some(i) => i,
                    None => {
                        occ.1.push((port, follower, false, false));
                        occ.1.len() - 1
                    }
                };
                if code == 0x37 {
                    occ.1[slot].2 = true;
                } else {
                    occ.1[slot].3 = true;
                    occ.2 = end;
                }
            }
            0x37 | 0x38 => frame_events += 1,
            0x39 => {
                game_end_at.get_or_insert(end);
            }
            _ => {}
        }
        boundaries.push(end);
        pos = end;
    }
    flush(cur.take(), &mut commits);
    let content_end = bytes
        .iter()
        .rposition(|&b| b == b'}')
        .map_or(bytes.len(), |i| i + 1);
    Walk {
        len: bytes.len(),
        content_end,
        payloads_end,
        start_end,
        raw_end,
        game_end_at,
        commits,
        boundaries,
        frame_events,
    }
}

/// At least 50 cut offsets spread over the whole file, with extra ones in the header, Event
/// Payloads, Game Start, the first frames, exactly on and beside event and frame boundaries, at
/// the end of the raw stream, and in the metadata. Includes the whole length as a control.
fn cut_points(w: &Walk, rng: &mut StdRng) -> Vec<usize> {
    let mut v = vec![
        0,
        rng.gen_range(1..11),
        rng.gen_range(11..15),
        15,
        rng.gen_range(16..w.payloads_end),
        rng.gen_range(w.payloads_end..w.start_end),
        rng.gen_range(w.payloads_end..w.start_end),
        w.start_end - 1,
        w.start_end,
        w.start_end + 1,
        rng.gen_range(w.start_end..w.start_end + 4000),
        rng.gen_range(w.start_end..w.start_end + 4000),
        w.raw_end - 1,
        w.raw_end,
        w.raw_end + 1,
        rng.gen_range(w.raw_end + 1..w.len),
        rng.gen_range(w.raw_end + 1..w.len),
        w.content_end - 1,
        w.len - 1,
        w.len,
    ];
    for _ in 0..4 {
        let (end, _) = w.commits[rng.gen_range(0..w.commits.len())];
        v.extend([end - 1, end, end + 1]);
    }
    for _ in 0..6 {
        let end = w.boundaries[rng.gen_range(0..w.boundaries.len())];
        v.push(end + rng.gen_range(0..3) - 1);
    }
    // The rest uniformly over the whole file.
    while v.len() < 100 {
        v.push(rng.gen_range(0..=w.len));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Checks one cut of one file; `zeroed` says the raw-length field was set to 0.
fn check_cut(full: &Game, w: &Walk, data: &[u8], zeroed: bool) -> Result<(), String> {
    let c = data.len();
    let result = catch_unwind(AssertUnwindSafe(|| read(data, first_occurrence())))
        .map_err(|_| "decoder panicked".to_string())?;
    let game = match result {
        Err(_) if c < w.start_end => return Ok(()),
        Err(e) => return Err(format!("Err after Game Start was complete: {e}")),
        Ok(_) if c < w.start_end => return Err("Ok before Game Start was complete".into()),
        Ok(game) => game,
    };
    // Exactly the frames complete before the cut, each equal to the full decode's.
    let k = w.commits.partition_point(|&(end, _)| end <= c);
    let mut expected: Vec<i32> = w.commits[..k].iter().map(|&(_, id)| id).collect();
    expected.sort_unstable();
    if game.frames.id != expected {
        let got = &game.frames.id;
        return Err(format!(
            "kept {} frames (last {:?}), the oracle says {} (last {:?}); warnings {:?}",
            got.len(),
            got.last(),
            expected.len(),
            expected.last(),
            game.warnings
        ));
    }
    for (row, id) in expected.iter().enumerate() {
        let full_row = full.frames.row_of(*id).ok_or("id missing in full decode")?;
        if let Some(d) = row_diff(&game.frames, row, &full.frames, full_row) {
            return Err(d);
        }
    }
    if !same(&game.start, &full.start) {
        return Err("Game Start differs".into());
    }
    // Game End exactly when it was read.
    let end_read = w.game_end_at.is_some_and(|e| e <= c);
    if game.end.is_some() != end_read || (end_read && game.end != full.end) {
        return Err(format!("Game End {:?}, read: {end_read}", game.end));
    }
    // Missing data is always reported.
    if zeroed
        && !game
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::UnfinishedRecording)
    {
        return Err("raw length 0 without an UnfinishedRecording warning".into());
    }
    if !zeroed && c < w.raw_end && game.damage().is_none() {
        return Err(format!(
            "cut stream without damage warning: {:?}",
            game.warnings
        ));
    }
    if c < w.content_end && game.warnings.is_empty() {
        return Err("cut file without any warning".into());
    }
    if c >= w.content_end && !zeroed && !game.warnings.is_empty() {
        return Err(format!("whole file has warnings: {:?}", game.warnings));
    }
    Ok(())
}

struct CutReport {
    file: String,
    cuts: usize,
    errors: Vec<String>,
}

fn cut_one_file(path: &Path, name: &str, rng: &mut StdRng) -> CutReport {
    let bytes = std::fs::read(path).unwrap();
    let w = walk(&bytes);
    let full = read(&bytes, first_occurrence()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut errors = Vec::new();
    // The oracle agrees with the full decode before it is trusted on cuts.
    let all: Vec<i32> = {
        let mut ids: Vec<i32> = w.commits.iter().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        ids
    };
    assert!(w.frame_events > 0, "{name}: no frame events found");
    assert_eq!(
        full.frames.id, all,
        "{name}: the oracle's frames differ from the full decode's"
    );
    let mut zeroed = bytes.clone();
    zeroed[11..15].fill(0);
    let cuts = cut_points(&w, rng);
    for &c in &cuts {
        for (variant, data) in [("intact", &bytes), ("raw length 0", &zeroed)] {
            if let Err(e) = check_cut(&full, &w, &data[..c], variant != "intact") {
                errors.push(format!("{name} cut at {c} ({variant}): {e}"));
            }
        }
    }
    CutReport {
        file: name.to_string(),
        cuts: cuts.len(),
        errors,
    }
}

#[test]
fn cuts_keep_every_complete_frame_before_the_cut() {
    let started = Instant::now();
    announce_seed("cuts");
    // All 37 games, and the edge files that are complete replays too (followers, four ports,
    // 3.18+ stage events, old versions).
    let games: Vec<_> = common::manifest()
        .into_iter()
        .filter(|e| {
            e.is_game() || {
                let bytes = std::fs::read(&e.path).unwrap();
                let whole = read(&bytes, DecodeOptions::default());
                header(&bytes).is_ok_and(|n| n > 0)
                    && whole.is_ok_and(|g| g.is_complete() && g.warnings.is_empty())
            }
        })
        .collect();
    assert_eq!(games.iter().filter(|e| e.is_game()).count(), 37);
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(e) = games.get(i) else { break };
                // One generator per file: the cuts do not depend on thread scheduling.
                let mut rng = rng_for("cuts", i as u64);
                let report = cut_one_file(&e.path, &e.file, &mut rng);
                reports.lock().unwrap().push(report);
            });
        }
    });
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.len(), games.len());
    let total: usize = reports.iter().map(|r| r.cuts).sum();
    let errors: Vec<&String> = reports.iter().flat_map(|r| &r.errors).collect();
    for r in &reports {
        assert!(r.cuts >= 50, "{}: only {} cuts", r.file, r.cuts);
    }
    eprintln!(
        "cuts: {} files ({}), {total} cuts × 2 variants in {:.1?}",
        reports.len(),
        reports
            .iter()
            .map(|r| r.file.as_str())
            .filter(|f| !f.starts_with("games/"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed()
    );
    assert!(
        errors.is_empty(),
        "seed {}: {} of {} cut decodes failed:\n{}",
        base_seed(),
        errors.len(),
        total * 2,
        errors
            .iter()
            .take(20)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ------------------------------------------------------------------------------------------------
// 2. Mutations

/// Mutation trials per run (`EXPHIL_FUZZ_TRIALS` raises it for a longer hunt).
fn mutation_trials() -> usize {
    std::env::var("EXPHIL_FUZZ_TRIALS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10_000)
        .max(10_000)
}
/// Big files are mutated as a prefix of this many bytes (and, rarely, whole).
const PREFIX: usize = 200 << 10;
/// Budget for one decode of one input.
const DECODE_BUDGET: Duration = Duration::from_secs(1);

struct Input {
    name: String,
    bytes: Vec<u8>,
    weight: f64,
}

/// Every shared replay (games and edge files): small files whole, big ones as a 200 KiB prefix
/// (weight 1) and whole (rarely).
fn mutation_inputs() -> Vec<Input> {
    let mut inputs = Vec::new();
    for e in common::manifest() {
        let bytes = std::fs::read(&e.path).unwrap();
        if bytes.len() <= PREFIX + (PREFIX / 4) {
            inputs.push(Input {
                name: e.file,
                bytes,
                weight: 1.0,
            });
        } else {
            inputs.push(Input {
                name: format!("{} [first {PREFIX} bytes]", e.file),
                bytes: bytes[..PREFIX].to_vec(),
                weight: 1.0,
            });
            inputs.push(Input {
                name: e.file,
                bytes,
                weight: 0.04,
            });
        }
    }
    inputs
}

/// The raw event stream `read` hands to the decoder.
fn raw_stream(bytes: &[u8]) -> Option<&[u8]> {
    let raw_len = header(bytes).ok()? as usize;
    Some(match raw_len {
        0 => &bytes[RAW_START..],
        n => &bytes[RAW_START..(RAW_START + n).min(bytes.len())],
    })
}

/// Streams `raw` through a [`Decoder`] in two pieces split at `at`.
fn stream_in_two(raw: &[u8], at: usize) -> Result<Game, DecodeError> {
    let mut d = Decoder::new(DecodeOptions::default(), RAW_START as u64);
    d.feed(&raw[..at])?;
    d.feed(&raw[at..])?;
    d.finish()
}

struct TrialOutcome {
    time: Duration,
    peak: usize,
    failure: Option<String>,
}

/// Bytes a decode may hold at once for `input` bytes of input: Game Start and the fixed caps
/// (splitter reassembly, warnings) plus a bound proportional to the input.
fn memory_cap(input: usize) -> usize {
    MAX_SPLIT_BYTES + (2 << 20) + 64 * input
}

fn mutation_trial(data: &[u8], split: usize) -> TrialOutcome {
    let started = Instant::now();
    let (result, peak) =
        peak_alloc(|| catch_unwind(AssertUnwindSafe(|| read(data, DecodeOptions::default()))));
    let time = started.elapsed();
    let fail = |why: String| TrialOutcome {
        time,
        peak,
        failure: Some(why),
    };
    let Ok(result) = result else {
        return fail("read panicked".into());
    };
    if time > DECODE_BUDGET {
        return fail(format!("read took {time:?}"));
    }
    if peak > memory_cap(data.len()) {
        return fail(format!(
            "read allocated {peak} bytes for {} input bytes",
            data.len()
        ));
    }
    if let Ok(game) = &result {
        // The accessors work on whatever was decoded.
        let walked = catch_unwind(AssertUnwindSafe(|| {
            let players: usize = game.frames.iter().map(|f| f.players().count()).sum();
            (game.duration_frames(), game.is_complete(), players)
        }));
        if walked.is_err() {
            return fail("Game accessors panicked".into());
        }
        if game.frames.len() > data.len() / 10 {
            return fail(format!(
                "{} frames from {} bytes",
                game.frames.len(),
                data.len()
            ));
        }
        if game.warnings.len() > MAX_WARNINGS + 8 {
            return fail(format!("{} warnings kept", game.warnings.len()));
        }
    }
    // The summary reader takes its own path through the header events and metadata.
    if catch_unwind(|| read_summary(data)).is_err() {
        return fail("read_summary panicked".into());
    }
    // The same bytes in two pieces decode the same way.
    if let Some(raw) = raw_stream(data) {
        let at = split % (raw.len() + 1);
        let streamed = match catch_unwind(AssertUnwindSafe(|| stream_in_two(raw, at))) {
            Ok(s) => s,
            Err(_) => return fail(format!("streaming split at {at} panicked")),
        };
        match (&result, &streamed) {
            (Ok(a), Ok(b)) => {
                if let Some(d) = game_diff(a, b) {
                    return fail(format!("streaming split at {at} differs: {d}"));
                }
            }
            (Err(a), Err(b)) if a == b => {}
            (a, b) => {
                return fail(format!(
                    "streaming split at {at}: read gives {:?}, streaming {:?}",
                    a.as_ref().err(),
                    b.as_ref().err()
                ))
            }
        }
    }
    TrialOutcome {
        time,
        peak,
        failure: None,
    }
}

#[test]
fn mutated_replays_never_panic_and_stay_bounded() {
    let started = Instant::now();
    let seed = announce_seed("mutations");
    let trials_wanted = mutation_trials();
    let inputs = mutation_inputs();
    let weights = WeightedIndex::new(inputs.iter().map(|i| i.weight)).unwrap();
    let workers = 2;
    let failures = Mutex::new(Vec::new());
    let stats = Mutex::new((0usize, Duration::ZERO, String::new(), 0f64, 0usize));
    std::thread::scope(|s| {
        for worker in 0..workers {
            let (inputs, weights, failures, stats) = (&inputs, &weights, &failures, &stats);
            s.spawn(move || {
                let mut rng = rng_for("mutations", worker as u64);
                let mut local = (0usize, Duration::ZERO, String::new(), 0f64, 0usize);
                for _ in 0..trials_wanted.div_ceil(workers) {
                    let input = &inputs[weights.sample(&mut rng)];
                    let mut data = input.bytes.clone();
                    let mut changes = Vec::new();
                    for _ in 0..rng.gen_range(1..=4) {
                        if data.is_empty() {
                            break;
                        }
                        // Half of the changes hit the header, Event Payloads and Game Start.
                        let pos = if rng.gen_bool(0.5) {
                            rng.gen_range(0..data.len().min(1024))
                        } else {
                            rng.gen_range(0..data.len())
                        };
                        let old = data[pos];
                        data[pos] ^= rng.gen_range(1..=255u8);
                        changes.push(format!("[{pos}] {old:#04x}->{:#04x}", data[pos]));
                    }
                    let split = rng.gen::<usize>();
                    let outcome = mutation_trial(&data, split);
                    local.0 += 1;
                    if outcome.time > local.1 {
                        local.1 = outcome.time;
                        local.2 = input.name.clone();
                    }
                    local.3 = local.3.max(outcome.peak as f64 / data.len().max(1) as f64);
                    local.4 = local.4.max(outcome.peak);
                    if let Some(why) = outcome.failure {
                        failures.lock().unwrap().push(format!(
                            "seed {seed} worker {worker}: {} with {}: {why}",
                            input.name,
                            changes.join(", ")
                        ));
                    }
                }
                let mut s = stats.lock().unwrap();
                s.0 += local.0;
                if local.1 > s.1 {
                    s.1 = local.1;
                    s.2 = local.2;
                }
                s.3 = s.3.max(local.3);
                s.4 = s.4.max(local.4);
            });
        }
    });
    let (trials, max_time, slowest, max_ratio, max_peak) = stats.into_inner().unwrap();
    eprintln!(
        "mutations: {trials} trials over {} inputs in {:.1?}; slowest decode {max_time:?} ({slowest}); \
         peak allocation at most {max_ratio:.1}× the input, {:.1} MiB",
        inputs.len(),
        started.elapsed(),
        max_peak as f64 / (1 << 20) as f64
    );
    assert!(trials >= trials_wanted);
    assert!(
        max_time < DECODE_BUDGET,
        "slowest decode took {max_time:?} ({slowest})"
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {trials} mutated inputs failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ------------------------------------------------------------------------------------------------
// 3. Hostile lengths and malformed streams, built synthetically

/// Assembles a `.slp` from events: Event Payloads from a size table, then whatever is appended.
mod build {
    use exphil_replay::SIGNATURE;

    pub const SPLITTER: u8 = 0x10;
    pub const PAYLOADS: u8 = 0x35;
    pub const START: u8 = 0x36;
    pub const PRE: u8 = 0x37;
    pub const POST: u8 = 0x38;
    pub const END: u8 = 0x39;
    pub const FRAME_START: u8 = 0x3A;
    pub const ITEM: u8 = 0x3B;
    pub const BOOKEND: u8 = 0x3C;
    pub const GECKO: u8 = 0x3D;

    /// Declared sizes of a 3.x replay (with Frame Start, items, bookends, Gecko list, splitter).
    pub fn modern() -> Vec<(u8, u16)> {
        vec![
            (START, 420),
            (PRE, 64),
            (POST, 84),
            (END, 6),
            (FRAME_START, 12),
            (ITEM, 44),
            (BOOKEND, 8),
            (GECKO, 2048),
            (SPLITTER, 516),
        ]
    }

    /// Declared sizes of a 0.1.0 replay (no bookends: frames end when the next one begins).
    pub fn v0_1() -> Vec<(u8, u16)> {
        vec![(START, 320), (PRE, 58), (POST, 33), (END, 1)]
    }

    /// Replaces (or adds) one declared size.
    pub fn with(mut sizes: Vec<(u8, u16)>, code: u8, size: u16) -> Vec<(u8, u16)> {
        sizes.retain(|&(c, _)| c != code);
        sizes.push((code, size));
        sizes
    }

    pub struct Builder {
        sizes: [Option<u16>; 256],
        pub raw: Vec<u8>,
        last_frame: i32,
    }

    impl Builder {
        /// Starts a raw stream with an Event Payloads event declaring `sizes`.
        pub fn new(sizes: &[(u8, u16)]) -> Builder {
            let mut raw = vec![PAYLOADS, (3 * sizes.len() + 1) as u8];
            let mut table = [None; 256];
            for &(code, size) in sizes {
                raw.push(code);
                raw.extend(size.to_be_bytes());
                table[code as usize] = Some(size);
            }
            Builder {
                sizes: table,
                raw,
                last_frame: -123,
            }
        }

        pub fn declared(&self, code: u8) -> bool {
            self.sizes[code as usize].is_some()
        }

        /// Appends an event, its payload padded with zeros (or cut) to the declared size.
        pub fn event(&mut self, code: u8, payload: &[u8]) -> &mut Self {
            let size = self.sizes[code as usize].expect("event declared") as usize;
            let n = payload.len().min(size);
            self.raw.push(code);
            self.raw.extend_from_slice(&payload[..n]);
            self.raw.resize(self.raw.len() + size - n, 0);
            self
        }

        /// Appends raw bytes.
        pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
            self.raw.extend_from_slice(bytes);
            self
        }

        /// Game Start: version 3.18.0, Final Destination, P1 Fox and P2 Falco (humans, 4 stocks).
        pub fn game_start(&mut self) -> &mut Self {
            let mut p = vec![0u8; 320];
            p[..4].copy_from_slice(&[3, 18, 0, 0]);
            p[18..20].copy_from_slice(&32u16.to_be_bytes());
            for i in 0..4 {
                let base = 100 + 36 * i;
                p[base] = [2, 20, 0, 0][i];
                p[base + 1] = if i < 2 { 0 } else { 3 };
                p[base + 2] = 4;
            }
            self.event(START, &p)
        }

        /// Pre-frame update of `port` (0-based) in frame `id`; x marks frame and port.
        pub fn pre(&mut self, id: i32, port: u8) -> &mut Self {
            let mut p = vec![0u8; 58];
            p[..4].copy_from_slice(&id.to_be_bytes());
            p[4] = port;
            p[6..10].copy_from_slice(&(id as u32).to_be_bytes());
            p[10..12].copy_from_slice(&14u16.to_be_bytes());
            p[12..16].copy_from_slice(&(id as f32 + 1000.0 * port as f32).to_be_bytes());
            self.event(PRE, &p)
        }

        /// Post-frame update of `port` in frame `id`.
        pub fn post(&mut self, id: i32, port: u8) -> &mut Self {
            let mut p = vec![0u8; 33];
            p[..4].copy_from_slice(&id.to_be_bytes());
            p[4] = port;
            p[6] = [1, 22][port as usize % 2];
            p[7..9].copy_from_slice(&14u16.to_be_bytes());
            p[9..13].copy_from_slice(&(id as f32 - 1000.0 * port as f32).to_be_bytes());
            p[32] = 4;
            self.event(POST, &p)
        }

        /// Item update in frame `id`.
        pub fn item(&mut self, id: i32, spawn_id: u32) -> &mut Self {
            let mut p = vec![0u8; 37];
            p[..4].copy_from_slice(&id.to_be_bytes());
            p[4..6].copy_from_slice(&0x30u16.to_be_bytes());
            p[33..37].copy_from_slice(&spawn_id.to_be_bytes());
            self.event(ITEM, &p)
        }

        /// Everything of frame `id` the declared events allow: Frame Start, pre and post of both
        /// ports, bookend.
        pub fn frame(&mut self, id: i32) -> &mut Self {
            self.frame_with(id, |_| {})
        }

        /// Like [`Builder::frame`], calling `inside` between the pre- and post-frame updates.
        pub fn frame_with(&mut self, id: i32, inside: impl FnOnce(&mut Self)) -> &mut Self {
            if self.declared(FRAME_START) {
                let mut p = id.to_be_bytes().to_vec();
                p.extend((id as u32).wrapping_mul(7).to_be_bytes());
                self.event(FRAME_START, &p);
            }
            self.pre(id, 0).pre(id, 1);
            inside(self);
            self.post(id, 0).post(id, 1);
            if self.declared(BOOKEND) {
                let mut p = id.to_be_bytes().to_vec();
                p.extend(id.to_be_bytes());
                self.event(BOOKEND, &p);
            }
            self.last_frame = id;
            self
        }

        /// Frames −123, −122, … (`count` of them).
        pub fn frames(&mut self, count: i32) -> &mut Self {
            for id in -123..-123 + count {
                self.frame(id);
            }
            self
        }

        /// Game End with `method`.
        pub fn game_end(&mut self, method: u8) -> &mut Self {
            self.event(END, &[method, 0xFF, 0, 1, 0xFF, 0xFF])
        }

        /// One Message Splitter block carrying `data` (at most 512 bytes) of event `inner`.
        pub fn splitter(&mut self, inner: u8, data: &[u8], last: bool) -> &mut Self {
            let mut p = vec![0u8; 516];
            p[..data.len()].copy_from_slice(data);
            p[512..514].copy_from_slice(&(data.len() as u16).to_be_bytes());
            p[514] = inner;
            p[515] = last as u8;
            self.event(SPLITTER, &p)
        }

        /// Offset in the file of the next byte appended.
        pub fn file_offset(&self) -> usize {
            15 + self.raw.len()
        }

        /// The file: header with the true raw length, the raw stream, metadata, closing brace.
        pub fn file(&self) -> Vec<u8> {
            self.file_with_len(self.raw.len() as u32)
        }

        /// The file with `raw_len` written in the header, whatever the stream's real length.
        pub fn file_with_len(&self, raw_len: u32) -> Vec<u8> {
            let mut f = SIGNATURE.to_vec();
            f.extend(raw_len.to_be_bytes());
            f.extend(&self.raw);
            f.extend(b"U\x08metadata{U\x09lastFramel");
            f.extend(self.last_frame.to_be_bytes());
            f.extend(b"}}");
            f
        }
    }

    /// Game Start and `frames` frames, then Game End.
    pub fn sample(sizes: &[(u8, u16)], frames: i32) -> Builder {
        let mut b = Builder::new(sizes);
        b.game_start().frames(frames).game_end(2);
        b
    }
}

use build::Builder;

fn decode(bytes: &[u8]) -> Result<Game, DecodeError> {
    read(bytes, DecodeOptions::default())
}

fn warned(game: &Game, pred: impl Fn(&WarningKind) -> bool) -> usize {
    game.warnings.iter().filter(|w| pred(&w.kind)).count()
}

/// Asserts `game` holds frames −123.. (`count` of them), equal to those of a plain sample.
fn assert_sample_frames(game: &Game, count: i32) {
    let plain = decode(&build::sample(&build::modern(), count).file()).unwrap();
    let ids: Vec<i32> = (-123..-123 + count).collect();
    assert_eq!(game.frames.id, ids);
    for row in 0..count as usize {
        let (a, b) = (&game.frames.ports, &plain.frames.ports);
        for (pa, pb) in a.iter().zip(b) {
            let (la, lb) = (pa.leader[row].unwrap(), pb.leader[row].unwrap());
            // Compare the fields the builder sets; tail fields depend on declared sizes.
            assert_eq!(
                (la.pre.x, la.pre.random_seed, la.post.x, la.post.stocks),
                (lb.pre.x, lb.pre.random_seed, lb.post.x, lb.post.stocks),
                "row {row} {}",
                pa.port
            );
        }
    }
}

#[test]
fn synthetic_replays_decode() {
    for sizes in [build::modern(), build::v0_1()] {
        let file = build::sample(&sizes, 20).file();
        let game = decode(&file).unwrap();
        assert!(game.is_complete(), "{:?}", game.warnings);
        assert!(game.warnings.is_empty(), "{:?}", game.warnings);
        assert_eq!(game.frames.len(), 20);
        assert_eq!(game.start.players.len(), 2);
        assert_eq!(game.metadata.as_ref().unwrap().last_frame, Some(-104));
        let p2 = game
            .frames
            .get(5)
            .unwrap()
            .port(Port::from_number(2).unwrap())
            .unwrap();
        assert_eq!(p2.leader.pre.x, -118.0 + 1000.0);
        assert_eq!(p2.leader.post.x, -118.0 - 1000.0);
        assert_eq!(p2.leader.post.stocks, 4);
        assert_eq!(
            game.frames.bookend[0].is_some(),
            sizes.iter().any(|s| s.0 == build::BOOKEND)
        );
    }
}

#[test]
fn header_claiming_4_gib_on_a_short_file() {
    let b = build::sample(&build::modern(), 10);
    let file = b.file_with_len(u32::MAX);
    let (game, peak) = peak_alloc(|| decode(&file));
    let game = game.unwrap();
    assert_eq!(game.frames.len(), 10);
    assert!(game.end.is_some());
    assert_eq!(
        warned(
            &game,
            |k| matches!(k, WarningKind::Truncated { what } if what.contains("4294967295"))
        ),
        1,
        "{:?}",
        game.warnings
    );
    assert!(peak < 256 << 10, "allocated {peak} bytes");
    let (summary, peak) = peak_alloc(|| read_summary(&file));
    assert_eq!(summary.unwrap().frames, Some(10));
    assert!(peak < 256 << 10, "summary allocated {peak} bytes");

    // Cut inside the frames: the complete ones are kept.
    let cut = &file[..b.raw.len() / 2];
    let game = decode(cut).unwrap();
    assert!(game.damage().is_some());
    assert!(!game.frames.is_empty() && game.frames.len() < 10);

    // Nothing after the length.
    let mut header_only = SIGNATURE.to_vec();
    header_only.extend(u32::MAX.to_be_bytes());
    let (err, peak) = peak_alloc(|| decode(&header_only).unwrap_err());
    assert!(matches!(err, DecodeError::TruncatedHeader { .. }), "{err}");
    assert!(peak < 4096, "allocated {peak} bytes");
}

#[test]
fn declared_sizes_of_zero_are_refused_or_skipped() {
    // Game Start, pre- and post-frame below their first version's size: refused up front.
    for code in [build::START, build::PRE, build::POST] {
        let sizes = build::with(build::modern(), code, 0);
        let mut b = Builder::new(&sizes);
        b.bytes(&[build::START]);
        let err = decode(&b.file()).unwrap_err();
        assert!(
            matches!(
                &err,
                DecodeError::Invalid {
                    what: "Event Payloads",
                    ..
                }
            ),
            "0x{code:02x}: {err}"
        );
    }
    // Item, splitter and an unknown code of size 0: each skipped (one byte each) with a warning.
    for code in [build::ITEM, build::SPLITTER, 0x77] {
        let sizes = build::with(build::modern(), code, 0);
        let mut b = Builder::new(&sizes);
        b.game_start();
        for id in -123..-113 {
            b.frame_with(id, |b| {
                b.event(code, &[]).event(code, &[]);
            });
        }
        b.game_end(2);
        let (game, peak) = peak_alloc(|| decode(&b.file()));
        let game = game.unwrap();
        assert!(game.is_complete(), "0x{code:02x}: {:?}", game.warnings);
        assert_sample_frames(&game, 10);
        assert_eq!(game.frames.item_count(), 0);
        assert!(game.gecko_codes.is_none());
        let expected = |k: &WarningKind| match k {
            WarningKind::EventTooSmall { code: c, size: 0 } => *c == code,
            WarningKind::UnknownEvent { code: c } => *c == code,
            _ => false,
        };
        assert_eq!(
            warned(&game, expected),
            1,
            "0x{code:02x}: {:?}",
            game.warnings
        );
        assert_eq!(game.warnings.len(), 1, "0x{code:02x}: {:?}", game.warnings);
        assert!(peak < 256 << 10, "0x{code:02x}: allocated {peak} bytes");
    }
    // An Event Payloads size byte of 0, 1 (no Game Start) or 2 (not 3n+1).
    for size_byte in [0u8, 1, 2] {
        let mut file = SIGNATURE.to_vec();
        file.extend(10u32.to_be_bytes());
        file.extend([0x35, size_byte, 0x36, 0x01, 0x40, 0, 0, 0, 0, 0]);
        let err = catch_unwind(|| decode(&file))
            .unwrap_or_else(|_| panic!("size byte {size_byte}: panicked"))
            .unwrap_err();
        assert!(
            matches!(
                &err,
                DecodeError::Invalid {
                    what: "Event Payloads",
                    ..
                }
            ),
            "size byte {size_byte}: {err}"
        );
    }
}

#[test]
fn declared_sizes_of_65535_decode_with_bounded_memory() {
    for code in [
        build::START,
        build::PRE,
        build::POST,
        build::ITEM,
        build::SPLITTER,
        0x77,
    ] {
        let sizes = build::with(build::modern(), code, u16::MAX);
        let mut b = Builder::new(&sizes);
        b.game_start();
        for id in -123..-118 {
            b.frame_with(id, |b| match code {
                build::ITEM => {
                    b.item(id, 7);
                }
                build::SPLITTER => {
                    b.splitter(build::GECKO, &[0xAB; 100], id == -119);
                }
                0x77 => {
                    b.event(0x77, &[1, 2, 3]);
                }
                _ => {}
            });
        }
        b.game_end(2);
        let file = b.file();
        let (game, peak) = peak_alloc(|| decode(&file));
        let game = game.unwrap_or_else(|e| panic!("0x{code:02x}: {e}"));
        assert!(game.is_complete(), "0x{code:02x}: {:?}", game.warnings);
        assert_sample_frames(&game, 5);
        match code {
            build::ITEM => assert_eq!(game.frames.item_count(), 5),
            build::SPLITTER => assert!(game.gecko_codes.as_deref() == Some(&[0xAB; 500][..])),
            0x77 => assert_eq!(
                warned(&game, |k| *k == WarningKind::UnknownEvent { code }),
                1
            ),
            _ => assert!(game.warnings.is_empty(), "{:?}", game.warnings),
        }
        // The input is not copied: a few events' worth at most.
        assert!(peak < 512 << 10, "0x{code:02x}: allocated {peak} bytes");

        // Streamed in small pieces: the carry-over holds at most one event.
        let raw = raw_stream(&file).unwrap();
        let (streamed, peak) = peak_alloc(|| {
            let mut d = Decoder::new(DecodeOptions::default(), 15);
            for chunk in raw.chunks(1000) {
                d.feed(chunk).unwrap();
            }
            d.finish().unwrap()
        });
        assert!(game_diff(&game, &streamed).is_none());
        assert!(
            peak < 1 << 20,
            "0x{code:02x}: streaming allocated {peak} bytes"
        );

        // Cut inside one of the big events: the frames before it are kept.
        if code != build::START {
            let cut = &file[..file.len() / 2];
            let game = decode(cut).unwrap();
            assert!(game.damage().is_some(), "0x{code:02x}");
            assert!(game.frames.len() < 5, "0x{code:02x}");
            assert_sample_frames(&game, game.frames.len() as i32);
        }
    }
}

#[test]
fn endless_message_splitter_is_capped() {
    let blocks = MAX_SPLIT_BYTES / 512 + 2000;
    for finish_message in [false, true] {
        let mut b = Builder::new(&build::modern());
        b.game_start();
        for i in 0..blocks {
            b.splitter(build::GECKO, &[i as u8; 512], false);
        }
        if finish_message {
            b.splitter(build::GECKO, &[1; 10], true);
        }
        b.frames(3).game_end(2);
        let file = b.file();
        assert!(file.len() > MAX_SPLIT_BYTES);
        let (game, peak) = peak_alloc(|| decode(&file));
        let game = game.unwrap();
        let overflow = WarningKind::SplitterOverflow {
            limit: MAX_SPLIT_BYTES as u64,
        };
        assert_eq!(warned(&game, |k| *k == overflow), 1, "{:?}", game.warnings);
        assert!(game.is_complete(), "{:?}", game.warnings);
        assert_sample_frames(&game, 3);
        // The overflowing message is discarded as the warning says, not delivered in part.
        assert!(
            game.gecko_codes.is_none(),
            "finished message: {finish_message}: {:?} bytes of Gecko codes delivered",
            game.gecko_codes.as_ref().map(Vec::len)
        );
        assert!(
            peak <= MAX_SPLIT_BYTES + (256 << 10),
            "allocated {peak} bytes for a {} byte cap",
            MAX_SPLIT_BYTES
        );

        let raw = raw_stream(&file).unwrap();
        let (streamed, peak) = peak_alloc(|| {
            let mut d = Decoder::new(DecodeOptions::default(), 15);
            for chunk in raw.chunks(4096) {
                d.feed(chunk).unwrap();
            }
            d.finish().unwrap()
        });
        assert!(game_diff(&game, &streamed).is_none());
        assert!(
            peak <= MAX_SPLIT_BYTES + (256 << 10),
            "streaming allocated {peak} bytes"
        );
    }
}

#[test]
fn non_replays_get_a_clear_error() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(200, 0);
    let sig = SIGNATURE.to_vec();
    let with = |tail: &[u8]| [&SIGNATURE[..], tail].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a Slippi replay: only 0 bytes long"),
        ("10 bytes", vec![0x7B; 10], "only 10 bytes long"),
        (
            "text",
            b"This is not a replay, just text.\n".to_vec(),
            "a text file",
        ),
        ("png", png, "a PNG image"),
        ("json", br#"{"raw": [1, 2, 3]}"#.to_vec(), "UBJSON or JSON"),
        ("signature only", sig.clone(), "before the raw-length field"),
        (
            "signature and length",
            with(&[0, 0, 0, 9]),
            "before Event Payloads",
        ),
        (
            "raw length 0, nothing",
            with(&[0, 0, 0, 0]),
            "before Event Payloads",
        ),
        (
            "half a payload table",
            with(&[0, 0, 0, 9, 0x35, 4, 0x36]),
            "before Event Payloads",
        ),
        (
            "Game Start first",
            with(&[0, 0, 0, 2, 0x36, 0]),
            "expected Event Payloads",
        ),
        (
            "Game Start undeclared",
            with(&[0, 0, 0, 5, 0x35, 4, 0x37, 0, 58]),
            "Game Start is not declared",
        ),
        (
            "pre-frame before Game Start",
            with(
                &[
                    [0, 0, 0, 67, 0x35, 7, 0x36, 1, 64, 0x37, 0, 58, 0x37].as_slice(),
                    &[0; 58],
                ]
                .concat(),
            ),
            "expected Game Start",
        ),
        (
            "Game Start cut",
            with(&[0, 0, 0, 0, 0x35, 4, 0x36, 1, 64, 0x36, 3, 18]),
            "before Game Start was complete",
        ),
    ];
    for (what, bytes, expect) in cases {
        let result = catch_unwind(|| (decode(&bytes), read_summary(&bytes)))
            .unwrap_or_else(|_| panic!("{what}: panicked"));
        let err = result.0.expect_err(what).to_string();
        assert!(err.contains(expect), "{what}: {err}");
        let err = result.1.expect_err(what).to_string();
        assert!(err.contains(expect), "{what} (summary): {err}");
        if what == "empty" || what == "png" || what == "text" || what == "json" {
            assert!(err.starts_with("not a Slippi replay"), "{what}: {err}");
        }
    }
}

#[test]
fn missing_and_double_game_end() {
    for sizes in [build::modern(), build::v0_1()] {
        // Missing: every frame kept, no end, not complete, but nothing damaged.
        let mut b = Builder::new(&sizes);
        b.game_start().frames(8);
        let game = decode(&b.file()).unwrap();
        assert_eq!(game.frames.len(), 8);
        assert!(game.end.is_none() && !game.is_complete());
        assert!(game.warnings.is_empty(), "{:?}", game.warnings);

        // Double: the first is kept, the second is a warning.
        let mut b = build::sample(&sizes, 8);
        b.game_end(7);
        let game = decode(&b.file()).unwrap();
        assert_eq!(game.frames.len(), 8);
        assert_eq!(game.end.as_ref().unwrap().method, EndMethod(2));
        assert_eq!(warned(&game, |k| *k == WarningKind::DuplicateGameEnd), 1);
        assert!(game.is_complete());

        // Frames after Game End are ignored with one warning.
        let mut b = build::sample(&sizes, 8);
        b.frame(-115).frame(-114);
        let game = decode(&b.file()).unwrap();
        assert_eq!(game.frames.len(), 8);
        assert_eq!(warned(&game, |k| *k == WarningKind::EventsAfterGameEnd), 1);
    }
}

#[test]
fn declared_unknown_events_are_skipped_by_size() {
    let sizes = [build::modern(), vec![(0x50, 7), (0x7F, 300)]].concat();
    let mut b = Builder::new(&sizes);
    b.game_start();
    for id in -123..-103 {
        b.frame_with(id, |b| {
            b.event(0x50, &[0x37; 7]);
        });
        b.event(0x7F, &[0x38; 300]);
    }
    b.game_end(2);
    let game = decode(&b.file()).unwrap();
    assert!(game.is_complete(), "{:?}", game.warnings);
    assert_sample_frames(&game, 20);
    for code in [0x50, 0x7F] {
        assert_eq!(
            warned(&game, |k| *k == WarningKind::UnknownEvent { code }),
            1
        );
    }
    assert_eq!(game.warnings.len(), 2, "{:?}", game.warnings);
}

#[test]
fn undeclared_event_is_damage_and_keeps_the_frames_before() {
    for sizes in [build::modern(), build::v0_1()] {
        let bookends = sizes.iter().any(|s| s.0 == build::BOOKEND);
        let mut b = Builder::new(&sizes);
        b.game_start().frames(6);
        let mut at = 0;
        // Frame 7 is cut by the undeclared event, between its pre- and post-frame updates.
        b.frame_with(-117, |b| {
            at = b.file_offset();
            b.bytes(&[0x50, 1, 2, 3, 4]);
        });
        b.frames(4).game_end(2);
        let game = decode(&b.file()).unwrap();
        let damage = game.damage().expect("damage warning");
        assert_eq!(damage.offset, at as u64);
        assert!(
            matches!(&damage.kind, WarningKind::Corrupt { reason } if reason.contains("0x50")),
            "{damage}"
        );
        assert_sample_frames(&game, 6);
        assert!(game.end.is_none());
        // Pre-3.0 the damaged frame had its pre-frame updates only: dropped, and said so.
        if !bookends {
            assert_eq!(
                warned(&game, |k| matches!(
                    k,
                    WarningKind::IncompleteFrame { frame: -117, .. }
                )),
                1,
                "{:?}",
                game.warnings
            );
        }
    }
}

#[test]
fn extreme_frame_ids_and_last_frame_do_not_overflow() {
    for sizes in [build::modern(), build::v0_1()] {
        // Complete frames with ids i32::MIN and i32::MAX around the real ones; the metadata's
        // lastFrame is i32::MAX.
        let mut b = Builder::new(&sizes);
        b.game_start()
            .frame(i32::MIN)
            .frames(5)
            .frame(i32::MAX)
            .game_end(2);
        let file = b.file();
        let game = catch_unwind(|| decode(&file).unwrap()).expect("decode panicked");
        assert_eq!(game.frames.len(), 7);
        assert_eq!(game.frames.id[0], i32::MIN);
        let duration = catch_unwind(|| game.duration_frames()).expect("duration panicked");
        assert_eq!(duration, 1 << 32);
        let summary = catch_unwind(|| read_summary(&file).unwrap()).expect("summary panicked");
        assert_eq!(summary.frames, Some(i32::MAX as usize + 124));
        // Unfinished recording: the summary decodes to count frames.
        let mut unfinished = file.clone();
        unfinished[11..15].fill(0);
        let summary = catch_unwind(|| read_summary(&unfinished).unwrap()).expect("panicked");
        assert_eq!(summary.frames, Some(1 << 32));
    }
}

/// A stream of frames made of a Frame Start and a Frame Bookend only (14 bytes a frame, the
/// most rows per byte), ids in the given order.
fn bare_frames(ids: impl IntoIterator<Item = i32>) -> Vec<u8> {
    let mut b = Builder::new(&build::modern());
    b.game_start();
    for id in ids {
        let p = [id.to_be_bytes(), [0; 4]].concat();
        b.event(build::FRAME_START, &p).event(build::BOOKEND, &p);
    }
    b.game_end(2);
    b.file()
}

#[test]
fn out_of_order_frame_ids_cannot_cost_quadratic_time() {
    // A few frames arriving late (never seen before) are put in order.
    let mut b = Builder::new(&build::modern());
    b.game_start();
    for id in [0, 1, 2, 5, 4, 3, 6] {
        b.frame(id);
    }
    b.game_end(2);
    let game = decode(&b.file()).unwrap();
    assert!(game.is_complete(), "{:?}", game.warnings);
    assert_eq!(game.frames.id, (0..=6).collect::<Vec<_>>());
    for (row, id) in (0..=6).enumerate() {
        assert_eq!(game.frames.ports[0].leader[row].unwrap().pre.x, id as f32);
    }

    // Ever-lower new ids, and descending runs of 33 (each late frame 1 to 32 rows back) in
    // ascending blocks: a late frame must not move every later row of every column.
    let descending = bare_frames((0..150_000).map(|i| -i));
    let blocks = bare_frames((0..150_000).map(|i| (i / 33) * 33 + 32 - i % 33));
    for (what, file) in [("descending", descending), ("descending runs", blocks)] {
        let started = Instant::now();
        let (game, peak) = peak_alloc(|| decode(&file).unwrap());
        let took = started.elapsed();
        eprintln!(
            "{what}: {} bytes, {} frames kept, {took:?}, {:.1} MiB, damage: {:?}",
            file.len(),
            game.frames.len(),
            peak as f64 / (1 << 20) as f64,
            game.damage().map(|w| w.to_string())
        );
        assert!(took < DECODE_BUDGET, "{what}: {took:?}");
        assert!(peak < memory_cap(file.len()), "{what}: {peak} bytes");
        assert!(game.frames.len() <= file.len() / 10);
        assert!(
            game.frames.id.windows(2).all(|w| w[0] < w[1]),
            "{what}: not in order"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// 4. Streaming equivalence

/// Random chunk sizes from 1 byte to 64 KiB, log-uniform (many small ones, some large).
fn chunk_size(rng: &mut StdRng) -> usize {
    let bits = rng.gen_range(0..=16);
    rng.gen_range(1..=1usize << bits)
}

#[test]
fn streaming_in_random_chunks_equals_reading_the_whole_file() {
    announce_seed("streaming");
    let dir = common::replays_dir();
    let files = [
        // 0.1.0: no Frame Bookend, frames close when the next begins.
        "games/peppi__v0.1.slp",
        // 3.14 online with 2455 rollback re-sends, items, Gecko codes in splitter blocks.
        "games/py-slippi__NUT_356_Falco_vs_HACH_920_Sheik_on_YS_-_12-21-22_03.10am.slp",
        // 3.18 and 3.19: stage events, newest fields.
        "edge/peppi__v3.18.slp",
        "edge/exphil__fox_multishine.slp",
        // Ice Climbers on 1.0: follower columns.
        "edge/peppi__ics.slp",
    ];
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let raw_len = header(&bytes).unwrap() as usize;
        let raw = &bytes[RAW_START..RAW_START + raw_len];
        for (m, opts) in [DecodeOptions::default(), first_occurrence()]
            .into_iter()
            .enumerate()
        {
            let whole = read(&bytes, opts).unwrap();
            assert!(whole.is_complete(), "{file}: {:?}", whole.warnings);
            let mut rng = rng_for("streaming", (i * 2 + m) as u64);
            let mut d = Decoder::new(opts, RAW_START as u64);
            let (mut pos, mut chunks, mut rows) = (0, 0, 0);
            while pos < raw.len() {
                let n = chunk_size(&mut rng).min(raw.len() - pos);
                d.feed(&raw[pos..pos + n]).unwrap();
                pos += n;
                chunks += 1;
                assert_eq!(d.offset(), (RAW_START + pos) as u64, "{file}: offset");
                // Committed rows only ever grow while streaming.
                let now = d.game().map_or(0, |g| g.frames.len());
                assert!(now >= rows, "{file}: rows went from {rows} to {now}");
                rows = now;
            }
            let streamed = d.finish().unwrap();
            if let Some(diff) = game_diff(&whole, &streamed) {
                panic!("{file} ({opts:?}) in {chunks} chunks: {diff}");
            }
            assert_eq!(streamed.warnings, whole.warnings, "{file}");
            assert!(
                streamed.metadata.is_none(),
                "the raw stream has no metadata"
            );
            eprintln!(
                "{file} ({:?}): {chunks} chunks, {rows} frames",
                opts.rollback
            );
        }
    }
    // One small file a byte at a time.
    let bytes = std::fs::read(dir.join("edge/peppi__v3.18.slp")).unwrap();
    let raw = &bytes[RAW_START..RAW_START + header(&bytes).unwrap() as usize];
    let mut d = Decoder::new(DecodeOptions::default(), RAW_START as u64);
    for b in raw.chunks(1) {
        d.feed(b).unwrap();
    }
    let streamed = d.finish().unwrap();
    let whole = read(&bytes, DecodeOptions::default()).unwrap();
    assert!(game_diff(&whole, &streamed).is_none(), "byte at a time");
}

// ------------------------------------------------------------------------------------------------
// Regression inputs: crashes found by this file or by `cargo fuzz` are kept in fuzz/regressions.

#[test]
fn fuzz_regressions_decode_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        for split in [0, data.len() / 2, usize::MAX] {
            if let Some(why) = mutation_trial(&data, split).failure {
                panic!("{}: {why}", path.display());
            }
        }
    }
}
