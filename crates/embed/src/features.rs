//! The game-state embedding: which features a policy reads, their layout, and the function that
//! fills them from a [`GameState`] — the same function for training (replays) and play (UMI,
//! Dolphin, simulator).
//!
//! A frame becomes two arrays: `features` (f32: continuous values scaled by the documented
//! constants below, plus one-hot blocks) and `ids` (u32 integer ids for learned embedding
//! tables: action states, characters, stage, item types, delay, player name). [`Layout`] names
//! every component with its size, offset and scaling; it is printed by `exphil dataset info` and
//! stored with datasets and checkpoints.

use crate::config::{
    TargetConfig, DEFAULT_SHOULDER_BUCKETS, DEFAULT_STICK_SPACING, STICK_RAW_SPAN,
};
use crate::targets::TargetCoder;
use exphil_state::{Controller, Fighter, GameState, ItemState, MAX_ITEMS};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Action-state ids below this are embedded (Melee's ids reach 0x18E); a larger id is an anomaly.
pub const ACTION_VOCAB: u32 = 400;
/// Internal character ids (0..=32).
pub const CHARACTER_VOCAB: u32 = 33;
/// Internal stage ids (one-hot width of the `one_hot` stage mode).
pub const STAGE_VOCAB: u32 = 64;
/// Item type ids.
pub const ITEM_TYPE_VOCAB: u32 = 256;
/// Delays 0..=30 frames (UMI's range for imitation bots).
pub const DELAY_VOCAB: u32 = 31;
/// Most previous controllers a frame can carry.
pub const MAX_PREV_CONTROLLERS: usize = 8;

/// Scale of positions, distances and Randall: world units / 100.
pub const POSITION_SCALE: f32 = 100.0;
/// Scale of percent: % / 100.
pub const PERCENT_SCALE: f32 = 100.0;
/// Full shield health.
pub const SHIELD_MAX: f32 = 60.0;
/// Scale of speeds: units per frame / 10.
pub const SPEED_SCALE: f32 = 10.0;
/// Scale of hitstun frames.
pub const HITSTUN_SCALE: f32 = 100.0;
/// Scale of hitlag frames.
pub const HITLAG_SCALE: f32 = 20.0;
/// Scale of action frames; the scaled value is clamped to [0, 5].
pub const ACTION_FRAME_SCALE: f32 = 100.0;
/// Scale of jumps left.
pub const JUMPS_SCALE: f32 = 6.0;
/// Scale of stocks.
pub const STOCKS_SCALE: f32 = 4.0;
/// Scale of game time: frames / 8 minutes; clamped to [0, 2].
pub const GAME_TIME_SCALE: f32 = 8.0 * 60.0 * 60.0;
/// Scale of FoD platform heights.
pub const FOD_SCALE: f32 = 50.0;
/// Scale of item timers.
pub const ITEM_TIMER_SCALE: f32 = 600.0;

/// Beyond these a value is absurd: flagged, never embedded.
pub const ABSURD_POSITION: f32 = 1000.0;
/// Largest sane speed magnitude (units per frame).
pub const ABSURD_SPEED: f32 = 100.0;

/// Horizontal distance from the centre to each ledge of the main platform, per internal stage id
/// (the six tournament stages).
pub fn ledge_x(stage: u8) -> Option<f32> {
    match stage {
        8 => Some(63.35),   // Fountain of Dreams
        6 => Some(56.0),    // Yoshi's Story
        18 => Some(87.75),  // Pokémon Stadium
        24 => Some(68.4),   // Battlefield
        25 => Some(85.566), // Final Destination
        26 => Some(77.27),  // Dream Land
        _ => None,
    }
}

/// How an integer id reaches the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdMode {
    /// As an integer id for a learned embedding table.
    #[default]
    Learned,
    /// As a one-hot block of features.
    OneHot,
}

/// How the Ice Climbers' follower is embedded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NanaMode {
    /// Not at all.
    Off,
    /// Exists, position, facing, percent, on-ground, and her action id.
    #[default]
    Compact,
    /// Every fighter feature, and her action id.
    Full,
}

/// How the stage is embedded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageMode {
    /// One-hot over 64 internal stage ids.
    OneHot,
    /// One-hot over the six tournament stages plus "other" (7).
    #[default]
    Compact,
    /// An integer id for a learned table.
    Learned,
}

