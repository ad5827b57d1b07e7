//! UMI v1, the bot protocol of the Computer Melee Championship (FORMATS §3): a msgpack codec
//! that never allocates more than the bytes it was given, the length-prefixed framing with its
//! limits, and the typed messages a bot reads and writes. No ML dependency.
#![deny(missing_docs)]

pub mod arena;
pub mod msgpack;
pub mod protocol;

pub use msgpack::{DecodeError, Value};
pub use protocol::{
    characters_of, umi_character_name, Controller13, EndGames, GameInfo, Hello, Message, Obs,
    ProtocolError, Welcome, CTRL_LEN, MAX_MESSAGE, UMI_VERSION,
};
