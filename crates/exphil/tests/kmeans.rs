//! End-to-end tests of `exphil kmeans`: the real binary on real replays copied into a temporary
//! directory, and the file it writes loaded back as stick targets.

mod common;
use common::{exphil, s};

use exphil_embed::{StickDiscretization, TargetCoder, TargetConfig};
use exphil_state::Controller;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

use exphil_testdata::replays_dir as replays;

/// Two real games: Pikachu vs Falco on Dream Land, Peach vs Marth on Final Destination.
const GAMES: [&str; 2] = [
    "games/py-slippi__COWS_797_Pikachu_vs_NUT_356_Falco_on_DL_-_12-22-22_12.34am.slp",
    "games/py-slippi__ACID_441_Peach_vs_NUT_356_Marth_on_FD_-_12-15-22_01.42am.slp",
];

/// A temporary directory holding copies of `files` (paths under the shared replays).
fn tempdir_with(name: &str, files: &[&str]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("exphil-kmeans-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("replays")).unwrap();
    for f in files {
        let src = replays().join(f);
        let dst = d.join("replays").join(src.file_name().unwrap());
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn kmeans(dir: &Path, out: &str, extra: &[&str]) -> (Output, PathBuf) {
    let path = dir.join(out);
    let folder = dir.join("replays");
    let mut args = vec!["kmeans", "--replays", s(&folder), "--out", s(&path)];
    args.extend_from_slice(extra);
    (exphil(&args), path)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn axis(j: &Value, name: &str) -> Vec<f64> {
    j["centers"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no centres for {name}: {j}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn fits_21_sorted_centres_per_axis_deterministically() {
    let dir = tempdir_with("fit", &GAMES);
    let (o, a) = kmeans(
        &dir,
        "a.json",
        &["--k", "21", "--seed", "5", "--threads", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("Fitted 21 centres per stick axis"),
        "{stdout}"
    );
    assert!(stdout.contains("2 replays"), "{stdout}");
    let j = json(&a);
    assert_eq!(j["version"], 1);
    assert_eq!(j["k"], 21);
    assert_eq!(j["seed"], 5);
    assert_eq!(j["replays"], 2);
    assert_eq!(j["symmetric_x"], true);
    assert!(j["samples"].as_u64().unwrap() > 2 * j["frames"].as_u64().unwrap() - 10);
    for name in ["main_x", "main_y", "c_x", "c_y"] {
        let c = axis(&j, name);
        assert_eq!(c.len(), 21, "{name}");
        assert!(
            c.windows(2).all(|w| w[0] < w[1]),
            "{name} not sorted: {c:?}"
        );
        assert!(c.iter().all(|v| (0.0..=1.0).contains(v)), "{name}: {c:?}");
        // Neutral is the most common stick value: a centre sits on it.
        assert!(
            c.iter().any(|v| (v - 0.5).abs() < 0.01),
            "{name}: no centre near 0.5: {c:?}"
        );
        // The full tilts are used, and the dead zone (|raw| < 23) holds no centre but neutral.
        assert!(c[0] < 0.05 && c[20] > 0.95, "{name}: {c:?}");
        assert!(
            c.iter()
                .all(|v| (v - 0.5).abs() < 0.001 || (v - 0.5).abs() > 22.0 / 160.0),
            "{name}: {c:?}"
        );
    }
    for name in ["main_x", "c_x"] {
        let c = axis(&j, name);
        for i in 0..21 {
            assert!(
                (c[i] + c[20 - i] - 1.0).abs() < 1e-6,
                "{name} not symmetric"
            );
        }
    }

    // The same seed gives the same file, on one thread as on two.
    let (o, b) = kmeans(&dir, "b.json", &["--seed", "5", "--threads", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    // The file loads as stick targets, which put neutral on a class of its own.
    let stick = StickDiscretization::from_centers_file(&a).unwrap();
    let coder = TargetCoder::new(TargetConfig {
        stick,
        ..TargetConfig::default()
    })
    .unwrap();
    let n = coder.num_classes();
    assert_eq!((n.main_x, n.main_y, n.c_x, n.c_y), (21, 21, 21, 21));
    let t = coder.encode(&Controller::NEUTRAL);
    let back = coder.decode(&t);
    for v in [back.main_x, back.main_y, back.c_x, back.c_y] {
        assert!((v - 0.5).abs() < 0.01, "{back:?}");
    }
    let full = Controller {
        main_x: 1.0,
        ..Controller::NEUTRAL
    };
    let t = coder.encode(&full);
    assert_eq!(t.main_x, 20);
    assert_eq!(coder.mirror(&t).main_x, 0);
    assert_eq!(coder.encode(&full.mirrored()), coder.mirror(&t));

    // --asymmetric fits the x axes as recorded (and takes an even k).
    let (o, c) = kmeans(&dir, "c.json", &["--seed", "5", "--asymmetric"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let jc = json(&c);
    assert_eq!(jc["symmetric_x"], false);
    assert_eq!(axis(&jc, "main_y"), axis(&j, "main_y"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_are_reported_and_skipped_and_filters_apply() {
    let mut files = GAMES.to_vec();
    files.push("edge/libmelee__corrupt_game_2.slp"); // a PNG named .slp
    let dir = tempdir_with("bad", &files);
    let (o, a) = kmeans(&dir, "a.json", &["--seed", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("libmelee__corrupt_game_2.slp"), "{err}");
    assert!(err.contains("PNG"), "{err}");
    let j = json(&a);
    assert_eq!(j["replays"], 2);
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 files failed"));

    // Filters are the shared replay filters: only the Final Destination game.
    let (o, b) = kmeans(&dir, "b.json", &["--stages", "fd"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let jb = json(&b);
    assert_eq!(jb["replays"], 1);
    assert!(jb["frames"].as_u64().unwrap() < j["frames"].as_u64().unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 filtered out"));

    // Usage errors: k out of range, nothing left to fit.
    let (o, _) = kmeans(&dir, "c.json", &["--k", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--k must be between 2 and 161"),
        "{}",
        stderr(&o)
    );
    let (o, _) = kmeans(&dir, "c.json", &["--k", "20"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--k must be odd"), "{}", stderr(&o));
    let (o, _) = kmeans(&dir, "d.json", &["--stages", "ps"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no stick values to fit"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("d.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
