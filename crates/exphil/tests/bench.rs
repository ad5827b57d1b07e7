//! `exphil bench architectures` on the shared games: every requested backbone trains on the
//! same split, the results file parses with one entry per backbone, the report is written, and
//! an unknown backbone is refused with the choices.

use exphil_report::bench::BenchReport;
use exphil_testdata::replays_dir;
use std::process::Command;

fn exphil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exphil"))
}

#[test]
fn architectures_bench_writes_results_and_report() {
    let out = std::env::temp_dir().join(format!("exphil-bench-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let games = replays_dir().join("games");
    let o = exphil()
        .args(["bench", "architectures", "--replays"])
        .arg(&games)
        .args([
            "--only",
            "mlp,gru,mamba",
            "--max-files",
            "3",
            "--epochs",
            "2",
            "--max-batches",
            "8",
            "--hidden-size",
            "16",
            "--window-size",
            "6",
            "--stride",
            "6",
            "--output",
        ])
        .arg(&out)
        .args(["--cache-dir"])
        .arg(out.join("cache"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    let report: BenchReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("benchmark_results.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["mlp", "gru", "mamba"]);
    assert!(report.machine.cores >= 1 && !report.machine.cpu_model.is_empty());
    assert_eq!(report.games, 3);
    for r in &report.results {
        assert!(r.error.is_none(), "{}: {:?}", r.name, r.error);
        assert_eq!(r.curve.len(), 2, "{}", r.name);
        assert!(r.val_loss.is_finite() && r.val_loss > 0.0, "{}", r.name);
        assert_eq!(r.val_components.len(), 6);
        // The best epoch's loss is the reported one.
        let best = r
            .curve
            .iter()
            .map(|p| p.val_loss)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(r.val_loss, best, "{}", r.name);
        assert!(r.train_samples_per_s > 0.0 && r.latency.step_batch1_us > 0.0);
        assert!(r.params > 0 && r.macs_per_example > 0 && !r.complexity.is_empty());
        assert!(text.contains(&r.name));
    }
    let html = std::fs::read_to_string(out.join("benchmark_report.html")).unwrap();
    assert!(html.contains("chart-val-loss") && html.contains("gru"));
    let _ = std::fs::remove_dir_all(&out);

    let o = exphil()
        .args(["bench", "architectures", "--replays"])
        .arg(&games)
        .args(["--only", "lstm,transformer"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("transformer") && err.contains("mamba"),
        "{err}"
    );
}
