//! `scan`: `exphil replays scan` as columns, one row per replay file: the same discovery,
//! per-file summary and filters (`exphil-corpus`, resolved through `exphil-dataset`'s
//! `FilterSettings` as the command line's filter flags are). A file that cannot be read is a
//! row with its error, never an exception for the whole scan.

use crate::{guarded, ReplayError};
use exphil_corpus::{discover, inspect, Depth, FileError, ReplayInfo};
use exphil_dataset::FilterSettings;
use pyo3::exceptions::{PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;

/// One file's outcome: its summary, or why it could not be read.
enum Row {
    Ok(Box<ReplayInfo>, Option<String>),
    Failed(PathBuf, String),
}

/// Scans `paths` (the Rust side of `exphil.scan`): a dict of equal-length column lists.
#[pyfunction]
#[pyo3(signature = (
    paths,
    characters = Vec::new(),
    stages = Vec::new(),
    min_frames = None,
    human_only = false,
    one_v_one = false,
    min_quality = None,
    keep_duplicates = false,
    metadata_only = false,
    threads = None,
    include_rejected = false,
))]
#[allow(clippy::too_many_arguments)]
pub fn scan<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    characters: Vec<String>,
    stages: Vec<String>,
    min_frames: Option<usize>,
    human_only: bool,
    one_v_one: bool,
    min_quality: Option<u32>,
    keep_duplicates: bool,
    metadata_only: bool,
    threads: Option<usize>,
    include_rejected: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let filter = FilterSettings {
        characters,
        stages,
        min_frames,
        human_only,
        one_v_one,
        min_quality,
        dedupe: !keep_duplicates,
    }
    .resolve()
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: no such file or directory",
            missing.display()
        )));
    }
    if threads == Some(0) {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let depth = if metadata_only {
        Depth::Metadata
    } else {
        Depth::Full
    };
    let rows = guarded(
        py,
        move || {
            let (files, unreadable) = discover(&paths);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads.unwrap_or(0))
                .build()
                .map_err(|e| PyValueError::new_err(format!("cannot start threads: {e}")))?;
            // Each file inside its own guard, so that even a bug stays one row's error.
            let outcomes: Vec<Result<ReplayInfo, FileError>> = pool.install(|| {
                files
                    .par_iter()
                    .map(|path| {
                        std::panic::catch_unwind(|| inspect(path, depth)).unwrap_or_else(|_| {
                            Err(FileError {
                                path: path.clone(),
                                error: exphil_replay::DecodeError::Io(
                                    "internal error (a bug in exphil) while reading".into(),
                                ),
                            })
                        })
                    })
                    .collect()
            });
            let infos: Vec<&ReplayInfo> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
            let (_, rejected) = filter.apply(infos.iter().copied());
            // The filter hands back references into `outcomes`: a rejection is keyed by address.
            let reasons: HashMap<*const ReplayInfo, String> = rejected
                .iter()
                .map(|(info, why)| (*info as *const ReplayInfo, why.to_string()))
                .collect();
            let reason_of = |info: &ReplayInfo| reasons.get(&(info as *const ReplayInfo)).cloned();
            let mut rows: Vec<Row> = unreadable
                .into_iter()
                .map(|(p, why)| Row::Failed(p, format!("cannot read: {why}")))
                .collect();
            for o in &outcomes {
                match o {
                    Ok(info) => {
                        let why = reason_of(info);
                        if why.is_none() || include_rejected {
                            rows.push(Row::Ok(Box::new(info.clone()), why));
                        }
                    }
                    Err(e) => rows.push(Row::Failed(e.path.clone(), e.error.to_string())),
                }
            }
            rows.sort_by(|a, b| path_of(a).cmp(path_of(b)));
            Ok(rows)
        },
        ReplayError::new_err,
    )?;
    to_columns(py, &rows)
}

fn path_of(row: &Row) -> &PathBuf {
    match row {
        Row::Ok(info, _) => &info.path,
        Row::Failed(path, _) => path,
    }
}

/// The rows as a dict of column lists (`None` where a failed file has no value).
fn to_columns<'py>(py: Python<'py>, rows: &[Row]) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    macro_rules! column {
        ($name:literal, |$i:ident| $value:expr, $failed:expr) => {
            column!($name, |$i, _why| $value, |_path, _error| $failed)
        };
        ($name:literal, |$i:ident, $why:ident| $value:expr, |$path:ident, $error:ident| $failed:expr) => {{
            let list = PyList::empty(py);
            for row in rows {
                match row {
                    Row::Ok($i, $why) => list.append($value)?,
                    Row::Failed($path, $error) => list.append($failed)?,
                }
            }
            out.set_item($name, list)?;
        }};
    }
    column!(
        "path",
        |i, _why| i.path.display().to_string(),
        |path, _error| path.display().to_string()
    );
    column!("ok", |_i| true, false);
    column!("error", |_i, _why| None::<String>, |_path, error| Some(
        error.clone()
    ));
    column!("rejected", |_i, why| why.clone(), |_path, _error| None::<
        String,
    >);
    column!("bytes", |i| Some(i.bytes), None::<u64>);
    column!(
        "content_hash",
        |i| Some(i.content_hash.clone()),
        None::<String>
    );
    column!("version", |i| Some(i.version.clone()), None::<String>);
    column!("stage", |i| Some(i.stage.0), None::<u16>);
    column!("stage_name", |i| Some(i.stage_name.clone()), None::<String>);
    column!("players", |i| Some(i.players.len()), None::<usize>);
    column!(
        "ports",
        |i| Some(i.players.iter().map(|p| p.port).collect::<Vec<u8>>()),
        None::<Vec<u8>>
    );
    column!(
        "characters",
        |i| Some(
            i.players
                .iter()
                .map(|p| p.character_name.clone())
                .collect::<Vec<_>>()
        ),
        None::<Vec<String>>
    );
    column!(
        "character_ids",
        |i| Some(i.players.iter().map(|p| p.character.0).collect::<Vec<u8>>()),
        None::<Vec<u8>>
    );
    column!(
        "names",
        |i| Some(i.players.iter().map(|p| p.identity()).collect::<Vec<_>>()),
        None::<Vec<Option<String>>>
    );
    column!(
        "cpus",
        |i| Some(
            i.players
                .iter()
                .filter(|p| p.kind != exphil_replay::PlayerKind::Human)
                .count()
        ),
        None::<usize>
    );
    column!("frames", |i| i.frames, None::<usize>);
    column!("seconds", |i| i.seconds, None::<f64>);
    column!("end_method", |i| i.end_method.clone(), None::<String>);
    column!(
        "winner",
        |i| i
            .players
            .iter()
            .find(|p| p.placement == Some(0))
            .map(|p| p.port),
        None::<u8>
    );
    column!("online", |i| Some(i.online), None::<bool>);
    column!("played_on", |i| i.played_on.clone(), None::<String>);
    column!("start_at", |i| i.start_at.clone(), None::<String>);
    column!("damaged", |i| Some(i.damaged), None::<bool>);
    column!("quality", |i| Some(i.quality.score), None::<u8>);
    column!("warnings", |i| i.warnings.clone(), Vec::<String>::new());
    Ok(out)
}
