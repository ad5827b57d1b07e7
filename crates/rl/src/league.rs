//! Self-play bookkeeping: Elo ratings with a K-factor that shrinks as a player's games add up,
//! and a population of opponents (the current learner, up to K historical snapshots, scripted
//! bots) sampled by category weights, historical snapshots optionally by prioritised
//! fictitious self-play (the ones the learner beats least, most often).

use exphil_sim::Rng;
use serde::{Deserialize, Serialize};

/// Elo settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Elo {
    /// A newcomer's rating.
    pub initial: f64,
    /// K for a player with no games.
    pub k_max: f64,
    /// K never goes below this.
    pub k_min: f64,
    /// Games after which K has halved.
    pub k_half_games: f64,
}

impl Default for Elo {
    fn default() -> Elo {
        Elo {
            initial: 1200.0,
            k_max: 40.0,
            k_min: 10.0,
            k_half_games: 30.0,
        }
    }
}

impl Elo {
    /// The expected score of a player rated `a` against one rated `b`.
    pub fn expected(a: f64, b: f64) -> f64 {
        1.0 / (1.0 + 10f64.powf((b - a) / 400.0))
    }

    /// K for a player with `games` games.
    pub fn k(&self, games: u64) -> f64 {
        (self.k_max * self.k_half_games / (self.k_half_games + games as f64)).max(self.k_min)
    }
}

/// One player's rating and record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Name.
    pub name: String,
    /// Elo rating.
    pub rating: f64,
    /// Games played.
    pub games: u64,
    /// Wins.
    pub wins: u64,
    /// Losses.
    pub losses: u64,
    /// Draws.
    pub draws: u64,
}

/// Ratings of every player met.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ratings {
    /// Settings.
    pub elo: Elo,
    /// Players, in order of first appearance.
    pub players: Vec<Rating>,
}

impl Ratings {
    /// Ratings with these settings.
    pub fn new(elo: Elo) -> Ratings {
        Ratings {
            elo,
            players: Vec::new(),
        }
    }

    /// The player's index, adding it at `rating` (or the initial rating) when new.
    pub fn add(&mut self, name: &str, rating: Option<f64>) -> usize {
        if let Some(i) = self.players.iter().position(|p| p.name == name) {
            return i;
        }
        self.players.push(Rating {
            name: name.to_string(),
            rating: rating.unwrap_or(self.elo.initial),
            games: 0,
            wins: 0,
            losses: 0,
            draws: 0,
        });
        self.players.len() - 1
    }

    /// The rating of `name`, if met.
    pub fn get(&self, name: &str) -> Option<&Rating> {
        self.players.iter().find(|p| p.name == name)
    }

    /// Records a game: `score` is `a`'s (1 win, 0.5 draw, 0 loss). Each side moves by its own K.
    pub fn record(&mut self, a: &str, b: &str, score: f64) {
        let (i, j) = (self.add(a, None), self.add(b, None));
        if i == j {
            return;
        }
        let (ra, rb) = (self.players[i].rating, self.players[j].rating);
        let ea = Elo::expected(ra, rb);
        let (ka, kb) = (
            self.elo.k(self.players[i].games),
            self.elo.k(self.players[j].games),
        );
        self.players[i].rating = ra + ka * (score - ea);
        self.players[j].rating = rb + kb * ((1.0 - score) - (1.0 - ea));
        for (k, s) in [(i, score), (j, 1.0 - score)] {
            let p = &mut self.players[k];
            p.games += 1;
            if s > 0.5 {
                p.wins += 1;
            } else if s < 0.5 {
                p.losses += 1;
            } else {
                p.draws += 1;
            }
        }
    }

    /// Players by rating, best first.
    pub fn leaderboard(&self) -> Vec<&Rating> {
        let mut v: Vec<&Rating> = self.players.iter().collect();
        v.sort_by(|a, b| b.rating.total_cmp(&a.rating));
        v
    }
}