/// Per-fighter continuous features, each switchable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FighterFeatures {
    /// Percent / 100.
    pub percent: bool,
    /// Facing, ±1.
    pub facing: bool,
    /// x and y / 100.
    pub position: bool,
    /// Shield / 60.
    pub shield: bool,
    /// On the ground, 0/1.
    pub on_ground: bool,
    /// Invulnerable, 0/1.
    pub invulnerable: bool,
    /// Jumps left / 6.
    pub jumps: bool,
    /// Stocks / 4.
    pub stocks: bool,
    /// The five speeds / 10.
    pub speeds: bool,
    /// Hitstun frames left / 100.
    pub hitstun: bool,
    /// Hitlag frames left / 20.
    pub hitlag: bool,
    /// Action frame / 100, clamped to [0, 5].
    pub action_frame: bool,
    /// (Ledge x − |x|) / 100 on the actual stage: positive inside, negative past the ledge.
    pub ledge_distance: bool,
}

impl Default for FighterFeatures {
    fn default() -> FighterFeatures {
        FighterFeatures {
            percent: true,
            facing: true,
            position: true,
            shield: true,
            on_ground: true,
            invulnerable: true,
            jumps: true,
            stocks: true,
            speeds: true,
            hitstun: true,
            hitlag: true,
            action_frame: true,
            ledge_distance: true,
        }
    }
}

impl FighterFeatures {
    fn width(&self) -> usize {
        [
            self.percent,
            self.facing,
            self.shield,
            self.on_ground,
            self.invulnerable,
            self.jumps,
            self.stocks,
            self.hitstun,
            self.hitlag,
            self.action_frame,
            self.ledge_distance,
        ]
        .iter()
        .filter(|&&b| b)
        .count()
            + 2 * self.position as usize
            + 5 * self.speeds as usize
    }
}

/// The embedding configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    /// Per-fighter features.
    pub fighter: FighterFeatures,
    /// Action states: learned ids or one-hot (400).
    pub action: IdMode,
    /// Characters: learned ids or one-hot (33).
    pub character: IdMode,
    /// The Ice Climbers' follower.
    pub nana: NanaMode,
    /// Item slots embedded (0..=15), each: exists, owned by self, owned by opponent, x, y, vx,
    /// vy, timer, state, and a type id.
    pub item_slots: usize,
    /// Stage encoding.
    pub stage: StageMode,
    /// Randall position and FoD platform heights.
    pub stage_dynamics: bool,
    /// dx, dy, distance between the fighters, and game time.
    pub spatial: bool,
    /// How many previous controllers of the player (most recent first), 13 values each.
    pub prev_controllers: usize,
    /// Each previous controller's sticks and shoulder also as the classes of the default
    /// targets (17 uniform buckets per stick axis, 5 shoulder buckets), as learned ids: what
    /// the heads predict, so "keep holding it" is one lookup away. Off in configs written
    /// before it existed.
    #[serde(default)]
    pub prev_controller_classes: bool,
    /// A delay id (the frames between state and action the policy was trained for).
    pub delay_id: bool,
    /// Player-name ids for style conditioning: vocabulary size (0 = off; id 0 = unknown).
    pub player_names: u32,
}

impl Default for EmbedConfig {
    fn default() -> EmbedConfig {
        EmbedConfig::preset("compact").expect("the compact preset exists")
    }
}

/// An invalid embedding configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedding config: {0}")]
pub struct EmbedConfigError(pub String);

/// Names of the presets, in the order `exphil dataset info --presets` lists them.
pub const PRESETS: [&str; 5] = ["compact", "history", "minimal", "one_hot", "full"];

