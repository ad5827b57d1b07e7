//! Real frames for policy tests: one port's examples of a shared game and the input spec they
//! fit (the default embedding and targets). Included by `crates/policy/tests/temporal.rs` and
//! `crates/train/tests/vulkan.rs`.

use exphil_dataset::{game_examples, ExampleConfig, GameExamples, Perspective};
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig};
use exphil_policy::InputSpec;
use exphil_replay::{read_file, DecodeOptions};

/// The shared game the tests read.
pub const GAME: &str = "py-slippi__ACID_441_Peach_vs_NUT_356_Marth_on_FD_-_12-15-22_01.42am.slp";

/// Port 1's examples of [`GAME`] and the spec they fit.
pub fn real_frames() -> (InputSpec, GameExamples) {
    let embedder = Embedder::new(EmbedConfig::default()).unwrap();
    let coder = TargetCoder::new(TargetConfig::default()).unwrap();
    let spec = InputSpec::new(embedder.layout(), coder.num_classes());
    let game = read_file(
        &exphil_testdata::replays_dir().join("games").join(GAME),
        DecodeOptions::default(),
    )
    .unwrap();
    let cfg = ExampleConfig {
        perspective: Perspective::Port(1),
        ..ExampleConfig::default()
    };
    let ex = game_examples(&game, &embedder, &coder, &cfg)
        .unwrap()
        .remove(0);
    (spec, ex)
}
