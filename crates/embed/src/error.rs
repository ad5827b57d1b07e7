//! The crate's error type and `Result` alias.

use crate::config::ConfigError;
use crate::kmeans::KMeansError;
use std::path::PathBuf;

/// Everything that can go wrong in `exphil-embed`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration (or a centres file's centres) breaks a rule.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// k-means could not fit one stick axis.
    #[error("k-means on the {axis} axis: {error}")]
    KMeans {
        /// The axis (`main_x`, `main_y`, `c_x`, `c_y`).
        axis: &'static str,
        /// Why.
        error: KMeansError,
    },
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A stick-centres file is not valid JSON of the expected shape.
    #[error("{}: not a stick-centres file (as `exphil kmeans` writes): {error}", path.display())]
    CentersFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: serde_json::Error,
    },
    /// A stick-centres file has a format version this build does not read.
    #[error(
        "{}: stick-centres file version {version}; this build reads version {supported}",
        path.display()
    )]
    CentersVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        version: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A stick-centres file's centres break a rule.
    #[error("{}: {error}", path.display())]
    InvalidCenters {
        /// The file.
        path: PathBuf,
        /// Which rule.
        error: ConfigError,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
