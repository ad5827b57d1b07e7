//! End-to-end tests of `exphil eval` and `exphil models` on the shared replays: a small policy
//! is trained, evaluated on games it did not train on, and its figures are checked against a
//! recomputation in the test (argmax accuracy, baselines, consistency); checkpoints that do not
//! match their config or come from a newer format are refused in words; the registry commands
//! work on a temporary checkpoints directory, and a lost registry is rebuilt.

mod common;

use common::{isolated, s, text};
use exphil_policy::file::{load_policy, META_FORMAT};
use exphil_testdata::replays_dir;
use exphil_train::eval::{sequences_of_replay, SequenceOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// The binary in `home` with `args`.
fn exphil(home: &Path, args: &[&str]) -> Output {
    isolated(home).args(args).output().expect("run exphil")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn games() -> PathBuf {
    replays_dir().join("games")
}

/// Trains the runs once for all tests: `base` (MLP, 2 epochs on 4 games) and `tuned`
/// (fine-tuned from `base`, 1 epoch), in a checkpoints directory of their own.
struct Trained {
    root: PathBuf,
}

impl Trained {
    fn ck(&self) -> PathBuf {
        self.root.join("ck")
    }
}

fn train(root: &Path, name: &str, extra: &[&str]) {
    let (g, ck, cache) = (
        games(),
        root.join("ck").display().to_string(),
        root.join("cache").display().to_string(),
    );
    let mut args = vec![
        "train",
        "--preset",
        "quick",
        "--replays",
        s(&g),
        "--max-files",
        "4",
        "--checkpoints",
        &ck,
        "--cache-dir",
        &cache,
        "--name",
        name,
        "--seed",
        "7",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok(exphil(root, &args));
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("eval-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        train(&root, "base", &["--epochs", "2"]);
        train(&root, "tuned", &["--epochs", "1", "--pretrained", "base"]);
        Trained { root }
    })
}

/// A copy of a trained run in a scratch checkpoints directory (for tests that change it).
fn copy_run(name: &str, tag: &str) -> (PathBuf, PathBuf) {
    let t = trained();
    let dst = t.root.join(format!("scratch-{tag}")).join("ck");
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&t.ck().join(name), &dst.join(name));
    (dst.clone(), dst.join(name))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn eval_json(home: &Path, args: &[&str]) -> Value {
    let mut full = vec!["eval", "--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(exphil(home, &full))).unwrap()
}

#[test]
fn evaluation_matches_an_independent_recomputation() {
    let t = trained();
    let run = t.ck().join("base");
    let g = games();
    let r = eval_json(
        &t.root,
        &["--policy", s(&run), "--replays", s(&g), "--max-files", "7"],
    );
    let m = &r["metrics"];
    // The 4 files the run used (3 training, 1 validation) minus its training games.
    let training: Vec<String> = serde_json::from_value(
        serde_json::from_str::<Value>(&std::fs::read_to_string(run.join("games.json")).unwrap())
            .unwrap()["training"]
            .clone(),
    )
    .unwrap();
    assert_eq!(r["data"]["excluded_training"], training.len() as u64);
    assert!(r["data"]["training_games_known"].as_bool().unwrap());

    // Recompute on the same frames: decode the same files, skip the training games, and take
    // the argmax of the raw logits.
    let device = burn::tensor::Device::flex();
    let loaded = load_policy(&run, &device).unwrap();
    let opts = SequenceOptions::for_policy(&loaded, None).unwrap();
    let embedder = exphil_embed::Embedder::new(loaded.embed.clone()).unwrap();
    let coder = exphil_embed::TargetCoder::new(loaded.targets.clone()).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&g)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "slp"))
        .collect();
    files.sort();
    files.truncate(7);
    let filter = exphil_corpus::Filter {
        dedupe: true,
        ..exphil_corpus::Filter::default()
    };
    let (mut changed, mut changed_correct) = ([0usize; 6], [0usize; 6]);
    let (mut frames, mut correct, mut majority, mut repeat) = (
        0usize,
        [0usize; 6],
        [
            BTreeCount::default(),
            BTreeCount::default(),
            BTreeCount::default(),
            BTreeCount::default(),
            BTreeCount::default(),
            BTreeCount::default(),
        ],
        [0usize; 6],
    );
    let mut games = std::collections::BTreeSet::new();
    let offsets = loaded.policy.button_offsets();
    for f in &files {
        let Ok(seqs) = sequences_of_replay(f, &embedder, &coder, &opts, &filter) else {
            continue;
        };
        for sq in seqs {
            if training.contains(&sq.content_hash) {
                continue;
            }
            games.insert(sq.content_hash.clone());
            let n = sq.len();
            let input =
                exphil_policy::PolicyInput::new(&loaded.spec, &sq.features, &sq.ids, n, &device);
            let tb = exphil_policy::TargetBatch::new(n, &sq.targets, &device);
            let logits = loaded.policy.forward(&input, &tb);
            let b = logits.buttons.to_data().convert::<f32>();
            let b = b.as_slice::<f32>().unwrap();
            let cls: Vec<Vec<f32>> = logits
                .classes
                .iter()
                .map(|z| {
                    z.to_data()
                        .convert::<f32>()
                        .as_slice::<f32>()
                        .unwrap()
                        .to_vec()
                })
                .collect();
            for i in 0..n {
                let y = &sq.targets[i * 6..i * 6 + 6];
                let mut pv = 0u16;
                for k in 0..8 {
                    if b[i * 8 + k] > offsets[k] {
                        pv |= 1 << k;
                    }
                }
                let mut pred = [pv, 0, 0, 0, 0, 0];
                for k in 0..5 {
                    let c = loaded.spec.classes[k];
                    let row = &cls[k][i * c..(i + 1) * c];
                    let mut best = 0;
                    for j in 0..c {
                        if row[j] > row[best] {
                            best = j;
                        }
                    }
                    pred[k + 1] = best as u16;
                }
                let label = |k: usize, row: &[u16]| if k == 0 { row[0] & 0xff } else { row[k] };
                for k in 0..6 {
                    correct[k] += usize::from(pred[k] == label(k, y));
                    majority[k].add(label(k, y));
                    // Repeat: the previous frame's input (the neutral controller first).
                    let prev = if i > 0 && sq.frame_ids[i - 1] == sq.frame_ids[i] - 1 {
                        label(k, &sq.targets[(i - 1) * 6..i * 6])
                    } else {
                        let neutral = exphil_dataset::target_row(
                            &coder.encode(&exphil_state::Controller::NEUTRAL),
                        );
                        label(k, &neutral)
                    };
                    repeat[k] += usize::from(prev == label(k, y));
                    if prev != label(k, y) {
                        changed[k] += 1;
                        changed_correct[k] += usize::from(pred[k] == label(k, y));
                    }
                }
                frames += 1;
            }
        }
    }
    assert!(frames > 10_000, "{frames} frames");
    assert_eq!(m["frames"].as_u64().unwrap() as usize, frames);
    assert_eq!(m["games"].as_u64().unwrap() as usize, games.len());
    let comps = m["components"].as_array().unwrap();
    assert_eq!(comps.len(), 6);
    let mut nll_sum = 0.0;
    for (k, c) in comps.iter().enumerate() {
        let name = c["name"].as_str().unwrap();
        let acc = c["accuracy"].as_f64().unwrap();
        let want = correct[k] as f64 / frames as f64;
        assert!(
            (acc - want).abs() < 1e-9,
            "{name}: accuracy {acc} vs recomputed {want}"
        );
        let maj = c["baselines"]["majority"]["accuracy"].as_f64().unwrap();
        let want = majority[k].max() as f64 / frames as f64;
        assert!(
            (maj - want).abs() < 1e-9,
            "{name}: majority {maj} vs {want}"
        );
        let rep = c["baselines"]["repeat"]["accuracy"].as_f64().unwrap();
        let want = repeat[k] as f64 / frames as f64;
        assert!((rep - want).abs() < 1e-9, "{name}: repeat {rep} vs {want}");
        // Where the input changes, repeating it is always wrong: the policy's accuracy there.
        assert_eq!(
            c["changed_frames"].as_u64().unwrap() as usize,
            changed[k],
            "{name}"
        );
        assert!(changed[k] > 0, "{name}: no frame changes its input");
        let chg = c["changed_accuracy"].as_f64().unwrap();
        let want = changed_correct[k] as f64 / changed[k] as f64;
        assert!((chg - want).abs() < 1e-9, "{name}: changed {chg} vs {want}");
        // Finite, consistent figures.
        let nll = c["nll"].as_f64().unwrap();
        assert!(nll.is_finite() && nll >= 0.0, "{name}: nll {nll}");
        nll_sum += nll;
        let ece = c["ece"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ece), "{name}: ece {ece}");
        let bins: u64 = c["reliability"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        let per_frame = if k == 0 { 8 } else { 1 };
        assert_eq!(
            bins as usize,
            frames * per_frame,
            "{name}: reliability bins"
        );
        let conf = c["confidence"].as_f64().unwrap();
        assert!(conf > 0.0 && conf <= 1.0, "{name}: confidence {conf}");
        let (h, u) = (
            c["entropy"].as_f64().unwrap(),
            c["uniform_entropy"].as_f64().unwrap(),
        );
        assert!(
            h >= 0.0 && h <= u + 1e-9,
            "{name}: entropy {h} > uniform {u}"
        );
        // The prior's likelihood is the entropy of the labels: no better than uniform.
        let prior = c["baselines"]["majority"]["nll"].as_f64().unwrap();
        assert!(
            prior.is_finite() && prior <= u + 1e-9,
            "{name}: prior nll {prior}"
        );
        assert!(c["baselines"]["repeat"]["nll"]
            .as_f64()
            .unwrap()
            .is_finite());
        // Agreement at offset 0 is the accuracy.
        let a0 = m["delay_sweep"][0]["agreement"][name].as_f64().unwrap();
        assert!(
            (a0 - acc).abs() < 1e-9,
            "{name}: offset-0 agreement {a0} vs accuracy {acc}"
        );
    }
    assert!((m["nll"].as_f64().unwrap() - nll_sum).abs() < 1e-9);
    // The trained policy is better than the class frequencies.
    assert!(
        m["nll"].as_f64().unwrap() < m["majority_nll"].as_f64().unwrap(),
        "{}",
        m["nll"]
    );
    assert_eq!(m["delay_sweep"].as_array().unwrap().len(), 9);
    // Per-character frames add up (each player view has one character).
    let by_char: u64 = m["by_character"]
        .as_object()
        .unwrap()
        .values()
        .map(|g| g["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(by_char as usize, frames);
    let by_stage: u64 = m["by_stage"]
        .as_object()
        .unwrap()
        .values()
        .map(|g| g["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(by_stage as usize, frames);
    // Buttons: precision/recall in range, rates consistent with the data.
    for b in m["buttons"].as_array().unwrap() {
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "predicted_rate",
            "true_rate",
        ] {
            let v = b[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{} {k} {v}", b["name"]);
        }
    }
    assert!(m["inference"]["ms_per_frame"].as_f64().unwrap() > 0.0);
    assert!(m["inference"]["step"]["median_us"].as_f64().unwrap() > 0.0);

    // Saved for the registry, named by the evaluation set's hash.
    let hash = r["data"]["hash"].as_str().unwrap();
    assert!(run.join(format!("eval_{hash}.json")).is_file());
    let reg: Value =
        serde_json::from_str(&std::fs::read_to_string(t.ck().join("registry.json")).unwrap())
            .unwrap();
    let rec = reg["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "base")
        .unwrap();
    assert_eq!(rec["evals"][hash]["nll"], m["nll"]);

    // The table output names the baselines and the headline.
    let out = ok(exphil(
        &t.root,
        &[
            "eval",
            "--policy",
            s(&run),
            "--replays",
            s(&g),
            "--max-files",
            "7",
            "--no-save",
        ],
    ));
    for want in [
        "Negative log-likelihood",
        "majority",
        "repeat",
        "Delay sweep",
        "by character",
        "ECE",
        "confusions",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    // The table's buttons row shows the accuracy on frames where the input changes.
    let row = out
        .lines()
        .find(|l| l.starts_with("buttons "))
        .unwrap_or_else(|| panic!("{out}"));
    let shown = format!(
        "{:.1}%",
        100.0 * comps[0]["changed_accuracy"].as_f64().unwrap()
    );
    assert!(row.contains(&shown), "{shown} not in {row}");

    // --from-frame scores only the inputs of frames from there on.
    let later = eval_json(
        &t.root,
        &[
            "--policy",
            s(&run),
            "--replays",
            s(&g),
            "--max-files",
            "7",
            "--from-frame",
            "1",
            "--no-save",
        ],
    );
    assert_eq!(later["data"]["from_frame"], 1);
    let countdown = frames_from(&files, &training, &embedder, &coder, &opts, &filter, 1);
    assert_eq!(
        later["metrics"]["frames"].as_u64().unwrap() as usize,
        countdown
    );
    assert!(
        countdown < frames && countdown > frames / 2,
        "{countdown} of {frames}"
    );
    assert_ne!(later["data"]["hash"], r["data"]["hash"]);
}

/// Frames of ids `from` and later in the files' sequences that are not training games.
fn frames_from(
    files: &[PathBuf],
    training: &[String],
    embedder: &exphil_embed::Embedder,
    coder: &exphil_embed::TargetCoder,
    opts: &SequenceOptions,
    filter: &exphil_corpus::Filter,
    from: i32,
) -> usize {
    files
        .iter()
        .filter_map(|f| sequences_of_replay(f, embedder, coder, opts, filter).ok())
        .flatten()
        .filter(|sq| !training.contains(&sq.content_hash))
        .map(|sq| sq.frame_ids.iter().filter(|&&id| id >= from).count())
        .sum()
}

#[derive(Default)]
struct BTreeCount(std::collections::BTreeMap<u16, usize>);

impl BTreeCount {
    fn add(&mut self, v: u16) {
        *self.0.entry(v).or_default() += 1;
    }
    fn max(&self) -> usize {
        self.0.values().copied().max().unwrap_or(0)
    }
}

#[test]
fn compare_marks_the_better_policy() {
    let t = trained();
    let (g, ck) = (games(), t.ck());
    let out = ok(exphil(
        &t.root,
        &[
            "eval",
            "--compare",
            "base",
            "tuned",
            "--checkpoints",
            s(&ck),
            "--replays",
            s(&g),
            "--max-files",
            "6",
            "--no-save",
        ],
    ));
    assert!(out.contains("A: base") && out.contains("B: tuned"), "{out}");
    let nll_line = out
        .lines()
        .find(|l| l.starts_with("nll "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        nll_line.contains("◀ A") || nll_line.contains("B ▶"),
        "{nll_line}"
    );
    let j = eval_json(
        &t.root,
        &[
            "--compare",
            "base",
            "tuned",
            "--checkpoints",
            s(&ck),
            "--replays",
            s(&g),
            "--max-files",
            "6",
            "--no-save",
        ],
    );
    // The same frames for both.
    assert_eq!(j["a"]["metrics"]["frames"], j["b"]["metrics"]["frames"]);
    assert_eq!(j["a"]["data"]["hash"], j["b"]["data"]["hash"]);
    let (a, b) = (
        j["a"]["metrics"]["nll"].as_f64().unwrap(),
        j["b"]["metrics"]["nll"].as_f64().unwrap(),
    );
    let better = if b < a { "B ▶" } else { "◀ A" };
    assert!(nll_line.contains(better), "A {a}, B {b}: {nll_line}");
    assert!(
        out.lines().filter(|l| l.ends_with("mode frames")).count() == 2,
        "each side's mode is named: {out}"
    );

    // A policy against itself: every row is a tie, no winner is marked.
    let same = ok(exphil(
        &t.root,
        &[
            "eval",
            "--compare",
            "base",
            "base",
            "--checkpoints",
            s(&ck),
            "--replays",
            s(&g),
            "--max-files",
            "6",
            "--no-save",
        ],
    ));
    // (Timings are measured twice and may differ; every quality figure ties.)
    let quality = |l: &&str| !l.starts_with("ms_per_frame") && !l.starts_with("step_median");
    assert!(
        same.lines()
            .filter(quality)
            .all(|l| !l.contains("◀ A") && !l.contains("B ▶")),
        "{same}"
    );
    let nll_line = same
        .lines()
        .find(|l| l.starts_with("nll "))
        .unwrap_or_else(|| panic!("{same}"));
    assert!(nll_line.trim_end().ends_with("tie"), "{nll_line}");
}

/// Rewrites the training config in a run's `config.json`.
fn edit_run_config(run: &Path, f: impl FnOnce(&mut Value)) {
    let path = run.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v["config"]);
    // As exphil writes it: sealed with a checksum of the new bytes.
    std::fs::write(&path, exphil_runs::rundir::sealed_json(&v)).unwrap();
}

/// Rewrites the metadata of a weights file.
fn edit_metadata(model: &Path, f: impl FnOnce(&mut std::collections::BTreeMap<String, String>)) {
    let (tensors, mut meta) = exphil_runs::tensors::read_tensors(model).unwrap();
    f(&mut meta);
    exphil_runs::tensors::write_tensors(model, &tensors, &meta).unwrap();
}

/// Rewrites the policy config recorded in a weights file.
fn edit_policy(model: &Path, f: impl FnOnce(&mut Value)) {
    edit_metadata(model, |meta| {
        let mut p: Value = serde_json::from_str(&meta["exphil.policy"]).unwrap();
        f(&mut p);
        meta.insert("exphil.policy".into(), p.to_string());
    });
}

/// `exphil eval --policy policy` in `home`, which must fail; its output.
fn refused_eval(home: &Path, policy: &Path, games: &Path) -> String {
    let o = exphil(
        home,
        &[
            "eval",
            "--policy",
            s(policy),
            "--replays",
            s(games),
            "--max-files",
            "2",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    text(&o)
}

#[test]
fn mismatched_or_newer_checkpoints_are_explained() {
    let g = games();
    // The config says a GRU, the weights are an MLP.
    let (_, run) = copy_run("base", "gru-config");
    edit_run_config(&run, |c| {
        c["policy"]["backbone"] =
            serde_json::to_value(exphil_runs::config::BackboneConfig::default_of("gru").unwrap())
                .unwrap();
    });
    let msg = refused_eval(&run, &run, &g);
    assert!(
        msg.contains("this checkpoint is an MLP") && msg.contains("says a temporal GRU"),
        "{msg}"
    );
    assert!(msg.contains("model.safetensors"), "names the file: {msg}");

    // A weights file from a newer exphil.
    let (_, run) = copy_run("base", "newer");
    let model = run.join("model.safetensors");
    edit_metadata(&model, |meta| {
        meta.insert(META_FORMAT.into(), "99".into());
    });
    let msg = refused_eval(&run, &model, &g);
    assert!(
        msg.contains("newer exphil") && msg.contains("format 99"),
        "{msg}"
    );

    // An architecture this build does not know.
    let (_, run) = copy_run("base", "unknown");
    let model = run.join("model.safetensors");
    edit_policy(&model, |p| p["backbone"]["type"] = "hyena".into());
    std::fs::remove_file(run.join("config.json")).unwrap();
    let msg = refused_eval(&run, &model, &g);
    assert!(
        msg.contains("\"hyena\"") && msg.contains("newer exphil"),
        "{msg}"
    );

    // Weights that do not fit the recorded architecture (metadata and config edited alike).
    let (_, run) = copy_run("base", "shape");
    let model = run.join("model.safetensors");
    edit_policy(&model, |p| {
        p["backbone"]["hidden"] = serde_json::json!([48, 48])
    });
    edit_run_config(&run, |c| {
        c["policy"]["backbone"]["hidden"] = serde_json::json!([48, 48])
    });
    let msg = refused_eval(&run, &run, &g);
    assert!(
        msg.contains("declares an MLP (hidden 48-48)") && msg.contains("refused before building"),
        "{msg}"
    );

    // Forged metadata: a network of 2^80 weights, or of 2.5 GB, is refused from the header
    // alone, at once, without allocating it (it used to abort or take gigabytes).
    for hidden in [
        serde_json::json!([1u64 << 40, 1u64 << 40]),
        serde_json::json!([2_000_000, 32]),
    ] {
        let (_, run) = copy_run("base", "forged");
        let model = run.join("model.safetensors");
        edit_policy(&model, |p| p["backbone"]["hidden"] = hidden.clone());
        std::fs::remove_file(run.join("config.json")).unwrap();
        let started = std::time::Instant::now();
        let msg = refused_eval(&run, &model, &g);
        assert!(
            msg.contains("beyond exphil's bounds") && msg.contains("at most 65536"),
            "{msg}"
        );
        assert!(msg.contains("model.safetensors"), "names the file: {msg}");
        assert!(started.elapsed().as_secs() < 30, "refused at once");
        // Serving refuses it the same way (before the socket is touched).
        let o = exphil(
            &trained().root,
            &[
                "serve",
                "--policy",
                s(&model),
                "--socket",
                "/nonexistent/umi.sock",
            ],
        );
        // An error exit, not a panic (101) or an abort (134).
        assert!(matches!(o.status.code(), Some(1 | 2)), "{}", text(&o));
        assert!(text(&o).contains("beyond exphil's bounds"), "{}", text(&o));
    }

    // --pretrained with another architecture is refused before anything is created.
    let t = trained();
    let root = t.root.join("scratch-pretrained");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let base = t.ck().join("base");
    let o = exphil(
        &root,
        &[
            "train",
            "--preset",
            "quick",
            "--temporal",
            "--backbone",
            "gru",
            "--replays",
            s(&g),
            "--max-files",
            "2",
            "--checkpoints",
            s(&root.join("ck")),
            "--cache-dir",
            s(&root.join("cache")),
            "--name",
            "x",
            "--pretrained",
            s(&base),
        ],
    );
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(
        msg.contains("this checkpoint is an MLP")
            && msg.contains("this run's config says a temporal GRU"),
        "{msg}"
    );
    assert!(!root.join("ck").join("x").exists());
}

#[test]
fn registry_commands_on_a_checkpoints_directory() {
    let t = trained();
    // A scratch copy of both runs (prune and reindex change it).
    let ck = t.root.join("scratch-models").join("ck");
    let _ = std::fs::remove_dir_all(&ck);
    for n in ["base", "tuned"] {
        copy_dir(&t.ck().join(n), &ck.join(n));
    }
    let home = t.root.as_path();
    let m = |args: &[&str]| {
        let mut full = vec!["models"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--checkpoints", s(&ck)]);
        exphil(home, &full)
    };
    // No registry yet: reindex builds it from the directories.
    let out = ok(m(&["reindex"]));
    assert!(out.contains("2 run directories, 2 added"), "{out}");
    let list: Value = serde_json::from_str(&ok(m(&["list", "--json"]))).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let tuned = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "tuned")
        .unwrap();
    assert_eq!(tuned["parent"], "base");
    assert_eq!(tuned["training_type"], "fine_tune");
    assert!(tuned["params"].as_u64().unwrap() > 1000);
    // Filters.
    let only: Value =
        serde_json::from_str(&ok(m(&["list", "--json", "--backbone", "gru"]))).unwrap();
    assert!(only.as_array().unwrap().is_empty());
    // Tags, in the registry and the run directory.
    ok(m(&["tag", "base", "keeper", "v1"]));
    ok(m(&["untag", "base", "v1"]));
    let tagged: Value =
        serde_json::from_str(&ok(m(&["list", "--json", "--tag", "keeper"]))).unwrap();
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["tags"], serde_json::json!(["keeper"]));
    // Resuming keeps the run (and its parent), and records the resume.
    let before = tuned["created_at"].clone();
    ok(exphil(
        home,
        &[
            "train",
            "--resume",
            s(&ck.join("tuned")),
            "--epochs",
            "2",
            "--quiet",
        ],
    ));
    let list: Value = serde_json::from_str(&ok(m(&["list", "--json"]))).unwrap();
    let resumed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "tuned")
        .unwrap();
    assert_eq!(resumed["created_at"], before);
    assert_eq!(resumed["parent"], "base");
    assert_eq!(resumed["resumes"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["metrics"]["epochs"], 2);
    // Lineage: base, then tuned below it with its resume.
    let out = ok(m(&["lineage", "tuned"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("base (imitation"), "{out}");
    assert!(
        lines[1].contains("└── tuned (fine_tune") && lines[1].ends_with("◀"),
        "{out}"
    );
    assert!(lines[2].contains("↻ resumed"), "{out}");
    // Info and compare.
    let out = ok(m(&["info", "tuned"]));
    for want in [
        "Architecture: an MLP",
        "parameters:",
        "Embedding:",
        "Training config",
        "Data:",
        "best val loss",
        "parent:        base",
    ] {
        assert!(out.contains(want), "info lacks {want:?}:\n{out}");
    }
    let out = ok(m(&["compare", "base", "tuned"]));
    assert!(
        out.contains("checkpoint.name") && out.contains("best val loss"),
        "{out}"
    );
    // Leaderboard.
    let lb: Value = serde_json::from_str(&ok(m(&["leaderboard", "--json"]))).unwrap();
    let best = lb["best_overall"]["run"].as_str().unwrap().to_string();
    assert_eq!(lb["best_by_backbone"]["mlp"]["run"], best.as_str());
    let o = m(&["leaderboard", "--metric", "bogus"]);
    assert!(
        !o.status.success() && text(&o).contains("unknown metric"),
        "{}",
        text(&o)
    );
    // Unknown run names get a suggestion.
    let o = m(&["info", "tuned2"]);
    assert!(
        !o.status.success() && text(&o).contains("did you mean tuned"),
        "{}",
        text(&o)
    );

    // Prune: keep the best one; the other is deleted, its record kept and marked.
    let out = ok(m(&["prune", "--keep-best", "1", "--dry-run"]));
    assert!(
        out.contains("Dry run") && ck.join("base").is_dir() && ck.join("tuned").is_dir(),
        "{out}"
    );
    ok(m(&["prune", "--keep-best", "1"]));
    let worst = if best == "base" { "tuned" } else { "base" };
    assert!(!ck.join(worst).exists(), "{worst} was not deleted");
    assert!(ck.join(&best).is_dir());
    let all: Value = serde_json::from_str(&ok(m(&["list", "--json", "--all"]))).unwrap();
    let gone = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == worst)
        .unwrap();
    assert_eq!(gone["removed"]["action"], "pruned");
    let active: Value = serde_json::from_str(&ok(m(&["list", "--json"]))).unwrap();
    assert_eq!(active.as_array().unwrap().len(), 1);

    // A damaged registry: reads fall back to the directories; reindex rebuilds it, keeping the
    // pruned record is not possible (it was in the damaged file), tags come from tags.json.
    std::fs::write(
        ck.join("registry.json"),
        b"{\"version\":1,\"runs\":[{\"id\":",
    )
    .unwrap();
    let o = m(&["list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("corrupt"), "{}", text(&o));
    let out = ok(m(&["reindex"]));
    assert!(out.contains("1 run directories"), "{out}");
    let list: Value = serde_json::from_str(&ok(m(&["list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    if best == "base" {
        assert_eq!(list[0]["tags"], serde_json::json!(["keeper"]));
    }
    let aside = std::fs::read_dir(&ck)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("registry.json.corrupt-")
        })
        .count();
    assert_eq!(aside, 1, "the damaged registry is kept aside");
}

#[test]
fn a_temporal_policy_is_stepped_or_windowed() {
    let t = trained();
    let root = t.root.join("scratch-gru");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    train(
        &root,
        "gru",
        &[
            "--temporal",
            "--backbone",
            "gru",
            "--window-size",
            "8",
            "--stride",
            "8",
            "--hidden-size",
            "16",
            "--num-layers",
            "1",
            "--epochs",
            "1",
        ],
    );
    let run = root.join("ck").join("gru");
    let g = games();
    let args = |mode: &'static str| -> Vec<String> {
        [
            "--policy",
            s(&run),
            "--replays",
            s(&g),
            "--max-files",
            "6",
            "--no-save",
            "--mode",
            mode,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let step = eval_json(
        &root,
        &args("step").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let win = eval_json(
        &root,
        &args("windows")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(step["mode"], "step");
    assert_eq!(win["mode"], "windows");
    let (fs, fw) = (
        step["metrics"]["frames"].as_u64().unwrap(),
        win["metrics"]["frames"].as_u64().unwrap(),
    );
    let views = step["metrics"]["sequences"].as_u64().unwrap();
    // Windows leave out each view's first window − 1 frames.
    assert_eq!(fw, fs - 7 * views, "step {fs}, windows {fw}, {views} views");
    for r in [&step, &win] {
        let nll = r["metrics"]["nll"].as_f64().unwrap();
        assert!(nll.is_finite() && nll > 0.0, "{nll}");
    }
    // Different frame sets, different evaluation hashes.
    assert_ne!(step["data"]["hash"], win["data"]["hash"]);
}

/// The loss `train` prints and early-stops on is the figure `eval` reports: a sequence-trained
/// LSTM's validation loss (every held-out game stepped from a fresh state) equals the total NLL
/// of `eval --mode step` on those games.
#[test]
fn the_validation_loss_of_train_is_evals_nll() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("eval-seq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let held = "py-slippi__ERIC_431_Falcon_vs_NUT_356_Marth_on_PS_-_12-09-22_02.35am";
    let (g, ck, cache) = (
        games(),
        root.join("ck").display().to_string(),
        root.join("cache").display().to_string(),
    );
    ok(exphil(
        &root,
        &[
            "train",
            "--replays",
            s(&g),
            "--checkpoints",
            &ck,
            "--cache-dir",
            &cache,
            "--name",
            "seq",
            "--seed",
            "7",
            "--quiet",
            "--lr",
            "1e-3",
            "--backbone",
            "lstm",
            "--hidden-size",
            "16",
            "--num-layers",
            "1",
            "--unroll",
            "16",
            "--segment-frames",
            "64",
            "--streams",
            "8",
            "--epochs",
            "1",
            "--max-files",
            "12",
            "--max-batches",
            "20",
            "--val-games",
            held,
        ],
    ));
    let run = root.join("ck").join("seq");
    let games_json: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("games.json")).unwrap()).unwrap();
    assert_eq!(games_json["validation"].as_array().unwrap().len(), 1);
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epoch: Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    let val = epoch["val"]["loss"].as_f64().unwrap();
    let file = games().join(format!("{held}.slp"));
    let r = eval_json(
        &root,
        &[
            "--policy",
            s(&run),
            "--replays",
            s(&file),
            "--mode",
            "step",
            "--no-save",
        ],
    );
    assert_eq!(r["metrics"]["games"], 1);
    assert_eq!(r["data"]["validation_games"], 1);
    let nll = r["metrics"]["nll"].as_f64().unwrap();
    assert!(
        (nll - val).abs() < 1e-4 * val.max(1.0),
        "train's validation loss {val} vs eval's NLL {nll}"
    );
    assert_eq!(
        epoch["val"]["examples"].as_u64().unwrap(),
        r["metrics"]["frames"].as_u64().unwrap(),
        "the same frames"
    );
}

/// A policy trained with the old pairing (v1: its features held the state of the very frame
/// whose input was the target; files of that time record no pairing version) answers for a
/// different frame than play applies its input to: serve and the simulator refuse it, eval scores
/// it with a warning, and models info says which pairing it has.
#[test]
fn policies_of_the_old_pairing_are_refused_for_play_and_flagged_elsewhere() {
    let (g, home) = (games(), trained().root.clone());
    let (_, run) = copy_run("base", "pairing-v1");
    let model = run.join("model.safetensors");
    edit_metadata(&model, |meta| {
        assert_eq!(
            meta.remove(exphil_policy::file::META_PAIRING).as_deref(),
            Some("2"),
            "new runs record pairing v2"
        );
    });
    // A run of that time recorded no pairing in its config.json either, nor a checksum.
    let path = run.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["pairing_version"], 2);
    v.as_object_mut().unwrap().remove("pairing_version");
    v.as_object_mut().unwrap().remove("checksum");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = exphil(
        &home,
        &[
            "serve",
            "--policy",
            s(&run),
            "--socket",
            "/nonexistent/umi.sock",
        ],
    );
    let msg = text(&o);
    assert!(!o.status.success(), "{msg}");
    assert!(
        msg.contains("pairing v1") && msg.contains("retrain"),
        "{msg}"
    );
    let o = exphil(
        &home,
        &[
            "sim",
            "play",
            "--p1",
            &format!("policy:{}", run.display()),
            "--p2",
            "bot:rule",
            "--games",
            "1",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("pairing v1"),
        "{}",
        text(&o)
    );
    let o = exphil(
        &home,
        &[
            "eval",
            "--policy",
            s(&run),
            "--replays",
            s(&g),
            "--max-files",
            "2",
            "--no-save",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("warning") && out.contains("pairing v1"),
        "{out}"
    );
    let o = exphil(&home, &["models", "info", s(&run), "--json"]);
    let info: Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(info["pairing_version"], 1);
}

/// Many processes write one run's record at once — 16 `models tag` (4 of them killed at random
/// moments) and 4 `eval`s on different game sets — and no completed update is lost: every tag a
/// successful process added is in `tags.json` and in the registry, the two agree, and every
/// evaluation written is summarised in the record.
#[test]
fn concurrent_writers_of_one_run_record_lose_no_update() {
    let (ck, run) = copy_run("base", "stress");
    let home = trained().root.clone();
    let g = games();
    ok(exphil(
        &home,
        &["models", "reindex", "--checkpoints", s(&ck)],
    ));
    let mut taggers = Vec::new();
    for i in 0..16 {
        let child = isolated(&home)
            .args([
                "models",
                "tag",
                s(&run),
                &format!("c{i}"),
                "--checkpoints",
                s(&ck),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        taggers.push((format!("c{i}"), child));
    }
    // Four evaluations of different frame sets (so four summaries).
    let evals: Vec<std::process::Child> = (0..4)
        .map(|from| {
            isolated(&home)
                .args([
                    "eval",
                    "--policy",
                    s(&run),
                    "--replays",
                    s(&g),
                    "--max-files",
                    "6",
                    "--from-frame",
                    &from.to_string(),
                    "--json",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Kill every fourth tagger after a few milliseconds (some mid-update).
    for (k, (_, child)) in taggers.iter_mut().enumerate() {
        if k % 4 == 3 {
            std::thread::sleep(std::time::Duration::from_millis(3 * k as u64));
            let _ = child.kill();
        }
    }
    let mut landed = Vec::new();
    for (tag, mut child) in taggers {
        let status = child.wait().unwrap();
        if status.success() {
            landed.push(tag);
        }
    }
    for mut e in evals {
        assert!(e.wait().unwrap().success());
    }
    assert!(landed.len() >= 12, "{landed:?}");
    let file_tags: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(run.join("tags.json")).unwrap()).unwrap();
    let reg: Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("registry.json")).unwrap()).unwrap();
    let rec = reg["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "base")
        .unwrap();
    let reg_tags: Vec<String> = serde_json::from_value(rec["tags"].clone()).unwrap();
    assert_eq!(file_tags, reg_tags, "tags.json and the registry agree");
    for t in &landed {
        assert!(file_tags.contains(t), "{t} was lost: {file_tags:?}");
    }
    let written: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.strip_prefix("eval_")
                .and_then(|h| h.strip_suffix(".json"))
                .map(String::from)
        })
        .collect();
    assert_eq!(written.len(), 4, "{written:?}");
    for h in &written {
        assert!(
            rec["evals"][h].is_object(),
            "evaluation {h} lost from the record"
        );
    }
}

/// A writer kept waiting for the registry lock says, after 5 s, what it waits for (the lock and
/// its owner), then goes on once the lock is released.
#[test]
fn a_long_lock_wait_says_what_it_waits_for() {
    let (ck, run) = copy_run("base", "lockwait");
    let home = trained().root.clone();
    let lock = exphil_runs::registry::RegistryLock::acquire(&ck).unwrap();
    let child = isolated(&home)
        .args(["models", "tag", s(&run), "waited", "--checkpoints", s(&ck)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(7));
    lock.release().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("waiting for the registry lock")
            && err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
}

/// A damaged `config.json` (one byte changed) is refused naming it and its checksum; a corrupt
/// `games.json` stops evaluation (it cannot tell which games the policy trained on) unless
/// `--include-training` says to go on (it used to say "not recorded" and go on).
#[test]
fn damaged_run_records_are_refused_not_guessed() {
    let g = games();
    let home = trained().root.clone();

    let (_, run) = copy_run("base", "flip-config");
    let path = run.join("config.json");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"\"quick\"")
        .expect("the preset name in config.json");
    bytes[at + 1] = b'Q';
    std::fs::write(&path, &bytes).unwrap();
    let out = refused_eval(&home, &run.join("model.safetensors"), &g);
    assert!(
        out.contains("config.json") && out.contains("checksum") && out.contains("corrupt"),
        "{out}"
    );

    let (_, run) = copy_run("base", "corrupt-games");
    let games_file = run.join("games.json");
    let text_before = std::fs::read_to_string(&games_file).unwrap();
    std::fs::write(&games_file, &text_before[..text_before.len() / 2]).unwrap();
    let model = run.join("model.safetensors");
    let out = refused_eval(&home, &model, &g);
    assert!(
        out.contains("games.json") && out.contains("--include-training"),
        "{out}"
    );
    let o = exphil(
        &home,
        &[
            "eval",
            "--policy",
            s(&model),
            "--replays",
            s(&g),
            "--max-files",
            "2",
            "--include-training",
            "--no-save",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("games.json"),
        "the damage is still reported: {out}"
    );
}
