//! Models built with `exphil_onnx` run in ONNX Runtime and give the values computed here in
//! Rust (within 1e-5): an MLP of `linear`, `gelu` and `layer_norm`; an int64 `Gather` behind a
//! `Min`/`Max` clamp; `Concat`, `Slice`, `Sigmoid`, `Tanh`, `Mul`, `Add`, `Greater`; `Softmax`;
//! `ReduceSum` with its axes as an input; `Split` with a split input; and `Transpose`, `Pad` and
//! `Constant` for the list and string attributes. Each model is also validated by
//! `onnx.checker.check_model(full_check=True)` when the `onnx` package imports.
//!
//! The Python is `exphil_testdata::python` (`$EXPHIL_PYTHON`, else `python3`): the test is
//! skipped where it cannot import `onnxruntime` and `numpy`, except under CI, where that fails,
//! as does a missing `onnx` package.

use exphil_dataset::npy::{write_npz, Dtype};
use exphil_onnx::{Attr, Dim, Elem, Graph, Model};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BATCH: usize = 2;
const TOLERANCE: f64 = 1e-5;

/// An input array: name, dtype, shape, little-endian bytes.
type Input = (String, Dtype, Vec<usize>, Vec<u8>);

/// An expected output: name, NumPy dtype string, shape, values.
struct Want {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    values: Vec<f64>,
}

struct Case {
    name: &'static str,
    model: Model,
    inputs: Vec<Input>,
    want: Vec<Want>,
}

fn want(name: &str, dtype: &'static str, shape: &[usize], values: Vec<f64>) -> Want {
    Want {
        name: name.to_string(),
        dtype,
        shape: shape.to_vec(),
        values,
    }
}

fn f32_input(name: &str, shape: &[usize], values: &[f32]) -> Input {
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (name.to_string(), Dtype::F32, shape.to_vec(), bytes)
}

fn batch(rest: &[usize]) -> Vec<Dim> {
    let mut dims = vec![Dim::Param("batch".into())];
    dims.extend(rest.iter().map(|&d| Dim::Fixed(d)));
    dims
}

/// Deterministic values in [-scale, scale).
fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// `rows × in_` times `in_ × out` (row-major), plus `bias`.
fn matmul(x: &[f64], w: &[f32], in_: usize, out: usize, bias: Option<&[f32]>) -> Vec<f64> {
    x.chunks(in_)
        .flat_map(|row| {
            (0..out).map(move |j| {
                let b = bias.map_or(0.0, |b| f64::from(b[j]));
                b + (0..in_)
                    .map(|i| row[i] * f64::from(w[i * out + j]))
                    .sum::<f64>()
            })
        })
        .collect()
}

/// erf by its Taylor series, accurate to ~1e-12 for |z| < 4.
fn erf(z: f64) -> f64 {
    assert!(z.abs() < 4.0, "erf reference used outside its range: {z}");
    let (mut term, mut sum, mut n) = (z, z, 0.0);
    while term.abs() > 1e-17 {
        n += 1.0;
        term *= -z * z / n;
        sum += term / (2.0 * n + 1.0);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn layer_norm(x: &[f64], n: usize, gamma: &[f32], beta: &[f32], eps: f64) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + eps).sqrt();
            row.iter()
                .enumerate()
                .map(move |(i, v)| (v - mean) * inv * f64::from(gamma[i]) + f64::from(beta[i]))
        })
        .collect()
}

