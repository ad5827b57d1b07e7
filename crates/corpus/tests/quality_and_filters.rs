//! The quality score and filters on real replays whose properties the manifest states.

use exphil_corpus::{inspect, Depth, Filter, Rejection, ReplayInfo};
use exphil_replay::{ExternalCharacter, ExternalStage};

fn replay(name: &str) -> ReplayInfo {
    inspect(&exphil_testdata::replay(name), Depth::Full).unwrap_or_else(|e| panic!("{e}"))
}

fn rules(info: &ReplayInfo) -> Vec<&str> {
    info.quality
        .deductions
        .iter()
        .map(|d| d.0.as_str())
        .collect()
}

#[test]
fn quality_rules_fire_on_the_files_that_have_those_properties() {
    let good = replay("games/py-slippi__v3.14.0.slp");
    assert_eq!(good.quality.score, 100, "{:?}", good.quality);

    let cpu = replay("edge/peppi__items.slp");
    assert!(rules(&cpu).contains(&"cpu"), "{:?}", cpu.quality);

    let doubles = replay("edge/slippi-js__doubles.slp");
    assert!(
        rules(&doubles).contains(&"not_1v1"),
        "{:?}",
        doubles.quality
    );

    let short = replay("edge/peppi__short_game_tbh10.slp");
    assert!(rules(&short).contains(&"very_short"), "{:?}", short.quality);
    assert!(rules(&short).contains(&"no_contest"), "{:?}", short.quality);

    let home_run = replay("edge/slippi-js__Home-Run-Contest.slp");
    assert!(
        rules(&home_run).contains(&"stage"),
        "{:?}",
        home_run.quality
    );

    let unfinished = replay("edge/slippi-js__incomplete.slp");
    assert!(
        rules(&unfinished).contains(&"incomplete"),
        "{:?}",
        unfinished.quality
    );
    assert!(unfinished.quality.score < good.quality.score);
}

#[test]
fn filters_check_each_rule() {
    let game = replay("games/py-slippi__v3.14.0.slp"); // Falco vs Sheik on Dream Land
    let pass = |f: Filter| f.check(&game);
    assert_eq!(pass(Filter::default()), Ok(()));
    let falco = ExternalCharacter::parse("falco").unwrap();
    let fox = ExternalCharacter::parse("fox").unwrap();
    assert_eq!(
        pass(Filter {
            characters: vec![falco],
            ..Default::default()
        }),
        Ok(())
    );
    assert_eq!(
        pass(Filter {
            characters: vec![fox],
            ..Default::default()
        }),
        Err(Rejection::Character)
    );
    let dl = ExternalStage::parse("dl").unwrap();
    let fd = ExternalStage::parse("fd").unwrap();
    assert_eq!(
        pass(Filter {
            stages: vec![dl],
            ..Default::default()
        }),
        Ok(())
    );
    assert_eq!(
        pass(Filter {
            stages: vec![fd],
            ..Default::default()
        }),
        Err(Rejection::Stage)
    );
    assert_eq!(
        pass(Filter {
            min_frames: Some(20_000),
            ..Default::default()
        }),
        Err(Rejection::TooShort)
    );
    let cpu = replay("edge/peppi__items.slp");
    let human_only = Filter {
        human_only: true,
        ..Default::default()
    };
    assert_eq!(human_only.check(&cpu), Err(Rejection::NotHuman));
    let doubles = replay("edge/slippi-js__doubles.slp");
    let one_v_one = Filter {
        one_v_one: true,
        ..Default::default()
    };
    assert_eq!(one_v_one.check(&doubles), Err(Rejection::NotOneVsOne));
    let dedupe = Filter {
        dedupe: true,
        ..Default::default()
    };
    let (kept, rejected) = dedupe.apply([&game, &game, &cpu]);
    assert_eq!(kept.len(), 2);
    assert_eq!(rejected[0].1, Rejection::Duplicate);
}
