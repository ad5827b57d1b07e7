//! The sample written beside a policy exported to ONNX: real rows from the run's validation
//! games under the graph's own input names, and exphil's outputs for them under the graph's
//! output names, so that any ONNX runtime can be checked against exphil.
//!
//! A single-frame policy's sample holds `n` rows (`[n, …]` arrays) spread over the games. A
//! step model's holds `T` consecutive frames of up to two games (`[T, g, …]` arrays, one
//! leading step axis), its state inputs at their start (zeros, `[g, …]`), and exphil's outputs
//! of every step; replaying it means running the graph `T` times, each step's `…_out` fed back
//! as the next step's `…_in`.

use crate::error::RunError;
use crate::eval::{sequences_of_replay, Sequence, SequenceOptions};
use burn::tensor::Device;
use exphil_dataset::npy::Dtype;
use exphil_embed::{NUM_BUTTONS, TARGET_COLUMNS};
use exphil_policy::file::LoadedPolicy;
use exphil_policy::onnx::{OnnxExport, CLASS_NAMES};
use exphil_policy::params::tensor_values;
use exphil_policy::{HeadLogits, PolicyInput, TargetBatch};
use exphil_runs::rundir::RunDir;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// One array of the sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleArray {
    /// The graph input or output it belongs to.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, little-endian, row-major.
    pub bytes: Vec<u8>,
}

