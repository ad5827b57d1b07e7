//! The training data of a run: a dataset built from replays (cached and reused) or a prepared
//! dataset directory, split into training and validation by whole games, with the statistics
//! the trainer and the run's provenance need.

use exphil_corpus::discover;
use exphil_dataset::{
    build, split_games, BuildConfig, BuildSettings, DatasetManifest, EmbedSource, FilterSettings,
    Loader, LoaderConfig, NamesSource, NoiseConfig, Progress, Shard, Split, StreamConfig,
    StreamLoader, VARIANT_ORIGINAL,
};
use exphil_embed::TARGET_COLUMNS;
use exphil_embed::{TargetCoder, NUM_BUTTONS};
use exphil_policy::InputSpec;
use exphil_runs::config::{DataConfig, TrainConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the data could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A setting cannot be turned into a dataset build.
    #[error("{0}")]
    Config(String),
    /// Building or reading the dataset failed.
    #[error("{context}: {message}")]
    Dataset {
        /// What was being done.
        context: String,
        /// The underlying error.
        message: String,
    },
    /// Nothing to train on.
    #[error("{0}")]
    Empty(String),
}

fn ds_err(context: impl Into<String>) -> impl FnOnce(String) -> DataError {
    let context = context.into();
    move |message| DataError::Dataset { context, message }
}

/// The dataset build of a data config (`seed` seeds delay augmentation and noise).
pub fn build_config(d: &DataConfig, seed: u64) -> Result<BuildConfig, DataError> {
    let settings = BuildSettings {
        embed: EmbedSource::Preset(d.embed_preset.clone()),
        player_names: match d.num_player_names {
            0 => NamesSource::Off,
            n => NamesSource::Build(n),
        },
        kmeans_centers: d.kmeans_centers.as_ref().map(PathBuf::from),
        player_port: d.player_port,
        train_character: d.train_character.clone(),
        frame_delay: d.frame_delay,
        delay_augment: d
            .frame_delay_augment
            .then_some((d.frame_delay_min, d.frame_delay_max)),
        mirror: d.augment,
        noise: (d.augment && d.noise_copies > 0).then_some(NoiseConfig {
            std: d.noise_std,
            copies: d.noise_copies,
        }),
        seed,
        filter: FilterSettings {
            characters: d.characters.clone(),
            stages: d.stages.clone(),
            min_frames: d.min_frames.map(|f| f as usize),
            human_only: d.human_only,
            one_v_one: d.one_v_one,
            min_quality: d.min_quality,
            dedupe: d.skip_duplicates,
        },
        threads: d.threads,
        ..BuildSettings::default()
    };
    settings
        .resolve()
        .map_err(|e| DataError::Config(e.to_string()))
}

/// Where the provenance of a run's data is recorded (`config.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The dataset directory.
    pub dataset_dir: String,
    /// Replay files used (games in the dataset).
    pub replay_count: usize,
    /// Their paths, when at most 500.
    pub replay_files: Vec<String>,
    /// xxh3 of the sorted content hashes of the games (equal hashes: the same data).
    pub replay_manifest_hash: String,
    /// Learning-player frames per character.
    pub character_distribution: BTreeMap<String, u64>,
    /// Training examples (augmented copies included).
    pub training_frames: usize,
    /// Validation examples (the originals: validation never scores a copy).
    pub validation_frames: usize,
    /// Training games.
    pub training_games: usize,
    /// Validation games.
    pub validation_games: usize,
    /// Files skipped by the build, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The data of a run.
pub struct PreparedData {
    /// The dataset's manifest.
    pub manifest: DatasetManifest,
    /// What the network reads.
    pub spec: InputSpec,
    /// Training shard directories.
    pub train_dirs: Vec<PathBuf>,
    /// Validation shard directories.
    pub val_dirs: Vec<PathBuf>,
    /// Button presses per button in the training data, and training rows.
    pub button_positives: ([u64; NUM_BUTTONS], u64),
    /// Provenance for `config.json`.
    pub provenance: Provenance,
    /// Content hashes of the training games, sorted (so evaluation can leave them out).
    pub training_hashes: Vec<String>,
    /// Content hashes of the validation games, sorted.
    pub validation_hashes: Vec<String>,
}

