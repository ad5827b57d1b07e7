//! The behavioural-cloning loop: minibatches through the policy, losses, accumulated and
//! clipped gradients, the optimiser and schedule, EMA, validation on held-out games, early
//! stopping, numerical-fault recovery, checkpoints, interruption and exact resumption.
//!
//! An MLP trains on shuffled single frames. A temporal backbone trains by default on sequences
//! ([`exphil_runs::config::SequenceConfig`]): each batch is the next unroll of every stream,
//! stepped from the state the stream's previous unroll ended in (detached), with the loss on
//! every frame; its validation steps each held-out game whole from a fresh state, exactly as
//! `exphil eval --mode step` scores it. With `sequence.enabled = false` it trains on windows
//! with the loss on each window's last frame, and validates the same way.

use crate::board::Board;
use crate::data::PreparedData;
use crate::ema::Ema;
use crate::error::{ck, TrainError};
use crate::grads::GradStore;
use crate::optim::Optimizer;
use crate::schedule::LrSchedule;
use crate::state::{
    EpochMetrics, LossScale, LossSums, MemoryUse, PassMetrics, TrainState, STATE_VERSION,
};
use burn::module::Module;
use burn::tensor::{Device, FloatDType};
use exphil_dataset::{Batch, Loader, LoaderError, StreamBatch, StreamLoader};
use exphil_embed::TARGET_COLUMNS;
use exphil_policy::device::{device_of, memory_capacity};
use exphil_policy::precision::Precision;
use exphil_policy::{
    bc_loss, correct_counts, file, params, BackboneState, HeadLogits, LossOutput, LossSpec, Policy,
    PolicyInput, TargetBatch, COMPONENTS,
};
use exphil_runs::checkpoint::{rotate_numbered, save_checkpoint, CheckpointFiles};
use exphil_runs::config::TrainConfig;
use exphil_runs::rundir::{RunDir, MODEL_FILE};
use exphil_runs::tensors::{decode_tensors, encode_tensors, NamedTensor};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use crate::event::Event;

/// Test and tooling hooks of a run.
#[derive(Clone, Debug, Default)]
pub struct FaultInjection {
    /// Make the loss of these batches (run-wide batch counter, from 0) NaN.
    pub nan_batches: Vec<u64>,
    /// Make every batch's loss NaN from this batch on.
    pub nan_from: Option<u64>,
}

/// Options of one call to [`train`].
pub struct RunOptions {
    /// The run directory (created by the caller).
    pub run_dir: PathBuf,
    /// Continue from this checkpoint.
    pub resume: Option<CheckpointFiles>,
    /// Set to stop at the next batch boundary with an interrupt checkpoint.
    pub stop: Arc<AtomicBool>,
    /// Injected faults.
    pub faults: FaultInjection,
    /// Initial weights (fine-tuning from `--pretrained`), used when not resuming. They must fit
    /// the policy (see [`exphil_policy::file::check_policy_matches`]).
    pub init: Option<Vec<NamedTensor>>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The final state.
    pub state: TrainState,
    /// Interrupted (an `interrupt` checkpoint was written).
    pub interrupted: Option<PathBuf>,
    /// The exported weights.
    pub model: PathBuf,
    /// Trainable parameters.
    pub params: usize,
}

/// A flag Ctrl-C and SIGTERM set, for a training loop to finish its step, save a checkpoint and
/// exit 130; a second signal exits at once, without a checkpoint.
pub fn checkpoint_on_interrupt() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\n⚠ Received an interrupt: saving a checkpoint before exit...");
    });
    stop
}

fn mix(seed: u64, n: u64) -> u64 {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8..].copy_from_slice(&n.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&b)
}

/// Weights-file metadata ([`exphil_policy::file::metadata`]) of a policy trained by `cfg` on
/// `data`.
pub fn model_metadata(cfg: &TrainConfig, data: &PreparedData) -> BTreeMap<String, String> {
    let (pos, rows) = data.button_positives;
    let loss = LossSpec::new(&cfg.loss, &pos, rows);
    file::metadata(&file::WeightsInfo {
        policy: &cfg.policy,
        spec: &data.spec,
        embed: &data.manifest.embed,
        targets: &data.manifest.targets,
        button_pos_weight: &loss.pos_weight,
        data: &cfg.data,
        pairing_version: data.manifest.pairing_version,
    })
}

/// A batch on the host: every frame's input, and the targets of each example's last frame.
struct Host {
    features: Vec<f32>,
    ids: Vec<u32>,
    targets: Vec<u16>,
    /// Examples (windows).
    rows: usize,
    /// Frames per example.
    window: usize,
}

