//! TensorBoard event files: round trip through `read_events`, CRC-32C known vectors, truncated
//! and corrupted files, and (with `EXPHIL_PYTHON` naming a Python with `tensorboard`) TensorBoard's
//! own reader on a file written here.

use exphil_report::tensorboard::{crc32c, masked_crc, read_events, EventWriter, FILE_VERSION};
use std::path::Path;
use std::process::Command;

const CONFIG: &str = "# Config\n\n| key | value |\n|---|---|\n| lr | 3e-4 |\n\nÜnïcödé ✓";

/// Writes the sample run: steps 0..3 of two scalars, a text at step 0, one lone scalar with a
/// negative step, and non-finite values. Returns the file's path.
fn sample(dir: &Path) -> std::path::PathBuf {
    let mut w = EventWriter::create(dir).unwrap();
    w.text("config", 0, CONFIG).unwrap();
    for step in 0..3 {
        let s = step as f64;
        w.scalars(
            step,
            &[
                ("loss/train", 2.0 / (s + 1.0)),
                ("loss/val", 1.5 - 0.25 * s),
            ],
        )
        .unwrap();
    }
    w.scalar("lr", -5, 3e-4).unwrap();
    w.scalars(1 << 40, &[("weird", f64::NAN), ("weird", f64::INFINITY)])
        .unwrap();
    w.scalar("weird", (1 << 40) + 1, f64::NEG_INFINITY).unwrap();
    let path = w.path().to_path_buf();
    drop(w);
    path
}

#[test]
fn crc32c_known_vectors() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 (iSCSI) appendix B.4.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
    // TFRecord's mask, values from TensorBoard's own `masked_crc32c`.
    assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    assert_eq!(masked_crc(&0u64.to_le_bytes()), 0x0798_0329);
    assert_eq!(masked_crc(b""), 0xA282_EAD8);
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("runs/a");
    let path = sample(&logdir);
    assert_eq!(path.parent().unwrap(), logdir);
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    assert_eq!(
        name.split('.').nth(3).unwrap().len(),
        10,
        "unix seconds in {name}"
    );

    let file = read_events(&path).unwrap();
    assert_eq!(file.truncated_at, None);
    let e = &file.events;
    assert_eq!(e.len(), 8);
    assert_eq!(e[0].file_version.as_deref(), Some(FILE_VERSION));
    assert!(e[0].scalars.is_empty() && e[0].texts.is_empty());
    assert!(e[1..].iter().all(|e| e.file_version.is_none()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(e.iter().all(|e| (now - e.wall_time).abs() < 60.0));

    assert_eq!(e[1].step, 0);
    assert_eq!(e[1].texts, [("config".to_string(), CONFIG.to_string())]);
    for step in 0..3 {
        let ev = &e[2 + step];
        let s = step as f64;
        assert_eq!(ev.step, step as i64);
        assert_eq!(
            ev.scalars,
            [
                ("loss/train".into(), f64::from((2.0 / (s + 1.0)) as f32)),
                ("loss/val".into(), 1.5 - 0.25 * s),
            ]
        );
    }
    assert_eq!(e[5].step, -5);
    assert_eq!(e[5].scalars, [("lr".into(), f64::from(3e-4f32))]);
    assert_eq!(e[6].step, 1 << 40);
    assert!(e[6].scalars[0].1.is_nan());
    assert_eq!(e[6].scalars[1].1, f64::INFINITY);
    assert_eq!(e[7].scalars, [("weird".into(), f64::NEG_INFINITY)]);

    // A second writer in the same second gets its own file.
    let other = EventWriter::create(&logdir).unwrap();
    assert_ne!(other.path(), path);
}

#[test]
fn writes_are_buffered_until_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(dir.path()).unwrap();
    w.scalar("x", 1, 1.0).unwrap();
    assert_eq!(read_events(w.path()).unwrap().events.len(), 1);
    w.flush().unwrap();
    assert_eq!(read_events(w.path()).unwrap().events.len(), 2);
}

