//! Training/validation split by **whole games**, never by frames: a game's side is a pure function
//! of its key (the replay's content hash), the split seed and the validation fraction, so it is the
//! same in every run and a game keeps its side when other games are added or removed.

use serde::{Deserialize, Serialize};

/// A side of the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used for training.
    Train,
    /// Held out for validation.
    Validation,
}

/// The side of the game with key `game_key` (e.g. its content hash): validation when
/// `xxh3(seed ‖ key)` mapped to `[0, 1)` is below `validation_fraction` (clamped to 0..=1; NaN
/// counts as 0).
pub fn assign_split(game_key: &str, seed: u64, validation_fraction: f64) -> Split {
    let mut buf = Vec::with_capacity(8 + game_key.len());
    buf.extend_from_slice(&seed.to_le_bytes());
    buf.extend_from_slice(game_key.as_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&buf);
    // Top 53 bits as a uniform value in [0, 1).
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    let frac = if validation_fraction.is_nan() {
        0.0
    } else {
        validation_fraction.clamp(0.0, 1.0)
    };
    if u < frac {
        Split::Validation
    } else {
        Split::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_close_to_the_fraction() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("{:016x}", i * 7919)).collect();
        for frac in [0.0, 0.05, 0.1, 0.5, 1.0] {
            let a: Vec<Split> = keys.iter().map(|k| assign_split(k, 42, frac)).collect();
            let b: Vec<Split> = keys.iter().map(|k| assign_split(k, 42, frac)).collect();
            assert_eq!(a, b);
            let v = a.iter().filter(|s| **s == Split::Validation).count() as f64;
            let got = v / keys.len() as f64;
            assert!((got - frac).abs() < 0.01, "fraction {frac}: got {got}");
        }
        // A different seed gives a different (but equally sized) split.
        let a: Vec<Split> = keys.iter().map(|k| assign_split(k, 1, 0.5)).collect();
        let b: Vec<Split> = keys.iter().map(|k| assign_split(k, 2, 0.5)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn stable_when_games_are_added() {
        let key = "00000000deadbeef";
        let before = assign_split(key, 7, 0.2);
        // Nothing else enters the decision: no game can change sides because of another.
        for _ in 0..3 {
            assert_eq!(assign_split(key, 7, 0.2), before);
        }
        assert_eq!(assign_split(key, 7, f64::NAN), Split::Train);
        assert_eq!(assign_split(key, 7, 2.0), Split::Validation);
    }
}
