//! Safetensors files: round trip, corruption (every byte flipped, every truncation, hostile
//! headers), NaN/Inf refusal both ways, and interoperability with Python's `safetensors`.

use exphil_runs::tensors::{
    decode_tensors, encode_tensors, read_tensors, write_tensors, NamedTensor, TensorFileError,
    DATA_CHECKSUM_KEY,
};
use std::collections::BTreeMap;
use std::path::Path;

fn sample() -> (Vec<NamedTensor>, BTreeMap<String, String>) {
    let tensors = vec![
        NamedTensor::new(
            "trunk.0.weight",
            vec![2, 3],
            vec![1.0, -2.5, 3.25, 0.0, -0.0, 1e-30],
        ),
        NamedTensor::new(
            "trunk.0.bias",
            vec![3],
            vec![f32::MAX, f32::MIN_POSITIVE, -7.0],
        ),
        NamedTensor::new("scale", vec![], vec![0.5]),
        NamedTensor::new("empty", vec![0, 4], vec![]),
    ];
    let meta = BTreeMap::from([
        ("step".to_string(), "7".to_string()),
        ("kind".to_string(), "model".to_string()),
    ]);
    (tensors, meta)
}

/// Safetensors bytes built by hand from a JSON header (no exphil checksums), as another tool
/// would write them.
fn foreign_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (tensors, meta) = sample();
    write_tensors(&path, &tensors, &meta).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(header_len % 8, 0, "header padded to a multiple of 8");
    assert_eq!(bytes[8], b'{');
    let (back, back_meta) = read_tensors(&path).unwrap();
    // Data order is write order, except that the empty tensor shares its offset with no one.
    assert_eq!(back, tensors);
    assert_eq!(back_meta, meta);
    // Values are bit-exact (negative zero included).
    assert_eq!(back[0].data[4].to_bits(), (-0.0f32).to_bits());
    // The checksum is stored in the file (and stripped from what the reader returns).
    let header = std::str::from_utf8(&bytes[8..8 + header_len as usize]).unwrap();
    assert!(header.contains(DATA_CHECKSUM_KEY), "{header}");
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
}

#[test]
fn writer_refuses_bad_input() {
    let p = Path::new("x.safetensors");
    let meta = BTreeMap::new();
    let dup = [
        NamedTensor::new("a", vec![1], vec![1.0]),
        NamedTensor::new("a", vec![1], vec![2.0]),
    ];
    assert!(matches!(
        encode_tensors(p, &dup, &meta),
        Err(TensorFileError::Invalid { .. })
    ));
    let wrong_len = [NamedTensor::new("a", vec![2, 2], vec![1.0])];
    let e = encode_tensors(p, &wrong_len, &meta).unwrap_err();
    assert!(matches!(e, TensorFileError::Shape { .. }), "{e}");
    let reserved = BTreeMap::from([(DATA_CHECKSUM_KEY.to_string(), "0".to_string())]);
    assert!(encode_tensors(p, &[], &reserved).is_err());
    let named_meta = [NamedTensor::new("__metadata__", vec![1], vec![1.0])];
    assert!(encode_tensors(p, &named_meta, &meta).is_err());
}

#[test]
fn every_flipped_byte_is_refused_or_harmless() {
    let (tensors, meta) = sample();
    let p = Path::new("flip.safetensors");
    let good = encode_tensors(p, &tensors, &meta).unwrap();
    let mut refused = 0;
    let mut harmless = 0;
    for pos in 0..good.len() {
        for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
            let mut bad = good.clone();
            bad[pos] ^= mask;
            match decode_tensors(p, &bad) {
                Err(e) => {
                    assert!(e.to_string().contains("flip.safetensors"), "{e}");
                    refused += 1;
                }
                Ok((t, m)) => {
                    assert!(
                        t == tensors && m == meta,
                        "flipping byte {pos} with {mask:#04x} silently changed the content"
                    );
                    harmless += 1;
                }
            }
        }
    }
    eprintln!("{refused} flips refused, {harmless} harmless");
    assert!(refused > 9 * good.len() * 9 / 10);
}

#[test]
fn truncations_and_extensions_are_refused() {
    let (tensors, meta) = sample();
    let p = Path::new("cut.safetensors");
    let good = encode_tensors(p, &tensors, &meta).unwrap();
    for len in 0..good.len() {
        assert!(
            decode_tensors(p, &good[..len]).is_err(),
            "a file cut to {len} of {} bytes was accepted",
            good.len()
        );
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        decode_tensors(p, &longer),
        Err(TensorFileError::Layout { .. })
    ));
}

