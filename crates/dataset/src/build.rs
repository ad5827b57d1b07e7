//! Building a dataset directory from replay files: discover, summarise and filter them (as
//! `exphil replays scan` does), then per game and in parallel write its Parquet frame table and
//! one feature shard per learning player, reusing whatever a previous build with the same inputs
//! already wrote, and finally `dataset.json`.
//!
//! # Layout of a dataset directory
//! - `tables/<content-hash>.parquet`: the game's frame table ([`FrameTable`]); its footer holds the
//!   table key (content hash, target config, table format), so a target-config change rewrites it.
//! - `shards/<cache-key>/p<port>/`: the `.npy` shard of one learning player ([`Shard`]), and
//!   `shards/<cache-key>/entry.json` (what the key produced: ports, counts, or why the game gave
//!   no examples), written last. The cache key is the xxh3 of the content hash, the embedding,
//!   target and example configs (noise included), the player registry, the precision and the
//!   format versions.
//! - `players.json`: the [`PlayerRegistry`] of the player-name ids, when the build uses one
//!   (given, or built from the kept games); its hash is part of every cache key and is recorded
//!   in `dataset.json`.
//! - `dataset.json`: [`DatasetManifest`], written atomically at the end.
//!
//! Outputs no longer referenced by the new manifest are removed.

use crate::examples::PAIRING_VERSION;
use crate::examples::{game_examples_named, ExampleConfig, SkipReason};
use crate::names::{PlayerRegistry, RegistryError, REGISTRY_FILE};
use crate::parquet::{read_footer, FrameTable, TableError, TABLE_FORMAT_VERSION};
use crate::shard::{Compression, Precision, Shard, ShardError, SHARD_FORMAT_VERSION};
use crate::split::{split_games, Split};
use exphil_corpus::{discover, inspect_bytes, Depth, Filter, ReplayInfo};
use exphil_embed::{
    ConfigError, EmbedConfig, EmbedConfigError, Embedder, Layout, TargetCoder, TargetConfig,
};
use exphil_replay::{read, DecodeOptions};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Version of the dataset directory layout (part of every cache key and of `dataset.json`).
pub const FORMAT_VERSION: u32 = 1;

/// Name of the manifest file in a dataset directory.
pub const MANIFEST_FILE: &str = "dataset.json";

/// Key of the Parquet footer entry holding the table's cache key.
const TABLE_KEY: &str = "exphil.table_key";

/// Where a build's player-name ids come from (the embedding's `player_names` must equal the
/// registry's capacity).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PlayerNames {
    /// No registry: every player is id 0.
    #[default]
    Off,
    /// This registry (`--player-names FILE`); players not in it are 0.
    Registry(PlayerRegistry),
    /// A registry of this capacity built from the kept games (`--num-player-names N`).
    Build(u32),
}

/// The registry a build used, as `dataset.json` records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistryEntry {
    /// The registry file, relative to the dataset directory ([`REGISTRY_FILE`]).
    pub file: String,
    /// [`PlayerRegistry::hash`].
    pub hash: String,
    /// Id vocabulary.
    pub capacity: u32,
    /// Names with an id.
    pub names: usize,
}

/// Everything a build depends on besides the replay files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    /// The embedding.
    pub embed: EmbedConfig,
    /// The controller targets.
    pub targets: TargetConfig,
    /// How examples are made (perspective, delay, mirror).
    pub examples: ExampleConfig,
    /// Which replays are used (the filters of `exphil replays scan`).
    pub filter: Filter,
    /// Storage precision of the features.
    pub precision: Precision,
    /// How the shards' arrays are stored.
    pub compression: Compression,
    /// Fraction of games held out for validation (by whole games).
    pub validation_fraction: f64,
    /// Seed of the split.
    pub split_seed: u64,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// Player-name ids.
    #[serde(default)]
    pub players: PlayerNames,
}

