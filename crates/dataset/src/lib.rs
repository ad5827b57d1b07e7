//! Training datasets for exphil: decoded replays become examples (what a live bot has seen
//! after frame `t`, and its input for frame `t + 1 + delay` as the target) for one or both players of each game, written per game
//! as a Parquet frame table (raw fields and targets, readable without exphil) and as
//! compressed (or memory-mappable `.npy`) shards (features, ids, targets), keyed by a cache key so that a rebuild
//! redoes exactly what changed. The loader serves shuffled minibatches of frames or windows that
//! never cross a game, split into training and validation by whole games.
#![deny(missing_docs)]

mod examples;
mod loader;
pub mod npy;
pub mod packed;
mod shard;
mod split;
mod streams;
pub use crate::examples::{
    game_examples, game_examples_named, perspective_ports, ExampleConfig, ExampleConfigError,
    GameExamples, LiveGame, NoiseConfig, Perspective, SkipReason, MAX_DELAY_FRAMES,
    MAX_NOISE_COPIES, PAIRING_VERSION, VARIANT_MIRRORED, VARIANT_NOISY_FIRST, VARIANT_ORIGINAL,
};
pub use crate::streams::{StreamBatch, StreamConfig, StreamLoader};
mod names;
pub use crate::loader::{unit_starts, Batch, Epoch, Loader, LoaderConfig, LoaderError};
pub use crate::names::{
    normalize, player_key, PlayerRegistry, RegistryError, REGISTRY_FILE, REGISTRY_VERSION,
};
pub use crate::shard::{
    target_row, targets_of, Compression, Precision, Shard, ShardError, ShardInfo, ARRAYS,
    OLDEST_SHARD_FORMAT, PACKED_FILE, SHARD_FORMAT_VERSION, TARGET_COLUMNS,
};
pub use crate::split::{split_games, Split};

mod parquet;
pub use crate::parquet::{
    read_footer, table_columns, FrameTable, TableError, TableFooter, TABLE_FORMAT_VERSION,
};
mod build;
pub use crate::build::{
    build, BuildConfig, BuildError, BuildReport, DatasetManifest, GameEntry, GamePlayer,
    PlayerNames, Progress, RegistryEntry, ShardEntry, SkippedFile, FORMAT_VERSION, MANIFEST_FILE,
};
mod info;
pub use crate::info::{summarize, DatasetSummary};
mod settings;
pub use crate::settings::{BuildSettings, EmbedSource, FilterSettings, NamesSource, SettingsError};