#[test]
fn hostile_headers_are_refused() {
    let p = Path::new("hostile.safetensors");
    let data = f32_bytes(&[1.0, 2.0]);
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let mut beyond = 1000u64.to_le_bytes().to_vec();
    beyond.extend_from_slice(b"{}      ");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("header length u64::MAX", huge),
        ("header length past the end", beyond),
        ("not an object", foreign_file("[1, 2]", &data)),
        ("deep nesting", foreign_file(&deep, &data)),
        (
            "offsets past the data",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &data,
            ),
        ),
        (
            "overlap",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &data,
            ),
        ),
        (
            "gap",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &data,
            ),
        ),
        (
            "unused tail",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &data,
            ),
        ),
        (
            "dtype F16",
            foreign_file(
                r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#,
                &data,
            ),
        ),
        (
            "shape does not match the bytes",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &data,
            ),
        ),
        (
            "shape product overflows",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}"#,
                &data,
            ),
        ),
        (
            "negative dimension",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                &data,
            ),
        ),
        (
            "begin after end",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                &data,
            ),
        ),
        (
            "unknown field",
            foreign_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#,
                &data,
            ),
        ),
        (
            "metadata value not a string",
            foreign_file(
                r#"{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &data,
            ),
        ),
        ("empty", Vec::new()),
        ("seven bytes", vec![0; 7]),
    ];
    for (what, bytes) in cases {
        match decode_tensors(p, &bytes) {
            Ok(t) => panic!("{what}: accepted as {t:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("hostile.safetensors"), "{what}: {msg}");
                eprintln!("{what}: {msg}");
            }
        }
    }
    // The well-formed version of the same file is accepted (no exphil checksum needed).
    let ok = foreign_file(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        &data,
    );
    let (t, m) = decode_tensors(p, &ok).unwrap();
    assert_eq!(t, vec![NamedTensor::new("a", vec![2], vec![1.0, 2.0])]);
    assert!(m.is_empty());
}

#[test]
fn non_finite_values_are_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let tensors = [
            NamedTensor::new("fine", vec![1], vec![1.0]),
            NamedTensor::new("head.logits.bias", vec![3], vec![0.0, bad, 1.0]),
        ];
        let e = write_tensors(&path, &tensors, &BTreeMap::new()).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, TensorFileError::NonFinite { index: 1, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("head.logits.bias") && msg.contains("nan.safetensors"),
            "{msg}"
        );
        assert!(!path.exists(), "nothing written");

        // A file from elsewhere holding the value is refused on read, naming the tensor.
        let file = foreign_file(
            r#"{"fine":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            &f32_bytes(&[1.0, 2.0, bad]),
        );
        std::fs::write(&path, &file).unwrap();
        let e = read_tensors(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, TensorFileError::NonFinite { .. }), "{msg}");
        assert!(msg.contains("\"w\""), "{msg}");
        std::fs::remove_file(&path).unwrap();
    }
}

/// Python's `safetensors` (with numpy) loads what exphil writes, with the same values and
/// metadata, and exphil reads what Python writes. Runs when `EXPHIL_PYTHON` names a Python with
/// `safetensors` and `numpy`; on CI (`CI` set) a missing `EXPHIL_PYTHON` is a failure.
#[test]
fn python_safetensors_reads_and_writes_the_format() {
    let Some(python) = std::env::var_os("EXPHIL_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but EXPHIL_PYTHON is not: .ci/run must provide a Python with safetensors and numpy"
        );
        eprintln!("EXPHIL_PYTHON not set: the Python safetensors check did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.safetensors");
    let theirs = dir.path().join("theirs.safetensors");
    let (tensors, meta) = sample();
    write_tensors(&ours, &tensors, &meta).unwrap();
    let script = r#"
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
ours, theirs = sys.argv[1], sys.argv[2]
arrays = load_file(ours)
with safe_open(ours, framework="numpy") as f:
    meta = f.metadata()
out = {"tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                       "bits": v.astype("<f4").view("<u4").ravel().tolist()}
                   for k, v in arrays.items()},
       "metadata": meta}
print(json.dumps(out))
save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "b": np.array([-1.5], dtype=np.float32)},
          theirs, metadata={"from": "python"})
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&ours)
        .arg(&theirs)
        .output()
        .expect("running EXPHIL_PYTHON");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in &tensors {
        let got = &v["tensors"][&t.name];
        assert_eq!(got["dtype"], "float32", "{}", t.name);
        assert_eq!(got["shape"], serde_json::json!(t.shape), "{}", t.name);
        let bits: Vec<u64> = t.data.iter().map(|x| u64::from(x.to_bits())).collect();
        assert_eq!(got["bits"], serde_json::json!(bits), "{}", t.name);
    }
    assert_eq!(v["tensors"].as_object().unwrap().len(), tensors.len());
    for (k, val) in &meta {
        assert_eq!(v["metadata"][k], serde_json::json!(val));
    }
    let (back, back_meta) = read_tensors(&theirs).unwrap();
    let by_name: BTreeMap<_, _> = back.iter().map(|t| (t.name.as_str(), t)).collect();
    assert_eq!(by_name["w"].shape, vec![2, 3]);
    assert_eq!(by_name["w"].data, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
    assert_eq!(by_name["b"].data, vec![-1.5]);
    assert_eq!(back_meta["from"], "python");
}
