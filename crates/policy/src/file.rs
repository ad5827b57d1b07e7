//! The weights file of a trained policy (`model.safetensors`): the metadata keys, the format
//! version, what the trainer writes beside the tensors ([`metadata`]), and loading a policy for
//! use (evaluation, play, fine-tuning) from a run directory or a weights file, validated before
//! use. Every mismatch is explained in words: a file from a newer exphil, weights whose metadata
//! says one architecture while the run's config says another ("this checkpoint is a temporal
//! GRU; the config says an MLP"), an embedding that no longer gives the recorded input width, or
//! tensors that do not fit the architecture.

use crate::{params, InputSpec, Policy};
use burn::tensor::Device;
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig, NUM_BUTTONS};
use exphil_runs::config::{DataConfig, PolicyConfig, TrainConfig};
use exphil_runs::presets::config_differences;
use exphil_runs::resume::find_resume;
use exphil_runs::rundir::{RunDir, MODEL_FILE};
use exphil_runs::tensors::{decode_tensors, NamedTensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Metadata key of the policy config in a weights file.
pub const META_POLICY: &str = "exphil.policy";
/// Metadata key of the input spec.
pub const META_SPEC: &str = "exphil.spec";
/// Metadata key of the embedding config.
pub const META_EMBED: &str = "exphil.embed";
/// Metadata key of the target config.
pub const META_TARGETS: &str = "exphil.targets";
/// Model metadata key: the per-button positive weights of the training loss (JSON array), which
/// [`Policy::with_button_pos_weight`] needs to turn button logits into press probabilities.
pub const META_BUTTON_POS_WEIGHT: &str = "exphil.button_pos_weight";
/// Metadata key of the weights-file format version.
pub const META_FORMAT: &str = "exphil.format_version";
/// The weights-file format written, and the newest this build reads. Files without the key
/// (written before it existed) are version 1.
pub const FORMAT_VERSION: u32 = 1;
/// Metadata key of the data config (frame delay, perspective) the policy was trained with.
pub const META_DATA: &str = "exphil.data";
/// Metadata key of the pairing version of the policy's training examples
/// ([`exphil_dataset::PAIRING_VERSION`]); files without it were trained with pairing v1.
pub const META_PAIRING: &str = "exphil.pairing_version";

/// What a weights file records besides its tensors: everything needed to rebuild the policy and
/// feed it.
pub struct WeightsInfo<'a> {
    /// The architecture.
    pub policy: &'a PolicyConfig,
    /// What the network reads.
    pub spec: &'a InputSpec,
    /// The embedding of game states.
    pub embed: &'a EmbedConfig,
    /// The controller targets.
    pub targets: &'a TargetConfig,
    /// The per-button positive weights of the training loss.
    pub button_pos_weight: &'a [f32; NUM_BUTTONS],
    /// The training data config (frame delay, perspective).
    pub data: &'a DataConfig,
    /// The pairing version of the training examples.
    pub pairing_version: u32,
}

/// The metadata of a weights file in format [`FORMAT_VERSION`], written beside the tensors
/// (`exphil_runs::tensors::encode_tensors`); [`load_policy`] reads it back.
pub fn metadata(info: &WeightsInfo<'_>) -> BTreeMap<String, String> {
    let j = |v: serde_json::Result<String>| v.unwrap_or_default();
    BTreeMap::from([
        (
            META_BUTTON_POS_WEIGHT.into(),
            j(serde_json::to_string(info.button_pos_weight)),
        ),
        (META_POLICY.into(), j(serde_json::to_string(info.policy))),
        (META_SPEC.into(), j(serde_json::to_string(info.spec))),
        (META_EMBED.into(), j(serde_json::to_string(info.embed))),
        (META_TARGETS.into(), j(serde_json::to_string(info.targets))),
        (META_DATA.into(), j(serde_json::to_string(info.data))),
        (META_FORMAT.into(), FORMAT_VERSION.to_string()),
        (META_PAIRING.into(), info.pairing_version.to_string()),
        ("format".into(), "pt".into()),
    ])
}

/// Why a policy could not be loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LoadError {
    /// The file or directory.
    pub path: PathBuf,
    /// What is wrong, in words.
    pub reason: String,
}

