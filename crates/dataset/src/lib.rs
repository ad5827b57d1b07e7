//! Training datasets for exphil: decoded replays become examples (embedded game state at
//! `t - delay`, controller targets at `t`) for one or both players of each game, written per game
//! as a Parquet frame table (raw fields and targets, readable without exphil) and as
//! memory-mappable `.npy` shards (features, ids, targets), keyed by a cache key so that a rebuild
//! redoes exactly what changed. The loader serves shuffled minibatches of frames or windows that
//! never cross a game, split into training and validation by whole games.
#![deny(missing_docs)]

mod examples;
mod loader;
pub mod npy;
mod shard;
mod split;
pub use crate::examples::{
    game_examples, perspective_ports, ExampleConfig, ExampleConfigError, GameExamples, Perspective,
    SkipReason, MAX_DELAY_FRAMES,
};
pub use crate::loader::{unit_starts, Batch, Epoch, Loader, LoaderConfig, LoaderError};
pub use crate::shard::{
    target_row, targets_of, Precision, Shard, ShardError, ShardInfo, ARRAYS, SHARD_FORMAT_VERSION,
    TARGET_COLUMNS,
};
pub use crate::split::{assign_split, Split};

mod parquet;
pub use crate::parquet::{
    read_footer, table_columns, FrameTable, TableError, TableFooter, TABLE_FORMAT_VERSION,
};
mod build;
pub use crate::build::{
    build, BuildConfig, BuildError, BuildReport, DatasetManifest, GameEntry, GamePlayer, Progress,
    ShardEntry, SkippedFile, FORMAT_VERSION, MANIFEST_FILE,
};
mod info;
pub use crate::info::{summarize, DatasetSummary};
