//! Training/validation split by **whole games**, never by frames. One rule for every command
//! ([`split_games`]): the games are ranked by a seeded hash of their key (the replay's content
//! hash), and the first `round(n × fraction)` of them are held out — at least one and never all
//! when there are two games or more and the fraction is above 0. So the split is exact for small
//! corpora and the same in every run with the same seed. A game's rank depends only on its key
//! and the seed: adding games never moves a training game to validation unless the count held
//! out grows (newcomers that rank higher push held-out games back to training).

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

/// The side of each game of `keys` (in order) for `seed` and the validation `fraction`
/// (clamped to 0..=1; NaN counts as 0). Equal keys (both perspectives of a game) get one side.
pub fn split_games(keys: &[&str], seed: u64, fraction: f64) -> Vec<Split> {
    let mut unique: Vec<&str> = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let n = unique.len();
    let frac = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let held = if frac > 0.0 && n >= 2 {
        ((n as f64 * frac).round() as usize).clamp(1, n - 1)
    } else {
        0
    };
    let rank = |k: &str| xxhash_rust::xxh3::xxh3_64(format!("{seed}:{k}").as_bytes());
    unique.sort_by_key(|k| (rank(k), *k));
    let validation: std::collections::HashSet<&str> = unique.into_iter().take(held).collect();
    keys.iter()
        .map(|k| {
            if validation.contains(k) {
                Split::Validation
            } else {
                Split::Train
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_deterministic_and_stable_as_games_are_added() {
        let keys: Vec<String> = (0..2_000).map(|i| format!("{:016x}", i * 7919)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        for frac in [0.0, 0.05, 0.1, 0.5, 1.0] {
            let a = split_games(&refs, 42, frac);
            assert_eq!(a, split_games(&refs, 42, frac));
            let held = a.iter().filter(|s| **s == Split::Validation).count();
            let want = ((refs.len() as f64 * frac).round() as usize)
                .clamp(usize::from(frac > 0.0), refs.len() - 1);
            assert_eq!(held, want, "fraction {frac}");
        }
        // Another seed, another split of the same size.
        assert_ne!(split_games(&refs, 1, 0.5), split_games(&refs, 2, 0.5));
        // Games added with the held-out count unchanged (100 of 1,000 and of 1,003): no training
        // game moves to validation.
        let small = split_games(&refs[..1_000], 7, 0.1);
        let mut more = refs[..1_000].to_vec();
        more.extend(["ffff000000000001", "ffff000000000002", "ffff000000000003"]);
        let grown = split_games(&more, 7, 0.1);
        for (before, after) in small.iter().zip(&grown) {
            assert!(!(*before == Split::Train && *after == Split::Validation));
        }
        // Two games: one held out; one game: none; equal keys share a side; NaN is 0.
        let two = split_games(&["a", "b"], 3, 0.1);
        assert_eq!(two.iter().filter(|s| **s == Split::Validation).count(), 1);
        assert_eq!(split_games(&["a"], 3, 0.5), [Split::Train]);
        let twice = split_games(&["a", "b", "a", "b"], 3, 0.5);
        assert_eq!((twice[0], twice[1]), (twice[2], twice[3]));
        assert_eq!(split_games(&["a", "b"], 3, f64::NAN), [Split::Train; 2]);
    }
}
