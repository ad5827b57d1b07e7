//! The PPO run config: validation naming each bad key, presets, layered resolution (flags >
//! file > preset > defaults) through train's config-file reader, the resume rule and the
//! dry-run plan.

use exphil_runs::ppo_config::{
    ppo_preset_names, resolve_ppo, resume_config, HistoricalSampling, PpoRunConfig,
};
use exphil_runs::presets::{ConfigError, Layers, FROM_CLI, FROM_DEFAULT, FROM_FILE, FROM_PRESET};
use serde_json::json;

/// The keys `validate` names for a config.
fn bad_keys(c: &PpoRunConfig) -> Vec<String> {
    match c.validate() {
        Ok(()) => Vec::new(),
        Err(ConfigError::BadSettings { bad, .. }) => bad.into_iter().map(|b| b.key).collect(),
        Err(other) => panic!("{other}"),
    }
}

/// A change that breaks one setting.
type Break = fn(&mut PpoRunConfig);

#[test]
fn validate_names_each_bad_key_and_why() {
    let cases: Vec<(&str, Break)> = vec![
        ("ppo.minibatch", |c| c.ppo.minibatch = 64 * 128 + 1),
        ("ppo.minibatch", |c| c.ppo.minibatch = 0),
        ("ppo.clip_epsilon", |c| c.ppo.clip_epsilon = 0.0),
        ("ppo.clip_epsilon", |c| c.ppo.clip_epsilon = -0.1),
        ("ppo.gamma", |c| c.ppo.gamma = 0.0),
        ("ppo.gamma", |c| c.ppo.gamma = 1.01),
        ("ppo.gae_lambda", |c| c.ppo.gae_lambda = 1.5),
        ("ppo.lr", |c| c.ppo.lr = f64::NAN),
        ("ppo.lr", |c| c.ppo.lr = f64::INFINITY),
        ("ppo.lr", |c| c.ppo.lr = 0.0),
        ("ppo.entropy_coef", |c| c.ppo.entropy_coef = -1.0),
        ("ppo.max_grad_norm", |c| c.ppo.max_grad_norm = f64::NAN),
        ("ppo.epochs", |c| c.ppo.epochs = 0),
        ("rollout.timesteps", |c| c.rollout.timesteps = 0),
        ("rollout.num_games", |c| c.rollout.num_games = 0),
        ("rollout.rollout_steps", |c| c.rollout.rollout_steps = 0),
        ("rollout.max_episode_frames", |c| {
            c.rollout.max_episode_frames = -1
        }),
        ("rollout.opponent", |c| c.rollout.opponent = "human".into()),
        ("reward.win", |c| c.reward.win = f32::NAN),
        ("league.weights", |c| c.league.weights.current = -1.0),
        ("device", |c| c.device = "tpu".into()),
    ];
    for (key, break_it) in cases {
        let mut c = PpoRunConfig::default();
        break_it(&mut c);
        assert_eq!(bad_keys(&c), vec![key.to_string()], "{key}");
    }
    // The message names the key, its flag and the numbers.
    let mut c = PpoRunConfig::default();
    c.rollout.num_games = 4;
    c.rollout.rollout_steps = 32;
    c.ppo.minibatch = 256;
    c.ppo.clip_epsilon = 0.0;
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("--minibatch (ppo.minibatch) is 256"), "{msg}");
    assert!(msg.contains("holds 128 rows"), "{msg}");
    assert!(msg.contains("--clip-epsilon (ppo.clip_epsilon)"), "{msg}");
    assert_eq!(bad_keys(&PpoRunConfig::default()), Vec::<String>::new());
}