fn host_of(b: &Batch) -> Host {
    let w = b.window.max(1);
    let targets = if w == 1 {
        b.targets.clone()
    } else {
        b.targets
            .chunks_exact(TARGET_COLUMNS * w)
            .flat_map(|unit| unit[TARGET_COLUMNS * (w - 1)..].iter().copied())
            .collect()
    };
    Host {
        features: b.features.clone(),
        ids: b.ids.clone(),
        targets,
        rows: b.len,
        window: w,
    }
}

impl Host {
    fn input(&self, spec: &exphil_policy::InputSpec, device: &Device) -> PolicyInput {
        PolicyInput::new(
            spec,
            &self.features,
            &self.ids,
            self.rows * self.window,
            device,
        )
        .windows(self.window)
    }
}

/// One batch of either kind.
enum Work {
    /// Frames or windows.
    Units(Batch),
    /// The next unroll of every stream.
    Stream(StreamBatch),
}

/// Where a pass's batches come from.
enum Source {
    /// Shuffled frames or windows.
    Units(Loader),
    /// Streams of unrolls (sequence training; whole games for validation).
    Streams(StreamLoader),
}

impl Source {
    fn batches(&self, epoch: u64) -> usize {
        match self {
            Source::Units(l) => l.batches_per_epoch(),
            Source::Streams(s) => s.batches_in_epoch(epoch),
        }
    }

    fn epoch(&self, epoch: u64) -> Box<dyn Iterator<Item = Result<Work, LoaderError>>> {
        match self {
            Source::Units(l) => Box::new(l.epoch(epoch).map(|b| b.map(Work::Units))),
            Source::Streams(s) => Box::new(s.epoch(epoch).map(|b| b.map(Work::Stream))),
        }
    }
}

/// The per-step inputs of a stream batch (`steps[t]`: frame `t` of every stream) and its
/// targets (time-major, padding masked).
fn stream_inputs(
    b: &StreamBatch,
    spec: &exphil_policy::InputSpec,
    device: &Device,
) -> (Vec<PolicyInput>, TargetBatch) {
    let (s, nf, ni) = (b.streams, spec.features, spec.ids);
    let steps = (0..b.unroll)
        .map(|t| {
            PolicyInput::new(
                spec,
                &b.features[t * s * nf..(t + 1) * s * nf],
                &b.ids[t * s * ni..(t + 1) * s * ni],
                s,
                device,
            )
        })
        .collect();
    let targets = TargetBatch::new(b.unroll * s, &b.targets, device).masked(&b.valid, device);
    (steps, targets)
}

/// The streams of `b` that start a new segment.
fn resets_of(b: &StreamBatch) -> Vec<usize> {
    (0..b.streams).filter(|&s| b.reset[s]).collect()
}

/// Teacher-forced logits of a stream batch, stepped from `state` (a fresh one when `None`),
/// and the state after it.
fn stream_logits(
    policy: &Policy,
    b: &StreamBatch,
    state: Option<BackboneState>,
    targets: &TargetBatch,
    steps: &[PolicyInput],
    detach_every: Option<usize>,
    device: &Device,
) -> (HeadLogits, BackboneState) {
    let mut state = state.unwrap_or_else(|| policy.initial_state(b.streams, device));
    state.reset_rows(&resets_of(b));
    let (h, next) = policy.trunk_sequence(steps, state, &[], detach_every);
    let logits = policy
        .head
        .forward(h, targets.buttons.clone(), &targets.classes);
    (logits, next)
}

/// Snapshot of the learnable state, for recovery after numerical faults.
struct Snapshot {
    weights: Vec<NamedTensor>,
    optim: Vec<NamedTensor>,
    optim_steps: u64,
    ema: Option<(u64, Vec<NamedTensor>)>,
}

/// The trainer of one run.
struct Run<'a> {
    cfg: &'a TrainConfig,
    data: &'a PreparedData,
    device: Device,
    policy: Policy,
    optim: Optimizer,
    schedule: LrSchedule,
    ema: Option<Ema>,
    loss: LossSpec,
    state: TrainState,
    opts: &'a RunOptions,
    meta: BTreeMap<String, String>,
    best_weights: Option<Vec<NamedTensor>>,
    snapshot: Snapshot,
    /// Sequence training: the streams' state after the last batch (detached).
    carried: Option<BackboneState>,
    /// Sequence training: detach the state every this many frames (`--truncate-bptt`).
    detach_every: Option<usize>,
    /// What each step computes in (resolved: never `half`).
    precision: Precision,
    /// The device memory the run may use (see [`MemoryUse::device_capacity`]).
    memory_limit: Option<u64>,
    /// Whether the warning that the device memory is nearly full was given.
    warned_memory: bool,
}

/// The checkpoint file of the streams' carried state.
const STREAMS_FILE: &str = "streams.safetensors";

