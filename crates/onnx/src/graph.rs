//! Building an ONNX graph: typed inputs and outputs, constant tensors (initializers) and operator
//! nodes, every value named uniquely.
//!
//! Nodes are kept in the order they are added, which is a topological order as long as each
//! node's inputs were created before it (the builder hands out names only for values that
//! exist). Initializers are not listed among the graph inputs (ONNX IR 4 and later).

use std::collections::{HashMap, HashSet};

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// 32-bit float (`tensor(float)`).
    F32,
    /// 64-bit signed integer (`tensor(int64)`), the type ONNX uses for indices and shapes.
    I64,
    /// Boolean (`tensor(bool)`).
    Bool,
}

impl Elem {
    /// The `TensorProto.DataType` code.
    pub(crate) fn data_type(self) -> i64 {
        match self {
            Elem::F32 => 1,
            Elem::I64 => 7,
            Elem::Bool => 9,
        }
    }
}

/// One dimension of a graph input's or output's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A known size.
    Fixed(usize),
    /// A symbolic size, such as `Param("batch".into())`: any size, the same wherever the name
    /// appears.
    Param(String),
}

/// A node attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// `INT`.
    Int(i64),
    /// `FLOAT`.
    Float(f32),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `STRING` (UTF-8).
    Str(String),
}

/// An operator node.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) op_type: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
    pub(crate) attrs: Vec<(String, Attr)>,
}

/// A constant tensor: its little-endian element bytes, row-major.
#[derive(Clone, Debug)]
pub(crate) struct Tensor {
    pub(crate) name: String,
    pub(crate) elem: Elem,
    pub(crate) dims: Vec<usize>,
    pub(crate) raw: Vec<u8>,
}

/// A typed graph input or output.
#[derive(Clone, Debug)]
pub(crate) struct ValueInfo {
    pub(crate) name: String,
    pub(crate) elem: Elem,
    pub(crate) dims: Vec<Dim>,
}

/// An ONNX computation graph under construction.
///
/// Methods that create values return the value's name, to be passed as an input to later
/// nodes. Misuse by the calling code (a constant whose data does not fill its shape, a name
/// declared twice) panics, as it is a bug in the exporter, not bad input.
#[derive(Clone, Debug)]
pub struct Graph {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) initializers: Vec<Tensor>,
    pub(crate) inputs: Vec<ValueInfo>,
    pub(crate) outputs: Vec<ValueInfo>,
    /// Every value name in use.
    used: HashSet<String>,
    /// Per name hint, the next numeric suffix to try.
    next_suffix: HashMap<String, usize>,
    /// `scalar_f32` constants by bit pattern, so that each is stored once.
    pub(crate) scalars: HashMap<u32, String>,
}

impl Graph {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Graph {
        Graph {
            name: name.to_string(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            used: HashSet::new(),
            next_suffix: HashMap::new(),
            scalars: HashMap::new(),
        }
    }

    /// A name not yet used: `hint` itself when free, else `hint_1`, `hint_2`, ...
    fn fresh(&mut self, hint: &str) -> String {
        let hint = if hint.is_empty() { "value" } else { hint };
        if self.used.insert(hint.to_string()) {
            return hint.to_string();
        }
        let n = self.next_suffix.entry(hint.to_string()).or_insert(1);
        loop {
            let name = format!("{hint}_{n}");
            *n += 1;
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Claims `name` exactly.
    ///
    /// # Panics
    /// When `name` is empty or already names a value.
    fn claim(&mut self, name: &str) {
        assert!(!name.is_empty(), "ONNX value names must not be empty");
        assert!(
            self.used.insert(name.to_string()),
            "the value name {name:?} is already used in graph {:?}",
            self.name
        );
    }

    /// Declares a graph input; returns its name (as given).
    ///
    /// # Panics
    /// When `name` is empty or already used.
    pub fn input(&mut self, name: &str, elem: Elem, dims: Vec<Dim>) -> String {
        self.claim(name);
        self.inputs.push(ValueInfo {
            name: name.to_string(),
            elem,
            dims,
        });
        name.to_string()
    }

    fn constant(&mut self, hint: &str, elem: Elem, dims: &[usize], raw: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(Tensor {
            name: name.clone(),
            elem,
            dims: dims.to_vec(),
            raw,
        });
        name
    }

    /// A constant f32 tensor (an initializer), name made unique from `hint`; returns the name.
    /// `data` is row-major; `dims` empty makes a scalar.
    ///
    /// # Panics
    /// When `data.len()` is not the product of `dims`.
    pub fn constant_f32(&mut self, hint: &str, dims: &[usize], data: &[f32]) -> String {
        check_len(hint, dims, data.len());
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, Elem::F32, dims, raw)
    }

    /// A constant i64 tensor (an initializer), name made unique from `hint`; returns the name.
    ///
    /// # Panics
    /// When `data.len()` is not the product of `dims`.
    pub fn constant_i64(&mut self, hint: &str, dims: &[usize], data: &[i64]) -> String {
        check_len(hint, dims, data.len());
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, Elem::I64, dims, raw)
    }

