//! Teacher-forced evaluation of a trained policy on games it did not train on.
//!
//! Every frame of every evaluated game (from each learning player's perspective) is fed to the
//! policy as it was trained: an MLP frame by frame, a temporal policy either stepped through the
//! game with its state carried (as it plays; the default) or over windows ending at each frame
//! (as it trained). The autoregressive head is teacher-forced: each component is predicted
//! given the true earlier components, so the summed negative log-likelihood is that of the
//! whole controller.
//!
//! Each metric comes with two baselines computed on the same frames: the **majority** class
//! (its likelihood is the class frequencies of these frames) and **repeat** the previous
//! frame's input (the controller at rest before a game's first frame; its likelihood puts
//! `1 − ε` on the previous class and spreads `ε` by the class frequencies, `ε` being the share
//! of frames whose input changed). Players hold inputs for many frames, so repeat is strong.

use burn::tensor::Device;
use exphil_dataset::{game_examples, target_row, ExampleConfig, Perspective};
use exphil_embed::TARGET_COLUMNS;
use exphil_embed::{Embedder, TargetCoder, NUM_BUTTONS};
use exphil_policy::file::LoadedPolicy;
use exphil_policy::loss::argmax;
use exphil_policy::{HeadLogits, Policy, PolicyInput, TargetBatch, COMPONENTS};
use exphil_state::{Controller, BUTTON_NAMES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Version of the evaluation report.
pub const EVAL_VERSION: u32 = 1;
/// The delay sweep's largest label offset.
pub const MAX_OFFSET: usize = 8;
/// Reliability bins.
pub const BINS: usize = 10;
/// Stick confusions listed per axis.
pub const TOP_CONFUSIONS: usize = 8;

/// How a temporal policy sees the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One frame at a time, no state (MLP policies).
    Frames,
    /// Stepped through each game with the state carried, as the policy plays.
    Step,
    /// A window of the training length ending at each frame, as the policy trained (the first
    /// `window − 1` frames of a game are not evaluated).
    Windows,
}

impl Mode {
    /// The mode for a policy: `requested`, else stepping for temporal policies and frames for
    /// an MLP. Windows or stepping for an MLP are the same as frames.
    pub fn for_policy(policy: &Policy, requested: Option<Mode>) -> Mode {
        if policy.backbone.window() <= 1 {
            return Mode::Frames;
        }
        match requested {
            Some(Mode::Windows) => Mode::Windows,
            _ => Mode::Step,
        }
    }
}

/// One game from one player's perspective, embedded.
#[derive(Clone, Debug, Default)]
pub struct Sequence {
    /// The replay file.
    pub source: String,
    /// Its content hash.
    pub content_hash: String,
    /// The learning player's character.
    pub character: String,
    /// The stage.
    pub stage: String,
    /// Frame id of each example.
    pub frame_ids: Vec<i32>,
    /// `n × spec.features`.
    pub features: Vec<f32>,
    /// `n × spec.ids`.
    pub ids: Vec<u32>,
    /// `n × 6` target columns.
    pub targets: Vec<u16>,
}

impl Sequence {
    /// Examples.
    pub fn len(&self) -> usize {
        self.frame_ids.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.frame_ids.is_empty()
    }
}

/// How replays become evaluation sequences.
#[derive(Clone, Debug)]
pub struct SequenceOptions {
    /// The delay between state and target (the policy's training delay by default).
    pub frame_delay: u8,
    /// Whose inputs are predicted.
    pub perspective: Perspective,
}

impl SequenceOptions {
    /// The options matching how `loaded` was trained (its perspective and fixed delay; with
    /// delay augmentation, the middle of its range), with `frame_delay` overriding the delay.
    pub fn for_policy(
        loaded: &LoadedPolicy,
        frame_delay: Option<u8>,
    ) -> Result<SequenceOptions, String> {
        let data = loaded.data.clone().unwrap_or_default();
        let cfg = crate::data::build_config(&data, 0).map_err(|e| e.to_string())?;
        let trained = if data.frame_delay_augment {
            ((u16::from(data.frame_delay_min) + u16::from(data.frame_delay_max)) / 2) as u8
        } else {
            data.frame_delay
        };
        Ok(SequenceOptions {
            frame_delay: frame_delay.unwrap_or(trained),
            perspective: cfg.examples.perspective,
        })
    }
}

