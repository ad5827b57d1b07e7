//! UMI v1 `Frame` bytes: the packed little-endian layout of FORMATS §3 (770 bytes), to and from
//! [`GameState`].

use crate::controller::{Buttons, Controller};
use crate::frame::{Fighter, GameState, ItemState, MAX_ITEMS};
use exphil_replay::{InternalCharacter, InternalStage};

/// Bytes of one packed fighter.
pub const FIGHTER_BYTES: usize = 71;
/// Bytes of one packed item.
pub const ITEM_BYTES: usize = 31;
/// Bytes of one packed frame: header 21 + 4 fighters + 15 items.
pub const FRAME_BYTES: usize = 21 + 4 * FIGHTER_BYTES + MAX_ITEMS * ITEM_BYTES;

/// A UMI frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("UMI frame is {got} bytes; a v1 frame is {FRAME_BYTES}")]
pub struct FrameSizeError {
    /// Bytes given.
    pub got: usize,
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        self.buf[self.pos..self.pos + N].copy_from_slice(&bytes);
        self.pos += N;
    }
    fn u8(&mut self, v: u8) {
        self.put([v]);
    }
    fn fighter(&mut self, f: &Fighter) {
        for b in [
            f.exists as u8,
            f.character.0,
            f.stocks,
            f.facing_right as u8,
            f.on_ground as u8,
            f.invulnerable as u8,
            f.hurtbox_state,
            f.jumps_left,
        ] {
            self.u8(b);
        }
        self.put(f.action.to_le_bytes());
        self.put(f.action_frame.to_le_bytes());
        for v in [f.percent, f.hitlag_left, f.hitstun_left] {
            self.put(v.to_le_bytes());
        }
        for v in [
            f.x,
            f.y,
            f.shield,
            f.speed_air_x_self,
            f.speed_ground_x_self,
            f.speed_y_self,
            f.speed_x_attack,
            f.speed_y_attack,
        ] {
            self.put(v.to_le_bytes());
        }
        let c = &f.controller;
        for v in [c.main_x, c.main_y, c.c_x, c.c_y, c.shoulder] {
            self.put(v.to_le_bytes());
        }
        self.u8(c.buttons.0);
    }
    fn item(&mut self, i: &ItemState) {
        self.u8(i.exists as u8);
        self.put(i.kind.to_le_bytes());
        self.u8(i.state);
        self.put(i.owner.to_le_bytes());
        for v in [i.x, i.y, i.vx, i.vy] {
            self.put(v.to_le_bytes());
        }
        self.put(i.spawn_id.to_le_bytes());
        self.put(i.timer.to_le_bytes());
        self.put(i.damage.to_le_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn bool(&mut self) -> bool {
        self.u8() != 0
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
    fn fighter(&mut self) -> Fighter {
        Fighter {
            exists: self.bool(),
            character: InternalCharacter(self.u8()),
            stocks: self.u8(),
            facing_right: self.bool(),
            on_ground: self.bool(),
            invulnerable: self.bool(),
            hurtbox_state: self.u8(),
            jumps_left: self.u8(),
            action: self.u16(),
            action_frame: i16::from_le_bytes(self.take()),
            percent: self.u16(),
            hitlag_left: self.u16(),
            hitstun_left: self.u16(),
            x: self.f32(),
            y: self.f32(),
            shield: self.f32(),
            speed_air_x_self: self.f32(),
            speed_ground_x_self: self.f32(),
            speed_y_self: self.f32(),
            speed_x_attack: self.f32(),
            speed_y_attack: self.f32(),
            controller: Controller {
                main_x: self.f32(),
                main_y: self.f32(),
                c_x: self.f32(),
                c_y: self.f32(),
                shoulder: self.f32(),
                buttons: Buttons(self.u8()),
            },
        }
    }
    fn item(&mut self) -> ItemState {
        ItemState {
            exists: self.bool(),
            kind: self.u16(),
            state: self.u8(),
            owner: i8::from_le_bytes(self.take()),
            x: self.f32(),
            y: self.f32(),
            vx: self.f32(),
            vy: self.f32(),
            spawn_id: u32::from_le_bytes(self.take()),
            timer: self.f32(),
            damage: self.u16(),
        }
    }
}

impl GameState {
    /// Packs into UMI v1 `Frame` bytes.
    pub fn to_umi(&self) -> [u8; FRAME_BYTES] {
        let mut buf = [0u8; FRAME_BYTES];
        let mut w = Writer {
            buf: &mut buf,
            pos: 0,
        };
        w.put(self.frame.to_le_bytes());
        w.u8(self.stage.0);
        for v in [
            self.randall_x,
            self.randall_y,
            self.fod_left,
            self.fod_right,
        ] {
            w.put(v.to_le_bytes());
        }
        for f in self.players.iter().chain(&self.nana) {
            w.fighter(f);
        }
        for i in &self.items {
            w.item(i);
        }
        debug_assert_eq!(w.pos, FRAME_BYTES);
        buf
    }

    /// Reads UMI v1 `Frame` bytes (exactly [`FRAME_BYTES`] long).
    pub fn from_umi(bytes: &[u8]) -> Result<GameState, FrameSizeError> {
        if bytes.len() != FRAME_BYTES {
            return Err(FrameSizeError { got: bytes.len() });
        }
        let mut r = Reader { buf: bytes, pos: 0 };
        let frame = i32::from_le_bytes(r.take());
        let stage = InternalStage(r.u8());
        let (randall_x, randall_y, fod_left, fod_right) = (r.f32(), r.f32(), r.f32(), r.f32());
        let players = [r.fighter(), r.fighter()];
        let nana = [r.fighter(), r.fighter()];
        let items = std::array::from_fn(|_| r.item());
        Ok(GameState {
            frame,
            stage,
            randall_x,
            randall_y,
            fod_left,
            fod_right,
            players,
            nana,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_match_the_umi_dtypes() {
        // umi.frame: FIGHTER 71 bytes, ITEM 31 bytes, FRAME 770 bytes (numpy packed dtypes).
        assert_eq!(FIGHTER_BYTES, 8 + 2 + 2 + 6 + 32 + 21);
        assert_eq!(ITEM_BYTES, 1 + 2 + 1 + 1 + 16 + 4 + 4 + 2);
        assert_eq!(FRAME_BYTES, 770);
        assert!(GameState::from_umi(&[0u8; 769]).is_err());
    }

    #[test]
    fn field_offsets_follow_the_spec() {
        let mut s = GameState {
            frame: -5,
            stage: InternalStage(24),
            randall_x: 1.5,
            ..Default::default()
        };
        s.players[0].action = 0x0102;
        s.players[1].controller.buttons = Buttons(0xA5);
        s.items[14].damage = 0xBEEF;
        let b = s.to_umi();
        assert_eq!(&b[0..4], &(-5i32).to_le_bytes());
        assert_eq!(b[4], 24);
        assert_eq!(&b[5..9], &1.5f32.to_le_bytes());
        assert_eq!(&b[21 + 8..21 + 10], &0x0102u16.to_le_bytes());
        assert_eq!(b[21 + 2 * FIGHTER_BYTES - 1], 0xA5);
        assert_eq!(&b[FRAME_BYTES - 2..], &0xBEEFu16.to_le_bytes());
        assert_eq!(GameState::from_umi(&b).unwrap(), s);
    }
}
