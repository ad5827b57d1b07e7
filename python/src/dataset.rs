//! Datasets built by `exphil dataset build` (`exphil-dataset`): building one from replays, and
//! serving its minibatches as NumPy arrays through the crate's own loaders — [`Loader`] for
//! frames or windows, [`StreamLoader`] for time-major sequence unrolls.

use crate::{guarded, DatasetError};
use exphil_dataset::{
    summarize, BuildSettings, Compression, DatasetManifest, EmbedSource, FilterSettings, Loader,
    LoaderConfig, Precision, Split, StreamConfig, StreamLoader, VARIANT_ORIGINAL,
};
use numpy::ndarray::{Array, IxDyn};
use numpy::{Element, IntoPyArray};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The error of a dataset that cannot be used, naming its directory.
fn dataset_error(dir: &Path, problem: impl std::fmt::Display) -> PyErr {
    DatasetError::new_err(format!("{}: {problem}", dir.display()))
}

/// Builds (or updates) a dataset from replays, as `exphil dataset build` does: the Rust side of
/// `exphil.build_dataset`. Returns the build report as JSON.
#[pyfunction]
#[pyo3(signature = (
    replays,
    out,
    embed = None,
    validation_fraction = 0.1,
    split_seed = 0,
    frame_delay = 0,
    mirror = false,
    player_port = None,
    train_characters = Vec::new(),
    precision = "f32",
    compression = "zstd",
    threads = None,
    no_cache = false,
    filters = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn build_dataset(
    py: Python<'_>,
    replays: Vec<PathBuf>,
    out: PathBuf,
    embed: Option<String>,
    validation_fraction: f64,
    split_seed: u64,
    frame_delay: u8,
    mirror: bool,
    player_port: Option<u8>,
    train_characters: Vec<String>,
    precision: &str,
    compression: &str,
    threads: Option<usize>,
    no_cache: bool,
    filters: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let precision = match precision {
        "f32" => Precision::F32,
        "f16" => Precision::F16,
        other => {
            return Err(PyValueError::new_err(format!(
                "precision must be \"f32\" or \"f16\", not {other:?}"
            )))
        }
    };
    let compression = match compression {
        "zstd" => Compression::Zstd,
        "none" => Compression::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "compression must be \"zstd\" or \"none\", not {other:?}"
            )))
        }
    };
    let embed = match embed {
        None => EmbedSource::Default,
        Some(e) if Path::new(&e).is_file() => EmbedSource::File(e.into()),
        Some(e) => EmbedSource::Preset(e),
    };
    let settings = BuildSettings {
        embed,
        player_port,
        train_character: train_characters,
        frame_delay,
        mirror,
        filter: filter_settings(filters)?,
        precision,
        compression,
        validation_fraction,
        split_seed,
        threads,
        ..BuildSettings::default()
    };
    let config = settings
        .resolve()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out2 = out.clone();
    guarded(
        py,
        move || {
            let report = exphil_dataset::build(&replays, &out, &config, no_cache, &|_| {})
                .map_err(|e| dataset_error(&out, e))?;
            serde_json::to_string(&report).map_err(|e| dataset_error(&out, e))
        },
        |msg| dataset_error(&out2, msg),
    )
}

/// The replay filter from a dict of `exphil.scan`'s filter keywords (`None`: keep every game,
/// duplicates skipped).
fn filter_settings(d: Option<&Bound<'_, PyDict>>) -> PyResult<FilterSettings> {
    let mut f = FilterSettings {
        dedupe: true,
        ..FilterSettings::default()
    };
    let Some(d) = d else { return Ok(f) };
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "characters" => f.characters = v.extract()?,
            "stages" => f.stages = v.extract()?,
            "min_frames" => f.min_frames = v.extract()?,
            "human_only" => f.human_only = v.extract()?,
            "one_v_one" => f.one_v_one = v.extract()?,
            "min_quality" => f.min_quality = v.extract()?,
            "keep_duplicates" => f.dedupe = !v.extract::<bool>()?,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown filter {other:?}; the filters are characters, stages, min_frames, \
                     human_only, one_v_one, min_quality, keep_duplicates"
                )))
            }
        }
    }
    Ok(f)
}

/// Which loader a [`Dataset`] serves from.
enum Source {
    /// Frames (`window = None`) or windows of consecutive frames.
    Frames {
        loader: Loader,
        window: Option<usize>,
    },
    /// Time-major sequence unrolls.
    Streams(StreamLoader),
}

/// An opened dataset with its loader settings (the Rust side of `exphil.Dataset`).
#[pyclass(module = "exphil._native", frozen)]
pub struct Dataset {
    dir: PathBuf,
    source: Source,
    info: String,
}