fn mlp() -> Case {
    let (in_, hidden, out) = (4, 6, 2);
    let x = values(1, BATCH * 3 * in_, 1.0);
    let w1 = values(2, in_ * hidden, 1.0);
    let b1 = values(3, hidden, 1.0);
    let gamma = values(4, hidden, 1.0);
    let beta = values(5, hidden, 1.0);
    let w2 = values(6, hidden * out, 1.0);

    let mut g = Graph::new("mlp");
    let xi = g.input("x", Elem::F32, batch(&[3, in_]));
    let h = g.linear(&xi, &w1, in_, hidden, Some(&b1));
    let a = g.gelu(&h);
    let n = g.layer_norm(&a, &gamma, &beta, 1e-5);
    let y = g.linear(&n, &w2, hidden, out, None);
    g.output("y", &y, Elem::F32, batch(&[3, out]));
    // LayerNorm would hide a scale error in GELU: its output is checked too.
    g.output("act", &a, Elem::F32, batch(&[3, hidden]));
    let mut model = Model::new(g);
    model.producer_version = "0.0.test".into();
    model.doc = "a test MLP".into();
    model.metadata = vec![
        ("exphil.kind".into(), "mlp".into()),
        ("hidden".into(), hidden.to_string()),
    ];

    let h = matmul(&f64s(&x), &w1, in_, hidden, Some(&b1));
    let a: Vec<f64> = h.iter().map(|&v| gelu(v)).collect();
    let n = layer_norm(&a, hidden, &gamma, &beta, 1e-5);
    let y = matmul(&n, &w2, hidden, out, None);
    assert!(h.iter().any(|&v| v < -1.0) && h.iter().any(|&v| v > 1.0));
    Case {
        name: "mlp",
        model,
        inputs: vec![f32_input("x", &[BATCH, 3, in_], &x)],
        want: vec![
            want("y", "<f4", &[BATCH, 3, out], y),
            want("act", "<f4", &[BATCH, 3, hidden], a),
        ],
    }
}

fn gather() -> Case {
    let ids: [i64; 6] = [0, 4, 9, -3, 2, 1];
    let table = values(7, 5 * 2, 1.0);
    let mut g = Graph::new("gather");
    let idi = g.input("ids", Elem::I64, batch(&[3]));
    let hi = g.constant_i64("max_id", &[], &[4]);
    let lo = g.constant_i64("min_id", &[], &[0]);
    let capped = g.op("Min", &[&idi, &hi], vec![]);
    let clamped = g.op("Max", &[&capped, &lo], vec![]);
    let t = g.constant_f32("table", &[5, 2], &table);
    let e = g.op("Gather", &[&t, &clamped], vec![("axis", Attr::Int(0))]);
    g.output("emb", &e, Elem::F32, batch(&[3, 2]));
    g.output("clamped", &clamped, Elem::I64, batch(&[3]));

    let c: Vec<i64> = ids.iter().map(|&i| i.clamp(0, 4)).collect();
    let emb = c
        .iter()
        .flat_map(|&i| f64s(&table[i as usize * 2..i as usize * 2 + 2]))
        .collect();
    let bytes = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
    Case {
        name: "gather",
        model: Model::new(g),
        inputs: vec![("ids".into(), Dtype::I64, vec![BATCH, 3], bytes)],
        want: vec![
            want("emb", "<f4", &[BATCH, 3, 2], emb),
            want(
                "clamped",
                "<i8",
                &[BATCH, 3],
                c.iter().map(|&i| i as f64).collect(),
            ),
        ],
    }
}

fn elementwise() -> Case {
    let a = values(8, BATCH * 3, 2.0);
    let b = values(9, BATCH * 2, 2.0);
    let mut g = Graph::new("elementwise");
    let ai = g.input("a", Elem::F32, batch(&[3]));
    let bi = g.input("b", Elem::F32, batch(&[2]));
    let c = g.concat(&[&ai, &bi], -1);
    let s = g.slice_last(&c, 1, 2);
    let p = g.op("Sigmoid", &[&s], vec![]);
    let s = g.slice_last(&c, -2, 2);
    let q = g.op("Tanh", &[&s], vec![]);
    let pq = g.op("Mul", &[&p, &q], vec![]);
    let half = g.scalar_f32(0.5);
    let r = g.op("Add", &[&pq, &half], vec![]);
    let zero = g.scalar_f32(0.0);
    let pos = g.op("Greater", &[&c, &zero], vec![]);
    g.output("joined", &c, Elem::F32, batch(&[5]));
    // An output under its generated name: no Identity node.
    g.output(&r, &r, Elem::F32, batch(&[2]));
    g.output("positive", &pos, Elem::Bool, batch(&[5]));

    let joined: Vec<f64> = (0..BATCH)
        .flat_map(|i| {
            f64s(&a[i * 3..i * 3 + 3])
                .into_iter()
                .chain(f64s(&b[i * 2..i * 2 + 2]))
        })
        .collect();
    let rv = joined
        .chunks(5)
        .flat_map(|row| {
            (0..2).map(move |j| {
                let p = 1.0 / (1.0 + (-row[1 + j]).exp());
                p * row[3 + j].tanh() + 0.5
            })
        })
        .collect();
    let positive = joined
        .iter()
        .map(|&v| f64::from(u8::from(v > 0.0)))
        .collect();
    Case {
        name: "elementwise",
        model: Model::new(g),
        inputs: vec![
            f32_input("a", &[BATCH, 3], &a),
            f32_input("b", &[BATCH, 2], &b),
        ],
        want: vec![
            want("joined", "<f4", &[BATCH, 5], joined),
            want(&r, "<f4", &[BATCH, 2], rv),
            want("positive", "|b1", &[BATCH, 5], positive),
        ],
    }
}

