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

/// `exphil bench sim-fidelity` on a few shared replays (a Fox game, a Jigglypuff game and a
/// file that is not a replay): the table compares Fox's and Jigglypuff's movement with the
/// simulator's (gravity is Melee's on both sides), gives each one's action coverage, lists the
/// bad file with its problem, and the JSON holds the same figures.
#[test]
fn sim_fidelity_bench_compares_real_and_simulated_movement() {
    let out = std::env::temp_dir().join(format!("exphil-fidelity-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let r = replays_dir();
    let o = exphil()
        .args(["bench", "sim-fidelity", "--replays"])
        .arg(r.join("games/py-slippi__ERIC_431_Fox_vs_NUT_356_Falcon_on_YS_-_12-09-22_02.42am.slp"))
        .arg(
            r.join("games/py-slippi__ZAZZ_299_Puff_vs_NUT_356_Falcon_on_PS_-_12-14-22_12.54am.slp"),
        )
        .arg(r.join("edge/libmelee__corrupt_game_1.slp"))
        .arg("--json")
        .arg(out.join("fidelity.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("2 replays (1 failed)"), "{text}");
    assert!(
        text.contains("libmelee__corrupt_game_1.slp: not a Slippi replay"),
        "{text}"
    );
    let gravity = |name: &str| {
        let block = text
            .split(&format!("\n{name} (id"))
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: {text}"));
        block
            .lines()
            .find(|l| l.trim_start().starts_with("gravity"))
            .unwrap_or_else(|| panic!("{name} gravity: {text}"))
            .to_string()
    };
    assert!(
        gravity("Fox").contains("0.230") && gravity("Fox").ends_with("+0.0%"),
        "{text}"
    );
    assert!(gravity("Jigglypuff").contains("0.064"), "{text}");
    assert!(
        text.contains("Captain Falcon ("),
        "the other characters are named: {text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fidelity.json")).unwrap()).unwrap();
    let fox = v["characters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Fox")
        .unwrap();
    let cov = fox["coverage"].as_f64().unwrap();
    assert!(cov > 0.3 && cov <= 1.0, "{fox}");
    assert!(
        text.contains(&format!("coverage {:.1}%", cov * 100.0)),
        "the summary gives the JSON's coverage {cov}: {text}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