fn tensors_bytes(
    file: &str,
    t: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Vec<u8>, TrainError> {
    encode_tensors(Path::new(file), t, meta).map_err(ck)
}

impl Run<'_> {
    fn export_weights(&self) -> Vec<NamedTensor> {
        match &self.ema {
            Some(e) if e.updates() > 0 => params::export(&e.apply(self.policy.clone())),
            _ => params::export(&self.policy),
        }
    }

    fn take_snapshot(&self) -> Snapshot {
        Snapshot {
            weights: params::export(&self.policy),
            optim: self.optim.state_tensors(),
            optim_steps: self.optim.steps(),
            ema: self.ema.as_ref().map(|e| (e.updates(), e.state_tensors())),
        }
    }

    fn restore_snapshot(&mut self) -> Result<(), TrainError> {
        let s = &self.snapshot;
        self.policy = params::import(self.policy.clone(), &s.weights).map_err(ck)?;
        let mut optim = Optimizer::new(&self.cfg.optim);
        optim
            .load_state(s.optim_steps, &s.optim, &self.policy, &self.device)
            .map_err(ck)?;
        self.optim = optim;
        if let (Some(e), Some((n, t))) = (self.ema.as_mut(), &s.ema) {
            e.load_state(*n, t, &self.policy, &self.device)
                .map_err(ck)?;
        }
        // The streams' state may hold the fault's non-finite values: they start afresh.
        self.carried = None;
        Ok(())
    }

    /// One batch through the policy: its losses and the frames scored (sequence batches carry
    /// the streams' state to the next).
    fn forward(&mut self, work: &Work) -> (LossOutput, u64) {
        let spec = &self.data.spec;
        // Mixed precision: the step runs on a half copy linked to the f32 weights (f32: on
        // the weights themselves, no copy).
        let half =
            (self.precision != Precision::F32).then(|| self.policy.compute_copy(self.precision));
        let policy = half.as_ref().unwrap_or(&self.policy);
        match work {
            Work::Units(b) => {
                let h = host_of(b);
                let input = h.input(spec, &self.device);
                let targets = TargetBatch::new(h.rows, &h.targets, &self.device);
                let logits = policy.forward(&input, &targets);
                (bc_loss(&logits, &targets, &self.loss), h.rows as u64)
            }
            Work::Stream(b) => {
                let (steps, targets) = stream_inputs(b, spec, &self.device);
                let (logits, next) = stream_logits(
                    policy,
                    b,
                    self.carried.take(),
                    &targets,
                    &steps,
                    self.detach_every,
                    &self.device,
                );
                // Carried (and checkpointed) in f32 whatever the step computes in.
                self.carried = Some(next.detach().cast(FloatDType::F32));
                (
                    bc_loss(&logits, &targets, &self.loss),
                    targets.counted as u64,
                )
            }
        }
    }

    fn save(&mut self, kind: &str) -> Result<PathBuf, TrainError> {
        let mut files = vec![
            (
                MODEL_FILE,
                tensors_bytes(MODEL_FILE, &params::export(&self.policy), &self.meta)?,
            ),
            (
                "optim.safetensors",
                tensors_bytes(
                    "optim.safetensors",
                    &self.optim.state_tensors(),
                    &BTreeMap::new(),
                )?,
            ),
        ];
        if let Some(e) = &self.ema {
            files.push((
                "ema.safetensors",
                tensors_bytes("ema.safetensors", &e.state_tensors(), &BTreeMap::new())?,
            ));
        }
        self.state.ema_updates = self.ema.as_ref().map_or(0, Ema::updates);
        self.state.schedule = Some(self.schedule.state());
        self.state.stream_seen.clear();
        if let Some(BackboneState::Temporal(t)) = &self.carried {
            let (tensors, seen) = t.export();
            let named: Vec<NamedTensor> = tensors
                .into_iter()
                .map(|(n, shape, data)| NamedTensor::new(n, shape, data))
                .collect();
            files.push((
                STREAMS_FILE,
                tensors_bytes(STREAMS_FILE, &named, &BTreeMap::new())?,
            ));
            self.state.stream_seen = seen;
        }
        files.push((
            "state.json",
            serde_json::to_vec_pretty(&self.state).map_err(ck)?,
        ));
        let files: Vec<(&str, Vec<u8>)> = files;
        let path = save_checkpoint(
            &RunDir::new(&self.opts.run_dir).checkpoints_path(),
            kind,
            &files,
        )
        .map_err(ck)?;
        Ok(path)
    }

    fn load(&mut self, c: &CheckpointFiles) -> Result<(), TrainError> {
        let state: TrainState = serde_json::from_slice(c.require("state.json").map_err(ck)?)
            .map_err(|e| ck(format!("{}: state.json: {e}", c.dir.display())))?;
        if state.version != STATE_VERSION {
            return Err(ck(format!(
                "{}: checkpoint state version {} (this exphil reads {STATE_VERSION})",
                c.dir.display(),
                state.version
            )));
        }
        let file = |n: &str| -> Result<Vec<NamedTensor>, TrainError> {
            let bytes = c.require(n).map_err(ck)?;
            let (t, _) = decode_tensors(&c.dir.join(n), bytes).map_err(ck)?;
            Ok(t)
        };
        // The weights must be the architecture the config describes, said in words if not.
        let model = c.dir.join(MODEL_FILE);
        let (weights, meta) =
            decode_tensors(&model, c.require(MODEL_FILE).map_err(ck)?).map_err(ck)?;
        file::check_format(&model, &meta).map_err(ck)?;
        if let Some(p) = meta.get(file::META_POLICY) {
            file::check_policy_matches(p, &self.cfg.policy, "the run's config")
                .map_err(|e| ck(format!("{}: {e}", model.display())))?;
        }
        self.policy = params::import(self.policy.clone(), &weights)
            .map_err(|e| ck(format!("{}: {e}", c.dir.join(MODEL_FILE).display())))?;
        self.optim
            .load_state(
                state.steps,
                &file("optim.safetensors")?,
                &self.policy,
                &self.device,
            )
            .map_err(|e| {
                ck(format!(
                    "{}: {e}",
                    c.dir.join("optim.safetensors").display()
                ))
            })?;
        if let Some(e) = self.ema.as_mut() {
            e.load_state(
                state.ema_updates,
                &file("ema.safetensors")?,
                &self.policy,
                &self.device,
            )
            .map_err(|er| ck(format!("{}: {er}", c.dir.join("ema.safetensors").display())))?;
        }
        if let Some(s) = &state.schedule {
            self.schedule.restore(s.clone());
        }
        self.carried = None;
        if !state.stream_seen.is_empty() {
            let named = file(STREAMS_FILE)?;
            let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = named
                .into_iter()
                .map(|t| (t.name, t.shape, t.data))
                .collect();
            let fresh = self
                .policy
                .initial_state(state.stream_seen.len(), &self.device);
            if let BackboneState::Temporal(t) = fresh {
                let t = t
                    .import(&tensors, &state.stream_seen)
                    .map_err(|e| ck(format!("{}: {STREAMS_FILE}: {e}", c.dir.display())))?;
                self.carried = Some(BackboneState::Temporal(t));
            }
        }
        self.state = state;
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.schedule.lr(self.state.steps)
    }

    /// Handles a non-finite step: counts it, and after `max_bad_steps` in a row reloads the
    /// last good state with a lower learning rate; stops after `max_recoveries` reloads.
    /// The memory now, with the device's capacity; warns once a run when the device's
    /// allocator holds 90% of it.
    fn memory_now(&mut self, events: &mut dyn FnMut(Event)) -> MemoryUse {
        let mut m = MemoryUse::now(&self.device);
        m.device_capacity = self.memory_limit.filter(|_| m.device_reserved.is_some());
        if let (Some(held), Some(cap)) = (m.device_reserved, m.device_capacity) {
            if !self.warned_memory && held as f64 >= 0.9 * cap as f64 {
                self.warned_memory = true;
                events(Event::Warning(format!(
                    "device memory nearly full: the allocator holds {} of the {} this run may \
                     use ({:.0}%); a larger batch or a longer validation batch may not fit: \
                     lower --batch-size (or --streams), or train in --precision f16",
                    crate::state::mib(held as f64),
                    crate::state::mib(cap as f64),
                    100.0 * held as f64 / cap as f64
                )));
            }
        }
        m
    }

    fn fault(
        &mut self,
        bad_in_row: &mut u32,
        what: &str,
        events: &mut dyn FnMut(Event),
    ) -> Result<(), TrainError> {
        self.state.skipped_steps += 1;
        *bad_in_row += 1;
        let lc = &self.cfg.train;
        let mut message = format!("non-finite {what}: step skipped");
        if *bad_in_row >= lc.max_bad_steps.max(1) {
            if self.state.recoveries >= lc.max_recoveries {
                return Err(TrainError::Diverged(format!(
                    "training diverged: {} non-finite steps in a row after {} reloads of the \
                     last good state (lr now {:.3e}); try a lower --lr, --max-grad-norm 1.0, or \
                     check the data",
                    bad_in_row,
                    self.state.recoveries,
                    self.lr()
                )));
            }
            self.restore_snapshot()?;
            self.schedule.scale_by(lc.recovery_lr_factor);
            self.state.recoveries += 1;
            *bad_in_row = 0;
            message = format!(
                "non-finite {what} {} times in a row: reloaded the last good state, lr x{} (reload {}/{})",
                lc.max_bad_steps.max(1),
                lc.recovery_lr_factor,
                self.state.recoveries,
                lc.max_recoveries
            );
        }
        events(Event::Fault {
            step: self.state.steps,
            message,
        });
        Ok(())
    }

    fn validate(&self, source: &Source) -> Result<PassMetrics, TrainError> {
        let model = match &self.ema {
            Some(e) if e.updates() > 0 => e.apply(self.policy.valid()),
            _ => self.policy.valid(),
        };
        let dev = self.device.clone().inner();
        let mut sums = LossSums::default();
        let mut correct = [0u64; TARGET_COLUMNS];
        let mut combos: HashMap<u16, u64> = HashMap::new();
        let mut carried: Option<BackboneState> = None;
        for w in source.epoch(0) {
            let w = w.map_err(|e| {
                TrainError::Data(crate::data::DataError::Dataset {
                    context: "reading validation batches".into(),
                    message: e.to_string(),
                })
            })?;
            let (logits, targets, out, host_targets, valid) = match &w {
                Work::Units(b) => {
                    let h = host_of(b);
                    let input = h.input(&self.data.spec, &dev);
                    let targets = TargetBatch::new(h.rows, &h.targets, &dev);
                    let logits = model.forward(&input, &targets);
                    let out = bc_loss(&logits, &targets, &self.loss);
                    (logits, targets, out, h.targets, None)
                }
                Work::Stream(b) => {
                    let (steps, targets) = stream_inputs(b, &self.data.spec, &dev);
                    let (logits, next) =
                        stream_logits(&model, b, carried.take(), &targets, &steps, None, &dev);
                    carried = Some(next);
                    let out = bc_loss(&logits, &targets, &self.loss);
                    (logits, targets, out, b.targets.clone(), Some(&b.valid[..]))
                }
            };
            sums.add(&host6(&out.components), targets.counted as u64);
            let c = correct_counts(&logits, &host_targets, &model.button_offsets(), valid);
            for (a, x) in correct.iter_mut().zip(c) {
                *a += x;
            }
            for (r, row) in host_targets.chunks_exact(TARGET_COLUMNS).enumerate() {
                if valid.is_none_or(|v| v[r]) {
                    *combos.entry(row[0] & 0xff).or_default() += 1;
                }
            }
        }
        let mut m = sums.mean();
        let n = sums.examples.max(1) as f64;
        m.accuracy = correct.iter().map(|&c| c as f64 / n).collect();
        m.button_baseline = Some(combos.values().copied().max().unwrap_or(0) as f64 / n);
        Ok(m)
    }
}

