//! The decoded game: Game Start, per-frame data for every port (leader and follower), items,
//! stage events, Game End and metadata. Raw values only: no scaling, no normalisation.
//!
//! Frames are stored by port in columns (one `Vec` per port), so iterating one port over a game
//! touches contiguous memory, and a frame is a cheap view ([`FrameRef`]).

use crate::ids::{ExternalCharacter, ExternalStage, InternalCharacter};
use crate::warning::Warning;
use serde::Serialize;
use std::fmt;

/// Slippi format version (`major.minor.build`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version(pub u8, pub u8, pub u8);

impl Version {
    /// Whether this version is at least `major.minor.0`.
    pub fn at_least(self, major: u8, minor: u8) -> bool {
        (self.0, self.1) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A controller port, 1 to 4 (stored 0-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u8")]
pub struct Port(u8);

impl Port {
    /// Port from its 0-based index (0 = P1); `None` past P4.
    pub fn from_index(index: u8) -> Option<Port> {
        (index < 4).then_some(Port(index))
    }
    /// Port from its 1-based number as players say it (1 = P1).
    pub fn from_number(number: u8) -> Option<Port> {
        (1..=4).contains(&number).then(|| Port(number - 1))
    }
    /// 0-based index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// 1-based number.
    pub fn number(self) -> u8 {
        self.0 + 1
    }
}

impl From<Port> for u8 {
    fn from(p: Port) -> u8 {
        p.number()
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.number())
    }
}

/// Who controls a player slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlayerKind {
    /// A person.
    Human,
    /// A game-controlled CPU.
    Cpu,
    /// A demo (attract mode) player.
    Demo,
}

/// Team colour and shade (team games only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Team {
    /// Team colour id (0 red, 1 blue, 2 green).
    pub color: u8,
    /// Costume shade within the team colour.
    pub shade: u8,
}

/// UCF (Universal Controller Fix) settings of a player (1.0+); raw values (0 off, 1 UCF, 2 Arduino).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ucf {
    /// Dash-back fix.
    pub dash_back: u32,
    /// Shield-drop fix.
    pub shield_drop: u32,
}

/// Slippi Online identity of a player (3.9+).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Netplay {
    /// Display name.
    pub name: String,
    /// Connect code, e.g. `ABCD#123`.
    pub code: String,
    /// Slippi user id (3.11+).
    pub uid: Option<String>,
}

/// One occupied player slot from Game Start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Player {
    /// Controller port.
    pub port: Port,
    /// Character chosen (external numbering).
    pub character: ExternalCharacter,
    /// Human, CPU or demo.
    pub kind: PlayerKind,
    /// Starting stocks.
    pub stocks: u8,
    /// Costume index.
    pub costume: u8,
    /// Team, when the game is a team game.
    pub team: Option<Team>,
    /// Handicap setting.
    pub handicap: u8,
    /// Player bitfield (raw).
    pub bitfield: u8,
    /// CPU level, for CPU players.
    pub cpu_level: Option<u8>,
    /// Starting damage.
    pub damage_start: u16,
    /// Damage on respawn.
    pub damage_spawn: u16,
    /// Offense ratio.
    pub offense_ratio: f32,
    /// Defense ratio.
    pub defense_ratio: f32,
    /// Model scale.
    pub model_scale: f32,
    /// UCF settings (1.0+).
    pub ucf: Option<Ucf>,
    /// In-game name tag (1.3+), decoded from Shift-JIS.
    pub name_tag: Option<String>,
    /// Slippi Online identity (3.9+).
    pub netplay: Option<Netplay>,
}

/// Game scene (3.7+); major scene 8 is Slippi Online.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Scene {
    /// Minor scene.
    pub minor: u8,
    /// Major scene (8 = online).
    pub major: u8,
}

/// Online match identity (3.14+).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchInfo {
    /// Match id, e.g. `mode.unranked-2022-12-21T02:26:32.20-0`.
    pub id: String,
    /// Game number within the match (1-based; 0 when not applicable).
    pub game_number: u32,
    /// Tiebreak number within the game.
    pub tiebreaker_number: u32,
}

