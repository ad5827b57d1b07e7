//! The training loop on real replays: bit-exact resumption (at an epoch boundary and mid-epoch),
//! seeded determinism, numerical-fault handling and early stopping. Models and runs are tiny.

use exphil_runs::config::{
    Activation, BackboneConfig, MlpConfig, OptimizerKind, ScheduleKind, TrainConfig,
};
use exphil_runs::resume::find_resume;
use exphil_runs::tensors::{read_tensors, NamedTensor};
use exphil_train::data::{prepare, PreparedData};
use exphil_train::error::TrainError;
use exphil_train::trainer::{train, Event, FaultInjection, RunOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// burn's device random generator is per process: runs that must be reproducible take turns.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Equal weights, or a panic naming the first tensor that differs (not the whole dump).
fn same(a: &[NamedTensor], b: &[NamedTensor], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: tensor count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape), "{what}");
        let diff = x
            .data
            .iter()
            .zip(&y.data)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(
            x.data
                .iter()
                .zip(&y.data)
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "{what}: {} differs (largest difference {diff:e})",
            x.name
        );
    }
}

fn config() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.data.replays = vec![exphil_testdata::replays_dir()
        .join("games")
        .display()
        .to_string()];
    cfg.data.max_files = Some(3);
    cfg.data.cache_dir = Some(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("trainer-datasets")
            .display()
            .to_string(),
    );
    cfg.policy.backbone = BackboneConfig::Mlp(MlpConfig {
        hidden: vec![24, 16],
        residual: true,
        layer_norm: true,
        dropout: 0.1,
        activation: Activation::Gelu,
    });
    cfg.policy.default_id_dim = 4;
    cfg.policy.id_dims.clear();
    cfg.optim.optimizer = OptimizerKind::Adamw;
    cfg.optim.lr = 3e-3;
    cfg.optim.weight_decay = 0.01;
    cfg.schedule.schedule = ScheduleKind::Cosine;
    cfg.schedule.warmup_steps = 3;
    cfg.train.epochs = 2;
    cfg.train.batch_size = 32;
    cfg.train.max_batches = Some(12);
    cfg.train.accumulation_steps = 2;
    cfg.train.max_grad_norm = 1.0;
    cfg.train.ema = true;
    cfg.train.log_interval = 1;
    cfg.train.seed = Some(7);
    cfg
}

/// The dataset, built once per test binary.
fn data() -> &'static PreparedData {
    static DATA: OnceLock<PreparedData> = OnceLock::new();
    DATA.get_or_init(|| prepare(&config(), 7, &|_| {}).expect("dataset of the shared games"))
}

fn options(dir: &Path) -> RunOptions {
    std::fs::create_dir_all(dir).unwrap();
    RunOptions {
        run_dir: dir.to_path_buf(),
        resume: None,
        stop: Arc::new(AtomicBool::new(false)),
        faults: FaultInjection::default(),
        init: None,
    }
}

fn weights(path: &Path) -> Vec<NamedTensor> {
    read_tensors(path).unwrap().0
}

/// The trained weights of a run: its latest checkpoint's model and the exported model.
fn outputs(dir: &Path) -> (Vec<NamedTensor>, Vec<NamedTensor>) {
    (
        weights(&dir.join("checkpoints/latest/model.safetensors")),
        weights(&dir.join("model.safetensors")),
    )
}

fn straight(cfg: &TrainConfig, dir: &Path) -> PathBuf {
    let s = train(cfg, data(), &options(dir), &mut |_| {}).unwrap();
    assert!(s.state.finished && s.interrupted.is_none());
    dir.to_path_buf()
}