/// The sequences of one decoded replay (one per learning player), or why there are none.
pub fn sequences_of_replay(
    path: &Path,
    embedder: &Embedder,
    coder: &TargetCoder,
    opts: &SequenceOptions,
    filter: &exphil_corpus::Filter,
) -> Result<Vec<Sequence>, String> {
    let bytes = exphil_replay::read_bytes(path).map_err(|e| e.to_string())?;
    let game = exphil_replay::read(&bytes, exphil_replay::DecodeOptions::default())
        .map_err(|e| e.to_string())?;
    let info = exphil_corpus::summarize_game(path, &bytes, &game);
    drop(bytes);
    filter.check(&info).map_err(|r| r.to_string())?;
    let cfg = ExampleConfig {
        perspective: opts.perspective.clone(),
        frame_delay: opts.frame_delay,
        delay_augment: None,
        mirror: false,
        noise: None,
        seed: 0,
    };
    let per_port = game_examples(&game, embedder, coder, &cfg).map_err(|e| e.to_string())?;
    Ok(per_port
        .into_iter()
        .filter(|ex| !ex.is_empty())
        .map(|ex| Sequence {
            source: path.display().to_string(),
            content_hash: info.content_hash.clone(),
            character: info
                .players
                .iter()
                .find(|p| p.port == ex.port)
                .map_or_else(|| "unknown".into(), |p| p.character_name.clone()),
            stage: info.stage_name.clone(),
            targets: ex.targets.iter().flat_map(target_row).collect(),
            frame_ids: ex.frame_ids,
            features: ex.features,
            ids: ex.ids,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Running the policy

/// Per-frame probabilities of one sequence: frames before `start` were not evaluated.
#[derive(Clone, Debug, Default)]
pub struct Probs {
    /// First evaluated frame.
    pub start: usize,
    /// `n × 8` press probabilities.
    pub buttons: Vec<f32>,
    /// `n × classes` probabilities of each class component.
    pub classes: [Vec<f32>; 5],
}

fn host(t: &burn::tensor::Tensor<2>) -> Vec<f32> {
    let d = t.to_data().convert::<f32>();
    d.as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default()
}

/// Appends the probabilities of `logits` (rows in order) to `out`.
fn push_probs(logits: &HeadLogits, offsets: &[f32; NUM_BUTTONS], out: &mut Probs, keep: &[bool]) {
    let b = host(&logits.buttons);
    for (r, row) in b.chunks_exact(NUM_BUTTONS).enumerate() {
        if !keep[r] {
            continue;
        }
        for (k, z) in row.iter().enumerate() {
            let x = f64::from(z - offsets[k]);
            out.buttons.push((1.0 / (1.0 + (-x).exp())) as f32);
        }
    }
    for (k, z) in logits.classes.iter().enumerate() {
        let c = z.dims()[1];
        let v = host(z);
        for (r, row) in v.chunks_exact(c.max(1)).enumerate() {
            if !keep[r] {
                continue;
            }
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|x| f64::from(x - m).exp()).collect();
            let s: f64 = e.iter().sum();
            out.classes[k].extend(e.iter().map(|x| (x / s) as f32));
        }
    }
}

/// Rows per forward pass.
const CHUNK: usize = 1024;
/// Windows per forward pass.
const WINDOW_CHUNK: usize = 64;

/// The probabilities of every frame of `seqs` under `policy` in `mode`.
pub fn run_policy(
    policy: &Policy,
    spec: &exphil_policy::InputSpec,
    seqs: &[Sequence],
    mode: Mode,
    device: &Device,
) -> Vec<Probs> {
    let offsets = policy.button_offsets();
    let (nf, ni) = (spec.features, spec.ids);
    match mode {
        Mode::Frames => seqs
            .iter()
            .map(|s| {
                let mut p = Probs::default();
                let n = s.len();
                let mut i = 0;
                while i < n {
                    let rows = CHUNK.min(n - i);
                    let input = PolicyInput::new(
                        spec,
                        &s.features[i * nf..(i + rows) * nf],
                        &s.ids[i * ni..(i + rows) * ni],
                        rows,
                        device,
                    );
                    let t = TargetBatch::new(
                        rows,
                        &s.targets[i * TARGET_COLUMNS..(i + rows) * TARGET_COLUMNS],
                        device,
                    );
                    let logits = policy.forward(&input, &t);
                    push_probs(&logits, &offsets, &mut p, &vec![true; rows]);
                    i += rows;
                }
                p
            })
            .collect(),
        Mode::Windows => {
            let w = policy.backbone.window();
            seqs.iter()
                .map(|s| {
                    let n = s.len();
                    let start = (w - 1).min(n);
                    let mut p = Probs {
                        start,
                        ..Probs::default()
                    };
                    let mut end = start;
                    while end < n {
                        let count = WINDOW_CHUNK.min(n - end);
                        let mut f = Vec::with_capacity(count * w * nf);
                        let mut ids = Vec::with_capacity(count * w * ni);
                        let mut t = Vec::with_capacity(count * TARGET_COLUMNS);
                        for e in end..end + count {
                            let a = e + 1 - w;
                            f.extend_from_slice(&s.features[a * nf..(e + 1) * nf]);
                            ids.extend_from_slice(&s.ids[a * ni..(e + 1) * ni]);
                            t.extend_from_slice(
                                &s.targets[e * TARGET_COLUMNS..(e + 1) * TARGET_COLUMNS],
                            );
                        }
                        let input = PolicyInput::new(spec, &f, &ids, count * w, device).windows(w);
                        let tb = TargetBatch::new(count, &t, device);
                        let logits = policy.forward(&input, &tb);
                        push_probs(&logits, &offsets, &mut p, &vec![true; count]);
                        end += count;
                    }
                    p
                })
                .collect()
        }
        Mode::Step => {
            // All sequences in lock step, one row each; a finished one repeats its last frame
            // (its outputs are dropped).
            let g = seqs.len();
            let mut out = vec![Probs::default(); g];
            if g == 0 {
                return out;
            }
            let longest = seqs.iter().map(Sequence::len).max().unwrap_or(0);
            let mut state = policy.initial_state(g, device);
            for t in 0..longest {
                let mut f = Vec::with_capacity(g * nf);
                let mut ids = Vec::with_capacity(g * ni);
                let mut tg = Vec::with_capacity(g * TARGET_COLUMNS);
                let mut keep = Vec::with_capacity(g);
                for s in seqs {
                    let i = t.min(s.len().saturating_sub(1));
                    keep.push(t < s.len());
                    if s.is_empty() {
                        f.extend(std::iter::repeat_n(0.0, nf));
                        ids.extend(std::iter::repeat_n(0, ni));
                        tg.extend([0u16; TARGET_COLUMNS]);
                        continue;
                    }
                    f.extend_from_slice(&s.features[i * nf..(i + 1) * nf]);
                    ids.extend_from_slice(&s.ids[i * ni..(i + 1) * ni]);
                    tg.extend_from_slice(&s.targets[i * TARGET_COLUMNS..(i + 1) * TARGET_COLUMNS]);
                }
                let input = PolicyInput::new(spec, &f, &ids, g, device);
                let tb = TargetBatch::new(g, &tg, device);
                let (h, next) = policy.step_trunk(&input, state);
                state = next;
                let logits = policy.head.forward(h, tb.buttons, &tb.classes);
                // Rows go to their own sequence.
                let mut one = Probs::default();
                push_probs(&logits, &offsets, &mut one, &vec![true; g]);
                for (r, o) in out.iter_mut().enumerate() {
                    if !keep[r] {
                        continue;
                    }
                    o.buttons
                        .extend_from_slice(&one.buttons[r * NUM_BUTTONS..(r + 1) * NUM_BUTTONS]);
                    for k in 0..5 {
                        let c = spec.classes[k];
                        o.classes[k].extend_from_slice(&one.classes[k][r * c..(r + 1) * c]);
                    }
                }
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

#[derive(Clone, Debug, Default)]
struct Bins {
    count: [u64; BINS],
    conf: [f64; BINS],
    correct: [f64; BINS],
}

impl Bins {
    fn add(&mut self, conf: f64, correct: bool) {
        let b = ((conf * BINS as f64) as usize).min(BINS - 1);
        self.count[b] += 1;
        self.conf[b] += conf;
        self.correct[b] += f64::from(u8::from(correct));
    }

    fn report(&self) -> (f64, Vec<ReliabilityBin>) {
        let total: u64 = self.count.iter().sum();
        let mut ece = 0.0;
        let mut bins = Vec::new();
        for b in 0..BINS {
            let n = self.count[b];
            if n == 0 {
                continue;
            }
            let conf = self.conf[b] / n as f64;
            let acc = self.correct[b] / n as f64;
            ece += n as f64 / total.max(1) as f64 * (acc - conf).abs();
            bins.push(ReliabilityBin {
                low: b as f64 / BINS as f64,
                high: (b + 1) as f64 / BINS as f64,
                count: n,
                confidence: conf,
                accuracy: acc,
            });
        }
        (ece, bins)
    }
}

/// Counts for the baselines of one categorical variable: label counts, and label counts split
/// by whether the label equals the previous frame's.
#[derive(Clone, Debug, Default)]
struct BaselineCounts {
    label: Vec<u64>,
    stay: Vec<u64>,
    moved: Vec<u64>,
}

impl BaselineCounts {
    fn new(classes: usize) -> BaselineCounts {
        BaselineCounts {
            label: vec![0; classes],
            stay: vec![0; classes],
            moved: vec![0; classes],
        }
    }

    fn add(&mut self, label: usize, prev: usize) {
        let c = label.min(self.label.len() - 1);
        self.label[c] += 1;
        if label == prev {
            self.stay[c] += 1;
        } else {
            self.moved[c] += 1;
        }
    }

    fn n(&self) -> u64 {
        self.label.iter().sum()
    }

    /// Mean NLL of the class frequencies.
    fn majority_nll(&self) -> f64 {
        let n = self.n().max(1) as f64;
        -self
            .label
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| c as f64 * (c as f64 / n).ln())
            .sum::<f64>()
            / n
    }

    fn majority_accuracy(&self) -> f64 {
        *self.label.iter().max().unwrap_or(&0) as f64 / self.n().max(1) as f64
    }

    fn majority_top3(&self) -> f64 {
        let mut v = self.label.clone();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.iter().take(3).sum::<u64>() as f64 / self.n().max(1) as f64
    }

    fn repeat_accuracy(&self) -> f64 {
        self.stay.iter().sum::<u64>() as f64 / self.n().max(1) as f64
    }

    /// Mean NLL of "previous class with probability 1 − ε, else the class frequencies".
    fn repeat_nll(&self) -> f64 {
        let n = self.n().max(1) as f64;
        let eps = self.moved.iter().sum::<u64>() as f64 / n;
        let mut s = 0.0;
        for c in 0..self.label.len() {
            let m = self.label[c] as f64 / n;
            if self.stay[c] > 0 {
                s += self.stay[c] as f64 * ((1.0 - eps) + eps * m).ln();
            }
            if self.moved[c] > 0 {
                s += self.moved[c] as f64 * (eps * m).ln();
            }
        }
        -s / n
    }
}

#[derive(Clone, Debug, Default)]
struct ClassStats {
    n: u64,
    nll: f64,
    correct: u64,
    top3: u64,
    conf: f64,
    entropy: f64,
    bins: Bins,
    /// `predicted * classes + actual`.
    confusion: Vec<u64>,
    predicted: Vec<u64>,
    base: BaselineCounts,
    /// Frames whose label differs from the previous frame's, and those predicted right.
    changed: u64,
    changed_correct: u64,
}

#[derive(Clone, Debug, Default)]
struct ButtonStats {
    n: u64,
    vec_correct: u64,
    nll: f64,
    conf: f64,
    entropy: f64,
    bins: Bins,
    tp: [u64; NUM_BUTTONS],
    fp: [u64; NUM_BUTTONS],
    fn_: [u64; NUM_BUTTONS],
    prob: [f64; NUM_BUTTONS],
    bits: Vec<BaselineCounts>,
    vectors: BaselineCounts,
    /// Frames whose button vector differs from the previous frame's, and those predicted right.
    changed: u64,
    changed_correct: u64,
}

#[derive(Clone, Debug, Default)]
struct GroupStats {
    frames: u64,
    nll: [f64; TARGET_COLUMNS],
    correct: [u64; TARGET_COLUMNS],
    repeat: [u64; TARGET_COLUMNS],
}

/// Accumulates the statistics of evaluated sequences.
pub struct Evaluator {
    classes: [usize; 5],
    neutral: [u16; TARGET_COLUMNS],
    buttons: ButtonStats,
    comps: Vec<ClassStats>,
    groups_char: BTreeMap<String, GroupStats>,
    groups_stage: BTreeMap<String, GroupStats>,
    agree: [[u64; TARGET_COLUMNS]; MAX_OFFSET + 1],
    agree_n: [u64; MAX_OFFSET + 1],
    games: std::collections::BTreeSet<String>,
    sequences: usize,
    seconds: f64,
    /// Score only targets of frames from this one on (`None`: every frame).
    from_frame: Option<i32>,
}

fn ln(p: f64) -> f64 {
    p.max(1e-12).ln()
}

impl Evaluator {
    /// An empty evaluator for heads of `classes` classes, with `coder` giving the controller
    /// at rest (the repeat baseline's "previous" input before a game's first frame).
    pub fn new(classes: [usize; 5], coder: &TargetCoder) -> Evaluator {
        let neutral = target_row(&coder.encode(&Controller::NEUTRAL));
        Evaluator {
            classes,
            neutral,
            buttons: ButtonStats {
                bits: (0..NUM_BUTTONS).map(|_| BaselineCounts::new(2)).collect(),
                vectors: BaselineCounts::new(256),
                ..ButtonStats::default()
            },
            comps: classes
                .iter()
                .map(|&c| ClassStats {
                    confusion: vec![0; c * c],
                    predicted: vec![0; c],
                    base: BaselineCounts::new(c),
                    ..ClassStats::default()
                })
                .collect(),
            groups_char: BTreeMap::new(),
            groups_stage: BTreeMap::new(),
            agree: [[0; TARGET_COLUMNS]; MAX_OFFSET + 1],
            agree_n: [0; MAX_OFFSET + 1],
            games: Default::default(),
            sequences: 0,
            seconds: 0.0,
            from_frame: None,
        }
    }

    /// This evaluator scoring only the targets of frames `from` and later (a temporal policy
    /// still steps through the frames before them, as at play).
    pub fn from_frame(mut self, from: Option<i32>) -> Evaluator {
        self.from_frame = from;
        self
    }

    /// Adds time spent running the policy (for the per-frame inference time).
    pub fn add_seconds(&mut self, s: f64) {
        self.seconds += s;
    }

    /// Frames evaluated so far.
    pub fn frames(&self) -> u64 {
        self.buttons.n
    }

    /// Adds one sequence and its probabilities.
    pub fn add(&mut self, seq: &Sequence, probs: &Probs) {
        let n = seq.len();
        let start = probs.start.min(n);
        let m = n - start;
        if m == 0 {
            return;
        }
        let row = |t: usize| &seq.targets[t * TARGET_COLUMNS..t * TARGET_COLUMNS + TARGET_COLUMNS];
        let mut preds: Vec<[u16; TARGET_COLUMNS]> = Vec::with_capacity(m);
        let mut ch = self.groups_char.remove(&seq.character).unwrap_or_default();
        let mut st = self.groups_stage.remove(&seq.stage).unwrap_or_default();
        let from = self.from_frame;
        let scored = |t: usize| from.is_none_or(|f| seq.frame_ids[t] >= f);
        if !(start..n).any(scored) {
            return;
        }
        self.sequences += 1;
        self.games.insert(seq.content_hash.clone());
        for (j, t) in (start..n).enumerate() {
            if !scored(t) {
                preds.push([u16::MAX; TARGET_COLUMNS]);
                continue;
            }
            let y = row(t);
            let prev: [u16; TARGET_COLUMNS] =
                if t > 0 && seq.frame_ids[t - 1] == seq.frame_ids[t] - 1 {
                    row(t - 1).try_into().unwrap_or(self.neutral)
                } else {
                    self.neutral
                };
            let mut pred = [0u16; TARGET_COLUMNS];
            let mut nll = [0f64; TARGET_COLUMNS];
            // Buttons.
            let b = &mut self.buttons;
            b.n += 1;
            let p = &probs.buttons[j * NUM_BUTTONS..(j + 1) * NUM_BUTTONS];
            let mut vec_pred = 0u16;
            for (k, &pk) in p.iter().enumerate() {
                let pk = f64::from(pk).clamp(0.0, 1.0);
                let yk = (y[0] >> k) & 1 == 1;
                let predk = pk > 0.5;
                if predk {
                    vec_pred |= 1 << k;
                }
                nll[0] -= if yk { ln(pk) } else { ln(1.0 - pk) };
                let conf = pk.max(1.0 - pk);
                b.conf += conf / NUM_BUTTONS as f64;
                b.entropy -= if pk > 0.0 && pk < 1.0 {
                    pk * pk.ln() + (1.0 - pk) * (1.0 - pk).ln()
                } else {
                    0.0
                };
                b.bins.add(conf, predk == yk);
                b.prob[k] += pk;
                match (predk, yk) {
                    (true, true) => b.tp[k] += 1,
                    (true, false) => b.fp[k] += 1,
                    (false, true) => b.fn_[k] += 1,
                    _ => {}
                }
                b.bits[k].add(usize::from(yk), usize::from((prev[0] >> k) & 1 == 1));
            }
            let yv = y[0] & 0xff;
            b.vectors.add(usize::from(yv), usize::from(prev[0] & 0xff));
            if vec_pred == yv {
                b.vec_correct += 1;
            }
            if yv != prev[0] & 0xff {
                b.changed += 1;
                b.changed_correct += u64::from(vec_pred == yv);
            }
            b.nll += nll[0];
            pred[0] = vec_pred;
            // Class components.
            for k in 0..5 {
                let c = self.classes[k];
                let s = &mut self.comps[k];
                let pr = &probs.classes[k][j * c..(j + 1) * c];
                let label = usize::from(y[k + 1]).min(c - 1);
                let arg = argmax(pr);
                let py = f64::from(pr[label]);
                nll[k + 1] = -ln(py);
                s.n += 1;
                s.nll += nll[k + 1];
                s.correct += u64::from(arg == label);
                let rank = pr.iter().filter(|&&q| q > pr[label]).count();
                s.top3 += u64::from(rank < 3);
                let conf = f64::from(pr[arg]);
                s.conf += conf;
                s.entropy -= pr
                    .iter()
                    .filter(|&&q| q > 0.0)
                    .map(|&q| f64::from(q) * f64::from(q).ln())
                    .sum::<f64>();
                s.bins.add(conf, arg == label);
                s.confusion[arg * c + label] += 1;
                s.predicted[arg] += 1;
                s.base.add(label, usize::from(prev[k + 1]));
                if label != usize::from(prev[k + 1]) {
                    s.changed += 1;
                    s.changed_correct += u64::from(arg == label);
                }
                pred[k + 1] = arg as u16;
            }
            for g in [&mut ch, &mut st] {
                g.frames += 1;
                for k in 0..TARGET_COLUMNS {
                    g.nll[k] += nll[k];
                    let yk = if k == 0 { y[0] & 0xff } else { y[k] };
                    let pk = if k == 0 { prev[0] & 0xff } else { prev[k] };
                    g.correct[k] += u64::from(pred[k] == yk);
                    g.repeat[k] += u64::from(pk == yk);
                }
            }
            preds.push(pred);
        }
        self.groups_char.insert(seq.character.clone(), ch);
        self.groups_stage.insert(seq.stage.clone(), st);
        // Delay sweep: the prediction at t against the label at t + d.
        for d in 0..=MAX_OFFSET {
            for (j, pred) in preds.iter().enumerate() {
                if pred[0] == u16::MAX {
                    continue;
                }
                let (t, u) = (start + j, start + j + d);
                if u >= n || seq.frame_ids[u] != seq.frame_ids[t] + d as i32 {
                    continue;
                }
                self.agree_n[d] += 1;
                let y = row(u);
                for k in 0..TARGET_COLUMNS {
                    let yk = if k == 0 { y[0] & 0xff } else { y[k] };
                    self.agree[d][k] += u64::from(pred[k] == yk);
                }
            }
        }
    }

    /// The report (`values[k]`: the stick value of each class of component `k + 1`).
    pub fn finish(&self, values: &[Vec<f32>; 5], step: Option<StepLatency>) -> Metrics {
        let b = &self.buttons;
        let nb = b.n.max(1) as f64;
        let bit_sum = |f: &dyn Fn(&BaselineCounts) -> f64| b.bits.iter().map(f).sum::<f64>();
        let (ece, reliability) = b.bins.report();
        let mut components = vec![ComponentReport {
            name: "buttons".into(),
            classes: 256,
            nll: b.nll / nb,
            accuracy: b.vec_correct as f64 / nb,
            top3: None,
            confidence: b.conf / nb,
            entropy: b.entropy / nb,
            uniform_entropy: NUM_BUTTONS as f64 * std::f64::consts::LN_2,
            ece,
            reliability,
            baselines: Baselines {
                majority: Baseline {
                    nll: bit_sum(&BaselineCounts::majority_nll),
                    accuracy: b.vectors.majority_accuracy(),
                    top3: None,
                },
                repeat: Baseline {
                    nll: bit_sum(&BaselineCounts::repeat_nll),
                    accuracy: b.vectors.repeat_accuracy(),
                    top3: None,
                },
            },
            confusions: Vec::new(),
            changed_frames: b.changed,
            changed_accuracy: b.changed_correct as f64 / b.changed.max(1) as f64,
        }];
        for (k, s) in self.comps.iter().enumerate() {
            let n = s.n.max(1) as f64;
            let c = self.classes[k];
            let (ece, reliability) = s.bins.report();
            let axis = k < 4;
            let errors: u64 = s.n - s.correct;
            let mut conf: Vec<Confusion> = Vec::new();
            for p in 0..c {
                for a in 0..c {
                    let count = s.confusion[p * c + a];
                    if p != a && count > 0 {
                        let v = |i: usize| values[k].get(i).copied().unwrap_or(f32::NAN);
                        conf.push(Confusion {
                            predicted: p,
                            actual: a,
                            predicted_value: v(p),
                            actual_value: v(a),
                            count,
                            share_of_errors: count as f64 / errors.max(1) as f64,
                        });
                    }
                }
            }
            conf.sort_by(|x, y| {
                y.count
                    .cmp(&x.count)
                    .then(x.predicted.cmp(&y.predicted))
                    .then(x.actual.cmp(&y.actual))
            });
            conf.truncate(if axis { TOP_CONFUSIONS } else { 3 });
            components.push(ComponentReport {
                name: COMPONENTS[k + 1].into(),
                classes: c,
                nll: s.nll / n,
                accuracy: s.correct as f64 / n,
                top3: axis.then(|| s.top3 as f64 / n),
                confidence: s.conf / n,
                entropy: s.entropy / n,
                uniform_entropy: (c as f64).ln(),
                ece,
                reliability,
                baselines: Baselines {
                    majority: Baseline {
                        nll: s.base.majority_nll(),
                        accuracy: s.base.majority_accuracy(),
                        top3: axis.then(|| s.base.majority_top3()),
                    },
                    repeat: Baseline {
                        nll: s.base.repeat_nll(),
                        accuracy: s.base.repeat_accuracy(),
                        top3: None,
                    },
                },
                confusions: conf,
                changed_frames: s.changed,
                changed_accuracy: s.changed_correct as f64 / s.changed.max(1) as f64,
            });
        }
        let buttons = (0..NUM_BUTTONS)
            .map(|k| {
                let (tp, fp, fn_) = (b.tp[k] as f64, b.fp[k] as f64, b.fn_[k] as f64);
                let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
                let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                let tn = nb - tp - fp - fn_;
                ButtonReport {
                    name: BUTTON_NAMES[k].into(),
                    accuracy: (tp + tn) / nb,
                    precision,
                    recall,
                    f1,
                    predicted_rate: (tp + fp) / nb,
                    mean_probability: b.prob[k] / nb,
                    true_rate: (tp + fn_) / nb,
                    majority_accuracy: b.bits[k].majority_accuracy(),
                    repeat_accuracy: b.bits[k].repeat_accuracy(),
                }
            })
            .collect();
        let delay_sweep: Vec<DelayPoint> = (0..=MAX_OFFSET)
            .map(|d| {
                let n = self.agree_n[d].max(1) as f64;
                let per: Vec<f64> = self.agree[d].iter().map(|&a| a as f64 / n).collect();
                DelayPoint {
                    offset: d,
                    frames: self.agree_n[d],
                    mean: per.iter().sum::<f64>() / 6.0,
                    agreement: COMPONENTS
                        .iter()
                        .zip(per)
                        .map(|(c, a)| ((*c).to_string(), a))
                        .collect(),
                }
            })
            .collect();
        let effective_delay = delay_sweep
            .iter()
            .filter(|p| p.frames > 0)
            .max_by(|a, b| a.mean.total_cmp(&b.mean).then(b.offset.cmp(&a.offset)))
            .map_or(0, |p| p.offset);
        let group = |m: &BTreeMap<String, GroupStats>| -> BTreeMap<String, GroupReport> {
            m.iter()
                .map(|(k, g)| {
                    let n = g.frames.max(1) as f64;
                    let per = |v: &[f64; TARGET_COLUMNS]| -> BTreeMap<String, f64> {
                        COMPONENTS
                            .iter()
                            .zip(v)
                            .map(|(c, x)| ((*c).to_string(), *x))
                            .collect()
                    };
                    (
                        k.clone(),
                        GroupReport {
                            frames: g.frames,
                            nll: g.nll.iter().sum::<f64>() / n,
                            components_nll: per(&g.nll.map(|x| x / n)),
                            accuracy: per(&g.correct.map(|x| x as f64 / n)),
                            repeat_accuracy: per(&g.repeat.map(|x| x as f64 / n)),
                        },
                    )
                })
                .collect()
        };
        let frames = self.buttons.n;
        Metrics {
            frames,
            games: self.games.len(),
            sequences: self.sequences,
            nll: components.iter().map(|c| c.nll).sum(),
            majority_nll: components.iter().map(|c| c.baselines.majority.nll).sum(),
            repeat_nll: components.iter().map(|c| c.baselines.repeat.nll).sum(),
            components,
            buttons,
            delay_sweep,
            effective_delay,
            inference: Inference {
                frames,
                seconds: self.seconds,
                ms_per_frame: if frames > 0 {
                    self.seconds * 1000.0 / frames as f64
                } else {
                    0.0
                },
                step,
            },
            by_character: group(&self.groups_char),
            by_stage: group(&self.groups_stage),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// One reliability bin: predictions whose confidence is in `[low, high)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Predictions in the bin.
    pub count: u64,
    /// Their mean confidence.
    pub confidence: f64,
    /// Their accuracy.
    pub accuracy: f64,
}

/// A baseline's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Mean negative log-likelihood (nats per frame).
    pub nll: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Top-3 accuracy (stick axes, where defined).
    pub top3: Option<f64>,
}

/// The two baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// The majority class (likelihood: the class frequencies).
    pub majority: Baseline,
    /// The previous frame's input.
    pub repeat: Baseline,
}

/// A frequent stick error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Predicted class.
    pub predicted: usize,
    /// True class.
    pub actual: usize,
    /// The predicted class's stick value (0..1, 0.5 centre).
    pub predicted_value: f32,
    /// The true class's stick value.
    pub actual_value: f32,
    /// Frames.
    pub count: u64,
    /// Share of this component's errors.
    pub share_of_errors: f64,
}

/// One controller component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentReport {
    /// `buttons`, `main_x`, ...
    pub name: String,
    /// Classes (256 button vectors for `buttons`).
    pub classes: usize,
    /// Mean negative log-likelihood (nats per frame; for buttons, summed over the 8 bits).
    pub nll: f64,
    /// Accuracy of the argmax (for buttons: the whole vector, each bit thresholded at 0.5).
    pub accuracy: f64,
    /// Top-3 accuracy (stick axes).
    pub top3: Option<f64>,
    /// Mean probability of the predicted class (buttons: per bit).
    pub confidence: f64,
    /// Mean entropy of the prediction (nats; buttons: summed over bits).
    pub entropy: f64,
    /// The entropy of a uniform prediction.
    pub uniform_entropy: f64,
    /// Expected calibration error over the reliability bins.
    pub ece: f64,
    /// Reliability bins (empty bins left out).
    pub reliability: Vec<ReliabilityBin>,
    /// The baselines on the same frames.
    pub baselines: Baselines,
    /// The most common errors (stick axes; shoulder's top 3).
    pub confusions: Vec<Confusion>,
    /// Frames whose label differs from the previous frame's (where repeating the last input
    /// is always wrong).
    #[serde(default)]
    pub changed_frames: u64,
    /// Accuracy on those frames.
    #[serde(default)]
    pub changed_accuracy: f64,
}

/// One button.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ButtonReport {
    /// `A`, `B`, ...
    pub name: String,
    /// Accuracy of the bit.
    pub accuracy: f64,
    /// Precision of presses.
    pub precision: f64,
    /// Recall of presses.
    pub recall: f64,
    /// F1 of presses.
    pub f1: f64,
    /// Share of frames predicted pressed.
    pub predicted_rate: f64,
    /// Mean predicted press probability.
    pub mean_probability: f64,
    /// Share of frames truly pressed.
    pub true_rate: f64,
    /// Accuracy of always predicting the bit's majority value.
    pub majority_accuracy: f64,
    /// Accuracy of repeating the previous frame's bit.
    pub repeat_accuracy: f64,
}

/// Agreement of the prediction at frame t with the label at t + offset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DelayPoint {
    /// The label offset in frames.
    pub offset: usize,
    /// Frames compared.
    pub frames: u64,
    /// Agreement per component.
    pub agreement: BTreeMap<String, f64>,
    /// The mean over components.
    pub mean: f64,
}

/// Batch-1 step latency (the cost of one decision at play).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLatency {
    /// Steps timed.
    pub steps: usize,
    /// Median, microseconds.
    pub median_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
}

/// Inference time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inference {
    /// Frames evaluated.
    pub frames: u64,
    /// Seconds spent in the policy (batched, as evaluated).
    pub seconds: f64,
    /// Milliseconds per frame, batched.
    pub ms_per_frame: f64,
    /// Batch-1 step latency.
    pub step: Option<StepLatency>,
}