/// The Game Start event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GameStart {
    /// Slippi format version that wrote the file.
    pub version: Version,
    /// Game bitfield (raw, 4 bytes).
    pub bitfield: [u8; 4],
    /// Sudden-death bob-ombs.
    pub is_raining_bombs: bool,
    /// Team game.
    pub is_teams: bool,
    /// Item spawn frequency (−1 off).
    pub item_spawn_frequency: i8,
    /// Self-destruct score.
    pub self_destruct_score: i8,
    /// Stage (external numbering).
    pub stage: ExternalStage,
    /// Starting timer in seconds.
    pub timer_seconds: u32,
    /// Item spawn bitfield (raw, 5 bytes).
    pub item_spawn_bitfield: [u8; 5],
    /// Damage ratio.
    pub damage_ratio: f32,
    /// Occupied player slots, by port.
    pub players: Vec<Player>,
    /// Random seed at game start.
    pub random_seed: u32,
    /// PAL version of the game (1.5+).
    pub is_pal: Option<bool>,
    /// Frozen Pokémon Stadium (2.0+).
    pub is_frozen_ps: Option<bool>,
    /// Scene (3.7+).
    pub scene: Option<Scene>,
    /// Game language (3.12+): 0 Japanese, 1 English.
    pub language: Option<u8>,
    /// Online match identity (3.14+).
    pub match_info: Option<MatchInfo>,
}

impl GameStart {
    /// Whether this was a Slippi Online game (scene major 8).
    pub fn is_online(&self) -> bool {
        self.scene.is_some_and(|s| s.major == 8)
    }
    /// The player on `port`, if occupied.
    pub fn player(&self, port: Port) -> Option<&Player> {
        self.players.iter().find(|p| p.port == port)
    }
}

/// How a game ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u8")]
pub struct EndMethod(pub u8);

impl EndMethod {
    /// Name of a known method value; any value is accepted.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "unresolved",
            1 => "time",
            2 => "game",
            3 => "resolved",
            7 => "no contest",
            _ => "other",
        }
    }
}

impl From<EndMethod> for u8 {
    fn from(m: EndMethod) -> u8 {
        m.0
    }
}

impl fmt::Display for EndMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "other" => write!(f, "method {}", self.0),
            n => f.write_str(n),
        }
    }
}

/// The Game End event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GameEnd {
    /// End method (any value accepted; see [`EndMethod::name`]).
    pub method: EndMethod,
    /// Who quit with L+R+A+Start (2.0+): `Some(None)` when nobody did.
    pub lras_initiator: Option<Option<Port>>,
    /// Placement per port, 0 = first, −1 = absent (3.13+).
    pub placements: Option<[i8; 4]>,
}

/// A stick position as the game processed it (−1..1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stick {
    /// Horizontal axis.
    pub x: f32,
    /// Vertical axis.
    pub y: f32,
}

/// Pre-Frame Update: the inputs and state before the frame is simulated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PreFrame {
    /// Random seed.
    pub random_seed: u32,
    /// Action state id.
    pub action_state: u16,
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
    /// Facing direction (−1 left, +1 right).
    pub facing: f32,
    /// Processed main stick.
    pub joystick: Stick,
    /// Processed C-stick.
    pub cstick: Stick,
    /// Processed analog trigger (max of L and R), 0..1.
    pub trigger: f32,
    /// Processed buttons bitmask (u32).
    pub buttons: u32,
    /// Physical buttons bitmask (u16).
    pub buttons_physical: u16,
    /// Physical L trigger, 0..1.
    pub trigger_physical_l: f32,
    /// Physical R trigger, 0..1.
    pub trigger_physical_r: f32,
    /// Raw main-stick x (1.2+).
    pub raw_analog_x: Option<i8>,
    /// Percent (1.4+).
    pub percent: Option<f32>,
    /// Raw main-stick y (3.15+).
    pub raw_analog_y: Option<i8>,
    /// Raw C-stick x (3.17+).
    pub raw_cstick_x: Option<i8>,
    /// Raw C-stick y (3.17+).
    pub raw_cstick_y: Option<i8>,
}

