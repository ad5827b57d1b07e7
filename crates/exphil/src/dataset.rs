//! `exphil dataset`: build a training dataset (Parquet frame tables and memory-mappable feature
//! shards) from replays, and describe a built one.

use crate::cli::progress;
use crate::filters::FilterArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use exphil_dataset::{
    build, summarize, BuildSettings, Compression, DatasetSummary, EmbedSource, NamesSource,
    NoiseConfig, Precision, Progress,
};
use exphil_embed::{EmbedConfig, Embedder};
use indicatif::ProgressBar;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

/// `exphil dataset` subcommands.
#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Build (or update) a dataset directory from replays; unchanged games are reused.
    Build(Box<BuildArgs>),
    /// Describe a dataset directory, or with --preset an embedding preset's layout.
    Info(InfoArgs),
}

/// Arguments of `dataset build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Replay folders (searched recursively for .slp) or files.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE")]
    replays: Vec<PathBuf>,
    /// The dataset directory (created if missing; an existing one is updated).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Embedding preset (compact, minimal, one_hot, full).
    #[arg(long, value_name = "NAME", conflicts_with = "embed_config")]
    embed_preset: Option<String>,
    /// Embedding config file (JSON).
    #[arg(long, value_name = "FILE.json")]
    embed_config: Option<PathBuf>,
    /// Stick targets from k-means centres (a file from `exphil kmeans`) instead of uniform
    /// buckets.
    #[arg(long, value_name = "FILE")]
    kmeans_centers: Option<PathBuf>,
    /// Learn the player on this port (1-4).
    #[arg(long, value_name = "N", conflicts_with_all = ["train_character", "dual_port"])]
    player_port: Option<u8>,
    /// Learn the port(s) playing one of these characters.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CHARS",
        conflicts_with = "dual_port"
    )]
    train_character: Vec<String>,
    /// Learn both players of every game (the default).
    #[arg(long)]
    dual_port: bool,
    /// Frames between the state seen and the action learned.
    #[arg(long, default_value_t = 0, value_name = "D")]
    frame_delay: u8,
    /// Draw each example's delay from --frame-delay-min..=--frame-delay-max.
    #[arg(long, requires_all = ["frame_delay_min", "frame_delay_max"])]
    frame_delay_augment: bool,
    /// Smallest augmented delay.
    #[arg(long, value_name = "A")]
    frame_delay_min: Option<u8>,
    /// Largest augmented delay.
    #[arg(long, value_name = "B")]
    frame_delay_max: Option<u8>,
    /// Add a left/right mirrored copy of every example.
    #[arg(long)]
    mirror: bool,
    /// Add --noise-copies Gaussian-noise copies of every example: positions get noise of this
    /// standard deviation (world units), speeds a tenth of it.
    #[arg(long, value_name = "S", requires = "noise_copies")]
    noise_std: Option<f32>,
    /// Noisy copies per example (1-4).
    #[arg(long, value_name = "K", requires = "noise_std")]
    noise_copies: Option<u8>,
    /// Player-name ids from this registry file (players.json format); unknown players get 0.
    #[arg(long, value_name = "FILE", conflicts_with = "num_player_names")]
    player_names: Option<PathBuf>,
    /// Build a player-name registry of N ids (0 = unknown) from the kept games, most frequent
    /// players first.
    #[arg(long, value_name = "N")]
    num_player_names: Option<u32>,
    /// Feature precision in the shards.
    #[arg(long, default_value = "f32", value_parser = ["f32", "f16"])]
    precision: String,
    /// How the shards' arrays are stored: `zstd` (byte-shuffled zstd, about 0.21× the replays'
    /// bytes in f32, decompressed when a game is loaded) or `none` (`.npy` files that NumPy
    /// memory-maps, about 3.5× the replays).
    #[arg(long, default_value = "zstd", value_parser = ["zstd", "none"])]
    compression: String,
    /// Fraction of games (whole games) held out for validation.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    val_fraction: f64,
    /// Seed of the train/validation split and of delay augmentation.
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Rebuild every output, ignoring what an earlier build wrote.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Arguments of `dataset info`.
#[derive(Args)]
pub struct InfoArgs {
    /// The dataset directory.
    #[arg(value_name = "DIR", required_unless_present = "preset")]
    dir: Option<PathBuf>,
    /// Print this embedding preset's layout instead.
    #[arg(long, value_name = "NAME", conflicts_with = "dir")]
    preset: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `exphil dataset`.
pub fn run(cmd: DatasetCommand) -> Result<ExitCode> {
    match cmd {
        DatasetCommand::Build(a) => run_build(*a),
        DatasetCommand::Info(a) => info(a),
    }
}

/// The build settings of the arguments.
fn settings_of(a: &BuildArgs) -> Result<BuildSettings> {
    if !a.frame_delay_augment && (a.frame_delay_min.is_some() || a.frame_delay_max.is_some()) {
        bail!("--frame-delay-min/--frame-delay-max need --frame-delay-augment");
    }
    Ok(BuildSettings {
        embed: match (&a.embed_preset, &a.embed_config) {
            (_, Some(path)) => EmbedSource::File(path.clone()),
            (Some(name), None) => EmbedSource::Preset(name.clone()),
            (None, None) => EmbedSource::Default,
        },
        player_names: match (&a.player_names, a.num_player_names) {
            (Some(path), _) => NamesSource::Registry(path.clone()),
            (None, Some(n)) => NamesSource::Build(n),
            (None, None) => NamesSource::Off,
        },
        kmeans_centers: a.kmeans_centers.clone(),
        player_port: a.player_port,
        train_character: a.train_character.clone(),
        frame_delay: a.frame_delay,
        // clap requires both bounds with --frame-delay-augment.
        delay_augment: a.frame_delay_augment.then(|| {
            (
                a.frame_delay_min.unwrap_or(0),
                a.frame_delay_max.unwrap_or(0),
            )
        }),
        mirror: a.mirror,
        // clap requires both together.
        noise: a
            .noise_std
            .zip(a.noise_copies)
            .map(|(std, copies)| NoiseConfig { std, copies }),
        seed: a.seed,
        filter: a.filter.settings(),
        precision: if a.precision == "f16" {
            Precision::F16
        } else {
            Precision::F32
        },
        compression: if a.compression == "none" {
            Compression::None
        } else {
            Compression::Zstd
        },
        validation_fraction: a.val_fraction,
        split_seed: a.seed,
        threads: a.threads,
    })
}

fn run_build(a: BuildArgs) -> Result<ExitCode> {
    let config = settings_of(&a)?.resolve()?;
    let t0 = Instant::now();
    let bar: Mutex<ProgressBar> = Mutex::new(ProgressBar::hidden());
    let on_progress = |p: Progress| {
        // A poisoned lock only loses progress display.
        let Ok(mut b) = bar.lock() else { return };
        match p {
            Progress::Scanning { total } | Progress::Writing { total } => {
                b.finish_and_clear();
                *b = progress(total, false);
            }
            Progress::Step => b.inc(1),
        }
    };
    let report = build(&a.replays, &a.out, &config, a.no_cache, &on_progress)
        .with_context(|| format!("building the dataset in {}", a.out.display()))?;
    if let Ok(b) = bar.lock() {
        b.finish_and_clear();
    }
    for (path, reason) in &report.failed {
        eprintln!("warning: skipped {path}: {reason}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} files: {} games in the dataset ({} for validation), {} failed, {} filtered out, {} \
         without examples",
        report.files,
        report.games,
        report.validation_games,
        report.failed.len(),
        report.filtered.len(),
        report.no_examples.len()
    )?;
    writeln!(
        out,
        "examples: {} train, {} validation",
        report.train_examples, report.validation_examples
    )?;
    writeln!(
        out,
        "tables: {} built, {} reused; shards: {} built, {} reused; {} stale outputs removed",
        report.tables_built,
        report.tables_reused,
        report.shards_built,
        report.shards_reused,
        report.removed
    )?;
    if let Some(r) = &manifest_players(&a.out) {
        writeln!(
            out,
            "player names: {} with an id, capacity {} ({})",
            r.names,
            r.capacity,
            a.out.join(&r.file).display()
        )?;
    }
    writeln!(
        out,
        "Wrote {} in {:.2} s",
        a.out.join(exphil_dataset::MANIFEST_FILE).display(),
        t0.elapsed().as_secs_f64()
    )?;
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The player registry recorded in a freshly built dataset's manifest.
fn manifest_players(dir: &Path) -> Option<exphil_dataset::RegistryEntry> {
    exphil_dataset::DatasetManifest::read(dir).ok()?.players
}

fn info(a: InfoArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if let Some(name) = &a.preset {
        let embedder = Embedder::new(EmbedConfig::preset(name)?)?;
        if a.json {
            serde_json::to_writer_pretty(&mut out, embedder.layout())?;
            writeln!(out)?;
        } else {
            writeln!(out, "Embedding preset {name}:")?;
            write!(out, "{}", embedder.layout())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // clap requires DIR unless --preset is given.
    let dir = a.dir.as_deref().unwrap_or(Path::new("."));
    let s = summarize(dir).with_context(|| format!("reading the dataset in {}", dir.display()))?;
    if a.json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, dir, &s)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Megabytes, for humans.
fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn print_summary(out: &mut impl Write, dir: &Path, s: &DatasetSummary) -> Result<()> {
    writeln!(
        out,
        "Dataset {} (format {}, pairing v{}{})",
        dir.display(),
        s.format_version,
        s.pairing_version,
        if s.pairing_version < exphil_dataset::PAIRING_VERSION {
            ": the old pairing, whose features hold the target frame; rebuild it with `exphil dataset build`"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "games:    {} ({} train, {} validation); {} files skipped",
        s.games, s.train_games, s.validation_games, s.skipped
    )?;
    writeln!(out, "frames:   {} ({} table rows)", s.frames, s.table_rows)?;
    writeln!(
        out,
        "examples: {} train, {} validation",
        s.train_examples, s.validation_examples
    )?;
    let ratio = |b: u64| {
        if s.slp_bytes == 0 {
            String::new()
        } else {
            format!(" ({:.3} of the .slp bytes)", b as f64 / s.slp_bytes as f64)
        }
    };
    writeln!(
        out,
        "on disk:  tables {}{}, shards {}{}; replays {}",
        mb(s.table_bytes),
        ratio(s.table_bytes),
        mb(s.shard_bytes),
        ratio(s.shard_bytes),
        mb(s.slp_bytes)
    )?;
    let mix = |m: &std::collections::BTreeMap<String, usize>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "characters (players): {}", mix(&s.characters))?;
    writeln!(out, "stages (games): {}", mix(&s.stages))?;
    if !s.anomalies.is_empty() {
        let a: Vec<String> = s
            .anomalies
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(out, "anomalies (frames dropped): {}", a.join(", "))?;
    }
    writeln!(out, "Feature layout:")?;
    write!(out, "{}", s.layout)?;
    Ok(())
}
