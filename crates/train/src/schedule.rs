//! The learning-rate schedule: linear warmup, then a constant, linear, cosine, cosine with warm
//! restarts (SGDR), exponential or reduce-on-plateau shape, floored at `min_lr`, times a
//! recovery multiplier.
//!
//! Steps are optimiser steps counted from 0: [`LrSchedule::lr`]`(s)` is the rate of the step
//! taken when [`crate::optim::Optimizer::steps`] is `s`.
//!
//! - **Warmup.** With `W = warmup_steps > 0`, step `s < W` gets `target * (s + 1) / W`: step 0
//!   already moves (rate `target / W`) and step `W - 1` reaches the target, which is the peak
//!   rate (for `plateau`, the peak times the current plateau factor). The floor does not apply
//!   during warmup.
//! - **Shape.** From step `W` on, `t = s - W` counts the steps since warmup, so the shape starts
//!   at the peak at `t = 0`. The horizon `H` of `linear` and `cosine` is `decay_steps`, or when
//!   it is `None`, `total_steps - W`; both reach `min_lr` at `t = H` and stay there
//!   (`H = 0`: `min_lr` at once). `linear` is `peak + (min_lr - peak) t / H`; `cosine` is
//!   `min_lr + (peak - min_lr)(1 + cos(pi t / H)) / 2`.
//! - **Cosine with warm restarts** (SGDR): the first cycle lasts `T_0 = restart_period` steps
//!   (0 is taken as 1), each next one `restart_mult` times longer (values below 1 are taken as
//!   1; fractional multipliers give fractional cycle lengths: a cycle starts at the first step
//!   at or after its real start `T_0 (m^i - 1) / (m - 1)`). Within a cycle of length `T_i`, at
//!   `t_cur` steps into it, the rate is `min_lr + (peak - min_lr)(1 + cos(pi t_cur / T_i)) / 2`,
//!   back to the peak at each restart.
//! - **Exponential**: `peak * gamma^(t / U)` with `U = decay_steps`, or the horizon
//!   `total_steps - W` when `None` (0 is taken as 1).
//! - **Plateau**: `peak * factor`, where the factor starts at 1 and [`LrSchedule::on_validation`]
//!   multiplies it by `plateau_factor` once the validation loss has not improved for
//!   `plateau_patience` epochs in a row (the count then restarts), never taking the rate below
//!   `min_lr`. An improvement is a finite loss strictly below the best so far. (PyTorch's
//!   `ReduceLROnPlateau` waits for `patience + 1` bad epochs and uses a relative threshold.)
//! - After the shape, every rate (warmup excepted) is floored at `min_lr`; finally everything is
//!   multiplied by the scale set by [`LrSchedule::scale_by`] (1 at first), floor included.

use exphil_runs::config::{ScheduleConfig, ScheduleKind};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The mutable part of a schedule, saved with checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Lowest validation loss seen by [`LrSchedule::on_validation`] (`None` before the first
    /// finite one).
    pub best: Option<f64>,
    /// Validation epochs in a row without improvement since the last improvement or reduction.
    pub bad_epochs: u32,
    /// Reduce-on-plateau factor on the peak rate (1 until the first reduction).
    pub factor: f64,
    /// Multiplier on top of everything (lowered after numerical-fault recovery).
    pub scale: f64,
}

impl Default for ScheduleState {
    fn default() -> ScheduleState {
        ScheduleState {
            best: None,
            bad_epochs: 0,
            factor: 1.0,
            scale: 1.0,
        }
    }
}

/// A learning-rate schedule over optimiser steps (see the module documentation for the exact
/// formulas).
#[derive(Clone, Debug)]
pub struct LrSchedule {
    cfg: ScheduleConfig,
    peak: f64,
    total_steps: u64,
    state: ScheduleState,
}