impl EmbedConfig {
    /// A named preset:
    /// - `compact` (default): learned action/character ids, compact Nana, 5 item slots, compact
    ///   stage with dynamics, spatial features, 1 previous controller (also as the targets'
    ///   classes), delay id.
    /// - `history`: `compact` with the last 4 controllers (the `strong-cpu` recipe: 0.010 nats
    ///   better on the shared games' validation split than `compact`).
    /// - `minimal`: fighters only (learned ids), compact stage, no Nana, items, history or delay.
    /// - `one_hot`: as `compact` with one-hot actions, characters and stages.
    /// - `full`: every component: full Nana, 15 item slots, 2 previous controllers, learned ids.
    pub fn preset(name: &str) -> Result<EmbedConfig, EmbedConfigError> {
        let compact = EmbedConfig {
            fighter: FighterFeatures::default(),
            action: IdMode::Learned,
            character: IdMode::Learned,
            nana: NanaMode::Compact,
            item_slots: 5,
            stage: StageMode::Compact,
            stage_dynamics: true,
            spatial: true,
            prev_controllers: 1,
            prev_controller_classes: true,
            delay_id: true,
            player_names: 0,
        };
        Ok(match name {
            "compact" => compact,
            "history" => EmbedConfig {
                prev_controllers: 4,
                ..compact
            },
            "minimal" => EmbedConfig {
                nana: NanaMode::Off,
                item_slots: 0,
                stage_dynamics: false,
                prev_controllers: 0,
                prev_controller_classes: false,
                delay_id: false,
                ..compact
            },
            "one_hot" => EmbedConfig {
                action: IdMode::OneHot,
                character: IdMode::OneHot,
                stage: StageMode::OneHot,
                ..compact
            },
            "full" => EmbedConfig {
                nana: NanaMode::Full,
                item_slots: MAX_ITEMS,
                prev_controllers: 2,
                ..compact
            },
            other => {
                return Err(EmbedConfigError(format!(
                    "unknown preset {other:?}; presets are {}",
                    PRESETS.join(", ")
                )))
            }
        })
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), EmbedConfigError> {
        if self.item_slots > MAX_ITEMS {
            return Err(EmbedConfigError(format!(
                "item_slots is {}, at most {MAX_ITEMS}",
                self.item_slots
            )));
        }
        if self.prev_controllers > MAX_PREV_CONTROLLERS {
            return Err(EmbedConfigError(format!(
                "prev_controllers is {}, at most {MAX_PREV_CONTROLLERS}",
                self.prev_controllers
            )));
        }
        if self.player_names == 1 {
            return Err(EmbedConfigError(
                "player_names must be 0 (off) or at least 2 (id 0 is \"unknown\")".into(),
            ));
        }
        Ok(())
    }
}

/// What a layout component holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ComponentKind {
    /// Scaled continuous values (or 0/1 flags) in `features`.
    Continuous,
    /// A one-hot block in `features`.
    OneHot {
        /// Classes.
        classes: u32,
    },
    /// One integer id in `ids`, for a learned table.
    Id {
        /// Vocabulary size (ids are below it).
        vocab: u32,
    },
}

/// One named component of the embedding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Name, e.g. `self.percent`.
    pub name: String,
    /// What it holds.
    pub kind: ComponentKind,
    /// Offset in `features` (continuous, one-hot) or `ids` (id).
    pub offset: usize,
    /// Width.
    pub size: usize,
    /// How raw values are scaled.
    pub scaling: String,
}

/// The full layout of an embedding config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Components in order.
    pub components: Vec<Component>,
    /// Length of `features`.
    pub features: usize,
    /// Length of `ids`.
    pub ids: usize,
}

impl Layout {
    fn push(&mut self, name: impl Into<String>, kind: ComponentKind, size: usize, scaling: &str) {
        let offset = match kind {
            ComponentKind::Id { .. } => {
                self.ids += size;
                self.ids - size
            }
            _ => {
                self.features += size;
                self.features - size
            }
        };
        self.components.push(Component {
            name: name.into(),
            kind,
            offset,
            size,
            scaling: scaling.into(),
        });
    }

    /// An integer in 0..`vocab`: one id for a learned table, or a one-hot block.
    fn push_id(&mut self, name: String, mode: IdMode, vocab: u32, what: &str) {
        match mode {
            IdMode::Learned => {
                self.push(name, ComponentKind::Id { vocab }, 1, &format!("{what} id"))
            }
            IdMode::OneHot => self.push(
                name,
                ComponentKind::OneHot { classes: vocab },
                vocab as usize,
                &format!("one-hot {what}"),
            ),
        }
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} features (f32), {} integer ids",
            self.features, self.ids
        )?;
        writeln!(
            f,
            "  {:<28} {:<16} {:>6} {:>5}  scaling",
            "component", "kind", "offset", "size"
        )?;
        for c in &self.components {
            let kind = match c.kind {
                ComponentKind::Continuous => "continuous".to_string(),
                ComponentKind::OneHot { classes } => format!("one-hot/{classes}"),
                ComponentKind::Id { vocab } => format!("id/{vocab}"),
            };
            let place = if matches!(c.kind, ComponentKind::Id { .. }) {
                "ids"
            } else {
                "f"
            };
            writeln!(
                f,
                "  {:<28} {:<16} {:>3}{:>3} {:>5}  {}",
                c.name, kind, place, c.offset, c.size, c.scaling
            )?;
        }
        Ok(())
    }
}

