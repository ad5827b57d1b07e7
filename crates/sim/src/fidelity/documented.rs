//! Reference figures for a character the replays do not have, from Melee's documented
//! attributes: the bench compares the simulator's measured movement against them instead of
//! against replays (issue 26: Bowser, whose games are rare).

use super::Quantity;
use exphil_replay::ExternalCharacter;

/// Bowser's external character id.
const BOWSER: ExternalCharacter = ExternalCharacter(5);

/// The apex above the jump frame of an aerial jump with vertical speed `v0` under gravity `g`:
/// Melee applies gravity on the jump's first airborne frame, so the character rises
/// `v0 − k·g` on its `k`-th frame while that is positive (Fox: 4.416, 0.23 → 40.204, the
/// replays' figure).
pub fn aerial_jump_apex(v0: f64, g: f64) -> f64 {
    (1..)
        .map(|k| v0 - k as f64 * g)
        .take_while(|&dy| dy > 0.0)
        .sum()
}

/// The documented figures of `c`'s movement quantities that follow from its attributes, or
/// `None` for a character without such a table (every character the replays have is measured
/// against them instead).
///
/// Bowser's: gravity 0.13, terminal velocity 1.9, air speed 0.8 and double-jump vertical
/// speed 2.8 (the attribute table of a public Melee knockback calculator, which also lists his
/// weight 117, air mobility 0.05, air friction 0.01 and double-jump horizontal multiplier 0.9);
/// fast-fall speed 2.4 (SmashWiki's Melee fall-speed table); jump squat 8 frames (SmashWiki's
/// Melee jumpsquat table). The aerial-jump height follows from the double-jump speed and
/// gravity by [`aerial_jump_apex`].
pub fn documented(c: ExternalCharacter) -> Option<Vec<(Quantity, f64)>> {
    (c == BOWSER).then(|| {
        vec![
            (Quantity::Gravity, 0.13),
            (Quantity::TerminalSpeed, 1.9),
            (Quantity::FastFallSpeed, 2.4),
            (Quantity::JumpSquatFrames, 8.0),
            (Quantity::AerialJump1Height, aerial_jump_apex(2.8, 0.13)),
            (Quantity::AirDriftPerStick, 0.8),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aerial_jump_apex_rule_gives_the_replays_fox_figure() {
        // Fox: double jump 1.2 × 3.68 = 4.416 under gravity 0.23; the replays measure 40.204.
        assert!((aerial_jump_apex(4.416, 0.23) - 40.204).abs() < 1e-9);
        assert!((aerial_jump_apex(2.8, 0.13) - 28.77).abs() < 1e-9);
        assert_eq!(aerial_jump_apex(0.0, 0.1), 0.0);
    }

    #[test]
    fn only_bowser_has_a_documented_table() {
        let bowser = documented(BOWSER).unwrap();
        assert!(bowser.contains(&(Quantity::JumpSquatFrames, 8.0)));
        assert!(documented(ExternalCharacter(2)).is_none());
    }
}