/// A character's or stage's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// Frames.
    pub frames: u64,
    /// Total mean NLL.
    pub nll: f64,
    /// Mean NLL per component.
    pub components_nll: BTreeMap<String, f64>,
    /// Accuracy per component.
    pub accuracy: BTreeMap<String, f64>,
    /// The repeat baseline's accuracy per component.
    pub repeat_accuracy: BTreeMap<String, f64>,
}

/// Everything measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Frames evaluated.
    pub frames: u64,
    /// Distinct games.
    pub games: usize,
    /// Game perspectives (a game counts once per learning player).
    pub sequences: usize,
    /// Total mean NLL per frame (the sum over components): the headline figure.
    pub nll: f64,
    /// The majority baseline's total NLL.
    pub majority_nll: f64,
    /// The repeat baseline's total NLL.
    pub repeat_nll: f64,
    /// Per component.
    pub components: Vec<ComponentReport>,
    /// Per button.
    pub buttons: Vec<ButtonReport>,
    /// Agreement against label offsets 0..=8.
    pub delay_sweep: Vec<DelayPoint>,
    /// The offset where agreement peaks.
    pub effective_delay: usize,
    /// Inference time.
    pub inference: Inference,
    /// Per character of the learning player.
    pub by_character: BTreeMap<String, GroupReport>,
    /// Per stage.
    pub by_stage: BTreeMap<String, GroupReport>,
}

