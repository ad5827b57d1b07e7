//! A training run as `exphil train` drives it, around the loop itself: the config of a resumed
//! run, the seed, the run directory, the plan a dry run prints, the memory a config needs and
//! whether this machine has it, the run's record (`config.json`, `games.json`, kept true
//! through failures and panics) and weights to fine-tune from.

use crate::data::PreparedData;
use crate::error::{Doing, RunError};
use crate::state::RunResults;
use crate::trainer::{train, Event, FaultInjection, RunOptions, RunSummary};
use exphil_runs::checkpoint::{default_run_name, prepare_run_dir, rfc3339_utc, CheckpointFiles};
use exphil_runs::config::TrainConfig;
use exphil_runs::models::{register_run, resolve_run};
use exphil_runs::rundir::{RunDir, RunFile, RunGames, RunProcess};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

pub use crate::state::mib;

/// The plan `exphil train --dry-run` prints, line by line: the data, the sequences or windows,
/// the held-out games, the parameters, batches per epoch and the memory measured over a few
/// real training steps.
pub fn dry_run_plan(config: &TrainConfig, data: &PreparedData) -> Vec<String> {
    let mut out = Vec::new();
    let params = exphil_policy::model::param_count(&config.policy, &data.spec);
    let b = &config.policy.backbone;
    let sequence = config.train.sequence.enabled && b.window().is_some();
    out.push(format!(
        "Dataset:        {} training / {} validation frames",
        data.provenance.training_frames, data.provenance.validation_frames
    ));
    if let Some(w) = b.temporal() {
        if sequence {
            let s = &config.train.sequence;
            out.push(format!(
                "Sequences:      unrolls of {} frames over {} streams (segments of {} frames), \
                 the loss on every frame",
                s.unroll, s.streams, s.segment_frames
            ));
        } else {
            let windows = data.provenance.training_frames / w.stride.max(1);
            out.push(format!(
                "Windows:        {} frames every {} (about {windows} training windows)",
                w.window_size, w.stride
            ));
        }
    }
    // The held-out games by file, so a plan's split can be checked (and kept with --seed).
    let held_out: Vec<&str> = data
        .manifest
        .games
        .iter()
        .filter(|g| {
            data.validation_hashes
                .binary_search(&g.content_hash)
                .is_ok()
        })
        .map(|g| g.source.as_str())
        .collect();
    if !held_out.is_empty() {
        let names: Vec<&str> = held_out
            .iter()
            .take(5)
            .map(|s| s.rsplit(['/', '\\']).next().unwrap_or(s))
            .collect();
        let more = held_out.len().saturating_sub(names.len());
        out.push(format!(
            "Validation:     {}{}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    out.push(format!("Parameters:     {params}"));
    let memory = match config.train.device_memory_limit {
        Some(b) => Some(format!("{} (--device-memory-limit)", mib(b as f64))),
        None => exphil_policy::device::memory_capacity(&config.device)
            .map(|m| format!("{} ({}, {})", mib(m.bytes as f64), m.adapter, m.source)),
    };
    out.push(format!(
        "Device:         {}, computing in {}{}",
        config.device,
        config.train.precision.name(),
        memory.map_or(String::new(), |m| format!(", memory {m}"))
    ));
    let seed = config.train.seed.unwrap_or(0);
    let batches = if sequence {
        data.train_streams(config, seed)
            .map(|s| s.batches_in_epoch(0))
            .map_err(|e| e.to_string())
    } else {
        data.train_loader(config, seed)
            .map(|l| l.batches_per_epoch())
            .map_err(|e| e.to_string())
    };
    match batches {
        Ok(n) => out.push(format!("Batches/epoch:  {n}")),
        Err(e) => out.push(format!("Batches/epoch:  unknown ({e})")),
    }
    match probe_memory(config, data) {
        Ok((peak, batches)) => {
            let shards: u64 = data
                .train_dirs
                .iter()
                .filter_map(|d| exphil_dataset::Shard::read_info(d).ok())
                .map(|i| i.open_bytes())
                .sum();
            out.push(format!(
                "Memory:         peak {} over {batches} real training steps of this config",
                mib(peak as f64)
            ));
            if !config.data.stream {
                out.push(format!(
                    "                the training shards hold {} open (compressed ones are \
                     decompressed into memory, .npy ones become resident as an epoch reads them): \
                     up to {} in all (--stream bounds it)",
                    mib(shards as f64),
                    mib((peak + shards) as f64)
                ));
            }
        }
        Err(e) => out.push(format!("Memory:         not measured ({e})")),
    }
    out.push("Dry run: nothing trained.".to_string());
    out
}

/// The peak resident memory (bytes) of a few real training steps of `config` on its data (no
/// validation, in a throwaway directory), and the steps run. Linux only (it resets and reads
/// the process's peak resident set).
pub fn probe_memory(config: &TrainConfig, data: &PreparedData) -> Result<(u64, usize), RunError> {
    const STEPS: usize = 3;
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident set.
    std::fs::write("/proc/self/clear_refs", "5").map_err(|source| RunError::Io {
        what: "this system cannot reset the peak memory counter".into(),
        source,
    })?;
    let mut cfg = config.clone();
    cfg.train.epochs = 1;
    cfg.train.max_batches = Some(STEPS * cfg.train.accumulation_steps.max(1));
    cfg.train.early_stopping = false;
    cfg.train.log_interval = 1;
    cfg.schedule.schedule = exphil_runs::config::ScheduleKind::Constant;
    let probe = PreparedData {
        manifest: data.manifest.clone(),
        spec: data.spec.clone(),
        train_dirs: data.train_dirs.clone(),
        val_dirs: Vec::new(),
        button_positives: data.button_positives,
        provenance: data.provenance.clone(),
        training_hashes: Vec::new(),
        validation_hashes: Vec::new(),
    };
    let dir = tempfile::tempdir().map_err(|source| RunError::Io {
        what: "a temporary directory for the probe".into(),
        source,
    })?;
    let opts = RunOptions {
        run_dir: dir.path().to_path_buf(),
        resume: None,
        stop: Arc::new(AtomicBool::new(false)),
        faults: FaultInjection::default(),
        init: None,
    };
    let mut steps = 0usize;
    train(&cfg, &probe, &opts, &mut |e| {
        if matches!(e, Event::Progress { .. }) {
            steps += 1;
        }
    })?;
    let peak = crate::state::proc_status_bytes("VmHWM:")
        .ok_or_else(|| RunError::Refused("no peak memory in /proc/self/status".into()))?;
    Ok((peak, steps.max(1)))
}

/// Refuses a config whose model needs more memory than this machine has (see
/// [`estimated_bytes`]); a no-op where the machine's memory cannot be read.
pub fn check_memory(config: &TrainConfig, seed: u64) -> Result<(), RunError> {
    let Some(total) = machine_memory() else {
        return Ok(());
    };
    let (need, params) = estimated_bytes(config, seed)?;
    if need > total {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        return Err(RunError::Refused(format!(
            "this model needs about {:.1} GiB ({params} parameters with their gradients, \
             optimiser state and copies, plus one batch's activations) and this machine has \
             {:.1} GiB: use a smaller model (--hidden, --hidden-size, --num-layers) or a smaller \
             batch, or add --ignore-memory-limit to try anyway",
            gib(need),
            gib(total)
        )));
    }
    Ok(())
}

/// This machine's memory in bytes (`MemTotal` of `/proc/meminfo`).
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A lower bound of what training `config` holds in memory, in bytes, and the model's
/// parameters: the weights and their gradients, optimiser moments, the best and EMA copies and
/// the recovery snapshot (f32 each), and one batch's activations kept for the backward pass.
pub fn estimated_bytes(config: &TrainConfig, seed: u64) -> Result<(u64, usize), RunError> {
    let build = crate::data::build_config(&config.data, seed)?;
    let embedder = exphil_embed::Embedder::new(build.embed.clone())?;
    let coder = exphil_embed::TargetCoder::new(build.targets.clone())?;
    let spec = exphil_policy::InputSpec::new(embedder.layout(), coder.num_classes());
    let params = exphil_policy::model::param_count(&config.policy, &spec);
    let moments = match config.optim.optimizer {
        exphil_runs::config::OptimizerKind::Sgd => 1,
        _ => 2,
    };
    let copies = 4 + moments + u64::from(config.train.ema);
    let b = &config.policy.backbone;
    let (rows, per_row) = match b.temporal() {
        None => {
            let hidden: usize = match b {
                exphil_runs::config::BackboneConfig::Mlp(m) => m.hidden.iter().sum(),
                _ => 0,
            };
            (config.train.batch_size, hidden * 4)
        }
        Some(w) => {
            let frames = if config.train.sequence.enabled {
                config.train.sequence.streams * config.train.sequence.unroll
            } else {
                config.train.batch_size * w.window_size
            };
            (frames, w.hidden_size * w.num_layers.max(1) * 12)
        }
    };
    let activations = (rows as u64)
        .saturating_mul((per_row + spec.features) as u64)
        .saturating_mul(4);
    Ok((
        (params as u64)
            .saturating_mul(4 * copies)
            .saturating_add(activations),
        params,
    ))
}

/// What `config.json` records about the run besides its config.
pub struct RunMeta {
    /// When the run was created.
    pub created_at: String,
    /// `imitation` or `fine_tune`.
    pub training_type: String,
    /// The run it was fine-tuned from.
    pub parent: Option<String>,
    /// When it was resumed.
    pub resumes: Vec<String>,
    /// Its policy's parameters.
    pub params: usize,
}

/// Writes the run's `config.json` ([`RunFile`]) with `status` and, when finished, its results.
pub fn write_config(
    run_dir: &Path,
    config: &TrainConfig,
    data: &PreparedData,
    meta: &RunMeta,
    status: &str,
    results: Option<&RunResults>,
) -> Result<(), RunError> {
    let value = |v: serde_json::Result<serde_json::Value>| v.map_err(RunError::from);
    let mut file = RunFile {
        timestamp: Some(rfc3339_utc(SystemTime::now())),
        created_at: Some(meta.created_at.clone()),
        status: Some(status.into()),
        // While running, the process (so a run killed outright is told apart).
        process: (status == "running").then(RunProcess::current),
        training_type: Some(meta.training_type.clone()),
        parent: meta.parent.clone(),
        resumes: meta.resumes.clone(),
        params: Some(meta.params as u64),
        exphil_version: Some(env!("CARGO_PKG_VERSION").into()),
        config: value(serde_json::to_value(config))?,
        provenance: value(serde_json::to_value(&data.provenance))?,
        results: value(serde_json::to_value(results))?,
        ..RunFile::default()
    };
    for (k, v) in [
        ("embed", serde_json::to_value(&data.manifest.embed)),
        ("layout", serde_json::to_value(&data.manifest.layout)),
        ("targets", serde_json::to_value(&data.manifest.targets)),
        ("input", serde_json::to_value(&data.spec)),
        (
            "pairing_version",
            serde_json::to_value(data.manifest.pairing_version),
        ),
    ] {
        file.other.insert(k.into(), value(v)?);
    }
    Ok(RunDir::new(run_dir).write(&file)?)
}

/// `games.json`: the content hashes of the run's training and validation games, so that
/// `exphil eval` can leave out games the policy trained on.
pub fn write_games(run_dir: &Path, data: &PreparedData) -> Result<(), RunError> {
    Ok(RunDir::new(run_dir).write_games(&RunGames {
        training: data.training_hashes.clone(),
        validation: data.validation_hashes.clone(),
    })?)
}

/// The weights of `--pretrained RUN` and the run's name, checked against this run: the same
/// architecture and the same input.
pub fn load_pretrained(
    arg: &str,
    ckpt_dir: &Path,
    config: &TrainConfig,
    data: &PreparedData,
) -> Result<(String, Vec<exphil_runs::tensors::NamedTensor>), RunError> {
    use exphil_policy::file::{check_policy_matches, read_weights};
    use exphil_policy::file::{META_POLICY, META_SPEC};
    let path = if Path::new(arg).exists() {
        PathBuf::from(arg)
    } else {
        resolve_run(ckpt_dir, arg).doing(|| format!("--pretrained {arg}"))?
    };
    let w = read_weights(&path).doing(|| format!("--pretrained {arg}"))?;
    let (tensors, meta, run_dir) = (w.tensors, w.metadata, w.run_dir);
    let policy = meta.get(META_POLICY).ok_or_else(|| {
        RunError::Refused(format!(
            "--pretrained {arg}: {} has no {META_POLICY} metadata",
            path.display()
        ))
    })?;
    check_policy_matches(policy, &config.policy, "this run's config")
        .map_err(|e| RunError::Refused(format!("--pretrained {arg}: {e}")))?;
    let spec: Option<exphil_policy::InputSpec> = meta
        .get(META_SPEC)
        .and_then(|s| serde_json::from_str(s).ok());
    if spec.as_ref() != Some(&data.spec) {
        return Err(RunError::Refused(format!(
            "--pretrained {arg}: the pretrained policy reads {} features and {} ids, this run's \
             data gives {} and {}: use the same embedding settings (embed preset, player names, \
             stick targets) as the pretrained run",
            spec.as_ref().map_or(0, |s| s.features),
            spec.as_ref().map_or(0, |s| s.ids),
            data.spec.features,
            data.spec.ids
        )));
    }
    let name = match &run_dir {
        Some(d) => d.file_name(),
        None => path.file_stem(),
    }
    .map(|n| n.to_string_lossy().into_owned())
    .unwrap_or_default();
    Ok((name, tensors))
}

/// What may change when a run is resumed: how long, where the dataset cache lives, the device
/// and the log cadence. Anything else would no longer be the run being resumed.
pub const RESUMABLE: [&str; 4] = [
    "loop.epochs",
    "data.cache_dir",
    "device",
    "loop.log_interval",
];

/// The config of the run that holds checkpoint `files` (read from its `config.json`, checksum
/// verified) with the [`RESUMABLE`] settings of the command-line overlay `cli` applied, and the
/// run's directory. Any other setting in `cli` is an error naming it.
pub fn resumed_config(
    files: &CheckpointFiles,
    cli: &serde_json::Value,
) -> Result<(TrainConfig, PathBuf), RunError> {
    let run_dir = files
        .dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| RunError::Refused("the checkpoint is not inside a run directory".into()))?;
    let run = RunDir::new(&run_dir);
    let mut config = run.read()?.train_config(&run.config_path())?;
    let mut v = serde_json::to_value(&config)?;
    exphil_runs::presets::merge(&mut v, cli);
    let changed: TrainConfig = serde_json::from_value(v)?;
    config.train.epochs = changed.train.epochs;
    config.train.log_interval = changed.train.log_interval;
    config.data.cache_dir = changed.data.cache_dir;
    config.device = changed.device;
    let ignored: Vec<String> = exphil_runs::presets::overlay_keys(cli)
        .into_iter()
        .filter(|k| !RESUMABLE.contains(&k.as_str()))
        .collect();
    if !ignored.is_empty() {
        return Err(RunError::Refused(format!(
            "--resume continues the run with its own config ({}); only --epochs, \
             --cache-dir, --device and --log-interval can change. Not applied: {}. To change \
             other settings, start a new run.",
            run.config_path().display(),
            ignored.join(", ")
        )));
    }
    Ok((config, run_dir))
}

/// The run's seed: the config's, or one drawn from the clock and process (then written into
/// the config, so the record reproduces it). Returns the seed and whether it was drawn.
pub fn resolve_seed(config: &mut TrainConfig) -> (u64, bool) {
    if let Some(s) = config.train.seed {
        return (s, false);
    }
    let s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id());
    config.train.seed = Some(s);
    (s, true)
}

/// The directory of a run about to train, and its name: `resumed` when continuing one, else a
/// new directory under `config.checkpoint.dir` (named by the config or by backbone and time;
/// an existing one is backed up or refused as the config says). The name is written into the
/// config.
pub fn open_run_dir(
    config: &mut TrainConfig,
    resumed: Option<PathBuf>,
) -> Result<(PathBuf, String), RunError> {
    let (dir, name) = match resumed {
        Some(d) => {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (d, name)
        }
        None => {
            let name = config.checkpoint.name.clone().unwrap_or_else(|| {
                default_run_name(config.policy.backbone.name(), SystemTime::now())
            });
            let backups = if config.checkpoint.backup {
                config.checkpoint.backup_count
            } else {
                0
            };
            let ckpt_dir = PathBuf::from(&config.checkpoint.dir);
            let dir = prepare_run_dir(&ckpt_dir, &name, config.checkpoint.overwrite, backups)?;
            (dir, name)
        }
    };
    config.checkpoint.name = Some(name.clone());
    Ok((dir, name))
}

impl RunMeta {
    /// The record of a run in `run_dir`: new (fine-tuned from `parent` when given), or, when
    /// `resumed`, the existing record's creation time, type and parent with this resume added.
    pub fn of(
        config: &TrainConfig,
        data: &PreparedData,
        parent: Option<String>,
        run_dir: &Path,
        resumed: bool,
    ) -> RunMeta {
        let now = rfc3339_utc(SystemTime::now());
        let mut meta = RunMeta {
            created_at: now.clone(),
            training_type: if parent.is_some() {
                "fine_tune".into()
            } else {
                "imitation".into()
            },
            parent,
            resumes: Vec::new(),
            params: exphil_policy::model::param_count(&config.policy, &data.spec),
        };
        if resumed {
            if let Ok(old) = RunDir::new(run_dir).read() {
                meta.created_at = old.created_at.or(old.timestamp).unwrap_or(meta.created_at);
                meta.parent = old.parent;
                meta.training_type = old.training_type.unwrap_or(meta.training_type);
                meta.resumes = old.resumes;
            }
            meta.resumes.push(now);
        }
        meta
    }
}

/// How a recorded run ended.
pub struct Recorded {
    /// The loop's summary.
    pub summary: RunSummary,
    /// Its figures, as `config.json` now records them.
    pub results: RunResults,
    /// What the model registry warned of.
    pub registry_warnings: Vec<String>,
}

/// Trains `config` in `opts.run_dir` with the run's record kept true throughout: `config.json`
/// says `running` (with the process) and `games.json` is written before the first step; at the
/// end the record says `completed`, `interrupted` or `failed` (also when the loop panics; the
/// panic then goes on) and the run is registered when the config asks.
pub fn train_recorded(
    config: &TrainConfig,
    data: &PreparedData,
    meta: &RunMeta,
    opts: &RunOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<Recorded, RunError> {
    let run_dir = &opts.run_dir;
    let ckpt_dir = run_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&config.checkpoint.dir));
    let register = |status: &str, results: Option<&RunResults>| -> Result<Vec<String>, RunError> {
        write_config(run_dir, config, data, meta, status, results)?;
        Ok(if config.checkpoint.register {
            register_run(&ckpt_dir, run_dir)?
        } else {
            Vec::new()
        })
    };
    write_config(run_dir, config, data, meta, "running", None)?;
    if let Err(e) = write_games(run_dir, data) {
        let _ = write_config(run_dir, config, data, meta, "failed", None);
        return Err(e);
    }
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(config, data, opts, on_event)
    })) {
        Ok(r) => r,
        Err(panic) => {
            let _ = register("failed", None);
            std::panic::resume_unwind(panic);
        }
    };
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            register("failed", None)?;
            return Err(e.into());
        }
    };
    let results = summary.state.results();
    let status = if summary.interrupted.is_some() {
        "interrupted"
    } else {
        "completed"
    };
    let registry_warnings = register(status, Some(&results))?;
    Ok(Recorded {
        summary,
        results,
        registry_warnings,
    })
}
