//! `read_replay` and the decoded `Game`: the workspace's own decoder (`exphil-replay`), its
//! summary (`exphil-corpus`, as `exphil replays show --json` prints it), and the per-port frame
//! columns and item records as NumPy columns.

use crate::columns::Table;
use crate::{guarded, ReplayError};
use exphil_replay::{CharFrame, DecodeOptions, Port, RollbackMode};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The error of a replay that cannot be read, naming the file.
fn replay_error(path: &Path, problem: impl std::fmt::Display) -> PyErr {
    ReplayError::new_err(format!("{}: {problem}", path.display()))
}

/// A decoded replay (the Rust side of `exphil.Game`).
#[pyclass(module = "exphil._native", frozen)]
pub struct Game {
    path: PathBuf,
    game: exphil_replay::Game,
    /// Bytes of the file.
    file_bytes: u64,
    /// [`exphil_corpus::content_hash`] of the file.
    content_hash: String,
    /// The summary as JSON, in the shape of `exphil replays show --json`: made when first asked
    /// for, so that reading a game costs its decoding and little more.
    summary: OnceLock<String>,
}

/// What `exphil replays show --json` prints about a game (without `--frames`).
#[derive(serde::Serialize)]
struct ShowJson<'a> {
    summary: &'a exphil_corpus::ReplayInfo,
    start: &'a exphil_replay::GameStart,
    end: &'a Option<exphil_replay::GameEnd>,
    metadata: Option<&'a serde_json::Value>,
    rollback_resends: u32,
    warnings: &'a [exphil_replay::Warning],
}

/// Reads and decodes one replay: the Rust side of `exphil.read_replay`.
#[pyfunction]
#[pyo3(signature = (path, rollback = "last"))]
pub fn read_replay(py: Python<'_>, path: PathBuf, rollback: &str) -> PyResult<Game> {
    let rollback = match rollback {
        "last" => RollbackMode::Last,
        "first" => RollbackMode::First,
        other => {
            return Err(PyValueError::new_err(format!(
                "rollback must be \"last\" or \"first\", not {other:?}"
            )))
        }
    };
    let p = path.clone();
    guarded(
        py,
        move || {
            let bytes = exphil_replay::read_bytes(&path).map_err(|e| replay_error(&path, e))?;
            let game = exphil_replay::read(&bytes, DecodeOptions { rollback })
                .map_err(|e| replay_error(&path, e))?;
            Ok(Game {
                path,
                game,
                file_bytes: bytes.len() as u64,
                content_hash: exphil_corpus::content_hash(&bytes),
                summary: OnceLock::new(),
            })
        },
        |msg| replay_error(&p, msg),
    )
}

