//! The registry operations of `exphil models` on synthetic run directories: records rebuilt
//! from run directories, pruning plans, leaderboards, lineage, ages and metrics.

use exphil_runs::config::{BackboneConfig, TrainConfig};
use exphil_runs::models::{
    apply_prune, leaderboard, lineage, parse_age, plan_prune, record_from_run_dir, reindex,
    set_tags, Metric, PruneAction, PruneOptions,
};
use exphil_runs::presets::config_differences;
use exphil_runs::registry::{read_registry, update_registry, RunRecord};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

fn run_dir(ck: &Path, id: &str, created: &str, loss: f64, parent: Option<&str>) {
    let dir = ck.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let v = json!({
        "created_at": created,
        "status": "completed",
        "training_type": if parent.is_some() { "fine_tune" } else { "imitation" },
        "parent": parent,
        "params": 1234,
        "config": TrainConfig::default(),
        "provenance": {"character_distribution": {"Fox": 10, "Marth": 30}},
        "results": {"best_val_loss": loss, "epochs": 2},
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&v).unwrap()).unwrap();
}

fn rec(
    id: &str,
    created: &str,
    loss: Option<f64>,
    tags: &[&str],
    parent: Option<&str>,
) -> RunRecord {
    RunRecord {
        id: id.into(),
        created_at: created.into(),
        backbone: "mlp".into(),
        status: "completed".into(),
        metrics: loss.map_or(json!({}), |l| json!({ "best_val_loss": l })),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        parent: parent.map(str::to_owned),
        characters: vec!["Fox".into()],
        ..RunRecord::default()
    }
}