/// The default dataset cache (`~/.cache/exphil/datasets`).
pub fn default_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("exphil").join("datasets")
}

/// Builds (or reuses) the dataset of `cfg.data` and splits it. `progress` sees the build.
pub fn prepare(
    cfg: &TrainConfig,
    seed: u64,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<PreparedData, DataError> {
    let d = &cfg.data;
    let dir = match &d.dataset {
        Some(dir) => PathBuf::from(dir),
        None => {
            if d.replays.is_empty() {
                return Err(DataError::Config(
                    "no replays: give --replays DIR (or set EXPHIL_REPLAYS_DIR), or --dataset DIR"
                        .into(),
                ));
            }
            let roots: Vec<PathBuf> = d.replays.iter().map(PathBuf::from).collect();
            let (mut files, unreadable) = discover(&roots);
            if files.is_empty() {
                let why = unreadable
                    .first()
                    .map(|(p, e)| format!(" ({}: {e})", p.display()))
                    .unwrap_or_default();
                return Err(DataError::Empty(format!(
                    "no .slp replays found under {}{why}",
                    d.replays.join(", ")
                )));
            }
            files.sort();
            if let Some(n) = d.max_files {
                files.truncate(n);
            }
            let bc = build_config(d, seed)?;
            let mut key = serde_json::to_vec(&bc).unwrap_or_default();
            for f in &files {
                key.extend_from_slice(
                    std::fs::canonicalize(f)
                        .unwrap_or_else(|_| f.clone())
                        .to_string_lossy()
                        .as_bytes(),
                );
                key.push(0);
            }
            let cache = d
                .cache_dir
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(default_cache_dir);
            let out = cache.join(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&key)));
            build(&files, &out, &bc, false, progress)
                .map_err(|e| e.to_string())
                .map_err(ds_err(format!("building the dataset in {}", out.display())))?;
            out
        }
    };
    open(&dir, cfg, seed)
}