impl Metrics {
    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentReport> {
        self.components.iter().find(|c| c.name == name)
    }

    /// What the registry keeps: headline figures.
    pub fn summary(&self, created_at: &str, mode: Mode) -> serde_json::Value {
        serde_json::json!({
            "created_at": created_at,
            "mode": mode,
            "frames": self.frames,
            "games": self.games,
            "nll": self.nll,
            "majority_nll": self.majority_nll,
            "repeat_nll": self.repeat_nll,
            "accuracy": self.components.iter().map(|c| (c.name.clone(), c.accuracy)).collect::<BTreeMap<_, _>>(),
            "repeat_accuracy": self.components.iter().map(|c| (c.name.clone(), c.baselines.repeat.accuracy)).collect::<BTreeMap<_, _>>(),
            "changed_accuracy": self.components.iter().map(|c| (c.name.clone(), c.changed_accuracy)).collect::<BTreeMap<_, _>>(),
            "effective_delay": self.effective_delay,
            "ms_per_frame": self.inference.ms_per_frame,
        })
    }
}

/// Which policy was evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// The run's name.
    pub name: String,
    /// The weights file.
    pub model: String,
    /// The backbone's name.
    pub backbone: String,
    /// The architecture in words.
    pub description: String,
    /// Trainable parameters.
    pub params: usize,
}

