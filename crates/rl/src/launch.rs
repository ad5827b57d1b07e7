//! `exphil ppo` and `exphil selfplay` from their arguments to a run: the config's layers
//! (preset, config file, flags) resolved and validated, or a resumed run's own config; then the
//! dry-run's config and plan, or the run ([`crate::runner::train`]).

use crate::error::{refuse, Doing, Line, Result, Say};
use crate::runner::{resume_dir, train, PpoRun};
use exphil_runs::models::{checkpoints_dir, policy_path};
use exphil_runs::ppo_args::{LeagueArgs, PpoArgs};
use exphil_runs::ppo_config::{chosen_in, resolve_ppo, resume_config, PpoRunConfig};
use exphil_runs::presets::{overlay_keys, settings_of, Resolved, FROM_CLI};
use exphil_runs::rundir::RunDir;
use exphil_sim::BOT_NAMES;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Runs `exphil ppo` (`league`: `None`) or `exphil selfplay` (its population and league flags).
pub fn run(args: PpoArgs, league: Option<LeagueArgs>, say: Say<'_>) -> Result<ExitCode> {
    let selfplay = league.is_some();
    let what = if selfplay {
        "exphil selfplay"
    } else {
        "exphil ppo"
    };
    let layers = args.layers(league.as_ref())?;
    let opts = PpoRun {
        pretrained: args.pretrained.clone(),
        name: args.name.clone(),
        resume: args.resume.clone(),
        checkpoints: args.checkpoints.clone(),
        fault_every: args.fault_every,
    };
    let dir = checkpoints_dir(&opts.checkpoints);
    // A resumed run continues with the config its record keeps (runs written before it was
    // kept resolve their flags as a new run does).
    let stored = match &opts.resume {
        Some(r) => {
            let run = RunDir::new(resume_dir(&dir, r)?);
            let file = run.read()?;
            file.ppo_config(&run.config_path())?
        }
        None => None,
    };
    let resolved: Resolved<PpoRunConfig> = match stored {
        Some(stored) => {
            if args.preset.is_some() || args.config.is_some() {
                refuse!(
                    "--resume continues the run with its own config: --preset and --config do \
                     not apply"
                );
            }
            let config = resume_config(&stored, &layers.cli)?;
            let sources: BTreeMap<String, String> = overlay_keys(&layers.cli)
                .into_iter()
                .map(|k| (k, FROM_CLI.to_string()))
                .collect();
            Resolved { config, sources }
        }
        None => resolve_ppo(&layers)?,
    };
    let config = resolved.config.clone();
    config.validate()?;
    // A device this build lacks is refused before anything is loaded (a dry run too).
    exphil_policy::device::device_of(&config.device)?;
    // What one command sets and the other does not read.
    if selfplay {
        if let Some(k) = chosen_in(&resolved.sources, "rollout.opponent").first() {
            refuse!("self-play draws its opponents from the population; leave {k} out");
        }
        for b in &config.league.scripted {
            if exphil_sim::bot(b, 0).is_none() {
                refuse!(
                    "league.scripted: unknown bot {b:?}; the bots are {}",
                    BOT_NAMES.join(", ")
                );
            }
        }
    } else {
        let ignored = chosen_in(&resolved.sources, "league");
        if !ignored.is_empty() {
            say(Line::Note(format!(
                "{what}: warning: {} apply to `exphil selfplay` only",
                ignored.join(", ")
            )));
        }
    }
    if args.dry_run {
        let from = |k: &str| match resolved.sources.get(k) {
            None if opts.resume.is_some() => "the run",
            _ => resolved.source(k),
        };
        say(Line::Out("Resolved config:".into()));
        let value = serde_json::to_value(&config)?;
        for (k, v) in settings_of(&value) {
            if !selfplay && k.starts_with("league.") {
                continue;
            }
            say(Line::Out(format!("  {k:<28} {v:<16} ({})", from(&k))));
        }
        match (&opts.pretrained, &opts.resume) {
            (Some(p), _) => {
                let path = policy_path(&dir, p).doing(|| format!("--pretrained {p}"))?;
                say(Line::Out(format!("Pretrained: {}", path.display())));
            }
            (None, Some(r)) => say(Line::Out(format!("Resumes: {r}"))),
            (None, None) => say(Line::Note(format!(
                "{what}: warning: a run needs --pretrained RUN (the imitation policy)"
            ))),
        }
        for line in config.plan(selfplay) {
            say(Line::Out(line));
        }
        return Ok(ExitCode::SUCCESS);
    }
    train(&config, &opts, selfplay, say)
}