/// Opens a built dataset and splits its games (at least one validation game when
/// `val_split > 0` and there are two games or more).
pub fn open(dir: &Path, cfg: &TrainConfig, split_seed: u64) -> Result<PreparedData, DataError> {
    let manifest = DatasetManifest::read(dir)
        .map_err(|e| e.to_string())
        .map_err(ds_err(format!("reading the dataset in {}", dir.display())))?;
    if manifest.pairing_version != exphil_dataset::PAIRING_VERSION {
        return Err(DataError::Config(format!(
            "the dataset in {} pairs features and targets by pairing v{} (this exphil trains on \
             v{}: v1 features hold the state of the very frame whose input is the target); \
             rebuild it with `exphil dataset build`",
            dir.display(),
            manifest.pairing_version,
            exphil_dataset::PAIRING_VERSION
        )));
    }
    let coder =
        TargetCoder::new(manifest.targets.clone()).map_err(|e| DataError::Config(e.to_string()))?;
    let spec = InputSpec::new(&manifest.layout, coder.num_classes());
    let games: Vec<_> = manifest
        .games
        .iter()
        .filter(|g| !g.shards.is_empty())
        .collect();
    if games.is_empty() {
        return Err(DataError::Empty(format!(
            "the dataset in {} has no examples ({} files skipped: see `exphil dataset info {}`)",
            dir.display(),
            manifest.skipped.len(),
            dir.display()
        )));
    }
    // The split of every command (`exphil_dataset::split_games`), unless --val-games names it.
    let sides = if cfg.train.val_games.is_empty() {
        let keys: Vec<&str> = games.iter().map(|g| g.content_hash.as_str()).collect();
        split_games(&keys, split_seed, cfg.train.val_split)
    } else {
        let mut sides = vec![Split::Train; games.len()];
        for i in named_games(&cfg.train.val_games, &games, dir)? {
            sides[i] = Split::Validation;
        }
        sides
    };
    if sides.iter().all(|s| *s == Split::Validation) {
        return Err(DataError::Config(format!(
            "--val-games names every game of the dataset in {}: nothing is left to train on",
            dir.display()
        )));
    }
    let mut train_dirs = Vec::new();
    let mut val_dirs = Vec::new();
    let mut prov = Provenance {
        dataset_dir: dir.display().to_string(),
        replay_count: games.len(),
        ..Provenance::default()
    };
    let mut hashes: Vec<&str> = Vec::new();
    let (mut training_hashes, mut validation_hashes) = (Vec::new(), Vec::new());
    let mut positives = [0u64; NUM_BUTTONS];
    let mut rows = 0u64;
    for (g, side) in games.iter().zip(&sides) {
        hashes.push(&g.content_hash);
        if games.len() <= 500 {
            prov.replay_files.push(g.source.clone());
        }
        match side {
            Split::Train => {
                prov.training_games += 1;
                training_hashes.push(g.content_hash.clone());
            }
            Split::Validation => {
                prov.validation_games += 1;
                validation_hashes.push(g.content_hash.clone());
            }
        }
        for s in &g.shards {
            let sdir = dir.join(&s.dir);
            if let Some(p) = g.players.iter().find(|p| p.port == s.port) {
                *prov
                    .character_distribution
                    .entry(p.character.clone())
                    .or_default() += s.examples as u64;
            }
            match side {
                Split::Train => {
                    prov.training_frames += s.examples;
                    let shard = Shard::open_index(&sdir)
                        .map_err(|e| e.to_string())
                        .map_err(ds_err(format!("opening {}", sdir.display())))?;
                    let t = shard.targets_range(0, shard.len());
                    for row in t.chunks_exact(TARGET_COLUMNS) {
                        for (b, p) in positives.iter_mut().enumerate() {
                            *p += u64::from((row[0] >> b) & 1);
                        }
                    }
                    rows += shard.len() as u64;
                    train_dirs.push(sdir);
                }
                Split::Validation => {
                    // Validation scores the original examples only, never a copy.
                    prov.validation_frames += s.examples - s.mirrored - s.noisy;
                    val_dirs.push(sdir);
                }
            }
        }
    }
    hashes.sort_unstable();
    prov.replay_manifest_hash = format!(
        "xxh3:{:016x}",
        xxhash_rust::xxh3::xxh3_64(hashes.join("\n").as_bytes())
    );
    prov.skipped = manifest
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.clone()))
        .collect();
    if train_dirs.is_empty() {
        return Err(DataError::Empty(format!(
            "no training examples in {}",
            dir.display()
        )));
    }
    Ok(PreparedData {
        manifest,
        spec,
        train_dirs,
        val_dirs,
        button_positives: (positives, rows),
        provenance: prov,
        training_hashes: sorted(training_hashes),
        validation_hashes: sorted(validation_hashes),
    })
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

impl PreparedData {
    /// The training loader (shuffled for `seed`; one window per unit for temporal backbones).
    pub fn train_loader(&self, cfg: &TrainConfig, seed: u64) -> Result<Loader, DataError> {
        Loader::open(
            &self.train_dirs,
            LoaderConfig {
                batch_size: cfg.train.batch_size,
                window: cfg.policy.backbone.window(),
                stride: cfg.policy.backbone.stride(),
                shuffle: true,
                seed,
                split: None,
                prefetch: 2,
                streaming: cfg.data.stream,
                ..LoaderConfig::default()
            },
        )
        .map_err(|e| e.to_string())
        .map_err(ds_err("opening the training shards"))
    }