#[test]
fn a_record_is_rebuilt_from_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    run_dir(tmp.path(), "a", "2026-01-01T00:00:00Z", 2.0, Some("root"));
    std::fs::write(
        tmp.path().join("a/eval_00ff.json"),
        serde_json::to_vec(&json!({"summary": {"nll": 1.5, "accuracy": {"buttons": 0.9}}}))
            .unwrap(),
    )
    .unwrap();
    let r = record_from_run_dir(&tmp.path().join("a")).unwrap();
    assert_eq!(r.id, "a");
    assert_eq!(r.parent.as_deref(), Some("root"));
    assert_eq!(r.training_type, "fine_tune");
    assert_eq!(r.characters, vec!["Marth", "Fox"], "most frames first");
    assert_eq!(r.params, Some(1234));
    assert_eq!(r.evals["00ff"]["nll"], 1.5);
    assert_eq!(Metric::Nll.of(&r, Some("00ff")), Some(1.5));
    assert_eq!(
        Metric::parse("accuracy.buttons")
            .unwrap()
            .of(&r, Some("00ff")),
        Some(0.9)
    );
    assert_eq!(Metric::ValLoss.of(&r, None), Some(2.0));
    // Tags live in the run directory too.
    set_tags(tmp.path(), &tmp.path().join("a"), &["x".into()]).unwrap();
    assert_eq!(
        record_from_run_dir(&tmp.path().join("a")).unwrap().tags,
        vec!["x"]
    );
    assert_eq!(
        read_registry(tmp.path()).unwrap().get("a").unwrap().tags,
        vec!["x"]
    );
    // A broken config.json is an error naming it.
    std::fs::write(tmp.path().join("a/config.json"), b"{").unwrap();
    let e = record_from_run_dir(&tmp.path().join("a"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn a_run_killed_outright_is_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("k");
    std::fs::create_dir_all(&dir).unwrap();
    let v = json!({
        "status": "running",
        "process": {"pid": 4_194_400u32, "start_ticks": null},
        "config": TrainConfig::default(),
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(record_from_run_dir(&dir).unwrap().status, "killed");
}

#[test]
fn prune_plans_follow_the_rules() {
    let runs = vec![
        rec("old-good", "2026-01-01T00:00:00Z", Some(1.0), &[], None),
        rec("old-bad", "2026-01-02T00:00:00Z", Some(3.0), &[], None),
        rec(
            "old-tagged",
            "2026-01-03T00:00:00Z",
            Some(4.0),
            &["prod"],
            None,
        ),
        rec("new", "2026-03-01T00:00:00Z", Some(2.0), &[], None),
        RunRecord {
            status: "running".into(),
            ..rec("training", "2026-01-01T00:00:00Z", None, &[], None)
        },
    ];
    let now = UNIX_EPOCH + Duration::from_secs(1_772_600_000); // 2026-03-04
    let action = |plan: &[(String, PruneAction)], id: &str| {
        plan.iter().find(|(i, _)| i == id).unwrap().1.clone()
    };
    let is = |a: PruneAction, k: &str| match (a, k) {
        (PruneAction::Keep(_), "keep")
        | (PruneAction::Archive(_), "archive")
        | (PruneAction::Delete(_), "delete") => true,
        (a, _) => {
            eprintln!("{a:?}");
            false
        }
    };
    // No rule: nothing happens.
    let plan = plan_prune(&runs, &PruneOptions::default(), now);
    assert!(plan.iter().all(|(_, a)| matches!(a, PruneAction::Keep(_))));
    // Best 1 and tagged: the rest is deleted, never a running one.
    let opts = PruneOptions {
        keep_best: Some(1),
        keep_tagged: true,
        ..PruneOptions::default()
    };
    let plan = plan_prune(&runs, &opts, now);
    assert!(is(action(&plan, "old-good"), "keep"));
    assert!(is(action(&plan, "old-tagged"), "keep"));
    assert!(is(action(&plan, "old-bad"), "delete"));
    assert!(is(action(&plan, "new"), "delete"));
    assert!(is(action(&plan, "training"), "keep"));
    // Recent 1: keeps the newest.
    let opts = PruneOptions {
        keep_recent: Some(1),
        ..PruneOptions::default()
    };
    let plan = plan_prune(&runs, &opts, now);
    assert!(is(action(&plan, "new"), "keep"));
    assert!(is(action(&plan, "old-good"), "delete"));
    // Archive older than 30 days, keeping the best: nothing deleted.
    let opts = PruneOptions {
        keep_best: Some(1),
        archive_older_than: Some(parse_age("30d").unwrap()),
        ..PruneOptions::default()
    };
    let plan = plan_prune(&runs, &opts, now);
    assert!(is(action(&plan, "old-good"), "keep"));
    assert!(is(action(&plan, "old-bad"), "archive"));
    assert!(is(action(&plan, "new"), "keep"), "younger than 30 days");
    assert!(plan
        .iter()
        .all(|(_, a)| !matches!(a, PruneAction::Delete(_))));
}

#[test]
fn applying_a_plan_deletes_and_archives_inside_the_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path().join("ck");
    for (id, loss) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
        run_dir(&ck, id, "2026-01-01T00:00:00Z", loss, None);
    }
    let outside = tmp.path().join("elsewhere");
    run_dir(&outside, "d", "2026-01-01T00:00:00Z", 9.0, None);
    reindex(&ck).unwrap();
    update_registry(&ck, |r| {
        let mut d = record_from_run_dir(&outside.join("d")).unwrap();
        d.id = "d".into();
        r.upsert(d);
    })
    .unwrap();
    let plan = vec![
        ("a".to_string(), PruneAction::Keep("best".into())),
        ("b".to_string(), PruneAction::Archive("old".into())),
        ("c".to_string(), PruneAction::Delete("worst".into())),
        ("d".to_string(), PruneAction::Delete("worst".into())),
    ];
    let failed = apply_prune(&ck, &plan).unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "d");
    assert!(
        outside.join("d").is_dir(),
        "a record pointing elsewhere is left alone"
    );
    assert!(ck.join("a").is_dir());
    assert!(ck.join("archive/b/config.json").is_file());
    assert!(!ck.join("c").exists());
    let reg = read_registry(&ck).unwrap();
    assert_eq!(
        reg.get("b").unwrap().removed.as_ref().unwrap().action,
        "archived"
    );
    assert!(reg.get("b").unwrap().path.ends_with("archive/b"));
    assert_eq!(
        reg.get("c").unwrap().removed.as_ref().unwrap().action,
        "pruned"
    );
    // Reindex keeps the pruned record and finds the archived run.
    let r = reindex(&ck).unwrap();
    assert_eq!(r.found, 2);
    assert_eq!(r.dropped, vec!["d".to_string()]);
    let reg = read_registry(&ck).unwrap();
    assert!(reg.get("c").is_some());
    assert_eq!(
        reg.get("b").unwrap().removed.as_ref().unwrap().action,
        "archived"
    );
}

#[test]
fn leaderboard_and_lineage() {
    let runs = vec![
        rec("base", "2026-01-01T00:00:00Z", Some(3.0), &[], None),
        rec("ft1", "2026-01-02T00:00:00Z", Some(2.0), &[], Some("base")),
        rec("ft2", "2026-01-03T00:00:00Z", Some(2.5), &[], Some("base")),
        rec("ft1a", "2026-01-04T00:00:00Z", Some(1.0), &[], Some("ft1")),
        RunRecord {
            backbone: "gru".into(),
            ..rec("gru", "2026-01-05T00:00:00Z", Some(1.5), &[], None)
        },
        // A cycle in a hand-edited registry does not loop forever.
        rec("x", "2026-01-06T00:00:00Z", None, &[], Some("y")),
        rec("y", "2026-01-06T00:00:00Z", None, &[], Some("x")),
    ];
    let lb = leaderboard(&runs, &Metric::ValLoss, None);
    assert_eq!(lb.overall, Some(("ft1a".into(), 1.0)));
    assert_eq!(lb.by_backbone["gru"].0, "gru");
    assert_eq!(lb.by_backbone["mlp"].0, "ft1a");
    assert_eq!(lb.by_character["Fox"].0, "ft1a");
    let tree = lineage(&runs, "ft1a");
    let got: Vec<(usize, &str)> = tree.iter().map(|(d, id, _)| (*d, id.as_str())).collect();
    assert_eq!(got, vec![(0, "base"), (1, "ft1"), (2, "ft1a"), (1, "ft2")]);
    let cyc = lineage(&runs, "x");
    assert_eq!(cyc.len(), 2);
    // A parent that is not in the registry is shown as such.
    let orphan = vec![rec(
        "child",
        "2026-01-01T00:00:00Z",
        None,
        &[],
        Some("gone"),
    )];
    let t = lineage(&orphan, "child");
    assert_eq!(t[0], (0, "gone".to_string(), false));
    assert_eq!(t[1], (1, "child".to_string(), true));
}

