//! Fuzzes the whole-file reader, the summary reader, and the streaming decoder (the same bytes
//! fed in two pieces must decode exactly as in one).
#![no_main]

use exphil_replay::{header, read, read_summary, DecodeOptions, Decoder, RollbackMode, RAW_START};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = read(data, DecodeOptions::default());
    let _ = read_summary(data);
    if let Ok(game) = &whole {
        let _ = (game.duration_frames(), game.is_complete());
        for frame in game.frames.iter() {
            let _ = (
                frame.players().count(),
                frame.items().len(),
                frame.stage_events().len(),
            );
        }
    }
    let _ = read(
        data,
        DecodeOptions {
            rollback: RollbackMode::First,
        },
    );

    // The raw stream `read` decodes, streamed in two pieces split at a point taken from the data.
    let Ok(raw_len) = header(data) else { return };
    let raw = match raw_len as usize {
        0 => &data[RAW_START..],
        n => &data[RAW_START..(RAW_START + n).min(data.len())],
    };
    let split = data.last().map_or(0, |&b| b as usize * raw.len() / 255);
    let mut decoder = Decoder::new(DecodeOptions::default(), RAW_START as u64);
    let streamed = decoder
        .feed(&raw[..split])
        .and_then(|()| decoder.feed(&raw[split..]))
        .and_then(|()| decoder.finish());
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.frames.id, b.frames.id, "frame ids differ when streamed");
            assert_eq!(a.end, b.end, "Game End differs when streamed");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "errors differ when streamed"),
        (a, b) => panic!(
            "read gives {:?}, streaming {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
});
