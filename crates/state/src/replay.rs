//! Game states from a decoded replay, seen from one port against another.

use crate::controller::{Buttons, Controller};
use crate::frame::{Fighter, GameState, ItemState, MAX_ITEMS};
use crate::stage::{randall_position, FodPlatforms};
use exphil_replay::{CharFrame, FrameRef, Game, InternalStage, Port, StageEvent};

/// Internal id of Yoshi's Story.
const YOSHIS_STORY: InternalStage = InternalStage(6);
/// Internal id of Fountain of Dreams.
const FOUNTAIN_OF_DREAMS: InternalStage = InternalStage(8);

/// Controller recorded for a follower: UMI sends zeros (Nana has no controller of her own).
const NO_CONTROLLER: Controller = Controller {
    main_x: 0.0,
    main_y: 0.0,
    c_x: 0.0,
    c_y: 0.0,
    shoulder: 0.0,
    buttons: Buttons(0),
};

/// Saturating float-to-integer conversion that floors; counts non-finite inputs.
fn floor_u16(v: f32, bad: &mut u64) -> u16 {
    if !v.is_finite() {
        *bad += 1;
        return 0;
    }
    v.floor().clamp(0.0, u16::MAX as f32) as u16
}

fn fighter(c: &CharFrame, controller: Controller, bad: &mut u64) -> Fighter {
    let post = &c.post;
    let velocities = post.velocities.unwrap_or_default();
    let action_frame = match post.state_age {
        Some(v) if v.is_finite() => v.floor().clamp(i16::MIN as f32, i16::MAX as f32) as i16,
        Some(_) => {
            *bad += 1;
            0
        }
        None => 0,
    };
    let hurtbox_state = post.hurtbox_state.unwrap_or(0);
    Fighter {
        exists: true,
        character: post.character,
        stocks: post.stocks,
        facing_right: post.facing > 0.0,
        on_ground: post.airborne == Some(0),
        invulnerable: hurtbox_state != 0,
        hurtbox_state,
        jumps_left: post.jumps_remaining.unwrap_or(0),
        action: post.action_state,
        action_frame,
        percent: floor_u16(post.percent, bad),
        hitlag_left: floor_u16(post.hitlag_remaining.unwrap_or(0.0), bad),
        hitstun_left: floor_u16(post.hitstun_remaining().unwrap_or(0.0), bad),
        x: post.x,
        y: post.y,
        shield: post.shield,
        speed_air_x_self: velocities.self_x_air,
        speed_ground_x_self: velocities.self_x_ground,
        speed_y_self: velocities.self_y,
        speed_x_attack: velocities.knockback_x,
        speed_y_attack: velocities.knockback_y,
        controller,
    }
}

/// Builds the game states of one game from `me`'s point of view against `opponent`, frame by
/// frame in order (it tracks moving stage parts across frames).
pub struct StateBuilder {
    me: Port,
    opponent: Port,
    stage: InternalStage,
    fod: FodPlatforms,
    non_finite: u64,
}

impl StateBuilder {
    /// A builder for `game` seen by `me` against `opponent`.
    pub fn new(game: &Game, me: Port, opponent: Port) -> StateBuilder {
        StateBuilder {
            me,
            opponent,
            stage: game.start.stage.to_internal().unwrap_or(InternalStage(0)),
            fod: FodPlatforms::default(),
            non_finite: 0,
        }
    }

    /// Non-finite values met in fields that the state stores as integers (stored as 0).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// The state of `frame`; `None` when either player has no data in it. Call in frame order.
    pub fn state(&mut self, frame: FrameRef<'_>) -> Option<GameState> {
        for e in frame.stage_events() {
            if let StageEvent::FodPlatform { platform, height } = *e {
                self.fod.apply(platform, height);
            }
        }
        let me = frame.port(self.me)?;
        let them = frame.port(self.opponent)?;
        let bad = &mut self.non_finite;
        let players = [
            fighter(me.leader, Controller::from_pre(&me.leader.pre), bad),
            fighter(them.leader, Controller::from_pre(&them.leader.pre), bad),
        ];
        let nana = [me.follower, them.follower]
            .map(|f| f.map_or_else(Fighter::default, |c| fighter(c, NO_CONTROLLER, bad)));
        let mut items = [ItemState::default(); MAX_ITEMS];
        for item in frame.items() {
            let Some(slot) = items.get_mut(item.slot as usize) else {
                continue;
            };
            let owner = match item.owner {
                Some(o) if o >= 0 && o as usize == self.me.index() => 0,
                Some(o) if o >= 0 && o as usize == self.opponent.index() => 1,
                _ => -1,
            };
            *slot = ItemState {
                exists: true,
                kind: item.kind,
                state: item.state,
                owner,
                x: item.x,
                y: item.y,
                vx: item.vx,
                vy: item.vy,
                spawn_id: item.spawn_id,
                timer: item.timer,
                damage: item.damage,
            };
        }
        let (randall_x, randall_y) = if self.stage == YOSHIS_STORY {
            randall_position(frame.id())
        } else {
            (0.0, 0.0)
        };
        let (fod_left, fod_right) = if self.stage == FOUNTAIN_OF_DREAMS {
            (self.fod.left, self.fod.right)
        } else {
            (0.0, 0.0)
        };
        Some(GameState {
            frame: frame.id(),
            stage: self.stage,
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

/// Every state of `game` seen by `me` against `opponent`, with the frame row it came from.
pub fn states(game: &Game, me: Port, opponent: Port) -> Vec<(usize, GameState)> {
    let mut b = StateBuilder::new(game, me, opponent);
    game.frames
        .iter()
        .filter_map(|f| b.state(f).map(|s| (f.row(), s)))
        .collect()
}
