//! Matches between agents in-process: seats from `bot:NAME`, games written as replays and
//! viewers, the summary's tallies, and the same seed playing the same games.

use exphil_rl::matches::{play_games, seat, summarize, MatchSpec, Outputs, SeatOpts};
use exphil_sim::{Fighter, STAGES};

fn opts() -> SeatOpts<'static> {
    SeatOpts {
        checkpoints: &None,
        device: "cpu",
        deterministic: false,
        frame_delay: None,
    }
}

/// Plays `games` games of the rule bot against the random bot; the outcomes and the game lines.
fn play(
    games: u32,
    seed: u64,
    out: &Outputs<'_>,
) -> (Vec<(&'static str, exphil_sim::Outcome)>, Vec<String>) {
    let o = opts();
    let mut seats = [
        seat(&o, "bot:rule").unwrap(),
        seat(&o, "bot:random").unwrap(),
    ];
    let fox = Fighter::named("fox").unwrap();
    let mut stage_of = |n: u32| &STAGES[n as usize % 2];
    let mut lines = Vec::new();
    let results = play_games(
        &mut seats,
        MatchSpec {
            fighters: [fox, fox],
            stage_of: &mut stage_of,
            games,
            seed,
            max_frames: 1200,
        },
        out,
        &mut |p| lines.push(format!("{} {} {}", p.number, p.stage, p.line)),
    )
    .unwrap();
    (results, lines)
}

#[test]
fn a_match_plays_its_games_writes_them_and_sums_them_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Outputs {
        html: Some(dir.path()),
        slp: Some(dir.path()),
        names: ["rule", "random"],
    };
    let (results, lines) = play(3, 5, &out);
    assert_eq!(results.len(), 3);
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with(&format!("1 {} ", STAGES[0].name)),
        "{}",
        lines[0]
    );
    for n in 1..=3 {
        let slp = dir.path().join(format!("game_{n}.slp"));
        let game = exphil_replay::read_file(&slp, exphil_replay::DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", slp.display()));
        assert!(game.frames.len() > 100, "{} frames", game.frames.len());
        assert!(dir.path().join(format!("game_{n}.html")).is_file());
    }
    let s = summarize("bot:rule", "bot:random", &results);
    assert_eq!(s.games, 3);
    assert_eq!(s.wins[0] + s.wins[1] + s.draws, 3);
    let staged: u32 = s.by_stage.values().map(|t| t.p1 + t.p2 + t.draws).sum();
    assert_eq!(staged, 3);
    assert_eq!(s.final_stocks.len(), 3);
    assert!(s.mean_frames > 0.0 && s.mean_frames <= 1200.0 + 1.0);
    // The same seed plays the same games; another seed other games.
    let again = play(3, 5, &Outputs::default()).0;
    assert_eq!(again, results);
}

#[test]
fn a_seat_that_is_neither_a_bot_nor_a_policy_is_refused_by_name() {
    let o = opts();
    let e = seat(&o, "bot:nobody").err().unwrap().to_string();
    assert!(e.contains("nobody") && e.contains("rule"), "{e}");
    let e = seat(&o, "someone").err().unwrap().to_string();
    assert!(e.contains("bot:NAME") && e.contains("policy:RUN"), "{e}");
}