impl LrSchedule {
    /// The schedule of `cfg` peaking at `peak_lr`, for a run of `total_steps` optimiser steps
    /// (warmup included).
    pub fn new(cfg: &ScheduleConfig, peak_lr: f64, total_steps: u64) -> LrSchedule {
        LrSchedule {
            cfg: cfg.clone(),
            peak: peak_lr,
            total_steps,
            state: ScheduleState::default(),
        }
    }

    /// The peak rate.
    pub fn peak_lr(&self) -> f64 {
        self.peak
    }

    /// The steps after warmup: `total_steps - warmup_steps` (0 when warmup is longer).
    fn default_horizon(&self) -> u64 {
        self.total_steps.saturating_sub(self.cfg.warmup_steps)
    }

    /// The rate of optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        let cfg = &self.cfg;
        let target = match cfg.schedule {
            ScheduleKind::Plateau => self.peak * self.state.factor,
            _ => self.peak,
        };
        let base = if step < cfg.warmup_steps {
            target * (step + 1) as f64 / cfg.warmup_steps as f64
        } else {
            self.shape(step - cfg.warmup_steps, target).max(cfg.min_lr)
        };
        base * self.state.scale
    }

    /// The shape's value `t` steps after warmup (before the floor).
    fn shape(&self, t: u64, target: f64) -> f64 {
        let cfg = &self.cfg;
        let (peak, min) = (self.peak, cfg.min_lr);
        let t = t as f64;
        match cfg.schedule {
            ScheduleKind::Constant => peak,
            ScheduleKind::Plateau => target,
            ScheduleKind::Linear | ScheduleKind::Cosine => {
                let horizon = cfg.decay_steps.unwrap_or_else(|| self.default_horizon());
                let p = if horizon == 0 {
                    1.0
                } else {
                    (t / horizon as f64).min(1.0)
                };
                if cfg.schedule == ScheduleKind::Linear {
                    peak + (min - peak) * p
                } else {
                    min + (peak - min) * 0.5 * (1.0 + (PI * p).cos())
                }
            }
            ScheduleKind::CosineRestarts => {
                let (t_cur, period) = sgdr_cycle(
                    t,
                    cfg.restart_period.max(1) as f64,
                    cfg.restart_mult.max(1.0),
                );
                min + (peak - min) * 0.5 * (1.0 + (PI * t_cur / period).cos())
            }
            ScheduleKind::Exponential => {
                let unit = cfg
                    .decay_steps
                    .unwrap_or_else(|| self.default_horizon())
                    .max(1);
                peak * cfg.gamma.powf(t / unit as f64)
            }
        }
    }

    /// Reports an epoch's validation loss. For `plateau`, returns whether the rate was reduced
    /// (see the module documentation); other schedules ignore it and return `false`.
    pub fn on_validation(&mut self, val_loss: f64) -> bool {
        if self.cfg.schedule != ScheduleKind::Plateau {
            return false;
        }
        let st = &mut self.state;
        if val_loss.is_finite() && st.best.is_none_or(|b| val_loss < b) {
            st.best = Some(val_loss);
            st.bad_epochs = 0;
            return false;
        }
        st.bad_epochs = st.bad_epochs.saturating_add(1);
        if st.bad_epochs < self.cfg.plateau_patience {
            return false;
        }
        st.bad_epochs = 0;
        let mut factor = st.factor * self.cfg.plateau_factor;
        if self.peak > 0.0 && self.peak * factor < self.cfg.min_lr {
            factor = self.cfg.min_lr / self.peak;
        }
        if factor < st.factor {
            st.factor = factor;
            true
        } else {
            false
        }
    }

    /// Multiplies every future rate by `f` (cumulative).
    pub fn scale_by(&mut self, f: f64) {
        self.state.scale *= f;
    }

    /// The mutable state (for checkpoints).
    pub fn state(&self) -> ScheduleState {
        self.state.clone()
    }

    /// Restores a state saved by [`LrSchedule::state`].
    pub fn restore(&mut self, state: ScheduleState) {
        self.state = state;
    }
}

