//! Event codes, minimum payload sizes, and bounded field reads from one event payload.
//!
//! Every read goes through [`Payload`], which only returns a field when the declared payload
//! holds it entirely. Required fields are guaranteed by checking the payload against the
//! event's minimum size first ([`min_size`]); optional tail fields read as `None`.

/// Message Splitter (3.3+): carries large events in 512-byte blocks.
pub const MESSAGE_SPLITTER: u8 = 0x10;
/// Event Payloads: declares every other event's size.
pub const EVENT_PAYLOADS: u8 = 0x35;
/// Game Start.
pub const GAME_START: u8 = 0x36;
/// Pre-Frame Update.
pub const PRE_FRAME: u8 = 0x37;
/// Post-Frame Update.
pub const POST_FRAME: u8 = 0x38;
/// Game End.
pub const GAME_END: u8 = 0x39;
/// Frame Start (2.2+).
pub const FRAME_START: u8 = 0x3A;
/// Item Update (3.0+).
pub const ITEM_UPDATE: u8 = 0x3B;
/// Frame Bookend (3.0+).
pub const FRAME_BOOKEND: u8 = 0x3C;
/// Gecko List (3.3+).
pub const GECKO_LIST: u8 = 0x3D;
/// Fountain of Dreams platform (3.18+).
pub const FOD_PLATFORM: u8 = 0x3F;
/// Dream Land Whispy (3.18+).
pub const WHISPY: u8 = 0x40;
/// Pokémon Stadium transformation (3.18+).
pub const STADIUM_TRANSFORMATION: u8 = 0x41;

/// Human-readable event name.
pub fn name(code: u8) -> &'static str {
    match code {
        MESSAGE_SPLITTER => "Message Splitter",
        EVENT_PAYLOADS => "Event Payloads",
        GAME_START => "Game Start",
        PRE_FRAME => "Pre-Frame Update",
        POST_FRAME => "Post-Frame Update",
        GAME_END => "Game End",
        FRAME_START => "Frame Start",
        ITEM_UPDATE => "Item Update",
        FRAME_BOOKEND => "Frame Bookend",
        GECKO_LIST => "Gecko List",
        FOD_PLATFORM => "FoD Platform",
        WHISPY => "Whispy",
        STADIUM_TRANSFORMATION => "Stadium Transformation",
        _ => "unknown event",
    }
}

/// The smallest payload that holds an event's required (v0.1 / first-version) fields.
/// Unknown codes have no minimum.
pub fn min_size(code: u8) -> usize {
    match code {
        MESSAGE_SPLITTER => 516,
        GAME_START => 320,
        PRE_FRAME => 58,
        POST_FRAME => 33,
        GAME_END => 1,
        FRAME_START => 8,
        ITEM_UPDATE => 37,
        FRAME_BOOKEND => 4,
        FOD_PLATFORM => 9,
        WHISPY => 5,
        STADIUM_TRANSFORMATION => 8,
        _ => 0,
    }
}

/// One event's payload (the bytes after the command byte), exactly as long as declared.
#[derive(Clone, Copy)]
pub struct Payload<'a>(pub &'a [u8]);

impl<'a> Payload<'a> {
    /// Bytes `off..off+N`, if the payload holds them.
    #[inline]
    pub fn bytes<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let end = off.checked_add(N)?;
        self.0.get(off..end)?.try_into().ok()
    }
    /// `u8` at `off`.
    #[inline]
    pub fn u8(&self, off: usize) -> Option<u8> {
        self.0.get(off).copied()
    }
    /// `i8` at `off`.
    #[inline]
    pub fn i8(&self, off: usize) -> Option<i8> {
        self.u8(off).map(|b| b as i8)
    }
    /// Big-endian `u16` at `off`.
    #[inline]
    pub fn u16(&self, off: usize) -> Option<u16> {
        self.bytes::<2>(off).map(u16::from_be_bytes)
    }
    /// Big-endian `u32` at `off`.
    #[inline]
    pub fn u32(&self, off: usize) -> Option<u32> {
        self.bytes::<4>(off).map(u32::from_be_bytes)
    }
    /// Big-endian `i32` at `off`.
    #[inline]
    pub fn i32(&self, off: usize) -> Option<i32> {
        self.bytes::<4>(off).map(i32::from_be_bytes)
    }
    /// Big-endian `f32` at `off`.
    #[inline]
    pub fn f32(&self, off: usize) -> Option<f32> {
        self.bytes::<4>(off).map(f32::from_be_bytes)
    }
}
