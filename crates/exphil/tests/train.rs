//! End-to-end tests of `exphil train`: the real binary trains the `quick` preset on the shared
//! games, resumes it, beats the majority-class button baseline on held-out games, and handles
//! dry runs, misspelt flags, missing replays, name clashes and SIGTERM.

use exphil_testdata::replays_dir;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary with a private HOME and no EXPHIL_* variables from the caller.
fn cmd(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_exphil"));
    c.arg("train").args(args).env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.starts_with("EXPHIL_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    cmd(home, args).output().expect("run exphil")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn games() -> String {
    replays_dir().join("games").display().to_string()
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("exphil-train-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
    fn s(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--preset quick --replays <shared games> --max-files N --checkpoints T/ck --cache-dir
/// T/cache`, then `extra`.
fn quick(t: &Tmp, files: &str, extra: &[&str]) -> Vec<String> {
    let (replays, ck, cache) = (games(), t.s("ck"), t.s("cache"));
    let base = [
        "--preset",
        "quick",
        "--replays",
        &replays,
        "--max-files",
        files,
        "--checkpoints",
        &ck,
        "--cache-dir",
        &cache,
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Asserts that two runs' exported weights are equal bit for bit; returns the tensor names.
fn assert_same_weights(t: &Tmp, a: &str, b: &str) -> Vec<String> {
    let weights = |name: &str| {
        exphil_runs::tensors::read_tensors(&t.0.join("ck").join(name).join("model.safetensors"))
            .unwrap()
            .0
    };
    let (x, y) = (weights(a), weights(b));
    assert_eq!(x.len(), y.len());
    for (p, q) in x.iter().zip(&y) {
        assert_eq!(p.name, q.name);
        assert!(
            p.data
                .iter()
                .zip(&q.data)
                .all(|(u, v)| u.to_bits() == v.to_bits()),
            "{} differs between {a} and {b}",
            p.name
        );
    }
    x.into_iter().map(|p| p.name).collect()
}

fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn quick_preset_trains_resumes_and_beats_the_button_baseline() {
    let t = Tmp::new("quick");
    let base = quick(&t, "4", &["--name", "q", "--seed", "11"]);
    let o = run(&t.0, &refs(&base));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Epoch 1: train loss"), "{out}");
    assert!(out.contains("val accuracy [buttons"), "{out}");
    let dir = t.0.join("ck/q");
    for f in [
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "loss_curve.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing: {out}");
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config"]["preset"], "quick");
    assert_eq!(config["config"]["loop"]["seed"], 11);
    assert_eq!(config["provenance"]["replay_count"], 4);
    assert!(
        config["layout"].is_object() || config["layout"].is_array(),
        "{config}"
    );

    // Resume to a second epoch: the same run continues from its checkpoint.
    let ro = run(&t.0, &["--resume", &t.s("ck/q"), "--epochs", "2"]);
    let rout = text(&ro);
    assert!(ro.status.success(), "{rout}");
    assert!(rout.contains("resuming at epoch 2"), "{rout}");
    let m = metrics(&dir);
    assert_eq!(m.len(), 2, "{m:?}");
    let last = &m[1];
    let acc = last["val"]["accuracy"][0].as_f64().unwrap();
    let baseline = last["val"]["button_baseline"].as_f64().unwrap();
    assert!(
        acc > baseline,
        "validation button accuracy {acc:.4} does not beat the majority-class baseline {baseline:.4}\n{rout}"
    );

    // The registry records the run, completed, resumed.
    let reg: Value =
        serde_json::from_str(&std::fs::read_to_string(t.0.join("ck/registry.json")).unwrap())
            .unwrap();
    let runs = reg["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{reg}");
    assert_eq!(runs[0]["id"], "q");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["metrics"]["epochs"], 2);

    // Other settings cannot change on resume.
    let bad = run(&t.0, &["--resume", &t.s("ck/q"), "--lr", "0.5"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("Not applied: optim.lr"),
        "{}",
        text(&bad)
    );

    // Python's safetensors reads the exported model with plain names.
    match std::env::var("EXPHIL_PYTHON") {
        Ok(py) => {
            let script = "import sys\nfrom safetensors.numpy import load_file\nt = load_file(sys.argv[1])\nassert any(k.startswith('backbone.') for k in t), list(t)\nprint(len(t))";
            let p = Command::new(py)
                .args(["-c", script])
                .arg(dir.join("model.safetensors"))
                .output()
                .unwrap();
            assert!(p.status.success(), "{}", text(&p));
        }
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "CI must set EXPHIL_PYTHON (a Python with safetensors)"
        ),
    }
}

#[test]
fn dry_run_prints_the_plan_and_trains_nothing() {
    let t = Tmp::new("dry");
    let o = run(
        &t.0,
        &refs(&quick(&t, "2", &["--epochs", "3", "--dry-run"])),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for want in [
        "loop.epochs",
        "(cli)",
        "Parameters:",
        "Batches/epoch:",
        "Dry run: nothing trained.",
    ] {
        assert!(out.contains(want), "missing {want:?}: {out}");
    }
    // The memory figure is measured over real training steps of this config: a peak resident
    // size in MiB that covers at least the process itself.
    let line = out
        .lines()
        .find(|l| l.starts_with("Memory:"))
        .unwrap_or_else(|| panic!("no memory line: {out}"));
    let mib: f64 = line
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {line:?}"));
    assert!(
        line.contains("peak")
            && line.contains("real training steps")
            && (5.0..20_000.0).contains(&mib),
        "{line}"
    );
    let batches: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("Batches/epoch:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no batch count: {out}"));
    assert!(batches > 0, "{out}");
    assert!(!t.0.join("ck").exists(), "a dry run writes no checkpoints");

    // Without --seed the drawn seed is printed with the flag that brings this plan's split
    // back: a second dry run with it holds out the same games.
    let plan = |extra: &[&str]| {
        let o = run(
            &t.0,
            &refs(&quick(&t, "6", &[&["--dry-run"], extra].concat())),
        );
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        let held = out
            .lines()
            .find(|l| l.starts_with("Validation:"))
            .unwrap_or_else(|| panic!("no held-out games listed: {out}"))
            .to_string();
        (out, held)
    };
    let (out, held) = plan(&[]);
    let seed = out
        .lines()
        .find_map(|l| l.strip_prefix("Seed:"))
        .and_then(|l| l.split("--seed ").nth(1))
        .map(|v| v.trim().trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no drawn seed: {out}"));
    assert!(seed.parse::<u64>().is_ok(), "{seed:?}");
    assert!(held.contains(".slp"), "{held}");
    let (_, again) = plan(&["--seed", &seed]);
    assert_eq!(again, held, "--seed {seed} gives another split");
}

#[test]
fn misspelt_flags_and_bad_settings_are_refused_with_a_reason() {
    let t = Tmp::new("flags");
    let o = run(&t.0, &["--epoch", "3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("did you mean `--epochs`?"),
        "{}",
        text(&o)
    );

    let o = run(&t.0, &["--preset", "quik"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("did you mean `quick`?"), "{}", text(&o));

    // No replays anywhere: say how to point exphil at them.
    let o = run(&t.0, &["--preset", "quick"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("--replays") && out.contains("EXPHIL_REPLAYS_DIR"),
        "{out}"
    );

    // An invalid combination.
    let replays = games();
    let o = run(&t.0, &["--replays", &replays, "--batch-size", "0"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("batch"), "{}", text(&o));
}

#[test]
fn environment_supplies_replays_and_checkpoints_and_names_clash() {
    let t = Tmp::new("env");
    let cache = t.s("cache");
    let args = [
        "--preset",
        "quick",
        "--max-files",
        "2",
        "--max-batches",
        "5",
        "--cache-dir",
        &cache,
        "--name",
        "dup",
        "--seed",
        "3",
    ];
    let go = || {
        cmd(&t.0, &args)
            .env("EXPHIL_REPLAYS_DIR", games())
            .env("EXPHIL_CHECKPOINTS_DIR", t.s("envck"))
            .output()
            .unwrap()
    };
    let o = go();
    assert!(o.status.success(), "{}", text(&o));
    assert!(t.0.join("envck/dup/model.safetensors").is_file());
    // The same name again is refused …
    let o = go();
    assert!(!o.status.success());
    assert!(text(&o).contains("--overwrite"), "{}", text(&o));
    // … unless --overwrite, which keeps the old run as a backup.
    let o = cmd(&t.0, &[&args[..], &["--overwrite"]].concat())
        .env("EXPHIL_REPLAYS_DIR", games())
        .env("EXPHIL_CHECKPOINTS_DIR", t.s("envck"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<String> = std::fs::read_dir(t.0.join("envck"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("dup") && n != "dup"),
        "{names:?}"
    );
}

#[test]
fn sigterm_saves_an_interrupt_checkpoint_and_prints_the_resume_command() {
    let t = Tmp::new("term");
    let args = quick(
        &t,
        "2",
        &["--name", "term", "--epochs", "1000", "--seed", "5"],
    );
    let mut child = cmd(&t.0, &refs(&args))
        .stdout(Stdio::piped())
        .stderr(Stdio::null()) // progress lines; unread, a pipe would fill and block the run
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        seen.push_str(&l);
        seen.push('\n');
        if l.contains(" Epoch 1:") {
            break;
        }
    }
    assert!(seen.contains("Epoch 1:"), "{seen}");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    for l in lines {
        seen.push_str(&l.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(
        seen.contains("Resume with: exphil train --resume"),
        "{seen}"
    );
    let dir = t.0.join("ck/term");
    assert!(dir.join("checkpoints/interrupt/manifest.json").is_file());
    // The interrupted run resumes (here for one more epoch than it had finished).
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("checkpoints/interrupt/state.json")).unwrap(),
    )
    .unwrap();
    let done = state["epoch"].as_u64().unwrap();
    let epochs = (done + 1).to_string();
    let o = run(
        &t.0,
        &[
            "--resume",
            &t.s("ck/term"),
            "--epochs",
            &epochs,
            "--max-batches",
            "3",
        ],
    );
    // --max-batches cannot change on resume: refused with the reason.
    assert!(!o.status.success());
    let o = run(&t.0, &["--resume", &t.s("ck/term"), "--epochs", &epochs]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metrics(&dir).len() as u64, done + 1);
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights_and_curve() {
    let t = Tmp::new("kill");
    let args = |name: &str| {
        let extra = [
            "--epochs",
            "2",
            "--max-batches",
            "900",
            "--save-every-batches",
            "100",
            "--seed",
            "4",
            "--name",
            name,
        ];
        quick(&t, "2", &extra)
    };
    let a = args("straight");
    let o = run(&t.0, &refs(&a));
    assert!(o.status.success(), "{}", text(&o));

    let b = args("killed");
    let mut child = cmd(&t.0, &refs(&b))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for l in lines.by_ref() {
        if l.unwrap().contains(" Epoch 1:") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no chance to save anything
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it was killed");
    let o = run(&t.0, &["--resume", &t.s("ck/killed")]);
    assert!(o.status.success(), "{}", text(&o));

    assert_same_weights(&t, "straight", "killed");
    let curve = |name: &str| -> Vec<(Value, Value)> {
        metrics(&t.0.join("ck").join(name))
            .into_iter()
            .map(|l| (l["train"].clone(), l["val"].clone()))
            .collect()
    };
    assert_eq!(curve("straight"), curve("killed"));
}

#[test]
fn temporal_backbones_train_on_windows_and_resume_exactly() {
    let t = Tmp::new("temporal");
    let args = |name: &str, backbone: &str, epochs: &str| {
        let extra = [
            "--backbone",
            backbone,
            "--window-size",
            "8",
            "--stride",
            "8",
            "--hidden-size",
            "16",
            "--num-layers",
            "2",
            "--epochs",
            epochs,
            "--max-batches",
            "30",
            "--seed",
            "3",
            "--name",
            name,
        ];
        quick(&t, "2", &extra)
    };
    // Two epochs straight, and one epoch then --resume to two: the same weights, bit for bit
    // (dropout is on: seeded per step).
    let a = args("straight", "gru", "2");
    let o = run(&t.0, &refs(&a));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("val accuracy [buttons"), "{out}");
    let b = args("resumed", "gru", "1");
    assert!(run(&t.0, &refs(&b)).status.success());
    let o = run(&t.0, &["--resume", &t.s("ck/resumed"), "--epochs", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let names = assert_same_weights(&t, "straight", "resumed");
    assert!(
        names.iter().any(|n| n.contains("cell")),
        "recurrent weights saved: {names:?}"
    );
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(t.0.join("ck/straight/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["config"]["policy"]["backbone"]["type"], "gru");
    assert_eq!(config["config"]["policy"]["backbone"]["window_size"], 8);

    // Every other temporal backbone trains from the command line.
    for backbone in ["lstm", "attention", "mamba", "jamba"] {
        let mut a = args(backbone, backbone, "1");
        if backbone == "jamba" {
            a.extend(["--attention-every".to_string(), "2".to_string()]);
        }
        let o = run(&t.0, &refs(&a));
        assert!(o.status.success(), "{backbone}: {}", text(&o));
        assert!(text(&o).contains("Epoch 1: train loss"), "{}", text(&o));
    }
    // --temporal with the mlp is refused with the choices.
    let a = quick(&t, "2", &["--temporal", "--backbone", "mlp"]);
    let o = run(&t.0, &refs(&a));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("did you mean --backbone lstm"),
        "{}",
        text(&o)
    );
}

/// `--resume` names every checkpoint it refuses and why, and what resuming further back costs;
/// leftovers of interrupted saves (`.tmp-*`, `.trash-*` of a dead process) are cleaned up at
/// every start and resume.
#[test]
fn resume_names_the_damaged_checkpoints_and_what_they_cost_and_cleans_up_leftovers() {
    let t = Tmp::new("damaged");
    let args = quick(
        &t,
        "2",
        &[
            "--name",
            "r",
            "--epochs",
            "4",
            "--save-every",
            "1",
            "--save-every-batches",
            "10",
            "--keep-last",
            "4",
            "--seed",
            "42",
            "--max-batches",
            "30",
        ],
    );
    let o = run(&t.0, &refs(&args));
    assert!(o.status.success(), "{}", text(&o));
    let ck = t.0.join("ck/r/checkpoints");
    // Damage `latest`, `batch` and the newest epoch checkpoint.
    let mut epochs: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("epoch-"))
        .collect();
    epochs.sort();
    let newest = epochs.last().unwrap().clone();
    for name in ["latest", "batch", "best", newest.as_str()] {
        let f = ck.join(name).join("model.safetensors");
        if !f.exists() {
            continue;
        }
        let mut bytes = std::fs::read(&f).unwrap();
        let at = bytes.len() - 5;
        bytes[at] ^= 0x55;
        std::fs::write(&f, bytes).unwrap();
    }
    // Leftovers of saves by a process that is gone.
    let dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    let mut dead = dead;
    dead.wait().unwrap();
    let tmp_left = ck.join(format!(".tmp-batch-{pid}-00000000000004d2"));
    let trash_left = ck.join(format!(".trash-{}-{pid}-000000000000162e", epochs[0]));
    std::fs::create_dir_all(&tmp_left).unwrap();
    std::fs::write(tmp_left.join("model.safetensors"), b"partial").unwrap();
    copy_tree(&ck.join(&epochs[0]), &trash_left);
    let o = run(
        &t.0,
        &[
            "--resume",
            &t.s("ck/r"),
            "--epochs",
            "5",
            "--cache-dir",
            &t.s("cache"),
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for name in ["latest", newest.as_str()] {
        assert!(
            out.contains(&format!("checkpoint {name} refused:")),
            "{name} is named: {out}"
        );
    }
    assert!(
        out.contains("checksum") || out.contains("damaged") || out.contains("mismatch"),
        "{out}"
    );
    assert!(
        out.contains("costs") && out.contains("optimiser steps of progress"),
        "what resuming further back costs: {out}"
    );
    assert!(
        !tmp_left.exists() && !trash_left.exists(),
        "leftovers removed: {out}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Configs are bounded before anything runs: widths and depths beyond exphil's limits, a model
/// the machine cannot hold (unless insisted on), an oversized config file, a key given twice
/// and a non-finite number are each refused with the reason, and nothing is created.
#[test]
fn oversized_or_ambiguous_configs_are_refused_before_anything_runs() {
    let t = Tmp::new("bounds");
    let replays = games();
    let ck = t.s("ck");
    let base = [
        "--replays",
        replays.as_str(),
        "--max-files",
        "1",
        "--checkpoints",
        ck.as_str(),
    ];
    let refused = |extra: &[&str], want: &str| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let started = std::time::Instant::now();
        let o = run(&t.0, &args);
        let out = text(&o);
        assert!(!o.status.success(), "{extra:?}: {out}");
        assert!(out.contains(want), "{extra:?}: wanted {want:?} in {out}");
        assert!(
            started.elapsed().as_secs() < 20,
            "{extra:?}: refused at once"
        );
    };
    refused(
        &["--hidden", "100000000,100000000", "--dry-run"],
        "at most 65536",
    );
    let deep = vec!["8"; 100].join(",");
    refused(&["--hidden", &deep, "--dry-run"], "at most 64");
    refused(
        &["--hidden", "65536,65536,65536", "--dry-run"],
        "--ignore-memory-limit",
    );
    // A config file over 1 MiB, a key set twice, a NaN.
    let big = t.0.join("big.yaml");
    std::fs::write(&big, format!("epochs: 3\n#{}\n", "x".repeat(2 << 20))).unwrap();
    refused(
        &["--config", &big.display().to_string()],
        "larger than 1024 KiB",
    );
    let dup = t.0.join("dup.yaml");
    std::fs::write(&dup, "loop:\n  epochs: 3\n  epochs: 5\n").unwrap();
    refused(
        &["--config", &dup.display().to_string()],
        "duplicate entry with key \"epochs\"",
    );
    let nan = t.0.join("nan.yaml");
    std::fs::write(&nan, "lr: .nan\n").unwrap();
    refused(&["--config", &nan.display().to_string()], "`lr` is .nan");
    // An alias bomb (10^10 strings), brackets nested 500,000 deep (the YAML reader alone took
    // minutes on them), and a device named as the config.
    let bomb = t.0.join("bomb.yaml");
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ('a'..='i').zip('b'..='j') {
        text += &format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        );
    }
    std::fs::write(&bomb, text).unwrap();
    refused(
        &["--config", &bomb.display().to_string()],
        "repetition limit exceeded",
    );
    let deep = t.0.join("deep.yaml");
    std::fs::write(
        &deep,
        format!("optim: {}{}\n", "[".repeat(500_000), "]".repeat(500_000)),
    )
    .unwrap();
    refused(
        &["--config", &deep.display().to_string()],
        "nested deeper than 64 levels at line 1",
    );
    refused(&["--config", "/dev/zero"], "not a regular file");
    assert!(!t.0.join("ck").exists(), "nothing was created");
}

/// A device this build does not have is refused before any data work, a dry run too: the
/// message names the device and the ones there are, and no dataset is built.
#[test]
fn a_device_this_build_lacks_is_refused_before_any_data_work() {
    let t = Tmp::new("nodevice");
    for extra in [
        &["--preset", "gpu"][..],
        &["--device", "cuda:0", "--dry-run"][..],
    ] {
        let mut args = vec![
            "--replays".to_string(),
            games(),
            "--cache-dir".into(),
            t.s("cache"),
            "--checkpoints".into(),
            t.s("ck"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&t.0, &refs(&args));
        let out = text(&o);
        assert!(!o.status.success(), "{extra:?}: {out}");
        // The GPU presets name `gpu`, the first GPU of the build: none in a CPU build; a
        // `vulkan` build on a machine with only the software driver has no discrete GPU.
        let refused = if extra[1] == "gpu" && cfg!(feature = "vulkan") {
            out.contains("device \"vulkan:0\": no usable Vulkan adapter")
        } else if extra[1] == "gpu" {
            out.contains("device \"gpu\"") && out.contains("its devices: cpu")
        } else {
            out.contains("device \"cuda:0\"") && out.contains("its devices: cpu")
        };
        assert!(refused, "{extra:?}: {out}");
        assert!(
            !t.0.join("cache").exists(),
            "{extra:?}: a dataset was built"
        );
    }
    // PPO too, before it looks for the policy to start from.
    let o = Command::new(env!("CARGO_BIN_EXE_exphil"))
        .args(["ppo", "--device", "cuda:0", "--dry-run"])
        .env("HOME", &t.0)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("its devices: cpu"),
        "{out}"
    );
}

#[test]
fn the_terminal_says_what_the_flags_promise() {
    let t = Tmp::new("terminal");
    // --quiet: one line, the summary: run name, epochs, best validation loss, the model.
    let o = run(
        &t.0,
        &refs(&quick(
            &t,
            "2",
            &["--name", "qq", "--max-batches", "20", "--quiet"],
        )),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "a quiet run prints one line: {out}");
    let line = lines[0];
    assert!(
        line.starts_with("Done in ") && line.contains("run qq, 1 epochs"),
        "{line}"
    );
    let best: f64 = line
        .split("best validation loss ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no best validation loss: {line}"));
    assert!(best.is_finite() && best > 0.0, "{line}");
    assert!(
        line.ends_with(&t.0.join("ck/qq/model.safetensors").display().to_string()),
        "{line}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).trim().is_empty(),
        "{}",
        text(&o)
    );

    // --verbose: progress lines (stderr is not a terminal) with a clock, the loss, the rate,
    // the learning rate, the gradient norm and the resident memory; epoch lines stamped.
    let o = run(
        &t.0,
        &refs(&quick(
            &t,
            "2",
            &[
                "--name",
                "vv",
                "--max-batches",
                "20",
                "--log-interval",
                "5",
                "--verbose",
                "--wandb-project",
                "melee",
            ],
        )),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let board = t.0.join("ck/vv/tensorboard");
    assert!(
        out.contains(&format!(
            "wandb sync --sync-tensorboard --project melee --id vv {}",
            board.display()
        )),
        "{out}"
    );
    let progress: Vec<&str> = out.lines().filter(|l| l.contains(" batch ")).collect();
    assert_eq!(progress.len(), 4, "{out}");
    for l in &progress {
        let field = |key: &str| -> f64 {
            l.split(key)
                .nth(1)
                .and_then(|r| r.split([' ', ',']).find(|w| !w.is_empty()))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key:?} in {l}"))
        };
        assert!(is_clock(l.trim_start()), "{l}");
        assert!(field("loss ") > 0.0, "{l}");
        assert!(field("lr ") > 0.0, "{l}");
        assert!(field("grad norm ") > 0.0, "{l}");
        assert!(field("resident ") > 1.0, "{l}");
        assert!(l.contains("scored frames/s"), "{l}");
    }
    let epoch = out
        .lines()
        .find(|l| l.contains("Epoch 1: train loss"))
        .unwrap_or_else(|| panic!("no epoch line: {out}"));
    assert!(is_clock(epoch), "{epoch}");
    assert!(!out.contains('\x1b'), "colour when piped: {out}");
    check_board(&board, &progress, &metrics(&t.0.join("ck/vv")));

    // The replay filters every command shares: train takes them too.
    let o = run(
        &t.0,
        &refs(&quick(
            &t,
            "2",
            &["--human-only", "--one-v-one", "--dry-run"],
        )),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("data.human_only") && out.contains("data.one_v_one"),
        "{out}"
    );
}

/// The run's TensorBoard events hold the losses the progress lines printed (at batches 5, 10,
/// 15, 20) and the epoch's validation loss of `metrics.jsonl`: read by exphil's reader and, with
/// a Python, by TensorBoard's own.
fn check_board(board: &Path, progress: &[&str], metrics: &[Value]) {
    let printed: Vec<f64> = progress
        .iter()
        .map(|l| {
            l.split("loss ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let files: Vec<PathBuf> = std::fs::read_dir(board)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = exphil_report::tensorboard::read_events(&files[0]).unwrap();
    assert_eq!(file.truncated_at, None);
    let series = |tag: &str| -> Vec<(i64, f64)> {
        file.events
            .iter()
            .flat_map(|e| {
                e.scalars
                    .iter()
                    .filter(|(t, _)| t == tag)
                    .map(move |(_, v)| (e.step, *v))
            })
            .collect()
    };
    let loss = series("train/loss");
    assert_eq!(
        loss.iter().map(|p| p.0).collect::<Vec<_>>(),
        [5, 10, 15, 20],
        "{loss:?}"
    );
    for ((_, v), p) in loss.iter().zip(&printed) {
        assert!((v - p).abs() < 1e-3, "{v} vs printed {p}");
    }
    assert_eq!(series("train/grad_norm").len(), 4);
    let val = metrics[0]["val"]["loss"].as_f64().unwrap();
    let board_val = series("val/loss");
    assert_eq!(board_val.len(), 1);
    assert!(
        (board_val[0].1 - val).abs() < 1e-4,
        "{board_val:?} vs {val}"
    );
    match std::env::var("EXPHIL_PYTHON") {
        Ok(py) => {
            let script = "import sys\nfrom tensorboard.backend.event_processing.event_accumulator import EventAccumulator\nea = EventAccumulator(sys.argv[1]); ea.Reload()\nprint(' '.join(f'{e.step}:{e.value:.4f}' for e in ea.Scalars('train/loss')))\nprint(len(ea.Scalars('val/loss')))";
            let p = Command::new(py)
                .args(["-c", script])
                .arg(board)
                .output()
                .unwrap();
            assert!(p.status.success(), "{}", text(&p));
            let got = String::from_utf8_lossy(&p.stdout).to_string();
            let want: Vec<String> = loss.iter().map(|(s, v)| format!("{s}:{v:.4}")).collect();
            assert_eq!(got.trim(), format!("{}\n1", want.join(" ")), "{got}");
        }
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "CI must set EXPHIL_PYTHON (a Python with tensorboard)"
        ),
    }
}

/// Whether `line` starts with a UTC clock, `20:35:56Z `.
fn is_clock(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 9
        && b[..8].iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && &b[8..10] == b"Z "
}

#[test]
fn typo_hints_are_close_or_absent() {
    let t = Tmp::new("hints");
    for (wrong, hint) in [
        ("--epoch", Some("--epochs")),
        ("--batchsize", Some("--batch-size")),
        ("--val-splt", Some("--val-split")),
        ("--frobnicate-weights", None),
        ("--learn-player-styles", None),
        ("--fail-fast", None),
    ] {
        let o = run(&t.0, &[wrong]);
        assert_eq!(o.status.code(), Some(2), "{wrong}");
        let out = text(&o);
        assert!(out.contains(&format!("unknown flag `{wrong}`")), "{out}");
        match hint {
            Some(h) => assert!(out.contains(&format!("did you mean `{h}`?")), "{out}"),
            None => assert!(!out.contains("did you mean"), "{wrong}: {out}"),
        }
    }
    // A subcommand's own flags are the candidates.
    let o = Command::new(env!("CARGO_BIN_EXE_exphil"))
        .args(["selfplay", "eval", "--polcy", "x"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("did you mean `--policy`?"),
        "{}",
        text(&o)
    );
}

/// Mixed precision on the CPU: an f16 run keeps f32 weights, scales its loss (the epoch line
/// and `metrics.jsonl` give the scale) and ends within 5% of the same run in f32;
/// `--mixed-precision` resolves to the type the device computes in (bf16 on the CPU) and the
/// dry run says which.
#[test]
fn f16_training_scales_its_loss_and_lands_near_f32() {
    let t = Tmp::new("precision");
    let train = |name: &str, extra: &[&str]| {
        let mut args = quick(
            &t,
            "3",
            &["--name", name, "--seed", "5", "--max-batches", "40"],
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&t.0, &refs(&args));
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let out = train("half", &["--precision", "f16"]);
    train("full", &[]);
    let m = metrics(&t.0.join("ck/half"));
    let last = m.last().unwrap();
    let scale = last["loss_scale"]["scale"].as_f64().unwrap();
    assert!((1.0..=65536.0).contains(&scale), "{last}");
    assert!(
        out.contains(&format!("loss scale {scale} (")),
        "the epoch line gives the scale {scale}: {out}"
    );
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(t.0.join("ck/half/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["config"]["loop"]["precision"], "f16");
    let weights = exphil_runs::tensors::read_tensors(&t.0.join("ck/half/model.safetensors"))
        .unwrap()
        .0;
    assert!(!weights.is_empty());
    let val = |run: &str| {
        metrics(&t.0.join("ck").join(run)).last().unwrap()["val"]["loss"]
            .as_f64()
            .unwrap()
    };
    let (half, full) = (val("half"), val("full"));
    assert!(
        half.is_finite() && (half - full).abs() <= 0.05 * full,
        "f16 validation loss {half} vs f32 {full}"
    );
    assert!(metrics(&t.0.join("ck/full"))
        .last()
        .unwrap()
        .get("loss_scale")
        .is_none());
    let o = run(
        &t.0,
        &refs(&quick(&t, "2", &["--mixed-precision", "--dry-run"])),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Device:         cpu, computing in bf16"),
        "{}",
        text(&o)
    );
}

/// A `--features vulkan` build (CI: on Mesa's lavapipe): `train --device vulkan` trains,
/// reports the device's memory against the limit given and warns near it, and `eval` of its weights gives the same NLL on Vulkan as on
/// the CPU (within 1e-3).
#[cfg(feature = "vulkan")]
#[test]
fn a_vulkan_training_evaluates_the_same_on_vulkan_and_cpu() {
    let t = Tmp::new("vulkan");
    let o = run(
        &t.0,
        &refs(&quick(
            &t,
            "2",
            &[
                "--name",
                "vk",
                "--seed",
                "4",
                "--device",
                "vulkan",
                "--max-batches",
                "60",
                "--device-memory-limit",
                "1MiB",
            ],
        )),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("device memory"), "{out}");
    // The limit given: in the progress line, and the warning at 90% of it, once.
    assert!(out.contains(" of 1.0 MiB)"), "{out}");
    assert_eq!(
        out.matches("warning: device memory nearly full").count(),
        1,
        "{out}"
    );
    assert!(out.contains("of the 1.0 MiB this run may use"), "{out}");
    let m = metrics(&t.0.join("ck/vk"));
    assert!(
        m[0]["peak_memory"]["device_in_use"].as_u64().unwrap() > 0,
        "{m:?}"
    );
    let nll = |device: &str| -> f64 {
        let o = Command::new(env!("CARGO_BIN_EXE_exphil"))
            .args(["eval", "--policy", "vk", "--checkpoints", &t.s("ck")])
            .args([
                "--replays",
                &games(),
                "--max-files",
                "2",
                "--include-training",
            ])
            .args(["--no-save", "--json", "--device", device])
            .env("HOME", &t.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["summary"]["nll"].as_f64().unwrap()
    };
    let (cpu, vk) = (nll("cpu"), nll("vulkan"));
    assert!(
        cpu.is_finite() && (cpu - vk).abs() < 1e-3,
        "cpu {cpu} vs vulkan {vk}"
    );
}