/// Which data was evaluated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// A hash of the games evaluated and the evaluation settings (names `eval_<hash>.json`).
    pub hash: String,
    /// The replay folders or files given.
    pub replays: Vec<String>,
    /// Files found.
    pub files: usize,
    /// Files left out, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Games left out because the policy trained on them.
    pub excluded_training: usize,
    /// Games evaluated that the policy validated on during training.
    pub validation_games: usize,
    /// Whether the run's training games are known (`games.json`); when not, the evaluation
    /// may include games the policy trained on.
    pub training_games_known: bool,
    /// The frame delay: the decision after frame `t` is the input of frame `t + 1 + delay`.
    pub frame_delay: u8,
    /// Only the inputs of frames from this one on were scored (`None`: every frame).
    #[serde(default)]
    pub from_frame: Option<i32>,
}

/// An evaluation: `eval_<hash>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// [`EVAL_VERSION`].
    pub version: u32,
    /// When, RFC 3339 UTC.
    pub created_at: String,
    /// How a temporal policy saw the frames.
    pub mode: Mode,
    /// The policy.
    pub policy: PolicyInfo,
    /// The data.
    pub data: DataInfo,
    /// What the registry shows.
    pub summary: serde_json::Value,
    /// The figures.
    pub metrics: Metrics,
}

