//! Every shared replay decodes (games fully, edge files or with a clear error), and decoded
//! values agree with the manifest.

use exphil_testdata as common;

use exphil_replay::*;

#[test]
fn all_games_decode_fully_with_manifest_frame_counts() {
    let games: Vec<_> = common::manifest()
        .into_iter()
        .filter(|e| e.is_game())
        .collect();
    assert_eq!(games.len(), 37, "the shared set has 37 complete games");
    for e in &games {
        let game = read_file(&e.path, DecodeOptions::default())
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert!(game.is_complete(), "{}: {:?}", e.file, game.warnings);
        assert_eq!(
            game.frames.len(),
            e.frames.unwrap(),
            "{}: frame count",
            e.file
        );
        assert_eq!(game.duration_frames(), e.frames.unwrap(), "{}", e.file);
        assert_eq!(game.start.version.to_string(), e.version, "{}", e.file);
        assert_eq!(game.start.stage.name().unwrap(), e.stage, "{}", e.file);
        assert_eq!(game.frames.id[0], -123, "{}", e.file);
        for port in &game.frames.ports {
            assert!(
                port.leader.iter().all(Option::is_some),
                "{}: {} has gaps",
                e.file,
                port.port
            );
        }
        for p in &game.start.players {
            assert!(
                e.characters.contains(&p.character.to_string()),
                "{}: {}",
                e.file,
                p.character
            );
        }
        let meta = game.metadata.as_ref().expect("games have metadata");
        if let Some(last) = meta.last_frame {
            assert_eq!(Some(last), game.frames.id.last().copied(), "{}", e.file);
        }
    }
}

#[test]
fn every_edge_file_decodes_or_fails_clearly() {
    for e in common::manifest().into_iter().filter(|e| !e.is_game()) {
        let bytes = std::fs::read(&e.path).unwrap();
        match read(&bytes, DecodeOptions::default()) {
            Ok(game) => {
                assert!(!e.not_a_replay(), "{} decoded but is not a replay", e.file);
                if let Some(n) = e.frames {
                    assert_eq!(game.frames.len(), n, "{}: frame count", e.file);
                }
            }
            Err(err) => {
                let msg = err.to_string();
                if e.not_a_replay() {
                    assert!(msg.starts_with("not a Slippi replay"), "{}: {msg}", e.file);
                } else {
                    // Only files the reference parser also rejects may fail, and then with a
                    // specific reason that names the byte offset.
                    assert!(e.peppi_failed(), "{}: unexpected failure: {msg}", e.file);
                    assert!(
                        msg.contains("at byte"),
                        "{}: unspecific error: {msg}",
                        e.file
                    );
                }
            }
        }
    }
}

/// A file's frame columns are sized from its length before the frames arrive (the speed is the
/// decode bench's to show); the memory this reserves stays within twice the frames the file
/// holds: the estimate counts a frame's character events, and items, stage events and rollback
/// re-sends only make real frames longer.
#[test]
fn frame_columns_reserved_from_the_file_stay_within_twice_its_frames() {
    for e in common::manifest().into_iter().filter(|e| e.is_game()) {
        let game = read_file(&e.path, DecodeOptions::default()).unwrap();
        let rows = game.frames.len();
        for port in &game.frames.ports {
            let reserved = port.leader.capacity();
            assert!(
                reserved >= rows && reserved <= 2 * rows,
                "{}: {rows} frames, {reserved} reserved",
                e.file
            );
        }
    }
}
