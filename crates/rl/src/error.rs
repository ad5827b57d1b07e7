//! Why a PPO run, a match or a launch could not go on. Every message names the file, the run or
//! the setting.

/// Why a PPO run, a match or a launch could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// A run directory, its record or the registry.
    #[error(transparent)]
    Models(#[from] exphil_runs::rundir::ModelsError),
    /// A checkpoint directory.
    #[error(transparent)]
    Checkpoint(#[from] exphil_runs::checkpoint::CheckpointError),
    /// The run's config.
    #[error(transparent)]
    Config(#[from] exphil_runs::presets::ConfigError),
    /// A weights file.
    #[error(transparent)]
    Load(#[from] exphil_policy::file::LoadError),
    /// A device this build does not have.
    #[error(transparent)]
    Device(#[from] exphil_policy::device::DeviceError),
    /// A policy that cannot play.
    #[error(transparent)]
    Agent(#[from] exphil_policy::agent::AgentError),
    /// The training side (the device, the optimiser).
    #[error(transparent)]
    Train(#[from] exphil_train::error::TrainError),
    /// A named-tensor file.
    #[error(transparent)]
    Tensors(#[from] exphil_runs::tensors::TensorFileError),
    /// The embedding a policy names.
    #[error(transparent)]
    Embed(#[from] exphil_embed::EmbedConfigError),
    /// The targets a policy names.
    #[error(transparent)]
    Targets(#[from] exphil_embed::ConfigError),
    /// A bot name that is none of the bots.
    #[error(transparent)]
    Bot(#[from] exphil_sim::UnknownBot),
    /// A character the simulator does not have.
    #[error(transparent)]
    Fighter(#[from] exphil_sim::UnknownFighter),
    /// A record that does not serialise or parse.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file system operation (the context says on what).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A request refused: the message says what and why.
    #[error("{0}")]
    Refused(String),
    /// What was being done when an error happened, and the error.
    #[error("{what}")]
    Context {
        /// What was being done.
        what: String,
        /// What went wrong.
        source: Box<RlError>,
    },
}

/// This crate's results.
pub type Result<T, E = RlError> = std::result::Result<T, E>;

/// Says what was being done when an error happened (the error becomes its source).
pub trait Doing<T> {
    /// This result, an error wrapped in [`RlError::Context`] saying `what`.
    fn doing(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<RlError>> Doing<T> for std::result::Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| RlError::Context {
            what: what(),
            source: Box::new(e.into()),
        })
    }
}

/// Returns a [`RlError::Refused`] with the formatted message.
macro_rules! refuse {
    ($($t:tt)*) => {
        return Err($crate::error::RlError::Refused(format!($($t)*)))
    };
}
pub(crate) use refuse;

/// A line a run has for its user: for standard output (the record: updates' results, the
/// summary) or standard error (notes and warnings). The caller prints them (or keeps them).
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// For standard output.
    Out(String),
    /// For standard error.
    Note(String),
    /// How far the run is: `done` of `total` frames, with a short status (a progress bar on a
    /// terminal; nothing elsewhere, where the `Note` lines say the same).
    Progress {
        /// Frames done.
        done: u64,
        /// Frames in all.
        total: u64,
        /// The latest update's figures, in a few words.
        message: String,
    },
}

/// Where a run's lines go.
pub type Say<'a> = &'a dyn Fn(Line);
