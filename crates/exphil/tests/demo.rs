//! `exphil demo`: the whole pipeline from nothing (simulated games saved as replays, imitation,
//! PPO, evaluation) and its refusal to touch a folder that is not a previous demo.

mod common;
use common::{isolated, s, text};
use exphil_replay::{read_file, DecodeOptions};

#[test]
fn the_demo_runs_every_stage_from_no_replays() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-run");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let out = root.join("out");
    let small = [
        "--games",
        "4",
        "--max-frames",
        "600",
        "--epochs",
        "1",
        "--timesteps",
        "8192",
        "--eval-games",
        "2",
        "--character",
        "puff",
    ];
    let o = isolated(&root)
        .current_dir(&root)
        .args(["demo", "--out", s(&out)])
        .args(small)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for stage in 1..=6 {
        assert!(
            t.contains(&format!("== {stage}/6 ")),
            "stage {stage} missing:\n{t}"
        );
    }
    assert!(t.contains("$ exphil train --preset quick"), "{t}");
    assert!(t.contains("Kept 4 replays"), "{t}");
    assert!(t.contains("against policy:demo-imitation: won"), "{t}");
    // Reinforcement learning against a mix, evaluated against every bot.
    assert!(
        t.contains(
            "$ exphil selfplay --pretrained demo-imitation --scripted rule,rule,rule,random,idle \
             --weights 0.2,0.1,0.7"
        ),
        "{t}"
    );
    for bot in ["idle", "random", "rule"] {
        assert!(t.contains(&format!("against bot:{bot}: won")), "{bot}: {t}");
    }
    // Evaluated during the run: at its end at least, the best weights kept as its policy.
    assert!(
        t.contains(
            "--anneal-lr --win-reward 1 --approach-reward 0.005 --teacher-kl 0.01 --eval-every 25"
        ),
        "{t}"
    );
    let eval = t
        .lines()
        .find(|l| l.contains("evaluation at update "))
        .unwrap_or_else(|| panic!("no evaluation: {t}"));
    assert!(
        eval.contains(": base ") && eval.contains(", rule ") && eval.contains("; worst "),
        "{eval}"
    );
    assert!(t.contains("its policy: the weights of update "), "{t}");

    // The simulated games are complete Slippi replays of Jigglypuff on port 1.
    let mut replays = Vec::new();
    for sub in ["rule-vs-random", "rule-vs-rule"] {
        for e in std::fs::read_dir(out.join("replays").join(sub)).unwrap() {
            replays.push(e.unwrap().path());
        }
    }
    assert_eq!(replays.len(), 4);
    for path in &replays {
        let g = read_file(path, DecodeOptions::default()).unwrap();
        assert!(g.is_complete(), "{}: {:?}", path.display(), g.warnings);
        assert_eq!(g.start.players[0].character.name(), Some("Jigglypuff"));
        assert!(g.frames.len() <= 600 + 124, "{}", g.frames.len());
    }
    for run in ["demo-imitation", "demo-ppo"] {
        let dir = out.join("checkpoints").join(run);
        assert!(dir.join("model.safetensors").is_file(), "{run}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("demo.json")).unwrap()).unwrap();
    assert_eq!(summary["stages"].as_array().unwrap().len(), 6);

    // Again: refused without --force, and a folder that is not a demo is never removed.
    let again = isolated(&root)
        .args(["demo", "--out", s(&out)])
        .args(small)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));
    let mine = root.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let refused = isolated(&root)
        .args(["demo", "--force", "--out", s(&mine)])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("not a demo folder"),
        "{}",
        text(&refused)
    );
    assert!(mine.join("notes.txt").is_file());
}