/// Why a build could not run at all (per-file problems are reported in [`BuildReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The embedding config is invalid.
    #[error(transparent)]
    Embed(#[from] EmbedConfigError),
    /// The target config is invalid.
    #[error(transparent)]
    Targets(#[from] ConfigError),
    /// The example config is invalid.
    #[error(transparent)]
    Examples(#[from] crate::examples::ExampleConfigError),
    /// The player registry cannot be read, written or used.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The embedding's `player_names` disagrees with the registry.
    #[error("embedding player_names is {embed}, the player registry's capacity is {registry}")]
    PlayerNames {
        /// `player_names` of the embedding config.
        embed: u32,
        /// Capacity of the registry.
        registry: u32,
    },
    /// The validation fraction is not in 0..=1.
    #[error("validation fraction {0} is not between 0 and 1")]
    Fraction(f64),
    /// The worker pool could not start.
    #[error("cannot start {threads:?} worker threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: Option<usize>,
        /// The error.
        message: String,
    },
    /// A file of the dataset directory could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `dataset.json` could not be serialised or parsed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Result alias of the build.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// One learning player's shard of a game.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// The learning player's port (1–4).
    pub port: u8,
    /// The shard directory, relative to the dataset directory.
    pub dir: String,
    /// Examples (mirrored and noisy copies included).
    pub examples: usize,
    /// How many examples are mirrored copies.
    pub mirrored: usize,
    /// How many examples are noisy copies.
    #[serde(default)]
    pub noisy: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What one cache key produced (`shards/<key>/entry.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct KeyEntry {
    shards: Vec<ShardEntry>,
    anomalies: BTreeMap<String, u64>,
    skip: Option<SkipReason>,
}

/// A player of a game, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GamePlayer {
    /// Port (1–4).
    pub port: u8,
    /// Character name.
    pub character: String,
}

/// One game of the dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameEntry {
    /// xxh3 of the replay's raw event stream.
    pub content_hash: String,
    /// The replay file it was built from.
    pub source: String,
    /// Bytes of the replay file.
    pub slp_bytes: u64,
    /// Frames of the game.
    pub frames: usize,
    /// Stage name.
    pub stage: String,
    /// The players.
    pub players: Vec<GamePlayer>,
    /// The frame table, relative to the dataset directory (`None` when the game has no
    /// two-player table).
    pub table: Option<String>,
    /// Rows of the frame table.
    pub table_rows: usize,
    /// Bytes of the frame table.
    pub table_bytes: u64,
    /// The game's cache key (its shards are under `shards/<key>/`).
    pub shard_key: String,
    /// One shard per learning player.
    pub shards: Vec<ShardEntry>,
    /// Examples over all its shards.
    pub examples: usize,
    /// Training or validation.
    pub split: Split,
    /// Frames dropped for an embedding anomaly, by component.
    pub anomalies: BTreeMap<String, u64>,
}

/// A file that is not in the dataset, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file.
    pub path: String,
    /// Why: a decode or write error, a filter, a duplicate, or no examples.
    pub reason: String,
    /// Whether it is an error (the build exits non-zero) rather than a choice of the filters.
    pub failed: bool,
}

fn uncompressed() -> Compression {
    Compression::None
}

/// `dataset.json`: what a dataset directory holds and how it was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The embedding config.
    pub embed: EmbedConfig,
    /// The feature layout of that config.
    pub layout: Layout,
    /// The target config.
    pub targets: TargetConfig,
    /// The example config.
    pub examples: ExampleConfig,
    /// The replay filters.
    pub filter: Filter,
    /// Feature precision in the shards.
    pub precision: Precision,
    /// How the shards' arrays are stored (`none` in manifests written before compression).
    #[serde(default = "uncompressed")]
    pub compression: Compression,
    /// Fraction of games asked for validation.
    pub validation_fraction: f64,
    /// Seed of the split.
    pub split_seed: u64,
    /// The games, in file order.
    pub games: Vec<GameEntry>,
    /// Files left out, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Frames dropped for an embedding anomaly, by component, over all games.
    pub anomalies: BTreeMap<String, u64>,
    /// The player registry used (`None`: player-name ids are all 0).
    #[serde(default)]
    pub players: Option<RegistryEntry>,
    /// [`PAIRING_VERSION`] of the examples (1 for datasets written before it was recorded).
    #[serde(default = "pairing_v1")]
    pub pairing_version: u32,
}

/// The pairing version of a manifest that does not record one.
fn pairing_v1() -> u32 {
    1
}

impl DatasetManifest {
    /// Reads `dir/dataset.json`.
    pub fn read(dir: &Path) -> Result<DatasetManifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| BuildError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| BuildError::Json { path, source })
    }
}

/// What a build did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuildReport {
    /// Replay files found.
    pub files: usize,
    /// Games in the dataset.
    pub games: usize,
    /// Frame tables written by this build.
    pub tables_built: usize,
    /// Frame tables reused from an earlier build.
    pub tables_reused: usize,
    /// Cache keys (games' shards) written by this build.
    pub shards_built: usize,
    /// Cache keys reused from an earlier build.
    pub shards_reused: usize,
    /// Stale outputs removed (tables and shard keys no longer referenced).
    pub removed: usize,
    /// Examples in training games.
    pub train_examples: usize,
    /// Examples in validation games.
    pub validation_examples: usize,
    /// Games in the validation split.
    pub validation_games: usize,
    /// Files that failed (decode or write errors), with reasons.
    pub failed: Vec<(String, String)>,
    /// Files left out by the filters (duplicates included), with reasons.
    pub filtered: Vec<(String, String)>,
    /// Games that gave no examples, with reasons.
    pub no_examples: Vec<(String, String)>,
}

impl BuildReport {
    /// Tables and shard keys written (0 for a build that reused everything).
    pub fn rebuilt(&self) -> usize {
        self.tables_built + self.shards_built
    }
}

/// Progress of a build, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Summarising files: `total` to do.
    Scanning {
        /// Files.
        total: usize,
    },
    /// Writing games: `total` to do.
    Writing {
        /// Games.
        total: usize,
    },
    /// One more item of the current stage is done.
    Step,
}

/// Outcome of one game's pass 2.
struct GameOutcome {
    entry: Option<GameEntry>,
    table_built: bool,
    shards_built: bool,
    error: Option<String>,
    no_examples: Option<String>,
}

/// xxh3 of the parts, each length-prefixed, as 16 hex digits.
fn key_of(parts: &[&[u8]]) -> String {
    let mut buf = Vec::new();
    for p in parts {
        buf.extend_from_slice(&(p.len() as u64).to_le_bytes());
        buf.extend_from_slice(p);
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf))
}

/// JSON of a config (serialising these plain structs cannot fail).
fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Builds (or updates) the dataset at `out_dir` from the replays under `replay_paths`.
/// `no_cache` rebuilds every output. `progress` is called from worker threads.
pub fn build(
    replay_paths: &[PathBuf],
    out_dir: &Path,
    config: &BuildConfig,
    no_cache: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<BuildReport> {
    let embedder = Embedder::new(config.embed.clone())?;
    let coder = TargetCoder::new(config.targets.clone())?;
    config.examples.validate()?;
    if !(0.0..=1.0).contains(&config.validation_fraction) {
        return Err(BuildError::Fraction(config.validation_fraction));
    }
    let capacity = match &config.players {
        PlayerNames::Off => None,
        PlayerNames::Registry(r) => {
            r.validate()?;
            Some(r.capacity)
        }
        PlayerNames::Build(c) => Some(*c),
    };
    if let Some(c) = capacity {
        if c != config.embed.player_names {
            return Err(BuildError::PlayerNames {
                embed: config.embed.player_names,
                registry: c,
            });
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads.unwrap_or(0))
        .build()
        .map_err(|e| BuildError::Threads {
            threads: config.threads,
            message: e.to_string(),
        })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let tables_dir = out_dir.join("tables");
    let shards_dir = out_dir.join("shards");
    std::fs::create_dir_all(&tables_dir).map_err(io(&tables_dir))?;
    std::fs::create_dir_all(&shards_dir).map_err(io(&shards_dir))?;

    let mut report = BuildReport::default();
    let mut skipped = Vec::new();

    // Pass 1: summarise every file (as `replays scan` does) and apply the filters.
    let (files, unreadable) = discover(replay_paths);
    report.files = files.len() + unreadable.len();
    for (path, reason) in unreadable {
        report.failed.push((path.display().to_string(), reason));
    }
    progress(Progress::Scanning { total: files.len() });
    let outcomes: Vec<std::result::Result<ReplayInfo, String>> = pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let r = exphil_replay::read_bytes(path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|bytes| {
                        inspect_bytes(path, &bytes, Depth::Full).map_err(|e| e.to_string())
                    });
                progress(Progress::Step);
                r
            })
            .collect()
    });
    let mut infos = Vec::new();
    for (path, o) in files.iter().zip(outcomes) {
        match o {
            Ok(info) => infos.push(info),
            Err(e) => report.failed.push((path.display().to_string(), e)),
        }
    }
    let (kept, rejected) = config.filter.apply(infos.iter());
    for (info, why) in rejected {
        report
            .filtered
            .push((info.path.display().to_string(), why.to_string()));
    }

    // The player registry: given, or built from the kept games.
    let registry = match &config.players {
        PlayerNames::Off => None,
        PlayerNames::Registry(r) => Some(r.clone()),
        PlayerNames::Build(c) => Some(PlayerRegistry::from_keys(
            *c,
            kept.iter()
                .flat_map(|info| info.players.iter().map(crate::names::player_key)),
        )?),
    };
    let registry_path = out_dir.join(REGISTRY_FILE);
    let players = match &registry {
        Some(r) => {
            write_atomic(&registry_path, &r.to_json())?;
            Some(RegistryEntry {
                file: REGISTRY_FILE.to_string(),
                hash: r.hash(),
                capacity: r.capacity,
                names: r.names.len(),
            })
        }
        None => {
            if registry_path.exists() {
                std::fs::remove_file(&registry_path).map_err(io(&registry_path))?;
            }
            None
        }
    };

    // Pass 2: per game, its table and shards (reused when already there).
    let table_salt = [
        json(&config.targets),
        TABLE_FORMAT_VERSION.to_le_bytes().to_vec(),
        FORMAT_VERSION.to_le_bytes().to_vec(),
    ];
    let shard_salt = [
        json(&config.embed),
        json(&config.targets),
        json(&config.examples),
        json(&config.precision),
        json(&config.compression),
        registry
            .as_ref()
            .map(PlayerRegistry::to_json)
            .unwrap_or_default(),
        SHARD_FORMAT_VERSION.to_le_bytes().to_vec(),
        FORMAT_VERSION.to_le_bytes().to_vec(),
        PAIRING_VERSION.to_le_bytes().to_vec(),
    ];
    progress(Progress::Writing { total: kept.len() });
    let ctx = GameContext {
        out_dir,
        embedder: &embedder,
        coder: &coder,
        config,
        no_cache,
        table_salt: &table_salt,
        shard_salt: &shard_salt,
        registry: registry.as_ref(),
    };
    let results: Vec<GameOutcome> = pool.install(|| {
        kept.par_iter()
            .map(|info| {
                let o = ctx.game(info);
                progress(Progress::Step);
                o
            })
            .collect()
    });

    let mut games = Vec::new();
    let mut anomalies = BTreeMap::new();
    for (info, o) in kept.iter().zip(results) {
        let path = info.path.display().to_string();
        report.tables_built += o.table_built as usize;
        report.shards_built += o.shards_built as usize;
        if let Some(e) = o.error {
            report.failed.push((path.clone(), e));
        }
        if let Some(why) = o.no_examples {
            report.no_examples.push((path.clone(), why));
        }
        if let Some(g) = o.entry {
            if g.table.is_some() && !o.table_built {
                report.tables_reused += 1;
            }
            if !o.shards_built {
                report.shards_reused += 1;
            }
            for (k, v) in &g.anomalies {
                *anomalies.entry(k.clone()).or_insert(0) += v;
            }
            games.push(g);
        }
    }
    // The split of every command, over all the games.
    let keys: Vec<&str> = games.iter().map(|g| g.content_hash.as_str()).collect();
    let sides = split_games(&keys, config.split_seed, config.validation_fraction);
    for (g, side) in games.iter_mut().zip(sides) {
        g.split = side;
        match side {
            Split::Train => report.train_examples += g.examples,
            Split::Validation => {
                report.validation_examples += g.examples;
                report.validation_games += 1;
            }
        }
    }
    report.games = games.len();
    for (list, failed) in [
        (&report.failed, true),
        (&report.filtered, false),
        (&report.no_examples, false),
    ] {
        for (path, reason) in list {
            skipped.push(SkippedFile {
                path: path.clone(),
                reason: reason.clone(),
                failed,
            });
        }
    }

    // Remove what the new manifest no longer references.
    let tables: BTreeSet<String> = games.iter().filter_map(|g| g.table.clone()).collect();
    let keys: BTreeSet<String> = games
        .iter()
        .map(|g| g.shard_key.clone())
        // Games without examples keep their `entry.json` (why), so a rebuild skips them fast.
        .chain(kept.iter().map(|info| ctx.shard_key(info)))
        .collect();
    report.removed += remove_unreferenced(&tables_dir, "tables", &tables)?;
    report.removed += remove_unreferenced(&shards_dir, "shards", &keys)?;

    let manifest = DatasetManifest {
        format_version: FORMAT_VERSION,
        embed: config.embed.clone(),
        layout: embedder.layout().clone(),
        targets: config.targets.clone(),
        examples: config.examples.clone(),
        filter: config.filter.clone(),
        precision: config.precision,
        compression: config.compression,
        validation_fraction: config.validation_fraction,
        split_seed: config.split_seed,
        games,
        skipped,
        anomalies,
        players,
        pairing_version: PAIRING_VERSION,
    };
    let path = out_dir.join(MANIFEST_FILE);
    let text = serde_json::to_vec_pretty(&manifest).map_err(|source| BuildError::Json {
        path: path.clone(),
        source,
    })?;
    write_atomic(&path, &text)?;
    Ok(report)
}

/// Removes entries of `dir` not named in `keep` (as `<sub>/<name>`), and leftover temporaries.
fn remove_unreferenced(dir: &Path, sub: &str, keep: &BTreeSet<String>) -> Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let referenced = if sub == "tables" {
            keep.contains(&format!("tables/{name}"))
        } else {
            keep.contains(&name)
        };
        if referenced {
            continue;
        }
        let p = e.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|source| BuildError::Io { path: p, source })?;
        removed += 1;
    }
    Ok(removed)
}

/// Replaces `path` with `bytes` durably ([`exphil_io::write_atomic`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    exphil_io::write_atomic(path, bytes).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What every game of a build shares.
struct GameContext<'a> {
    out_dir: &'a Path,
    embedder: &'a Embedder,
    coder: &'a TargetCoder,
    config: &'a BuildConfig,
    no_cache: bool,
    table_salt: &'a [Vec<u8>],
    shard_salt: &'a [Vec<u8>],
    registry: Option<&'a PlayerRegistry>,
}

impl GameContext<'_> {
    fn table_key(&self, info: &ReplayInfo) -> String {
        let mut parts: Vec<&[u8]> = vec![info.content_hash.as_bytes()];
        parts.extend(self.table_salt.iter().map(Vec::as_slice));
        key_of(&parts)
    }

    fn shard_key(&self, info: &ReplayInfo) -> String {
        let mut parts: Vec<&[u8]> = vec![info.content_hash.as_bytes()];
        parts.extend(self.shard_salt.iter().map(Vec::as_slice));
        key_of(&parts)
    }

    /// The existing table of `info` when it is valid and was written for `key`: (rows, bytes).
    fn cached_table(&self, path: &Path, key: &str) -> Option<(usize, u64)> {
        if self.no_cache {
            return None;
        }
        let footer = read_footer(path).ok()?;
        let ok = footer
            .metadata
            .iter()
            .any(|(k, v)| k == TABLE_KEY && v == key);
        let bytes = std::fs::metadata(path).ok()?.len();
        ok.then_some((footer.rows as usize, bytes))
    }

    /// The existing `entry.json` of `key` when it and its shards are valid.
    fn cached_entry(&self, key_dir: &Path) -> Option<KeyEntry> {
        if self.no_cache {
            return None;
        }
        let text = std::fs::read_to_string(key_dir.join("entry.json")).ok()?;
        let entry: KeyEntry = serde_json::from_str(&text).ok()?;
        for s in &entry.shards {
            let shard = Shard::open_index(&self.out_dir.join(&s.dir)).ok()?;
            if shard.len() != s.examples {
                return None;
            }
        }
        Some(entry)
    }

    /// Pass 2 for one game.
    fn game(&self, info: &ReplayInfo) -> GameOutcome {
        let mut out = GameOutcome {
            entry: None,
            table_built: false,
            shards_built: false,
            error: None,
            no_examples: None,
        };
        let hash = &info.content_hash;
        let table_rel = format!("tables/{hash}.parquet");
        let table_path = self.out_dir.join(&table_rel);
        let table_key = self.table_key(info);
        let shard_key = self.shard_key(info);
        let key_dir = self.out_dir.join("shards").join(&shard_key);
        let two_players = info.players.len() == 2;
        let cached_table = if two_players {
            self.cached_table(&table_path, &table_key)
        } else {
            None
        };
        let cached_entry = self.cached_entry(&key_dir);
        let table_ready = !two_players || cached_table.is_some();
        let (table, entry) = match cached_entry {
            Some(e) if table_ready => (cached_table, e),
            cached_entry => match self.decode_and_write(
                info,
                &table_path,
                &table_key,
                &key_dir,
                &shard_key,
                cached_table,
                cached_entry,
            ) {
                Ok((t, e, tb, sb)) => {
                    out.table_built = tb;
                    out.shards_built = sb;
                    (t, e)
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            },
        };
        if let Some(skip) = &entry.skip {
            out.no_examples = Some(skip.to_string());
            return out;
        }
        let examples = entry.shards.iter().map(|s| s.examples).sum();
        out.entry = Some(GameEntry {
            content_hash: hash.clone(),
            source: info.path.display().to_string(),
            slp_bytes: info.bytes,
            frames: info.frames.unwrap_or(0),
            stage: info.stage_name.clone(),
            players: info
                .players
                .iter()
                .map(|p| GamePlayer {
                    port: p.port,
                    character: p.character_name.clone(),
                })
                .collect(),
            table: table.map(|_| table_rel),
            table_rows: table.map_or(0, |t| t.0),
            table_bytes: table.map_or(0, |t| t.1),
            shard_key,
            shards: entry.shards,
            examples,
            // Decided over every game once all are known (`build`, after the workers).
            split: Split::Train,
            anomalies: entry.anomalies,
        });
        out
    }

    /// Decodes the game and writes what is not cached: (table, entry, table built, shards built).
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn decode_and_write(
        &self,
        info: &ReplayInfo,
        table_path: &Path,
        table_key: &str,
        key_dir: &Path,
        shard_key: &str,
        cached_table: Option<(usize, u64)>,
        cached_entry: Option<KeyEntry>,
    ) -> std::result::Result<(Option<(usize, u64)>, KeyEntry, bool, bool), String> {
        let bytes = exphil_replay::read_bytes(&info.path).map_err(|e| e.to_string())?;
        let game = read(&bytes, DecodeOptions::default()).map_err(|e| e.to_string())?;
        drop(bytes);
        let mut table_built = false;
        let table = match cached_table {
            Some(t) => Some(t),
            None if info.players.len() == 2 => {
                let t = FrameTable::of_game(&game, self.coder).map_err(|e| e.to_string())?;
                let meta = vec![
                    (TABLE_KEY.to_string(), table_key.to_string()),
                    ("exphil.content_hash".to_string(), info.content_hash.clone()),
                    (
                        "exphil.target_config".to_string(),
                        String::from_utf8_lossy(&json(&self.config.targets)).into_owned(),
                    ),
                ];
                let size = t
                    .write(table_path, &meta)
                    .map_err(|e: TableError| e.to_string())?;
                table_built = true;
                Some((t.rows(), size))
            }
            None => None,
        };
        if let Some(e) = cached_entry {
            return Ok((table, e, table_built, false));
        }
        if key_dir.exists() {
            std::fs::remove_dir_all(key_dir).map_err(|e| format!("{}: {e}", key_dir.display()))?;
        }
        std::fs::create_dir_all(key_dir).map_err(|e| format!("{}: {e}", key_dir.display()))?;
        let mut names = [0u32; 4];
        if let Some(r) = self.registry {
            for p in &info.players {
                if let Some(slot) = names.get_mut(usize::from(p.port).wrapping_sub(1)) {
                    *slot = r.id_of(p);
                }
            }
        }
        let examples = game_examples_named(
            &game,
            self.embedder,
            self.coder,
            &self.config.examples,
            names,
        );
        let entry = match examples {
            Err(skip) => KeyEntry {
                shards: Vec::new(),
                anomalies: BTreeMap::new(),
                skip: Some(skip),
            },
            Ok(mut per_port) => {
                let mut shards = Vec::new();
                let mut anomalies = BTreeMap::new();
                for ex in &mut per_port {
                    ex.source = info.content_hash.clone();
                    let rel = format!("shards/{shard_key}/p{}", ex.port);
                    let written = Shard::write_as(
                        &self.out_dir.join(&rel),
                        ex,
                        self.config.precision,
                        self.config.compression,
                    )
                    .map_err(|e: ShardError| e.to_string())?;
                    for (k, v) in &ex.anomalies {
                        *anomalies.entry(k.clone()).or_insert(0) += v;
                    }
                    shards.push(ShardEntry {
                        port: ex.port,
                        dir: rel,
                        examples: written.n,
                        mirrored: written.mirrored,
                        noisy: written.noisy,
                        bytes: written.bytes,
                    });
                }
                KeyEntry {
                    shards,
                    anomalies,
                    skip: None,
                }
            }
        };
        let path = key_dir.join("entry.json");
        write_atomic(&path, &json(&entry)).map_err(|e| e.to_string())?;
        Ok((table, entry, table_built, true))
    }
}
