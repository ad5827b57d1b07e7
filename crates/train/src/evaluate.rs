//! The evaluation `exphil eval` runs: one or two policies teacher-forced on the same replays,
//! each game decoded once per distinct view (embedding, targets, delay), games a policy trained
//! on left out unless asked, and a report per policy (saved in its run directory as
//! `eval_<hash>.json`, the hash naming the games and settings, so evaluations on the same
//! frames rank together).

use crate::error::{Doing, RunError};
use crate::eval::{
    class_values, evaluate_batch, sequences_of_replay, step_latency, DataInfo, EvalReport,
    Evaluator, Mode, PolicyInfo, Sequence, SequenceOptions, EVAL_VERSION,
};
use burn::tensor::Device;
use exphil_corpus::Filter;
use exphil_embed::{Embedder, TargetCoder};
use exphil_policy::file::{load_policy, LoadedPolicy};
use exphil_runs::checkpoint::rfc3339_utc;
use exphil_runs::models::register_run;
use exphil_runs::rundir::RunDir;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What to evaluate, on what.
pub struct EvalRequest {
    /// The policies (one, or two to compare): a name for messages and a weights file or run
    /// directory.
    pub policies: Vec<(String, PathBuf)>,
    /// The replay folders or files given (recorded in the report).
    pub roots: Vec<PathBuf>,
    /// The replay files under them, in the order to read.
    pub files: Vec<PathBuf>,
    /// Which games count.
    pub filter: Filter,
    /// Frames between state and target (default: each policy's training delay).
    pub frame_delay: Option<u8>,
    /// How a temporal policy sees the frames (default: stepping).
    pub mode: Option<Mode>,
    /// Score only the inputs of frames from this one.
    pub from_frame: Option<i32>,
    /// Keep games the policies trained on.
    pub include_training: bool,
    /// Write each report into its run directory.
    pub save: bool,
    /// Replays decoded at once.
    pub batch_games: usize,
    /// Where the policies run.
    pub device: Device,
}

/// What an evaluation tells its caller as it goes.
pub enum EvalEvent {
    /// Something the user should know (the evaluation goes on).
    Warning(String),
    /// The replays, before the first is read.
    Files(usize),
    /// `n` more replays read.
    Read(usize),
}

/// One policy under evaluation.
struct Subject {
    loaded: LoadedPolicy,
    mode: Mode,
    opts: SequenceOptions,
    ev: Evaluator,
    values: [Vec<f32>; 5],
    /// Index of the decoding it shares (same embedding, targets and delay).
    decoding: usize,
}

/// A way of turning replays into sequences: its key, embedder, target coder and options.
type Decoding = (String, Embedder, TargetCoder, SequenceOptions);