#[pymethods]
impl Dataset {
    /// Opens the dataset in `dir` and a loader over one side of its split.
    #[new]
    #[pyo3(signature = (
        dir,
        split = Some("train".to_string()),
        batch_size = 256,
        shuffle = true,
        seed = 0,
        window = None,
        stride = None,
        unroll = None,
        segment_frames = None,
        originals_only = None,
        drop_last = false,
        prefetch = 2,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dir: PathBuf,
        split: Option<String>,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        window: Option<usize>,
        stride: Option<usize>,
        unroll: Option<usize>,
        segment_frames: Option<usize>,
        originals_only: Option<bool>,
        drop_last: bool,
        prefetch: usize,
    ) -> PyResult<Dataset> {
        let side = match split.as_deref() {
            None | Some("all") => None,
            Some("train") => Some(Split::Train),
            Some("val" | "validation") => Some(Split::Validation),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "split must be \"train\", \"val\" or \"all\", not {other:?}"
                )))
            }
        };
        if window.is_some() && unroll.is_some() {
            return Err(PyValueError::new_err(
                "give window (frames per example) or unroll (sequence steps), not both",
            ));
        }
        // Validation scores the original examples only, as training does.
        let originals = originals_only.unwrap_or(side == Some(Split::Validation));
        let variants = originals.then(|| vec![VARIANT_ORIGINAL]);
        let d = dir.clone();
        guarded(
            py,
            move || {
                let err = |e: &dyn std::fmt::Display| dataset_error(&dir, e);
                let manifest = DatasetManifest::read(&dir).map_err(|e| err(&e))?;
                let dirs: Vec<PathBuf> = manifest
                    .games
                    .iter()
                    .filter(|g| side.is_none_or(|s| g.split == s))
                    .flat_map(|g| g.shards.iter().map(|s| dir.join(&s.dir)))
                    .collect();
                let source = match unroll {
                    Some(t) => {
                        let segment = segment_frames
                            .or_else(|| shuffle.then(|| 1024usize.div_ceil(t.max(1)) * t));
                        let cfg = StreamConfig {
                            streams: batch_size,
                            unroll: t,
                            segment_frames: segment,
                            random_crop: shuffle,
                            shuffle,
                            seed,
                            variants,
                            prefetch,
                        };
                        Source::Streams(StreamLoader::open(&dirs, cfg).map_err(|e| err(&e))?)
                    }
                    None => {
                        let cfg = LoaderConfig {
                            batch_size,
                            window,
                            stride,
                            shuffle,
                            seed,
                            split: None,
                            prefetch,
                            drop_last,
                            variants,
                            ..LoaderConfig::default()
                        };
                        Source::Frames {
                            loader: Loader::open(&dirs, cfg).map_err(|e| err(&e))?,
                            window,
                        }
                    }
                };
                let info = info_json(&dir, &manifest, &source, &dirs).map_err(|e| err(&e))?;
                Ok(Dataset { dir, source, info })
            },
            |msg| dataset_error(&d, msg),
        )
    }

    /// The dataset's directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// What the dataset holds and how this loader reads it, as JSON.
    fn info_json(&self) -> &str {
        &self.info
    }

    /// Examples (frames or windows) per epoch; for unrolls, the valid rows of all runs.
    fn num_examples(&self) -> u64 {
        match &self.source {
            Source::Frames { loader, .. } => loader.len() as u64,
            Source::Streams(s) => s.rows(),
        }
    }

    /// Batches in epoch `epoch` (for unrolls it can vary with the epoch's random crops).
    fn batches(&self, epoch: u64) -> usize {
        match &self.source {
            Source::Frames { loader, .. } => loader.batches_per_epoch(),
            Source::Streams(s) => s.batches_in_epoch(epoch),
        }
    }

    /// The batches of epoch `epoch` (the same for the same seed and epoch).
    fn epoch(&self, py: Python<'_>, epoch: u64) -> PyResult<Epoch> {
        let inner = guarded(
            py,
            || {
                Ok(match &self.source {
                    Source::Frames { loader, window } => Inner::Frames {
                        epoch: loader.epoch(epoch),
                        window: *window,
                        features: loader.feature_width(),
                        ids: loader.id_width(),
                    },
                    Source::Streams(s) => Inner::Streams(s.epoch(epoch)),
                })
            },
            |msg| dataset_error(&self.dir, msg),
        )?;
        Ok(Epoch {
            dir: self.dir.clone(),
            inner: Mutex::new(inner),
        })
    }

    fn __repr__(&self) -> String {
        format!("<exphil.Dataset {}>", self.dir.display())
    }
}