/// Self-induced and knockback velocities (3.5+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Velocities {
    /// Self-induced air x speed.
    pub self_x_air: f32,
    /// Self-induced y speed.
    pub self_y: f32,
    /// Knockback x speed.
    pub knockback_x: f32,
    /// Knockback y speed.
    pub knockback_y: f32,
    /// Self-induced ground x speed.
    pub self_x_ground: f32,
}

/// Post-Frame Update: the state after the frame is simulated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PostFrame {
    /// Character (internal numbering: Popo and Nana are distinct, Zelda/Sheik transform).
    pub character: InternalCharacter,
    /// Action state id.
    pub action_state: u16,
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
    /// Facing direction (−1 left, +1 right).
    pub facing: f32,
    /// Percent.
    pub percent: f32,
    /// Shield health (60 full).
    pub shield: f32,
    /// Id of the last attack that landed.
    pub last_attack_landed: u8,
    /// Combo count.
    pub combo_count: u8,
    /// Port index that last hit this character.
    pub last_hit_by: u8,
    /// Stocks remaining.
    pub stocks: u8,
    /// Frames into the current action state (0.2+).
    pub state_age: Option<f32>,
    /// Five state-flag bytes (2.0+), see the `FLAG_*` constants.
    pub state_flags: Option<[u8; 5]>,
    /// Miscellaneous action-state value (2.0+): hitstun remaining while in hitstun.
    pub misc_as: Option<f32>,
    /// Airborne flag (2.0+), raw byte.
    pub airborne: Option<u8>,
    /// Last ground id (2.0+).
    pub ground_id: Option<u16>,
    /// Jumps remaining (2.0+).
    pub jumps_remaining: Option<u8>,
    /// L-cancel status (2.0+): 0 none, 1 success, 2 failure.
    pub l_cancel: Option<u8>,
    /// Hurtbox collision state (2.1+): 0 vulnerable, 1 invulnerable, 2 intangible.
    pub hurtbox_state: Option<u8>,
    /// Velocities (3.5+).
    pub velocities: Option<Velocities>,
    /// Hitlag frames remaining (3.8+). Not hitstun: see [`PostFrame::hitstun_remaining`].
    pub hitlag_remaining: Option<f32>,
    /// Animation index (3.11+).
    pub animation_index: Option<u32>,
    /// Instance id of the hitbox owner that last hit this character (3.16+).
    pub last_hit_by_instance: Option<u16>,
    /// Instance id of this character (3.16+).
    pub instance_id: Option<u16>,
}

/// (byte index, mask) of a state flag in [`PostFrame::state_flags`].
pub type StateFlag = (usize, u8);
/// Reflect box active.
pub const FLAG_REFLECT: StateFlag = (0, 0x10);
/// Intangible/invulnerable ("untouchable").
pub const FLAG_UNTOUCHABLE: StateFlag = (1, 0x04);
/// Fast-falling.
pub const FLAG_FAST_FALL: StateFlag = (1, 0x08);
/// In hitlag (checked against `hitlag_remaining > 0` on real 3.14 replays).
pub const FLAG_HITLAG: StateFlag = (1, 0x20);
/// Shielding.
pub const FLAG_SHIELD: StateFlag = (2, 0x80);
/// In hitstun: while set, `misc_as` is the hitstun remaining (checked on real replays: set only
/// in the damage action states 0x4B–0x5B).
pub const FLAG_HITSTUN: StateFlag = (3, 0x02);
/// Shield being touched by a hitbox.
pub const FLAG_SHIELD_TOUCH: StateFlag = (3, 0x04);
/// Powershield active.
pub const FLAG_POWERSHIELD: StateFlag = (3, 0x20);
/// Nana is a follower (Ice Climbers).
pub const FLAG_FOLLOWER: StateFlag = (4, 0x08);
/// Asleep (off-stage, e.g. Nana waiting).
pub const FLAG_SLEEP: StateFlag = (4, 0x10);
/// Dead.
pub const FLAG_DEAD: StateFlag = (4, 0x40);
/// Off-screen.
pub const FLAG_OFFSCREEN: StateFlag = (4, 0x80);

