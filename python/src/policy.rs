//! `Policy`: a trained exphil policy stepped frame by frame on UMI v1 frames, as `exphil serve`'s
//! `PolicyBrain` steps it (`exphil_policy::agent::BatchedPolicy`, one slot): the frame's bytes
//! decode through the workspace's UMI frame reader (`exphil_state::GameState::from_umi`), the
//! policy answers a controller, and a frame with out-of-range values repeats the previous
//! controller, as the UMI session does.

use crate::guarded;
use exphil_policy::agent::BatchedPolicy;
use exphil_policy::file::{load_for_play, LoadedPolicy};
use exphil_policy::Sampling;
use exphil_state::{Controller, GameState, BUTTON_NAMES};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

create_exception!(
    exphil,
    PolicyError,
    PyValueError,
    "A policy that cannot be loaded or stepped; the message names the file and the problem."
);

fn policy_error(path: &Path, problem: impl std::fmt::Display) -> PyErr {
    PolicyError::new_err(format!("{}: {problem}", path.display()))
}

/// What a step remembers: the policy, and the last frame id and controller of its game.
struct Stepper {
    policy: BatchedPolicy,
    last_frame: Option<i32>,
    previous: Controller,
}

/// A loaded policy playing one seat (the Rust side of `exphil.Policy`).
#[pyclass(module = "exphil._native", frozen)]
pub struct Policy {
    path: PathBuf,
    info: String,
    delay: u8,
    stepper: Mutex<Stepper>,
}

#[pymethods]
impl Policy {
    /// Loads the policy at `path` (a run directory, checkpoint directory or weights file).
    #[new]
    #[pyo3(signature = (path, deterministic = false, temperature = 1.0, delay = None, seed = 0, device = "cpu"))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        deterministic: bool,
        temperature: f64,
        delay: Option<u8>,
        seed: u64,
        device: &str,
    ) -> PyResult<Policy> {
        let temperature_ok = temperature.is_finite() && temperature > 0.0;
        if !deterministic && !temperature_ok {
            return Err(PyValueError::new_err(format!(
                "temperature must be a positive number, not {temperature}"
            )));
        }
        let device = exphil_policy::device::device_of(device)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let p = path.clone();
        guarded(
            py,
            move || {
                let loaded = load_for_play(&path, &device)
                    // A load error names its file.
                    .map_err(|e| PolicyError::new_err(e.to_string()))?;
                // `exphil serve`'s default delay: the one the policy was trained with.
                let delay = delay.unwrap_or_else(|| loaded.frame_delay().min(30));
                let info = info_json(&loaded, delay, deterministic, temperature);
                let sampling = if deterministic {
                    Sampling::Argmax
                } else {
                    Sampling::Temperature(temperature)
                };
                let mut policy = BatchedPolicy::new(loaded, device, sampling, delay, 1, seed)
                    .map_err(|e| policy_error(&path, e))?;
                // As PolicyBrain::start does for a session of one game.
                policy.configure(1, delay);
                policy.seed(seed);
                Ok(Policy {
                    path,
                    info,
                    delay,
                    stepper: Mutex::new(Stepper {
                        policy,
                        last_frame: None,
                        previous: Controller::NEUTRAL,
                    }),
                })
            },
            |msg| policy_error(&p, msg),
        )
    }

    /// What the policy is, as JSON.
    fn info_json(&self) -> &str {
        &self.info
    }

    /// The delay (frames) the policy is told it plays with.
    #[getter]
    fn delay(&self) -> u8 {
        self.delay
    }

    /// Forgets the game: the next step starts a new one (memory and controller history reset).
    fn reset(&self) {
        let mut s = self.stepper.lock().unwrap_or_else(|e| e.into_inner());
        s.last_frame = None;
    }

    /// One decision for one packed UMI v1 frame (770 bytes): a dict of the controller
    /// (`main_x`, `main_y`, `c_x`, `c_y`, `shoulder` in 0..1, `buttons` by name, `row`: the
    /// UMI controller row) and `anomalous` (the frame had out-of-range values: the previous
    /// controller is repeated). A frame id not after the last one starts a new game.
    fn step<'py>(&self, py: Python<'py>, frame: &[u8]) -> PyResult<Bound<'py, PyDict>> {
        let state = GameState::from_umi(frame).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (controller, anomalous) = guarded(
            py,
            || {
                let mut s = self.stepper.lock().unwrap_or_else(|e| e.into_inner());
                // A new game: as PolicyBrain does on a game's first observation.
                if s.last_frame.is_none_or(|last| state.frame <= last) {
                    s.policy.reset(0);
                    s.previous = Controller::NEUTRAL;
                }
                s.last_frame = Some(state.frame);
                let (c, bad) = s.policy.step(&[(0, &state)])[0];
                // The UMI session repeats the previous controller for an anomalous frame.
                let c = if bad { s.previous } else { c };
                s.previous = c;
                Ok((c, bad))
            },
            |msg| policy_error(&self.path, msg),
        )?;
        let out = PyDict::new(py);
        out.set_item("main_x", controller.main_x)?;
        out.set_item("main_y", controller.main_y)?;
        out.set_item("c_x", controller.c_x)?;
        out.set_item("c_y", controller.c_y)?;
        out.set_item("shoulder", controller.shoulder)?;
        let buttons = PyDict::new(py);
        for (i, name) in BUTTON_NAMES.iter().enumerate() {
            buttons.set_item(*name, controller.buttons.pressed(i))?;
        }
        out.set_item("buttons", buttons)?;
        out.set_item("row", controller.to_row().to_vec())?;
        out.set_item("anomalous", anomalous)?;
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("<exphil.Policy {}>", self.path.display())
    }
}

