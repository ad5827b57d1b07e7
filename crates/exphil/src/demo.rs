//! `exphil demo`: the whole pipeline on a fresh machine, with no replays at all. Scripted bots
//! play simulator games saved as Slippi replays; `exphil replays scan` summarises them; a quick
//! imitation model learns the rule-based bot from them; PPO improves it in the simulator; and
//! `exphil selfplay eval` plays the result against its imitation base and the bots. Each stage
//! is the real command, printed before it runs, so the demo doubles as a tour of the CLI.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `exphil demo` arguments.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for everything the demo makes (replays, dataset cache, runs, summary).
    #[arg(long, default_value = "exphil-demo", value_name = "DIR")]
    pub out: PathBuf,
    /// Replace a previous demo's folder (only one holding a demo.json is removed).
    #[arg(long)]
    pub force: bool,
    /// Simulator games to learn from (half against the random bot, half rule against rule).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub games: u32,
    /// Frames per simulated game at most (60 per second).
    #[arg(long, default_value_t = 3600, value_name = "N")]
    pub max_frames: i32,
    /// The character everyone plays: fox, puff or bowser.
    #[arg(long, default_value = "fox", value_name = "NAME")]
    pub character: String,
    /// Imitation epochs.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub epochs: u32,
    /// PPO game frames.
    #[arg(long, default_value_t = 400_000, value_name = "N")]
    pub timesteps: u64,
    /// Evaluation games per opponent.
    #[arg(long, default_value_t = 12, value_name = "N")]
    pub eval_games: u32,
    /// Seed for the games, training and evaluation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu`, `cuda:N` (a `cuda` build) or `vulkan`, `vulkan:N`, `vulkan:cpu` (a `vulkan` build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
}