impl PostFrame {
    /// Whether a state flag is set (`None` before 2.0, when flags were not recorded).
    pub fn flag(&self, flag: StateFlag) -> Option<bool> {
        self.state_flags.map(|f| f[flag.0] & flag.1 != 0)
    }

    /// Hitstun frames remaining: the misc value while the hitstun flag is set, else 0.
    /// `None` before 2.0 (neither recorded).
    pub fn hitstun_remaining(&self) -> Option<f32> {
        let in_hitstun = self.flag(FLAG_HITSTUN)?;
        Some(if in_hitstun {
            self.misc_as.unwrap_or(0.0)
        } else {
            0.0
        })
    }

    /// Whether the character is airborne (2.0+).
    pub fn is_airborne(&self) -> Option<bool> {
        self.airborne.map(|a| a != 0)
    }
}

/// One character's data in one frame: a pre- and a post-frame update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CharFrame {
    /// Pre-frame update.
    pub pre: PreFrame,
    /// Post-frame update.
    pub post: PostFrame,
}

/// One active item (projectile, thrown item, …) in one frame (3.0+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Item {
    /// Slot 0..15 this item keeps for its whole lifetime.
    pub slot: u8,
    /// Item type id.
    pub kind: u16,
    /// Item state.
    pub state: u8,
    /// Facing direction.
    pub facing: f32,
    /// Velocity x.
    pub vx: f32,
    /// Velocity y.
    pub vy: f32,
    /// Position x.
    pub x: f32,
    /// Position y.
    pub y: f32,
    /// Damage taken.
    pub damage: u16,
    /// Expiration timer.
    pub timer: f32,
    /// Spawn id, unique per item within a game.
    pub spawn_id: u32,
    /// Miscellaneous bytes (3.2+).
    pub misc: Option<[u8; 4]>,
    /// Owner port index, −1 none (3.6+).
    pub owner: Option<i8>,
    /// Instance id (3.16+).
    pub instance_id: Option<u16>,
}

/// Frame Start (2.2+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameStart {
    /// Random seed.
    pub random_seed: u32,
    /// Scene frame counter (3.10+).
    pub scene_frame_counter: Option<u32>,
}

/// Frame Bookend (3.0+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameBookend {
    /// Latest frame whose inputs are final (3.7+).
    pub latest_finalized_frame: Option<i32>,
}

/// A stage event recorded within a frame (3.18+).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageEvent {
    /// Fountain of Dreams platform height change.
    FodPlatform {
        /// 0 right, 1 left.
        platform: u8,
        /// Platform height.
        height: f32,
    },
    /// Dream Land's Whispy blowing: 0 none, 1 left, 2 right.
    Whispy {
        /// Blow direction.
        direction: u8,
    },
    /// Pokémon Stadium transformation.
    StadiumTransformation {
        /// Transformation event.
        event: u16,
        /// Transformation type.
        kind: u16,
    },
}

/// One port's frames, as columns over the game's frame rows.
#[derive(Clone, Debug, Default)]
pub struct PortFrames {
    /// The port.
    pub port: Port,
    /// Leader (the character; Popo for Ice Climbers), one entry per frame row.
    pub leader: Vec<Option<CharFrame>>,
    /// Follower (Nana), one entry per frame row; empty when the port never had a follower.
    pub follower: Vec<Option<CharFrame>>,
}

/// Range of a row's entries in a flat arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u16,
}

