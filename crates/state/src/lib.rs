//! The ego-centric game state that every stage of exphil shares: built from decoded replays for
//! training, and from UMI v1 frames (and later the Dolphin stream and the simulator) for play,
//! so one embedding function serves both. Framework-free: no tensor library here.
#![deny(missing_docs)]

mod controller;
mod delay;
mod frame;
mod replay;
pub mod stage;
pub mod umi;

pub use controller::{Buttons, Controller, BUTTON_NAMES};
pub use delay::DelayQueue;
pub use frame::{Fighter, GameState, ItemState, MAX_ITEMS};
pub use replay::{states, StateBuilder};
pub use umi::{FrameSizeError, FRAME_BYTES};
