//! The fidelity bench's measuring half: on real replays the measured movement lands on Melee's
//! known values, on simulated games it lands on the simulator's own constants, and the report
//! compares the two (printed: `cargo test -p exphil-sim --test fidelity -- --nocapture`).

use exphil_replay::ExternalCharacter;
use exphil_sim::bots::{bot, Bot};
use exphil_sim::fidelity::{
    actions, measure, measure_replays, measure_simulator, simulate_for, CharacterSamples, Drill,
    Quantity, Reference, Report, Rollup, DRILL_STAGE, MOVEMENT_TARGET,
};
use exphil_sim::game::Game;
use exphil_sim::{FIGHTERS, STAGES};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Every complete game of the shared replays, measured once for all tests.
fn real() -> &'static Rollup {
    static REAL: OnceLock<Rollup> = OnceLock::new();
    REAL.get_or_init(|| {
        let paths: Vec<PathBuf> = exphil_testdata::manifest()
            .into_iter()
            .filter(|e| e.is_game())
            .map(|e| e.path)
            .collect();
        assert!(paths.len() >= 30, "the shared games are missing");
        measure_replays(&paths)
    })
}

fn real_figures(name: &str) -> BTreeMap<Quantity, f64> {
    let c = ExternalCharacter::parse(name).unwrap();
    figures(&real().measurements.characters[&c])
}

fn figures(c: &CharacterSamples) -> BTreeMap<Quantity, f64> {
    c.figures().into_iter().map(|(q, f)| (q, f.value)).collect()
}

#[track_caller]
fn near(figs: &BTreeMap<Quantity, f64>, q: Quantity, want: f64, tol: f64) {
    let got = figs.get(&q).copied();
    assert!(
        got.is_some_and(|g| (g - want).abs() <= tol),
        "{q:?}: measured {got:?}, want {want} ± {tol}"
    );
}

#[test]
fn real_fox_moves_as_melee_fox() {
    let r = real();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let f = real_figures("fox");
    use Quantity::*;
    near(&f, Gravity, 0.23, 0.002);
    near(&f, TerminalSpeed, 2.8, 0.01);
    near(&f, FastFallSpeed, 3.4, 0.01);
    near(&f, JumpSquatFrames, 3.0, 0.0);
    near(&f, FullHopSpeed, 3.68, 0.01);
    near(&f, FullHopHeight, 31.28, 0.1);
    near(&f, FullHopApexFrames, 16.0, 0.0);
    near(&f, ShortHopSpeed, 2.1, 0.01);
    near(&f, ShortHopHeight, 10.65, 0.1);
    near(&f, ShortHopApexFrames, 10.0, 0.0);
    near(&f, DashFirstFrameSpeed, 1.90, 0.02);
    near(&f, RunSpeedPerStick, 2.2, 0.05);
    near(&f, AirDriftPerStick, 0.83, 0.02);
    near(&f, LandingFrames, 4.0, 0.0);
    near(&f, AirdodgeFrames, 49.0, 0.0);
    near(&f, AirdodgeHelplessShare, 1.0, 0.05);
    near(&f, WavedashLandingFrames, 10.0, 0.0);
    // A run-off's first falling frame: the air speed cap. A jump out of a run with the stick
    // held: the 1.7 cap. The one fair landing not L-cancelled that runs out: Melee's 22 (the
    // other slid off its platform after 3 frames and is left out).
    near(&f, RunOffSpeed, 0.83, 1e-3);
    near(&f, JumpTakeoffSpeed, 1.70, 1e-3);
    near(&f, LandingAirF, 22.0, 0.0);
}

#[test]
fn real_falco_and_marth_landings_that_run_out() {
    use Quantity::*;
    // Falco's neutral air: Melee's 15 (landings cut short by a hit are left out).
    near(&real_figures("falco"), LandingAirN, 15.0, 0.0);
    // Marth's back air, L-cancelled: Melee's 24 halved.
    near(&real_figures("marth"), LandingAirBLCancel, 12.0, 0.0);
    near(&real_figures("marth"), RunOffSpeed, 0.9, 1e-3);
}

#[test]
fn real_jigglypuff_moves_as_melee_jigglypuff() {
    let f = real_figures("jigglypuff");
    use Quantity::*;
    near(&f, Gravity, 0.064, 0.001);
    near(&f, TerminalSpeed, 1.3, 0.01);
    near(&f, FastFallSpeed, 1.6, 0.01);
    near(&f, JumpSquatFrames, 5.0, 0.0);
    near(&f, AerialJump1Height, 20.45, 0.1);
    near(&f, AerialJump5Height, 11.59, 0.1);
    let heights: Vec<f64> = (1..=5)
        .map(|k| f[&Quantity::aerial_jump(k).unwrap()])
        .collect();
    assert!(
        heights.windows(2).all(|w| w[1] < w[0] - 1.0),
        "each aerial jump lower than the last: {heights:?}"
    );
}