/// The info dict as JSON.
fn info_json(loaded: &LoadedPolicy, delay: u8, deterministic: bool, temperature: f64) -> String {
    serde_json::json!({
        "name": loaded.name(),
        "path": loaded.model_path,
        "run_dir": loaded.run_dir,
        "backbone": loaded.config.backbone.describe(),
        "params": loaded.params,
        "trained_characters": loaded.trained_characters(),
        "trained_frame_delay": loaded.frame_delay(),
        "delay": delay,
        "deterministic": deterministic,
        "temperature": if deterministic { None } else { Some(temperature) },
        "policy": loaded.config,
    })
    .to_string()
}

/// Writes an untrained policy (a tiny MLP with random weights, the default embedding and
/// targets) at `path`: a weights file in the format `exphil train` writes, for tests and
/// examples that need a policy without training one.
#[pyfunction]
#[pyo3(signature = (path, hidden = 16, frame_delay = 0))]
pub fn write_untrained_policy(
    py: Python<'_>,
    path: PathBuf,
    hidden: usize,
    frame_delay: u8,
) -> PyResult<()> {
    use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig, NUM_BUTTONS};
    use exphil_policy::file::{metadata, WeightsInfo};
    use exphil_policy::{params, InputSpec};
    use exphil_runs::config::{BackboneConfig, DataConfig, MlpConfig, PolicyConfig};
    let p = path.clone();
    guarded(
        py,
        move || {
            let err = |e: &dyn std::fmt::Display| policy_error(&path, e);
            let embed = EmbedConfig::default();
            let targets = TargetConfig::default();
            let embedder = Embedder::new(embed.clone()).map_err(|e| err(&e))?;
            let classes = TargetCoder::new(targets.clone())
                .map_err(|e| err(&e))?
                .num_classes();
            let spec = InputSpec::new(embedder.layout(), classes);
            let config = PolicyConfig {
                backbone: BackboneConfig::Mlp(MlpConfig {
                    hidden: vec![hidden.max(1)],
                    ..MlpConfig::default()
                }),
                ..PolicyConfig::default()
            };
            let data = DataConfig {
                frame_delay,
                ..DataConfig::default()
            };
            let device = exphil_policy::device::device_of("cpu").map_err(|e| err(&e))?;
            let policy = exphil_policy::Policy::new(&config, &spec, &device);
            let meta = metadata(&WeightsInfo {
                policy: &config,
                spec: &spec,
                embed: &embed,
                targets: &targets,
                button_pos_weight: &[1.0; NUM_BUTTONS],
                data: &data,
                pairing_version: exphil_dataset::PAIRING_VERSION,
            });
            let bytes =
                exphil_runs::tensors::encode_tensors(&path, &params::export(&policy), &meta)
                    .map_err(|e| err(&e))?;
            std::fs::write(&path, bytes).map_err(|e| err(&e))
        },
        |msg| policy_error(&p, msg),
    )
}