/// Runs with the stop flag raised by `when`, then resumes from the run directory to the end.
fn interrupted(cfg: &TrainConfig, dir: &Path, when: impl Fn(&Event) -> bool) {
    let opts = options(dir);
    let stop = opts.stop.clone();
    let s = train(cfg, data(), &opts, &mut |e| {
        if when(&e) {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    let at = s.interrupted.expect("the run was interrupted");
    assert!(at.ends_with("checkpoints/interrupt"), "{}", at.display());
    assert!(!s.state.finished);
    let mut opts = options(dir);
    opts.resume = Some(find_resume(dir).unwrap());
    let s = train(cfg, data(), &opts, &mut |_| {}).unwrap();
    assert!(s.state.finished && s.interrupted.is_none());
    assert_eq!(s.state.history.len(), cfg.train.epochs as usize);
}

#[test]
fn resuming_is_bit_exact_at_an_epoch_boundary_and_mid_epoch() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config();
    let a = straight(&cfg, &tmp.path().join("straight"));
    let (a_latest, a_model) = outputs(&a);
    assert!(!a_latest.is_empty());

    // 1 epoch, stop, resume, 1 more.
    let b = tmp.path().join("boundary");
    interrupted(&cfg, &b, |e| matches!(e, Event::Epoch(m) if m.epoch == 1));
    let (b_latest, b_model) = outputs(&b);
    same(
        &a_latest,
        &b_latest,
        "latest weights after resuming at an epoch boundary",
    );
    same(&a_model, &b_model, "exported (EMA) weights after resuming");

    // Stop in the middle of the first epoch (batch 5 of 12: inside an accumulation group, so
    // the loop stops at the next optimiser step).
    let c = tmp.path().join("mid");
    interrupted(&cfg, &c, |e| {
        matches!(
            e,
            Event::Progress {
                epoch: 0,
                batch: 5,
                ..
            }
        )
    });
    let (c_latest, c_model) = outputs(&c);
    same(
        &a_latest,
        &c_latest,
        "latest weights after resuming mid-epoch",
    );
    same(
        &a_model,
        &c_model,
        "exported weights after resuming mid-epoch",
    );

    // The metrics log holds each epoch once, with the uninterrupted run's losses and accuracies.
    let curve = |dir: &Path| -> Vec<(u64, serde_json::Value, serde_json::Value)> {
        exphil_runs::metrics::read_metrics(&dir.join("metrics.jsonl"))
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["epoch"].as_u64().unwrap(),
                    l["train"].clone(),
                    l["val"].clone(),
                )
            })
            .collect()
    };
    let reference = curve(&a);
    assert_eq!(
        reference.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    for dir in [&b, &c] {
        assert_eq!(curve(dir), reference, "loss curve of {}", dir.display());
    }
}

#[test]
fn the_same_seed_gives_the_same_weights_and_another_seed_does_not() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.train.epochs = 1;
    let (a, _) = outputs(&straight(&cfg, &tmp.path().join("a")));
    let (b, _) = outputs(&straight(&cfg, &tmp.path().join("b")));
    same(&a, &b, "two runs with one seed");
    cfg.train.seed = Some(8);
    let (c, _) = outputs(&straight(&cfg, &tmp.path().join("c")));
    assert_eq!(a.len(), c.len());
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.data != y.data),
        "a different seed initialises and shuffles differently"
    );
}

#[test]
fn a_single_non_finite_loss_is_skipped_and_counted() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.train.epochs = 1;
    let mut opts = options(tmp.path());
    opts.faults.nan_batches = vec![4];
    let mut faults = Vec::new();
    let s = train(&cfg, data(), &opts, &mut |e| {
        if let Event::Fault { message, .. } = e {
            faults.push(message);
        }
    })
    .unwrap();
    assert!(s.state.finished);
    assert_eq!(s.state.skipped_steps, 1);
    assert_eq!(s.state.recoveries, 0);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert!(faults[0].contains("non-finite loss"), "{}", faults[0]);
    for t in weights(&s.model) {
        assert!(t.first_non_finite().is_none(), "{} is not finite", t.name);
    }
}