/// Evaluates the request's policies on its replays; one report per policy, in order.
pub fn evaluate(
    req: &EvalRequest,
    on: &mut dyn FnMut(EvalEvent),
) -> Result<Vec<EvalReport>, RunError> {
    let (mut subjects, decodings) = subjects(req, on)?;
    // Games the policies trained on are left out.
    let (training, validation, known) = recorded_games(&subjects, req.include_training, on)?;
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    let mut evaluated: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    on(EvalEvent::Files(req.files.len()));
    for chunk in req.files.chunks(req.batch_games.max(1)) {
        for (d, (_, embedder, coder, opts)) in decodings.iter().enumerate() {
            let decoded: Vec<(PathBuf, Result<Vec<Sequence>, String>)> = chunk
                .par_iter()
                .map(|p| {
                    (
                        p.clone(),
                        sequences_of_replay(p, embedder, coder, opts, &req.filter),
                    )
                })
                .collect();
            let mut seqs = Vec::new();
            for (path, r) in decoded {
                // The same game twice counts once (unless --keep-duplicates).
                let dup = match &r {
                    Ok(v) if req.filter.dedupe => v.first().and_then(|s| {
                        let first = seen
                            .entry(s.content_hash.clone())
                            .or_insert_with(|| path.clone());
                        (*first != path).then(|| first.clone())
                    }),
                    _ => None,
                };
                if let Some(first) = dup {
                    if d == 0 {
                        skipped.push((
                            path.display().to_string(),
                            format!("duplicate of {}", first.display()),
                        ));
                    }
                    continue;
                }
                match r {
                    Ok(v) => {
                        for s in v {
                            if !req.include_training && training.contains(&s.content_hash) {
                                excluded.insert(s.content_hash.clone());
                            } else {
                                evaluated.insert(s.content_hash.clone());
                                seqs.push(s);
                            }
                        }
                    }
                    // Reported once, from the first decoding.
                    Err(e) if d == 0 => skipped.push((path.display().to_string(), e)),
                    Err(_) => {}
                }
            }
            for s in subjects.iter_mut().filter(|s| s.decoding == d) {
                // Lock-step groups of at most 32 sequences for stepping.
                for group in seqs.chunks(32) {
                    evaluate_batch(&s.loaded, group, s.mode, &req.device, &mut s.ev);
                }
            }
        }
        on(EvalEvent::Read(chunk.len()));
    }
    if subjects.iter().any(|s| s.ev.frames() == 0) {
        return Err(RunError::Refused(nothing_evaluated(
            &skipped, &excluded, &evaluated,
        )));
    }
    let created = rfc3339_utc(SystemTime::now());
    let mut reports = Vec::new();
    for s in &subjects {
        let latency = step_latency(&s.loaded, 200, &req.device);
        let metrics = s.ev.finish(&s.values, Some(latency));
        let hash = frames_hash(&evaluated, s, req);
        let report = EvalReport {
            version: EVAL_VERSION,
            created_at: created.clone(),
            mode: s.mode,
            summary: metrics.summary(&created, s.mode),
            policy: PolicyInfo {
                name: s.loaded.name(),
                model: s.loaded.model_path.display().to_string(),
                backbone: s.loaded.config.backbone.name().into(),
                description: s.loaded.config.backbone.describe(),
                params: s.loaded.params,
            },
            data: DataInfo {
                hash,
                replays: req.roots.iter().map(|p| p.display().to_string()).collect(),
                files: req.files.len(),
                skipped: skipped.clone(),
                excluded_training: excluded.len(),
                validation_games: evaluated.intersection(&validation).count(),
                training_games_known: known,
                frame_delay: s.opts.frame_delay,
                from_frame: req.from_frame,
            },
            metrics,
        };
        if req.save {
            if let Some(dir) = &s.loaded.run_dir {
                for w in save(dir, &report)? {
                    on(EvalEvent::Warning(format!("registry: {w}")));
                }
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The policies loaded, each with its evaluator, and the distinct decodings they need.
fn subjects(
    req: &EvalRequest,
    on: &mut dyn FnMut(EvalEvent),
) -> Result<(Vec<Subject>, Vec<Decoding>), RunError> {
    let mut subjects = Vec::new();
    let mut decodings: Vec<Decoding> = Vec::new();
    for (name, path) in &req.policies {
        let loaded = load_policy(path, &req.device).doing(|| format!("loading {name}"))?;
        if let Err(why) = loaded.check_pairing() {
            on(EvalEvent::Warning(format!(
                "{name}: {why}; its scores are not comparable with this pairing's"
            )));
        }
        let opts = SequenceOptions::for_policy(&loaded, req.frame_delay)
            .map_err(|e| RunError::Refused(format!("{name}: {e}")))?;
        let key = serde_json::to_string(&(
            &loaded.embed,
            &loaded.targets,
            opts.frame_delay,
            format!("{:?}", opts.perspective),
        ))?;
        let decoding = match decodings.iter().position(|d| d.0 == key) {
            Some(i) => i,
            None => {
                let embedder = Embedder::new(loaded.embed.clone())
                    .map_err(|e| RunError::Refused(format!("{name}: {e}")))?;
                let coder = TargetCoder::new(loaded.targets.clone())
                    .map_err(|e| RunError::Refused(format!("{name}: {e}")))?;
                decodings.push((key, embedder, coder, opts.clone()));
                decodings.len() - 1
            }
        };
        let coder = &decodings[decoding].2;
        let mode = Mode::for_policy(&loaded.policy, req.mode);
        subjects.push(Subject {
            ev: Evaluator::new(loaded.spec.classes, coder).from_frame(req.from_frame),
            values: class_values(coder),
            mode,
            opts,
            decoding,
            loaded,
        });
    }
    if subjects.len() == 2 && decodings.len() == 2 {
        on(EvalEvent::Warning(
            "the two policies embed the games or code the targets differently (or use \
             different delays); each is evaluated on its own view of the same games, so their \
             likelihoods are not strictly comparable"
                .into(),
        ));
    }
    Ok((subjects, decodings))
}

/// The games the policies trained on and validated on (from their runs' `games.json`), and
/// whether every policy's are known.
fn recorded_games(
    subjects: &[Subject],
    include_training: bool,
    on: &mut dyn FnMut(EvalEvent),
) -> Result<(BTreeSet<String>, BTreeSet<String>, bool), RunError> {
    let mut training: BTreeSet<String> = BTreeSet::new();
    let mut validation: BTreeSet<String> = BTreeSet::new();
    let mut known = true;
    for s in subjects {
        let recorded = match s
            .loaded
            .run_dir
            .as_deref()
            .map(|d| RunDir::new(d).read_games())
        {
            Some(Ok(r)) => r,
            // A damaged record must not let training games into the evaluation unnoticed.
            Some(Err(e)) if !include_training => {
                return Err(RunError::Refused(format!(
                    "{e}\nwhich games the policy trained on cannot be told, so its evaluation \
                     could include them; pass --include-training to evaluate anyway"
                )))
            }
            Some(Err(e)) => {
                on(EvalEvent::Warning(format!(
                    "{e} (evaluating with --include-training)"
                )));
                None
            }
            None => None,
        };
        match recorded {
            Some(g) => {
                training.extend(g.training);
                validation.extend(g.validation);
            }
            None => known = false,
        }
    }
    if !known && !include_training {
        on(EvalEvent::Warning(format!(
            "which games {} trained on is not recorded (no games.json in its run \
             directory); the evaluation may include them",
            if subjects.len() == 1 {
                "the policy"
            } else {
                "a policy"
            }
        )));
    }
    Ok((training, validation, known))
}

/// Why no frame was evaluated.
fn nothing_evaluated(
    skipped: &[(String, String)],
    excluded: &BTreeSet<String>,
    evaluated: &BTreeSet<String>,
) -> String {
    if !excluded.is_empty() && evaluated.is_empty() {
        return format!(
            "all {} usable games were training games of the policy (add --include-training \
             to evaluate on them anyway, or give other replays)",
            excluded.len()
        );
    }
    let reasons: Vec<String> = skipped
        .iter()
        .take(3)
        .map(|(p, e)| format!("{p}: {e}"))
        .collect();
    format!(
        "no frame could be evaluated ({} files skipped{})",
        skipped.len(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", reasons.join("; "))
        }
    )
}

/// The hash of the frames a subject was evaluated on: the games and what decides the
/// examples. Stepping a temporal policy and feeding an MLP single frames see the same frames
/// (so their evaluations share a hash and rank together); windows leave out each game's first
/// frames.
fn frames_hash(evaluated: &BTreeSet<String>, s: &Subject, req: &EvalRequest) -> String {
    let settings = format!(
        "delay={};perspective={:?};include_training={}{}{}",
        s.opts.frame_delay,
        s.opts.perspective,
        req.include_training,
        if s.mode == Mode::Windows {
            format!(";windows={}", s.loaded.policy.backbone.window())
        } else {
            String::new()
        },
        req.from_frame
            .map_or_else(String::new, |f| format!(";from_frame={f}"))
    );
    let mut key = evaluated
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    key.push('\n');
    key.push_str(&settings);
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

/// Writes `eval_<hash>.json` and refreshes the run's registry record (when the run is in a
/// registry); returns the registry's warnings.
fn save(run_dir: &Path, report: &EvalReport) -> Result<Vec<String>, RunError> {
    let path = RunDir::new(run_dir).eval_path(&report.data.hash);
    let bytes = exphil_runs::rundir::sealed_json(&serde_json::to_value(report)?);
    exphil_io::write_atomic(&path, &bytes).map_err(|source| RunError::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    match run_dir.parent() {
        Some(ckpt) if ckpt.join(exphil_runs::registry::REGISTRY_FILE).exists() => {
            Ok(register_run(ckpt, run_dir)?)
        }
        _ => Ok(Vec::new()),
    }
}
