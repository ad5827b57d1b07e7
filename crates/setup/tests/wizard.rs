//! The wizard driven line by line: every path ends in a command that `exphil train` parses,
//! resolves and validates.

use clap::Parser;
use exphil_runs::args::TrainArgs;
use exphil_runs::presets::{resolve, validate};
use exphil_runs::registry::{update_registry, RunRecord};
use exphil_setup::{command, count_replays, wizard, Answers, Env, Lines, Machine, Plan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

/// `argv` parsed by `exphil train`'s flags, resolved into a config and validated.
fn check(argv: &[String]) {
    assert_eq!(argv[0], "train");
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let layers = cli.args.layers(BTreeMap::new()).unwrap();
    let resolved = resolve(&layers).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    validate(&resolved.config).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
}

/// The device of the `gpu` preset (`gpu`, or `cuda:0` before that name existed).
fn gpu_device() -> String {
    let p = exphil_runs::presets::preset("gpu").unwrap();
    p.overlay["device"].as_str().unwrap().to_string()
}

fn cpu() -> Machine {
    Machine {
        cores: 8,
        memory_bytes: 32 << 30,
        gpus: vec![],
    }
}

fn gpu() -> Machine {
    Machine {
        cores: 16,
        memory_bytes: 128 << 30,
        gpus: vec!["NVIDIA H100 80GB HBM3".into()],
    }
}

fn env(pairs: &[(&str, &Path)]) -> Env {
    let vars = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .collect();
    Env {
        vars,
        os: "linux".into(),
    }
}

/// A folder of `n` (empty) replay files, some nested.
fn replays(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("2025-01")).unwrap();
    for i in 0..n {
        let sub = if i % 2 == 0 { "" } else { "2025-01" };
        std::fs::write(dir.path().join(sub).join(format!("Game_{i}.slp")), b"").unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
    dir
}

fn run(input: &str, machine: &Machine, env: &Env) -> (Plan, String) {
    let mut ask = Lines::new(input.as_bytes(), Vec::new());
    let plan = wizard(&mut ask, machine, env).unwrap();
    check(&plan.argv);
    (plan, String::from_utf8(ask.into_output()).unwrap())
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn enter_throughout_is_a_quick_experiment_on_the_replays_folder() {
    let r = replays(3);
    let e = env(&[("EXPHIL_REPLAYS_DIR", r.path())]);
    let dir = r.path().display().to_string();
    let want = strs(&["train", "--preset", "quick", "--replays", &dir]);
    for input in ["\n\n\n\n\n\n\n\n", ""] {
        let (plan, out) = run(input, &cpu(), &e);
        assert_eq!(plan.argv, want, "{input:?}");
        assert!(!plan.run, "run defaults to no");
        assert!(out.contains("(3 replays found in"), "{out}");
        assert!(
            out.contains(&format!("exphil train --preset quick --replays {dir}")),
            "{out}"
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("8 cores")),
            "{:?}",
            plan.notes
        );
    }
}

#[test]
fn without_the_variable_the_slippi_launcher_folder_is_the_default() {
    let home = tempfile::tempdir().unwrap();
    let slippi = home.path().join("Documents/Slippi");
    std::fs::create_dir_all(&slippi).unwrap();
    std::fs::write(slippi.join("Game_1.slp"), b"").unwrap();
    let e = env(&[("HOME", home.path())]);
    let (plan, out) = run("", &gpu(), &e);
    assert_eq!(plan.argv[4], slippi.display().to_string());
    assert!(out.contains("(1 replays found in"), "{out}");
}

#[test]
fn a_character_model_on_the_cpu_and_on_the_gpu() {
    let r = replays(2);
    let e = env(&[("EXPHIL_REPLAYS_DIR", r.path())]);
    let dir = r.path().display().to_string();
    let (plan, out) = run("character\nganon\n\n\n\n", &cpu(), &e);
    assert_eq!(
        plan.argv,
        strs(&[
            "train",
            "--preset",
            "strong-cpu",
            "--replays",
            &dir,
            "--train-character",
            "ganondorf"
        ])
    );
    assert!(out.contains("Learning the port playing ganondorf"), "{out}");
    let (plan, _) = run("2\n\ngameandwatch\n\n\ny\n", &gpu(), &e);
    assert_eq!(
        plan.argv,
        strs(&[
            "train",
            "--preset",
            "gameandwatch",
            "--replays",
            &dir,
            "--device",
            &gpu_device()
        ])
    );
    assert!(plan.run);
    let (plan, _) = run("2\nanother\nfalcoo\nfalco\n", &cpu(), &e);
    assert_eq!(plan.argv[2], "strong-cpu");
    assert_eq!(plan.argv[6], "falco");
}

#[test]
fn a_general_model_and_the_advanced_options() {
    let r = replays(1);
    let ck = tempfile::tempdir().unwrap();
    let e = env(&[("EXPHIL_REPLAYS_DIR", r.path())]);
    let input = format!(
        "general\nn\n\ny\n3\nlots\n32\ny\n99\n18\n{}\n",
        ck.path().display()
    );
    let (plan, out) = run(&input, &gpu(), &e);
    let dir = r.path().display().to_string();
    let ck = ck.path().display().to_string();
    assert_eq!(
        plan.argv,
        strs(&[
            "train",
            "--preset",
            "full-cpu",
            "--replays",
            &dir,
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--frame-delay",
            "18",
            "--checkpoints",
            &ck,
            "--temporal"
        ])
    );
    assert!(out.contains("`lots`: give a whole number"), "{out}");
    assert!(out.contains("`99`: give a whole number from 0 to"), "{out}");
    let (plan, _) = run("general\n", &gpu(), &e);
    assert_eq!(plan.argv[..3], strs(&["train", "--preset", "gpu"]));
    assert!(
        !plan.argv.contains(&"--device".to_string()),
        "gpu sets its device"
    );
}

#[test]
fn a_small_machine_gets_a_smaller_batch() {
    let r = replays(1);
    let e = env(&[("EXPHIL_REPLAYS_DIR", r.path())]);
    let small = Machine {
        cores: 2,
        memory_bytes: 3 << 30,
        gpus: vec![],
    };
    let (plan, _) = run("general\n", &small, &e);
    assert_eq!(plan.argv[2], "full-cpu");
    assert_eq!(plan.argv[5..], strs(&["--batch-size", "32"]));
}

#[test]
fn bad_answers_are_asked_again() {
    let r = replays(1);
    let e = env(&[("EXPHIL_REPLAYS_DIR", r.path())]);
    let (plan, out) = run(
        "9\nmodel\nfine-tune please\nquick\n\nmaybe\n\nperhaps\nno\n",
        &cpu(),
        &e,
    );
    assert_eq!(plan.argv[2], "quick");
    assert!(!plan.run);
    assert!(out.contains("9 is not 1-4"), "{out}");
    assert!(out.contains("`model` is not an option"), "{out}");
    assert!(out.contains("`maybe`: answer y or n"), "{out}");
    assert!(out.contains("`perhaps`: answer y or n"), "{out}");
}

#[test]
fn fine_tuning_a_registry_run_keeps_its_preset() {
    let r = replays(1);
    let ck = tempfile::tempdir().unwrap();
    update_registry(ck.path(), |reg| {
        for (id, at, preset) in [
            ("mlp_old", "2025-01-01T00:00:00Z", "standard"),
            ("mamba_new", "2025-02-01T00:00:00Z", "mewtwo"),
        ] {
            reg.upsert(RunRecord {
                id: id.into(),
                created_at: at.into(),
                backbone: "mlp".into(),
                status: "completed".into(),
                config_summary: serde_json::json!({"preset": preset}),
                ..RunRecord::default()
            });
        }
    })
    .unwrap();
    let e = env(&[
        ("EXPHIL_REPLAYS_DIR", r.path()),
        ("EXPHIL_CHECKPOINTS_DIR", ck.path()),
    ]);
    let dir = r.path().display().to_string();
    let (plan, _) = run("fine\nn\n\n", &gpu(), &e);
    assert_eq!(
        plan.argv,
        strs(&[
            "train",
            "--preset",
            "mewtwo",
            "--replays",
            &dir,
            "--pretrained",
            "mamba_new"
        ])
    );
    let (plan, out) = run("4\n3\n/runs/x/policy.safetensors\nfull-cpu\n", &cpu(), &e);
    assert_eq!(
        plan.argv,
        strs(&[
            "train",
            "--preset",
            "full-cpu",
            "--replays",
            &dir,
            "--pretrained",
            "/runs/x/policy.safetensors"
        ])
    );
    assert!(out.contains("1. mamba_new"), "newest first: {out}");
}

#[test]
fn fine_tuning_with_no_run_found_says_so() {
    let r = replays(1);
    let ck = tempfile::tempdir().unwrap();
    let e = env(&[
        ("EXPHIL_REPLAYS_DIR", r.path()),
        ("EXPHIL_CHECKPOINTS_DIR", ck.path()),
    ]);
    let mut ask = Lines::new(&b"fine-tune\n"[..], Vec::new());
    let err = wizard(&mut ask, &cpu(), &e).unwrap_err();
    assert!(err.to_string().contains("none was found in"), "{err}");
}

#[test]
fn every_flag_the_wizard_emits_parses() {
    let mut a = Answers::new("mewtwo", PathBuf::from("/r dir"));
    a.train_character = Some("fox".into());
    a.device = Some(gpu_device());
    a.epochs = Some(2);
    a.batch_size = Some(16);
    a.temporal = Some(false);
    a.frame_delay = Some(18);
    a.checkpoints = Some(PathBuf::from("/ck"));
    let argv = command(&a);
    check(&argv);
    a.temporal = Some(true);
    a.pretrained = Some("run".into());
    check(&command(&a));
    for p in exphil_runs::presets::preset_names() {
        check(&command(&Answers::new(p, PathBuf::from("/r"))));
    }
}

#[test]
fn replays_are_counted_recursively() {
    let r = replays(5);
    assert_eq!(count_replays(r.path()), 5);
    assert_eq!(count_replays(&r.path().join("missing")), 0);
}
