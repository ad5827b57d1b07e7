//! `write` is the inverse of `read`: real replays written back decode to the same game.

use exphil_replay::*;
use exphil_testdata as common;

fn decode(bytes: &[u8]) -> Game {
    read(bytes, DecodeOptions::default()).expect("a written file decodes")
}

/// Replays new enough (3.17+) that every optional field the decoder knows is present, so the
/// written file must decode to exactly the same values.
#[test]
fn new_replays_round_trip_field_for_field() {
    for name in [
        "edge/peppi__v3.18.slp",
        "edge/exphil__fox_multishine.slp",
        "edge/slippi-js__FodPlatforms.slp",
    ] {
        let path = common::replay(name);
        let original = read_file(&path, DecodeOptions::default()).unwrap();
        let bytes = write(&original);
        let copy = decode(&bytes);
        assert!(copy.warnings.is_empty(), "{name}: {:?}", copy.warnings);
        let mut start = original.start.clone();
        start.version = WRITE_VERSION;
        assert_eq!(copy.start, start, "{name}: Game Start");
        assert_eq!(copy.end, original.end, "{name}: Game End");
        assert_eq!(copy.frames.id, original.frames.id, "{name}: frame ids");
        assert_eq!(copy.frames.start, original.frames.start, "{name}");
        assert_eq!(copy.frames.bookend, original.frames.bookend, "{name}");
        for (a, b) in copy.frames.ports.iter().zip(&original.frames.ports) {
            assert_eq!(a.port, b.port);
            assert_eq!(a.follower.len(), b.follower.len(), "{name}");
            let pairs = a.leader.iter().zip(&b.leader);
            for (row, (x, y)) in pairs.chain(a.follower.iter().zip(&b.follower)).enumerate() {
                // 3.17 files have no raw C-stick (3.18): it is written as 0.
                let mut y = *y;
                if let Some(c) = y.as_mut() {
                    c.pre.raw_cstick_x.get_or_insert(0);
                    c.pre.raw_cstick_y.get_or_insert(0);
                }
                assert_eq!(*x, y, "{name}: {} row {row}", a.port);
            }
        }
        for (fa, fb) in copy.frames.iter().zip(original.frames.iter()) {
            assert_eq!(fa.items(), fb.items(), "{name}: items of frame {}", fb.id());
            assert_eq!(fa.stage_events(), fb.stage_events(), "{name}: stage events");
        }
        assert_eq!(
            copy.metadata.as_ref().map(|m| &m.raw),
            original.metadata.as_ref().map(|m| &m.raw),
            "{name}: metadata"
        );
        // Written twice, the bytes are the same.
        assert_eq!(write(&copy), bytes, "{name}: not idempotent");
    }
    let items: usize = {
        let g = read_file(
            &common::replay("edge/exphil__fox_multishine.slp"),
            DecodeOptions::default(),
        )
        .unwrap();
        decode(&write(&g)).frames.item_count()
    };
    assert_eq!(items, 142, "the manifest's item records survive");
}

/// Every shared game, whatever its version, writes a complete file that decodes with no warning
/// to the same frames, and writing that again gives the same bytes.
#[test]
fn every_game_writes_a_complete_replay() {
    for e in common::manifest().into_iter().filter(|e| e.is_game()) {
        let original = read_file(&e.path, DecodeOptions::default()).unwrap();
        let bytes = write(&original);
        let copy = decode(&bytes);
        assert!(copy.is_complete(), "{}: {:?}", e.file, copy.warnings);
        assert!(copy.warnings.is_empty(), "{}: {:?}", e.file, copy.warnings);
        assert_eq!(copy.frames.id, original.frames.id, "{}", e.file);
        assert_eq!(copy.start.players.len(), original.start.players.len());
        for (a, b) in copy.frames.ports.iter().zip(&original.frames.ports) {
            for (x, y) in a.leader.iter().zip(&b.leader) {
                let (x, y) = (x.unwrap(), y.unwrap());
                assert_eq!(x.post.x, y.post.x, "{}", e.file);
                assert_eq!(x.post.action_state, y.post.action_state, "{}", e.file);
                assert_eq!(x.pre.buttons, y.pre.buttons, "{}", e.file);
                assert_eq!(x.pre.joystick, y.pre.joystick, "{}", e.file);
            }
        }
        assert_eq!(write(&copy), bytes, "{}: not idempotent", e.file);
    }
}

#[test]
fn write_file_replaces_atomically_and_reads_back() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-write");
    std::fs::create_dir_all(&dir).unwrap();
    let original = read_file(
        &common::replay("edge/peppi__v3.18.slp"),
        DecodeOptions::default(),
    )
    .unwrap();
    let path = dir.join("copy.slp");
    write_file(&path, &original).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let copy = read_file(&path, DecodeOptions::default()).unwrap();
    assert_eq!(copy.frames.len(), original.frames.len());
    let summary = read_summary(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(summary.frames, Some(original.frames.len()));
    assert_eq!(summary.end, original.end);
}