/// A value that may not be embedded: non-finite or physically absurd.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The component it belongs to.
    pub component: &'static str,
    /// The raw value.
    pub value: f64,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.component, self.value)
    }
}

/// Per-frame inputs beside the game state.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameContext<'a> {
    /// The player's previous controllers, most recent first (missing ones count as neutral).
    pub prev_controllers: &'a [Controller],
    /// Delay id (0..=30).
    pub delay: u8,
    /// Player-name id (0 = unknown).
    pub player_name: u32,
}

/// Fills feature and id arrays from game states, for one config.
#[derive(Clone, Debug)]
pub struct Embedder {
    config: EmbedConfig,
    layout: Layout,
    /// The classes of previous controllers ([`EmbedConfig::prev_controller_classes`]).
    classes: TargetCoder,
}

/// Names of the class ids of a previous controller.
const PREV_CLASS_NAMES: [&str; 5] = [
    "main_x_class",
    "main_y_class",
    "c_x_class",
    "c_y_class",
    "shoulder_class",
];

fn check(component: &'static str, v: f32, limit: f32) -> Result<f32, Anomaly> {
    if v.is_finite() && v.abs() <= limit {
        Ok(v)
    } else {
        Err(Anomaly {
            component,
            value: v as f64,
        })
    }
}

struct Out<'a> {
    f: &'a mut [f32],
    fi: usize,
    ids: &'a mut [u32],
    ii: usize,
}

impl Out<'_> {
    #[inline]
    fn f(&mut self, v: f32) {
        self.f[self.fi] = v;
        self.fi += 1;
    }
    #[inline]
    fn one_hot(&mut self, class: u32, classes: u32) {
        let block = &mut self.f[self.fi..self.fi + classes as usize];
        block.fill(0.0);
        if let Some(slot) = block.get_mut(class as usize) {
            *slot = 1.0;
        }
        self.fi += classes as usize;
    }
    #[inline]
    fn id(&mut self, v: u32) {
        self.ids[self.ii] = v;
        self.ii += 1;
    }
}

/// Index of an internal stage id in the compact (6 + other) encoding.
fn compact_stage(stage: u8) -> u32 {
    match stage {
        8 => 0,
        6 => 1,
        18 => 2,
        24 => 3,
        25 => 4,
        26 => 5,
        _ => 6,
    }
}

impl Embedder {
    /// An embedder for a validated config.
    pub fn new(config: EmbedConfig) -> Result<Embedder, EmbedConfigError> {
        config.validate()?;
        let layout = Self::layout_of(&config);
        // The default target config is valid by construction.
        let classes =
            TargetCoder::new(TargetConfig::default()).expect("the default target config is valid");
        Ok(Embedder {
            config,
            layout,
            classes,
        })
    }