impl Span {
    pub(crate) fn slice<T>(self, arena: &[T]) -> &[T] {
        let start = self.start as usize;
        arena
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

/// All committed frames, one row per distinct frame id, in increasing id order.
#[derive(Clone, Debug, Default)]
pub struct Frames {
    /// Frame id of each row (−123 first, 0 = "GO").
    pub id: Vec<i32>,
    /// Frame Start of each row (2.2+).
    pub start: Vec<Option<FrameStart>>,
    /// Frame Bookend of each row (3.0+).
    pub bookend: Vec<Option<FrameBookend>>,
    /// Per-port columns, in port order of Game Start's occupied players.
    pub ports: Vec<PortFrames>,
    pub(crate) items: Vec<Item>,
    pub(crate) item_spans: Vec<Span>,
    pub(crate) stage_events: Vec<StageEvent>,
    pub(crate) stage_spans: Vec<Span>,
}

impl Frames {
    /// Room for `rows` more frame rows in every column (the follower columns stay empty until a
    /// follower appears), so that decoding does not regrow and copy the columns as it goes.
    pub fn reserve(&mut self, rows: usize) {
        self.id.reserve_exact(rows);
        self.start.reserve_exact(rows);
        self.bookend.reserve_exact(rows);
        self.item_spans.reserve_exact(rows);
        self.stage_spans.reserve_exact(rows);
        for p in &mut self.ports {
            p.leader.reserve_exact(rows);
        }
    }

    /// Number of frame rows.
    pub fn len(&self) -> usize {
        self.id.len()
    }
    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
    /// The row holding frame `id`, if present.
    pub fn row_of(&self, id: i32) -> Option<usize> {
        self.id.binary_search(&id).ok()
    }
    /// A view of row `row`; `None` out of range.
    pub fn get(&self, row: usize) -> Option<FrameRef<'_>> {
        (row < self.len()).then_some(FrameRef { frames: self, row })
    }
    /// Iterates frame rows in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FrameRef<'_>> + '_ {
        (0..self.len()).map(move |row| FrameRef { frames: self, row })
    }
    /// Total item records over all frames.
    pub fn item_count(&self) -> usize {
        self.item_spans.iter().map(|s| s.len as usize).sum()
    }

    /// Appends a frame row built outside a replay (the simulator's): its id, which must be
    /// greater than the last row's, and each port's leader data in [`Frames::ports`] order (a
    /// port left out has no data in this row), and its stage events. The row has no items or
    /// followers.
    pub fn push_row(
        &mut self,
        id: i32,
        start: Option<FrameStart>,
        bookend: Option<FrameBookend>,
        leaders: &[Option<CharFrame>],
        stage_events: &[StageEvent],
    ) {
        debug_assert!(self.id.last().is_none_or(|&last| id > last));
        self.id.push(id);
        self.start.push(start);
        self.bookend.push(bookend);
        for (i, port) in self.ports.iter_mut().enumerate() {
            port.leader.push(leaders.get(i).copied().flatten());
            if !port.follower.is_empty() {
                port.follower.push(None);
            }
        }
        let items = self.items.len() as u32;
        self.item_spans.push(Span {
            start: items,
            len: 0,
        });
        let stage = self.stage_events.len() as u32;
        self.stage_events.extend_from_slice(stage_events);
        self.stage_spans.push(Span {
            start: stage,
            len: stage_events.len() as u16,
        });
    }
}

/// One frame: a cheap view into [`Frames`].
#[derive(Clone, Copy)]
pub struct FrameRef<'a> {
    frames: &'a Frames,
    row: usize,
}

/// One port's data in one frame.
#[derive(Clone, Copy, Debug)]
pub struct PlayerFrame<'a> {
    /// The port.
    pub port: Port,
    /// Leader data.
    pub leader: &'a CharFrame,
    /// Follower (Nana) data, when present in this frame.
    pub follower: Option<&'a CharFrame>,
}

impl<'a> FrameRef<'a> {
    /// Row index in [`Frames`].
    pub fn row(&self) -> usize {
        self.row
    }
    /// Frame id.
    pub fn id(&self) -> i32 {
        self.frames.id[self.row]
    }
    /// Frame Start (2.2+).
    pub fn start(&self) -> Option<&'a FrameStart> {
        self.frames.start[self.row].as_ref()
    }
    /// Frame Bookend (3.0+).
    pub fn bookend(&self) -> Option<&'a FrameBookend> {
        self.frames.bookend[self.row].as_ref()
    }
    /// The data of `port` in this frame, if that port has a character in it.
    pub fn port(&self, port: Port) -> Option<PlayerFrame<'a>> {
        let p = self.frames.ports.iter().find(|p| p.port == port)?;
        self.player_of(p)
    }
    fn player_of(&self, p: &'a PortFrames) -> Option<PlayerFrame<'a>> {
        Some(PlayerFrame {
            port: p.port,
            leader: p.leader[self.row].as_ref()?,
            follower: p.follower.get(self.row).and_then(Option::as_ref),
        })
    }
    /// Every port present in this frame, in port order.
    pub fn players(&self) -> impl Iterator<Item = PlayerFrame<'a>> + 'a {
        let this = *self;
        self.frames
            .ports
            .iter()
            .filter_map(move |p| this.player_of(p))
    }
    /// Items active in this frame, ordered by slot.
    pub fn items(&self) -> &'a [Item] {
        self.frames.item_spans[self.row].slice(&self.frames.items)
    }
    /// Stage events of this frame (3.18+).
    pub fn stage_events(&self) -> &'a [StageEvent] {
        self.frames.stage_spans[self.row].slice(&self.frames.stage_events)
    }
}

