//! Composite layers as small subgraphs of opset 17 operators, matching burn's modules: `Linear`
//! (weight stored `[in, out]`, `y = x·W + b`), `LayerNorm` (over the last axis), exact GELU, and
//! the slicing, concatenation and scalar constants an exporter needs around them.

use crate::graph::{Attr, Graph};

impl Graph {
    /// A scalar (rank 0) f32 constant; each distinct value is stored once per graph.
    pub fn scalar_f32(&mut self, v: f32) -> String {
        if let Some(name) = self.scalars.get(&v.to_bits()) {
            return name.clone();
        }
        let name = self.constant_f32("scalar", &[], &[v]);
        self.scalars.insert(v.to_bits(), name.clone());
        name
    }

    /// A linear layer on the last axis of `x` (any rank ≥ 1): `MatMul(x, W)` then `Add(b)` when
    /// there is a bias. `weight_in_out` is `[in_, out]` row-major, as burn's `Linear` stores it.
    ///
    /// # Shapes
    /// `x`: `[..., in_]` → `[..., out]`.
    ///
    /// # Panics
    /// When `weight_in_out` does not hold `in_ · out` values or `bias` does not hold `out`.
    pub fn linear(
        &mut self,
        x: &str,
        weight_in_out: &[f32],
        in_: usize,
        out: usize,
        bias: Option<&[f32]>,
    ) -> String {
        let w = self.constant_f32("weight", &[in_, out], weight_in_out);
        let y = self.op("MatMul", &[x, &w], vec![]);
        match bias {
            Some(b) => {
                let b = self.constant_f32("bias", &[out], b);
                self.op("Add", &[&y, &b], vec![])
            }
            None => y,
        }
    }

    /// Layer normalisation over the last axis (`LayerNormalization`, opset 17):
    /// `(x − mean) / √(var + epsilon) · gamma + beta`, the variance biased (divided by n).
    ///
    /// # Shapes
    /// `x`: `[..., n]` → `[..., n]`; `gamma`, `beta`: `[n]`.
    ///
    /// # Panics
    /// When `gamma` and `beta` differ in length.
    pub fn layer_norm(&mut self, x: &str, gamma: &[f32], beta: &[f32], epsilon: f32) -> String {
        assert_eq!(
            gamma.len(),
            beta.len(),
            "layer norm gamma and beta differ in length"
        );
        let scale = self.constant_f32("gamma", &[gamma.len()], gamma);
        let bias = self.constant_f32("beta", &[beta.len()], beta);
        self.op(
            "LayerNormalization",
            &[x, &scale, &bias],
            vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(epsilon))],
        )
    }

    /// The exact GELU, `0.5 · x · (1 + erf(x / √2))` (opset 17 has no `Gelu` operator).
    pub fn gelu(&mut self, x: &str) -> String {
        let sqrt2 = self.scalar_f32(std::f32::consts::SQRT_2);
        let one = self.scalar_f32(1.0);
        let half = self.scalar_f32(0.5);
        let scaled = self.op("Div", &[x, &sqrt2], vec![]);
        let erf = self.op("Erf", &[&scaled], vec![]);
        let shifted = self.op("Add", &[&erf, &one], vec![]);
        let gated = self.op("Mul", &[x, &shifted], vec![]);
        self.op("Mul", &[&gated, &half], vec![])
    }

    /// `len` elements of the last axis from `start` (`Slice` on axis −1). A negative `start`
    /// counts from the end: `slice_last(x, -2, 2)` is the last two.
    pub fn slice_last(&mut self, x: &str, start: i64, len: i64) -> String {
        let end = match start.checked_add(len) {
            // From the end up to the very end: an end index of 0 would mean "before the first".
            Some(0) if start < 0 => i64::MAX,
            Some(end) => end,
            None => i64::MAX,
        };
        let starts = self.constant_i64("starts", &[1], &[start]);
        let ends = self.constant_i64("ends", &[1], &[end]);
        let axes = self.constant_i64("axes", &[1], &[-1]);
        self.op("Slice", &[x, &starts, &ends, &axes], vec![])
    }

    /// `Concat` of `xs` along `axis` (negative counts from the end).
    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, vec![("axis", Attr::Int(axis))])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::{Attr, Dim, Elem, Graph};

    fn ops(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn linear_is_matmul_then_add() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![Dim::Fixed(2)]);
        let y = g.linear(&x, &[1.0; 6], 2, 3, Some(&[0.0; 3]));
        assert_eq!(ops(&g), ["MatMul", "Add"]);
        assert_eq!(g.nodes[1].outputs, [y]);
        assert_eq!(g.initializers[0].dims, [2, 3]);
        assert_eq!(g.initializers[1].dims, [3]);
        let z = g.linear(&x, &[1.0; 2], 2, 1, None);
        assert_eq!(ops(&g), ["MatMul", "Add", "MatMul"]);
        assert_eq!(g.nodes[2].outputs, [z]);
    }

    #[test]
    fn gelu_shares_its_scalars() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![]);
        let a = g.gelu(&x);
        g.gelu(&a);
        assert_eq!(ops(&g)[..5], ["Div", "Erf", "Add", "Mul", "Mul"]);
        assert_eq!(g.initializers.len(), 3, "√2, 1 and 0.5 stored once");
        assert!(g.initializers.iter().all(|t| t.dims.is_empty()));
    }

    #[test]
    fn layer_norm_has_axis_and_epsilon() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![]);
        g.layer_norm(&x, &[1.0; 4], &[0.0; 4], 1e-5);
        assert_eq!(ops(&g), ["LayerNormalization"]);
        assert_eq!(
            g.nodes[0].attrs,
            [
                ("axis".to_string(), Attr::Int(-1)),
                ("epsilon".to_string(), Attr::Float(1e-5))
            ]
        );
        assert_eq!(g.nodes[0].inputs.len(), 3);
    }

    #[test]
    fn slice_last_from_the_end_runs_to_the_end() {
        let mut g = Graph::new("g");
        let x = g.input("x", Elem::F32, vec![]);
        g.slice_last(&x, 1, 3);
        g.slice_last(&x, -2, 2);
        g.slice_last(&x, -3, 1);
        let i64s = |name: &str| -> i64 {
            let t = g.initializers.iter().find(|t| t.name == name).unwrap();
            i64::from_le_bytes(t.raw[..8].try_into().unwrap())
        };
        let ends: Vec<i64> = g.nodes.iter().map(|n| i64s(&n.inputs[2].clone())).collect();
        assert_eq!(ends, [4, i64::MAX, -2]);
        assert!(g.nodes.iter().all(|n| i64s(&n.inputs[3]) == -1));
    }

    #[test]
    fn concat_takes_every_input() {
        let mut g = Graph::new("g");
        let a = g.input("a", Elem::F32, vec![]);
        let b = g.input("b", Elem::F32, vec![]);
        g.concat(&[&a, &b, &a], -1);
        assert_eq!(g.nodes[0].inputs, ["a", "b", "a"]);
        assert_eq!(g.nodes[0].attrs, [("axis".to_string(), Attr::Int(-1))]);
    }
}
