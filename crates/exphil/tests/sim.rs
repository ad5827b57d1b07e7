//! `exphil sim play`: bots and a policy trained on the shared replays play the simulator;
//! results are deterministic for a seed, summarised, and recorded as HTML viewers.

mod common;

use common::{isolated, text, train_quick};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> &'static PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        train_quick(&root, "mlp", "3", "2", &[]);
        root
    })
}

/// `exphil ppo` from `pretrained` in the shared root, at toy size (8 games, 64-step rollouts,
/// minibatches of 256).
fn ppo(pretrained: &str) -> std::process::Command {
    let root = root();
    let mut c = isolated(root);
    c.current_dir(root)
        .args(["ppo", "--pretrained", pretrained, "--checkpoints", "ck"])
        .args([
            "--num-games",
            "8",
            "--rollout-steps",
            "64",
            "--minibatch",
            "256",
        ]);
    c
}

fn sim(args: &[&str]) -> (bool, String, String) {
    let root = root();
    let o = isolated(root)
        .current_dir(root)
        .arg("sim")
        .arg("play")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bot_matches_are_summarised_and_deterministic() {
    let args = [
        "--p1",
        "bot:rule",
        "--p2",
        "bot:random",
        "--games",
        "6",
        "--seed",
        "4",
        "--json",
        "--p2-character",
        "bowser",
    ];
    let (ok, out, err) = sim(&args);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["games"], 6);
    let wins = v["wins"].as_array().unwrap();
    let total =
        wins[0].as_u64().unwrap() + wins[1].as_u64().unwrap() + v["draws"].as_u64().unwrap();
    assert_eq!(total, 6);
    assert!(
        wins[0].as_u64().unwrap() >= 5,
        "the rule bot beats the random one: {out}"
    );
    let by_stage: u64 = v["by_stage"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| {
            s["p1"].as_u64().unwrap() + s["p2"].as_u64().unwrap() + s["draws"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(by_stage, 6);
    assert_eq!(v["final_stocks"].as_array().unwrap().len(), 6);
    assert!(v["ko_diff_per_minute"].as_f64().unwrap() > 0.0);
    let (_, again, _) = sim(&args);
    assert_eq!(out, again, "the same seed plays the same games");
}

#[test]
fn a_policy_trained_on_replays_plays_the_simulator_and_games_are_recorded() {
    let rec = root().join("rec");
    let (ok, out, err) = sim(&[
        "--p1",
        "policy:mlp",
        "--checkpoints",
        "ck",
        "--p2",
        "bot:rule",
        "--games",
        "2",
        "--max-frames",
        "900",
        "--stage",
        "bf",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("game 1: Battlefield:") && out.contains("game 2:"),
        "{out}"
    );
    assert!(out.contains("2 games: P1 (policy:mlp)"), "{out}");
    for n in [1, 2] {
        let html = std::fs::read_to_string(rec.join(format!("game_{n}.html"))).unwrap();
        assert!(html.contains("<canvas") && html.contains("Battlefield"));
    }
}

#[test]
fn bad_players_characters_and_stages_are_named() {
    for (args, want) in [
        (vec!["--p1", "bot:chess"], "idle, random, rule"),
        (vec!["--p2", "human"], "expected bot:NAME"),
        (vec!["--p1-character", "mewtwo"], "Fox, Jigglypuff, Bowser"),
        (vec!["--stage", "brinstar"], "not a legal stage"),
        (vec!["--p1", "policy:nope", "--checkpoints", "ck"], "nope"),
    ] {
        let (ok, _, err) = sim(&args);
        assert!(!ok);
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn ppo_learns_in_the_simulator_survives_failing_games_and_saves_a_run() {
    let root = root();
    let run = |args: &[&str]| {
        isolated(root)
            .current_dir(root)
            .arg("ppo")
            .args([
                "--pretrained",
                "mlp",
                "--checkpoints",
                "ck",
                "--num-games",
                "8",
            ])
            .args([
                "--rollout-steps",
                "64",
                "--minibatch",
                "256",
                "--max-episode-frames",
                "200",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "--timesteps",
        "2048",
        "--fault-every",
        "150",
        "--name",
        "ppo_t",
        "--opponent",
        "bot:rule",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("failed on frame") && out.contains("replaced"),
        "{out}"
    );
    assert!(out.contains("4 updates, 2048 frames"), "{out}");
    let failed: u64 = out
        .split(" games failed and were replaced")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(failed >= 1);
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(root.join("ck/ppo_t/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["training_type"], "ppo");
    assert_eq!(cfg["parent"], "mlp");
    assert_eq!(cfg["status"], "completed");
    let history = cfg["ppo"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    for h in history {
        let s = &h["stats"];
        assert!(s["steps"].as_u64().unwrap() > 0, "{h}");
        assert!(s["approx_kl"].as_f64().unwrap().abs() < 0.5, "{h}");
        assert!(s["entropy"].as_f64().unwrap() > 0.0);
    }
    // Its TensorBoard record has each update's losses at its frame count.
    let board: Vec<_> = std::fs::read_dir(root.join("ck/ppo_t/tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(board.len(), 1, "{board:?}");
    let events = exphil_report::tensorboard::read_events(&board[0])
        .unwrap()
        .events;
    let kl: Vec<(i64, f64)> = events
        .iter()
        .flat_map(|e| {
            e.scalars
                .iter()
                .filter(|(t, _)| t == "ppo/approx_kl")
                .map(move |(_, v)| (e.step, *v))
        })
        .collect();
    assert_eq!(kl.len(), 4, "{kl:?}");
    for ((step, v), h) in kl.iter().zip(history) {
        assert_eq!(*step as u64, h["timesteps"].as_u64().unwrap());
        assert!((v - h["stats"]["approx_kl"].as_f64().unwrap()).abs() < 1e-6);
    }
    // The weights moved, and the new run plays.
    let (ok, out, err) = sim(&[
        "--p1",
        "policy:ppo_t",
        "--checkpoints",
        "ck",
        "--p2",
        "bot:rule",
        "--games",
        "1",
        "--max-frames",
        "300",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("game 1:"), "{out}");
    let a = std::fs::read(root.join("ck/mlp/model.safetensors")).unwrap();
    let b = std::fs::read(root.join("ck/ppo_t/model.safetensors")).unwrap();
    assert_ne!(a, b);
    // Its checkpoint is where imitation runs keep theirs. A run of an earlier exphil kept it in
    // `checkpoint/`: resuming moves it, saying so.
    let run_dir = root.join("ck/ppo_t");
    assert!(run_dir.join("checkpoints/latest/manifest.json").is_file());
    std::fs::rename(
        run_dir.join("checkpoints/latest"),
        run_dir.join("checkpoint"),
    )
    .unwrap();
    std::fs::remove_dir(run_dir.join("checkpoints")).unwrap();
    // Resumed from its last checkpoint, it goes on to the new total where it stopped.
    let o = run(&[
        "--resume",
        "ppo_t",
        "--opponent",
        "bot:rule",
        "--timesteps",
        "3072",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("resumed") && out.contains("at update 4, 2048 frames"),
        "{out}"
    );
    assert!(out.contains("6 updates, 3072 frames"), "{out}");
    assert!(
        out.contains("checkpoint moved from checkpoint/ to checkpoints/latest/"),
        "{out}"
    );
    assert!(!run_dir.join("checkpoint").exists());
    assert!(run_dir.join("checkpoints/latest/manifest.json").is_file());
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(root.join("ck/ppo_t/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["ppo"]["history"].as_array().unwrap().len(), 6);
    assert_eq!(cfg["resumes"].as_array().unwrap().len(), 1);
    assert_eq!(cfg["status"], "completed");
    let o = run(&["--resume", "no_such_run", "--timesteps", "3072"]);
    assert!(
        !o.status.success() && text(&o).contains("no_such_run"),
        "{}",
        text(&o)
    );
    // Self-play runs too; a run name that exists is refused.
    let o = run(&[
        "--timesteps",
        "512",
        "--opponent",
        "self",
        "--name",
        "ppo_self",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["--timesteps", "512", "--name", "ppo_self"]);
    assert!(
        !o.status.success() && text(&o).contains("exists"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "--timesteps",
        "512",
        "--opponent",
        "bot:chess",
        "--name",
        "x",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("idle, random, rule"),
        "{}",
        text(&o)
    );
}

#[test]
fn ppo_trains_a_recurrent_policy_with_its_state_carried_through_games() {
    let root = root();
    train_quick(
        root,
        "lstm",
        "2",
        "3",
        &["--backbone", "lstm", "--window-size", "4", "--stride", "4"],
    );
    let o = ppo("lstm")
        .args(["--max-episode-frames", "100", "--timesteps", "1024"])
        .args(["--opponent", "bot:rule", "--name", "lstm_ppo"])
        .args([
            "--approach-reward",
            "0.05",
            "--recovery-risk",
            "0.01",
            "--win-reward",
            "2",
        ])
        .args(["--lr", "1e-3", "--anneal-lr"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("a temporal LSTM"), "{out}");
    assert!(out.contains("2 updates, 1024 frames"), "{out}");
    // Annealed over the run: the second of two updates learns at half the rate.
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("update ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(", lr 1.00e-3"), "{}", lines[0]);
    assert!(lines[1].ends_with(", lr 5.00e-4"), "{}", lines[1]);
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(root.join("ck/lstm_ppo/config.json")).unwrap())
            .unwrap();
    let reward = &cfg["ppo"]["reward"];
    assert!(
        (reward["approach"].as_f64().unwrap() - 0.05).abs() < 1e-6,
        "{reward}"
    );
    assert_eq!(reward["win"], 2.0);
    assert_eq!(cfg["ppo"]["config"]["anneal_lr"], true, "{}", cfg["ppo"]);
    let lrs: Vec<f64> = cfg["ppo"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(lrs, [1e-3, 5e-4]);
    for h in cfg["ppo"]["history"].as_array().unwrap() {
        let s = &h["stats"];
        // Replayed from each rollout's start state, the first minibatch acts as it acted.
        assert!(s["approx_kl"].as_f64().unwrap().abs() < 0.5, "{h}");
        assert!(s["teacher_kl"].as_f64().unwrap().is_finite(), "{h}");
        assert!(s["steps"].as_u64().unwrap() > 0, "{h}");
    }
    assert!(cfg["ppo"]["history"][1]["episodes"].as_u64().unwrap() > 0);
    let (ok, out, err) = sim(&[
        "--p1",
        "policy:lstm_ppo",
        "--checkpoints",
        "ck",
        "--games",
        "1",
        "--max-frames",
        "120",
    ]);
    assert!(ok && out.contains("game 1:"), "{out}{err}");
}

#[test]
fn selfplay_league_trains_exploiters_beside_the_main_agent() {
    let root = root();
    let o = isolated(root)
        .current_dir(root)
        .args(["selfplay", "--pretrained", "mlp", "--checkpoints", "ck"])
        .args([
            "--num-games",
            "8",
            "--rollout-steps",
            "32",
            "--minibatch",
            "128",
        ])
        .args(["--max-episode-frames", "120", "--timesteps", "1024"])
        .args([
            "--snapshot-every",
            "1",
            "--history",
            "3",
            "--league",
            "--track-elo",
        ])
        .args(["--name", "league_t"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for agent in ["main", "main_exploiter", "league_exploiter"] {
        assert!(
            out.contains(&format!("[{agent}] update 4:")),
            "{agent}: {out}"
        );
        assert!(
            out.contains(&format!("snapshot {agent}-v1 joins")),
            "{agent}: {out}"
        );
    }
    assert!(out.contains("over all 3 learners"), "{out}");
    let run = root.join("ck/league_t");
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["training_type"], "self_play");
    let agents = cfg["league"]["agents"].as_array().unwrap();
    let roles: Vec<&str> = agents.iter().map(|a| a["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["main", "main_exploiter", "league_exploiter"]);
    for a in agents {
        assert_eq!(a["updates"], 4, "{a}");
        assert!(run.join(a["weights"].as_str().unwrap()).is_file(), "{a}");
    }
    assert_eq!(cfg["league"]["snapshots"].as_array().unwrap().len(), 12);
    let elo = cfg["league"]["elo"].as_array().unwrap();
    assert!(elo
        .iter()
        .any(|r| r["name"] == "main_exploiter" && r["games"].as_u64().unwrap() > 0));
    // Resumed, the league goes on with all three learners and their snapshots.
    let resume = |extra: &[&str]| {
        isolated(root)
            .current_dir(root)
            .args(["selfplay", "--resume", "league_t", "--checkpoints", "ck"])
            .args([
                "--num-games",
                "8",
                "--rollout-steps",
                "32",
                "--minibatch",
                "128",
            ])
            .args(["--max-episode-frames", "120", "--timesteps", "1536"])
            .args(["--snapshot-every", "1", "--history", "3"])
            .args(extra)
            .output()
            .unwrap()
    };
    // The run keeps its config: another league is refused, naming the setting; without
    // --league the stored league goes on.
    let o = resume(&["--league-exploiters", "2"]);
    assert!(!o.status.success(), "another league is another setup");
    assert!(
        text(&o).contains("league.league_exploiters (the run has 1, not 2)"),
        "{}",
        text(&o)
    );
    let o = resume(&[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("snapshots in the population"), "{out}");
    assert!(out.contains("[league_exploiter] update 6:"), "{out}");
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    for a in cfg["league"]["agents"].as_array().unwrap() {
        assert_eq!(a["updates"], 6, "{a}");
    }
    // The main agent is the run: every other command reads it.
    let o = isolated(root)
        .current_dir(root)
        .args([
            "sim",
            "play",
            "--p1",
            "policy:league_t",
            "--checkpoints",
            "ck",
        ])
        .args(["--games", "1", "--max-frames", "60"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn selfplay_keeps_a_population_with_elo_and_eval_reports_against_base_and_bots() {
    let root = root();
    let o = isolated(root)
        .current_dir(root)
        .args([
            "selfplay",
            "--pretrained",
            "mlp",
            "--checkpoints",
            "ck",
            "--num-games",
            "8",
        ])
        .args([
            "--rollout-steps",
            "32",
            "--minibatch",
            "128",
            "--max-episode-frames",
            "120",
        ])
        .args([
            "--timesteps",
            "1024",
            "--snapshot-every",
            "1",
            "--history",
            "2",
            "--track-elo",
        ])
        .args(["--name", "sp_t"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("snapshot v1 joins the population (1 kept)"),
        "{out}"
    );
    assert!(
        out.contains("snapshot v3 joins the population (2 kept)"),
        "{out}"
    );
    assert!(out.contains("Elo: ") && out.contains("learner"), "{out}");
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(root.join("ck/sp_t/config.json")).unwrap()).unwrap();
    let last = cfg["ppo"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let elo = last["elo"].as_array().unwrap();
    assert!(elo.iter().any(|r| r["name"] == "learner"), "{last}");
    assert!(last["episodes"].as_u64().unwrap() > 0, "{last}");
    // The evaluation: its parent (the imitation base) and every scripted bot by default, on all
    // six stages.
    let o = isolated(root)
        .current_dir(root)
        .args([
            "selfplay",
            "eval",
            "--policy",
            "sp_t",
            "--checkpoints",
            "ck",
            "--games",
            "6",
        ])
        .args(["--max-frames", "240", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["character"], cfg["ppo"]["characters"][0],
        "plays as it learned"
    );
    let opps = v["opponents"].as_object().unwrap();
    let mut keys: Vec<&String> = opps.keys().collect();
    keys.sort();
    assert_eq!(keys, ["bot:idle", "bot:random", "bot:rule", "policy:mlp"]);
    for r in opps.values() {
        assert_eq!(r["games"], 6);
        assert_eq!(r["by_stage"].as_object().unwrap().len(), 6, "{r}");
    }
    let table = v["elo"].as_array().unwrap();
    assert_eq!(table.len(), 5);
    let games: u64 = table.iter().map(|r| r["games"].as_u64().unwrap()).sum();
    assert_eq!(games, 48, "24 games, two players each");
    // Bad population settings are refused.
    let o = isolated(root)
        .current_dir(root)
        .args([
            "selfplay",
            "--pretrained",
            "mlp",
            "--checkpoints",
            "ck",
            "--weights",
            "1,2",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("three numbers"),
        "{}",
        text(&o)
    );
}

/// `--eval-every`: the learner is evaluated against its imitation base and every bot during the
/// run and at its end, the lines say each opponent's wins, and the run's policy is the
/// evaluated weights with the best worst case (kept through a resume).
#[test]
fn selfplay_evaluates_during_the_run_and_keeps_the_best_weights_as_its_policy() {
    let root = root();
    let run = |extra: &[&str]| {
        let o = isolated(root)
            .current_dir(root)
            .args(["selfplay", "--checkpoints", "ck"])
            .args(extra)
            .output()
            .unwrap();
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        out
    };
    let out = run(&[
        "--pretrained",
        "mlp",
        "--name",
        "sp_eval",
        "--num-games",
        "8",
        "--rollout-steps",
        "32",
        "--minibatch",
        "128",
        "--max-episode-frames",
        "120",
        "--timesteps",
        "1024",
        "--eval-every",
        "3",
        "--eval-games",
        "2",
    ]);
    // 256 frames an update: updates 1–4, evaluated at 3 and at the end (4).
    let evals: Vec<(u64, Vec<u32>, u32)> = out
        .lines()
        .filter_map(|l| l.split_once("evaluation at update ").map(|(_, r)| r))
        .map(|r| {
            let update = r.split(' ').next().unwrap().parse().unwrap();
            let (_, tally) = r.split_once("): ").unwrap();
            let (each, worst) = tally.split_once("; worst ").unwrap();
            let wins: Vec<u32> = each
                .split(", ")
                .map(|x| {
                    let (name, w) = x.rsplit_once(' ').unwrap();
                    assert!(["base", "idle", "random", "rule"].contains(&name), "{x}");
                    assert!(w.ends_with("/2"), "{x}");
                    w[..w.len() - 2].parse().unwrap()
                })
                .collect();
            let worst: u32 = worst[..worst.find('%').unwrap()].parse().unwrap();
            (update, wins, worst)
        })
        .collect();
    assert_eq!(
        evals.iter().map(|e| e.0).collect::<Vec<_>>(),
        [3, 4],
        "{out}"
    );
    for (_, wins, worst) in &evals {
        assert_eq!(wins.len(), 4, "{out}");
        assert_eq!(*worst, wins.iter().min().unwrap() * 50, "{out}");
    }
    let cfg = |name: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(root.join("ck").join(name).join("config.json")).unwrap(),
        )
        .unwrap()
    };
    let c = cfg("sp_eval");
    let recorded = c["ppo"]["evaluations"].as_array().unwrap();
    assert_eq!(recorded.len(), 2, "{c}");
    for (r, (update, wins, _)) in recorded.iter().zip(&evals) {
        assert_eq!(r["update"], *update);
        let got: Vec<u64> = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["wins"].as_u64().unwrap())
            .collect();
        assert_eq!(got, wins.iter().map(|&w| w as u64).collect::<Vec<_>>());
    }
    // The policy: the best worst case, the later on a tie.
    let best = if evals[1].2 >= evals[0].2 { 4 } else { 3 };
    assert_eq!(c["ppo"]["policy_from"]["update"], best, "{c}");
    assert!(
        out.contains(&format!("its policy: the weights of update {best} (")),
        "{out}"
    );
    let model = std::fs::read(root.join("ck/sp_eval/model.safetensors")).unwrap();
    let kept = std::fs::read(root.join("ck/sp_eval/checkpoints/latest/best.safetensors")).unwrap();
    assert!(
        model == kept,
        "the run's model is the best evaluated weights"
    );
    // A resumed run goes on evaluating, with what it had kept.
    let out = run(&["--resume", "sp_eval", "--timesteps", "1536"]);
    assert!(out.contains("evaluation at update 6 "), "{out}");
    let c = cfg("sp_eval");
    let updates: Vec<u64> = c["ppo"]["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["update"].as_u64().unwrap())
        .collect();
    assert_eq!(updates, [3, 4, 6], "{c}");
}

/// PPO marks its run as it ends: SIGTERM (like Ctrl-C) saves a checkpoint, marks the run
/// `interrupted` and exits 130, and the run resumes from there; a run killed outright (SIGKILL)
/// reads as `killed`, not `running` for ever (it stayed `running` before: no process was
/// recorded, and a signal ended it with nothing saved).
#[test]
fn ppo_runs_end_interrupted_or_killed_never_running() {
    let root = root();
    let start = |name: &str| {
        let child = ppo("mlp")
            .args(["--max-episode-frames", "200", "--timesteps", "100000000"])
            .args(["--opponent", "bot:rule", "--name", name])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Running: its config says so, with its process.
        let cfg = root.join("ck").join(name).join("config.json");
        let t0 = std::time::Instant::now();
        while !cfg.is_file() {
            assert!(t0.elapsed().as_secs() < 120, "{name} never started");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        assert_eq!(v["status"], "running");
        assert_eq!(v["process"]["pid"], child.id());
        (child, cfg)
    };
    let signal = |pid: u32, sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };

    let (child, cfg) = start("ppo_int");
    signal(child.id(), "-TERM");
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(130), "{out}");
    assert!(out.contains("Interrupt checkpoint saved"), "{out}");
    let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(v["status"], "interrupted");
    let done = v["ppo"]["timesteps"].as_u64().unwrap();
    let more = (done + 512).to_string();
    let o = ppo("mlp")
        .args(["--max-episode-frames", "200", "--timesteps", &more])
        .args(["--opponent", "bot:rule", "--resume", "ppo_int"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("{done} frames")) && out.contains("resumed"),
        "{out}"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(v["status"], "completed");

    let (mut child, _) = start("ppo_kill");
    signal(child.id(), "-KILL");
    let _ = child.wait();
    let list = isolated(root)
        .current_dir(root)
        .args(["models", "list", "--checkpoints", "ck", "--json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&list.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", text(&list));
    });
    let killed = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "ppo_kill")
        .unwrap_or_else(|| panic!("ppo_kill not listed: {runs}"));
    assert_eq!(killed["status"], "killed", "{killed}");
}

/// `--dry-run` prints the resolved config (preset < file < flags) and the plan, refuses a bad
/// setting by its key, and trains nothing: no run directory, no checkpoints folder.
#[test]
fn ppo_and_selfplay_dry_runs_print_the_resolved_config_and_plan_and_train_nothing() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ppo.yaml"),
        "ppo:\n  gamma: 0.9\n  minibatch: 64\nrollout:\n  num_games: 4\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        isolated(&dir)
            .current_dir(&dir)
            .args(args)
            .args(["--preset", "quick", "--config", "ppo.yaml", "--dry-run"])
            .args(["--checkpoints", "ck"])
            .output()
            .unwrap()
    };
    let o = run(&[
        "ppo",
        "--minibatch",
        "128",
        "--name",
        "dry",
        "--eval-every",
        "2",
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    let line = |key: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("{key} not in {out}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("ppo.minibatch"), "128 (cli)");
    assert_eq!(line("ppo.gamma"), "0.9 (file)");
    assert_eq!(line("rollout.num_games"), "4 (file)");
    assert_eq!(line("rollout.rollout_steps"), "64 (preset)");
    assert_eq!(line("ppo.clip_epsilon"), "0.2 (default)");
    assert!(
        out.contains("Frames per update: 256 (4 games × 64 frames)"),
        "{out}"
    );
    assert!(
        out.contains("Updates:           4 to reach 1024 frames"),
        "{out}"
    );
    assert!(out.contains("2 of 128 rows per epoch"), "{out}");
    assert_eq!(line("eval.every"), "2 (cli)");
    assert_eq!(line("eval.games"), "24 (default)");
    assert!(
        out.contains("Evaluations:       every 2 updates and at the end, 24 games against"),
        "{out}"
    );
    assert!(!out.contains("league."), "ppo leaves the league out: {out}");
    assert!(!dir.join("ck").exists(), "a dry run creates nothing");
    // Self-play: the league's learners; a bad setting is refused by its key.
    let o = run(&["selfplay", "--league", "--main-exploiters", "2"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(
            "Learners:          4 (main, main_exploiter_1, main_exploiter_2, league_exploiter)"
        ),
        "{out}"
    );
    // Self-play's opponents come from its population: --opponent is not in its help, and
    // given anyway it is refused with that reason.
    let help = isolated(&dir)
        .args(["selfplay", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(
        help.contains("--league") && !help.contains("--opponent <"),
        "{help}"
    );
    let o = run(&["selfplay", "--opponent", "bot:rule"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("self-play draws its opponents from the population"),
        "{}",
        text(&o)
    );
    let o = run(&["ppo", "--minibatch", "100000", "--gamma", "0"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("--minibatch (ppo.minibatch) is 100000"),
        "{out}"
    );
    assert!(
        out.contains("--gamma (ppo.gamma) must be in (0, 1]"),
        "{out}"
    );
    assert!(!dir.join("ck").exists(), "a dry run creates nothing");
    let _ = std::fs::remove_dir_all(&dir);
}