#[test]
fn persistent_non_finite_losses_reload_the_last_good_state_then_stop() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.train.max_bad_steps = 2;
    cfg.train.max_recoveries = 2;
    let mut opts = options(tmp.path());
    opts.faults.nan_from = Some(14); // the second epoch
    let mut reloads = 0;
    let err = train(&cfg, data(), &opts, &mut |e| {
        if let Event::Fault { message, .. } = e {
            if message.contains("reloaded the last good state") {
                reloads += 1;
            }
        }
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::Diverged(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("after 2 reloads"), "{msg}");
    assert!(msg.contains("--lr"), "the message says what to try: {msg}");
    assert_eq!(reloads, 2);
    // The first epoch's checkpoint survives intact and resumable.
    let c = find_resume(tmp.path()).unwrap();
    let state: serde_json::Value = serde_json::from_slice(c.get("state.json").unwrap()).unwrap();
    assert_eq!(state["epoch"], 1);
}

#[test]
fn early_stopping_ends_the_run_when_validation_stops_improving() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.train.epochs = 5;
    cfg.train.max_batches = Some(4);
    cfg.train.early_stopping = true;
    cfg.train.patience = 1;
    cfg.train.min_delta = 1e9; // nothing after the first epoch counts as an improvement
    let s = train(&cfg, data(), &options(tmp.path()), &mut |_| {}).unwrap();
    assert!(s.state.early_stopped && s.state.finished);
    assert_eq!(s.state.history.len(), 2);
    // The best model is still the lowest validation loss, whatever min_delta says.
    let losses: Vec<f64> = s
        .state
        .history
        .iter()
        .map(|e| e.val.as_ref().unwrap().loss)
        .collect();
    let lowest = if losses[1] < losses[0] { 2 } else { 1 };
    assert_eq!(s.state.best_epoch, Some(lowest), "{losses:?}");
}

/// A tiny LSTM trained on sequences: unrolls of 8 frames with the loss on every frame, the state
/// carried across unrolls.
fn sequence_config() -> TrainConfig {
    let mut cfg = config();
    cfg.policy.backbone = BackboneConfig::Lstm(exphil_runs::config::RecurrentConfig {
        window_size: 8,
        num_layers: 1,
        hidden_size: 12,
        dropout: 0.0,
        ..exphil_runs::config::RecurrentConfig::default()
    });
    cfg.train.sequence = exphil_runs::config::SequenceConfig {
        enabled: true,
        unroll: 8,
        segment_frames: 32,
        streams: 4,
        random_crop: true,
    };
    cfg.train.ema = false;
    cfg.train.accumulation_steps = 1;
    cfg.train.max_batches = Some(10);
    cfg
}

#[test]
fn sequence_training_scores_every_frame_and_resumes_bit_exact_with_its_carried_state() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = sequence_config();
    // Every progress line counts the valid frames of its unrolls (at most streams × unroll per
    // batch), not windows.
    let mut scored = Vec::new();
    let dir = tmp.path().join("straight");
    let s = train(&cfg, data(), &options(&dir), &mut |e| {
        if let Event::Progress { batch, .. } = e {
            scored.push(batch);
        }
    })
    .unwrap();
    assert!(s.state.finished);
    assert_eq!(
        scored.len(),
        20,
        "10 batches in each of 2 epochs: {scored:?}"
    );
    let first = &s.state.history[0];
    assert!(first.train.loss.is_finite() && first.train.loss > 0.0);
    let val = first.val.as_ref().expect("validation games");
    assert!(val.loss.is_finite());
    let (a_latest, _) = outputs(&dir);

    // Interrupted after batch 5 of the first epoch: the streams' state is checkpointed with the
    // weights, so the resumed run continues the same unrolls from the same state.
    let mid = tmp.path().join("mid");
    interrupted(&cfg, &mid, |e| {
        matches!(
            e,
            Event::Progress {
                epoch: 0,
                batch: 5,
                ..
            }
        )
    });
    let (b_latest, _) = outputs(&mid);
    same(
        &a_latest,
        &b_latest,
        "sequence-trained weights after resuming mid-epoch",
    );
}