/// How snapshots are chosen and the category weights: settings of the run config, in
/// `exphil-runs` (burn-free).
pub use exphil_runs::ppo_config::{HistoricalSampling, Weights};

/// An opponent drawn from the population.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The learner's latest weights.
    Current,
    /// Historical snapshot by index in [`Population::snapshots`].
    Historical(usize),
    /// A scripted bot by name.
    Scripted(String),
}

/// The population of opponents.
#[derive(Clone, Debug, Serialize)]
pub struct Population {
    /// Most historical snapshots kept (the oldest is dropped).
    pub max_history: usize,
    /// Category weights.
    pub weights: Weights,
    /// How snapshots are chosen.
    pub sampling: HistoricalSampling,
    /// Snapshot names, oldest first.
    pub snapshots: Vec<String>,
    /// Scripted bots available.
    pub scripted: Vec<String>,
    /// Learner results against each snapshot: (score, games), a draw scoring one half.
    results: Vec<(f64, u64)>,
}

impl Population {
    /// A population with no snapshots yet.
    pub fn new(
        max_history: usize,
        weights: Weights,
        sampling: HistoricalSampling,
        scripted: Vec<String>,
    ) -> Population {
        Population {
            max_history,
            weights,
            sampling,
            snapshots: Vec::new(),
            scripted,
            results: Vec::new(),
        }
    }

    /// Adds a snapshot; returns the index of the one dropped to make room, if any.
    pub fn add_snapshot(&mut self, name: &str) -> Option<usize> {
        if self.max_history == 0 {
            return None;
        }
        let dropped = (self.snapshots.len() >= self.max_history).then(|| {
            self.snapshots.remove(0);
            self.results.remove(0);
            0
        });
        self.snapshots.push(name.to_string());
        self.results.push((0.0, 0));
        dropped
    }

    /// Records the learner's result against snapshot `i` (score 1, 0.5 or 0).
    pub fn record(&mut self, i: usize, score: f64) {
        if let Some(r) = self.results.get_mut(i) {
            r.0 += score.clamp(0.0, 1.0);
            r.1 += 1;
        }
    }

    /// The learner's mean score against snapshot `i` (0.5 before any game).
    pub fn win_rate(&self, i: usize) -> f64 {
        match self.results.get(i) {
            Some(&(w, g)) if g > 0 => w / g as f64,
            _ => 0.5,
        }
    }

    /// Draws an opponent: a category by its weight (empty categories left out), then a member.
    pub fn sample(&self, rng: &mut Rng) -> Pick {
        let cats = [
            (self.weights.current, true),
            (self.weights.historical, !self.snapshots.is_empty()),
            (self.weights.scripted, !self.scripted.is_empty()),
        ];
        let total: f64 = cats.iter().filter(|c| c.1).map(|c| c.0.max(0.0)).sum();
        if total <= 0.0 {
            return Pick::Current;
        }
        let mut u = rng.unit() as f64 * total;
        let mut cat = 0;
        for (i, (w, ok)) in cats.iter().enumerate() {
            if !ok {
                continue;
            }
            cat = i;
            if u < w.max(0.0) {
                break;
            }
            u -= w.max(0.0);
        }
        match cat {
            0 => Pick::Current,
            1 => {
                let w: Vec<f64> = (0..self.snapshots.len())
                    .map(|i| match self.sampling {
                        HistoricalSampling::Uniform => 1.0,
                        HistoricalSampling::Pfsp => (1.0 - self.win_rate(i)).powi(2) + 1e-3,
                    })
                    .collect();
                let sum: f64 = w.iter().sum();
                let mut u = rng.unit() as f64 * sum;
                for (i, wi) in w.iter().enumerate() {
                    if u < *wi {
                        return Pick::Historical(i);
                    }
                    u -= wi;
                }
                Pick::Historical(self.snapshots.len() - 1)
            }
            _ => {
                let i = (rng.next_u64() % self.scripted.len() as u64) as usize;
                Pick::Scripted(self.scripted[i].clone())
            }
        }
    }
}
