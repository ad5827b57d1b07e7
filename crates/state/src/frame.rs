//! The ego-centric game state: one frame seen from one player ("self", index 0) against one
//! opponent (index 1), with the Ice Climbers' followers, items and stage state. Field for field
//! the UMI v1 `Frame`, so a state built from a replay and one received from an arena are the
//! same value (see [`crate::umi`]).

use crate::controller::Controller;
use exphil_replay::{InternalCharacter, InternalStage};
use serde::{Deserialize, Serialize};

/// Item slots in a frame.
pub const MAX_ITEMS: usize = 15;

/// One fighter (a player's character, or Nana) in one frame, in UMI v1's units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fighter {
    /// Present (always for players; Nana only while she is in the game).
    pub exists: bool,
    /// Character (internal numbering).
    pub character: InternalCharacter,
    /// Stocks left.
    pub stocks: u8,
    /// Facing right.
    pub facing_right: bool,
    /// Standing on the ground.
    pub on_ground: bool,
    /// Hurtbox not vulnerable (invulnerable or intangible).
    pub invulnerable: bool,
    /// Hurtbox state: 0 vulnerable, 1 invulnerable, 2 intangible.
    pub hurtbox_state: u8,
    /// Jumps left.
    pub jumps_left: u8,
    /// Action state id.
    pub action: u16,
    /// Frames into the action state.
    pub action_frame: i16,
    /// Percent, floored (as replays and UMI carry it).
    pub percent: u16,
    /// Hitlag frames left.
    pub hitlag_left: u16,
    /// Hitstun frames left.
    pub hitstun_left: u16,
    /// Position x.
    pub x: f32,
    /// Position y.
    pub y: f32,
    /// Shield health, 0..60.
    pub shield: f32,
    /// Self-induced air x speed.
    pub speed_air_x_self: f32,
    /// Self-induced ground x speed.
    pub speed_ground_x_self: f32,
    /// Self-induced y speed.
    pub speed_y_self: f32,
    /// Knockback x speed.
    pub speed_x_attack: f32,
    /// Knockback y speed.
    pub speed_y_attack: f32,
    /// The input that produced this frame (neutral for Nana).
    pub controller: Controller,
}

/// One item slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    /// Slot occupied.
    pub exists: bool,
    /// Item type id.
    pub kind: u16,
    /// Item state.
    pub state: u8,
    /// Owner: 0 self, 1 opponent, −1 none.
    pub owner: i8,
    /// Position x.
    pub x: f32,
    /// Position y.
    pub y: f32,
    /// Velocity x.
    pub vx: f32,
    /// Velocity y.
    pub vy: f32,
    /// Spawn id.
    pub spawn_id: u32,
    /// Expiration timer.
    pub timer: f32,
    /// Damage taken.
    pub damage: u16,
}

/// One frame from one player's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameState {
    /// Frame id (−123 first, 0 = GO).
    pub frame: i32,
    /// Stage (internal numbering).
    pub stage: InternalStage,
    /// Yoshi's Story cloud (Randall) centre x; 0 elsewhere.
    pub randall_x: f32,
    /// Randall height; 0 elsewhere.
    pub randall_y: f32,
    /// Fountain of Dreams left platform height; 0 elsewhere.
    pub fod_left: f32,
    /// Fountain of Dreams right platform height; 0 elsewhere.
    pub fod_right: f32,
    /// `[self, opponent]`.
    pub players: [Fighter; 2],
    /// The players' followers (Nana), `exists == false` when absent.
    pub nana: [Fighter; 2],
    /// Item slots; each item keeps its slot for its lifetime.
    pub items: [ItemState; MAX_ITEMS],
}

impl Default for GameState {
    fn default() -> GameState {
        GameState {
            frame: -123,
            stage: InternalStage(0),
            randall_x: 0.0,
            randall_y: 0.0,
            fod_left: 0.0,
            fod_right: 0.0,
            players: [Fighter::default(); 2],
            nana: [Fighter::default(); 2],
            items: [ItemState::default(); MAX_ITEMS],
        }
    }
}

impl GameState {
    /// The same frame seen by the other player (self and opponent swapped, item owners too).
    pub fn swapped(&self) -> GameState {
        let mut s = *self;
        s.players.swap(0, 1);
        s.nana.swap(0, 1);
        for item in s.items.iter_mut().filter(|i| i.exists) {
            item.owner = match item.owner {
                0 => 1,
                1 => 0,
                o => o,
            };
        }
        s
    }
}