/// Decodes every file of `paths` in Rust and returns the frames decoded, creating no Python
/// objects: the reference the benchmark compares `read_replay` against. Files that fail count 0.
#[pyfunction]
pub fn decode_only(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<usize> {
    guarded(
        py,
        move || {
            Ok(paths
                .iter()
                .filter_map(|p| exphil_replay::read_file(p, DecodeOptions::default()).ok())
                .map(|g| g.frames.len())
                .sum())
        },
        ReplayError::new_err,
    )
}

#[pymethods]
impl Game {
    /// The file this game was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The summary as JSON (`exphil replays show --json`'s shape).
    fn summary_json(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(s) = self.summary.get() {
            return Ok(s.clone());
        }
        let json = guarded(
            py,
            || {
                let info = exphil_corpus::summarize_decoded(
                    &self.path,
                    self.file_bytes,
                    self.content_hash.clone(),
                    &self.game,
                );
                serde_json::to_string(&ShowJson {
                    summary: &info,
                    start: &self.game.start,
                    end: &self.game.end,
                    metadata: self.game.metadata.as_ref().map(|m| &m.raw),
                    rollback_resends: self.game.rollback_resends,
                    warnings: &self.game.warnings,
                })
                .map_err(|e| replay_error(&self.path, format!("summary not serialisable: {e}")))
            },
            |msg| replay_error(&self.path, msg),
        )?;
        Ok(self.summary.get_or_init(|| json).clone())
    }

    /// Port numbers (1-4) of the players, in order.
    #[getter]
    fn ports(&self) -> Vec<u8> {
        self.game
            .frames
            .ports
            .iter()
            .map(|p| p.port.number())
            .collect()
    }

    /// Port numbers whose character has a follower (Nana) in some frame.
    #[getter]
    fn followers(&self) -> Vec<u8> {
        self.game
            .frames
            .ports
            .iter()
            .filter(|p| p.follower.iter().any(Option::is_some))
            .map(|p| p.port.number())
            .collect()
    }

    /// Frame rows (distinct frame ids).
    #[getter]
    fn frame_count(&self) -> usize {
        self.game.frames.len()
    }

    /// The decoder's warnings, as text.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.game.warnings.iter().map(ToString::to_string).collect()
    }

    /// Whether the stream decoded to its end without damage and reached Game End.
    #[getter]
    fn complete(&self) -> bool {
        self.game.is_complete()
    }

    /// One port's frame columns (leader, or the follower with `follower=True`): a list of
    /// `(name, values, null mask or None)`, one row per frame row of the game.
    #[pyo3(signature = (port, follower = false))]
    fn frame_columns<'py>(
        &self,
        py: Python<'py>,
        port: u8,
        follower: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let column = Port::from_number(port)
            .and_then(|p| self.game.frames.ports.iter().find(|c| c.port == p))
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{}: port {port} has no player in this game (ports: {:?})",
                    self.path.display(),
                    self.ports()
                ))
            })?;
        let rows = if follower {
            &column.follower
        } else {
            &column.leader
        };
        let n = self.game.frames.len();
        let table = guarded(
            py,
            || Ok(char_table(&self.game.frames.id, rows, n)),
            |msg| replay_error(&self.path, msg),
        )?;
        table.into_py(py)
    }

    /// The item records (3.0+), one row per item per frame: a list of
    /// `(name, values, null mask or None)`.
    fn item_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let table = guarded(
            py,
            || Ok(item_table(&self.game.frames)),
            |msg| replay_error(&self.path, msg),
        )?;
        table.into_py(py)
    }

    /// The game as UMI v1 frames seen by `port` against `opponent` (default: the other player
    /// of a two-player game): a `uint8` array `[n, 770]` of packed frames (the layout of
    /// `umi.frame.FRAME`), one per frame where both players are present, built by the
    /// workspace's own replay-to-state conversion, and the frame row of each.
    #[pyo3(signature = (port, opponent = None))]
    fn umi_frames<'py>(
        &self,
        py: Python<'py>,
        port: u8,
        opponent: Option<u8>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let ports = self.ports();
        let named = |n: u8| {
            Port::from_number(n)
                .filter(|_| ports.contains(&n))
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "{}: port {n} has no player in this game (ports: {ports:?})",
                        self.path.display()
                    ))
                })
        };
        let me = named(port)?;
        let them = match opponent {
            Some(o) => named(o)?,
            None => match ports.iter().filter(|&&p| p != port).collect::<Vec<_>>()[..] {
                [&o] => named(o)?,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "{}: {} players; name the opponent",
                        self.path.display(),
                        ports.len()
                    )))
                }
            },
        };
        let (bytes, rows) = guarded(
            py,
            || {
                let states = exphil_state::states(&self.game, me, them);
                let mut bytes = Vec::with_capacity(states.len() * exphil_state::FRAME_BYTES);
                let mut rows = Vec::with_capacity(states.len());
                for (row, s) in &states {
                    bytes.extend_from_slice(&s.to_umi());
                    rows.push(*row as u32);
                }
                Ok((bytes, rows))
            },
            |msg| replay_error(&self.path, msg),
        )?;
        let n = rows.len();
        let frames = numpy::ndarray::Array2::from_shape_vec((n, exphil_state::FRAME_BYTES), bytes)
            .map_err(|e| replay_error(&self.path, e))?;
        Ok((
            frames.into_pyarray(py).into_any(),
            rows.into_pyarray(py).into_any(),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "<exphil.Game {} ({} frames, ports {:?})>",
            self.path.display(),
            self.game.frames.len(),
            self.ports()
        )
    }
}

