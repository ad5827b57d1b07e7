//! Checkpoint directories under fire: processes killed (SIGKILL) at random moments while saving
//! and rotating, a full disk, flipped bytes, interrupted swaps; and run directories.

mod common;

use common::{after_tag, drain, lines_of, seed, spawn_child, wait_for_line, Rng, CHILD_ENV};
use exphil_io::{simulate_disk_full_after, write_atomic};
use exphil_runs::checkpoint::{
    cleanup, list_checkpoints, load_checkpoint, load_checkpoint_with_fallback, prepare_run_dir,
    read_checkpoint_dir, rotate_numbered, save_checkpoint, CheckpointError, CheckpointFiles,
    MANIFEST,
};
use exphil_runs::tensors::{decode_tensors, encode_tensors, NamedTensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A pid no process can have (above Linux's largest `pid_max`).
const DEAD_PID: u32 = 4_194_400;

/// The files of the checkpoint of `step`: weights (about 80 kB), optimiser state and a JSON
/// state, all derived from `step` so a loaded checkpoint can be checked byte for byte.
fn files_for(step: u64) -> Vec<(&'static str, Vec<u8>)> {
    let n = 20_000;
    let w: Vec<f32> = (0..n).map(|k| step as f32 + k as f32 * 1e-3).collect();
    let meta = BTreeMap::from([("step".to_string(), step.to_string())]);
    let model = encode_tensors(
        Path::new("model.safetensors"),
        &[NamedTensor::new("w", vec![n], w)],
        &meta,
    )
    .unwrap();
    let m: Vec<f32> = (0..1000).map(|k| (step * 3 + k) as f32).collect();
    let optim = encode_tensors(
        Path::new("optim.safetensors"),
        &[NamedTensor::new("w.m", vec![10, 100], m)],
        &meta,
    )
    .unwrap();
    let state = serde_json::to_vec(&serde_json::json!({ "step": step })).unwrap();
    vec![
        ("model.safetensors", model),
        ("optim.safetensors", optim),
        ("state.json", state),
    ]
}

/// Checks that a loaded checkpoint is exactly the one of its step, and returns the step.
fn check_complete(c: &CheckpointFiles) -> u64 {
    let state: serde_json::Value = serde_json::from_slice(c.require("state.json").unwrap())
        .unwrap_or_else(|e| panic!("{}: state.json: {e}", c.dir.display()));
    let step = state["step"].as_u64().unwrap();
    let want: BTreeMap<String, Vec<u8>> = files_for(step)
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect();
    assert!(
        c.files == want,
        "{}: content differs from step {step}",
        c.dir.display()
    );
    decode_tensors(
        Path::new("model.safetensors"),
        c.require("model.safetensors").unwrap(),
    )
    .unwrap();
    step
}

/// Hidden entries (temporary, trash, deletion) in `dir`.
fn hidden(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn env_u64(name: &str) -> u64 {
    std::env::var(name).unwrap().parse().unwrap()
}

/// Child: save `latest` for step START, START+1, ... (printing `SAVED <step>` after each), with
/// a simulated full disk on about a third of the saves when DISKFULL is 1, for at most 30 s.
fn save_loop_child() {
    let dir = PathBuf::from(std::env::var("EXPHIL_CKPT_DIR").unwrap());
    let mut step = env_u64("EXPHIL_START");
    let mut rng = Rng(env_u64("EXPHIL_SEED"));
    let disk_full = env_u64("EXPHIL_DISKFULL") == 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let files = files_for(step);
        let total: usize = files.iter().map(|f| f.1.len()).sum::<usize>() + 600;
        let fail = disk_full && rng.below(3) == 0;
        if fail {
            simulate_disk_full_after(Some(rng.below(total as u64)));
        }
        match save_checkpoint(&dir, "latest", &files) {
            Ok(_) => {
                println!("SAVED {step}");
                step += 1;
            }
            Err(e) => {
                assert!(fail, "save failed without a full disk: {e}");
                println!("FAILED {step}: {e}");
            }
        }
        simulate_disk_full_after(None);
    }
}

#[test]
fn killed_saves_never_leave_a_partial_checkpoint() {
    const TEST: &str = "killed_saves_never_leave_a_partial_checkpoint";
    if std::env::var(CHILD_ENV).as_deref() == Ok("save-loop") {
        save_loop_child();
        return;
    }
    let mut rng = Rng(seed(TEST));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    save_checkpoint(&dir, "latest", &files_for(0)).unwrap();
    let mut known = 0u64;
    let (mut leftovers, mut failed_saves, mut from_trash) = (0, 0, 0);
    for round in 0..40 {
        let mut child = spawn_child(
            TEST,
            "save-loop",
            &[
                ("EXPHIL_CKPT_DIR", dir.display().to_string()),
                ("EXPHIL_START", (known + 1).to_string()),
                ("EXPHIL_SEED", rng.next_u64().to_string()),
                ("EXPHIL_DISKFULL", (round % 2).to_string()),
            ],
        );
        let rx = lines_of(&mut child);
        let (started, mut lines) = wait_for_line(&rx, "SAVED", Duration::from_secs(30));
        if started {
            std::thread::sleep(Duration::from_micros(rng.below(12_000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines.extend(drain(&rx));
        assert!(started, "round {round}: the child never saved: {lines:?}");
        let reported = lines
            .iter()
            .filter_map(|l| after_tag(l, "SAVED "))
            .map(|s| s.parse::<u64>().unwrap())
            .max()
            .unwrap();
        failed_saves += lines.iter().filter(|l| l.contains("FAILED ")).count();
        if !hidden(&dir).is_empty() {
            leftovers += 1;
        }
        let c = load_checkpoint(&dir, "latest")
            .unwrap_or_else(|e| panic!("round {round}: nothing loads after the kill: {e}"));
        if !c.warnings.is_empty() {
            from_trash += 1;
        }
        let step = check_complete(&c);
        // The newest reported save, or the one after it (saved, killed before printing).
        assert!(
            step == reported || step == reported + 1,
            "round {round}: loaded step {step}, last reported save {reported}"
        );
        known = step;
        if round % 5 == 4 {
            cleanup(&dir).unwrap();
            assert_eq!(hidden(&dir), Vec::<String>::new(), "round {round}");
            assert_eq!(
                check_complete(&load_checkpoint(&dir, "latest").unwrap()),
                known
            );
        }
    }
    eprintln!(
        "40 kills: {leftovers} left temporary or trash entries, {from_trash} loads came from a trash copy, {failed_saves} saves hit the full disk"
    );
    assert!(failed_saves > 0, "the full-disk rounds never failed a save");
}

/// Saves epochs `start..end` the way the trainer does: `epoch-NNNN` every epoch, `best` every
/// third, then rotation keeping 3 numbered ones. Prints `EPOCH <n>` after each.
fn epochs(dir: &Path, start: u64, end: u64) {
    for e in start..end {
        save_checkpoint(dir, &format!("epoch-{e:04}"), &files_for(e)).unwrap();
        if e % 3 == 0 {
            save_checkpoint(dir, "best", &files_for(e)).unwrap();
        }
        rotate_numbered(dir, "epoch-", 3).unwrap();
        println!("EPOCH {e}");
    }
}

fn numbered(dir: &Path) -> Vec<u64> {
    list_checkpoints(dir)
        .unwrap()
        .iter()
        .filter_map(|n| n.strip_prefix("epoch-"))
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn killed_rotation_keeps_exactly_the_promised_checkpoints() {
    const TEST: &str = "killed_rotation_keeps_exactly_the_promised_checkpoints";
    if std::env::var(CHILD_ENV).as_deref() == Ok("rotate-loop") {
        let dir = PathBuf::from(std::env::var("EXPHIL_CKPT_DIR").unwrap());
        let start = env_u64("EXPHIL_START");
        epochs(&dir, start, start + 2000);
        return;
    }
    let mut rng = Rng(seed(TEST));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    epochs(&dir, 1, 2);
    let mut next = 2u64;
    let (mut mid_rotation, mut leftovers) = (0, 0);
    for round in 0..40 {
        let mut child = spawn_child(
            TEST,
            "rotate-loop",
            &[
                ("EXPHIL_CKPT_DIR", dir.display().to_string()),
                ("EXPHIL_START", next.to_string()),
            ],
        );
        let rx = lines_of(&mut child);
        let (started, _) = wait_for_line(&rx, "EPOCH", Duration::from_secs(30));
        if started {
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        drain(&rx);
        assert!(started, "round {round}: the child never finished an epoch");
        // Every listed checkpoint loads, complete, with the content its name promises.
        for name in list_checkpoints(&dir).unwrap() {
            let c = load_checkpoint(&dir, &name)
                .unwrap_or_else(|e| panic!("round {round}: {name} does not load: {e}"));
            let step = check_complete(&c);
            match name.strip_prefix("epoch-") {
                Some(n) => assert_eq!(n.parse::<u64>().unwrap(), step, "round {round}"),
                None => {
                    assert_eq!(name, "best", "round {round}: unexpected {name}");
                    assert_eq!(step % 3, 0, "round {round}: best is epoch {step}");
                }
            }
        }
        let best_before = load_checkpoint(&dir, "best")
            .ok()
            .map(|c| check_complete(&c));
        let before = numbered(&dir);
        assert!(before.len() <= 4, "round {round}: {before:?}");
        if before.len() == 4 {
            mid_rotation += 1;
        }
        if !hidden(&dir).is_empty() {
            leftovers += 1;
        }
        cleanup(&dir).unwrap();
        rotate_numbered(&dir, "epoch-", 3).unwrap();
        assert_eq!(hidden(&dir), Vec::<String>::new(), "round {round}");
        let after = numbered(&dir);
        let last = *after.last().unwrap();
        let want: Vec<u64> = (last.saturating_sub(2).max(1)..=last).collect();
        assert_eq!(after, want, "round {round}: the newest three remain");
        let best_after = load_checkpoint(&dir, "best")
            .ok()
            .map(|c| check_complete(&c));
        assert_eq!(best_before, best_after, "round {round}: cleanup kept best");
        next = last + 1;
    }
    eprintln!(
        "40 kills: {mid_rotation} before a rotation finished, {leftovers} left temporary, trash or deletion entries"
    );
    // A clean finish leaves exactly the promised directories and files.
    epochs(&dir, next, next + 7);
    let last = next + 6;
    let mut want = vec!["best".to_string()];
    want.extend((last - 2..=last).map(|e| format!("epoch-{e:04}")));
    assert_eq!(list_checkpoints(&dir).unwrap(), want);
    assert_eq!(hidden(&dir), Vec::<String>::new());
    for name in &want {
        let mut files: Vec<String> = std::fs::read_dir(dir.join(name))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                MANIFEST,
                "model.safetensors",
                "optim.safetensors",
                "state.json"
            ]
        );
    }
    let best = check_complete(&load_checkpoint(&dir, "best").unwrap());
    assert_eq!(best, (next..next + 7).filter(|e| e % 3 == 0).max().unwrap());
}

fn flip(path: &Path, pos: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[pos] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_byte_is_refused_and_the_previous_checkpoint_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Small files so that every byte of every file (manifest included) can be flipped.
    let small = |step: u64| {
        vec![
            ("model.safetensors", {
                let t = NamedTensor::new("w", vec![3], vec![step as f32, 1.0, 2.0]);
                encode_tensors(Path::new("m"), &[t], &BTreeMap::new()).unwrap()
            }),
            ("state.json", format!("{{\"step\":{step}}}").into_bytes()),
        ]
    };
    save_checkpoint(dir, "epoch-0001", &small(1)).unwrap();
    save_checkpoint(dir, "epoch-0002", &small(2)).unwrap();
    let good = read_checkpoint_dir(&dir.join("epoch-0002")).unwrap();
    let mut refused = 0;
    for file in [MANIFEST, "model.safetensors", "state.json"] {
        let path = dir.join("epoch-0002").join(file);
        let original = std::fs::read(&path).unwrap();
        for pos in 0..original.len() {
            flip(&path, pos);
            match load_checkpoint(dir, "epoch-0002") {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains("epoch-0002"), "{msg}");
                    refused += 1;
                }
                // Only a flip that changes nothing the checkpoint holds may pass.
                Ok(c) => assert_eq!(c.files, good.files, "{file} byte {pos}"),
            }
            let c = load_checkpoint_with_fallback(dir, &["epoch-0002", "epoch-0001"]).unwrap();
            if c.dir.ends_with("epoch-0001") {
                assert!(
                    c.warnings.iter().any(|w| w.contains("epoch-0002")),
                    "{:?}",
                    c.warnings
                );
                assert_eq!(c.get("state.json").unwrap(), b"{\"step\":1}");
            }
            std::fs::write(&path, &original).unwrap();
        }
    }
    eprintln!("{refused} flips refused");
    // Content files: every flip is refused; the message names the file.
    let path = dir.join("epoch-0002").join("state.json");
    flip(&path, 3);
    let msg = load_checkpoint(dir, "epoch-0002").unwrap_err().to_string();
    assert!(
        msg.contains("state.json") && msg.contains("corrupt"),
        "{msg}"
    );
    // With a trash copy of the previous version (an interrupted swap), it is used by itself.
    let trash = dir.join(format!(".trash-epoch-0002-{DEAD_PID}-00000000000000aa"));
    std::fs::create_dir(&trash).unwrap();
    for (name, bytes) in small(2) {
        std::fs::write(trash.join(name), bytes).unwrap();
    }
    std::fs::copy(dir.join("epoch-0001").join(MANIFEST), trash.join(MANIFEST)).unwrap();
    // The manifest of epoch 1 does not describe these files: refused too.
    assert!(load_checkpoint(dir, "epoch-0002").is_err());
    std::fs::remove_dir_all(&trash).unwrap();
    let good_copy = dir.join(format!(".trash-epoch-0002-{DEAD_PID}-00000000000000ab"));
    std::fs::create_dir(&good_copy).unwrap();
    for (name, bytes) in &good.files {
        std::fs::write(good_copy.join(name), bytes).unwrap();
    }
    std::fs::write(
        good_copy.join(MANIFEST),
        serde_json::to_vec(&good.manifest).unwrap(),
    )
    .unwrap();
    let c = load_checkpoint(dir, "epoch-0002").unwrap();
    assert_eq!(c.dir, good_copy);
    assert_eq!(c.files, good.files);
    assert!(
        c.warnings.iter().any(|w| w.contains("corrupt")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn an_interrupted_swap_loads_the_previous_checkpoint_and_cleanup_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    save_checkpoint(dir, "latest", &files_for(1)).unwrap();
    // The state a kill between the two renames leaves: the old one moved to trash, the new one
    // still under its temporary name (here incomplete: no manifest).
    let trash = dir.join(format!(".trash-latest-{DEAD_PID}-0123456789abcdef"));
    std::fs::rename(dir.join("latest"), &trash).unwrap();
    let partial = dir.join(format!(".tmp-latest-{DEAD_PID}-0123456789abcdee"));
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("model.safetensors"), b"partial").unwrap();
    // A leftover of an interrupted write_atomic, and of an interrupted deletion.
    std::fs::write(
        dir.join(format!(".tmp-metrics.jsonl-{DEAD_PID}-0123456789abcded")),
        b"x",
    )
    .unwrap();
    std::fs::create_dir(dir.join(format!(".delete-epoch-0001-{DEAD_PID}-0123456789abcdec")))
        .unwrap();
    // One made by this (live) process is not touched.
    let mine = dir.join(format!(
        ".tmp-other-{}-0123456789abcdeb",
        std::process::id()
    ));
    std::fs::create_dir(&mine).unwrap();

    assert_eq!(list_checkpoints(dir).unwrap(), Vec::<String>::new());
    let c = load_checkpoint(dir, "latest").unwrap();
    assert_eq!(check_complete(&c), 1);
    assert_eq!(c.dir, trash);
    assert!(!c.warnings.is_empty());

    let report = cleanup(dir).unwrap();
    assert_eq!(report.restored, vec![(trash.clone(), dir.join("latest"))]);
    assert_eq!(report.removed.len(), 3, "{report:?}");
    assert_eq!(
        hidden(dir),
        vec![mine.file_name().unwrap().to_str().unwrap()]
    );
    let c = load_checkpoint(dir, "latest").unwrap();
    assert_eq!(c.dir, dir.join("latest"));
    assert!(c.warnings.is_empty());
    assert_eq!(check_complete(&c), 1);
}

#[test]
fn a_full_disk_fails_the_save_and_keeps_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    save_checkpoint(dir, "latest", &files_for(1)).unwrap();
    let total: usize = files_for(2).iter().map(|f| f.1.len()).sum();
    let mut budgets: Vec<u64> = (0..total as u64).step_by(7919).collect();
    budgets.extend([total as u64 - 1, total as u64, total as u64 + 100]);
    for budget in budgets {
        simulate_disk_full_after(Some(budget));
        let e = save_checkpoint(dir, "latest", &files_for(2)).unwrap_err();
        simulate_disk_full_after(None);
        match &e {
            CheckpointError::Io { path, source } => {
                assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
                assert!(path.starts_with(dir), "{}", path.display());
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("no space left"), "{e}");
        assert_eq!(check_complete(&load_checkpoint(dir, "latest").unwrap()), 1);
        assert_eq!(
            hidden(dir),
            Vec::<String>::new(),
            "the temporary dir is removed"
        );
    }
    save_checkpoint(dir, "latest", &files_for(2)).unwrap();
    assert_eq!(check_complete(&load_checkpoint(dir, "latest").unwrap()), 2);

    // write_atomic: the old content stays.
    let f = dir.join("config.json");
    write_atomic(&f, b"old").unwrap();
    simulate_disk_full_after(Some(2));
    let e = write_atomic(&f, b"new content").unwrap_err();
    simulate_disk_full_after(None);
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    assert!(e.to_string().contains("config.json"), "{e}");
    assert_eq!(std::fs::read(&f).unwrap(), b"old");
    assert_eq!(hidden(dir), Vec::<String>::new());
}

#[test]
fn bad_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["", ".hidden", "a/b", "..", "x\0"] {
        assert!(matches!(
            save_checkpoint(tmp.path(), name, &[]),
            Err(CheckpointError::Name { .. })
        ));
    }
    for file in [MANIFEST, "../escape", ".x"] {
        assert!(save_checkpoint(tmp.path(), "c", &[(file, vec![1])]).is_err());
    }
    assert!(save_checkpoint(tmp.path(), "c", &[("a", vec![1]), ("a", vec![2])]).is_err());
    let missing = load_checkpoint(tmp.path(), "nothing").unwrap_err();
    assert!(
        matches!(missing, CheckpointError::NotFound { .. }),
        "{missing}"
    );
}

fn marker(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gen")).unwrap()
}

#[test]
fn run_directories_refuse_or_rotate_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("checkpoints");
    let run = prepare_run_dir(&root, "mlp_20240101_000000", false, 2).unwrap();
    assert_eq!(run, root.join("mlp_20240101_000000"));
    assert!(run.is_dir());
    std::fs::write(run.join("gen"), "1").unwrap();

    let e = prepare_run_dir(&root, "mlp_20240101_000000", false, 2).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, CheckpointError::RunExists { .. }), "{msg}");
    assert!(msg.contains(&run.display().to_string()), "{msg}");
    assert!(
        msg.contains("use --overwrite to replace it, or choose another --name"),
        "{msg}"
    );
    let year = msg.split("last modified ").nth(1).unwrap();
    assert!(year.starts_with("20") && year.contains('T'), "{msg}");
    assert_eq!(marker(&run), "1", "refusal leaves the run alone");

    let name = "mlp_20240101_000000";
    for gen in 2..=4 {
        let run = prepare_run_dir(&root, name, true, 2).unwrap();
        assert_eq!(
            std::fs::read_dir(&run).unwrap().count(),
            0,
            "a fresh directory"
        );
        std::fs::write(run.join("gen"), gen.to_string()).unwrap();
    }
    // Generation 4 is live; 3 and 2 are the two backups; 1 is gone.
    assert_eq!(marker(&root.join(name)), "4");
    assert_eq!(marker(&root.join(format!("{name}.bak"))), "3");
    assert_eq!(marker(&root.join(format!("{name}.bak.1"))), "2");
    let names: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            name.to_string(),
            format!("{name}.bak"),
            format!("{name}.bak.1")
        ])
    );

    // Fewer backups than exist: the surplus goes.
    std::fs::create_dir(root.join(format!("{name}.bak.7"))).unwrap();
    prepare_run_dir(&root, name, true, 1).unwrap();
    let names: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([name.to_string(), format!("{name}.bak")])
    );
    assert_eq!(marker(&root.join(format!("{name}.bak"))), "4");

    // No backups: the old run is removed.
    std::fs::write(root.join(name).join("gen"), "5").unwrap();
    prepare_run_dir(&root, name, true, 0).unwrap();
    assert!(!root.join(name).join("gen").exists());
    assert_eq!(marker(&root.join(format!("{name}.bak"))), "4");
    assert_eq!(hidden(&root), Vec::<String>::new());

    assert!(prepare_run_dir(&root, "../escape", true, 0).is_err());
}
