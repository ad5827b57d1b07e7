//! The questions, their defaults, and the `exphil train` command they end in.

use crate::{Ask, Machine, Result, SetupError, TRIES};
use exphil_runs::presets::{
    key_schema, merge, preset, presets, slippi_replays_dir, ENV_CHECKPOINTS_DIR, ENV_REPLAYS_DIR,
    MAX_FRAME_DELAY,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Minutes: the `quick` preset.
    Quick,
    /// One character's side of every game: a character preset (GPU) or `strong-cpu`.
    Character,
    /// Every player of every game: `gpu` (GPU) or `full-cpu`.
    General,
    /// Continue from the weights of an earlier run (`--pretrained`).
    FineTune,
}

impl Goal {
    /// Every goal, in the order the wizard offers them.
    pub const ALL: [Goal; 4] = [Goal::Quick, Goal::Character, Goal::General, Goal::FineTune];

    /// The menu line.
    pub fn label(self) -> &'static str {
        match self {
            Goal::Quick => "quick experiment (minutes: 1 epoch on 5 files, a small MLP)",
            Goal::Character => "character model (learn the player of one character)",
            Goal::General => "general model (every player of every game)",
            Goal::FineTune => "fine-tune (continue from an earlier run's weights)",
        }
    }
}

/// The environment of the wizard, read by the caller (the library reads no variable).
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// The environment variables (`std::env::vars()` collected): `EXPHIL_REPLAYS_DIR`,
    /// `EXPHIL_CHECKPOINTS_DIR`, `HOME`, `USERPROFILE`, `XDG_*`.
    pub vars: BTreeMap<String, String>,
    /// The operating system as `std::env::consts::OS` names it (`linux`, `macos`, `windows`),
    /// for the Slippi Launcher's folder.
    pub os: String,
}

impl Env {
    /// These variables on this operating system.
    pub fn new(vars: BTreeMap<String, String>) -> Env {
        Env {
            vars,
            os: std::env::consts::OS.to_string(),
        }
    }

    fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// The replay folder `exphil train` defaults to: `$EXPHIL_REPLAYS_DIR`, else the Slippi
    /// Launcher's folder (whether or not it exists), else `replays`.
    pub fn default_replays(&self) -> PathBuf {
        self.var(ENV_REPLAYS_DIR)
            .map(PathBuf::from)
            .or_else(|| slippi_replays_dir(&self.os, &self.vars))
            .unwrap_or_else(|| PathBuf::from("replays"))
    }

    /// The checkpoints folder `exphil train` defaults to: `$EXPHIL_CHECKPOINTS_DIR`, else
    /// `checkpoints`.
    pub fn default_checkpoints(&self) -> PathBuf {
        self.var(ENV_CHECKPOINTS_DIR)
            .map_or_else(|| PathBuf::from("checkpoints"), PathBuf::from)
    }
}

