//! An ONNX model and its serialisation: the `ModelProto` message tree of `onnx.proto`, encoded
//! field by field with the numbers of that file (checked against onnx/onnx's `onnx/onnx.proto`).
//!
//! Only the messages and fields a tensor graph needs are written: `ModelProto`,
//! `OperatorSetIdProto`, `StringStringEntryProto`, `GraphProto`, `NodeProto`, `AttributeProto`,
//! `TensorProto` (data in `raw_data`), `ValueInfoProto`, `TypeProto` with its `Tensor`,
//! `TensorShapeProto` and `Dimension`.

use crate::graph::{Attr, Dim, Graph, Node, Tensor, ValueInfo};
use crate::wire::Writer;

/// The default opset of the standard (`ai.onnx`) domain.
pub const DEFAULT_OPSET: i64 = 17;

/// The name written as `ModelProto.producer_name`.
pub const PRODUCER_NAME: &str = "exphil";

/// The IR version released with `opset` (ONNX's own version table): 8 up to opset 18, 9 for 19
/// and 20, 10 for 21 and 22, 11 after.
pub fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        _ => 11,
    }
}

/// A complete ONNX model: one graph, the opset it binds against, and descriptive metadata.
#[derive(Clone, Debug)]
pub struct Model {
    /// The graph.
    pub graph: Graph,
    /// Version of the standard operator set (`ai.onnx`, the default domain).
    pub opset: i64,
    /// `ModelProto.producer_version`.
    pub producer_version: String,
    /// `ModelProto.doc_string` (Markdown); omitted when empty.
    pub doc: String,
    /// `ModelProto.metadata_props`, key–value pairs (keys should be distinct).
    pub metadata: Vec<(String, String)>,
}

impl Model {
    /// A model of `graph` at [`DEFAULT_OPSET`], with this crate's version as producer version
    /// and no documentation or metadata.
    pub fn new(graph: Graph) -> Model {
        Model {
            graph,
            opset: DEFAULT_OPSET,
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc: String::new(),
            metadata: Vec::new(),
        }
    }

    /// The serialised `ModelProto`, the bytes of a `.onnx` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
        // graph = 7, opset_import = 8, metadata_props = 14.
        w.int64(1, ir_version(self.opset));
        w.string(2, PRODUCER_NAME);
        w.string(3, &self.producer_version);
        if !self.doc.is_empty() {
            w.string(6, &self.doc);
        }
        w.message(7, |m| graph(m, &self.graph));
        // OperatorSetIdProto: domain = 1 (absent: the default domain), version = 2.
        w.message(8, |m| m.int64(2, self.opset));
        for (key, value) in &self.metadata {
            // StringStringEntryProto: key = 1, value = 2.
            w.message(14, |m| {
                m.string(1, key);
                m.string(2, value);
            });
        }
        w.into_bytes()
    }
}

/// GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
fn graph(w: &mut Writer, g: &Graph) {
    for n in &g.nodes {
        w.message(1, |m| node(m, n));
    }
    w.string(2, &g.name);
    for t in &g.initializers {
        w.message(5, |m| tensor(m, t));
    }
    for v in &g.inputs {
        w.message(11, |m| value_info(m, v));
    }
    for v in &g.outputs {
        w.message(12, |m| value_info(m, v));
    }
}

/// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5 (domain = 7 absent:
/// the default domain).
fn node(w: &mut Writer, n: &Node) {
    for i in &n.inputs {
        w.string(1, i);
    }
    for o in &n.outputs {
        w.string(2, o);
    }
    w.string(3, &n.name);
    w.string(4, &n.op_type);
    for (name, a) in &n.attrs {
        w.message(5, |m| attribute(m, name, a));
    }
}

/// AttributeProto: name = 1, f = 2, i = 3, s = 4, floats = 7, ints = 8, type = 20 with
/// AttributeType FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7.
fn attribute(w: &mut Writer, name: &str, a: &Attr) {
    w.string(1, name);
    let kind = match a {
        Attr::Float(f) => {
            w.float(2, *f);
            1
        }
        Attr::Int(i) => {
            w.int64(3, *i);
            2
        }
        Attr::Str(s) => {
            w.string(4, s);
            3
        }
        Attr::Floats(fs) => {
            w.packed_float(7, fs);
            6
        }
        Attr::Ints(is) => {
            w.packed_int64(8, is);
            7
        }
    };
    w.int64(20, kind);
}

/// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
fn tensor(w: &mut Writer, t: &Tensor) {
    let dims: Vec<i64> = t.dims.iter().map(|&d| d as i64).collect();
    w.packed_int64(1, &dims);
    w.int64(2, t.elem.data_type());
    w.string(8, &t.name);
    w.bytes(9, &t.raw);
}