#[test]
fn metrics_ages_and_config_differences() {
    assert!(Metric::parse("nll").unwrap().lower_is_better());
    assert!(!Metric::parse("accuracy.main_x").unwrap().lower_is_better());
    let e = Metric::parse("accuracy.nose").unwrap_err();
    assert!(e.contains("val_loss"), "{e}");
    assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
    assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
    assert_eq!(parse_age("2w").unwrap(), Duration::from_secs(14 * 86_400));
    assert!(parse_age("soon").is_err());
    let a = TrainConfig::default();
    let mut b = TrainConfig::default();
    b.train.epochs = 99;
    b.policy.backbone = BackboneConfig::default_of("gru").unwrap();
    let d = config_differences(
        &serde_json::to_value(&a).unwrap(),
        &serde_json::to_value(&b).unwrap(),
    );
    let keys: Vec<&str> = d.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(keys.contains(&"loop.epochs"), "{keys:?}");
    let ty = d
        .iter()
        .find(|(k, _, _)| k == "policy.backbone.type")
        .unwrap();
    assert_eq!((ty.1.as_str(), ty.2.as_str()), ("mlp", "gru"));
    assert!(a.policy.backbone.describe().starts_with("an MLP (hidden"));
    assert!(b.policy.backbone.describe().starts_with("a temporal GRU ("));
}

/// `config.json`, `games.json` and `eval_*.json` carry a checksum of their own bytes: every
/// single-byte change is refused naming the file (two flips were accepted before), a file with
/// no checksum (older runs) still reads, and a sealed file reads back to what was written.
#[test]
fn sealed_json_files_refuse_every_changed_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.json");
    let v = json!({
        "status": "completed",
        "params": 1234,
        "config": {"lr": 0.001, "hidden": [64, 64]},
        "provenance": {"replay_files": ["a.slp", "b.slp"]},
        "results": {"best_val_loss": 1.25},
    });
    let sealed = exphil_runs::rundir::sealed_json(&v);
    std::fs::write(&path, &sealed).unwrap();
    let back = exphil_runs::rundir::read_json(&path).unwrap();
    let mut expected = v.clone();
    expected["checksum"] = back["checksum"].clone();
    assert_eq!(back, expected);
    assert_ne!(back["checksum"], "0000000000000000");

    let mut accepted = Vec::new();
    for i in 0..sealed.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut b = sealed.clone();
            b[i] ^= mask;
            std::fs::write(&path, &b).unwrap();
            match exphil_runs::rundir::read_json(&path) {
                Ok(_) => accepted.push((i, mask)),
                Err(e) => assert!(e.to_string().contains("config.json"), "{e}"),
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "{} changed files accepted, e.g. byte {:?} of\n{}",
        accepted.len(),
        accepted.first(),
        String::from_utf8_lossy(&sealed)
    );
    let mut b = sealed.clone();
    let at = b.len() - 10;
    b[at] = b'1';
    std::fs::write(&path, &b).unwrap();
    let e = exphil_runs::rundir::read_json(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum") && e.contains("corrupt"), "{e}");

    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(exphil_runs::rundir::read_json(&path).unwrap(), v);
}

/// A run killed between writing `config.json` and registering, or a registry moved aside as
/// corrupt and begun again by the next writer, used to vanish from `models list` until
/// `models reindex`: reading the registry now recovers such runs from their directories,
/// names them, and records them.
#[test]
fn runs_missing_from_the_registry_are_recovered_when_read() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path();
    run_dir(ck, "a", "2026-01-01T00:00:00Z", 2.0, None);
    reindex(ck).unwrap();
    // Registered before the registry was lost: b and c exist only as directories.
    run_dir(ck, "b", "2026-01-02T00:00:00Z", 1.5, None);
    run_dir(ck, "c", "2026-01-03T00:00:00Z", 1.0, Some("b"));
    let ids = |reg: &exphil_runs::registry::Registry| {
        reg.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&read_registry(ck).unwrap()), ["a"]);
    let (reg, warnings) = exphil_runs::models::read_or_scan(ck);
    assert_eq!(ids(&reg), ["a", "b", "c"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("b, c") && warnings[0].contains("recorded"),
        "{warnings:?}"
    );
    assert_eq!(reg.get("c").unwrap().parent.as_deref(), Some("b"));
    // Recorded: the next read finds them in the registry and says nothing.
    assert_eq!(ids(&read_registry(ck).unwrap()), ["a", "b", "c"]);
    let (again, warnings) = exphil_runs::models::read_or_scan(ck);
    assert_eq!(ids(&again), ["a", "b", "c"]);
    assert!(warnings.is_empty(), "{warnings:?}");
}