fn host6(t: &burn::tensor::Tensor<1>) -> [f64; TARGET_COLUMNS] {
    let v = params::tensor_values(t);
    let mut out = [f64::NAN; TARGET_COLUMNS];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x as f64;
    }
    out
}

/// Trains `cfg.policy` on `data`, writing checkpoints, `metrics.jsonl` and `loss_curve.png`
/// under `opts.run_dir` and the final weights to `model.safetensors` there.
///
/// On the CPU a run is reproducible bit for bit from its seed, including across an interrupt and
/// `resume`. burn's device random generator (initialisation, dropout) is shared by the process,
/// so two runs training at once in one process perturb each other: run them one at a time.
pub fn train(
    cfg: &TrainConfig,
    data: &PreparedData,
    opts: &RunOptions,
    events: &mut dyn FnMut(Event),
) -> Result<RunSummary, TrainError> {
    let seed = cfg.train.seed.ok_or_else(|| {
        TrainError::Config("the run's seed must be resolved before training".into())
    })?;
    // Every event also goes to the run's TensorBoard record.
    let config_json = serde_json::to_string_pretty(cfg).unwrap_or_default();
    let (mut board, warning) =
        Board::open(&RunDir::new(&opts.run_dir).board_path(), Some(&config_json));
    let caller = events;
    if let Some(w) = warning {
        caller(Event::Notice(w));
    }
    let mut with_board = |e: Event| {
        if let Some(w) = board.record(&e) {
            caller(Event::Notice(w));
        }
        caller(e);
    };
    let events: &mut dyn FnMut(Event) = &mut with_board;
    // What interrupted saves left behind (partial checkpoints, swapped-out old ones) goes at
    // every start and resume, so it never accumulates.
    let report = exphil_runs::checkpoint::cleanup(&RunDir::new(&opts.run_dir).checkpoints_path())
        .map_err(ck)?;
    if !report.removed.is_empty() || !report.restored.is_empty() {
        events(Event::Notice(format!(
            "removed {} leftovers of interrupted checkpoint saves{}",
            report.removed.len(),
            if report.restored.is_empty() {
                String::new()
            } else {
                format!(
                    " and restored {} checkpoint(s) a save was replacing",
                    report.restored.len()
                )
            }
        )));
    }
    let device = device_of(&cfg.device)
        .map_err(|e| TrainError::Config(e.to_string()))?
        .autodiff();
    device.seed(seed);
    let precision = exphil_policy::precision::resolve(cfg.train.precision, &device, &cfg.device)
        .map_err(TrainError::Config)?;
    let (pos, rows) = data.button_positives;
    let loss = LossSpec::new(&cfg.loss, &pos, rows);
    let policy =
        Policy::new(&cfg.policy, &data.spec, &device).with_button_pos_weight(&loss.pos_weight);
    let sequence = cfg.train.sequence.enabled && cfg.policy.backbone.window().is_some();
    let (train_source, val_source) = if sequence {
        (
            Source::Streams(data.train_streams(cfg, seed)?),
            data.val_streams(cfg)?.map(Source::Streams),
        )
    } else {
        (
            Source::Units(data.train_loader(cfg, seed)?),
            data.val_loader(cfg)?.map(Source::Units),
        )
    };
    let cap = cfg.train.max_batches.unwrap_or(usize::MAX);
    // Batches of each epoch (sequence epochs differ by their random crops).
    let epoch_batches = |e: u32| train_source.batches(u64::from(e)).min(cap) as u64;
    // The schedule's horizon: the optimiser steps the run will really take.
    let accum = cfg.train.accumulation_steps.max(1) as u64;
    let total_steps: u64 = (0..cfg.train.epochs)
        .map(|e| epoch_batches(e).div_ceil(accum))
        .sum();
    let schedule = LrSchedule::new(&cfg.schedule, cfg.optim.lr, total_steps);
    let mut run = Run {
        cfg,
        data,
        optim: Optimizer::new(&cfg.optim),
        schedule,
        ema: cfg.train.ema.then(|| Ema::new(cfg.train.ema_decay)),
        loss,
        state: TrainState {
            version: STATE_VERSION,
            seed,
            ..TrainState::default()
        },
        opts,
        meta: model_metadata(cfg, data),
        best_weights: None,
        snapshot: Snapshot {
            weights: Vec::new(),
            optim: Vec::new(),
            optim_steps: 0,
            ema: None,
        },
        carried: None,
        detach_every: cfg.policy.backbone.truncate_bptt(),
        policy,
        device,
        precision,
        memory_limit: cfg
            .train
            .device_memory_limit
            .or_else(|| memory_capacity(&cfg.device).map(|m| m.bytes)),
        warned_memory: false,
    };
    if let (None, Some(w)) = (&opts.resume, &opts.init) {
        run.policy = params::import(run.policy.clone(), w)
            .map_err(|e| TrainError::Config(format!("the pretrained weights do not fit: {e}")))?;
    }
    if let Some(c) = &opts.resume {
        run.load(c)?;
        if run.state.seed != seed {
            return Err(TrainError::Config(format!(
                "the checkpoint was trained with seed {}, the config says {seed}",
                run.state.seed
            )));
        }
        // A run that finished its epochs continues when given more (not after an early stop).
        if run.state.finished && !run.state.early_stopped && run.state.epoch < cfg.train.epochs {
            run.state.finished = false;
        }
        if let Ok(bytes) = std::fs::read(RunDir::new(&opts.run_dir).model_path()) {
            if let Ok((t, _)) = decode_tensors(&RunDir::new(&opts.run_dir).model_path(), &bytes) {
                run.best_weights = Some(t);
            }
        }
    }
    // f16 steps scale the loss (a resumed run keeps its scale); other types need none.
    if run.precision == Precision::F16 {
        run.state.loss_scale.get_or_insert_with(LossScale::default);
    } else {
        run.state.loss_scale = None;
    }
    run.snapshot = run.take_snapshot();
    let params: usize = params::shapes(&run.policy)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    events(Event::Start {
        epochs: cfg.train.epochs,
        batches: epoch_batches(run.state.epoch.min(cfg.train.epochs.saturating_sub(1))) as usize,
        from: (run.state.epoch, run.state.batch),
        params,
        seed,
        history: run
            .state
            .history
            .iter()
            .map(|e| e.val.as_ref().map_or(e.train.loss, |v| v.loss))
            .collect(),
    });
    let metrics_path = RunDir::new(&opts.run_dir).metrics_path();
    if opts.resume.is_some() {
        // Epochs logged after the checkpoint (a crash between the log and the save) go.
        exphil_runs::metrics::truncate_after(&metrics_path, f64::from(run.state.epoch))
            .map_err(ck)?;
    }
    let mut metrics = exphil_runs::metrics::MetricsLog::open(&metrics_path).map_err(ck)?;
    let mut grads = GradStore::new();
    let mut bad_in_row = 0u32;
    let mut interrupted = None;
    let dropout = cfg.policy.backbone.dropout() > 0.0;
    'epochs: while run.state.epoch < cfg.train.epochs && !run.state.finished {
        if opts.stop.load(Ordering::SeqCst) {
            let p = run.save("interrupt")?;
            events(Event::Saved {
                kind: "interrupt".into(),
                path: p.clone(),
            });
            interrupted = Some(p);
            break;
        }
        let epoch = run.state.epoch;
        let t0 = Instant::now();
        let start_batch = run.state.batch;
        let max_batches = epoch_batches(epoch);
        let mut seen = 0u64;
        let mut grad_norm = None;
        let mut peak_memory = MemoryUse::default();
        for (i, b) in train_source.epoch(u64::from(epoch)).enumerate() {
            let i = i as u64;
            if i < start_batch {
                continue;
            }
            if i >= max_batches {
                break;
            }
            let b = b.map_err(|e| {
                TrainError::Data(crate::data::DataError::Dataset {
                    context: "reading training batches".into(),
                    message: e.to_string(),
                })
            })?;
            if dropout {
                run.device.seed(mix(seed, run.state.micro_steps));
            }
            let (mut out, scored) = run.forward(&b);
            let k = run.state.micro_steps;
            if opts.faults.nan_batches.contains(&k) || opts.faults.nan_from.is_some_and(|f| k >= f)
            {
                out.total = out.total.mul_scalar(f64::NAN);
            }
            let total = params::tensor_values(&out.total)
                .first()
                .copied()
                .unwrap_or(f32::NAN);
            run.state.micro_steps += 1;
            run.state.batch = i + 1;
            let boundary = (i + 1).is_multiple_of(accum) || i + 1 == max_batches;
            if !total.is_finite() {
                grads.clear();
                run.fault(&mut bad_in_row, "loss", events)?;
            } else {
                // f16: the backward pass runs on the scaled loss, the gradients come back
                // divided by the scale (in f32, on the master weights).
                let scale = run.state.loss_scale.map_or(1.0, |l| l.scale);
                let g = if scale == 1.0 {
                    out.total.backward()
                } else {
                    out.total.mul_scalar(scale).backward()
                };
                grads.accumulate(&run.policy, &g, 1.0 / (accum as f64 * scale));
                run.state.sums.add(&host6(&out.components), scored);
                seen += scored;
                if boundary {
                    let norm = grads.clip_global_norm(cfg.train.max_grad_norm);
                    grad_norm = Some(norm);
                    let rescaled = !norm.is_finite()
                        && run
                            .state
                            .loss_scale
                            .as_mut()
                            .is_some_and(LossScale::overflowed);
                    if rescaled {
                        // An overflow of the scaled gradients: skipped, the scale halved.
                        grads.clear();
                    } else if !norm.is_finite() {
                        grads.clear();
                        run.fault(&mut bad_in_row, "gradient", events)?;
                    } else {
                        if let Some(l) = run.state.loss_scale.as_mut() {
                            l.good_step();
                        }
                        let lr = run.lr();
                        run.policy = run.optim.step(run.policy.clone(), &grads, lr);
                        grads.clear();
                        run.state.steps += 1;
                        bad_in_row = 0;
                        if let Some(e) = run.ema.as_mut() {
                            e.update(&run.policy);
                        }
                    }
                }
            }
            let log = cfg.train.log_interval.max(1) as u64;
            if (i + 1).is_multiple_of(log) || i + 1 == max_batches {
                let memory = run.memory_now(events);
                peak_memory = peak_memory.max(memory);
                events(Event::Progress {
                    epoch,
                    batch: i + 1,
                    batches: max_batches as usize,
                    loss: run.state.sums.mean().loss,
                    scored_per_sec: seen as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                    lr: run.lr(),
                    grad_norm,
                    memory,
                    step: run.state.micro_steps,
                });
            }
            if boundary {
                if let Some(n) = cfg.checkpoint.save_every_batches {
                    if n > 0 && run.state.micro_steps.is_multiple_of(n) {
                        let p = run.save("batch")?;
                        events(Event::Saved {
                            kind: "batch".into(),
                            path: p,
                        });
                    }
                }
                if opts.stop.load(Ordering::SeqCst) {
                    run.state.seconds += t0.elapsed().as_secs_f64();
                    let p = run.save("interrupt")?;
                    events(Event::Saved {
                        kind: "interrupt".into(),
                        path: p.clone(),
                    });
                    interrupted = Some(p);
                    break 'epochs;
                }
            }
        }
        // End of the epoch.
        let train_metrics = run.state.sums.mean();
        let val = match &val_source {
            Some(l) => {
                events(Event::Validating);
                Some(run.validate(l)?)
            }
            None => None,
        };
        let monitored = val.as_ref().map(|v| v.loss);
        let mut improved = false;
        if let Some(v) = monitored {
            // The best model is the lowest validation loss; patience counts the epochs since
            // the loss last fell by more than `min_delta` below the reference it then set.
            improved = run.state.best_val.is_none_or(|b| v < b);
            if improved {
                run.state.best_val = Some(v);
                run.state.best_epoch = Some(epoch + 1);
            }
            let reference = run.state.patience_reference.or(run.state.best_val);
            let significant = run.state.patience_reference.is_none()
                || reference.is_none_or(|r| v < r - cfg.train.min_delta);
            if significant {
                run.state.patience_reference = Some(v);
                run.state.stale_epochs = 0;
            } else {
                run.state.stale_epochs += 1;
            }
            run.schedule.on_validation(v);
        }
        let seconds = t0.elapsed().as_secs_f64();
        run.state.seconds += seconds;
        let record = EpochMetrics {
            epoch: epoch + 1,
            train: train_metrics,
            val,
            lr: run.lr(),
            steps: run.state.steps,
            skipped_steps: run.state.skipped_steps,
            seconds,
            improved,
            peak_memory: peak_memory.max(run.memory_now(events)),
            loss_scale: run.state.loss_scale,
        };
        run.state.history.push(record.clone());
        run.state.epoch += 1;
        run.state.batch = 0;
        // The next epoch deals the segments anew: every stream starts a segment.
        run.carried = None;
        run.state.sums = LossSums::default();
        if cfg.train.early_stopping && run.state.stale_epochs >= cfg.train.patience {
            run.state.early_stopped = true;
            run.state.finished = true;
        }
        if run.state.epoch >= cfg.train.epochs {
            run.state.finished = true;
        }
        metrics
            .append_durable(&serde_json::to_value(&record).map_err(ck)?)
            .map_err(ck)?;
        // Weights to export: the best so far when validation decides, else the latest.
        let weights = run.export_weights();
        if improved || monitored.is_none() || run.best_weights.is_none() {
            run.best_weights = Some(weights.clone());
        }
        let p = run.save("latest")?;
        events(Event::Saved {
            kind: "latest".into(),
            path: p,
        });
        if improved && cfg.checkpoint.save_best {
            let p = run.save("best")?;
            events(Event::Saved {
                kind: "best".into(),
                path: p,
            });
        }
        if let Some(n) = cfg.checkpoint.save_every {
            if n > 0 && (epoch + 1).is_multiple_of(n) {
                let name = format!("epoch-{:04}", epoch + 1);
                let p = run.save(&name)?;
                rotate_numbered(
                    &RunDir::new(&opts.run_dir).checkpoints_path(),
                    "epoch-",
                    cfg.checkpoint.keep_last.max(1),
                )
                .map_err(ck)?;
                events(Event::Saved {
                    kind: name,
                    path: p,
                });
            }
        }
        write_model(&run, opts)?;
        write_plot(&run.state.history, &opts.run_dir)?;
        run.snapshot = run.take_snapshot();
        events(Event::Epoch(record));
    }
    let model = write_model(&run, opts)?;
    Ok(RunSummary {
        state: run.state.clone(),
        interrupted,
        model,
        params,
    })
}