fn err(path: &Path, reason: impl Into<String>) -> LoadError {
    LoadError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A policy ready to run, with everything needed to feed it.
pub struct LoadedPolicy {
    /// The network (on the device it was loaded to).
    pub policy: Policy,
    /// Its architecture.
    pub config: PolicyConfig,
    /// What the network reads.
    pub spec: InputSpec,
    /// The embedding of game states.
    pub embed: EmbedConfig,
    /// The controller targets.
    pub targets: TargetConfig,
    /// The training data config (frame delay, perspective), when known.
    pub data: Option<DataConfig>,
    /// The whole training config, when loaded from a run directory.
    pub run_config: Option<TrainConfig>,
    /// The run directory, when there is one.
    pub run_dir: Option<PathBuf>,
    /// The weights file read.
    pub model_path: PathBuf,
    /// Trainable parameters.
    pub params: usize,
    /// The pairing version of its training examples (1 when the file does not say).
    pub pairing_version: u32,
}

impl LoadedPolicy {
    /// Whether it was trained with the pairing this exphil plays by; if not, why that matters
    /// (`serve` and `play` refuse such a policy, `eval` warns).
    pub fn check_pairing(&self) -> Result<(), String> {
        if self.pairing_version == exphil_dataset::PAIRING_VERSION {
            return Ok(());
        }
        Err(format!(
            "trained with pairing v{} (its features hold the state of the frame whose input \
             is the target, which a live bot never has); this exphil pairs by v{}: retrain it",
            self.pairing_version,
            exphil_dataset::PAIRING_VERSION
        ))
    }

    /// The run's name (its directory's name, else the weights file's stem).
    pub fn name(&self) -> String {
        match &self.run_dir {
            Some(d) => d.file_name(),
            None => self.model_path.file_stem(),
        }
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
    }

    /// The characters the policy trained on (its `--train-character`, else its `--characters`
    /// filter, else every character of its training games), as written in its run.
    pub fn trained_characters(&self) -> Vec<String> {
        let data = self.data.clone().unwrap_or_default();
        if !data.train_character.is_empty() {
            data.train_character
        } else if !data.characters.is_empty() {
            data.characters
        } else {
            self.run_dir
                .as_ref()
                .and_then(|d| RunDir::new(d).read().ok())
                .and_then(|v| {
                    v.provenance["character_distribution"]
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                })
                .unwrap_or_default()
        }
    }

    /// The frame delay the policy was trained with (0 when unknown).
    pub fn frame_delay(&self) -> u8 {
        self.data.as_ref().map_or(0, |d| d.frame_delay)
    }
}

/// Reads a run's `config.json` training config.
pub fn read_run_config(run_dir: &Path) -> Result<TrainConfig, LoadError> {
    let run = RunDir::new(run_dir);
    let path = run.config_path();
    run.read()
        .and_then(|f| f.train_config(&path))
        .map_err(|e| match e {
            exphil_runs::rundir::ModelsError::Run { path, reason } => err(&path, reason),
            other => err(&path, other.to_string()),
        })
}

/// Checks that weights whose metadata holds `meta_policy` (JSON) belong to the architecture
/// `expected` (from a config); `what` names where `expected` came from.
pub fn check_policy_matches(
    meta_policy: &str,
    expected: &PolicyConfig,
    what: &str,
) -> Result<(), String> {
    let found: serde_json::Value = serde_json::from_str(meta_policy)
        .map_err(|e| format!("{META_POLICY} is not JSON ({e})"))?;
    let want = serde_json::to_value(expected).unwrap_or_default();
    if found == want {
        return Ok(());
    }
    let found_cfg: Option<PolicyConfig> = serde_json::from_value(found.clone()).ok();
    let described = |c: &PolicyConfig| c.backbone.describe();
    let diffs = config_differences(&want, &found);
    let list = diffs
        .iter()
        .take(8)
        .map(|(k, a, b)| format!("{k}: {b} here, {a} in {what}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(match found_cfg {
        Some(f) if f.backbone.name() != expected.backbone.name() => format!(
            "this checkpoint is {}; {what} says {}. The weights and the config come from \
             different runs (or the config was edited after training)",
            described(&f),
            described(expected)
        ),
        Some(f) => format!(
            "this checkpoint is {} but differs from {what}, which says {}: {list}",
            described(&f),
            described(expected)
        ),
        None => format!("its architecture is not one this exphil knows: {list}"),
    })
}

/// Where the weights of `path` are: a weights file itself; a run directory's final
/// `model.safetensors`; or, when the run has none yet (still training, interrupted), its most
/// advanced valid checkpoint; or a checkpoint directory.
fn weights_of(path: &Path) -> Result<(PathBuf, Vec<u8>, Option<PathBuf>), LoadError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| err(p, e.to_string()));
    if path.is_file() {
        let dir = RunDir::of_file(path).map(|d| d.path().to_path_buf());
        return Ok((path.to_path_buf(), read(path)?, dir));
    }
    if !path.exists() {
        return Err(err(path, "no such file or directory"));
    }
    let run = RunDir::new(path);
    let model = run.model_path();
    if model.is_file() {
        let dir = run.exists().then(|| path.to_path_buf());
        return Ok((model.clone(), read(&model)?, dir));
    }
    let ck = find_resume(path).map_err(|e| {
        err(
            path,
            format!("no {MODEL_FILE} and no loadable checkpoint ({e})"),
        )
    })?;
    let bytes = ck
        .get(MODEL_FILE)
        .ok_or_else(|| err(&ck.dir, format!("the checkpoint has no {MODEL_FILE}")))?
        .to_vec();
    let run_dir = ck
        .dir
        .parent()
        .and_then(Path::parent)
        .filter(|d| RunDir::new(d).exists())
        .map(Path::to_path_buf);
    Ok((ck.dir.join(MODEL_FILE), bytes, run_dir))
}