/// Adds a column of one field of every present character frame (null where absent or where
/// the field is not recorded by the file's version).
macro_rules! field {
    ($t:ident, $rows:ident, $name:literal, |$c:ident| $value:expr) => {
        $t.push(
            $name,
            $rows
                .iter()
                .map(|r| r.as_ref().and_then(|$c: &CharFrame| $value)),
        )
    };
}

/// The frame columns of one character (`rows`, possibly empty: a port with no follower gives
/// `n` null rows), with the frame ids.
fn char_table(ids: &[i32], rows: &[Option<CharFrame>], n: usize) -> Table {
    /// Rows per block: a block of character frames (about 200 bytes each) stays in cache while
    /// every column reads it.
    const BLOCK: usize = 1024;
    let none = vec![None; n];
    let rows = if rows.len() == n { rows } else { &none[..] };
    let mut t = Table::with_rows(n);
    // At least one block, so that an empty game still has every column.
    for start in (0..n.max(1)).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        t.next_block();
        char_block(
            &mut t,
            &ids[start.min(end)..end],
            &rows[start.min(end)..end],
        );
    }
    t
}

/// Pushes one block of rows of every column of [`char_table`].
fn char_block(t: &mut Table, ids: &[i32], rows: &[Option<CharFrame>]) {
    t.push("frame", ids.iter().map(|&i| Some(i)));
    // Pre-Frame Update: inputs and state before the frame.
    field!(t, rows, "pre_random_seed", |c| Some(c.pre.random_seed));
    field!(t, rows, "pre_action_state", |c| Some(c.pre.action_state));
    field!(t, rows, "pre_x", |c| Some(c.pre.x));
    field!(t, rows, "pre_y", |c| Some(c.pre.y));
    field!(t, rows, "pre_facing", |c| Some(c.pre.facing));
    field!(t, rows, "pre_joystick_x", |c| Some(c.pre.joystick.x));
    field!(t, rows, "pre_joystick_y", |c| Some(c.pre.joystick.y));
    field!(t, rows, "pre_cstick_x", |c| Some(c.pre.cstick.x));
    field!(t, rows, "pre_cstick_y", |c| Some(c.pre.cstick.y));
    field!(t, rows, "pre_trigger", |c| Some(c.pre.trigger));
    field!(t, rows, "pre_buttons", |c| Some(c.pre.buttons));
    field!(t, rows, "pre_buttons_physical", |c| Some(
        c.pre.buttons_physical
    ));
    field!(t, rows, "pre_trigger_physical_l", |c| Some(
        c.pre.trigger_physical_l
    ));
    field!(t, rows, "pre_trigger_physical_r", |c| Some(
        c.pre.trigger_physical_r
    ));
    field!(t, rows, "pre_raw_analog_x", |c| c.pre.raw_analog_x);
    field!(t, rows, "pre_raw_analog_y", |c| c.pre.raw_analog_y);
    field!(t, rows, "pre_raw_cstick_x", |c| c.pre.raw_cstick_x);
    field!(t, rows, "pre_raw_cstick_y", |c| c.pre.raw_cstick_y);
    field!(t, rows, "pre_percent", |c| c.pre.percent);
    // Post-Frame Update: the state after the frame.
    field!(t, rows, "post_character", |c| Some(c.post.character.0));
    field!(t, rows, "post_action_state", |c| Some(c.post.action_state));
    field!(t, rows, "post_x", |c| Some(c.post.x));
    field!(t, rows, "post_y", |c| Some(c.post.y));
    field!(t, rows, "post_facing", |c| Some(c.post.facing));
    field!(t, rows, "post_percent", |c| Some(c.post.percent));
    field!(t, rows, "post_shield", |c| Some(c.post.shield));
    field!(t, rows, "post_last_attack_landed", |c| Some(
        c.post.last_attack_landed
    ));
    field!(t, rows, "post_combo_count", |c| Some(c.post.combo_count));
    field!(t, rows, "post_last_hit_by", |c| Some(c.post.last_hit_by));
    field!(t, rows, "post_stocks", |c| Some(c.post.stocks));
    field!(t, rows, "post_state_age", |c| c.post.state_age);
    for (i, name) in [
        "post_state_flags_0",
        "post_state_flags_1",
        "post_state_flags_2",
        "post_state_flags_3",
        "post_state_flags_4",
    ]
    .into_iter()
    .enumerate()
    {
        t.push(
            name,
            rows.iter()
                .map(|r| r.as_ref().and_then(|c| c.post.state_flags.map(|f| f[i]))),
        );
    }
    field!(t, rows, "post_misc_as", |c| c.post.misc_as);
    field!(t, rows, "post_airborne", |c| c.post.airborne);
    field!(t, rows, "post_ground_id", |c| c.post.ground_id);
    field!(t, rows, "post_jumps_remaining", |c| c.post.jumps_remaining);
    field!(t, rows, "post_l_cancel", |c| c.post.l_cancel);
    field!(t, rows, "post_hurtbox_state", |c| c.post.hurtbox_state);
    field!(t, rows, "post_self_x_air", |c| c
        .post
        .velocities
        .map(|v| v.self_x_air));
    field!(t, rows, "post_self_y", |c| c
        .post
        .velocities
        .map(|v| v.self_y));
    field!(t, rows, "post_knockback_x", |c| c
        .post
        .velocities
        .map(|v| v.knockback_x));
    field!(t, rows, "post_knockback_y", |c| c
        .post
        .velocities
        .map(|v| v.knockback_y));
    field!(t, rows, "post_self_x_ground", |c| c
        .post
        .velocities
        .map(|v| v.self_x_ground));
    field!(t, rows, "post_hitlag_remaining", |c| c
        .post
        .hitlag_remaining);
    field!(t, rows, "post_animation_index", |c| c.post.animation_index);
    field!(t, rows, "post_last_hit_by_instance", |c| c
        .post
        .last_hit_by_instance);
    field!(t, rows, "post_instance_id", |c| c.post.instance_id);
    // Derived: hitstun frames remaining (the misc value while the hitstun flag is set).
    field!(t, rows, "hitstun_remaining", |c| c.post.hitstun_remaining());
}