/// The info dict as JSON: `exphil dataset info`'s summary, the configs the dataset was built
/// with, and this loader's selection.
fn info_json(
    dir: &Path,
    manifest: &DatasetManifest,
    source: &Source,
    shards: &[PathBuf],
) -> Result<String, String> {
    let summary = summarize(dir).map_err(|e| e.to_string())?;
    let (features, ids, examples) = match source {
        Source::Frames { loader, .. } => (
            loader.feature_width(),
            loader.id_width(),
            loader.len() as u64,
        ),
        Source::Streams(s) => {
            let first = shards
                .first()
                .map(|d| exphil_dataset::Shard::open(d).map(|s| (s.feature_width(), s.id_width())))
                .transpose()
                .map_err(|e| e.to_string())?;
            let (f, i) = first.unwrap_or((manifest.layout.features, manifest.layout.ids));
            (f, i, s.rows())
        }
    };
    let json = serde_json::json!({
        "dir": dir,
        "summary": summary,
        "feature_width": features,
        "id_width": ids,
        "target_columns": exphil_embed::TARGET_NAMES,
        "shards": shards.len(),
        "examples": examples,
        "embed": manifest.embed,
        "targets": manifest.targets,
        "examples_config": manifest.examples,
        "precision": manifest.precision,
        "validation_fraction": manifest.validation_fraction,
        "split_seed": manifest.split_seed,
    });
    Ok(json.to_string())
}

/// An epoch's batch source.
enum Inner {
    Frames {
        epoch: exphil_dataset::Epoch,
        window: Option<usize>,
        features: usize,
        ids: usize,
    },
    Streams(exphil_dataset::Epoch<exphil_dataset::StreamBatch>),
}

/// One epoch's batches as dicts of NumPy arrays (an iterator).
#[pyclass(module = "exphil._native")]
pub struct Epoch {
    dir: PathBuf,
    /// Behind a lock only because a Python object must be shareable between threads; one
    /// iterator is advanced by one caller at a time.
    inner: Mutex<Inner>,
}

/// A NumPy array of `shape` owning `values` (moved, not copied).
fn array<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let a = Array::from_shape_vec(IxDyn(shape), values)
        .map_err(|e| PyValueError::new_err(format!("batch shape {shape:?}: {e}")))?;
    Ok(a.into_pyarray(py).into_any())
}

#[pymethods]
impl Epoch {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let dir = self.dir.clone();
        let out = PyDict::new(py);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *inner {
            Inner::Frames {
                epoch,
                window,
                features,
                ids,
            } => {
                let (nf, ni, window) = (*features, *ids, *window);
                let next = guarded(py, || Ok(epoch.next()), |m| dataset_error(&dir, m))?;
                let Some(b) = next.transpose().map_err(|e| dataset_error(&dir, e))? else {
                    return Ok(None);
                };
                // [b, F] for frames, [b, w, F] for windows.
                let lead: Vec<usize> = match window {
                    None => vec![b.len],
                    Some(_) => vec![b.len, b.window],
                };
                let with = |last: usize| [&lead[..], &[last]].concat();
                out.set_item("features", array(py, &with(nf), b.features)?)?;
                out.set_item("ids", array(py, &with(ni), b.ids)?)?;
                out.set_item("targets", array(py, &with(6), b.targets)?)?;
                out.set_item("frame", array(py, &lead, b.frame)?)?;
                out.set_item("game", array(py, &[b.len], b.game)?)?;
            }
            Inner::Streams(epoch) => {
                let next = guarded(py, || Ok(epoch.next()), |m| dataset_error(&dir, m))?;
                let Some(b) = next.transpose().map_err(|e| dataset_error(&dir, e))? else {
                    return Ok(None);
                };
                let (t, s) = (b.unroll, b.streams);
                let width = |n: usize| n.checked_div(t * s).unwrap_or(0);
                let (nf, ni) = (width(b.features.len()), width(b.ids.len()));
                out.set_item("features", array(py, &[t, s, nf], b.features)?)?;
                out.set_item("ids", array(py, &[t, s, ni], b.ids)?)?;
                out.set_item("targets", array(py, &[t, s, 6], b.targets)?)?;
                out.set_item("valid", array(py, &[t, s], b.valid)?)?;
                out.set_item("frame", array(py, &[t, s], b.frame)?)?;
                out.set_item("reset", array(py, &[s], b.reset)?)?;
                out.set_item("game", array(py, &[s], b.game)?)?;
            }
        }
        Ok(Some(out))
    }
}