/// ValueInfoProto: name = 1, type = 2; TypeProto: tensor_type = 1; TypeProto.Tensor:
/// elem_type = 1, shape = 2; TensorShapeProto: dim = 1; Dimension: dim_value = 1,
/// dim_param = 2. The shape is always written, so a rank-0 value is known to be a scalar.
fn value_info(w: &mut Writer, v: &ValueInfo) {
    w.string(1, &v.name);
    w.message(2, |ty| {
        ty.message(1, |tt| {
            tt.int64(1, v.elem.data_type());
            tt.message(2, |shape| {
                for d in &v.dims {
                    shape.message(1, |dim| match d {
                        Dim::Fixed(n) => dim.int64(1, *n as i64),
                        Dim::Param(p) => dim.string(2, p),
                    });
                }
            });
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Elem;

    fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w);
        w.into_bytes()
    }

    #[test]
    fn an_int_attribute_matches_hand_computed_bytes() {
        let got = encoded(|w| attribute(w, "axis", &Attr::Int(-1)));
        let mut want = vec![0x0a, 4, b'a', b'x', b'i', b's', 0x18];
        want.extend_from_slice(&[0xff; 9]);
        want.extend_from_slice(&[0x01, 0xa0, 0x01, 0x02]);
        assert_eq!(got, want);
        let got = encoded(|w| attribute(w, "e", &Attr::Float(1.0)));
        assert_eq!(
            got,
            [0x0a, 1, b'e', 0x15, 0, 0, 0x80, 0x3f, 0xa0, 0x01, 0x01]
        );
        let got = encoded(|w| attribute(w, "p", &Attr::Ints(vec![1, 2])));
        assert_eq!(got, [0x0a, 1, b'p', 0x42, 2, 1, 2, 0xa0, 0x01, 0x07]);
        let got = encoded(|w| attribute(w, "m", &Attr::Str("ab".into())));
        assert_eq!(got, [0x0a, 1, b'm', 0x22, 2, b'a', b'b', 0xa0, 0x01, 0x03]);
    }

    #[test]
    fn a_value_info_matches_hand_computed_bytes() {
        let v = ValueInfo {
            name: "x".into(),
            elem: Elem::F32,
            dims: vec![Dim::Param("batch".into()), Dim::Fixed(3)],
        };
        let got = encoded(|w| value_info(w, &v));
        #[rustfmt::skip]
        let want = [
            0x0a, 1, b'x',                       // name
            0x12, 19,                            // type
            0x0a, 17,                            //   tensor_type
            0x08, 1,                             //     elem_type FLOAT
            0x12, 13,                            //     shape
            0x0a, 7, 0x12, 5, b'b', b'a', b't', b'c', b'h', // dim_param "batch"
            0x0a, 2, 0x08, 3,                    //       dim_value 3
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_scalar_tensor_matches_hand_computed_bytes() {
        let t = Tensor {
            name: "s".into(),
            elem: Elem::F32,
            dims: vec![],
            raw: 1.0f32.to_le_bytes().to_vec(),
        };
        let got = encoded(|w| tensor(w, &t));
        assert_eq!(got, [0x10, 1, 0x42, 1, b's', 0x4a, 4, 0, 0, 0x80, 0x3f]);
        let t = Tensor {
            name: "i".into(),
            elem: Elem::I64,
            dims: vec![2, 300],
            raw: vec![],
        };
        let got = encoded(|w| tensor(w, &t));
        assert_eq!(
            got,
            [0x0a, 3, 2, 0xac, 0x02, 0x10, 7, 0x42, 1, b'i', 0x4a, 0]
        );
    }

    #[test]
    fn a_model_starts_with_its_header_fields() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![]);
        g.output("y", &x, Elem::F32, vec![]);
        let mut m = Model::new(g);
        m.producer_version = "1".into();
        m.metadata.push(("k".into(), "v".into()));
        let b = m.encode();
        assert_eq!(
            b[..13],
            [0x08, 8, 0x12, 6, b'e', b'x', b'p', b'h', b'i', b'l', 0x1a, 1, b'1']
        );
        // opset_import {version 17} then metadata_props {key "k", value "v"} close the model.
        assert_eq!(
            b[b.len() - 12..],
            [0x42, 2, 0x10, 17, 0x72, 6, 0x0a, 1, b'k', 0x12, 1, b'v']
        );
    }

    #[test]
    fn ir_versions_follow_the_onnx_release_table() {
        assert_eq!(ir_version(13), 8);
        assert_eq!(ir_version(17), 8);
        assert_eq!(ir_version(18), 8);
        assert_eq!(ir_version(19), 9);
        assert_eq!(ir_version(21), 10);
        assert_eq!(ir_version(23), 11);
    }
}
