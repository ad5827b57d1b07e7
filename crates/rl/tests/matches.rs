//! Matches between agents in-process: seats from `bot:NAME`, games written as replays and
//! viewers, the summary's tallies, the same seed playing the same games, and rounds against
//! several opponents played at once.

use exphil_rl::matches::{
    play_games, play_rounds, seat, summarize, MatchSpec, Outputs, RoundSpec, SeatOpts,
};
use exphil_sim::End;
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

/// The rule bot against the idle bot and the rule bot, `games` each, all at once.
fn rounds(games: u32, seed: u64) -> Vec<Vec<(&'static str, exphil_sim::Outcome)>> {
    let o = opts();
    let mut me = seat(&o, "bot:rule").unwrap();
    let mut opponents = vec![seat(&o, "bot:idle").unwrap(), seat(&o, "bot:rule").unwrap()];
    let fox = Fighter::named("fox").unwrap();
    let spec = RoundSpec {
        fighters: [fox, fox],
        games,
        seed,
        max_frames: 1800,
    };
    play_rounds(&mut *me, &mut opponents, &spec)
}

#[test]
fn rounds_against_several_opponents_play_every_game_to_its_end_on_every_stage() {
    let r = rounds(7, 3);
    assert_eq!(r.len(), 2, "one list per opponent");
    for games in &r {
        assert_eq!(games.len(), 7);
        // Game n is on stage n mod 6.
        for (n, (stage, o)) in games.iter().enumerate() {
            assert_eq!(*stage, STAGES[n % 6].name, "game {n}");
            assert!(o.frames > 0 && o.frames <= 1800, "{o:?}");
            assert!(o.end != End::FrameLimit || o.frames == 1800, "{o:?}");
        }
    }
    // Each game is the one `play_games` plays with the same seeds, one after another.
    let o = opts();
    let fox = Fighter::named("fox").unwrap();
    for (k, opponent) in ["bot:idle", "bot:rule"].iter().enumerate() {
        let mut seats = [seat(&o, "bot:rule").unwrap(), seat(&o, opponent).unwrap()];
        let mut stage_of = |n: u32| &STAGES[n as usize % 6];
        let one_by_one = play_games(
            &mut seats,
            MatchSpec {
                fighters: [fox, fox],
                stage_of: &mut stage_of,
                games: 7,
                seed: 3 + 7 * k as u64,
                max_frames: 1800,
            },
            &Outputs::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(one_by_one, r[k], "{opponent}");
    }
    // A bot that never moves loses stocks to the rule bot.
    let taken: u32 = r[0].iter().map(|(_, o)| 4 - u32::from(o.stocks[1])).sum();
    assert!(taken > 0, "{:?}", r[0]);
    // The same seed plays the same games; another seed other games against the rule bot.
    assert_eq!(rounds(7, 3), r);
    assert_ne!(rounds(7, 4)[1], r[1]);
}
