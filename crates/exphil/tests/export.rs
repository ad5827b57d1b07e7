//! `exphil export`: policies trained on the shared replays, exported to ONNX with a sample of
//! their validation rows, run in ONNX Runtime (from PyPI, in the Python that `EXPHIL_PYTHON`
//! names) and compared with exphil's own outputs; the test fails, not skips, under CI without
//! it.

mod common;

use common::{isolated, s, text, train_quick};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The Python with onnxruntime and onnx, or `None` outside CI when there is none.
fn python() -> Option<PathBuf> {
    exphil_testdata::python("onnxruntime, onnx, numpy")
}

fn scratch(tag: &str) -> PathBuf {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// `exphil export` of run `name` in `root` with `--sample rows`; its output.
fn export(root: &Path, name: &str, rows: &str) -> String {
    let o = isolated(root)
        .current_dir(root)
        .args(["export", "--policy", name, "--checkpoints", "ck"])
        .args(["--onnx", &format!("{name}.onnx"), "--sample", rows])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

/// ONNX Runtime on the exported model and its sample: the check script's report.
fn run_onnx(python: &Path, root: &Path, name: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/check.py");
    let o = std::process::Command::new(python)
        .arg(&script)
        .arg(root.join(format!("{name}.onnx")))
        .arg(root.join(format!("{name}.sample.npz")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every exphil output was compared and agrees within 1e-4.
fn assert_matches(report: &Value, outputs: &[&str]) {
    let worst = report["worst"].as_object().unwrap();
    for name in outputs {
        let w = worst
            .get(*name)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{name} was not compared: {report}"));
        assert!(w <= 1e-4, "{name} differs by {w}: {report}");
    }
    assert_eq!(
        report["checked"], true,
        "onnx.checker did not run: {report}"
    );
}

const HEAD: [&str; 7] = [
    "buttons_logits",
    "main_x_logits",
    "main_y_logits",
    "c_x_logits",
    "c_y_logits",
    "shoulder_logits",
    "value",
];

#[test]
fn an_mlp_policy_runs_in_onnx_runtime_as_in_exphil() {
    let root = scratch("mlp");
    // Layer norm, GELU and residual projections exercise every MLP block.
    train_quick(
        &root,
        "mlp",
        "6",
        "3",
        &[
            "--layer-norm",
            "--residual",
            "--activation",
            "gelu",
            "--hidden",
            "24,16",
        ],
    );
    let out = export(&root, "mlp", "48");
    assert!(out.contains("single-frame model"), "{out}");
    assert!(out.contains("teacher-forced"), "{out}");
    assert!(out.contains("48 rows from"), "{out}");
    assert!(out.contains("validation game"), "{out}");
    // Replays without the run's validation games: refused, and nothing is written.
    let edge = exphil_testdata::replays_dir().join("edge");
    let o = isolated(&root)
        .current_dir(&root)
        .args(["export", "--policy", "mlp", "--checkpoints", "ck"])
        .args([
            "--onnx",
            "other.onnx",
            "--sample",
            "8",
            "--replays",
            s(&edge),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("validation games is among the"),
        "{}",
        text(&o)
    );
    assert!(
        !root.join("other.onnx").exists(),
        "nothing written on refusal"
    );
    let Some(py) = python() else { return };
    let r = run_onnx(&py, &root, "mlp");
    assert_eq!(r["rows"], 48, "{r}");
    let inputs: Vec<&str> = r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        ["features", "ids", "buttons", "main_x", "main_y", "c_x", "c_y"]
    );
    assert_matches(&r, &HEAD);
}

#[test]
fn recurrent_policies_export_as_step_models_with_their_state() {
    let root = scratch("rnn");
    let temporal = |backbone: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec![
            "--temporal",
            "--backbone",
            backbone,
            "--window-size",
            "6",
            "--stride",
            "6",
            "--hidden-size",
            "12",
            "--num-layers",
            "2",
        ];
        v.extend_from_slice(extra);
        v
    };
    // Plain LSTM with last-frame pooling; residual GRU blocks with learned pooling (a buffer
    // of the window's outputs and a frame count in the state); an independent head.
    train_quick(&root, "lstm", "6", "3", &temporal("lstm", &[]));
    train_quick(
        &root,
        "gru",
        "6",
        "3",
        &temporal(
            "gru",
            &[
                "--residual-block",
                "--pooling",
                "weighted",
                "--head",
                "independent",
            ],
        ),
    );
    for name in ["lstm", "gru"] {
        let out = export(&root, name, "20");
        assert!(out.contains("step model"), "{out}");
        assert!(out.contains("20 steps from"), "{out}");
    }
    let Some(py) = python() else { return };
    let lstm = run_onnx(&py, &root, "lstm");
    assert_eq!(lstm["steps"], 20, "{lstm}");
    for state in ["h_0_in", "c_0_in", "h_1_in", "c_1_in"] {
        assert!(
            lstm["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == state),
            "{lstm}"
        );
    }
    assert_matches(&lstm, &HEAD);
    let gru = run_onnx(&py, &root, "gru");
    let inputs = gru["inputs"].as_array().unwrap();
    for state in ["h_0_in", "h_1_in", "pool_in", "seen_in"] {
        assert!(inputs.iter().any(|v| v == state), "{gru}");
    }
    assert!(
        !inputs.iter().any(|v| v == "buttons"),
        "independent head: {gru}"
    );
    assert_matches(&gru, &HEAD);
}

#[test]
fn an_attention_policy_is_refused_with_the_reason() {
    let root = scratch("attn");
    train_quick(
        &root,
        "attn",
        "3",
        "3",
        &[
            "--temporal",
            "--backbone",
            "attention",
            "--window-size",
            "4",
            "--stride",
            "4",
            "--hidden-size",
            "8",
            "--num-layers",
            "1",
            "--num-heads",
            "2",
        ],
    );
    let o = isolated(&root)
        .current_dir(&root)
        .args(["export", "--policy", "attn", "--checkpoints", "ck"])
        .args(["--onnx", "attn.onnx"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = text(&o);
    assert!(
        err.contains("attention policies cannot be exported"),
        "{err}"
    );
    assert!(err.contains("LSTM, GRU and MLP policies can"), "{err}");
    assert!(
        !root.join("attn.onnx").exists(),
        "nothing written on refusal"
    );
    // A policy that does not exist is named.
    let o = isolated(&root)
        .current_dir(&root)
        .args(["export", "--policy", "nope", "--checkpoints", "ck"])
        .args(["--onnx", s(&root.join("x.onnx"))])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("nope"), "{}", text(&o));
}