fn softmax() -> Case {
    let x = values(10, BATCH * 5, 3.0);
    let mut g = Graph::new("softmax");
    let xi = g.input("x", Elem::F32, batch(&[5]));
    let p = g.op("Softmax", &[&xi], vec![("axis", Attr::Int(-1))]);
    g.output("p", &p, Elem::F32, batch(&[5]));
    let want_p = f64s(&x)
        .chunks(5)
        .flat_map(|row| {
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect();
    Case {
        name: "softmax",
        model: Model::new(g),
        inputs: vec![f32_input("x", &[BATCH, 5], &x)],
        want: vec![want("p", "<f4", &[BATCH, 5], want_p)],
    }
}

fn reduce() -> Case {
    let x = values(11, BATCH * 3 * 4, 1.0);
    let mut g = Graph::new("reduce");
    let xi = g.input("x", Elem::F32, batch(&[3, 4]));
    let rows = g.constant_i64("axes", &[1], &[1]);
    let last = g.constant_i64("axes", &[1], &[-1]);
    let a = g.op("ReduceSum", &[&xi, &rows], vec![("keepdims", Attr::Int(0))]);
    let b = g.op("ReduceSum", &[&xi, &last], vec![]);
    g.output("sum_rows", &a, Elem::F32, batch(&[4]));
    g.output("sum_last", &b, Elem::F32, batch(&[3, 1]));
    let x64 = f64s(&x);
    let at = |n: usize, r: usize, c: usize| x64[n * 12 + r * 4 + c];
    let sum_rows = (0..BATCH)
        .flat_map(|n| (0..4).map(move |c| (0..3).map(|r| at(n, r, c)).sum()))
        .collect();
    let sum_last = x64.chunks(4).map(|row| row.iter().sum()).collect();
    Case {
        name: "reduce",
        model: Model::new(g),
        inputs: vec![f32_input("x", &[BATCH, 3, 4], &x)],
        want: vec![
            want("sum_rows", "<f4", &[BATCH, 4], sum_rows),
            want("sum_last", "<f4", &[BATCH, 3, 1], sum_last),
        ],
    }
}

fn split() -> Case {
    let x = values(12, BATCH * 5, 1.0);
    let mut g = Graph::new("split");
    let xi = g.input("x", Elem::F32, batch(&[5]));
    let sizes = g.constant_i64("split", &[2], &[2, 3]);
    let parts = g.op_n("Split", &[&xi, &sizes], 2, vec![("axis", Attr::Int(-1))]);
    g.output("head", &parts[0], Elem::F32, batch(&[2]));
    g.output("tail", &parts[1], Elem::F32, batch(&[3]));
    let x64 = f64s(&x);
    let head = x64.chunks(5).flat_map(|r| r[..2].to_vec()).collect();
    let tail = x64.chunks(5).flat_map(|r| r[2..].to_vec()).collect();
    Case {
        name: "split",
        model: Model::new(g),
        inputs: vec![f32_input("x", &[BATCH, 5], &x)],
        want: vec![
            want("head", "<f4", &[BATCH, 2], head),
            want("tail", "<f4", &[BATCH, 3], tail),
        ],
    }
}

/// `Ints`, `Floats`, `Float` and `Str` attributes: `Transpose(perm)`, `Constant(value_floats)`,
/// `Constant(value_float)`, `Pad(mode = "edge")`.
fn attributes() -> Case {
    let x = values(13, BATCH * 3, 1.0);
    let mut g = Graph::new("attributes");
    let xi = g.input("x", Elem::F32, batch(&[3]));
    let t = g.op("Transpose", &[&xi], vec![("perm", Attr::Ints(vec![1, 0]))]);
    let k = g.op(
        "Constant",
        &[],
        vec![("value_floats", Attr::Floats(vec![1.5, -2.0, 0.25]))],
    );
    let scaled = g.op("Mul", &[&xi, &k], vec![]);
    let c = g.op("Constant", &[], vec![("value_float", Attr::Float(-3.0))]);
    let shifted = g.op("Add", &[&scaled, &c], vec![]);
    let pads = g.constant_i64("pads", &[4], &[0, 1, 0, 1]);
    let padded = g.op(
        "Pad",
        &[&xi, &pads],
        vec![("mode", Attr::Str("edge".into()))],
    );
    g.output(
        "xt",
        &t,
        Elem::F32,
        vec![Dim::Fixed(3), Dim::Param("batch".into())],
    );
    g.output("shifted", &shifted, Elem::F32, batch(&[3]));
    g.output("padded", &padded, Elem::F32, batch(&[5]));
    let x64 = f64s(&x);
    let xt = (0..3)
        .flat_map(|c| (0..BATCH).map(move |n| (n, c)))
        .map(|(n, c)| x64[n * 3 + c])
        .collect();
    let shifted = x64
        .iter()
        .zip([1.5, -2.0, 0.25].iter().cycle())
        .map(|(v, k)| v * k - 3.0)
        .collect();
    let padded = x64
        .chunks(3)
        .flat_map(|r| [r[0], r[0], r[1], r[2], r[2]])
        .collect();
    Case {
        name: "attributes",
        model: Model::new(g),
        inputs: vec![f32_input("x", &[BATCH, 3], &x)],
        want: vec![
            want("xt", "<f4", &[3, BATCH], xt),
            want("shifted", "<f4", &[BATCH, 3], shifted),
            want("padded", "<f4", &[BATCH, 5], padded),
        ],
    }
}

fn write_case(dir: &Path, case: &Case) {
    std::fs::write(dir.join(format!("{}.onnx", case.name)), case.model.encode()).unwrap();
    let arrays: Vec<(&str, Dtype, &[usize], &[u8])> = case
        .inputs
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    write_npz(&dir.join(format!("{}.npz", case.name)), &arrays).unwrap();
}

#[test]
fn onnx_runtime_matches_rust() {
    let Some(python) = exphil_testdata::python("onnxruntime, numpy") else {
        return;
    };
    let cases = [
        mlp(),
        gather(),
        elementwise(),
        softmax(),
        reduce(),
        split(),
        attributes(),
    ];
    let dir = tempfile::tempdir().unwrap();
    for case in &cases {
        write_case(dir.path(), case);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_models.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .args(cases.iter().map(|c| c.name))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();

    let checked = got["mlp"]["checked"].as_bool().unwrap();
    if !checked {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide the onnx package (onnx.checker) beside onnxruntime"
        );
        eprintln!("note: the onnx package is missing; onnx.checker did not run");
    }
    for case in &cases {
        let g = &got[case.name];
        assert_eq!(g["producer"], "exphil", "{}", case.name);
        assert_eq!(g["graph"], case.name);
        let outputs = g["outputs"].as_object().unwrap();
        let names: Vec<&str> = case.want.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            outputs.keys().map(String::as_str).collect::<Vec<_>>().len(),
            names.len(),
            "{}: outputs {:?}",
            case.name,
            outputs.keys()
        );
        for w in &case.want {
            let o = &outputs[&w.name];
            let what = format!("{}/{}", case.name, w.name);
            assert_eq!(o["dtype"], w.dtype, "{what}");
            assert_eq!(o["shape"], serde_json::json!(w.shape), "{what}");
            let vals: Vec<f64> = o["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(vals.len(), w.values.len(), "{what}");
            for (i, (a, b)) in vals.iter().zip(&w.values).enumerate() {
                assert!(
                    (a - b).abs() <= TOLERANCE,
                    "{what}[{i}]: ONNX Runtime {a}, Rust {b}"
                );
            }
        }
    }

    let mlp = &got["mlp"];
    assert_eq!(mlp["description"], "a test MLP");
    assert_eq!(
        mlp["metadata"],
        serde_json::json!({"exphil.kind": "mlp", "hidden": "6"})
    );
    assert_eq!(
        mlp["inputs"]["x"],
        serde_json::json!({"type": "tensor(float)", "shape": ["batch", 3, 4]})
    );
    assert_eq!(
        got["gather"]["inputs"]["ids"],
        serde_json::json!({"type": "tensor(int64)", "shape": ["batch", 3]})
    );
}
