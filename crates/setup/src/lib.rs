//! The `exphil setup` wizard without the ML framework: a few questions, each with a default
//! (goal, character, hardware, replay folder, advanced options), that end in the exact
//! `exphil train …` command and whether to run it.
//!
//! The core is pure: [`detect`] reads the machine (cores, memory, GPUs) from `/proc` and `/sys`,
//! [`command`] turns [`Answers`] into the argv after `exphil`, [`shell_line`] quotes it for
//! copy-paste. The questions go through the [`Ask`] trait, answered on a terminal with arrow keys
//! ([`Terminal`]) or line by line ([`Lines`], also what the tests drive). The library reads no
//! environment variable: the caller passes them in an [`Env`].
#![deny(missing_docs)]

mod ask;
mod machine;
mod shell;
mod wizard;

pub use ask::{Ask, Lines, Terminal};
pub use machine::{detect, detect_at, recommended_batch_size, Machine};
pub use shell::shell_line;
pub use wizard::{command, count_replays, wizard, Answers, Env, Goal, Plan};

/// What can stop the wizard.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Reading an answer or writing a question failed.
    #[error("the wizard could not talk to the terminal: {0}")]
    Io(#[from] std::io::Error),
    /// The terminal prompt failed.
    #[error("the terminal prompt failed: {0}")]
    Prompt(String),
    /// The user left a menu (Esc or q).
    #[error("setup cancelled")]
    Cancelled,
    /// A question was answered badly too many times in a row.
    #[error("no valid answer to \"{0}\" after {TRIES} tries")]
    TooManyTries(String),
    /// Fine-tuning needs a run to start from and none was given or found.
    #[error("fine-tuning needs the run to start from (a run directory, its name in the registry or a weights file); none was given and none was found in {0}")]
    NoPretrained(std::path::PathBuf),
}

/// How many bad answers in a row a question takes before [`SetupError::TooManyTries`].
pub const TRIES: usize = 20;

/// The result type of this crate.
pub type Result<T, E = SetupError> = std::result::Result<T, E>;