impl SampleArray {
    fn f32(name: &str, shape: Vec<usize>, v: &[f32]) -> SampleArray {
        SampleArray {
            name: name.into(),
            dtype: Dtype::F32,
            shape,
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    fn i64(name: &str, shape: Vec<usize>, v: &[i64]) -> SampleArray {
        SampleArray {
            name: name.into(),
            dtype: Dtype::I64,
            shape,
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// The games a sample was drawn from.
#[derive(Clone, Debug, Default)]
pub struct SampleSource {
    /// The replay files.
    pub files: Vec<String>,
    /// Whether they are the run's validation games (false when the run recorded none).
    pub validation: bool,
}

/// The run's validation games among `files` (decoded as the policy reads them), at most
/// `max_games`; any games when the run recorded no game lists.
pub fn validation_sequences(
    loaded: &LoadedPolicy,
    files: &[PathBuf],
    max_games: usize,
) -> Result<(Vec<Sequence>, SampleSource), RunError> {
    let recorded = match loaded.run_dir.as_deref() {
        Some(d) => RunDir::new(d).read_games()?,
        None => None,
    };
    let validation: Option<BTreeSet<String>> = recorded.map(|g| g.validation.into_iter().collect());
    if validation.as_ref().is_some_and(BTreeSet::is_empty) {
        return Err(RunError::Refused(
            "the run recorded no validation games (trained with --val-split 0?): nothing to \
             sample from that it did not train on"
                .into(),
        ));
    }
    let embedder = exphil_embed::Embedder::new(loaded.embed.clone())?;
    let coder = exphil_embed::TargetCoder::new(loaded.targets.clone())?;
    let opts = SequenceOptions::for_policy(loaded, None).map_err(RunError::Refused)?;
    let filter = exphil_corpus::Filter::default();
    let mut out: Vec<Sequence> = Vec::new();
    let mut source = SampleSource {
        files: Vec::new(),
        validation: validation.is_some(),
    };
    for f in files {
        if out.len() >= max_games {
            break;
        }
        // A file that cannot be read is not a validation game of this run.
        let Ok(seqs) = sequences_of_replay(f, &embedder, &coder, &opts, &filter) else {
            continue;
        };
        for s in seqs {
            let wanted = validation
                .as_ref()
                .is_none_or(|v| v.contains(&s.content_hash));
            if wanted && !s.is_empty() && out.len() < max_games {
                if !source.files.contains(&s.source) {
                    source.files.push(s.source.clone());
                }
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        return Err(RunError::Refused(match &validation {
            Some(v) => format!(
                "none of the run's {} validation games is among the {} replay files given: \
                 point --replays at the folder it trained from",
                v.len(),
                files.len()
            ),
            None => format!(
                "none of the {} replay files given has a usable game",
                files.len()
            ),
        }));
    }
    Ok((out, source))
}

/// The sample of `export` for up to `rows` rows (single-frame policies) or steps (step
/// models) of `seqs`, with exphil's outputs computed on `device`.
pub fn sample(
    loaded: &LoadedPolicy,
    export: &OnnxExport,
    seqs: &[Sequence],
    rows: usize,
    device: &Device,
) -> Vec<SampleArray> {
    let spec = &loaded.spec;
    let (nf, ni) = (spec.features, spec.ids);
    if export.state.is_empty() {
        // Rows spread evenly over every frame of the games.
        let all: Vec<(usize, usize)> = seqs
            .iter()
            .enumerate()
            .flat_map(|(g, s)| (0..s.len()).map(move |i| (g, i)))
            .collect();
        let n = rows.min(all.len()).max(1);
        let picked: Vec<(usize, usize)> = (0..n).map(|k| all[k * all.len() / n]).collect();
        let mut f = Vec::with_capacity(n * nf);
        let mut ids = Vec::with_capacity(n * ni);
        let mut t = Vec::with_capacity(n * TARGET_COLUMNS);
        for &(g, i) in &picked {
            let s = &seqs[g];
            f.extend_from_slice(&s.features[i * nf..(i + 1) * nf]);
            ids.extend_from_slice(&s.ids[i * ni..(i + 1) * ni]);
            t.extend_from_slice(&s.targets[i * TARGET_COLUMNS..(i + 1) * TARGET_COLUMNS]);
        }
        let input = PolicyInput::new(spec, &f, &ids, n, device);
        let tb = TargetBatch::new(n, &t, device);
        let logits = loaded.policy.forward(&input, &tb);
        let values = tensor_values(&loaded.policy.values(&input));
        let mut out = inputs(export, vec![n], &f, &ids, &t, nf, ni);
        out.extend(outputs(vec![n], &[logits], &[values], spec.classes));
        return out;
    }
    // A step model: consecutive frames of up to two games in lock step.
    let g = seqs.len().min(2);
    let seqs = &seqs[..g];
    let steps = rows
        .min(seqs.iter().map(Sequence::len).min().unwrap_or(0))
        .max(1);
    let mut state = loaded.policy.initial_state(g, device);
    let (mut f, mut ids, mut t) = (Vec::new(), Vec::new(), Vec::new());
    let (mut logits, mut values) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    for i in 0..steps {
        let (mut fs, mut is, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        for s in seqs {
            fs.extend_from_slice(&s.features[i * nf..(i + 1) * nf]);
            is.extend_from_slice(&s.ids[i * ni..(i + 1) * ni]);
            ts.extend_from_slice(&s.targets[i * TARGET_COLUMNS..(i + 1) * TARGET_COLUMNS]);
        }
        let input = PolicyInput::new(spec, &fs, &is, g, device);
        let tb = TargetBatch::new(g, &ts, device);
        let (h, next) = loaded.policy.step_trunk(&input, state);
        state = next;
        values.push(tensor_values(&loaded.policy.value.forward(h.clone())));
        logits.push(loaded.policy.head.forward(h, tb.buttons, &tb.classes));
        f.extend(fs);
        ids.extend(is);
        t.extend(ts);
    }
    let mut out = inputs(export, vec![steps, g], &f, &ids, &t, nf, ni);
    for slot in &export.state {
        let shape: Vec<usize> = std::iter::once(g)
            .chain(slot.dims.iter().copied())
            .collect();
        let zeros = vec![0f32; shape.iter().product()];
        out.push(SampleArray::f32(&slot.input, shape, &zeros));
    }
    out.extend(outputs(vec![steps, g], &logits, &values, spec.classes));
    out
}

/// The graph's inputs for rows of features, ids and targets, with the leading dims `lead`.
fn inputs(
    export: &OnnxExport,
    lead: Vec<usize>,
    f: &[f32],
    ids: &[u32],
    targets: &[u16],
    nf: usize,
    ni: usize,
) -> Vec<SampleArray> {
    let with = |d: &[usize]| -> Vec<usize> { lead.iter().chain(d).copied().collect() };
    let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let mut out = vec![
        SampleArray::f32("features", with(&[nf]), f),
        SampleArray::i64("ids", with(&[ni]), &ids),
    ];
    if export.autoregressive {
        let rows: Vec<&[u16]> = targets.chunks_exact(TARGET_COLUMNS).collect();
        let bits: Vec<f32> = rows
            .iter()
            .flat_map(|r| (0..NUM_BUTTONS).map(move |b| f32::from((r[0] >> b) & 1)))
            .collect();
        out.push(SampleArray::f32("buttons", with(&[NUM_BUTTONS]), &bits));
        for (k, name) in CLASS_NAMES[..4].iter().enumerate() {
            let c: Vec<i64> = rows.iter().map(|r| i64::from(r[k + 1])).collect();
            out.push(SampleArray::i64(name, with(&[]), &c));
        }
    }
    out
}

/// exphil's outputs, stacked over steps, with the leading dims `lead`.
fn outputs(
    lead: Vec<usize>,
    logits: &[HeadLogits],
    values: &[Vec<f32>],
    classes: [usize; 5],
) -> Vec<SampleArray> {
    let with = |d: &[usize]| -> Vec<usize> { lead.iter().chain(d).copied().collect() };
    let cat =
        |f: &dyn Fn(&HeadLogits) -> Vec<f32>| -> Vec<f32> { logits.iter().flat_map(f).collect() };
    let mut out = vec![SampleArray::f32(
        "buttons_logits",
        with(&[NUM_BUTTONS]),
        &cat(&|l| tensor_values(&l.buttons)),
    )];
    for (k, name) in CLASS_NAMES.iter().enumerate() {
        out.push(SampleArray::f32(
            &format!("{name}_logits"),
            with(&[classes[k]]),
            &cat(&|l| tensor_values(&l.classes[k])),
        ));
    }
    let v: Vec<f32> = values.iter().flatten().copied().collect();
    out.push(SampleArray::f32("value", with(&[]), &v));
    out
}
