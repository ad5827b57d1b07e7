//! The reward's terms, one at a time.

use exphil_rl::reward::{Reward, Snap};
use exphil_runs::ppo_config::RewardConfig;
use exphil_sim::game::{End, Outcome, StepInfo};

const EDGE: f32 = 85.0;

fn off() -> Reward {
    Reward::new(RewardConfig {
        damage: 0.0,
        stock: 0.0,
        ..RewardConfig::default()
    })
}

fn snap(x: f32, y: f32, hitstun: u16) -> Snap {
    Snap { x, y, hitstun }
}

#[test]
fn stocks_damage_and_wins_are_zero_sum() {
    let r = Reward::new(RewardConfig {
        win: 5.0,
        ..RewardConfig::default()
    });
    let info = StepInfo {
        damage_dealt: [12.0, 2.0],
        stock_lost: [false, true],
        outcome: None,
    };
    assert!((r.step(EDGE, &info, None) - (0.1 + 1.0)).abs() < 1e-6);
    let mut lost = StepInfo {
        stock_lost: [true, false],
        ..StepInfo::default()
    };
    lost.outcome = Some(Outcome {
        winner: Some(1),
        end: End::Stocks,
        frames: 100,
        stocks: [0, 1],
        percent: [0.0; 2],
    });
    assert!((r.step(EDGE, &lost, None) + 6.0).abs() < 1e-6);
    assert!(!r.shaped());
}

#[test]
fn shaping_terms_reward_approach_combos_edge_guards_and_punish_risk() {
    let none = StepInfo::default();
    let approach = Reward::new(RewardConfig {
        approach: 1.0,
        ..off().weights
    });
    assert!(approach.shaped());
    let around = (
        [snap(0.0, 0.0, 0), snap(30.0, 0.0, 0)],
        [snap(3.0, 0.0, 0), snap(30.0, 0.0, 0)],
    );
    assert!((approach.step(EDGE, &none, Some(around)) - 1.0).abs() < 1e-5);
    // Without the states (a replaced game) the shaping terms are left out.
    assert_eq!(approach.step(EDGE, &none, None), 0.0);

    let combo = Reward::new(RewardConfig {
        combo: 1.0,
        ..off().weights
    });
    let hit = (
        [snap(0.0, 0.0, 0), snap(10.0, 0.0, 0)],
        [snap(0.0, 0.0, 0), snap(10.0, 0.0, 15)],
    );
    assert!((combo.step(EDGE, &none, Some(hit)) - 0.5).abs() < 1e-6);
    let held = (
        [snap(0.0, 0.0, 0), snap(10.0, 0.0, 15)],
        [snap(0.0, 0.0, 0), snap(10.0, 0.0, 14)],
    );
    assert!((combo.step(EDGE, &none, Some(held)) - 0.1).abs() < 1e-6);

    let guard = Reward::new(RewardConfig {
        edge_guard: 1.0,
        ..off().weights
    });
    let offstage_hit = (
        [snap(80.0, 0.0, 0), snap(100.0, -10.0, 0)],
        [snap(80.0, 0.0, 0), snap(104.0, -10.0, 20)],
    );
    assert_eq!(guard.step(EDGE, &none, Some(offstage_hit)), 1.0);
    let onstage_hit = (
        [snap(0.0, 0.0, 0), snap(20.0, 0.0, 0)],
        [snap(0.0, 0.0, 0), snap(24.0, 0.0, 20)],
    );
    assert_eq!(guard.step(EDGE, &none, Some(onstage_hit)), 0.0);

    let risk = Reward::new(RewardConfig {
        recovery_risk: 1.0,
        ..off().weights
    });
    let out = (
        [snap(0.0, 0.0, 0); 2],
        [snap(110.0, -50.0, 0), snap(0.0, 0.0, 0)],
    );
    assert!((risk.step(EDGE, &none, Some(out)) + (0.5 + 0.5)).abs() < 1e-6);
    let safe = (
        [snap(0.0, 0.0, 0); 2],
        [snap(50.0, 0.0, 0), snap(0.0, 0.0, 0)],
    );
    assert_eq!(risk.step(EDGE, &none, Some(safe)), 0.0);
}
