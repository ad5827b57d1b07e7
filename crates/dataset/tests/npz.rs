//! `npy::write_npz` archives load in NumPy (`numpy.load`) with the names, dtypes, shapes and
//! values written. Runs with the Python of `exphil_testdata::python` (skipped without NumPy,
//! except under CI, where that fails).

use exphil_dataset::npy::{write_npz, Dtype};
use std::process::Command;

/// Prints each array of the archive as `name dtype shape values`, one line each, sorted by name.
const READ_WITH_NUMPY: &str = r#"
import sys, numpy as np
with np.load(sys.argv[1]) as z:
    for name in sorted(z.files):
        a = z[name]
        print(name, a.dtype.str, list(a.shape), a.ravel().tolist())
"#;

fn le<T: Copy, const N: usize>(vs: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    vs.iter().flat_map(|&v| f(v)).collect()
}

#[test]
fn numpy_loads_the_archive() {
    let Some(python) = exphil_testdata::python("numpy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arrays.npz");
    let f32s = le(&[0.5f32, -1.25, 3.0, 1e-3, 7.0, -0.0], f32::to_le_bytes);
    let i64s = le(&[i64::MIN, -1, 0, 1 << 40], i64::to_le_bytes);
    let u16s = le(&[1u16, 65535], u16::to_le_bytes);
    let u8s = [9u8, 8, 7];
    let arrays: &[(&str, Dtype, &[usize], &[u8])] = &[
        ("x", Dtype::F32, &[2, 3], &f32s),
        ("ids", Dtype::I64, &[4], &i64s),
        ("targets", Dtype::U16, &[1, 2, 1], &u16s),
        ("flags", Dtype::U8, &[3], &u8s),
        ("empty", Dtype::F32, &[0, 5], &[]),
        ("scalar", Dtype::I32, &[], &7i32.to_le_bytes()),
        ("naïve", Dtype::U8, &[1], &[1]),
    ];
    write_npz(&path, arrays).unwrap();
    // Written again over the old file (the atomic replacement path).
    write_npz(&path, arrays).unwrap();
    let o = Command::new(&python)
        .args(["-c", READ_WITH_NUMPY])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = String::from_utf8(o.stdout).unwrap();
    let want = "\
empty <f4 [0, 5] []
flags |u1 [3] [9, 8, 7]
ids <i8 [4] [-9223372036854775808, -1, 0, 1099511627776]
naïve |u1 [1] [1]
scalar <i4 [] [7]
targets <u2 [1, 2, 1] [1, 65535]
x <f4 [2, 3] [0.5, -1.25, 3.0, 0.0010000000474974513, 7.0, -0.0]
";
    assert_eq!(got, want);
}

#[test]
fn a_bad_array_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npz");
    let e = write_npz(&path, &[("x", Dtype::F32, &[3], &[0; 8])]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bad.npz") && msg.contains("needs 12 bytes"),
        "{msg}"
    );
    assert!(!path.exists());
    let e = write_npz(&dir.path().join("no/such/dir.npz"), &[]).unwrap_err();
    assert!(e.to_string().contains("dir.npz"), "{e}");
}