/// One stage: a title and the command it runs.
struct Stage {
    title: &'static str,
    args: Vec<String>,
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A command line as a shell would take it (arguments with spaces quoted).
fn shell_line(args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect();
    format!("exphil {}", quoted.join(" "))
}

/// Makes `out` ready: created when absent, refused when it holds anything but a previous demo.
fn prepare(out: &Path, force: bool) -> Result<()> {
    let non_empty = out
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty {
        if !out.join("demo.json").is_file() {
            bail!(
                "{} exists and is not a demo folder (no demo.json); choose another --out",
                out.display()
            );
        }
        if !force {
            bail!(
                "{} holds a previous demo; pass --force to replace it or choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// Stage 5's command line: the README's self-play recipe, a mix of opponents (itself, its
/// snapshots, every bot, the rule bot three times as often as the others), so it learns the
/// game, not one bot.
fn selfplay_args(a: &DemoArgs, seed: &str, checkpoints: &str) -> Vec<String> {
    let mut ppo = words(&["selfplay", "--pretrained", "demo-imitation", "--scripted"]);
    ppo.extend(words(&[
        "rule,rule,rule,random,idle",
        "--weights",
        "0.2,0.1,0.7",
    ]));
    ppo.extend(words(&[
        "--timesteps",
        &a.timesteps.to_string(),
        "--lr",
        "1e-3",
    ]));
    ppo.extend(words(&[
        "--anneal-lr",
        "--win-reward",
        "1",
        "--approach-reward",
        "0.005",
        "--teacher-kl",
        "0.01",
    ]));
    ppo.extend(words(&["--eval-every", "25"]));
    ppo.extend(words(&["--character", &a.character, "--name", "demo-ppo"]));
    ppo.extend(words(&["--seed", seed, "--checkpoints", checkpoints]));
    ppo.extend(words(&["--device", &a.device]));
    ppo
}

/// Runs `exphil demo`; `run` executes one exphil command line (without the program name).
pub fn run(a: DemoArgs, run: &dyn Fn(&[String]) -> Result<ExitCode>) -> Result<ExitCode> {
    if a.games < 2 {
        bail!("--games must be at least 2 (one per pairing)");
    }
    exphil_sim::Fighter::named(&a.character)?;
    prepare(&a.out, a.force)?;
    let dir = |p: &str| a.out.join(p).to_string_lossy().into_owned();
    let (replays, checkpoints, cache) = (dir("replays"), dir("checkpoints"), dir("cache"));
    let half = a.games / 2;
    let (seed, frames, c) = (a.seed.to_string(), a.max_frames.to_string(), &a.character);
    let sim_stage = |p2: &str, games: u32, sub: &str, seed: u64| -> Vec<String> {
        let mut v = words(&["sim", "play", "--p1", "bot:rule", "--p2", p2]);
        v.extend(words(&["--p1-character", c, "--p2-character", c]));
        v.extend(words(&[
            "--games",
            &games.to_string(),
            "--max-frames",
            &frames,
        ]));
        v.extend(words(&["--seed", &seed.to_string(), "--save-slp"]));
        v.push(Path::new(&replays).join(sub).to_string_lossy().into_owned());
        v
    };
    let mut train = words(&["train", "--preset", "quick", "--replays", &replays]);
    train.extend(words(&["--player-port", "1", "--max-files"]));
    train.extend(words(&[
        &a.games.to_string(),
        "--epochs",
        &a.epochs.to_string(),
    ]));
    train.extend(words(&["--name", "demo-imitation", "--seed", &seed]));
    train.extend(words(&[
        "--checkpoints",
        &checkpoints,
        "--cache-dir",
        &cache,
    ]));
    train.extend(words(&["--device", &a.device]));
    let ppo = selfplay_args(&a, &seed, &checkpoints);
    let mut eval = words(&["selfplay", "eval", "--policy", "demo-ppo", "--base"]);
    eval.extend(words(&[
        "demo-imitation",
        "--games",
        &a.eval_games.to_string(),
    ]));
    eval.extend(words(&["--max-frames", &frames, "--seed", &seed]));
    eval.extend(words(&[
        "--checkpoints",
        &checkpoints,
        "--device",
        &a.device,
    ]));
    let stages = [
        Stage {
            title: "Scripted bots play simulator games, saved as Slippi replays",
            args: sim_stage("bot:random", half, "rule-vs-random", a.seed),
        },
        Stage {
            title: "…and the rule-based bot against itself",
            args: sim_stage("bot:rule", a.games - half, "rule-vs-rule", a.seed + 1),
        },
        Stage {
            title: "What the replays hold",
            args: words(&["replays", "scan", &replays]),
        },
        Stage {
            title: "Imitation: a quick policy learns port 1 (the rule-based bot) from the replays",
            args: train,
        },
        Stage {
            title:
                "Reinforcement learning: self-play PPO against itself, its snapshots and the bots",
            args: ppo,
        },
        Stage {
            title: "Evaluation: the PPO policy against its imitation base and the bots",
            args: eval,
        },
    ];
    let total = Instant::now();
    let mut done = Vec::new();
    let n = stages.len();
    for (i, s) in stages.iter().enumerate() {
        println!("\n== {}/{n} {}", i + 1, s.title);
        println!("$ {}\n", shell_line(&s.args));
        let t = Instant::now();
        let code = run(&s.args).with_context(|| format!("demo stage {}: {}", i + 1, s.title))?;
        let secs = t.elapsed().as_secs_f64();
        done.push(DemoStage {
            stage: s.title,
            command: shell_line(&s.args),
            seconds: secs,
        });
        if code != ExitCode::SUCCESS {
            bail!("demo stage {} ({}) failed; see above", i + 1, s.title);
        }
    }
    let summary = DemoSummary {
        games: a.games,
        character: &a.character,
        seed: a.seed,
        stages: done,
        seconds: total.elapsed().as_secs_f64(),
        imitation_run: Path::new(&checkpoints).join("demo-imitation"),
        ppo_run: Path::new(&checkpoints).join("demo-ppo"),
    };
    let path = a.out.join("demo.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "\nThe demo ran every stage in {:.0} s. Everything is in {}:",
        total.elapsed().as_secs_f64(),
        a.out.display()
    );
    println!("  replays/       the simulated games (open them with `exphil replays show`)");
    println!("  checkpoints/   the runs demo-imitation and demo-ppo, and their registry");
    println!("  demo.json      the commands and their times");
    println!("Next:");
    println!(
        "  watch a game:     exphil sim play --p1 policy:demo-ppo --p2 bot:rule --p1-character {c} \
         --p2-character {c} --games 1 --checkpoints {checkpoints} --record {}",
        dir("viewer")
    );
    println!("  the models:       exphil models list --checkpoints {checkpoints}");
    println!("  real replays:     exphil train --preset quick --replays ~/Slippi");
    Ok(ExitCode::SUCCESS)
}

/// A stage of the demo as `demo.json` records it.
#[derive(serde::Serialize)]
struct DemoStage {
    stage: &'static str,
    command: String,
    seconds: f64,
}

/// `demo.json`: what the demo ran and where its runs are.
#[derive(serde::Serialize)]
struct DemoSummary<'a> {
    games: u32,
    character: &'a str,
    seed: u64,
    stages: Vec<DemoStage>,
    seconds: f64,
    imitation_run: std::path::PathBuf,
    ppo_run: std::path::PathBuf,
}