    /// The validation loader, when there are validation games: the original examples only
    /// (never a mirrored or noisy copy).
    pub fn val_loader(&self, cfg: &TrainConfig) -> Result<Option<Loader>, DataError> {
        if self.val_dirs.is_empty() {
            return Ok(None);
        }
        Loader::open(
            &self.val_dirs,
            LoaderConfig {
                batch_size: cfg.train.batch_size.max(256),
                window: cfg.policy.backbone.window(),
                stride: cfg.policy.backbone.stride(),
                shuffle: false,
                split: None,
                prefetch: 2,
                streaming: cfg.data.stream,
                variants: Some(vec![VARIANT_ORIGINAL]),
                ..LoaderConfig::default()
            },
        )
        .map(Some)
        .map_err(|e| e.to_string())
        .map_err(ds_err("opening the validation shards"))
    }

    /// The training streams of sequence training (shuffled for `seed`).
    pub fn train_streams(&self, cfg: &TrainConfig, seed: u64) -> Result<StreamLoader, DataError> {
        let s = &cfg.train.sequence;
        StreamLoader::open(
            &self.train_dirs,
            StreamConfig {
                streams: s.streams,
                unroll: s.unroll,
                segment_frames: Some(s.segment_frames),
                random_crop: s.random_crop,
                shuffle: true,
                seed,
                variants: None,
                prefetch: 2,
            },
        )
        .map_err(|e| e.to_string())
        .map_err(ds_err("opening the training shards"))
    }

    /// The validation games as streams, each game whole from its first frame with the state
    /// carried to its end (exactly how `exphil eval --mode step` scores it), originals only.
    pub fn val_streams(&self, cfg: &TrainConfig) -> Result<Option<StreamLoader>, DataError> {
        if self.val_dirs.is_empty() {
            return Ok(None);
        }
        StreamLoader::open(
            &self.val_dirs,
            StreamConfig::whole_games(
                cfg.train.sequence.streams.clamp(1, self.val_dirs.len()),
                VAL_UNROLL,
            ),
        )
        .map(Some)
        .map_err(|e| e.to_string())
        .map_err(ds_err("opening the validation shards"))
    }
}

/// The indices of the games named by `names` (see `LoopConfig::val_games`): file names with or
/// without `.slp`, paths, content hashes, or text files listing them one per line (blank lines
/// and `#` comments skipped). A name that matches no game is an error naming it.
fn named_games(
    names: &[String],
    games: &[&exphil_dataset::GameEntry],
    dir: &Path,
) -> Result<Vec<usize>, DataError> {
    let mut wanted: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim();
        if n.is_empty() {
            continue;
        }
        let p = Path::new(n);
        let is_list = p.is_file() && !n.to_ascii_lowercase().ends_with(".slp");
        if is_list {
            let text = std::fs::read_to_string(p)
                .map_err(|e| DataError::Config(format!("reading the --val-games list {n}: {e}")))?;
            wanted.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        } else {
            wanted.push(n.to_string());
        }
    }
    let stem = |s: &str| -> String {
        let file = Path::new(s)
            .file_name()
            .map_or_else(|| s.to_string(), |f| f.to_string_lossy().into_owned());
        file.strip_suffix(".slp").map_or(file.clone(), String::from)
    };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for w in &wanted {
        let key = stem(w);
        let hits: Vec<usize> = games
            .iter()
            .enumerate()
            .filter(|(_, g)| g.content_hash == *w || stem(&g.source) == key)
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            missing.push(w.clone());
        }
        out.extend(hits);
    }
    if !missing.is_empty() {
        return Err(DataError::Config(format!(
            "--val-games: no game of the dataset in {} is {} ({} games; `exphil dataset info` \
             lists them)",
            dir.display(),
            missing
                .iter()
                .map(|m| format!("{m:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            games.len()
        )));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Frames per validation step of sequence training (no gradients: long steps cost nothing).
const VAL_UNROLL: usize = 256;