#[test]
fn presets_file_and_flags_layer_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ppo.yaml");
    std::fs::write(
        &file,
        "preset: standard\nppo:\n  minibatch: 128\n  gamma: 0.9\nrollout_steps: 32\n\
         league:\n  sampling: uniform\n",
    )
    .unwrap();
    let layers = Layers {
        preset: Some("quick".into()),
        file: Some(file.clone()),
        cli: json!({"ppo": {"gamma": 0.95}}),
        ..Layers::default()
    };
    let r = resolve_ppo(&layers).unwrap();
    let c = &r.config;
    // --preset wins over the file's `preset:`.
    assert_eq!(c.preset.as_deref(), Some("quick"));
    assert_eq!(r.source("preset"), FROM_CLI);
    assert_eq!(
        (c.rollout.num_games, r.source("rollout.num_games")),
        (8, FROM_PRESET)
    );
    assert_eq!(
        (c.ppo.minibatch, r.source("ppo.minibatch")),
        (128, FROM_FILE)
    );
    assert_eq!(
        (c.rollout.rollout_steps, r.source("rollout.rollout_steps")),
        (32, FROM_FILE)
    );
    assert_eq!((c.ppo.gamma, r.source("ppo.gamma")), (0.95, FROM_CLI));
    assert_eq!(
        (c.ppo.clip_epsilon, r.source("ppo.clip_epsilon")),
        (0.2, FROM_DEFAULT)
    );
    assert_eq!(c.league.sampling, HistoricalSampling::Uniform);
    c.validate().unwrap();
    // The file's preset applies without --preset; JSON reads the same.
    let json_file = dir.path().join("ppo.json");
    std::fs::write(&json_file, r#"{"preset": "gpu", "seed": 7}"#).unwrap();
    let r = resolve_ppo(&Layers {
        file: Some(json_file),
        ..Layers::default()
    })
    .unwrap();
    assert_eq!(r.config.preset.as_deref(), Some("gpu"));
    assert_eq!((r.config.device.as_str(), r.config.seed), ("gpu", 7));
    assert_eq!(r.source("preset"), FROM_FILE);
}

#[test]
fn the_config_file_is_read_as_trains_is() {
    let dir = tempfile::tempdir().unwrap();
    let resolve = |text: &str| {
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, text).unwrap();
        resolve_ppo(&Layers {
            file: Some(file),
            ..Layers::default()
        })
        .map(|r| r.config)
    };
    let e = resolve("ppo:\n  minibach: 5\n").unwrap_err().to_string();
    assert!(
        e.contains("ppo.minibach") && e.contains("did you mean `ppo.minibatch`"),
        "{e}"
    );
    let e = resolve("minibatch: 5\nminibatch: 6\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate"), "{e}");
    let e = resolve(&format!("ppo: {}1{}\n", "[".repeat(100), "]".repeat(100)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested deeper"), "{e}");
    let e = resolve("ppo:\n  gamma: .nan\n").unwrap_err().to_string();
    assert!(e.contains("ppo.gamma") && e.contains("finite"), "{e}");
    let e = resolve("ppo:\n  minibatch: lots\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`ppo.minibatch`"), "{e}");
    let e = resolve("preset: quik\n").unwrap_err().to_string();
    assert!(e.contains("did you mean `quick`"), "{e}");
    for name in ppo_preset_names() {
        assert!(e.contains(name), "lists the PPO presets: {e}");
    }
    assert!(!e.contains("full-cpu"), "not train's presets: {e}");
    let big = format!("seed: 1\n#{}\n", "x".repeat(2 << 20));
    assert!(resolve(&big).unwrap_err().to_string().contains("KiB"));
}

#[test]
fn a_resumed_run_keeps_its_config_and_changes_only_what_may_change() {
    let mut stored = PpoRunConfig::default();
    stored.rollout.num_games = 8;
    stored.league.main_exploiters = 1;
    let r = resume_config(
        &stored,
        &json!({"rollout": {"timesteps": 5000, "num_games": 8}, "device": "cpu"}),
    )
    .unwrap();
    assert_eq!(r.rollout.timesteps, 5000);
    assert_eq!((r.rollout.num_games, r.league.main_exploiters), (8, 1));
    let e = resume_config(&stored, &json!({"rollout": {"num_games": 64}}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rollout.num_games (the run has 8, not 64)"),
        "{e}"
    );
    assert_eq!(resume_config(&stored, &json!({})).unwrap(), stored);
}

#[test]
fn the_plan_counts_games_frames_updates_and_learners() {
    let mut c = PpoRunConfig::default();
    c.rollout.num_games = 8;
    c.rollout.rollout_steps = 64;
    c.rollout.timesteps = 2000;
    c.ppo.minibatch = 128;
    c.league.main_exploiters = 2;
    c.league.league_exploiters = 1;
    assert_eq!((c.frames_per_update(), c.updates()), (512, 4));
    let plan = c.plan(false).join("\n");
    assert!(
        plan.contains("Frames per update: 512 (8 games × 64 frames)"),
        "{plan}"
    );
    assert!(
        plan.contains("Updates:           4 to reach 2000 frames"),
        "{plan}"
    );
    assert!(
        plan.contains("4 of 128 rows per epoch × 4 epochs = 16"),
        "{plan}"
    );
    assert!(
        plan.contains("Learners:          1 (learner), 2048 frames"),
        "{plan}"
    );
    let plan = c.plan(true).join("\n");
    assert!(
        plan.contains(
            "4 (main, main_exploiter_1, main_exploiter_2, league_exploiter), 8192 frames"
        ),
        "{plan}"
    );
}
