//! One way for anything that plays to take seats: an [`Agent`] plays one seat in each of many
//! games at once (one call per frame for all of them, as rollouts need one model step per
//! frame), with each game slot reset on its own. The scripted bots are agents through [`Bots`];
//! a policy is one through its batched player; [`Delayed`] applies any agent's decisions a
//! fixed number of frames late, as Dolphin and the replays' delay feature do.

use crate::bots::{bot, Bot, BOT_NAMES};
use exphil_state::{Controller, DelayQueue, GameState};

/// Plays one seat in each of many games.
pub trait Agent {
    /// Game `slot` starts afresh; `seed` seeds what the agent draws in it.
    fn reset(&mut self, slot: usize, seed: u64);
    /// The controllers for `rows` (a game slot and the seat's view of it), in order.
    fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller>;
}

/// A bot name that is not one of [`BOT_NAMES`].
#[derive(Debug, thiserror::Error)]
#[error("unknown bot {0:?}; the bots are {names}", names = BOT_NAMES.join(", "))]
pub struct UnknownBot(pub String);

/// A scripted bot in every game slot (one bot per game, made afresh from the seed at each reset).
pub struct Bots {
    name: String,
    bots: Vec<Option<Box<dyn Bot>>>,
}

impl Bots {
    /// The bot `name` (one of [`BOT_NAMES`]).
    pub fn named(name: &str) -> Result<Bots, UnknownBot> {
        match bot(name, 0) {
            Some(_) => Ok(Bots {
                name: name.to_string(),
                bots: Vec::new(),
            }),
            None => Err(UnknownBot(name.to_string())),
        }
    }

    /// The bot's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Agent for Bots {
    fn reset(&mut self, slot: usize, seed: u64) {
        if self.bots.len() <= slot {
            self.bots.resize_with(slot + 1, || None);
        }
        self.bots[slot] = bot(&self.name, seed);
    }

    fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
        rows.iter()
            .map(|&(slot, view)| {
                if self.bots.len() <= slot || self.bots[slot].is_none() {
                    self.reset(slot, slot as u64);
                }
                match self.bots[slot].as_mut() {
                    Some(b) => b.act(view),
                    None => Controller::NEUTRAL,
                }
            })
            .collect()
    }
}

/// An agent whose decisions are applied `delay` frames after they are made (the first `delay`
/// frames of each game get the neutral controller).
pub struct Delayed<A> {
    inner: A,
    delay: usize,
    queues: Vec<DelayQueue<Controller>>,
}

impl<A: Agent> Delayed<A> {
    /// `inner`, delayed by `delay` frames.
    pub fn new(inner: A, delay: usize) -> Delayed<A> {
        Delayed {
            inner,
            delay,
            queues: Vec::new(),
        }
    }

    /// The agent behind the delay.
    pub fn inner_mut(&mut self) -> &mut A {
        &mut self.inner
    }

    fn queue(&mut self, slot: usize) -> &mut DelayQueue<Controller> {
        if self.queues.len() <= slot {
            let delay = self.delay;
            self.queues
                .resize_with(slot + 1, || DelayQueue::new(delay, Controller::NEUTRAL));
        }
        &mut self.queues[slot]
    }
}

impl<A: Agent> Agent for Delayed<A> {
    fn reset(&mut self, slot: usize, seed: u64) {
        self.queue(slot).clear();
        self.inner.reset(slot, seed);
    }

    fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
        let decided = self.inner.act(rows);
        rows.iter()
            .zip(decided)
            .map(|(&(slot, _), c)| self.queue(slot).push(c))
            .collect()
    }
}

impl<A: Agent + ?Sized> Agent for Box<A> {
    fn reset(&mut self, slot: usize, seed: u64) {
        (**self).reset(slot, seed);
    }

    fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
        (**self).act(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Game, FIGHTERS, STAGES};

    #[test]
    fn bots_play_each_slot_with_its_own_seeded_bot() {
        let mut a = Bots::named("random").unwrap();
        let mut b = Bots::named("random").unwrap();
        let g = Game::new(&STAGES[0], [&FIGHTERS[0], &FIGHTERS[0]]);
        let v = g.view(1);
        for (slot, seed) in [(0, 7), (3, 9)] {
            a.reset(slot, seed);
            b.reset(slot, seed);
        }
        let rows = [(0, &v), (3, &v)];
        let (xa, xb): (Vec<_>, Vec<_>) = (0..20).map(|_| (a.act(&rows), b.act(&rows))).unzip();
        assert_eq!(xa, xb, "the same seeds play the same");
        assert!(matches!(Bots::named("nobody"), Err(e) if e.to_string().contains("rule")));
    }

    #[test]
    fn delayed_applies_each_decision_delay_frames_later_and_reset_clears() {
        /// Moves the stick right by its own count of calls.
        struct Counter(u32);
        impl Agent for Counter {
            fn reset(&mut self, _: usize, _: u64) {
                self.0 = 0;
            }
            fn act(&mut self, rows: &[(usize, &GameState)]) -> Vec<Controller> {
                self.0 += 1;
                rows.iter()
                    .map(|_| {
                        let mut c = Controller::NEUTRAL;
                        c.main_x = self.0 as f32 / 100.0;
                        c
                    })
                    .collect()
            }
        }
        let g = Game::new(&STAGES[0], [&FIGHTERS[0], &FIGHTERS[0]]);
        let v = g.view(0);
        let mut d = Delayed::new(Counter(0), 2);
        d.reset(0, 0);
        let xs: Vec<f32> = (0..4).map(|_| d.act(&[(0, &v)])[0].main_x).collect();
        assert_eq!(
            xs,
            [
                Controller::NEUTRAL.main_x,
                Controller::NEUTRAL.main_x,
                0.01,
                0.02
            ]
        );
        d.reset(0, 0);
        assert_eq!(d.act(&[(0, &v)])[0], Controller::NEUTRAL);
    }
}
