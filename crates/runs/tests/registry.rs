//! The run registry: concurrent updates from many processes (some killed), stale locks, a
//! corrupt file, upserts.

mod common;

use common::{after_tag, forward_lines, seed, spawn_child, Rng, CHILD_ENV, EOF};
use exphil_runs::registry::{
    read_registry, update_registry, RegistryError, RegistryLock, RunRecord, LOCK_FILE,
    REGISTRY_FILE,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::mpsc::channel;
use std::time::Duration;

/// A pid no process can have (above Linux's largest `pid_max`).
const DEAD_PID: u32 = 4_194_400;

fn record(id: &str, step: u64) -> RunRecord {
    RunRecord {
        id: id.to_string(),
        path: format!("checkpoints/{id}"),
        config_path: format!("checkpoints/{id}/config.json"),
        created_at: "2024-01-01T00:00:00Z".to_string(),
        backbone: "mlp".to_string(),
        config_summary: serde_json::json!({ "hidden": [256, 256] }),
        metrics: serde_json::json!({ "step": step }),
        parent: None,
        tags: vec!["test".to_string()],
        status: "running".to_string(),
        ..RunRecord::default()
    }
}

const CHILDREN: usize = 16;
const UPDATES: usize = 25;
/// Writers that hold the lock longer and are killed at a random moment.
const KILLED: usize = 6;

#[test]
fn concurrent_updates_from_killed_processes_lose_nothing() {
    const TEST: &str = "concurrent_updates_from_killed_processes_lose_nothing";
    if std::env::var(CHILD_ENV).as_deref() == Ok("registry-writer") {
        let dir = PathBuf::from(std::env::var("EXPHIL_REG_DIR").unwrap());
        let k: usize = std::env::var("EXPHIL_CHILD").unwrap().parse().unwrap();
        let slow = std::env::var("EXPHIL_SLOW").as_deref() == Ok("1");
        for i in 0..UPDATES {
            let id = format!("c{k}-{i}");
            let reg = update_registry(&dir, |r| {
                if slow {
                    // Hold the lock a while, so that a kill often lands inside it.
                    std::thread::sleep(Duration::from_millis(3));
                }
                r.upsert(record(&id, i as u64));
            })
            .unwrap();
            for w in &reg.warnings {
                println!("WARN {w}");
            }
            println!("DONE {id}");
        }
        return;
    }
    let mut rng = Rng(seed(TEST));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (tx, rx) = channel();
    let mut children = Vec::new();
    // The first KILLED hold the lock longer and are killed after a random number of updates.
    let mut kill_after: BTreeMap<usize, usize> = BTreeMap::new();
    for k in 0..CHILDREN {
        let slow = k < KILLED;
        if slow {
            kill_after.insert(k, 1 + rng.below(20) as usize);
        }
        let mut child = spawn_child(
            TEST,
            "registry-writer",
            &[
                ("EXPHIL_REG_DIR", dir.display().to_string()),
                ("EXPHIL_CHILD", k.to_string()),
                ("EXPHIL_SLOW", if slow { "1" } else { "0" }.to_string()),
            ],
        );
        forward_lines(&mut child, k, tx.clone());
        children.push(child);
    }
    drop(tx);
    let mut done: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut killed = BTreeSet::new();
    let mut warnings = Vec::new();
    let mut ended = 0;
    while ended < CHILDREN {
        let (k, line) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("children stalled: a lock was never recovered?");
        if line == EOF {
            ended += 1;
        } else if let Some(id) = after_tag(&line, "DONE ") {
            let list = done.entry(k).or_default();
            list.push(id.to_string());
            if kill_after.get(&k) == Some(&list.len()) && !killed.contains(&k) {
                std::thread::sleep(Duration::from_micros(rng.below(4000)));
                children[k].kill().unwrap();
                killed.insert(k);
            }
        } else if let Some(w) = after_tag(&line, "WARN ") {
            warnings.push(w.to_string());
        }
    }
    for (k, child) in children.iter_mut().enumerate() {
        let status = child.wait().unwrap();
        if !killed.contains(&k) {
            assert!(status.success(), "child {k} failed: {status}");
        }
    }

    // The file parses; every completed update is there; nothing is duplicated or invented.
    let reg = read_registry(&dir).unwrap();
    let ids: Vec<&str> = reg.runs.iter().map(|r| r.id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids");
    for (k, list) in &done {
        for id in list {
            assert!(unique.contains(id.as_str()), "lost update {id}");
        }
        if !killed.contains(k) {
            assert_eq!(list.len(), UPDATES, "child {k}");
        }
    }
    for id in &unique {
        let (k, i) = id[1..].split_once('-').unwrap();
        let (k, i): (usize, usize) = (k.parse().unwrap(), i.parse().unwrap());
        let reported = done.get(&k).map_or(0, Vec::len);
        // A killed child may have written one update it did not live to report.
        assert!(i <= reported, "{id} was never attempted");
    }
    let stale_after = dir.join(LOCK_FILE).exists();
    let reg = update_registry(&dir, |r| r.upsert(record("final", 0))).unwrap();
    assert_eq!(reg.runs.len(), unique.len() + 1);
    if stale_after {
        assert!(
            reg.warnings.iter().any(|w| w.contains("stale")),
            "{:?}",
            reg.warnings
        );
    }
    assert!(!dir.join(LOCK_FILE).exists());
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let recovered = warnings.iter().filter(|w| w.contains("stale")).count();
    eprintln!(
        "{} children killed, {} records, {recovered} stale locks recovered by children, stale lock at the end: {stale_after}",
        killed.len(),
        unique.len()
    );
    assert_eq!(killed.len(), KILLED);
}

fn lock_bytes(pid: u32, created_unix_ms: u64) -> Vec<u8> {
    let info = serde_json::json!({
        "pid": pid,
        "start_ticks": null,
        "created_unix_ms": created_unix_ms,
        "nonce": "test",
    });
    serde_json::to_vec(&info).unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn stale_locks_are_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A process that has exited.
    let mut gone = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let cases = [
        ("exited owner", lock_bytes(gone_pid, now_ms())),
        ("impossible pid", lock_bytes(DEAD_PID, now_ms())),
        (
            "live owner, 11 minutes old",
            lock_bytes(std::process::id(), now_ms() - 11 * 60 * 1000),
        ),
        ("torn lock", b"{\"pid\":12".to_vec()),
    ];
    for (i, (what, lock)) in cases.iter().enumerate() {
        std::fs::write(dir.join(LOCK_FILE), lock).unwrap();
        let reg = update_registry(dir, |r| r.upsert(record(&format!("r{i}"), 0))).unwrap();
        assert!(
            reg.warnings
                .iter()
                .any(|w| w.contains("stale") && w.contains(LOCK_FILE)),
            "{what}: {:?}",
            reg.warnings
        );
        assert_eq!(reg.runs.len(), i + 1, "{what}");
        assert!(!dir.join(LOCK_FILE).exists(), "{what}: lock released");
    }
}

#[test]
fn a_live_lock_is_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let lock = RegistryLock::acquire(&dir).unwrap();
    let (tx, rx) = channel();
    let d = dir.clone();
    let t = std::thread::spawn(move || {
        let reg = update_registry(&d, |r| r.upsert(record("waited", 1))).unwrap();
        tx.send(()).unwrap();
        reg
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "the update went ahead while the lock was held"
    );
    assert!(read_registry(&dir).unwrap().runs.is_empty());
    lock.release().unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the update did not proceed after release");
    let reg = t.join().unwrap();
    assert!(reg.warnings.is_empty(), "{:?}", reg.warnings);
    assert_eq!(reg.get("waited").unwrap().metrics["step"], 1);
}

#[test]
fn upsert_replaces_and_the_file_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("checkpoints");
    assert!(
        read_registry(&dir).unwrap().runs.is_empty(),
        "missing = empty"
    );
    update_registry(&dir, |r| {
        r.upsert(record("a", 1));
        r.upsert(record("b", 1));
    })
    .unwrap();
    let mut a2 = record("a", 2);
    a2.status = "completed".into();
    a2.parent = Some("b".into());
    let reg = update_registry(&dir, |r| r.upsert(a2.clone())).unwrap();
    assert_eq!(reg.runs.len(), 2);
    assert_eq!(reg.runs[0], a2, "replaced in place");
    let back = read_registry(&dir).unwrap();
    assert_eq!(back.runs, reg.runs);
    assert_eq!(back.version, 1);
    let reg = update_registry(&dir, |r| {
        assert_eq!(r.remove("b").unwrap().id, "b");
    })
    .unwrap();
    assert_eq!(reg.runs, vec![a2]);
}

#[test]
fn a_corrupt_registry_is_moved_aside_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let garbage = b"{\"version\":1,\"runs\":[{\"id\":";
    std::fs::write(dir.join(REGISTRY_FILE), garbage).unwrap();
    let e = read_registry(dir).unwrap_err();
    assert!(matches!(e, RegistryError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(REGISTRY_FILE), "{e}");

    let reg = update_registry(dir, |r| r.upsert(record("new", 0))).unwrap();
    assert_eq!(reg.runs.len(), 1);
    assert!(
        reg.warnings
            .iter()
            .any(|w| w.contains("corrupt") && w.contains(".corrupt-")),
        "{:?}",
        reg.warnings
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("registry.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(&aside[0]).unwrap(),
        garbage,
        "kept, not dropped"
    );
    assert_eq!(read_registry(dir).unwrap().runs.len(), 1);
}

#[test]
fn a_newer_registry_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let newer = br#"{"version":2,"runs":[]}"#;
    std::fs::write(dir.join(REGISTRY_FILE), newer).unwrap();
    let e = update_registry(dir, |r| r.upsert(record("x", 0))).unwrap_err();
    assert!(
        matches!(e, RegistryError::Version { version: 2, .. }),
        "{e}"
    );
    assert_eq!(std::fs::read(dir.join(REGISTRY_FILE)).unwrap(), newer);
    assert!(
        !dir.join(LOCK_FILE).exists(),
        "the lock is released on error"
    );
}

/// A lock path no process can take (a dangling symbolic link, a directory) is an error naming
/// it, at once: it used to block every writer for ever, printing nothing.
#[test]
fn an_unusable_lock_path_is_an_error_not_a_wait() {
    for kind in ["dangling symlink", "directory"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let lock = dir.join(LOCK_FILE);
        match kind {
            "dangling symlink" => std::os::unix::fs::symlink(dir.join("gone"), &lock).unwrap(),
            _ => std::fs::create_dir(&lock).unwrap(),
        }
        let (tx, rx) = channel();
        let d = dir.to_path_buf();
        std::thread::spawn(move || {
            let r = update_registry(&d, |r| r.upsert(record("x", 0)));
            let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
        });
        let e = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{kind}: the writer waits for ever"))
            .unwrap_err();
        assert!(
            e.contains(LOCK_FILE) && e.contains("remove it"),
            "{kind}: {e}"
        );
    }
}
