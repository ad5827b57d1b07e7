//! Evaluations during a PPO or self-play run (`--eval-every`): the learner's weights against
//! its imitation base and every scripted bot, all the games played at once, and the choice of
//! the run's policy: the evaluated weights whose worst win rate is highest (the later on a tie).

use crate::matches::{play_rounds, PolicyAgent, RoundSpec};
use exphil_policy::agent::BatchedPolicy;
use exphil_sim::{Agent, Bots, Delayed, BOT_NAMES};
use serde::{Deserialize, Serialize};

/// One opponent's games in an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versus {
    /// The opponent: the imitation base's run name, or a bot's name.
    pub opponent: String,
    /// Games the learner won.
    pub wins: u32,
    /// Games it lost.
    pub losses: u32,
    /// Draws (a game reaching the frame limit with equal stocks and percent).
    pub draws: u32,
}

impl Versus {
    /// Games played.
    pub fn games(&self) -> u32 {
        self.wins + self.losses + self.draws
    }

    /// Wins per game.
    pub fn win_rate(&self) -> f64 {
        f64::from(self.wins) / f64::from(self.games().max(1))
    }
}

/// One evaluation of a run's learner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The learner's updates when it was evaluated.
    pub update: u64,
    /// Its frames then.
    pub timesteps: u64,
    /// Against each opponent, the imitation base first.
    pub results: Vec<Versus>,
    /// The worst win rate among the opponents: what the run's policy is chosen by.
    pub score: f64,
}

impl Evaluation {
    /// The evaluation of `results`.
    pub fn new(update: u64, timesteps: u64, results: Vec<Versus>) -> Evaluation {
        let score = results
            .iter()
            .map(Versus::win_rate)
            .fold(f64::INFINITY, f64::min);
        Evaluation {
            update,
            timesteps,
            results,
            score: if score.is_finite() { score } else { 0.0 },
        }
    }

    /// Whether these weights should replace `best` as the run's policy: a higher worst win
    /// rate, or the same one later in the run.
    pub fn beats(&self, best: Option<&Evaluation>) -> bool {
        best.is_none_or(|b| self.score >= b.score)
    }

    /// The evaluation in words: `base 22/24, idle 24/24, …; worst 88%`.
    pub fn line(&self) -> String {
        let each: Vec<String> = self
            .results
            .iter()
            .map(|v| format!("{} {}/{}", v.opponent, v.wins, v.games()))
            .collect();
        format!("{}; worst {:.0}%", each.join(", "), self.score * 100.0)
    }
}

/// Plays `learner` against `base` (the imitation policy, named `base_name`) and every scripted
/// bot, `spec.games` games each, and tallies the results. Both policies act with their frame
/// delay `delay`, like `exphil selfplay eval`'s seats.
pub fn evaluate(
    learner: BatchedPolicy,
    base: BatchedPolicy,
    base_name: &str,
    delay: usize,
    spec: &RoundSpec,
) -> Vec<Versus> {
    let mut me = Delayed::new(PolicyAgent::new(learner), delay);
    let mut names = vec![base_name.to_string()];
    let mut opponents: Vec<Box<dyn Agent>> =
        vec![Box::new(Delayed::new(PolicyAgent::new(base), delay))];
    for b in BOT_NAMES {
        names.push(b.to_string());
        opponents.push(Box::new(Bots::named(b).expect("a scripted bot's own name")));
    }
    let rounds = play_rounds(&mut me, &mut opponents, spec);
    names
        .into_iter()
        .zip(rounds)
        .map(|(opponent, games)| {
            let mut v = Versus {
                opponent,
                wins: 0,
                losses: 0,
                draws: 0,
            };
            for (_, o) in games {
                match o.winner {
                    Some(0) => v.wins += 1,
                    Some(_) => v.losses += 1,
                    None => v.draws += 1,
                }
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(opponent: &str, wins: u32, losses: u32, draws: u32) -> Versus {
        Versus {
            opponent: opponent.into(),
            wins,
            losses,
            draws,
        }
    }

    #[test]
    fn the_worst_win_rate_chooses_and_a_tie_goes_to_the_later_weights() {
        let a = Evaluation::new(10, 100, vec![vs("base", 20, 4, 0), vs("idle", 12, 0, 12)]);
        assert_eq!(a.score, 0.5);
        assert_eq!(a.line(), "base 20/24, idle 12/24; worst 50%");
        let b = Evaluation::new(20, 200, vec![vs("base", 24, 0, 0), vs("idle", 11, 13, 0)]);
        assert!(a.beats(None));
        assert!(!b.beats(Some(&a)), "a worse worst case loses");
        let c = Evaluation::new(30, 300, vec![vs("base", 12, 12, 0), vs("idle", 24, 0, 0)]);
        assert!(c.beats(Some(&a)), "an equal worst case later wins");
        assert_eq!(Evaluation::new(1, 1, vec![]).score, 0.0);
    }
}
