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
