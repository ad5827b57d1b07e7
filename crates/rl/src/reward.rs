//! The reinforcement-learning reward of one step, from player 1's side: zero-sum stocks and
//! damage, an optional win/loss bonus, and the shaping terms of the original ExPhil (approach,
//! combo, edge guard, recovery risk), each with its own weight (0 turns it off).

use exphil_runs::ppo_config::RewardConfig;
use exphil_sim::{Game, StepInfo};

/// Below this height a fighter counts as off-stage even above the stage's width.
const OFFSTAGE_Y: f32 = -20.0;

/// The reward of a run: its terms' weights ([`RewardConfig`], the run config's `reward` section)
/// applied to the simulator's steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reward {
    /// The weights.
    pub weights: RewardConfig,
}

impl Reward {
    /// The reward of these weights.
    pub fn new(weights: RewardConfig) -> Reward {
        Reward { weights }
    }
}

/// What the shaping terms read of a fighter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snap {
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Hitstun frames left.
    pub hitstun: u16,
}

impl Snap {
    /// Both players of `game`.
    pub fn of(game: &Game) -> [Snap; 2] {
        game.players.each_ref().map(|p| Snap {
            x: p.x,
            y: p.y,
            hitstun: p.hitstun,
        })
    }
}

impl Reward {
    /// Whether any shaping term is on (they need the states around each step).
    pub fn shaped(&self) -> bool {
        self.weights.approach != 0.0
            || self.weights.combo != 0.0
            || self.weights.edge_guard != 0.0
            || self.weights.recovery_risk != 0.0
    }

    /// Player 1's reward for one step of a game on a stage whose main platform ends at
    /// `edge`: `before` and `after` are both players around the step (`None` when the game
    /// was replaced, which leaves only the terms of `info`).
    pub fn step(&self, edge: f32, info: &StepInfo, around: Option<([Snap; 2], [Snap; 2])>) -> f32 {
        let mut r = self.weights.damage * (info.damage_dealt[0] - info.damage_dealt[1]);
        if info.stock_lost[1] {
            r += self.weights.stock;
        }
        if info.stock_lost[0] {
            r -= self.weights.stock;
        }
        if let Some(o) = info.outcome {
            match o.winner {
                Some(0) => r += self.weights.win,
                Some(_) => r -= self.weights.win,
                None => {}
            }
        }
        let Some((before, after)) = around else {
            return r;
        };
        let offstage = |s: &Snap| s.x.abs() > edge || s.y < OFFSTAGE_Y;
        if self.weights.approach != 0.0 {
            let dist = |p: &[Snap; 2]| (p[0].x - p[1].x).hypot(p[0].y - p[1].y);
            r += self.weights.approach * (dist(&before) - dist(&after)) / 3.0;
        }
        let (them0, them1) = (before[1], after[1]);
        let hit = them1.hitstun > them0.hitstun;
        if self.weights.combo != 0.0 {
            r += self.weights.combo
                * if hit {
                    (them1.hitstun as f32 / 30.0).min(1.0)
                } else if them1.hitstun > 0 && them0.hitstun > 0 {
                    0.1
                } else {
                    0.0
                };
        }
        if self.weights.edge_guard != 0.0 && hit && offstage(&them1) && !offstage(&after[0]) {
            r += self.weights.edge_guard;
        }
        if self.weights.recovery_risk != 0.0 && offstage(&after[0]) {
            let me = after[0];
            let horizontal = ((me.x.abs() - edge).max(0.0) / 50.0).min(1.0);
            let vertical = ((-me.y).max(0.0) / 100.0).min(1.0);
            r -= self.weights.recovery_risk * (horizontal + vertical);
        }
        r
    }
}