/// Everything the command is made of. `None` leaves a setting to the preset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers {
    /// `--preset`.
    pub preset: String,
    /// `--replays` (always given, so the command says where the data comes from).
    pub replays: PathBuf,
    /// `--train-character`, for a character the preset does not already learn.
    pub train_character: Option<String>,
    /// `--device` (`gpu`).
    pub device: Option<String>,
    /// `--pretrained`: the run to fine-tune.
    pub pretrained: Option<String>,
    /// `--epochs`.
    pub epochs: Option<u32>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--temporal` (true) or `--no-temporal` (false).
    pub temporal: Option<bool>,
    /// `--frame-delay`.
    pub frame_delay: Option<u8>,
    /// `--checkpoints`.
    pub checkpoints: Option<PathBuf>,
}

impl Answers {
    /// The `preset` over the defaults, with nothing else set.
    pub fn new(preset: &str, replays: PathBuf) -> Answers {
        Answers {
            preset: preset.to_string(),
            replays,
            train_character: None,
            device: None,
            pretrained: None,
            epochs: None,
            batch_size: None,
            temporal: None,
            frame_delay: None,
            checkpoints: None,
        }
    }
}

/// The argv after `exphil`: `train --preset P --replays DIR` and a flag for every answer set.
pub fn command(a: &Answers) -> Vec<String> {
    let mut argv: Vec<String> = vec!["train".into(), "--preset".into(), a.preset.clone()];
    argv.push("--replays".into());
    argv.push(a.replays.display().to_string());
    let mut opt = |flag: &str, value: Option<String>| {
        if let Some(v) = value {
            argv.push(format!("--{flag}"));
            argv.push(v);
        }
    };
    opt("train-character", a.train_character.clone());
    opt("device", a.device.clone());
    opt("pretrained", a.pretrained.clone());
    opt("epochs", a.epochs.map(|v| v.to_string()));
    opt("batch-size", a.batch_size.map(|v| v.to_string()));
    opt("frame-delay", a.frame_delay.map(|v| v.to_string()));
    opt(
        "checkpoints",
        a.checkpoints.as_ref().map(|p| p.display().to_string()),
    );
    match a.temporal {
        Some(true) => argv.push("--temporal".into()),
        Some(false) => argv.push("--no-temporal".into()),
        None => {}
    }
    argv
}

/// What the wizard ended in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The argv after `exphil` ([`command`]).
    pub argv: Vec<String>,
    /// Whether the user asked to run it now.
    pub run: bool,
    /// What was found and chosen, one line each (also shown through [`Ask::note`]).
    pub notes: Vec<String>,
}

/// The replay files under `dir` (exphil-corpus's discovery: `*.slp`, recursively); 0 when it
/// does not exist.
pub fn count_replays(dir: &Path) -> usize {
    exphil_corpus::discover(&[dir.to_path_buf()]).0.len()
}

/// A setting of a preset laid over the defaults (`loop.epochs`), `None` for an unknown preset.
fn preset_setting(name: &str, key: &str) -> Option<Value> {
    let mut config = key_schema();
    merge(&mut config, &preset(name).ok()?.overlay);
    key.split('.').try_fold(&config, |v, k| v.get(k)).cloned()
}

fn preset_number(name: &str, key: &str) -> u64 {
    preset_setting(name, key)
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

fn preset_is_temporal(name: &str) -> bool {
    preset_setting(name, "policy.backbone.type")
        .and_then(|v| v.as_str().map(|s| s != "mlp"))
        .unwrap_or(false)
}

/// The device the GPU presets train on (the `gpu` preset's: the build's first GPU).
fn gpu_device() -> String {
    preset_setting("gpu", "device")
        .and_then(|d| d.as_str().map(String::from))
        .unwrap_or_else(|| "cuda:0".into())
}

/// The character presets: (preset name, the `--train-character` name it learns).
fn character_presets() -> Vec<(&'static str, String)> {
    presets()
        .into_iter()
        .filter_map(|p| {
            let c = p.overlay.pointer("/data/train_character/0")?.as_str()?;
            Some((p.name, c.to_string()))
        })
        .collect()
}

/// Records a note and shows it.
fn say(ask: &mut dyn Ask, notes: &mut Vec<String>, line: String) -> Result<()> {
    ask.note(&line)?;
    notes.push(line);
    Ok(())
}

/// Asks until `parse` accepts the text (at most [`TRIES`] times), showing why not.
fn ask_parsed<T>(
    ask: &mut dyn Ask,
    prompt: &str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T> {
    for _ in 0..TRIES {
        let answer = ask.text(prompt, default)?;
        match parse(answer.trim()) {
            Ok(v) => return Ok(v),
            Err(why) => ask.note(&format!("  {why}"))?,
        }
    }
    Err(SetupError::TooManyTries(prompt.to_string()))
}

/// A whole number in `min..=max`.
fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> {
    move |text| match text.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("`{text}`: give a whole number from {min} to {max}")),
    }
}

/// The questions of `exphil setup`, asked through `ask`, for `machine` in `env`: the goal; the
/// character (character model) or the run to start from (fine-tune); whether to use the GPU
/// (when one was found); the replay folder (the replays found are counted); optionally the
/// advanced options (epochs, batch size, temporal backbone, frame delay, checkpoints folder);
/// then the command is shown and the last question is whether to run it (default no).
pub fn wizard(ask: &mut dyn Ask, machine: &Machine, env: &Env) -> Result<Plan> {
    let mut notes = Vec::new();
    say(
        ask,
        &mut notes,
        format!("This machine: {}.", machine.summary()),
    )?;
    let labels: Vec<String> = Goal::ALL.iter().map(|g| g.label().to_string()).collect();
    let goal = Goal::ALL[ask.choose("What do you want to train?", &labels, 0)?];
    let on_gpu = match machine.gpus.first() {
        Some(gpu) if goal != Goal::Quick => {
            ask.confirm(&format!("Train on the GPU ({gpu})?"), true)?
        }
        _ => false,
    };
    let mut a = Answers::new("quick", PathBuf::new());
    match goal {
        Goal::Quick => {}
        Goal::General => a.preset = if on_gpu { "gpu" } else { "full-cpu" }.into(),
        Goal::Character => choose_character(ask, &mut a, on_gpu, &mut notes)?,
        Goal::FineTune => choose_parent(ask, &mut a, env, &mut notes)?,
    }
    let device = gpu_device();
    if on_gpu
        && preset_setting(&a.preset, "device").and_then(|d| d.as_str().map(String::from))
            != Some(device.clone())
    {
        a.device = Some(device);
    }
    a.replays = choose_replays(ask, env, &mut notes)?;
    let preset_batch = preset_number(&a.preset, "loop.batch_size") as usize;
    let batch = crate::recommended_batch_size(machine, preset_batch.max(1), on_gpu);
    say(
        ask,
        &mut notes,
        format!("Preset `{}`; recommended batch size {batch}.", a.preset),
    )?;
    if ask.confirm(
        "Change the advanced options (epochs, batch size, temporal backbone, frame delay, checkpoints folder)?",
        false,
    )? {
        advanced(ask, &mut a, batch, env)?;
    } else if batch != preset_batch {
        a.batch_size = Some(batch);
    }
    let argv = command(&a);
    let line = crate::shell_line(
        &std::iter::once("exphil".to_string())
            .chain(argv.iter().cloned())
            .collect::<Vec<_>>(),
    );
    say(ask, &mut notes, format!("The command:\n  {line}"))?;
    let run = ask.confirm("Run it now?", false)?;
    Ok(Plan { argv, run, notes })
}

/// The character of a character model: a character preset on the GPU, else `strong-cpu`
/// learning that character; "another character" takes any name `exphil train` knows.
fn choose_character(
    ask: &mut dyn Ask,
    a: &mut Answers,
    on_gpu: bool,
    notes: &mut Vec<String>,
) -> Result<()> {
    let chars = character_presets();
    let mut labels: Vec<String> = chars.iter().map(|(p, _)| p.to_string()).collect();
    labels.push("another character (type its name)".into());
    let i = ask.choose("Which character?", &labels, 0)?;
    let (preset, character) = match chars.get(i) {
        Some((p, c)) => (Some(*p), c.clone()),
        None => (
            None,
            ask_parsed(
                ask,
                "The character's name (fox, falco, marth, sheik, …)",
                "fox",
                |t| {
                    match exphil_replay::ExternalCharacter::parse(t) {
                Some(_) => Ok(t.to_lowercase()),
                None => Err(format!("`{t}` is not a character name exphil knows (fox, falco, marth, sheik, puff, ics, gnw, ganon, falcon, mewtwo, …)")),
            }
                },
            )?,
        ),
    };
    match (preset, on_gpu) {
        (Some(p), true) => a.preset = p.into(),
        (_, gpu) => {
            a.preset = if gpu { "gpu" } else { "strong-cpu" }.into();
            a.train_character = Some(character.clone());
        }
    }
    say(
        ask,
        notes,
        format!(
            "Learning the port playing {character} with the `{}` preset.",
            a.preset
        ),
    )
}

/// The run a fine-tune starts from: a run of the registry (newest first) or a typed name or
/// path; the preset is the parent's when the registry recorded it, so the architectures match.
fn choose_parent(
    ask: &mut dyn Ask,
    a: &mut Answers,
    env: &Env,
    notes: &mut Vec<String>,
) -> Result<()> {
    let dir = env.default_checkpoints();
    let mut runs = exphil_runs::registry::read_registry(&dir)
        .map(|r| r.runs)
        .unwrap_or_default();
    runs.sort_by(|x, y| y.created_at.cmp(&x.created_at));
    runs.truncate(9);
    let mut labels: Vec<String> = runs
        .iter()
        .map(|r| format!("{} ({}, {})", r.id, r.backbone, r.created_at))
        .collect();
    labels.push("another run (type a run directory, name or weights file)".into());
    let i = ask.choose(
        &format!(
            "Which run do you want to fine-tune (runs of {})?",
            dir.display()
        ),
        &labels,
        0,
    )?;
    let (name, parent_preset) = match runs.get(i) {
        Some(r) => (
            r.id.clone(),
            r.config_summary
                .get("preset")
                .and_then(|p| p.as_str())
                .map(String::from),
        ),
        None => (
            ask.text("The run to start from", "")?.trim().to_string(),
            None,
        ),
    };
    if name.is_empty() {
        return Err(SetupError::NoPretrained(dir));
    }
    a.pretrained = Some(name.clone());
    match parent_preset.filter(|p| preset(p).is_ok()) {
        Some(p) => a.preset = p,
        None => {
            let names = exphil_runs::presets::preset_names();
            let labels: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let i = ask.choose(
                "Which preset was that run trained with (the architecture must match)?",
                &labels,
                0,
            )?;
            a.preset = names[i].to_string();
        }
    }
    say(
        ask,
        notes,
        format!(
            "Fine-tuning {name} with the `{}` preset (its architecture must match).",
            a.preset
        ),
    )
}

/// The replay folder, with the replays found in the default and in the answer counted.
fn choose_replays(ask: &mut dyn Ask, env: &Env, notes: &mut Vec<String>) -> Result<PathBuf> {
    let default = env.default_replays();
    let found = count_replays(&default);
    let prompt = format!(
        "Replay folder ({found} replays found in {})",
        default.display()
    );
    let answer = PathBuf::from(ask.text(&prompt, &default.display().to_string())?);
    let count = if answer == default {
        found
    } else {
        count_replays(&answer)
    };
    let line = match count {
        0 if !answer.is_dir() => format!(
            "Warning: {} does not exist (yet): the run needs replays there.",
            answer.display()
        ),
        0 => format!("Warning: no .slp replays in {}.", answer.display()),
        n => format!("{n} replays in {}.", answer.display()),
    };
    say(ask, notes, line)?;
    Ok(answer)
}

/// Epochs, batch size, temporal backbone, frame delay and checkpoints folder; each answer that
/// differs from the preset's (or `exphil train`'s default folder) becomes a flag.
fn advanced(ask: &mut dyn Ask, a: &mut Answers, batch: usize, env: &Env) -> Result<()> {
    let preset_epochs = preset_number(&a.preset, "loop.epochs") as u32;
    let epochs = ask_parsed(
        ask,
        "Epochs",
        &preset_epochs.to_string(),
        number(1u32, 100_000),
    )?;
    a.epochs = (epochs != preset_epochs).then_some(epochs);
    let preset_batch = preset_number(&a.preset, "loop.batch_size") as usize;
    let b = ask_parsed(
        ask,
        "Batch size",
        &batch.to_string(),
        number(1usize, 1 << 20),
    )?;
    a.batch_size = (b != preset_batch).then_some(b);
    let was = preset_is_temporal(&a.preset);
    let temporal = ask.confirm(
        "Temporal backbone (windows of frames instead of single frames)?",
        was,
    )?;
    a.temporal = (temporal != was).then_some(temporal);
    let preset_delay = preset_number(&a.preset, "data.frame_delay") as u8;
    let delay = ask_parsed(
        ask,
        "Frame delay (frames between the state seen and the action learned; 18 as online)",
        &preset_delay.to_string(),
        number(0u8, MAX_FRAME_DELAY),
    )?;
    a.frame_delay = (delay != preset_delay).then_some(delay);
    let default_dir = env.default_checkpoints();
    let dir = PathBuf::from(ask.text("Checkpoints folder", &default_dir.display().to_string())?);
    a.checkpoints = (dir != default_dir).then_some(dir);
    Ok(())
}
