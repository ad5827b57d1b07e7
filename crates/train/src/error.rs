//! Why training stopped with an error.

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Repeated non-finite losses or gradients.
    #[error("{0}")]
    Diverged(String),
    /// An invalid setting.
    #[error("{0}")]
    Config(String),
}

pub(crate) fn ck<E: std::fmt::Display>(e: E) -> TrainError {
    TrainError::Checkpoint(e.to_string())
}

/// Why a run around the loop (its config, directory, record, weights to start from) or an
/// evaluation could not go on. Every message names the file or the setting.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The loop stopped with an error.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The data could not be prepared.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A run directory, its record or the registry.
    #[error(transparent)]
    Models(#[from] exphil_runs::rundir::ModelsError),
    /// A checkpoint or run directory could not be made or read.
    #[error(transparent)]
    Checkpoint(#[from] exphil_runs::checkpoint::CheckpointError),
    /// A weights file.
    #[error(transparent)]
    Load(#[from] exphil_policy::file::LoadError),
    /// The embedding a config names.
    #[error(transparent)]
    Embed(#[from] exphil_embed::EmbedConfigError),
    /// The targets a config names.
    #[error(transparent)]
    Targets(#[from] exphil_embed::ConfigError),
    /// A record that does not serialise or parse.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file system operation.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (naming the path).
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A request refused: the message says what and why.
    #[error("{0}")]
    Refused(String),
    /// What was being done when an error happened, and the error.
    #[error("{what}")]
    Context {
        /// What was being done.
        what: String,
        /// What went wrong.
        source: Box<RunError>,
    },
}

/// Says what was being done when an error happened (the error becomes its source).
pub trait Doing<T> {
    /// This result, an error wrapped in [`RunError::Context`] saying `what`.
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, RunError>;
}

impl<T, E: Into<RunError>> Doing<T> for Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, RunError> {
        self.map_err(|e| RunError::Context {
            what: what(),
            source: Box::new(e.into()),
        })
    }
}
