//! The scalar series of the runs' TensorBoard event files, kept in memory and brought up to
//! date by [`Store::refresh`], which reads only files that grew and returns the points that are
//! new.
//!
//! A run's event files are `<run>/tensorboard/events.out.tfevents.*` (one per start or resume)
//! and, for self-play leagues, `<run>/tensorboard/<learner>/events.out.tfevents.*`, whose tags
//! are shown as `<learner>/<tag>`. Files are read in name order (creation time). A point whose
//! step is not after its series' last one (a resumed run logging again from its checkpoint)
//! replaces the points from that step on, as TensorBoard drops orphaned points.

use exphil_report::tensorboard::read_events;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The folder of a run's event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// The start of an event file's name.
const EVENT_FILE_PREFIX: &str = "events.out.tfevents.";

/// One point of a series: `(step, wall_time, value)`; a non-finite value is `null` in JSON.
pub type Point = (i64, f64, f64);

/// The series of one run, by tag.
pub type Series = BTreeMap<String, Vec<Point>>;

/// A point found by [`Store::refresh`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewPoint {
    /// The run.
    pub run: String,
    /// The tag (`<learner>/<tag>` for a league learner's file).
    pub tag: String,
    /// The step.
    pub step: i64,
    /// Seconds since the Unix epoch when it was written.
    pub wall_time: f64,
    /// The value.
    pub value: f64,
}

/// How far an event file has been read.
#[derive(Clone, Debug, Default)]
struct FileState {
    /// Its length when last read.
    len: u64,
    /// How many complete records had been read.
    events: usize,
}

/// The series of every run, and how far each event file has been read.
#[derive(Debug, Default)]
pub struct Store {
    files: HashMap<PathBuf, FileState>,
    runs: BTreeMap<String, Series>,
    /// Why a file could not be read, with its run, until it reads again.
    warnings: BTreeMap<PathBuf, (String, String)>,
}

/// The event files of the run directory `run_dir`, in reading order, each with the prefix of its
/// tags (`""`, or `"<learner>/"`).
pub fn event_files(run_dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let tb = run_dir.join(TENSORBOARD_DIR);
    let Ok(entries) = std::fs::read_dir(&tb) else {
        return out;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    let is_events = |p: &Path| {
        p.is_file()
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(EVENT_FILE_PREFIX))
    };
    for path in entries {
        if is_events(&path) {
            out.push((path, String::new()));
        } else if path.is_dir() {
            let prefix = path
                .file_name()
                .map(|n| format!("{}/", n.to_string_lossy()))
                .unwrap_or_default();
            let Ok(inner) = std::fs::read_dir(&path) else {
                continue;
            };
            let mut inner: Vec<PathBuf> = inner.flatten().map(|e| e.path()).collect();
            inner.sort();
            out.extend(
                inner
                    .into_iter()
                    .filter(|p| is_events(p))
                    .map(|p| (p, prefix.clone())),
            );
        }
    }
    out
}

