//! Decodes replay files and prints a one-line summary of each (a debugging aid).
use exphil_replay::*;
fn main() {
    for path in std::env::args().skip(1) {
        match read_file(path.as_ref(), DecodeOptions::default()) {
            Ok(g) => println!(
                "{path}: v{} frames={} items={} resends={} end={:?} warnings={:?}",
                g.start.version,
                g.frames.len(),
                g.frames.item_count(),
                g.rollback_resends,
                g.end.as_ref().map(|e| e.method.to_string()),
                g.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>()
            ),
            Err(e) => println!("{path}: ERROR {e}"),
        }
    }
}