#[test]
fn simulated_games_measure_the_simulators_own_constants() {
    let all: Vec<ExternalCharacter> = FIGHTERS.iter().map(|f| f.character).collect();
    let sim = measure_simulator(&all, 1).unwrap();
    for fighter in &FIGHTERS {
        let c = &sim.characters[&fighter.character];
        let f = figures(c);
        let name = fighter.character.name().unwrap();
        for (q, want) in [
            (Quantity::Gravity, fighter.gravity),
            (Quantity::TerminalSpeed, fighter.terminal),
            (Quantity::FastFallSpeed, fighter.fast_fall),
            (Quantity::JumpSquatFrames, fighter.jump_squat as f32),
            (Quantity::LandingFrames, fighter.landing_lag as f32),
        ] {
            let got = f.get(&q).copied();
            assert!(
                got.is_some_and(|g| (g - want as f64).abs() < 1e-4),
                "{name} {q:?}: measured {got:?}, the simulator has {want}"
            );
        }
        // Every drill movement shows up in the measurements.
        for q in [
            Quantity::FullHopHeight,
            Quantity::ShortHopHeight,
            Quantity::AerialJump1Height,
            Quantity::DashFrames,
            Quantity::RunSpeedPerStick,
            Quantity::AirDriftPerStick,
            Quantity::RunOffSpeed,
            Quantity::AirdodgeFrames,
        ] {
            assert!(f.contains_key(&q), "{name}: no {q:?} from the drill");
        }
        let air_jumps = fighter.air_jumps as usize;
        assert!(
            f.contains_key(&Quantity::aerial_jump(air_jumps).unwrap()),
            "{name}"
        );
    }
}

#[test]
fn the_drill_plays_every_step_on_every_fighter() {
    for fighter in &FIGHTERS {
        let mut g = Game::new(&STAGES[DRILL_STAGE], [fighter, fighter]);
        let mut drill = Drill::new(fighter);
        let mut idle = bot("idle", 0).unwrap();
        let mut ledge = false;
        while !drill.is_done() && g.frame < 30_000 {
            let c = [drill.act(&g.view(0)), idle.act(&g.view(1))];
            g.step(c);
            ledge |= g.players[0].action() == exphil_sim::fighter::action::CLIFF_WAIT;
            assert_eq!(
                g.players[0].stocks,
                4,
                "{}: the drill never loses a stock",
                fighter.character.name().unwrap()
            );
        }
        let name = fighter.character.name().unwrap();
        assert!(
            drill.is_done(),
            "{name}: drill unfinished at frame {}",
            g.frame
        );
        assert_eq!(drill.stalled_steps(), 0, "{name}");
        assert!(ledge, "{name}: the run-off never caught the ledge");
        let games = simulate_for(fighter, 3).unwrap();
        assert_eq!(games.len(), 1 + 2 * FIGHTERS.len());
        let m = measure(&games[0]);
        let samples = &m.characters[&fighter.character];
        assert!(samples.actions.has(actions::ESCAPE_AIR), "{name}");
        assert!(samples.actions.has(actions::KNEE_BEND), "{name}");
    }
}

#[test]
fn the_report_compares_real_and_simulated_and_lists_failed_files() {
    let mut paths: Vec<PathBuf> = exphil_testdata::manifest()
        .into_iter()
        .filter(|e| e.is_game())
        .map(|e| e.path)
        .collect();
    paths.push(exphil_testdata::replay("edge/libmelee__corrupt_game_1.slp"));
    let rollup = measure_replays(&paths);
    assert_eq!(rollup.failed.len(), 1, "{:?}", rollup.failed);
    assert!(rollup.failed[0]
        .path
        .ends_with("libmelee__corrupt_game_1.slp"));
    assert_eq!(rollup.decoded, paths.len() - 1);
    let all: Vec<ExternalCharacter> = FIGHTERS.iter().map(|f| f.character).collect();
    let sim = measure_simulator(&all, 1).unwrap();
    let report = Report::new(&rollup, &sim);
    let table = report.table();
    println!("{table}");
    assert!(table.contains("libmelee__corrupt_game_1.slp"));
    // Fox, Jigglypuff, Falco and Marth are in both; the simulated ones come first.
    assert!(report.characters.iter().take(4).all(|c| c.simulated));
    assert!(report
        .characters
        .iter()
        .any(|c| c.name == "Falco" && c.simulated));
    assert!(report
        .characters
        .iter()
        .any(|c| c.name == "Captain Falcon" && !c.simulated));
    let fox = report.characters.iter().find(|c| c.name == "Fox").unwrap();
    let cov = fox.coverage.unwrap();
    assert!(cov > 0.3 && cov < 1.0, "Fox coverage {cov}");
    assert!(!fox.missing.is_empty());
    assert!(fox.missing.windows(2).all(|w| w[0].share >= w[1].share));
    let gravity = fox
        .rows
        .iter()
        .find(|r| r.quantity == Quantity::Gravity)
        .unwrap();
    assert!(gravity.relative_error.unwrap().abs() < 0.01);
    // Bowser, in no shared replay, is compared with Melee's documented attributes, every
    // documented quantity within the 2% target.
    let bowser = report
        .characters
        .iter()
        .find(|c| c.name == "Bowser")
        .unwrap();
    assert_eq!(bowser.reference, Reference::Documented);
    assert_eq!(bowser.coverage, None);
    assert_eq!(bowser.rows.len(), 6, "{:?}", bowser.rows);
    for r in &bowser.rows {
        let err = r.relative_error.unwrap();
        assert!(
            err.abs() <= MOVEMENT_TARGET,
            "Bowser {:?}: {err:+.4}",
            r.quantity
        );
    }
    let jump = bowser
        .rows
        .iter()
        .find(|r| r.quantity == Quantity::AerialJump1Height)
        .unwrap();
    assert!((jump.real.unwrap().value - 28.77).abs() < 1e-9);
    assert!(table.contains("Bowser (id 5): no replays, against Melee's documented attributes"));
    assert!(report
        .summary(false)
        .contains("Bowser       movement 6/6 within 2%, of its documented attributes"));
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["characters"][0]["rows"][0]["real"]["samples"]
            .as_u64()
            .unwrap()
            > 100
    );
    println!(
        "{}",
        serde_json::to_string(&json["characters"][0]["coverage"]).unwrap()
    );
}