/// Adds `point` to `series`, first dropping the points at or after its step.
fn push_point(series: &mut Vec<Point>, point: Point) {
    if series.last().is_some_and(|last| last.0 >= point.0) {
        let keep = series.partition_point(|p| p.0 < point.0);
        series.truncate(keep);
    }
    series.push(point);
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Reads what is new in the event files of the runs `runs` (`(id, run directory)`), and
    /// returns the new points in file order. A file that cannot be read is skipped until it
    /// changes, with a warning for its run.
    pub fn refresh(&mut self, runs: &[(String, PathBuf)]) -> Vec<NewPoint> {
        let mut new = Vec::new();
        for (run, dir) in runs {
            for (path, prefix) in event_files(dir) {
                self.refresh_file(run, &path, &prefix, &mut new);
            }
        }
        new
    }

    fn refresh_file(&mut self, run: &str, path: &Path, prefix: &str, new: &mut Vec<NewPoint>) {
        let Ok(len) = std::fs::metadata(path).map(|m| m.len()) else {
            return;
        };
        let state = self.files.entry(path.to_path_buf()).or_default();
        if state.len == len && len > 0 {
            return;
        }
        let file = match read_events(path) {
            Ok(f) => f,
            Err(e) => {
                state.len = len;
                self.warnings
                    .insert(path.to_path_buf(), (run.to_string(), e.to_string()));
                return;
            }
        };
        // A file never shrinks while written; one that did was replaced: read it all again.
        let from = if file.events.len() < state.events {
            0
        } else {
            state.events
        };
        state.len = len;
        state.events = file.events.len();
        self.warnings.remove(path);
        let series = self.runs.entry(run.to_string()).or_default();
        for event in &file.events[from..] {
            for (tag, value) in &event.scalars {
                let tag = format!("{prefix}{tag}");
                let point = (event.step, event.wall_time, *value);
                push_point(series.entry(tag.clone()).or_default(), point);
                new.push(NewPoint {
                    run: run.to_string(),
                    tag,
                    step: event.step,
                    wall_time: event.wall_time,
                    value: *value,
                });
            }
        }
    }

    /// The series of `run` with only the points after step `since` (all without it); tags with
    /// no such point are left out.
    pub fn scalars(&self, run: &str, since: Option<i64>) -> Series {
        let Some(series) = self.runs.get(run) else {
            return Series::new();
        };
        series
            .iter()
            .map(|(tag, points)| {
                let from = since.map_or(0, |s| points.partition_point(|p| p.0 <= s));
                (tag.clone(), points[from..].to_vec())
            })
            .filter(|(_, points)| !points.is_empty())
            .collect()
    }

    /// The largest step of `run`'s points, `None` when it has none.
    pub fn latest_step(&self, run: &str) -> Option<i64> {
        self.runs
            .get(run)?
            .values()
            .filter_map(|points| points.iter().map(|p| p.0).max())
            .max()
    }

    /// The lowest finite `val/loss` of `run`, `None` when it has none.
    pub fn best_val_loss(&self, run: &str) -> Option<f64> {
        self.runs
            .get(run)?
            .get("val/loss")?
            .iter()
            .map(|p| p.2)
            .filter(|v| v.is_finite())
            .reduce(f64::min)
    }

    /// Why some of `run`'s event files could not be read.
    pub fn warnings(&self, run: &str) -> Vec<String> {
        self.warnings
            .values()
            .filter(|(r, _)| r == run)
            .map(|(_, w)| w.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_series_replaces_its_orphaned_points() {
        let mut s = Vec::new();
        for step in [1, 2, 3, 4] {
            push_point(&mut s, (step, 0.0, step as f64));
        }
        push_point(&mut s, (3, 1.0, 30.0));
        assert_eq!(s, [(1, 0.0, 1.0), (2, 0.0, 2.0), (3, 1.0, 30.0)]);
        push_point(&mut s, (3, 2.0, 31.0));
        assert_eq!(s.last(), Some(&(3, 2.0, 31.0)));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn league_learners_are_prefixed_and_a_torn_record_waits() {
        use exphil_report::tensorboard::EventWriter;
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let tb = tmp.path().join(TENSORBOARD_DIR);
        let mut main = EventWriter::create(&tb).unwrap();
        main.scalar("ppo/entropy", 10, 1.0).unwrap();
        main.flush().unwrap();
        let mut exploiter = EventWriter::create(&tb.join("exploiter")).unwrap();
        exploiter.scalar("ppo/entropy", 20, 2.0).unwrap();
        exploiter.flush().unwrap();
        let runs = [("sp".to_string(), tmp.path().to_path_buf())];
        let mut store = Store::new();
        let new = store.refresh(&runs);
        let tags: Vec<&str> = new.iter().map(|p| p.tag.as_str()).collect();
        assert_eq!(tags, ["ppo/entropy", "exploiter/ppo/entropy"]);
        assert_eq!(store.latest_step("sp"), Some(20));
        assert!(store.refresh(&runs).is_empty(), "nothing new");
        // A live writer mid-record: the complete records count, the rest waits.
        main.scalar("ppo/entropy", 11, 0.9).unwrap();
        main.flush().unwrap();
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(main.path())
            .unwrap();
        raw.write_all(&[7, 0, 0]).unwrap();
        let new = store.refresh(&runs);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].step, 11);
        assert!(store.warnings("sp").is_empty());
        assert_eq!(
            store.scalars("sp", Some(10))["ppo/entropy"],
            [new[0].clone()].map(|p| (p.step, p.wall_time, p.value))
        );
    }
}