/// One row per item record, with its frame id.
fn item_table(frames: &exphil_replay::Frames) -> Table {
    let mut frame = Vec::new();
    let mut items = Vec::new();
    for f in frames.iter() {
        for item in f.items() {
            frame.push(f.id());
            items.push(*item);
        }
    }
    let mut t = Table::with_rows(items.len());
    t.push("frame", frame.iter().map(|&i| Some(i)));
    t.push("slot", items.iter().map(|i| Some(i.slot)));
    t.push("type", items.iter().map(|i| Some(i.kind)));
    t.push("state", items.iter().map(|i| Some(i.state)));
    t.push("facing", items.iter().map(|i| Some(i.facing)));
    t.push("vx", items.iter().map(|i| Some(i.vx)));
    t.push("vy", items.iter().map(|i| Some(i.vy)));
    t.push("x", items.iter().map(|i| Some(i.x)));
    t.push("y", items.iter().map(|i| Some(i.y)));
    t.push("damage", items.iter().map(|i| Some(i.damage)));
    t.push("timer", items.iter().map(|i| Some(i.timer)));
    t.push("spawn_id", items.iter().map(|i| Some(i.spawn_id)));
    for (k, name) in ["misc_0", "misc_1", "misc_2", "misc_3"]
        .into_iter()
        .enumerate()
    {
        t.push(name, items.iter().map(|i| i.misc.map(|m| m[k])));
    }
    t.push("owner", items.iter().map(|i| i.owner));
    t.push("instance_id", items.iter().map(|i| i.instance_id));
    t
}