    /// A node with one output; returns the output's (unique, generated) name. An empty string
    /// in `inputs` skips an optional input, as ONNX specifies.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let mut outs = self.op_n(op_type, inputs, 1, attrs);
        // op_n returns exactly `outputs` (here 1) names.
        outs.pop().expect("one output")
    }

    /// A node with `outputs` outputs; returns their names.
    pub fn op_n(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: usize,
        attrs: Vec<(&str, Attr)>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(op_type)).collect();
        self.push_node(op_type, inputs, outs.clone(), attrs);
        outs
    }

    fn push_node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: Vec<String>,
        attrs: Vec<(&str, Attr)>,
    ) {
        self.nodes.push(Node {
            name: format!("{op_type}_node{}", self.nodes.len()),
            op_type: op_type.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs,
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
    }

    /// Marks `value` as a graph output called `name` (adds an Identity node when the names
    /// differ); `dims` as in [`Graph::input`].
    ///
    /// # Panics
    /// When the names differ and `name` is already used.
    pub fn output(&mut self, name: &str, value: &str, elem: Elem, dims: Vec<Dim>) {
        if name != value {
            self.claim(name);
            self.push_node("Identity", &[value], vec![name.to_string()], vec![]);
        }
        self.outputs.push(ValueInfo {
            name: name.to_string(),
            elem,
            dims,
        });
    }
}

/// # Panics
/// When `len` elements do not fill `dims`.
fn check_len(hint: &str, dims: &[usize], len: usize) {
    let want: usize = dims.iter().product();
    assert_eq!(
        want, len,
        "constant {hint:?} of shape {dims:?} needs {want} elements, got {len}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_hints_kept_when_free() {
        let mut g = Graph::new("g");
        let x = g.input(
            "x",
            Elem::F32,
            vec![Dim::Param("batch".into()), Dim::Fixed(3)],
        );
        assert_eq!(x, "x");
        assert_eq!(g.constant_f32("w", &[3], &[1.0, 2.0, 3.0]), "w");
        assert_eq!(g.constant_f32("w", &[], &[1.0]), "w_1");
        assert_eq!(g.constant_i64("w", &[2], &[1, 2]), "w_2");
        // A hint that collides with a generated name.
        assert_eq!(g.constant_f32("w_1", &[], &[1.0]), "w_1_1");
        let a = g.op("Relu", &[&x], vec![]);
        let b = g.op("Relu", &[&a], vec![]);
        assert_eq!((a.as_str(), b.as_str()), ("Relu", "Relu_1"));
        let parts = g.op_n("Split", &[&b], 3, vec![("axis", Attr::Int(1))]);
        assert_eq!(parts, ["Split", "Split_1", "Split_2"]);
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.nodes[2].outputs, parts);
        assert_eq!(g.nodes[2].attrs, [("axis".to_string(), Attr::Int(1))]);
        let node_names: HashSet<_> = g.nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(node_names.len(), 3);
    }

    #[test]
    fn outputs_add_identity_only_when_renamed() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![Dim::Fixed(2)]);
        let y = g.op("Neg", &[&x], vec![]);
        g.output(&y, &y, Elem::F32, vec![Dim::Fixed(2)]);
        assert_eq!(g.nodes.len(), 1);
        g.output("z", &y, Elem::F32, vec![Dim::Fixed(2)]);
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.nodes[1].op_type, "Identity");
        assert_eq!(g.nodes[1].inputs, std::slice::from_ref(&y));
        assert_eq!(g.nodes[1].outputs, ["z"]);
        // A later generated name never takes the output's name.
        assert_eq!(g.constant_f32("z", &[], &[0.0]), "z_1");
    }

    #[test]
    fn constants_store_little_endian_bytes() {
        let mut g = Graph::new("g");
        g.constant_f32("f", &[2], &[1.0, -2.5]);
        g.constant_i64("i", &[1, 1], &[-2]);
        assert_eq!(g.initializers[0].raw, [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]);
        assert_eq!(g.initializers[0].elem, Elem::F32);
        assert_eq!(g.initializers[1].raw, (-2i64).to_le_bytes());
        assert_eq!(g.initializers[1].dims, [1, 1]);
    }

    #[test]
    #[should_panic(expected = "needs 4 elements")]
    fn a_constant_that_does_not_fill_its_shape_panics() {
        Graph::new("g").constant_f32("w", &[2, 2], &[1.0]);
    }

    #[test]
    #[should_panic(expected = "already used")]
    fn an_input_declared_twice_panics() {
        let mut g = Graph::new("g");
        g.input("x", Elem::F32, vec![]);
        g.input("x", Elem::I64, vec![]);
    }
}
