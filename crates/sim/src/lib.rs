//! A deterministic 1v1 fighting simulator in Melee's image, framework-free: the six legal
//! stages' geometry, fighters with per-character physics (a fast faller, a floaty and a heavy),
//! a compact move set each as hitboxes with Melee's knockback formula, hitstun, hitlag,
//! shields, grabs and throws, ledges, respawns, stocks and the timer. Each step takes one
//! controller per player (the policy's controller type) and each player's view is the game
//! state the trainer embeds, so a policy trained on replays plays it unchanged.
#![deny(missing_docs)]

pub mod agent;
pub mod batch;
pub mod bots;
pub mod damage;
pub mod fidelity;
pub mod fighter;
pub mod game;
pub mod options;
pub mod player;
pub mod record;
pub mod slp;
pub mod specials;
pub mod stage;

pub use agent::{Agent, Bots, Delayed, UnknownBot};
pub use batch::{Batch, Fault, SlotStep};
pub use bots::{bot, Bot, Rng, BOT_NAMES};
pub use fighter::{Fighter, Move, MoveKind, UnknownFighter, FIGHTERS};
pub use game::{Act, End, Game, Outcome, StepInfo, FIRST_FRAME};
pub use slp::SlpRecorder;
pub use stage::{Stage, STAGES};
