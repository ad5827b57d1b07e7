//! The Slippi Dolphin live link (FORMATS §2): the spectator stream over ENet, decoded live by
//! the replay crate's streaming decoder; controller pipes with a delay queue; a fresh Dolphin
//! user directory per instance; and menu navigation. Framework-free: no tensor library here.
#![deny(missing_docs)]

pub mod live;
pub mod menu;
pub mod pipe;
pub mod spectator;
pub mod userdir;

pub use live::{seats, LiveEvent, LiveStream, SeatView};
pub use menu::{MenuGoal, MenuState, Navigator, Scene};
pub use pipe::{make_fifo, ControllerPipe, Pad, PipeError, PAD_BUTTONS};
pub use spectator::{Message, SpectatorClient, SpectatorError};
pub use userdir::{Dolphin, UserDir, UserDirOptions};