    /// The config.
    pub fn config(&self) -> &EmbedConfig {
        &self.config
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn layout_of(c: &EmbedConfig) -> Layout {
        let mut l = Layout {
            components: Vec::new(),
            features: 0,
            ids: 0,
        };
        let cont = ComponentKind::Continuous;
        let fighter = |l: &mut Layout, who: &str, ff: &FighterFeatures| {
            let items: [(bool, &str, usize, &str); 13] = [
                (ff.percent, "percent", 1, "percent / 100"),
                (ff.facing, "facing", 1, "+1 right, -1 left"),
                (ff.position, "position", 2, "x, y / 100"),
                (ff.shield, "shield", 1, "shield / 60"),
                (ff.on_ground, "on_ground", 1, "0/1"),
                (ff.invulnerable, "invulnerable", 1, "0/1"),
                (ff.jumps, "jumps", 1, "jumps left / 6"),
                (ff.stocks, "stocks", 1, "stocks / 4"),
                (
                    ff.speeds,
                    "speeds",
                    5,
                    "air x, ground x, y, knockback x, y (self) / 10",
                ),
                (ff.hitstun, "hitstun", 1, "hitstun frames left / 100"),
                (ff.hitlag, "hitlag", 1, "hitlag frames left / 20"),
                (
                    ff.action_frame,
                    "action_frame",
                    1,
                    "action frame / 100, clamped to [0, 5]",
                ),
                (
                    ff.ledge_distance,
                    "ledge_distance",
                    1,
                    "(ledge x - |x|) / 100; 0 off the legal stages",
                ),
            ];
            for (on, name, size, scaling) in items {
                if on {
                    l.push(
                        format!("{who}.{name}"),
                        ComponentKind::Continuous,
                        size,
                        scaling,
                    );
                }
            }
        };
        for who in ["self", "opponent"] {
            fighter(&mut l, who, &c.fighter);
            l.push_id(
                format!("{who}.action"),
                c.action,
                ACTION_VOCAB,
                "action state",
            );
            l.push_id(
                format!("{who}.character"),
                c.character,
                CHARACTER_VOCAB,
                "internal character",
            );
        }
        for who in ["self.nana", "opponent.nana"] {
            match c.nana {
                NanaMode::Off => {}
                NanaMode::Compact => {
                    l.push(
                        format!("{who}.compact"),
                        cont.clone(),
                        6,
                        "exists, x/100, y/100, facing, percent/100, on_ground",
                    );
                }
                NanaMode::Full => {
                    l.push(format!("{who}.exists"), cont.clone(), 1, "0/1");
                    fighter(&mut l, who, &c.fighter);
                }
            }
            if c.nana != NanaMode::Off {
                l.push(
                    format!("{who}.action"),
                    ComponentKind::Id {
                        vocab: ACTION_VOCAB,
                    },
                    1,
                    "action state id (0 when absent)",
                );
            }
        }
        for s in 0..c.item_slots {
            l.push(
                format!("item{s}"),
                cont.clone(),
                9,
                "exists, owned by self, owned by opponent, x/100, y/100, vx/10, vy/10, timer/600, state/255",
            );
            l.push(
                format!("item{s}.type"),
                ComponentKind::Id {
                    vocab: ITEM_TYPE_VOCAB,
                },
                1,
                "item type id (0 when empty)",
            );
        }
        match c.stage {
            StageMode::OneHot => l.push(
                "stage",
                ComponentKind::OneHot {
                    classes: STAGE_VOCAB,
                },
                STAGE_VOCAB as usize,
                "one-hot internal stage id",
            ),
            StageMode::Compact => l.push(
                "stage",
                ComponentKind::OneHot { classes: 7 },
                7,
                "one-hot FoD, YS, PS, BF, FD, DL, other",
            ),
            StageMode::Learned => l.push(
                "stage",
                ComponentKind::Id { vocab: STAGE_VOCAB },
                1,
                "internal stage id",
            ),
        }
        if c.stage_dynamics {
            l.push(
                "stage.dynamics",
                cont.clone(),
                4,
                "Randall x, y / 100; FoD left, right height / 50",
            );
        }
        if c.spatial {
            l.push(
                "spatial",
                cont.clone(),
                4,
                "dx, dy, distance / 100 (opponent - self); game time = frame / 28800, clamped to [0, 2]",
            );
        }
        for k in 0..c.prev_controllers {
            l.push(
                format!("prev_controller{k}"),
                cont.clone(),
                13,
                "sticks (v - 0.5) * 2, shoulder, 8 buttons 0/1; most recent first",
            );
        }
        if c.prev_controller_classes {
            let stick = STICK_RAW_SPAN / DEFAULT_STICK_SPACING + 1;
            let vocab = [stick, stick, stick, stick, DEFAULT_SHOULDER_BUCKETS as u16];
            for k in 0..c.prev_controllers {
                for (name, v) in PREV_CLASS_NAMES.iter().zip(vocab) {
                    l.push(
                        format!("prev_controller{k}.{name}"),
                        ComponentKind::Id { vocab: v as u32 },
                        1,
                        "class of the default targets (17 stick buckets, 5 shoulder)",
                    );
                }
            }
        }
        if c.delay_id {
            l.push(
                "delay",
                ComponentKind::Id { vocab: DELAY_VOCAB },
                1,
                "frames of delay",
            );
        }
        if c.player_names > 0 {
            l.push(
                "player_name",
                ComponentKind::Id {
                    vocab: c.player_names,
                },
                1,
                "player-name registry id (0 unknown)",
            );
        }
        l
    }

    fn fighter(&self, out: &mut Out<'_>, f: &Fighter, stage: u8) -> Result<(), Anomaly> {
        let ff = &self.config.fighter;
        if ff.percent {
            out.f(f.percent as f32 / PERCENT_SCALE);
        }
        if ff.facing {
            out.f(if f.facing_right { 1.0 } else { -1.0 });
        }
        if ff.position {
            out.f(check("position.x", f.x, ABSURD_POSITION)? / POSITION_SCALE);
            out.f(check("position.y", f.y, ABSURD_POSITION)? / POSITION_SCALE);
        }
        if ff.shield {
            out.f(check("shield", f.shield, SHIELD_MAX + 0.5)?.max(0.0) / SHIELD_MAX);
        }
        if ff.on_ground {
            out.f(f.on_ground as u8 as f32);
        }
        if ff.invulnerable {
            out.f(f.invulnerable as u8 as f32);
        }
        if ff.jumps {
            out.f(check("jumps", f.jumps_left as f32, 10.0)? / JUMPS_SCALE);
        }
        if ff.stocks {
            out.f(check("stocks", f.stocks as f32, 99.0)? / STOCKS_SCALE);
        }
        if ff.speeds {
            for (name, v) in [
                ("speed_air_x_self", f.speed_air_x_self),
                ("speed_ground_x_self", f.speed_ground_x_self),
                ("speed_y_self", f.speed_y_self),
                ("speed_x_attack", f.speed_x_attack),
                ("speed_y_attack", f.speed_y_attack),
            ] {
                out.f(check(name, v, ABSURD_SPEED)? / SPEED_SCALE);
            }
        }
        if ff.hitstun {
            out.f(f.hitstun_left as f32 / HITSTUN_SCALE);
        }
        if ff.hitlag {
            out.f(f.hitlag_left as f32 / HITLAG_SCALE);
        }
        if ff.action_frame {
            out.f((f.action_frame as f32 / ACTION_FRAME_SCALE).clamp(0.0, 5.0));
        }
        if ff.ledge_distance {
            out.f(ledge_x(stage).map_or(0.0, |edge| (edge - f.x.abs()) / POSITION_SCALE));
        }
        Ok(())
    }

    fn ids_of(&self, out: &mut Out<'_>, f: &Fighter) -> Result<(), Anomaly> {
        if f.action as u32 >= ACTION_VOCAB {
            return Err(Anomaly {
                component: "action",
                value: f.action as f64,
            });
        }
        if f.character.0 as u32 >= CHARACTER_VOCAB {
            return Err(Anomaly {
                component: "character",
                value: f.character.0 as f64,
            });
        }
        match self.config.action {
            IdMode::Learned => out.id(f.action as u32),
            IdMode::OneHot => out.one_hot(f.action as u32, ACTION_VOCAB),
        }
        match self.config.character {
            IdMode::Learned => out.id(f.character.0 as u32),
            IdMode::OneHot => out.one_hot(f.character.0 as u32, CHARACTER_VOCAB),
        }
        Ok(())
    }

    fn item(&self, out: &mut Out<'_>, it: &ItemState) -> Result<(), Anomaly> {
        if !it.exists {
            for _ in 0..9 {
                out.f(0.0);
            }
            out.id(0);
            return Ok(());
        }
        out.f(1.0);
        out.f((it.owner == 0) as u8 as f32);
        out.f((it.owner == 1) as u8 as f32);
        out.f(check("item.x", it.x, ABSURD_POSITION)? / POSITION_SCALE);
        out.f(check("item.y", it.y, ABSURD_POSITION)? / POSITION_SCALE);
        out.f(check("item.vx", it.vx, ABSURD_SPEED)? / SPEED_SCALE);
        out.f(check("item.vy", it.vy, ABSURD_SPEED)? / SPEED_SCALE);
        let timer = if it.timer.is_finite() { it.timer } else { 0.0 };
        out.f((timer / ITEM_TIMER_SCALE).clamp(0.0, 5.0));
        out.f(it.state as f32 / 255.0);
        out.id((it.kind as u32).min(ITEM_TYPE_VOCAB - 1));
        Ok(())
    }

    /// Embeds one frame into `features` (length `layout().features`) and `ids` (length
    /// `layout().ids`). A non-finite or absurd value is returned as an [`Anomaly`]: the caller
    /// drops the frame and counts it; nothing is clamped silently past the documented clamps.
    pub fn embed(
        &self,
        s: &GameState,
        ctx: &FrameContext<'_>,
        features: &mut [f32],
        ids: &mut [u32],
    ) -> Result<(), Anomaly> {
        assert_eq!(
            features.len(),
            self.layout.features,
            "features buffer length"
        );
        assert_eq!(ids.len(), self.layout.ids, "ids buffer length");
        let c = &self.config;
        let stage = s.stage.0;
        let mut out = Out {
            f: features,
            fi: 0,
            ids,
            ii: 0,
        };
        for p in &s.players {
            self.fighter(&mut out, p, stage)?;
            self.ids_of(&mut out, p)?;
        }
        for n in &s.nana {
            match c.nana {
                NanaMode::Off => continue,
                NanaMode::Compact => {
                    if n.exists {
                        out.f(1.0);
                        out.f(check("nana.x", n.x, ABSURD_POSITION)? / POSITION_SCALE);
                        out.f(check("nana.y", n.y, ABSURD_POSITION)? / POSITION_SCALE);
                        out.f(if n.facing_right { 1.0 } else { -1.0 });
                        out.f(n.percent as f32 / PERCENT_SCALE);
                        out.f(n.on_ground as u8 as f32);
                    } else {
                        for _ in 0..6 {
                            out.f(0.0);
                        }
                    }
                }
                NanaMode::Full => {
                    out.f(n.exists as u8 as f32);
                    if n.exists {
                        self.fighter(&mut out, n, stage)?;
                    } else {
                        let w = c.fighter.width();
                        out.f[out.fi..out.fi + w].fill(0.0);
                        out.fi += w;
                    }
                }
            }
            if n.exists && n.action as u32 >= ACTION_VOCAB {
                return Err(Anomaly {
                    component: "nana.action",
                    value: n.action as f64,
                });
            }
            out.id(if n.exists { n.action as u32 } else { 0 });
        }
        for it in s.items.iter().take(c.item_slots) {
            self.item(&mut out, it)?;
        }
        match c.stage {
            StageMode::OneHot => out.one_hot(stage as u32, STAGE_VOCAB),
            StageMode::Compact => out.one_hot(compact_stage(stage), 7),
            StageMode::Learned => out.id((stage as u32).min(STAGE_VOCAB - 1)),
        }
        if c.stage_dynamics {
            out.f(check("randall_x", s.randall_x, ABSURD_POSITION)? / POSITION_SCALE);
            out.f(check("randall_y", s.randall_y, ABSURD_POSITION)? / POSITION_SCALE);
            out.f(check("fod_left", s.fod_left, ABSURD_POSITION)? / FOD_SCALE);
            out.f(check("fod_right", s.fod_right, ABSURD_POSITION)? / FOD_SCALE);
        }
        if c.spatial {
            let (a, b) = (&s.players[0], &s.players[1]);
            let dx = (b.x - a.x) / POSITION_SCALE;
            let dy = (b.y - a.y) / POSITION_SCALE;
            out.f(dx);
            out.f(dy);
            out.f((dx * dx + dy * dy).sqrt());
            out.f((s.frame.max(0) as f32 / GAME_TIME_SCALE).min(2.0));
        }
        for k in 0..c.prev_controllers {
            let pc = ctx
                .prev_controllers
                .get(k)
                .copied()
                .unwrap_or(Controller::NEUTRAL);
            for (name, v) in [
                ("controller.main_x", pc.main_x),
                ("controller.main_y", pc.main_y),
                ("controller.c_x", pc.c_x),
                ("controller.c_y", pc.c_y),
            ] {
                out.f((check(name, v, 1.0)? - 0.5) * 2.0);
            }
            out.f(check("controller.shoulder", pc.shoulder, 1.0)?);
            for i in 0..8 {
                out.f(pc.buttons.pressed(i) as u8 as f32);
            }
        }
        if c.prev_controller_classes {
            for k in 0..c.prev_controllers {
                let pc = ctx
                    .prev_controllers
                    .get(k)
                    .copied()
                    .unwrap_or(Controller::NEUTRAL);
                // The values were range-checked above.
                let t = self.classes.encode(&pc);
                for v in [t.main_x, t.main_y, t.c_x, t.c_y, t.shoulder] {
                    out.id(u32::from(v));
                }
            }
        }
        if c.delay_id {
            out.id((ctx.delay as u32).min(DELAY_VOCAB - 1));
        }
        if c.player_names > 0 {
            out.id(if ctx.player_name < c.player_names {
                ctx.player_name
            } else {
                0
            });
        }
        debug_assert_eq!((out.fi, out.ii), (self.layout.features, self.layout.ids));
        Ok(())
    }
}
