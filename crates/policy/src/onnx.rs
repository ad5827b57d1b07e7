//! A trained policy as an ONNX graph (opset 17) that ONNX Runtime runs: the learned id tables,
//! the backbone, the controller head (teacher-forced) and the value head, built from the
//! policy's named parameters and its recorded architecture.
//!
//! # Interface
//! Inputs, `n` rows (the symbolic dimension `batch`):
//! - `features` `[n, F]` float32 and `ids` `[n, I]` int64: exphil's feature and id rows of a
//!   frame (the embedding of a game state stays in exphil and its Python package). Ids beyond
//!   a table are clamped to its last row, as exphil does.
//! - Autoregressive heads only, teacher-forced: `buttons` `[n, 8]` float32 (0/1, in exphil's
//!   button order) and `main_x`, `main_y`, `c_x`, `c_y` `[n]` int64 classes. Each component's
//!   logits depend only on the components before it, so sampling runs the graph once per
//!   component, filling in each choice before the next run (the outputs of components not yet
//!   chosen are ignored).
//! - Temporal (recurrent) policies are step models: one frame per row, with the state as
//!   explicit inputs and outputs — `h_in_L` (and `c_in_L` for an LSTM) per layer, and for mean
//!   or weighted pooling `pool_in` `[n, window, hidden]` and `seen_in` `[n]` (frames stepped
//!   so far); each `…_in` has an `…_out` twin. A fresh game starts from zeros.
//!
//! Outputs: `buttons_logits` `[n, 8]`, `main_x_logits`, `main_y_logits`, `c_x_logits`,
//! `c_y_logits`, `shoulder_logits` `[n, classes]` (the raw logits exphil computes; subtract the
//! metadata's `button_log_weight` from the button logits for the data's press log-odds), and
//! `value` `[n]`.
//!
//! Attention, Mamba and Jamba backbones are refused: their step state (a rotary key/value cache,
//! a convolution buffer and selective scan) is not exported yet.

use crate::file::LoadedPolicy;
use crate::input::InputSpec;
use crate::params;
use exphil_embed::NUM_BUTTONS;
use exphil_onnx::{Attr, Dim, Elem, Graph, Model};
use exphil_runs::config::{Activation, BackboneConfig, HeadKind, Pooling};
use std::collections::BTreeMap;

/// The opset the graphs are written for.
pub const OPSET: i64 = 17;

/// The names of the class components' inputs and logits, in head order.
pub const CLASS_NAMES: [&str; 5] = ["main_x", "main_y", "c_x", "c_y", "shoulder"];

/// What the score of an empty pooling slot becomes (as in the temporal trunk).
const MASKED: f32 = -1e9;

/// One recurrent state tensor of a step model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSlot {
    /// Its input's name.
    pub input: String,
    /// Its output's name.
    pub output: String,
    /// Its dims after the batch dimension.
    pub dims: Vec<usize>,
}

/// An exported policy: the model and a description of its interface.
pub struct OnnxExport {
    /// The model, ready to encode.
    pub model: Model,
    /// Whether the head is autoregressive (teacher-forced inputs present).
    pub autoregressive: bool,
    /// The state tensors of a step model (empty for single-frame policies).
    pub state: Vec<StateSlot>,
    /// The output names, in order.
    pub outputs: Vec<String>,
}

/// The policy's parameters by name.
struct Params(BTreeMap<String, (Vec<usize>, Vec<f32>)>);