fn meta_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    meta: &BTreeMap<String, String>,
    key: &str,
) -> Result<T, LoadError> {
    let text = meta.get(key).ok_or_else(|| {
        err(
            path,
            format!("has no {key} metadata: it is not a policy written by exphil train"),
        )
    })?;
    serde_json::from_str(text).map_err(|e| {
        err(
            path,
            format!("its {key} metadata does not parse ({e}); was it written by a newer exphil?"),
        )
    })
}

/// The format version of weights metadata, refusing a newer one in words.
pub fn check_format(path: &Path, meta: &BTreeMap<String, String>) -> Result<u32, LoadError> {
    let v = match meta.get(META_FORMAT) {
        None => 1,
        Some(s) => s.parse::<u32>().map_err(|_| {
            err(
                path,
                format!("its {META_FORMAT} is {s:?}, not a version number"),
            )
        })?,
    };
    if v > FORMAT_VERSION {
        return Err(err(
            path,
            format!(
                "it was written by a newer exphil (model format {v}; this exphil {} reads up to \
                 format {FORMAT_VERSION}). Upgrade exphil to use it",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    Ok(v)
}

/// A weights file's contents.
pub struct Weights {
    /// The tensors.
    pub tensors: Vec<NamedTensor>,
    /// The metadata.
    pub metadata: BTreeMap<String, String>,
    /// The run directory it belongs to, when there is one.
    pub run_dir: Option<PathBuf>,
}

/// Reads the tensors and metadata of the weights at `path` (see [`load_policy`] for what
/// `path` may be), refusing a newer format.
pub fn read_weights(path: &Path) -> Result<Weights, LoadError> {
    let (file, bytes, run_dir) = weights_of(path)?;
    let (tensors, metadata) =
        decode_tensors(&file, &bytes).map_err(|e| err(&file, e.to_string()))?;
    check_format(&file, &metadata)?;
    Ok(Weights {
        tensors,
        metadata,
        run_dir,
    })
}

/// [`load_policy`] for playing (serve, play, the simulator, PPO): refuses a policy trained with
/// another pairing of features and targets ([`LoadedPolicy::check_pairing`]), since it would
/// answer for a different frame than the one its input is applied to.
pub fn load_for_play(path: &Path, device: &Device) -> Result<LoadedPolicy, LoadError> {
    let loaded = load_policy(path, device)?;
    loaded
        .check_pairing()
        .map_err(|reason| err(&loaded.model_path, reason))?;
    Ok(loaded)
}

/// Loads the policy at `path` (a run directory, a checkpoint directory or a weights file) onto
/// `device`, validated: see the module docs.
pub fn load_policy(path: &Path, device: &Device) -> Result<LoadedPolicy, LoadError> {
    let (file, bytes, run_dir) = weights_of(path)?;
    let (tensors, meta) = decode_tensors(&file, &bytes).map_err(|e| err(&file, e.to_string()))?;
    drop(bytes);
    check_format(&file, &meta)?;
    let config: PolicyConfig = meta_json(&file, &meta, META_POLICY).map_err(|e| {
        // Name the backbone when it is one this build does not know.
        let kind = meta
            .get(META_POLICY)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v["backbone"]["type"].as_str().map(str::to_owned));
        match kind {
            Some(k) if exphil_runs::config::BackboneConfig::default_of(&k).is_none() => err(
                &file,
                format!(
                    "its backbone {k:?} is not one this exphil knows ({}); was it written by a \
                     newer exphil?",
                    exphil_runs::config::BACKBONES.join(", ")
                ),
            ),
            _ => e,
        }
    })?;
    let spec: InputSpec = meta_json(&file, &meta, META_SPEC)?;
    let embed: EmbedConfig = meta_json(&file, &meta, META_EMBED)?;
    let targets: TargetConfig = meta_json(&file, &meta, META_TARGETS)?;
    let pos_weight: [f32; NUM_BUTTONS] = meta_json(&file, &meta, META_BUTTON_POS_WEIGHT)?;
    let mut data: Option<DataConfig> = match meta.get(META_DATA) {
        Some(_) => Some(meta_json(&file, &meta, META_DATA)?),
        None => None,
    };
    let run_config = match &run_dir {
        Some(dir) => {
            let c = read_run_config(dir)?;
            let what = format!("the config {}", RunDir::new(dir).config_path().display());
            check_policy_matches(&meta[META_POLICY], &c.policy, &what)
                .map_err(|reason| err(&file, reason))?;
            data.get_or_insert_with(|| c.data.clone());
            Some(c)
        }
        None => None,
    };
    // The embedding and targets must still give the input and heads the network was built for.
    let embedder = Embedder::new(embed.clone())
        .map_err(|e| err(&file, format!("its embedding config is invalid here ({e})")))?;
    let coder = TargetCoder::new(targets.clone())
        .map_err(|e| err(&file, format!("its target config is invalid here ({e})")))?;
    let expect = InputSpec::new(embedder.layout(), coder.num_classes());
    if expect != spec {
        let what = if expect.classes != spec.classes {
            format!(
                "its target config gives {:?} stick/shoulder classes but the network predicts {:?}",
                expect.classes, spec.classes
            )
        } else {
            format!(
                "the embedding recorded in it gives {} features and {} ids, but the network \
                 reads {} and {}",
                expect.features, expect.ids, spec.features, spec.ids
            )
        };
        return Err(err(
            &file,
            format!("{what}: the embedding changed since it was trained (another exphil version?)"),
        ));
    }
    // The recorded architecture must be the one the tensors hold before anything is built: a
    // forged or damaged header could otherwise declare a network of any size.
    let problems = config.size_problems();
    if !problems.is_empty() {
        return Err(err(
            &file,
            format!(
                "its metadata declares a network beyond exphil's bounds ({}); refused before \
                 building it",
                problems.join("; ")
            ),
        ));
    }
    let declared = crate::model::param_count(&config, &spec);
    let held: usize = tensors.iter().map(|t| t.data.len()).sum();
    if declared != held {
        return Err(err(
            &file,
            format!(
                "its metadata declares {} with {declared} parameters, but the file holds {held} \
                 values; refused before building it",
                config.backbone.describe()
            ),
        ));
    }
    let built = Policy::new(&config, &spec, device).with_button_pos_weight(&pos_weight);
    let policy = params::import(built, &tensors).map_err(|e| {
        err(
            &file,
            format!(
                "its weights do not fit {} as recorded in it: {e}",
                config.backbone.describe()
            ),
        )
    })?;
    let params = params::shapes(&policy)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    Ok(LoadedPolicy {
        policy,
        config,
        spec,
        embed,
        targets,
        data,
        run_config,
        run_dir,
        model_path: file,
        params,
        pairing_version: meta
            .get(META_PAIRING)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    })
}
