//! Presets, layered resolution (CLI > env > file > preset > defaults), the YAML config file
//! (nested and flat keys), did-you-mean, validation, the diff from defaults and the Slippi
//! Launcher's replay folder.

use exphil_runs::config::{
    BackboneConfig, HeadKind, MlpConfig, OptimizerKind, Pooling, ScheduleKind, TrainConfig,
    BACKBONES,
};
use exphil_runs::presets::{
    did_you_mean, diff_from_defaults, edit_distance, find_flag, merge, overlay_from_flags,
    parse_config_text, preset, preset_names, presets, resolve, slippi_default_replays,
    slippi_replays_dir, valid_device, validate, ConfigError, Layers, Resolved, ValueKind,
    ENV_CHECKPOINTS_DIR, ENV_DEFAULT_PRESET, ENV_REPLAYS_DIR, FLAGS, FROM_CLI, FROM_DEFAULT,
    FROM_ENV, FROM_FILE, FROM_PRESET, FROM_SLIPPI, MAX_FRAME_DELAY, MAX_NOISE_COPIES, TEMPORAL_KEY,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn mlp(c: &TrainConfig) -> &MlpConfig {
    match &c.policy.backbone {
        BackboneConfig::Mlp(m) => m,
        other => panic!("an mlp, not {}", other.name()),
    }
}

fn mlp_mut(c: &mut TrainConfig) -> &mut MlpConfig {
    match &mut c.policy.backbone {
        BackboneConfig::Mlp(m) => m,
        other => panic!("an mlp, not {}", other.name()),
    }
}

/// Layers with replays on the command line (so no Slippi lookup) plus this CLI overlay.
fn with_replays(mut cli: Value) -> Layers {
    merge(&mut cli, &json!({"data": {"replays": ["/replays"]}}));
    Layers {
        cli,
        ..Layers::default()
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A valid config to mutate in the validation tests.
fn valid() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.data.replays = vec!["/replays".into()];
    c
}

// ------------------------------------------------------------------------------------------
// Did you mean

#[test]
fn edit_distance_counts_edits_and_transpositions() {
    assert_eq!(edit_distance("epochs", "epochs"), 0);
    assert_eq!(edit_distance("epoch", "epochs"), 1);
    assert_eq!(edit_distance("epcohs", "epochs"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
}

#[test]
fn did_you_mean_finds_close_names_only() {
    let names = FLAGS.iter().map(|f| f.name);
    assert_eq!(did_you_mean("epoch", names.clone()), Some("epochs"));
    assert_eq!(did_you_mean("--epohcs", names.clone()), Some("epochs"));
    assert_eq!(did_you_mean("batchsize", names.clone()), Some("batch-size"));
    assert_eq!(
        did_you_mean("batch_size", names.clone()),
        Some("batch-size")
    );
    assert_eq!(
        did_you_mean("lr_schedul", names.clone()),
        Some("lr-schedule")
    );
    assert_eq!(did_you_mean("warmup", names.clone()), Some("warmup-steps"));
    assert_eq!(did_you_mean("qwertyuiop", names.clone()), None);
    assert_eq!(did_you_mean("", names), None);
}

// ------------------------------------------------------------------------------------------
// The flag table

#[test]
fn every_flag_key_is_a_config_key_and_names_are_unique() {
    let defaults = serde_json::to_value(TrainConfig::default()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for f in FLAGS {
        if f.key == TEMPORAL_KEY {
            continue;
        }
        if let Some(setting) = f.key.strip_prefix("policy.backbone.") {
            // A setting of at least one backbone.
            assert!(
                BACKBONES.iter().any(|b| {
                    serde_json::to_value(BackboneConfig::default_of(b).unwrap())
                        .unwrap()
                        .get(setting)
                        .is_some()
                }),
                "--{}: no backbone has {setting}",
                f.name
            );
            continue;
        }
        let mut node = &defaults;
        for part in f.key.split('.') {
            node = node
                .get(part)
                .unwrap_or_else(|| panic!("--{}: {} is not a config key", f.name, f.key));
        }
        assert!(!node.is_object(), "--{} sets a whole section", f.name);
        for n in std::iter::once(f.name).chain(f.aliases.iter().copied()) {
            assert!(
                seen.insert(n.replace('-', "_")),
                "flag name {n} is used twice"
            );
            assert_eq!(find_flag(n), Some(f));
            assert_eq!(find_flag(&n.replace('-', "_")), Some(f));
        }
    }
    assert_eq!(
        find_flag("--batch-size").map(|f| f.key),
        Some("loop.batch_size")
    );
    assert_eq!(
        find_flag("hidden_sizes").map(|f| f.key),
        Some("policy.backbone.hidden")
    );
    assert_eq!(find_flag("nope"), None);
}

#[test]
fn overlay_from_flags_converts_by_kind() {
    let o = overlay_from_flags(
        "test",
        [
            ("epochs", json!(3)),
            ("lr-schedule", json!("cosine-restarts")),
            ("hidden", json!("64, 32")),
            ("train-character", json!("mewtwo,zelda")),
            ("replays", json!("/a,b")),
            ("tags", json!(["x"])),
        ],
    )
    .unwrap();
    assert_eq!(
        o,
        json!({
            "loop": {"epochs": 3},
            "schedule": {"schedule": "cosine_restarts"},
            "policy": {"backbone": {"hidden": [64, 32]}},
            "data": {"train_character": ["mewtwo", "zelda"], "replays": ["/a,b"]},
            "checkpoint": {"tags": ["x"]}
        })
    );
    assert_eq!(find_flag("hidden").map(|f| f.kind), Some(ValueKind::Widths));
    let single = overlay_from_flags("test", [("hidden", json!(256))]).unwrap();
    assert_eq!(single, json!({"policy": {"backbone": {"hidden": [256]}}}));
    let e = overlay_from_flags("test", [("hidden", json!("64,x"))]).unwrap_err();
    assert!(e.to_string().contains("`x` is not a layer width"), "{e}");
    let e = overlay_from_flags("the command line", [("epoch", json!(1))]).unwrap_err();
    match &e {
        ConfigError::UnknownKey {
            key, suggestion, ..
        } => {
            assert_eq!(key, "--epoch");
            assert_eq!(suggestion.as_deref(), Some("--epochs"));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("did you mean `--epochs`?"), "{e}");
}

#[test]
fn merge_recurses_into_objects_and_replaces_the_rest() {
    let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1, "t": {"type": "mlp", "hidden": [1]}});
    merge(
        &mut base,
        &json!({"a": {"y": [3]}, "b": null, "t": {"type": "lstm", "layers": 2}}),
    );
    assert_eq!(
        base,
        json!({"a": {"x": 1, "y": [3]}, "b": null, "t": {"type": "lstm", "layers": 2}})
    );
}

// ------------------------------------------------------------------------------------------
// Presets

#[test]
fn preset_table_matches_the_seeds() {
    let names = preset_names();
    for n in [
        "quick",
        "standard",
        "full",
        "full-cpu",
        "strong-cpu",
        "gpu",
        "gpu-large",
        "mewtwo",
        "ganondorf",
        "link",
        "gameandwatch",
        "zelda",
    ] {
        assert!(names.contains(&n), "missing preset {n}");
    }
    let get = |name: &str| -> TrainConfig {
        let layers = Layers {
            preset: Some(name.into()),
            ..with_replays(json!({}))
        };
        let r = resolve(&layers).unwrap();
        assert_eq!(r.config.preset.as_deref(), Some(name));
        assert_eq!(r.source("preset"), FROM_CLI);
        r.config
    };

    let quick = get("quick");
    assert_eq!(
        (
            quick.train.epochs,
            quick.data.max_files,
            quick.train.batch_size
        ),
        (1, Some(5), 64)
    );
    assert_eq!(mlp(&quick).hidden, vec![32, 32]);

    let standard = get("standard");
    assert_eq!(
        (standard.train.epochs, standard.data.max_files),
        (10, Some(50))
    );
    assert_eq!(mlp(&standard).hidden, vec![64, 64]);

    let full = get("full");
    assert_eq!((full.train.epochs, full.data.max_files), (50, None));
    // The seeds' `full`: temporal Mamba, width 256, window 60.
    let BackboneConfig::Mamba(m) = &full.policy.backbone else {
        panic!("full is a mamba: {:?}", full.policy.backbone)
    };
    assert_eq!((m.hidden_size, m.window_size), (256, 60));
    assert_eq!(m.pooling, Pooling::Last);
    assert_eq!(full.schedule.schedule, ScheduleKind::Cosine);
    assert_eq!(full.optim.optimizer, OptimizerKind::Adamw);
    assert!(full.train.ema && full.train.early_stopping && full.checkpoint.save_best);
    assert!(full.train.val_split > 0.0);
    assert_eq!(full.device, "cpu");
    let full_preset = preset("full").unwrap();
    assert!(full_preset.description.contains("temporal"));

    // The measured CPU recipe: a sequence-trained LSTM on mirrored data, plain likelihood.
    let strong = get("strong-cpu");
    let BackboneConfig::Lstm(l) = &strong.policy.backbone else {
        panic!("strong-cpu is an LSTM: {:?}", strong.policy.backbone)
    };
    assert_eq!((l.hidden_size, l.num_layers), (256, 1));
    assert!(strong.train.sequence.enabled && strong.data.augment && strong.train.ema);
    assert_eq!(strong.data.noise_copies, 0);
    assert_eq!(strong.data.embed_preset, "history");
    assert!(!strong.loss.auto_pos_weight);
    assert_eq!(
        (
            strong.optim.lr,
            strong.train.max_grad_norm,
            strong.schedule.schedule
        ),
        (1e-3, 10.0, ScheduleKind::Cosine)
    );
    assert!(strong.train.val_split > 0.0);

    let cpu = get("full-cpu");
    assert_eq!((cpu.train.epochs, cpu.data.max_files), (20, Some(100)));
    assert_eq!(mlp(&cpu).hidden, vec![128, 128]);

    for gpu in ["gpu", "gpu-large"] {
        let g = get(gpu);
        assert_eq!(g.device, "gpu");
        assert!(g.train.batch_size >= 512);
        assert!(mlp(&g).hidden.iter().sum::<usize>() > 512);
    }

    for (name, character, window) in [
        ("mewtwo", "Mewtwo", 90),
        ("ganondorf", "Ganondorf", 60),
        ("link", "Link", 75),
        ("gameandwatch", "Mr. Game & Watch", 45),
        ("zelda", "Zelda", 60),
    ] {
        let c = get(name);
        assert_eq!(c.data.train_character.len(), 1);
        let parsed = exphil_replay::ExternalCharacter::parse(&c.data.train_character[0])
            .unwrap_or_else(|| panic!("{name}: {:?} does not parse", c.data.train_character));
        assert_eq!(parsed.name(), Some(character));
        // The seeds: `full` with the character's window.
        assert_eq!((c.train.epochs, c.data.max_files), (50, None));
        assert_eq!(c.policy.backbone.name(), "mamba");
        assert_eq!(c.policy.backbone.window(), Some(window));
        assert!(preset(name).unwrap().description.contains("window"));
    }
}

#[test]
fn every_preset_validates() {
    for p in presets() {
        let layers = Layers {
            preset: Some(p.name.into()),
            ..with_replays(json!({}))
        };
        let r = resolve(&layers).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        let warnings = validate(&r.config).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert!(warnings.is_empty(), "{}: {warnings:?}", p.name);
        assert!(!p.description.is_empty());
    }
}

#[test]
fn unknown_preset_suggests_the_closest() {
    let e = preset("quik").unwrap_err();
    match &e {
        ConfigError::UnknownPreset {
            name, suggestion, ..
        } => {
            assert_eq!(name, "quik");
            assert_eq!(suggestion.as_deref(), Some("quick"));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("did you mean `quick`?"), "{msg}");
    assert!(msg.contains("full-cpu"), "lists the presets: {msg}");
    assert!(preset("fullcpu")
        .unwrap_err()
        .to_string()
        .contains("`full-cpu`"));
    let far = preset("xyzzy-plugh").unwrap_err();
    assert!(!far.to_string().contains("did you mean"), "{far}");
    assert_eq!(preset("Quick").unwrap().name, "quick");
}

// ------------------------------------------------------------------------------------------
// Layered resolution

#[test]
fn precedence_cli_over_env_over_file_over_preset_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "train.yaml",
        "preset: quick\n\
         epochs: 2\n\
         batch_size: 16\n\
         lr: 0.01\n\
         replays: /from/file\n\
         checkpoint:\n  dir: /file/checkpoints\n  keep_last: 7\n",
    );
    let layers = Layers {
        preset: None,
        file: Some(file),
        env: env(&[
            (ENV_CHECKPOINTS_DIR, "/env/checkpoints"),
            (ENV_REPLAYS_DIR, "/env/replays"),
        ]),
        cli: json!({"loop": {"epochs": 4}}),
    };
    let r: Resolved = resolve(&layers).unwrap();
    let c = &r.config;
    assert_eq!(c.train.epochs, 4);
    assert_eq!(r.source("loop.epochs"), FROM_CLI);
    assert_eq!(c.train.batch_size, 16);
    assert_eq!(r.source("loop.batch_size"), FROM_FILE);
    assert_eq!(c.optim.lr, 0.01);
    assert_eq!(c.checkpoint.dir, "/env/checkpoints");
    assert_eq!(r.source("checkpoint.dir"), FROM_ENV);
    assert_eq!(c.checkpoint.keep_last, 7);
    assert_eq!(c.data.replays, vec!["/env/replays".to_string()]);
    assert_eq!(r.source("data.replays"), FROM_ENV);
    // From the preset (named by the file).
    assert_eq!(mlp(c).hidden, vec![32, 32]);
    assert_eq!(c.data.max_files, Some(5));
    assert_eq!(r.source("data.max_files"), FROM_PRESET);
    assert_eq!(c.preset.as_deref(), Some("quick"));
    assert_eq!(r.source("preset"), FROM_FILE);
    // Untouched.
    assert_eq!(mlp(c).dropout, 0.1);
    assert_eq!(r.source("policy.backbone.dropout"), FROM_DEFAULT);
    assert!(!r.sources.contains_key("policy.backbone.dropout"));
}

#[test]
fn preset_comes_from_cli_then_file_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "c.yaml", "preset: standard\n");
    let base = |preset: Option<&str>, file: Option<PathBuf>| Layers {
        preset: preset.map(str::to_string),
        file,
        env: env(&[(ENV_DEFAULT_PRESET, "full-cpu")]),
        ..with_replays(json!({}))
    };
    let r = resolve(&base(Some("quick"), Some(file.clone()))).unwrap();
    assert_eq!(
        (r.config.preset.as_deref(), r.source("preset")),
        (Some("quick"), FROM_CLI)
    );
    let r = resolve(&base(None, Some(file))).unwrap();
    assert_eq!(
        (r.config.preset.as_deref(), r.source("preset")),
        (Some("standard"), FROM_FILE)
    );
    assert_eq!(r.config.train.epochs, 10);
    let r = resolve(&base(None, None)).unwrap();
    assert_eq!(
        (r.config.preset.as_deref(), r.source("preset")),
        (Some("full-cpu"), FROM_ENV)
    );
    assert_eq!(r.config.train.epochs, 20);
    // No preset anywhere: the defaults.
    let r = resolve(&with_replays(json!({}))).unwrap();
    assert_eq!(r.config.preset, None);
    assert_eq!(r.config.train.epochs, 10);
    assert_eq!(mlp(&r.config).hidden, vec![512, 512]);
}

#[test]
fn unknown_preset_in_env_or_file_names_its_origin() {
    let layers = Layers {
        env: env(&[(ENV_DEFAULT_PRESET, "standrad")]),
        ..with_replays(json!({}))
    };
    let msg = resolve(&layers).unwrap_err().to_string();
    assert!(msg.starts_with(ENV_DEFAULT_PRESET), "{msg}");
    assert!(msg.contains("did you mean `standard`?"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "p.yaml", "preset: mewtoo\n");
    let layers = Layers {
        file: Some(file.clone()),
        ..with_replays(json!({}))
    };
    let msg = resolve(&layers).unwrap_err().to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("did you mean `mewtwo`?"), "{msg}");
}

#[test]
fn preset_plus_flags_overrides_the_preset() {
    let layers = Layers {
        preset: Some("gpu".into()),
        ..with_replays(
            json!({"loop": {"epochs": 5, "ema": false}, "policy": {"backbone": {"hidden": [64]}}}),
        )
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(r.config.train.epochs, 5);
    assert!(!r.config.train.ema);
    assert_eq!(mlp(&r.config).hidden, vec![64]);
    assert!(mlp(&r.config).residual, "the rest of the preset stays");
    assert_eq!(r.source("policy.backbone.residual"), FROM_PRESET);
    assert_eq!(r.source("policy.backbone.hidden"), FROM_CLI);
}

#[test]
fn empty_env_values_are_ignored() {
    let layers = Layers {
        env: env(&[(ENV_CHECKPOINTS_DIR, "  "), (ENV_DEFAULT_PRESET, "")]),
        ..with_replays(json!({}))
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(r.config.checkpoint.dir, "checkpoints");
    assert_eq!(r.config.preset, None);
}

#[test]
fn replays_and_dataset_are_one_choice_across_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "d.yaml", "replays: [/file/a, /file/b]\n");
    // --dataset on the command line replaces the file's replays (and the env's default).
    let layers = Layers {
        file: Some(file.clone()),
        env: env(&[(ENV_REPLAYS_DIR, "/env/replays")]),
        cli: json!({"data": {"dataset": "/prepared"}}),
        ..Layers::default()
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(r.config.data.dataset.as_deref(), Some("/prepared"));
    assert!(r.config.data.replays.is_empty());
    assert!(!r.sources.contains_key("data.replays"));
    validate(&r.config).unwrap();

    // A file naming a dataset keeps EXPHIL_REPLAYS_DIR out.
    let file = write_file(dir.path(), "e.yaml", "dataset: /prepared\n");
    let layers = Layers {
        file: Some(file),
        env: env(&[(ENV_REPLAYS_DIR, "/env/replays")]),
        ..Layers::default()
    };
    let r = resolve(&layers).unwrap();
    assert!(r.config.data.replays.is_empty());
    assert_eq!(r.source("data.dataset"), FROM_FILE);

    // --replays on the command line replaces a file's dataset.
    let file = write_file(dir.path(), "f.yaml", "data:\n  dataset: /prepared\n");
    let layers = Layers {
        file: Some(file),
        cli: json!({"data": {"replays": ["/cli"]}}),
        ..Layers::default()
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(
        (r.config.data.dataset.clone(), r.config.data.replays.clone()),
        (None, vec!["/cli".to_string()])
    );

    // One layer naming both is refused by validation.
    let layers = Layers {
        cli: json!({"data": {"replays": ["/cli"], "dataset": "/prepared"}}),
        ..Layers::default()
    };
    let e = validate(&resolve(&layers).unwrap().config).unwrap_err();
    assert!(e.to_string().contains("--replays and --dataset"), "{e}");
}

#[test]
fn whom_to_learn_is_one_choice_across_layers() {
    // --player-port over the mewtwo preset's train_character.
    let layers = Layers {
        preset: Some("mewtwo".into()),
        ..with_replays(json!({"data": {"player_port": 1}}))
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(r.config.data.player_port, Some(1));
    assert!(r.config.data.train_character.is_empty());
    assert!(!r.sources.contains_key("data.train_character"));
    assert_eq!(validate(&r.config).unwrap(), Vec::<String>::new());

    // --dual-port over a file's player port; `--no-dual-port` is not a choice and keeps it.
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "port.yaml", "player_port: 2\n");
    let layers = Layers {
        file: Some(file.clone()),
        ..with_replays(json!({"data": {"dual_port": true}}))
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(
        (r.config.data.player_port, r.config.data.dual_port),
        (None, true)
    );
    let layers = Layers {
        file: Some(file),
        ..with_replays(json!({"data": {"dual_port": false}}))
    };
    let r = resolve(&layers).unwrap();
    assert_eq!(
        (r.config.data.player_port, r.config.data.dual_port),
        (Some(2), false)
    );
    assert_eq!(r.source("data.player_port"), FROM_FILE);
}

// ------------------------------------------------------------------------------------------
// The YAML file

#[test]
fn yaml_nested_shape() {
    let (o, preset) = parse_config_text(
        "device: cuda:1\n\
         policy:\n  backbone:\n    hidden: [64, 64]\n    residual: true\n  head: independent\n  id_dims:\n    action: 48\n\
         optim:\n  optimizer: lamb\n  lr: 3e-4\n\
         schedule:\n  schedule: cosine_restarts\n  restart_period: 500\n\
         loop:\n  epochs: 3\n  seed: 7\n",
        Path::new("nested.yaml"),
    )
    .unwrap();
    assert_eq!(preset, None);
    let r = resolve(&with_replays(o)).unwrap();
    let c = r.config;
    assert_eq!(c.device, "cuda:1");
    assert_eq!(mlp(&c).hidden, vec![64, 64]);
    assert!(mlp(&c).residual);
    assert_eq!(c.policy.head, HeadKind::Independent);
    assert_eq!(c.policy.id_dims["action"], 48);
    assert_eq!(c.policy.id_dims["stage"], 8, "the other id dims stay");
    assert_eq!(c.optim.optimizer, OptimizerKind::Lamb);
    assert_eq!(c.optim.lr, 3e-4);
    assert_eq!(c.schedule.schedule, ScheduleKind::CosineRestarts);
    assert_eq!(c.schedule.restart_period, 500);
    assert_eq!((c.train.epochs, c.train.seed), (3, Some(7)));
}

#[test]
fn yaml_flat_seed_style_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "flat.yaml",
        "epochs: 5\n\
         batch-size: 32\n\
         hidden_sizes: 128,64\n\
         lr: 0.001\n\
         lr_schedule: cosine-restarts\n\
         optimizer: AdamW\n\
         no_such_thing_here: 1\n",
    );
    let e = resolve(&Layers {
        file: Some(file.clone()),
        ..with_replays(json!({}))
    })
    .unwrap_err();
    assert!(e.to_string().contains("no_such_thing_here"), "{e}");

    let file = write_file(
        dir.path(),
        "flat.yaml",
        "epochs: 5\n\
         batch-size: 32\n\
         hidden_sizes: 128,64\n\
         lr: 0.001\n\
         lr_schedule: cosine-restarts\n\
         optimizer: AdamW\n\
         train_character: mewtwo\n\
         val_split: 0.2\n\
         early_stopping: true\n\
         no-residual: null\n",
    );
    // `no-residual` is a command-line spelling, not a key.
    let e = resolve(&Layers {
        file: Some(file),
        ..with_replays(json!({}))
    })
    .unwrap_err();
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");

    let file = write_file(
        dir.path(),
        "flat.yaml",
        "epochs: 5\n\
         batch-size: 32\n\
         hidden_sizes: 128,64\n\
         lr: 0.001\n\
         lr_schedule: cosine-restarts\n\
         optimizer: AdamW\n\
         train_character: mewtwo\n\
         val_split: 0.2\n\
         early_stopping: true\n\
         residual: true\n\
         loss:\n  label_smoothing: 0.1\n",
    );
    let r = resolve(&Layers {
        file: Some(file),
        ..with_replays(json!({}))
    })
    .unwrap();
    let c = &r.config;
    assert_eq!((c.train.epochs, c.train.batch_size), (5, 32));
    assert_eq!(mlp(c).hidden, vec![128, 64]);
    assert!(mlp(c).residual);
    assert_eq!(c.optim.lr, 0.001);
    assert_eq!(c.optim.optimizer, OptimizerKind::Adamw);
    assert_eq!(c.schedule.schedule, ScheduleKind::CosineRestarts);
    assert_eq!(c.data.train_character, vec!["mewtwo".to_string()]);
    assert_eq!((c.train.val_split, c.train.early_stopping), (0.2, true));
    assert_eq!(c.loss.label_smoothing, 0.1);
    assert_eq!(r.source("policy.backbone.hidden"), FROM_FILE);
    validate(c).unwrap();
}

#[test]
fn yaml_unknown_keys_say_did_you_mean() {
    let cases = [
        ("epoch: 5\n", "epoch", Some("epochs")),
        ("batchsize: 5\n", "batchsize", Some("batch_size")),
        ("loop:\n  epoch: 5\n", "loop.epoch", Some("loop.epochs")),
        ("optimm:\n  lr: 1\n", "optimm", Some("optim")),
        (
            "policy:\n  backbone:\n    hiden: [1]\n",
            "policy.backbone.hiden",
            Some("policy.backbone.hidden"),
        ),
        (
            "policy:\n  id_dims:\n    acton: 4\n",
            "policy.id_dims.acton",
            Some("policy.id_dims.action"),
        ),
        ("zzzzzzzzzz: 1\n", "zzzzzzzzzz", None),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (text, want_key, want_suggestion) in cases {
        let file = write_file(dir.path(), "bad.yaml", text);
        let e = resolve(&Layers {
            file: Some(file.clone()),
            ..with_replays(json!({}))
        })
        .unwrap_err();
        match &e {
            ConfigError::UnknownKey {
                origin,
                key,
                suggestion,
            } => {
                assert_eq!(key, want_key, "{text}");
                assert_eq!(suggestion.as_deref(), want_suggestion, "{text}");
                assert_eq!(origin, &file.display().to_string());
            }
            other => panic!("{text}: {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("bad.yaml"), "{msg}");
        match want_suggestion {
            Some(s) => assert!(msg.contains(&format!("did you mean `{s}`?")), "{msg}"),
            None => assert!(!msg.contains("did you mean"), "{msg}"),
        }
    }
}

#[test]
fn yaml_errors_name_the_file_and_key() {
    let p = Path::new("cfg.yaml");
    let e = parse_config_text("epochs: [1\n", p).unwrap_err();
    assert!(matches!(e, ConfigError::Yaml { .. }), "{e}");
    assert!(e.to_string().starts_with("cfg.yaml: not valid YAML"), "{e}");
    let e = parse_config_text("- 1\n- 2\n", p).unwrap_err();
    assert!(e.to_string().contains("mapping"), "{e}");
    let e = parse_config_text("epochs: 3\nloop:\n  epochs: 4\n", p).unwrap_err();
    assert!(e.to_string().contains("set twice"), "{e}");
    let e = parse_config_text("hidden: [1]\nhidden_sizes: [2]\n", p).unwrap_err();
    assert!(e.to_string().contains("set twice"), "{e}");
    let e = parse_config_text("loop: 5\n", p).unwrap_err();
    assert!(e.to_string().contains("must be a mapping"), "{e}");
    assert_eq!(parse_config_text("", p).unwrap(), (json!({}), None));

    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "types.yaml", "epochs: many\n");
    let e = resolve(&Layers {
        file: Some(file.clone()),
        ..with_replays(json!({}))
    })
    .unwrap_err();
    match &e {
        ConfigError::Value { origin, key, .. } => {
            assert_eq!(key, "loop.epochs");
            assert_eq!(origin, &file.display().to_string());
        }
        other => panic!("{other:?}"),
    }
    let file = write_file(dir.path(), "types.yaml", "backbone: transformer\n");
    let e = resolve(&Layers {
        file: Some(file),
        ..with_replays(json!({}))
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("policy.backbone.type") && msg.contains("mlp"),
        "{msg}"
    );

    let missing = dir.path().join("missing.yaml");
    let e = resolve(&Layers {
        file: Some(missing),
        ..with_replays(json!({}))
    })
    .unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }), "{e}");
}

#[test]
fn cli_overlay_keys_are_checked() {
    let e = resolve(&with_replays(json!({"loop": {"epochz": 1}}))).unwrap_err();
    assert!(e.to_string().contains("did you mean `loop.epochs`?"), "{e}");
    let e = resolve(&with_replays(json!({"loop": {"epochs": -1}}))).unwrap_err();
    match e {
        ConfigError::Value { origin, key, .. } => {
            assert_eq!(
                (origin.as_str(), key.as_str()),
                ("the command line", "loop.epochs")
            );
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// The Slippi Launcher's folder

#[test]
fn slippi_folder_per_platform() {
    let e = env(&[("USERPROFILE", r"C:\Users\me"), ("HOME", "/home/me")]);
    assert_eq!(
        slippi_replays_dir("windows", &e),
        Some(
            PathBuf::from(r"C:\Users\me")
                .join("Documents")
                .join("Slippi")
        )
    );
    let e = env(&[("HOMEDRIVE", "D:"), ("HOMEPATH", r"\Users\you")]);
    assert_eq!(
        slippi_replays_dir("windows", &e),
        Some(
            PathBuf::from(r"D:\Users\you")
                .join("Documents")
                .join("Slippi")
        )
    );
    let e = env(&[("HOME", "/Users/me")]);
    assert_eq!(
        slippi_replays_dir("macos", &e),
        Some(PathBuf::from("/Users/me/Documents/Slippi"))
    );
    let e = env(&[
        ("HOME", "/nonexistent-home-for-test"),
        ("XDG_DOCUMENTS_DIR", "$HOME/Docs"),
    ]);
    assert_eq!(
        slippi_replays_dir("linux", &e),
        Some(PathBuf::from("/nonexistent-home-for-test/Docs/Slippi"))
    );
    let e = env(&[("HOME", "/nonexistent-home-for-test")]);
    assert_eq!(
        slippi_replays_dir("linux", &e),
        Some(PathBuf::from("/nonexistent-home-for-test/Documents/Slippi"))
    );
    assert_eq!(slippi_replays_dir("linux", &env(&[])), None);
    assert_eq!(slippi_replays_dir("windows", &env(&[])), None);

    // user-dirs.dirs names a localised Documents folder.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".config")).unwrap();
    std::fs::write(
        home.path().join(".config/user-dirs.dirs"),
        "# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR=\"$HOME/Desktop\"\nXDG_DOCUMENTS_DIR=\"$HOME/Dokumente\"\n",
    )
    .unwrap();
    let e = env(&[("HOME", home.path().to_str().unwrap())]);
    assert_eq!(
        slippi_replays_dir("linux", &e),
        Some(home.path().join("Dokumente/Slippi"))
    );
}

#[cfg(unix)]
#[test]
fn slippi_folder_is_used_when_it_exists_else_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let e = env(&[
        ("HOME", home.path().to_str().unwrap()),
        (
            "XDG_CONFIG_HOME",
            home.path().join("no-config").to_str().unwrap(),
        ),
    ]);
    assert_eq!(slippi_default_replays(&e), None);
    let err = resolve(&Layers {
        env: e.clone(),
        ..Layers::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    for needle in [
        "--replays DIR",
        ENV_REPLAYS_DIR,
        "--dataset DIR",
        "Documents",
    ] {
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
    assert!(matches!(err, ConfigError::NoReplays { looked_in: Some(_) }));

    let slippi = home.path().join("Documents").join("Slippi");
    std::fs::create_dir_all(&slippi).unwrap();
    assert_eq!(slippi_default_replays(&e), Some(slippi.clone()));
    let r = resolve(&Layers {
        env: e.clone(),
        ..Layers::default()
    })
    .unwrap();
    assert_eq!(
        r.config.data.replays,
        vec![slippi.to_string_lossy().to_string()]
    );
    assert_eq!(r.source("data.replays"), FROM_SLIPPI);

    // Any named source wins over the Slippi folder.
    let r = resolve(&Layers {
        env: e,
        cli: json!({"data": {"dataset": "/prepared"}}),
        ..Layers::default()
    })
    .unwrap();
    assert!(r.config.data.replays.is_empty());
}

// ------------------------------------------------------------------------------------------
// Validation

#[test]
fn defaults_are_valid_and_on_cpu() {
    let c = valid();
    assert_eq!(c.device, "cpu");
    assert_eq!(validate(&c).unwrap(), Vec::<String>::new());
    assert!(valid_device("cpu") && valid_device("cuda:0") && valid_device("cuda:12"));
    assert!(valid_device("gpu") && valid_device("vulkan:cpu") && !valid_device("gpu:0"));
    assert!(
        !valid_device("cuda")
            && !valid_device("cuda:")
            && !valid_device("tpu")
            && !valid_device("cuda:x")
    );
}

#[test]
fn each_rule_refuses_with_a_reason() {
    type Edit = fn(&mut TrainConfig);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "epochs 0",
            |c| c.train.epochs = 0,
            "--epochs (loop.epochs) must be at least 1",
        ),
        (
            "batch 0",
            |c| c.train.batch_size = 0,
            "--batch-size (loop.batch_size) must be at least 1",
        ),
        (
            "accumulation 0",
            |c| c.train.accumulation_steps = 0,
            "--accumulation-steps",
        ),
        (
            "log interval 0",
            |c| c.train.log_interval = 0,
            "--log-interval",
        ),
        (
            "max batches 0",
            |c| c.train.max_batches = Some(0),
            "--max-batches",
        ),
        (
            "lr 0",
            |c| c.optim.lr = 0.0,
            "--lr (optim.lr) must be a finite number > 0",
        ),
        ("lr negative", |c| c.optim.lr = -1e-3, "--lr"),
        ("lr nan", |c| c.optim.lr = f64::NAN, "--lr"),
        ("lr inf", |c| c.optim.lr = f64::INFINITY, "--lr"),
        (
            "weight decay",
            |c| c.optim.weight_decay = -0.1,
            "--weight-decay",
        ),
        ("beta2", |c| c.optim.beta2 = 1.0, "optim.beta2"),
        ("momentum", |c| c.optim.momentum = 1.5, "--momentum"),
        ("eps", |c| c.optim.eps = 0.0, "optim.eps"),
        (
            "dropout 1",
            |c| mlp_mut(c).dropout = 1.0,
            "--dropout (policy.backbone.dropout) must be in [0, 1)",
        ),
        (
            "dropout negative",
            |c| mlp_mut(c).dropout = -0.1,
            "--dropout",
        ),
        (
            "hidden empty",
            |c| mlp_mut(c).hidden.clear(),
            "--hidden (policy.backbone.hidden) needs at least one layer",
        ),
        (
            "hidden zero",
            |c| mlp_mut(c).hidden = vec![64, 0],
            "widths must be at least 1",
        ),
        (
            "id dim 0",
            |c| {
                c.policy.id_dims.insert("action".into(), 0);
            },
            "policy.id_dims.action",
        ),
        (
            "val split 1",
            |c| c.train.val_split = 1.0,
            "--val-split (loop.val_split) must be in [0, 1)",
        ),
        (
            "val split negative",
            |c| c.train.val_split = -0.1,
            "--val-split",
        ),
        (
            "early stopping without validation",
            |c| {
                c.train.early_stopping = true;
                c.train.val_split = 0.0;
            },
            "--early-stopping needs validation data",
        ),
        (
            "plateau without validation",
            |c| {
                c.schedule.schedule = ScheduleKind::Plateau;
                c.train.val_split = 0.0;
            },
            "--lr-schedule plateau needs validation data",
        ),
        (
            "patience 0",
            |c| {
                c.train.early_stopping = true;
                c.train.patience = 0;
            },
            "--patience",
        ),
        ("min delta", |c| c.train.min_delta = -1.0, "--min-delta"),
        (
            "grad norm",
            |c| c.train.max_grad_norm = f64::NAN,
            "--max-grad-norm",
        ),
        (
            "ema decay 1",
            |c| c.train.ema_decay = 1.0,
            "--ema-decay (loop.ema_decay) must be in (0, 1)",
        ),
        ("ema decay 0", |c| c.train.ema_decay = 0.0, "--ema-decay"),
        (
            "label smoothing",
            |c| c.loss.label_smoothing = 1.0,
            "--label-smoothing (loss.label_smoothing) must be in [0, 1)",
        ),
        (
            "focal gamma",
            |c| c.loss.focal_gamma = -0.5,
            "--focal-gamma (loss.focal_gamma) must be finite and >= 0",
        ),
        (
            "max pos weight",
            |c| c.loss.max_pos_weight = 0.0,
            "--max-pos-weight",
        ),
        (
            "warmup vs decay",
            |c| {
                c.schedule.schedule = ScheduleKind::Cosine;
                c.schedule.warmup_steps = 100;
                c.schedule.decay_steps = Some(100);
            },
            "--warmup-steps (schedule.warmup_steps) (100) must be shorter than --decay-steps",
        ),
        (
            "decay steps 0",
            |c| c.schedule.decay_steps = Some(0),
            "--decay-steps",
        ),
        (
            "min lr above lr",
            |c| {
                c.schedule.schedule = ScheduleKind::Linear;
                c.schedule.min_lr = 1.0;
            },
            "is above the peak --lr",
        ),
        ("min lr negative", |c| c.schedule.min_lr = -1.0, "--min-lr"),
        (
            "restart mult",
            |c| c.schedule.restart_mult = 0.5,
            "--restart-mult (schedule.restart_mult) must be >= 1",
        ),
        (
            "restart period",
            |c| {
                c.schedule.schedule = ScheduleKind::CosineRestarts;
                c.schedule.restart_period = 0;
            },
            "--restart-period",
        ),
        ("gamma", |c| c.schedule.gamma = 0.0, "--lr-gamma"),
        (
            "plateau factor",
            |c| c.schedule.plateau_factor = 1.0,
            "--plateau-factor",
        ),
        (
            "device",
            |c| c.device = "tpu".into(),
            "--device (device) must be `cpu`, `gpu`, `cuda:N`, `vulkan`",
        ),
        ("device empty", |c| c.device = String::new(), "--device"),
        (
            "port and dual",
            |c| {
                c.data.player_port = Some(1);
                c.data.dual_port = true;
            },
            "--player-port and --dual-port",
        ),
        (
            "port and character",
            |c| {
                c.data.player_port = Some(2);
                c.data.train_character = vec!["fox".into()];
            },
            "--player-port and --train-character",
        ),
        (
            "dual and character",
            |c| {
                c.data.dual_port = true;
                c.data.train_character = vec!["fox".into()];
            },
            "--dual-port learns every player",
        ),
        (
            "port range",
            |c| c.data.player_port = Some(5),
            "--player-port (data.player_port) must be 1-4",
        ),
        (
            "unknown character",
            |c| c.data.train_character = vec!["mewtoo".into()],
            "unknown character `mewtoo`",
        ),
        (
            "unknown filter character",
            |c| c.data.characters = vec!["foxx".into()],
            "--characters (data.characters): unknown character",
        ),
        (
            "unknown stage",
            |c| c.data.stages = vec!["hyrule castle 64".into()],
            "unknown stage",
        ),
        (
            "delay range",
            |c| {
                c.data.frame_delay_min = 10;
                c.data.frame_delay_max = 5;
            },
            "--frame-delay-min (10) is above --frame-delay-max (5)",
        ),
        (
            "delay too large",
            |c| c.data.frame_delay = 61,
            "--frame-delay (data.frame_delay) is 61, at most",
        ),
        (
            "delay max too large",
            |c| c.data.frame_delay_max = MAX_FRAME_DELAY + 1,
            "--frame-delay-max",
        ),
        (
            "dataset and replays",
            |c| c.data.dataset = Some("/d".into()),
            "--replays and --dataset",
        ),
        (
            "no data",
            |c| c.data.replays.clear(),
            "no replays to train on",
        ),
        (
            "noise copies",
            |c| c.data.noise_copies = 5,
            "--noise-copies (data.noise_copies) is 5, at most 4",
        ),
        (
            "noise std",
            |c| {
                c.data.augment = true;
                c.data.noise_std = 0.0;
            },
            "--noise-std",
        ),
        (
            "embed preset",
            |c| c.data.embed_preset = "compakt".into(),
            "did you mean `compact`?",
        ),
        (
            "player names 1",
            |c| c.data.num_player_names = 1,
            "--num-player-names",
        ),
        (
            "min quality",
            |c| c.data.min_quality = Some(101),
            "--min-quality",
        ),
        ("max files 0", |c| c.data.max_files = Some(0), "--max-files"),
        ("threads 0", |c| c.data.threads = Some(0), "--threads"),
        (
            "checkpoint dir",
            |c| c.checkpoint.dir = " ".into(),
            "--checkpoints (checkpoint.dir) must not be empty",
        ),
        (
            "run name",
            |c| c.checkpoint.name = Some("a/b".into()),
            "must not contain path separators",
        ),
        (
            "run name dots",
            |c| c.checkpoint.name = Some("..".into()),
            "is not a directory name",
        ),
        (
            "save every 0",
            |c| c.checkpoint.save_every = Some(0),
            "--save-every (checkpoint.save_every)",
        ),
        (
            "save every batches 0",
            |c| c.checkpoint.save_every_batches = Some(0),
            "--save-every-batches",
        ),
        (
            "keep last 0",
            |c| {
                c.checkpoint.save_every = Some(1);
                c.checkpoint.keep_last = 0;
            },
            "--keep-last 0",
        ),
        (
            "backup count 0",
            |c| {
                c.checkpoint.overwrite = true;
                c.checkpoint.backup_count = 0;
            },
            "--backup-count",
        ),
        (
            "empty tag",
            |c| c.checkpoint.tags = vec!["".into()],
            "empty tags",
        ),
        (
            "nesterov without momentum",
            |c| {
                c.optim.optimizer = OptimizerKind::Sgd;
                c.optim.nesterov = true;
                c.optim.momentum = 0.0;
            },
            "--nesterov needs --momentum",
        ),
    ];
    for (what, edit, needle) in cases {
        let mut c = valid();
        edit(&mut c);
        match validate(&c) {
            Err(ConfigError::Invalid(reasons)) => {
                let msg = reasons.join("; ");
                assert!(msg.contains(needle), "{what}: `{needle}` not in: {msg}");
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn every_reason_is_reported_at_once() {
    let mut c = valid();
    c.train.epochs = 0;
    c.optim.lr = 0.0;
    c.device = "tpu".into();
    let e = validate(&c).unwrap_err();
    let ConfigError::Invalid(reasons) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(e.to_string().starts_with("invalid training config: "));
}

#[test]
fn warnings_for_settings_without_effect() {
    let mut c = valid();
    c.train.val_split = 0.0;
    let w = validate(&c).unwrap();
    assert!(w.iter().any(|w| w.contains("--save-best")), "{w:?}");
    c.checkpoint.save_best = false;
    assert!(validate(&c).unwrap().is_empty());

    let mut c = valid();
    c.optim.nesterov = true;
    let w = validate(&c).unwrap();
    assert!(w.iter().any(|w| w.contains("--nesterov")), "{w:?}");

    let mut c = valid();
    c.data.frame_delay = 4;
    c.data.frame_delay_augment = true;
    let w = validate(&c).unwrap();
    assert!(
        w.iter().any(|w| w.contains("--frame-delay 4 is replaced")),
        "{w:?}"
    );
}

#[test]
fn valid_combinations_pass() {
    let mut c = valid();
    c.data.train_character = vec!["mewtwo".into(), "gnw".into()];
    c.data.characters = vec!["fox".into(), "falco".into()];
    c.data.stages = vec!["bf".into(), "Final Destination".into()];
    c.data.frame_delay_augment = true;
    c.data.frame_delay_min = 0;
    c.data.frame_delay_max = MAX_FRAME_DELAY;
    c.data.augment = true;
    c.data.noise_copies = MAX_NOISE_COPIES;
    c.data.num_player_names = 112;
    c.schedule.schedule = ScheduleKind::Plateau;
    c.train.early_stopping = true;
    c.device = "cuda:3".into();
    c.checkpoint.name = Some("mewtwo_v1".into());
    assert_eq!(validate(&c).unwrap(), Vec::<String>::new());
    let mut c = valid();
    c.data.player_port = Some(2);
    c.schedule.schedule = ScheduleKind::Exponential;
    c.schedule.decay_steps = Some(10);
    c.schedule.warmup_steps = 100;
    validate(&c).unwrap();
}

#[test]
fn limits_match_the_dataset_crate() {
    assert_eq!(MAX_NOISE_COPIES, exphil_dataset::MAX_NOISE_COPIES);
    assert_eq!(MAX_FRAME_DELAY, exphil_dataset::MAX_DELAY_FRAMES);
}

// ------------------------------------------------------------------------------------------
// The diff from defaults

#[test]
fn diff_from_defaults_lists_changed_settings() {
    assert!(diff_from_defaults(&TrainConfig::default()).is_empty());
    let layers = Layers {
        preset: Some("quick".into()),
        ..with_replays(json!({"optim": {"lr": 0.001}, "device": "cuda:0"}))
    };
    let c = resolve(&layers).unwrap().config;
    let d = diff_from_defaults(&c);
    let expected: Vec<(String, String)> = [
        ("data.max_files", "5"),
        ("data.replays", "[\"/replays\"]"),
        ("device", "cuda:0"),
        ("loop.epochs", "1"),
        ("optim.lr", "0.001"),
        ("policy.backbone.hidden", "[32,32]"),
        ("preset", "quick"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(d, expected);
}

// ------------------------------------------------------------------------------------------
// Temporal backbones

#[test]
fn temporal_flag_picks_a_temporal_backbone_and_explains_mismatches() {
    let resolve_cli = |cli: Value| resolve(&with_replays(cli));
    // --temporal alone: an lstm with its defaults, over the preset's mlp.
    let r = resolve(&Layers {
        preset: Some("quick".into()),
        ..with_replays(json!({"temporal": true, "policy": {"backbone": {"window_size": 30}}}))
    })
    .unwrap();
    let BackboneConfig::Lstm(l) = &r.config.policy.backbone else {
        panic!("{:?}", r.config.policy.backbone)
    };
    assert_eq!((l.window_size, l.hidden_size, l.stride), (30, 256, 1));
    assert_eq!(r.source("policy.backbone.window_size"), FROM_CLI);
    assert_eq!(
        r.source("policy.backbone.hidden"),
        FROM_DEFAULT,
        "the preset's mlp settings went with its mlp"
    );
    // --temporal keeps a temporal backbone chosen below (the preset's mamba).
    let r = resolve(&Layers {
        preset: Some("full".into()),
        ..with_replays(json!({"temporal": true}))
    })
    .unwrap();
    assert_eq!(r.config.policy.backbone.name(), "mamba");
    // --backbone names it without --temporal.
    let r = resolve_cli(json!({"policy": {"backbone": {"type": "jamba", "attention_every": 2}}}))
        .unwrap();
    let BackboneConfig::Jamba(j) = &r.config.policy.backbone else {
        panic!()
    };
    assert_eq!((j.attention_every, j.num_layers), (2, 6));

    let msg = resolve_cli(json!({"temporal": true, "policy": {"backbone": {"type": "mlp"}}}))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("did you mean --backbone lstm"), "{msg}");
    let msg = resolve_cli(json!({"policy": {"backbone": {"window_size": 30}}}))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("--window-size") && msg.contains("--temporal"),
        "{msg}"
    );
    let msg = resolve_cli(json!({"policy": {"backbone": {"type": "gru", "hidden": [64]}}}))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--hidden-size"), "{msg}");
    let msg = resolve_cli(json!({"policy": {"backbone": {"type": "lstm", "num_heads": 8}}}))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("does not apply to the lstm") && msg.contains("attention"),
        "{msg}"
    );
    // A config file's flat keys, as the seeds write them.
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "t.yaml",
        "temporal: true\nbackbone: attention\nwindow_size: 30\nnum_heads: 8\n",
    );
    let r = resolve(&Layers {
        file: Some(file),
        ..with_replays(json!({}))
    })
    .unwrap();
    let BackboneConfig::Attention(a) = &r.config.policy.backbone else {
        panic!()
    };
    assert_eq!((a.window_size, a.num_heads), (30, 8));
}

#[test]
fn temporal_settings_are_validated() {
    let check = |cli: Value| {
        let r = resolve(&with_replays(cli)).unwrap();
        validate(&r.config)
    };
    let err = |cli: Value| check(cli).unwrap_err().to_string();
    let msg = err(json!({"policy": {"backbone": {"type": "attention", "num_heads": 3}}}));
    assert!(msg.contains("--num-heads"), "{msg}");
    let msg =
        err(json!({"policy": {"backbone": {"type": "lstm", "window_size": 0, "num_layers": 0}}}));
    assert!(
        msg.contains("--window-size") && msg.contains("--num-layers"),
        "{msg}"
    );
    let msg =
        err(json!({"policy": {"backbone": {"type": "mamba", "state_size": 0, "dropout": 1.5}}}));
    assert!(
        msg.contains("--state-size") && msg.contains("--dropout"),
        "{msg}"
    );
    let w = check(json!({"policy": {"backbone": {"type": "jamba", "num_layers": 2}}})).unwrap();
    assert!(w.iter().any(|w| w.contains("--attention-every")), "{w:?}");
    // Windowed training: truncation at the window length cuts nothing.
    let w = check(json!({
        "policy": {"backbone": {"type": "gru", "window_size": 10, "truncate_bptt": 10}},
        "loop": {"sequence": {"enabled": false}}
    }))
    .unwrap();
    assert!(w.iter().any(|w| w.contains("no effect")), "{w:?}");
    // Sequence training: the unroll is what truncation cuts.
    let w = check(json!({
        "policy": {"backbone": {"type": "gru", "truncate_bptt": 10}},
        "loop": {"sequence": {"unroll": 32}}
    }))
    .unwrap();
    assert!(!w.iter().any(|w| w.contains("no effect")), "{w:?}");
    let w = check(json!({
        "policy": {"backbone": {"type": "gru", "truncate_bptt": 32}},
        "loop": {"sequence": {"unroll": 32}}
    }))
    .unwrap();
    assert!(w.iter().any(|w| w.contains("no effect")), "{w:?}");
    let msg = err(json!({
        "policy": {"backbone": {"type": "lstm"}},
        "loop": {"sequence": {"unroll": 32, "segment_frames": 100}}
    }));
    assert!(msg.contains("multiple"), "{msg}");
    for name in BACKBONES {
        check(json!({"policy": {"backbone": {"type": name}}}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