impl Params {
    fn get(&self, name: &str) -> Result<&(Vec<usize>, Vec<f32>), String> {
        self.0
            .get(name)
            .ok_or_else(|| format!("the policy has no parameter {name}"))
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// `x · W + b` of the linear layer `name` (`name.weight` `[in, out]`, optional bias).
    fn linear(&self, g: &mut Graph, name: &str, x: &str) -> Result<String, String> {
        let (shape, w) = self.get(&format!("{name}.weight"))?;
        let [i, o] = shape[..] else {
            return Err(format!("{name}.weight is not a matrix"));
        };
        let bias = self.0.get(&format!("{name}.bias")).map(|(_, b)| &b[..]);
        Ok(g.linear(x, w, i, o, bias))
    }

    /// The layer norm `name` (burn's epsilon, 1e-5).
    fn layer_norm(&self, g: &mut Graph, name: &str, x: &str) -> Result<String, String> {
        let (_, gamma) = self.get(&format!("{name}.gamma"))?;
        let beta = match self.0.get(&format!("{name}.beta")) {
            Some((_, b)) => b.clone(),
            None => vec![0.0; gamma.len()],
        };
        Ok(g.layer_norm(x, gamma, &beta, 1e-5))
    }
}

fn batch() -> Dim {
    Dim::Param("batch".into())
}

/// The ONNX graph of `loaded`, or why it cannot be exported.
pub fn export(loaded: &LoadedPolicy) -> Result<OnnxExport, String> {
    let p = Params(
        params::export(&loaded.policy)
            .into_iter()
            .map(|t| (t.name, (t.shape, t.data)))
            .collect(),
    );
    let spec = &loaded.spec;
    let cfg = &loaded.config;
    let mut g = Graph::new(&format!("exphil_{}", cfg.backbone.name()));
    let features = g.input(
        "features",
        Elem::F32,
        vec![batch(), Dim::Fixed(spec.features)],
    );
    let ids = g.input("ids", Elem::I64, vec![batch(), Dim::Fixed(spec.ids)]);
    let ar = cfg.head == HeadKind::Autoregressive;
    let teacher = if ar {
        let buttons = g.input("buttons", Elem::F32, vec![batch(), Dim::Fixed(NUM_BUTTONS)]);
        let classes: Vec<String> = CLASS_NAMES[..4]
            .iter()
            .map(|c| g.input(c, Elem::I64, vec![batch()]))
            .collect();
        Some((buttons, classes))
    } else {
        None
    };
    let x = trunk_input(&mut g, &p, spec, &features, &ids)?;
    let mut state = Vec::new();
    let h = match &cfg.backbone {
        BackboneConfig::Mlp(m) => {
            let mut h = x;
            for (i, _) in m.hidden.iter().enumerate() {
                let name = format!("backbone.Mlp.layers.{i}");
                let y = p.linear(&mut g, &format!("{name}.linear"), &h)?;
                let y = if p.has(&format!("{name}.norm.gamma")) {
                    p.layer_norm(&mut g, &format!("{name}.norm"), &y)?
                } else {
                    y
                };
                let y = match m.activation {
                    Activation::Relu => g.op("Relu", &[&y], vec![]),
                    Activation::Gelu => g.gelu(&y),
                    Activation::Silu => {
                        let s = g.op("Sigmoid", &[&y], vec![]);
                        g.op("Mul", &[&y, &s], vec![])
                    }
                };
                h = if m.residual {
                    let skip = if p.has(&format!("{name}.skip.weight")) {
                        p.linear(&mut g, &format!("{name}.skip"), &h)?
                    } else {
                        h
                    };
                    g.op("Add", &[&y, &skip], vec![])
                } else {
                    y
                };
            }
            h
        }
        BackboneConfig::Lstm(r) | BackboneConfig::Gru(r) => {
            let lstm = matches!(cfg.backbone, BackboneConfig::Lstm(_));
            recurrent_step(
                &mut g,
                &p,
                x,
                lstm,
                r.num_layers.max(1),
                r.hidden_size,
                r.window_size.max(1),
                r.pooling,
                &mut state,
            )?
        }
        other => {
            return Err(format!(
                "{} policies cannot be exported to ONNX yet: their step state (a rotary \
                 key/value cache or a Mamba scan) is not written as graph inputs; LSTM, GRU and \
                 MLP policies can",
                other.name()
            ))
        }
    };
    // The head: buttons, then each class component on the stream.
    let head_dims = |n: usize| vec![batch(), Dim::Fixed(n)];
    let mut outputs = Vec::new();
    let b = p.linear(&mut g, "head.buttons", &h)?;
    g.output("buttons_logits", &b, Elem::F32, head_dims(NUM_BUTTONS));
    outputs.push("buttons_logits".to_string());
    let mut stream = h.clone();
    if let Some((buttons, _)) = &teacher {
        let e = p.linear(&mut g, "head.cond_buttons", buttons)?;
        stream = g.op("Add", &[&stream, &e], vec![]);
    }
    for (k, name) in CLASS_NAMES.iter().enumerate() {
        let logits = p.linear(&mut g, &format!("head.classes.{k}"), &stream)?;
        let out = format!("{name}_logits");
        g.output(&out, &logits, Elem::F32, head_dims(spec.classes[k]));
        outputs.push(out);
        if let (Some((_, classes)), true) = (&teacher, k < 4) {
            let (shape, table) = p.get(&format!("head.cond_classes.{k}.weight"))?;
            let t = g.constant_f32(&format!("cond_{name}"), shape, table);
            let idx = clamp_ids(&mut g, &classes[k], shape[0]);
            let e = g.op("Gather", &[&t, &idx], vec![("axis", Attr::Int(0))]);
            stream = g.op("Add", &[&stream, &e], vec![]);
        }
    }
    // The value head.
    let v = if p.has("value.hidden.weight") {
        let v = p.linear(&mut g, "value.hidden", &h)?;
        g.gelu(&v)
    } else {
        h
    };
    let v = p.linear(&mut g, "value.out", &v)?;
    let flat = g.constant_i64("value_shape", &[1], &[-1]);
    let v = g.op("Reshape", &[&v, &flat], vec![]);
    g.output("value", &v, Elem::F32, vec![batch()]);
    outputs.push("value".into());
    outputs.extend(state.iter().map(|s| s.output.clone()));
    let metadata = vec![
        (
            "exphil.policy".to_string(),
            serde_json::to_string(cfg).unwrap_or_default(),
        ),
        (
            "exphil.spec".to_string(),
            serde_json::to_string(spec).unwrap_or_default(),
        ),
        (
            "exphil.embed".to_string(),
            serde_json::to_string(&loaded.embed).unwrap_or_default(),
        ),
        (
            "exphil.targets".to_string(),
            serde_json::to_string(&loaded.targets).unwrap_or_default(),
        ),
        (
            "exphil.button_log_weight".to_string(),
            serde_json::to_string(&loaded.policy.button_offsets()).unwrap_or_default(),
        ),
        (
            "exphil.frame_delay".to_string(),
            loaded.frame_delay().to_string(),
        ),
        ("exphil.name".to_string(), loaded.name()),
    ];
    Ok(OnnxExport {
        model: Model {
            graph: g,
            opset: OPSET,
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc: format!(
                "exphil policy {} ({}); teacher-forced head: see exphil's README, section ONNX",
                loaded.name(),
                cfg.backbone.describe()
            ),
            metadata,
        },
        autoregressive: ar,
        state,
        outputs,
    })
}

/// Ids clamped into `0..vocab` (exphil clamps larger ids to a table's last row).
fn clamp_ids(g: &mut Graph, ids: &str, vocab: usize) -> String {
    let lo = g.constant_i64("id_min", &[], &[0]);
    let hi = g.constant_i64("id_max", &[], &[vocab.saturating_sub(1) as i64]);
    let c = g.op("Max", &[ids, &lo], vec![]);
    g.op("Min", &[&c, &hi], vec![])
}

/// The trunk's input: the features, then each id group's columns embedded and flattened.
fn trunk_input(
    g: &mut Graph,
    p: &Params,
    spec: &InputSpec,
    features: &str,
    ids: &str,
) -> Result<String, String> {
    let mut parts = vec![features.to_string()];
    for (k, group) in spec.id_groups.iter().enumerate() {
        let (shape, table) = p.get(&format!("id_tables.{k}.weight"))?;
        let t = g.constant_f32(&format!("table_{}", group.kind), shape, table);
        let cols: Vec<i64> = group.columns.iter().map(|&c| c as i64).collect();
        let cols = g.constant_i64(&format!("columns_{}", group.kind), &[cols.len()], &cols);
        let picked = g.op("Gather", &[ids, &cols], vec![("axis", Attr::Int(1))]);
        let picked = clamp_ids(g, &picked, shape[0]);
        let e = g.op("Gather", &[&t, &picked], vec![("axis", Attr::Int(0))]);
        let flat = g.constant_i64("flat", &[2], &[0, (group.columns.len() * shape[1]) as i64]);
        parts.push(g.op("Reshape", &[&e, &flat], vec![]));
    }
    if parts.len() == 1 {
        return Ok(parts.pop().unwrap_or_default());
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(g.concat(&refs, 1))
}

/// A state input `{name}_in` and its declared output `{name}_out`, recorded in `state`.
fn state_input(g: &mut Graph, state: &mut Vec<StateSlot>, name: &str, dims: Vec<usize>) -> String {
    let input = format!("{name}_in");
    let d = std::iter::once(batch())
        .chain(dims.iter().map(|&d| Dim::Fixed(d)))
        .collect();
    g.input(&input, Elem::F32, d);
    state.push(StateSlot {
        input: input.clone(),
        output: format!("{name}_out"),
        dims,
    });
    input
}

/// Marks `value` as the output of state slot `slot`.
fn state_output(g: &mut Graph, slot: &StateSlot, value: &str) {
    let d = std::iter::once(batch())
        .chain(slot.dims.iter().map(|&d| Dim::Fixed(d)))
        .collect();
    g.output(&slot.output, value, Elem::F32, d);
}

/// One step of an LSTM or GRU trunk (plain or residual blocks) and its pooling.
#[allow(clippy::too_many_arguments)]
fn recurrent_step(
    g: &mut Graph,
    p: &Params,
    x: String,
    lstm: bool,
    layers: usize,
    hidden: usize,
    window: usize,
    pooling: Pooling,
    state: &mut Vec<StateSlot>,
) -> Result<String, String> {
    let mut x = if p.has("backbone.Temporal.input.weight") {
        p.linear(g, "backbone.Temporal.input", &x)?
    } else {
        x
    };
    for l in 0..layers {
        let base = format!("backbone.Temporal.layers.{l}.Recurrent");
        let cell = format!("{base}.cell.{}", if lstm { "Lstm" } else { "Gru" });
        let h_in = state_input(g, state, &format!("h_{l}"), vec![hidden]);
        let h_slot = state.len() - 1;
        let c_in = if lstm {
            state_input(g, state, &format!("c_{l}"), vec![hidden])
        } else {
            String::new()
        };
        let residual = p.has(&format!("{base}.norm.gamma"));
        let cell_in = if residual {
            p.layer_norm(g, &format!("{base}.norm"), &x)?
        } else {
            x.clone()
        };
        let xg = p.linear(g, &format!("{cell}.input"), &cell_in)?;
        let hg = p.linear(g, &format!("{cell}.hidden"), &h_in)?;
        let h = hidden as i64;
        let h_new = if lstm {
            let gates = g.op("Add", &[&xg, &hg], vec![]);
            let sg = g.op("Sigmoid", &[&gates], vec![]);
            let i = g.slice_last(&sg, 0, h);
            let f = g.slice_last(&sg, h, h);
            let o = g.slice_last(&sg, 3 * h, h);
            let cand = g.slice_last(&gates, 2 * h, h);
            let cand = g.op("Tanh", &[&cand], vec![]);
            let fc = g.op("Mul", &[&f, &c_in], vec![]);
            let ic = g.op("Mul", &[&i, &cand], vec![]);
            let c = g.op("Add", &[&fc, &ic], vec![]);
            let tc = g.op("Tanh", &[&c], vec![]);
            let h_new = g.op("Mul", &[&o, &tc], vec![]);
            let c_slot = state[h_slot + 1].clone();
            state_output(g, &c_slot, &c);
            h_new
        } else {
            let xrz = g.slice_last(&xg, 0, 2 * h);
            let hrz = g.slice_last(&hg, 0, 2 * h);
            let rz = g.op("Add", &[&xrz, &hrz], vec![]);
            let rz = g.op("Sigmoid", &[&rz], vec![]);
            let r = g.slice_last(&rz, 0, h);
            let z = g.slice_last(&rz, h, h);
            let xn = g.slice_last(&xg, 2 * h, h);
            let hn = g.slice_last(&hg, 2 * h, h);
            let rhn = g.op("Mul", &[&r, &hn], vec![]);
            let cand = g.op("Add", &[&xn, &rhn], vec![]);
            let cand = g.op("Tanh", &[&cand], vec![]);
            let d = g.op("Sub", &[&h_in, &cand], vec![]);
            let dz = g.op("Mul", &[&d, &z], vec![]);
            g.op("Add", &[&dz, &cand], vec![])
        };
        let h_slot = state[h_slot].clone();
        state_output(g, &h_slot, &h_new);
        x = if residual {
            let x1 = g.op("Add", &[&x, &h_new], vec![]);
            let n2 = p.layer_norm(g, &format!("{base}.ffn_norm"), &x1)?;
            let up = p.linear(g, &format!("{base}.ffn.up"), &n2)?;
            let up = g.gelu(&up);
            let down = p.linear(g, &format!("{base}.ffn.down"), &up)?;
            g.op("Add", &[&x1, &down], vec![])
        } else {
            h_new
        };
    }
    let o = if p.has("backbone.Temporal.norm.gamma") {
        p.layer_norm(g, "backbone.Temporal.norm", &x)?
    } else {
        x
    };
    let width = if p.has("backbone.Temporal.norm.gamma") {
        p.get("backbone.Temporal.norm.gamma")?.0[0]
    } else {
        hidden
    };
    if pooling == Pooling::Last {
        return Ok(o);
    }
    // Mean or weighted pooling over the last `window` outputs: a sliding buffer and a count.
    let w = window as i64;
    let buf_in = state_input(g, state, "pool", vec![window, width]);
    let buf_slot = state.len() - 1;
    let seen_in = state_input(g, state, "seen", vec![]);
    let seen_slot = state.len() - 1;
    let axis1 = g.constant_i64("axis1", &[1], &[1]);
    let o3 = g.op("Unsqueeze", &[&o, &axis1], vec![]);
    let buf = if window == 1 {
        o3
    } else {
        let starts = g.constant_i64("pool_start", &[1], &[1]);
        let ends = g.constant_i64("pool_end", &[1], &[w]);
        let old = g.op("Slice", &[&buf_in, &starts, &ends, &axis1], vec![]);
        g.concat(&[&old, &o3], 1)
    };
    let one = g.scalar_f32(1.0);
    let seen = g.op("Add", &[&seen_in, &one], vec![]);
    let wf = g.scalar_f32(window as f32);
    let valid = g.op("Min", &[&seen, &wf], vec![]);
    let valid2 = g.op("Unsqueeze", &[&valid, &axis1], vec![]);
    let pooled = match pooling {
        Pooling::Mean => {
            let sum = g.op(
                "ReduceSum",
                &[&buf, &axis1],
                vec![("keepdims", Attr::Int(0))],
            );
            g.op("Div", &[&sum, &valid2], vec![])
        }
        _ => {
            let score = p.linear(g, "backbone.Temporal.pool.score", &buf)?;
            let axis2 = g.constant_i64("axis2", &[1], &[2]);
            let score = g.op("Squeeze", &[&score, &axis2], vec![]);
            let (_, age) = p.get("backbone.Temporal.pool.age_bias")?;
            // Slot j holds the frame of age window-1-j.
            let bias: Vec<f32> = (0..window).map(|j| age[window - 1 - j]).collect();
            let bias = g.constant_f32("age_bias", &[1, window], &bias);
            let score = g.op("Add", &[&score, &bias], vec![]);
            // Slots j < window - valid are empty.
            let slots: Vec<f32> = (0..window).map(|j| j as f32).collect();
            let slots = g.constant_f32("slots", &[1, window], &slots);
            let first = g.op("Sub", &[&wf, &valid2], vec![]);
            let empty = g.op("Less", &[&slots, &first], vec![]);
            let masked = g.scalar_f32(MASKED);
            let zero = g.scalar_f32(0.0);
            let mask = g.op("Where", &[&empty, &masked, &zero], vec![]);
            let score = g.op("Add", &[&score, &mask], vec![]);
            let a = g.op("Softmax", &[&score], vec![("axis", Attr::Int(1))]);
            let a = g.op("Unsqueeze", &[&a, &axis2], vec![]);
            let weighted = g.op("Mul", &[&buf, &a], vec![]);
            g.op(
                "ReduceSum",
                &[&weighted, &axis1],
                vec![("keepdims", Attr::Int(0))],
            )
        }
    };
    let b = state[buf_slot].clone();
    state_output(g, &b, &buf);
    let s = state[seen_slot].clone();
    state_output(g, &s, &seen);
    Ok(pooled)
}