fn write_model(run: &Run<'_>, opts: &RunOptions) -> Result<PathBuf, TrainError> {
    let weights = match &run.best_weights {
        Some(w) => w.clone(),
        None => run.export_weights(),
    };
    let path = RunDir::new(&opts.run_dir).model_path();
    let bytes = tensors_bytes(MODEL_FILE, &weights, &run.meta)?;
    exphil_io::write_atomic(&path, &bytes).map_err(ck)?;
    Ok(path)
}

fn write_plot(history: &[EpochMetrics], dir: &Path) -> Result<(), TrainError> {
    let train: Vec<(f64, f64)> = history
        .iter()
        .map(|e| (f64::from(e.epoch), e.train.loss))
        .collect();
    let val: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|e| e.val.as_ref().map(|v| (f64::from(e.epoch), v.loss)))
        .collect();
    let mut series: Vec<(&str, &[(f64, f64)])> = vec![("train", &train)];
    if !val.is_empty() {
        series.push(("validation", &val));
    }
    let png = exphil_report::plot::loss_curve_png(&series);
    exphil_io::write_atomic(&RunDir::new(dir).loss_curve_path(), &png).map_err(ck)
}

/// Component names with their values, for printing.
pub fn named(values: &[f64]) -> Vec<(&'static str, f64)> {
    COMPONENTS
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}
