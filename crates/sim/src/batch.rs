//! Many games stepped in one call. A game that fails (a panic in its step, or a state that is
//! no longer finite) is reported and replaced by a fresh game; the others go on.

use crate::game::{Game, StepInfo};
use exphil_state::Controller;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A game that failed and was replaced.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// Its slot in the batch.
    pub slot: usize,
    /// The frame it failed on.
    pub frame: i32,
    /// Why.
    pub error: String,
}

/// What one batched step gave one slot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SlotStep {
    /// The step's events (empty when the game was replaced).
    pub info: StepInfo,
    /// The game failed this step and a fresh one took its slot.
    pub replaced: bool,
}

/// Games stepped together.
pub struct Batch {
    /// The games, by slot.
    pub games: Vec<Game>,
    make: Box<dyn FnMut(usize) -> Game + Send>,
    /// Every failure so far.
    pub faults: Vec<Fault>,
}

impl Batch {
    /// `n` games from `make(slot)` (called again to replace a failed or finished game).
    pub fn new(n: usize, mut make: impl FnMut(usize) -> Game + Send + 'static) -> Batch {
        Batch {
            games: (0..n).map(&mut make).collect(),
            make: Box::new(make),
            faults: Vec::new(),
        }
    }

    /// Steps every game with its two controllers (`inputs[slot]`).
    pub fn step(&mut self, inputs: &[[Controller; 2]]) -> Vec<SlotStep> {
        assert_eq!(
            inputs.len(),
            self.games.len(),
            "one pair of controllers per game"
        );
        let mut out = Vec::with_capacity(self.games.len());
        for (slot, (game, &input)) in self.games.iter_mut().zip(inputs).enumerate() {
            let frame = game.frame;
            let r = catch_unwind(AssertUnwindSafe(|| game.step(input)))
                .map_err(|e| {
                    e.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| e.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into())
                })
                .and_then(|info| game.check().map(|()| info));
            match r {
                Ok(info) => out.push(SlotStep {
                    info,
                    replaced: false,
                }),
                Err(error) => {
                    self.faults.push(Fault { slot, frame, error });
                    *game = (self.make)(slot);
                    out.push(SlotStep {
                        info: StepInfo::default(),
                        replaced: true,
                    });
                }
            }
        }
        out
    }

    /// Replaces a finished game in `slot` by a fresh one.
    pub fn restart(&mut self, slot: usize) {
        self.games[slot] = (self.make)(slot);
    }
}