/// Metadata from the trailing UBJSON object (typed fields plus the whole object as JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metadata {
    /// Start time (`startAt`).
    pub start_at: Option<String>,
    /// Last frame id (`lastFrame`).
    pub last_frame: Option<i32>,
    /// Platform (`playedOn`): dolphin, nintendont, network, …
    pub played_on: Option<String>,
    /// Console nickname (`consoleNick`).
    pub console_nick: Option<String>,
    /// Per-port names from `players.{i}.names`.
    pub players: Vec<MetadataPlayer>,
    /// The whole object.
    pub raw: serde_json::Value,
}

/// A player's entry in the metadata object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetadataPlayer {
    /// Port index (0-based key in `players`).
    pub port_index: u8,
    /// Netplay display name.
    pub netplay: Option<String>,
    /// Connect code.
    pub code: Option<String>,
    /// Frames played per internal character id (`characters`).
    pub characters: Vec<(u8, i64)>,
}

/// How frames repeated by rollback (online play) are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackMode {
    /// Keep the last occurrence of each frame id: the confirmed state, what really happened.
    /// The default, for training and analysis.
    #[default]
    Last,
    /// Keep the first occurrence: what a live observer saw before any rollback correction.
    First,
}

/// A decoded game.
#[derive(Clone, Debug)]
pub struct Game {
    /// Game Start.
    pub start: GameStart,
    /// Frames, one row per distinct frame id.
    pub frames: Frames,
    /// Game End, when the stream reached it.
    pub end: Option<GameEnd>,
    /// Metadata object, when present and readable.
    pub metadata: Option<Metadata>,
    /// Gecko code list, reassembled from Message Splitter blocks (3.3+).
    pub gecko_codes: Option<Vec<u8>>,
    /// Frame repeats seen (rollback re-sends), whatever the mode kept.
    pub rollback_resends: u32,
    /// Everything unusual found while decoding: damage, skipped events, quirks.
    pub warnings: Vec<Warning>,
}

impl Game {
    /// A game with no frames yet: one (empty) frame column per player of `start`, in its order.
    pub fn new(start: GameStart) -> Game {
        let ports = start
            .players
            .iter()
            .map(|p| PortFrames {
                port: p.port,
                leader: Vec::new(),
                follower: Vec::new(),
            })
            .collect();
        Game {
            start,
            frames: Frames {
                ports,
                ..Frames::default()
            },
            end: None,
            metadata: None,
            gecko_codes: None,
            rollback_resends: 0,
            warnings: Vec::new(),
        }
    }

    /// The first warning that stopped decoding early (truncation or corruption), if any.
    pub fn damage(&self) -> Option<&Warning> {
        self.warnings.iter().find(|w| w.is_damage())
    }

    /// Whether the stream decoded to its end without damage and reached Game End.
    pub fn is_complete(&self) -> bool {
        self.end.is_some() && self.damage().is_none()
    }

    /// Duration in frames counted from the first id (−123): `last id − first id + 1`.
    pub fn duration_frames(&self) -> usize {
        match (self.frames.id.first(), self.frames.id.last()) {
            // In i64: ids from a damaged or hostile file may span the whole i32 range.
            (Some(&a), Some(&b)) => (b as i64 - a as i64 + 1).max(0) as usize,
            _ => 0,
        }
    }
}