#[test]
fn truncated_and_corrupted_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    // Record starts, from the lengths in the headers.
    let mut starts = vec![0usize];
    while *starts.last().unwrap() < bytes.len() {
        let at = *starts.last().unwrap();
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        starts.push(at + 12 + len + 4);
    }
    assert_eq!(*starts.last().unwrap(), bytes.len());
    assert_eq!(starts.len(), 9);

    let cut = dir.path().join("cut");
    let record = 3;
    let start = starts[record];
    let end = starts[record + 1];
    for len in [
        start + 1,
        start + 8,
        start + 11,
        start + 12,
        end - 4,
        end - 1,
    ] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let file = read_events(&cut).unwrap();
        assert_eq!(file.events.len(), record, "cut at {len}");
        assert_eq!(file.truncated_at, Some(start as u64), "cut at {len}");
    }
    std::fs::write(&cut, &bytes[..end]).unwrap();
    let file = read_events(&cut).unwrap();
    assert_eq!((file.events.len(), file.truncated_at), (record + 1, None));
    std::fs::write(&cut, b"").unwrap();
    assert_eq!(read_events(&cut).unwrap().events.len(), 0);

    // A flipped bit is an error naming the file and the record's offset.
    for (flip, why) in [
        (start + 2, "bad length CRC"),
        (start + 13, "bad data CRC"),
        (end - 2, "bad data CRC"),
    ] {
        let mut bad = bytes.clone();
        bad[flip] ^= 0x10;
        std::fs::write(&cut, &bad).unwrap();
        let err = read_events(&cut).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains(&cut.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("record at byte {start}: {why}")),
            "{msg}"
        );
    }
}

/// TensorBoard's reader: both CRCs of every record with its own CRC-32C, every record parsed as a
/// `tensorboard.Event`, and the scalars and text as `EventAccumulator` loads them.
const READ_WITH_TENSORBOARD: &str = r#"
import json, struct, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util

path, logdir = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
at, versions = 0, []
while at < len(data):
    header = data[at:at + 8]
    assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(header), at
    (n,) = struct.unpack("<Q", header)
    body = data[at + 12:at + 12 + n]
    assert struct.unpack("<I", data[at + 12 + n:at + 16 + n])[0] == masked_crc32c(body), at
    ev = event_pb2.Event.FromString(body)
    if ev.HasField("file_version"):
        versions.append(ev.file_version)
    at += 16 + n
ea = EventAccumulator(logdir, size_guidance={"scalars": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
out = {
    "file_versions": versions,
    "scalars": {
        t: [[s.step, repr(s.value)] for s in ea.Scalars(t)] for t in sorted(tags["scalars"])
    },
    "texts": {
        t: [[e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode("utf-8")] for e in ea.Tensors(t)]
        for t in sorted(tags["tensors"])
    },
    "text_plugin_tags": sorted(ea.PluginTagToContent("text")),
}
print(json.dumps(out))
"#;

#[test]
fn tensorboard_reads_the_file() {
    let ci = std::env::var_os("CI").is_some();
    let Some(python) = std::env::var_os("EXPHIL_PYTHON") else {
        assert!(
            !ci,
            "CI is set but EXPHIL_PYTHON is not: .ci/run must provide a Python with tensorboard"
        );
        eprintln!("EXPHIL_PYTHON not set: TensorBoard's reader did not run");
        return;
    };
    let probe = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .unwrap();
    if !probe.status.success() {
        assert!(
            !ci,
            "CI is set but {python:?} cannot import tensorboard (pip install tensorboard): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        eprintln!("{python:?} has no tensorboard: TensorBoard's reader did not run");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let o = Command::new(&python)
        .args(["-c", READ_WITH_TENSORBOARD])
        .arg(&path)
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    let ours = read_events(&path).unwrap();
    assert_eq!(got["file_versions"], serde_json::json!([FILE_VERSION]));
    let mut want = std::collections::BTreeMap::<String, Vec<(i64, f64)>>::new();
    for e in &ours.events {
        for (tag, v) in &e.scalars {
            want.entry(tag.clone()).or_default().push((e.step, *v));
        }
    }
    let scalars = got["scalars"].as_object().unwrap();
    assert_eq!(
        scalars.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (tag, points) in &want {
        let theirs: Vec<(i64, f64)> = scalars[tag]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (p[0].as_i64().unwrap(), v)
            })
            .collect();
        assert_eq!(theirs.len(), points.len(), "{tag}: {theirs:?}");
        for (a, b) in theirs.iter().zip(points) {
            assert!(
                a.0 == b.0 && (a.1 == b.1 || a.1.is_nan() && b.1.is_nan()),
                "{tag}: TensorBoard {a:?}, ours {b:?}"
            );
        }
    }
    assert_eq!(got["texts"], serde_json::json!({ "config": [[0, CONFIG]] }));
    assert_eq!(got["text_plugin_tags"], serde_json::json!(["config"]));
}
