//! Embedding for exphil: what a policy is trained to output and, later, the game-state features
//! it reads. Plain arrays and integer classes only; no tensor or ML framework here.
//!
//! The **game-state embedding** ([`Embedder`], [`EmbedConfig`] with named presets, [`Layout`])
//! turns an [`exphil_state::GameState`] into f32 features and integer ids, identically for
//! replays and for play; [`mirror`] is the left/right augmentation.
//!
//! The **controller targets**: a [`Controller`](exphil_state::Controller)
//! becomes eight button bits and one class per stick axis and for the shoulder ([`Targets`]), and
//! every class decodes back to a controller value, which is how a policy's output is played.
//! Stick axes are discretised either into uniform buckets on the GameCube's raw stick grid or
//! into k-means centres fitted from replays ([`kmeans`], [`StickCenters`], `exphil kmeans`).
//!
//! ```
//! use exphil_embed::{TargetCoder, TargetConfig};
//! use exphil_state::Controller;
//! let coder = TargetCoder::new(TargetConfig::default())?;
//! let t = coder.encode(&Controller { main_x: 1.0, ..Controller::NEUTRAL });
//! assert_eq!((t.main_x, t.main_y), (16, 8)); // 17 classes, 8 is neutral
//! assert_eq!(coder.decode(&t).main_x, 1.0);
//! # Ok::<(), exphil_embed::ConfigError>(())
//! ```
#![deny(missing_docs)]

mod augment;
mod centers;
mod config;
mod error;
mod features;
pub mod kmeans;
mod targets;

pub use augment::{add_noise, mirror};
pub use centers::{fit_stick_centers, AxisHistogram, StickCenters, StickHistograms};
pub use config::{
    AxisCenters, ConfigError, StickDiscretization, TargetConfig, DEFAULT_SHOULDER_BUCKETS,
    DEFAULT_STICK_SPACING, MAX_CLASSES, STICK_RAW_SPAN,
};
pub use error::{Error, Result};
pub use features::{
    ledge_x, Anomaly, Component, ComponentKind, EmbedConfig, EmbedConfigError, Embedder,
    FighterFeatures, FrameContext, IdMode, Layout, NanaMode, StageMode, ACTION_VOCAB,
    CHARACTER_VOCAB, DELAY_VOCAB, ITEM_TYPE_VOCAB, MAX_PREV_CONTROLLERS, PRESETS, STAGE_VOCAB,
};
pub use kmeans::{KMeans, KMeansConfig, KMeansError, KMeansFit};
pub use targets::{
    AxisBuckets, NumClasses, TargetCoder, Targets, NUM_BUTTONS, TARGET_COLUMNS, TARGET_NAMES,
};