/// Batch-1 step latency of `policy`: `steps` timed steps after 20 untimed.
pub fn step_latency(loaded: &LoadedPolicy, steps: usize, device: &Device) -> StepLatency {
    let t = exphil_policy::sample::step_timings(
        &loaded.policy,
        &loaded.spec,
        1,
        20,
        steps,
        exphil_policy::sample::Timed::Step,
        device,
    );
    StepLatency {
        steps,
        median_us: exphil_policy::sample::quantile(&t, 0.5) * 1e6,
        p99_us: exphil_policy::sample::quantile(&t, 0.99) * 1e6,
    }
}

/// Evaluates `loaded` on `seqs` (a batch of games), adding to `ev`.
pub fn evaluate_batch(
    loaded: &LoadedPolicy,
    seqs: &[Sequence],
    mode: Mode,
    device: &Device,
    ev: &mut Evaluator,
) {
    let t0 = Instant::now();
    let probs = run_policy(&loaded.policy, &loaded.spec, seqs, mode, device);
    ev.add_seconds(t0.elapsed().as_secs_f64());
    for (s, p) in seqs.iter().zip(&probs) {
        ev.add(s, p);
    }
}

/// The stick value of each class of each class component.
pub fn class_values(coder: &TargetCoder) -> [Vec<f32>; 5] {
    let axes = coder.stick_axes();
    [
        axes[0].values().to_vec(),
        axes[1].values().to_vec(),
        axes[2].values().to_vec(),
        axes[3].values().to_vec(),
        coder.shoulder().values().to_vec(),
    ]
}
