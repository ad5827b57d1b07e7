//! Elo ratings and the opponent population.

use exphil_rl::league::{Elo, HistoricalSampling, Pick, Population, Ratings, Weights};
use exphil_sim::Rng;

#[test]
fn elo_moves_by_the_surprise_and_k_shrinks_with_games() {
    assert!((Elo::expected(1200.0, 1200.0) - 0.5).abs() < 1e-12);
    assert!((Elo::expected(1600.0, 1200.0) - 0.909).abs() < 1e-3);
    let elo = Elo::default();
    assert_eq!(elo.k(0), 40.0);
    assert!((elo.k(30) - 20.0).abs() < 1e-9);
    assert_eq!(elo.k(10_000), 10.0);
    let mut r = Ratings::new(elo);
    r.record("a", "b", 1.0);
    // Equal ratings, K 40: the winner gains 20, the loser drops 20.
    assert!((r.get("a").unwrap().rating - 1220.0).abs() < 1e-9);
    assert!((r.get("b").unwrap().rating - 1180.0).abs() < 1e-9);
    r.record("a", "b", 0.5);
    assert!(
        r.get("a").unwrap().rating < 1220.0,
        "a draw against a weaker player costs"
    );
    let a = r.get("a").unwrap();
    assert_eq!((a.games, a.wins, a.draws, a.losses), (2, 1, 1, 0));
    // A newcomer added at a rating keeps it until it plays.
    r.add("snap", Some(1300.0));
    assert_eq!(r.leaderboard()[0].name, "snap");
    // Many wins of a over c: a's rating climbs, by less and less.
    let mut gains = Vec::new();
    for _ in 0..50 {
        let before = r.get("a").unwrap().rating;
        r.record("a", "c", 1.0);
        gains.push(r.get("a").unwrap().rating - before);
    }
    assert!(gains.windows(2).all(|w| w[1] <= w[0] + 1e-9));
    assert_eq!(r.leaderboard()[0].name, "a");
    // Zero-sum between two players with equal K.
    let mut z = Ratings::new(elo);
    z.record("x", "y", 0.0);
    let s = z.get("x").unwrap().rating + z.get("y").unwrap().rating;
    assert!((s - 2400.0).abs() < 1e-9);
}

#[test]
fn the_population_samples_by_weight_and_pfsp_prefers_hard_snapshots() {
    let w = Weights {
        current: 0.5,
        historical: 0.3,
        scripted: 0.2,
    };
    let mut p = Population::new(3, w, HistoricalSampling::Pfsp, vec!["rule".into()]);
    let mut rng = Rng::new(1);
    // No snapshots yet: only current and scripted, in ratio 5:2.
    let mut counts = [0u32; 3];
    for _ in 0..7000 {
        match p.sample(&mut rng) {
            Pick::Current => counts[0] += 1,
            Pick::Historical(_) => counts[1] += 1,
            Pick::Scripted(_) => counts[2] += 1,
        }
    }
    assert_eq!(counts[1], 0);
    assert!(
        (counts[0] as f64 / 7000.0 - 5.0 / 7.0).abs() < 0.03,
        "{counts:?}"
    );
    for name in ["v1", "v2", "v3", "v4"] {
        p.add_snapshot(name);
    }
    assert_eq!(
        p.snapshots,
        ["v2", "v3", "v4"],
        "at most 3 kept, oldest dropped"
    );
    // The learner beats v2 always, v4 never.
    for _ in 0..20 {
        p.record(0, 1.0);
        p.record(2, 0.0);
        p.record(1, 0.5);
    }
    let mut hist = [0u32; 3];
    let mut total = [0u32; 3];
    for _ in 0..20000 {
        match p.sample(&mut rng) {
            Pick::Current => total[0] += 1,
            Pick::Historical(i) => {
                total[1] += 1;
                hist[i] += 1
            }
            Pick::Scripted(s) => {
                assert_eq!(s, "rule");
                total[2] += 1
            }
        }
    }
    assert!((total[1] as f64 / 20000.0 - 0.3).abs() < 0.02, "{total:?}");
    assert!(hist[2] > hist[1] && hist[1] > hist[0], "{hist:?}");
    assert!(
        hist[0] < hist[2] / 20,
        "a beaten snapshot is rarely drawn: {hist:?}"
    );
}
