//! `metrics.jsonl`: appends, a torn last line, truncation on resume.

use exphil_runs::metrics::{read_metrics, truncate_after, MetricsLog};
use serde_json::json;

#[test]
fn appended_records_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    let mut log = MetricsLog::open(&path).unwrap();
    log.append(&json!({"epoch": 0.5, "batch": 10, "loss": 2.5}))
        .unwrap();
    log.append_durable(&json!({"epoch": 1, "train_loss": 2.0, "val_loss": 2.2}))
        .unwrap();
    drop(log);
    // Reopening appends after what is there.
    let mut log = MetricsLog::open(&path).unwrap();
    log.append_durable(&json!({"epoch": 2, "train_loss": 1.5}))
        .unwrap();
    let records = read_metrics(&path).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["batch"], 10);
    assert_eq!(records[2]["train_loss"], 1.5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));

    let e = log.append(&json!([1, 2])).unwrap_err();
    assert!(e.to_string().contains("metrics.jsonl"), "{e}");
    assert_eq!(read_metrics(&path).unwrap().len(), 3, "nothing written");
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_before_appending() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    std::fs::write(
        &path,
        "{\"epoch\":1,\"loss\":2.0}\n{\"epoch\":2,\"loss\":1.5}\n{\"epoch\":3,\"lo",
    )
    .unwrap();
    let records = read_metrics(&path).unwrap();
    assert_eq!(records.len(), 2);
    let mut log = MetricsLog::open(&path).unwrap();
    log.append_durable(&json!({"epoch": 3, "loss": 1.2}))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"epoch\":1,\"loss\":2.0}\n{\"epoch\":2,\"loss\":1.5}\n{\"epoch\":3,\"loss\":1.2}\n"
    );
    // A complete last line without its newline is a record, not a torn one.
    std::fs::write(&path, "{\"epoch\":1}\n{\"epoch\":2}").unwrap();
    assert_eq!(read_metrics(&path).unwrap().len(), 2);
    // A bad line before the last is corruption, reported with the file and line.
    std::fs::write(&path, "{\"epoch\":1}\n{\"epo\n{\"epoch\":2}\n").unwrap();
    let e = read_metrics(&path).unwrap_err();
    assert!(
        e.to_string().contains("metrics.jsonl") && e.to_string().contains("line 2"),
        "{e}"
    );
}

#[test]
fn truncate_after_drops_later_epochs_only() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    let kept = "{\"epoch\":1,\"loss\":3.0}\n{\"epoch\":1.5,\"loss\":2.75}\n{\"event\":\"resumed\"}\n{\"epoch\":2,\"loss\":2.5}\n";
    let later = "{\"epoch\":2.5,\"loss\":2.25}\n{\"epoch\":3,\"loss\":2.0}\n{\"epoch\":3.5,\"lo";
    std::fs::write(&path, format!("{kept}{later}")).unwrap();
    assert_eq!(truncate_after(&path, 2.0).unwrap(), 2);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        kept,
        "kept byte for byte"
    );
    assert_eq!(truncate_after(&path, 2.0).unwrap(), 0, "idempotent");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
    assert_eq!(truncate_after(&path, 0.0).unwrap(), 3);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"event\":\"resumed\"}\n"
    );
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file left");
    assert_eq!(
        truncate_after(&tmp.path().join("missing.jsonl"), 1.0).unwrap(),
        0
    );
}