/// SGDR: the position `t_cur` within the current cycle and the cycle's length, at `t` steps,
/// for a first cycle of `t0 > 0` steps growing by `mult >= 1`.
fn sgdr_cycle(t: f64, t0: f64, mult: f64) -> (f64, f64) {
    if mult == 1.0 {
        let n = (t / t0).floor();
        return (t - n * t0, t0);
    }
    let start = |n: f64| t0 * (mult.powf(n) - 1.0) / (mult - 1.0);
    let mut n = ((t * (mult - 1.0) / t0 + 1.0).ln() / mult.ln())
        .floor()
        .max(0.0);
    // Guard the closed form against rounding at cycle boundaries.
    if n > 0.0 && t < start(n) {
        n -= 1.0;
    }
    if t >= start(n + 1.0) {
        n += 1.0;
    }
    (t - start(n), t0 * mult.powf(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: ScheduleKind) -> ScheduleConfig {
        ScheduleConfig {
            schedule: kind,
            ..ScheduleConfig::default()
        }
    }

    fn close(a: f64, b: f64) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1e-12),
            "{a} != {b} (diff {})",
            a - b
        );
    }

    #[test]
    fn warmup_reaches_peak_at_last_warmup_step() {
        let c = ScheduleConfig {
            warmup_steps: 4,
            ..cfg(ScheduleKind::Constant)
        };
        let s = LrSchedule::new(&c, 1.0, 100);
        close(s.lr(0), 0.25);
        close(s.lr(1), 0.5);
        close(s.lr(2), 0.75);
        close(s.lr(3), 1.0);
        close(s.lr(4), 1.0);
        close(s.lr(99), 1.0);
        // The floor does not apply during warmup.
        let c = ScheduleConfig {
            warmup_steps: 4,
            min_lr: 0.6,
            ..cfg(ScheduleKind::Constant)
        };
        let s = LrSchedule::new(&c, 1.0, 100);
        close(s.lr(0), 0.25);
    }

    #[test]
    fn linear_decays_to_min_over_default_horizon() {
        let c = ScheduleConfig {
            warmup_steps: 10,
            min_lr: 0.1,
            ..cfg(ScheduleKind::Linear)
        };
        // Horizon = 110 - 10 = 100.
        let s = LrSchedule::new(&c, 1.1, 110);
        close(s.lr(9), 1.1);
        close(s.lr(10), 1.1);
        close(s.lr(60), 0.6);
        close(s.lr(110), 0.1);
        close(s.lr(500), 0.1);
    }

    #[test]
    fn linear_uses_explicit_decay_steps() {
        let c = ScheduleConfig {
            decay_steps: Some(20),
            ..cfg(ScheduleKind::Linear)
        };
        let s = LrSchedule::new(&c, 2.0, 1000);
        close(s.lr(0), 2.0);
        close(s.lr(5), 1.5);
        close(s.lr(10), 1.0);
        assert_eq!(s.lr(20), 0.0);
        assert_eq!(s.lr(25), 0.0);
    }

    #[test]
    fn cosine_midpoint_end_and_floor() {
        let c = ScheduleConfig {
            warmup_steps: 5,
            min_lr: 0.2,
            ..cfg(ScheduleKind::Cosine)
        };
        let s = LrSchedule::new(&c, 1.0, 105);
        close(s.lr(5), 1.0);
        close(s.lr(55), 0.6);
        // A quarter: min + (peak - min) * (1 + cos(pi/4)) / 2.
        close(s.lr(30), 0.2 + 0.8 * 0.5 * (1.0 + (PI / 4.0).cos()));
        close(s.lr(105), 0.2);
        close(s.lr(1000), 0.2);
        // Horizon 0 (warmup covers the run): min_lr right after warmup.
        let s = LrSchedule::new(&c, 1.0, 3);
        close(s.lr(5), 0.2);
    }

    #[test]
    fn cosine_restarts_integer_mult_boundaries() {
        let c = ScheduleConfig {
            restart_period: 10,
            restart_mult: 2.0,
            min_lr: 0.0,
            ..cfg(ScheduleKind::CosineRestarts)
        };
        let s = LrSchedule::new(&c, 1.0, 1000);
        // Cycles: [0, 10), [10, 30), [30, 70), [70, 150).
        close(s.lr(0), 1.0);
        close(s.lr(5), 0.5);
        close(s.lr(10), 1.0);
        close(s.lr(20), 0.5);
        close(s.lr(29), 0.5 * (1.0 + (PI * 19.0 / 20.0).cos()));
        close(s.lr(30), 1.0);
        close(s.lr(50), 0.5);
        close(s.lr(70), 1.0);
        close(s.lr(110), 0.5);
        close(s.lr(150), 1.0);
    }

    #[test]
    fn cosine_restarts_constant_and_fractional_mult() {
        let c = ScheduleConfig {
            restart_period: 8,
            restart_mult: 1.0,
            min_lr: 0.5,
            warmup_steps: 2,
            ..cfg(ScheduleKind::CosineRestarts)
        };
        let s = LrSchedule::new(&c, 1.5, 1000);
        close(s.lr(2), 1.5);
        close(s.lr(6), 1.0);
        close(s.lr(10), 1.5);
        close(s.lr(2 + 8 * 1000 + 4), 1.0);

        let c = ScheduleConfig {
            restart_period: 10,
            restart_mult: 1.5,
            ..cfg(ScheduleKind::CosineRestarts)
        };
        let s = LrSchedule::new(&c, 1.0, 1000);
        // Cycles start at 0, 10, 25, 47.5, 81.25 with lengths 10, 15, 22.5, 33.75.
        close(s.lr(24), 0.5 * (1.0 + (PI * 14.0 / 15.0).cos()));
        close(s.lr(25), 1.0);
        close(s.lr(47), 0.5 * (1.0 + (PI * 22.0 / 22.5).cos()));
        close(s.lr(48), 0.5 * (1.0 + (PI * 0.5 / 33.75).cos()));
        close(s.lr(81), 0.5 * (1.0 + (PI * 33.5 / 33.75).cos()));
        close(s.lr(82), 0.5 * (1.0 + (PI * 0.75 / 50.625).cos()));
    }

    #[test]
    fn sgdr_cycle_is_exact_at_many_boundaries() {
        for &(t0, m) in &[(1.0, 2.0), (3.0, 3.0), (7.0, 2.0), (5.0, 1.25)] {
            let mut start: f64 = 0.0;
            let mut period: f64 = t0;
            for _ in 0..20 {
                let s = start.ceil();
                if s < 1e12 {
                    let (cur, len) = sgdr_cycle(s, t0, m);
                    assert!((len - period).abs() < 1e-6 * period, "t0 {t0} m {m} at {s}");
                    assert!((cur - (s - start)).abs() < 1e-6 * period.max(1.0));
                }
                start += period;
                period *= m;
            }
        }
    }

    #[test]
    fn exponential_continuous_decay_and_floor() {
        let c = ScheduleConfig {
            decay_steps: Some(10),
            gamma: 0.5,
            min_lr: 0.1,
            ..cfg(ScheduleKind::Exponential)
        };
        let s = LrSchedule::new(&c, 1.0, 1000);
        close(s.lr(0), 1.0);
        close(s.lr(5), 0.5f64.sqrt());
        close(s.lr(10), 0.5);
        close(s.lr(20), 0.25);
        close(s.lr(40), 0.1);
        // Default unit: the horizon after warmup.
        let c = ScheduleConfig {
            warmup_steps: 10,
            gamma: 0.1,
            ..cfg(ScheduleKind::Exponential)
        };
        let s = LrSchedule::new(&c, 1.0, 110);
        close(s.lr(60), 0.1f64.sqrt());
        close(s.lr(110), 0.1);
    }

    #[test]
    fn plateau_reduces_after_patience_and_floors() {
        let c = ScheduleConfig {
            plateau_factor: 0.5,
            plateau_patience: 2,
            min_lr: 0.2,
            ..cfg(ScheduleKind::Plateau)
        };
        let mut s = LrSchedule::new(&c, 1.0, 1000);
        assert!(!s.on_validation(3.0));
        assert!(!s.on_validation(2.0));
        assert!(!s.on_validation(2.5));
        close(s.lr(100), 1.0);
        assert!(s.on_validation(2.0)); // not strictly better: second bad epoch
        close(s.lr(100), 0.5);
        assert_eq!(s.state().bad_epochs, 0);
        assert!(!s.on_validation(f64::NAN));
        assert!(s.on_validation(4.0));
        close(s.lr(100), 0.25);
        assert!(!s.on_validation(1.0)); // improvement resets
        assert!(!s.on_validation(1.5));
        assert!(s.on_validation(1.5));
        close(s.lr(100), 0.2); // floored at min_lr
        assert!(!s.on_validation(1.5));
        assert!(!s.on_validation(1.5)); // at the floor: nothing to reduce
        close(s.lr(100), 0.2);
        assert_eq!(s.state().best, Some(1.0));
    }

    #[test]
    fn plateau_with_warmup_ramps_to_reduced_peak() {
        let c = ScheduleConfig {
            warmup_steps: 4,
            plateau_patience: 1,
            plateau_factor: 0.1,
            ..cfg(ScheduleKind::Plateau)
        };
        let mut s = LrSchedule::new(&c, 1.0, 1000);
        assert!(!s.on_validation(1.0));
        assert!(s.on_validation(1.0));
        close(s.lr(1), 0.05);
        close(s.lr(3), 0.1);
        close(s.lr(50), 0.1);
    }

    #[test]
    fn other_kinds_ignore_validation() {
        for kind in [
            ScheduleKind::Constant,
            ScheduleKind::Linear,
            ScheduleKind::Cosine,
            ScheduleKind::CosineRestarts,
            ScheduleKind::Exponential,
        ] {
            let c = ScheduleConfig {
                plateau_patience: 0,
                ..cfg(kind)
            };
            let mut s = LrSchedule::new(&c, 1.0, 100);
            let before: Vec<f64> = (0..100).map(|i| s.lr(i)).collect();
            for v in [1.0, 2.0, 3.0] {
                assert!(!s.on_validation(v));
            }
            let after: Vec<f64> = (0..100).map(|i| s.lr(i)).collect();
            assert_eq!(before, after, "{kind:?}");
            assert_eq!(s.state(), ScheduleState::default());
        }
    }

    #[test]
    fn scale_applies_on_top_of_floor() {
        let c = ScheduleConfig {
            decay_steps: Some(10),
            min_lr: 0.5,
            warmup_steps: 2,
            ..cfg(ScheduleKind::Linear)
        };
        let mut s = LrSchedule::new(&c, 1.0, 100);
        s.scale_by(0.5);
        s.scale_by(0.5);
        close(s.lr(0), 0.125);
        close(s.lr(2), 0.25);
        close(s.lr(50), 0.125);
    }

    #[test]
    fn state_round_trips_through_json() {
        let c = ScheduleConfig {
            plateau_patience: 1,
            ..cfg(ScheduleKind::Plateau)
        };
        let mut s = LrSchedule::new(&c, 3e-4, 1000);
        s.on_validation(2.0);
        s.on_validation(2.5);
        s.on_validation(2.25);
        s.scale_by(0.3);
        let st = s.state();
        assert_eq!(st.best, Some(2.0));
        let json = serde_json::to_string(&st).unwrap();
        let back: ScheduleState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
        let mut fresh = LrSchedule::new(&c, 3e-4, 1000);
        assert_ne!(fresh.lr(10), s.lr(10));
        fresh.restore(back);
        assert_eq!(fresh.lr(10), s.lr(10));
        // Later reductions continue from the restored counters.
        assert_eq!(fresh.on_validation(3.0), s.on_validation(3.0));
        assert_eq!(fresh.state(), s.state());
        // The state before any validation (best None) round-trips too.
        let st = ScheduleState::default();
        let back: ScheduleState =
            serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back, st);
    }
}
