//! `exphil replays`: scan, validate and show Slippi replays.

use crate::charts::{bar_chart, Order};
use crate::cli::{files_of, pool, progress};
use crate::filters::FilterArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use exphil_corpus::{inspect, Depth, Outcome, ReplayInfo, ScanReport};
use exphil_replay::{read_file, DecodeOptions, Game, Port, RollbackMode};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `exphil replays …`
#[derive(Subcommand)]
pub enum ReplaysCommand {
    /// Decode every replay under the given folders/files and summarise them.
    Scan(ScanArgs),
    /// Fast structural check: list files that fail to decode or are damaged.
    Validate(ValidateArgs),
    /// Describe one game in words, or dump its frames.
    Show(ShowArgs),
}

/// Arguments of `replays scan`.
#[derive(Args)]
pub struct ScanArgs {
    /// Replay folders (searched recursively for .slp) or files.
    #[arg(required = true, value_name = "DIR|FILE")]
    paths: Vec<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Read only Game Start, Game End and metadata (fast; frame counts from metadata; the
    /// quality score then leaves out the frame-based rules).
    #[arg(long)]
    metadata_only: bool,
    /// List every kept file with its players, stage, length and quality.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Arguments of `replays validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Replay folders (searched recursively for .slp) or files.
    #[arg(required = true, value_name = "DIR|FILE")]
    paths: Vec<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Also write the bad files, one per line as `path<TAB>reason`, to this file.
    #[arg(long, value_name = "FILE")]
    error_log: Option<PathBuf>,
}

/// Which occurrence of a rollback-repeated frame to keep.
#[derive(Clone, Copy, ValueEnum)]
enum RollbackArg {
    /// The last (confirmed) occurrence.
    Last,
    /// The first occurrence, as a live observer saw it.
    First,
}

/// Arguments of `replays show`.
#[derive(Args)]
pub struct ShowArgs {
    /// The replay.
    file: PathBuf,
    /// Dump frames with ids in A..B (inclusive; either end may be omitted, ids start at -123).
    #[arg(long, value_name = "A..B", allow_hyphen_values = true)]
    frames: Option<String>,
    /// Only this port (1–4) in the frame dump.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    port: Option<u8>,
    /// JSON output (frames as JSON lines).
    #[arg(long)]
    json: bool,
    /// Rollback resolution for online games.
    #[arg(long, value_enum, default_value = "last")]
    rollback: RollbackArg,
}

/// Runs a `replays` subcommand.
pub fn run(cmd: ReplaysCommand) -> Result<ExitCode> {
    match cmd {
        ReplaysCommand::Scan(a) => scan(a),
        ReplaysCommand::Validate(a) => validate(a),
        ReplaysCommand::Show(a) => show(a),
    }
}

fn scan(a: ScanArgs) -> Result<ExitCode> {
    let filter = a.filter.to_filter()?;
    let files = files_of(&a.paths)?;
    let pool = pool(a.threads)?;
    let depth = if a.metadata_only {
        Depth::Metadata
    } else {
        Depth::Full
    };
    let t0 = Instant::now();
    let bar = progress(files.len(), a.json);
    let outcomes: Vec<Outcome> = pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let o = match inspect(path, depth) {
                    Ok(info) => Outcome::Ok(Box::new(info)),
                    Err(e) => Outcome::Failed(e),
                };
                bar.inc(1);
                o
            })
            .collect()
    });
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let infos: Vec<&ReplayInfo> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Ok(i) => Some(i.as_ref()),
            Outcome::Failed(_) => None,
        })
        .collect();
    let (kept, rejected) = filter.apply(infos.iter().copied());
    let report = ScanReport::build(&outcomes, &kept, &rejected);
    let mut out = std::io::stdout().lock();
    if a.json {
        let json = ScanJson {
            seconds: elapsed,
            threads: pool.current_num_threads(),
            metadata_only: a.metadata_only,
            report: &report,
            replays: &kept,
            rejected: rejected
                .iter()
                .map(|(i, r)| Rejected {
                    path: &i.path,
                    reason: r.to_string(),
                })
                .collect(),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        write!(
            out,
            "{}",
            render_scan(&report, &kept, elapsed, pool.current_num_threads(), a.list)
        )?;
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn hms(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}h {:02}m {:02}s", s / 3600, (s / 60) % 60, s % 60)
}

fn render_scan(
    r: &ScanReport,
    kept: &[&ReplayInfo],
    elapsed: f64,
    threads: usize,
    list: bool,
) -> String {
    let mut s = format!(
        "Scanned {} files in {elapsed:.2} s on {threads} threads: {} ok, {} failed, {} damaged (frames before the damage kept)\n",
        r.files,
        r.ok,
        r.failed.len(),
        r.damaged
    );
    if !r.filtered.is_empty() {
        let parts: Vec<String> = r.filtered.iter().map(|(k, v)| format!("{v} {k}")).collect();
        s.push_str(&format!("Filtered out: {}\n", parts.join(", ")));
    }
    s.push_str(&format!(
        "Kept {} replays: {} frames, {} of play\n",
        r.kept,
        r.total_frames,
        hms(r.total_seconds)
    ));
    if !r.failed.is_empty() {
        s.push_str("\nFailed:\n");
        for (path, why) in &r.failed {
            s.push_str(&format!("  {path}: {why}\n"));
        }
    }
    if list && !kept.is_empty() {
        s.push_str("\nReplays:\n");
        for i in kept {
            let players: Vec<String> = i
                .players
                .iter()
                .map(|p| format!("P{} {}", p.port, p.character_name))
                .collect();
            s.push_str(&format!(
                "  {}  {} on {}, {} frames, quality {}\n",
                i.path.display(),
                players.join(" vs "),
                i.stage_name,
                i.frames.map_or("?".into(), |f| f.to_string()),
                i.quality.score
            ));
        }
    }
    for (title, counts, limit, order) in [
        ("Slippi versions", &r.versions, 20, Order::ByCount),
        (
            "Characters (player-games)",
            &r.characters,
            30,
            Order::ByCount,
        ),
        ("Stages", &r.stages, 20, Order::ByCount),
        (
            "Players (netplay name and code, or name tag)",
            &r.players,
            15,
            Order::ByCount,
        ),
        ("Quality score", &r.quality, 10, Order::ByLabelDescending),
    ] {
        s.push('\n');
        s.push_str(&bar_chart(title, counts, limit, order));
    }
    s
}

fn validate(a: ValidateArgs) -> Result<ExitCode> {
    let files = files_of(&a.paths)?;
    let pool = pool(a.threads)?;
    let bar = progress(files.len(), false);
    let bad: Vec<(PathBuf, String)> = pool.install(|| {
        files
            .par_iter()
            .filter_map(|path| {
                let verdict = match read_file(path, DecodeOptions::default()) {
                    Err(e) => Some(e.to_string()),
                    Ok(g) => g.damage().map(|w| w.to_string()),
                };
                bar.inc(1);
                verdict.map(|v| (path.clone(), v))
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for (path, why) in &bad {
        writeln!(out, "{}: {why}", path.display())?;
    }
    writeln!(
        out,
        "{} files checked: {} ok, {} bad",
        files.len(),
        files.len() - bad.len(),
        bad.len()
    )?;
    if let Some(log) = &a.error_log {
        let text: String = bad
            .iter()
            .map(|(p, why)| format!("{}\t{why}\n", p.display()))
            .collect();
        std::fs::write(log, text).with_context(|| format!("writing {}", log.display()))?;
    }
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Parses `A..B`, `A..`, `..B` or a single id `A` into an inclusive range of frame ids.
fn frame_range(text: &str) -> Result<(i32, i32)> {
    let parse = |s: &str, default: i32| -> Result<i32> {
        if s.is_empty() {
            Ok(default)
        } else {
            s.trim()
                .parse()
                .with_context(|| format!("bad frame id {s:?} in --frames {text:?}"))
        }
    };
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (
            parse(a, i32::MIN)?,
            parse(b.trim_start_matches('='), i32::MAX)?,
        ),
        None => {
            let n = parse(text, 0)?;
            (n, n)
        }
    };
    if a > b {
        bail!("--frames {text:?}: start is after end");
    }
    Ok((a, b))
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let opts = DecodeOptions {
        rollback: match a.rollback {
            RollbackArg::Last => RollbackMode::Last,
            RollbackArg::First => RollbackMode::First,
        },
    };
    let game = read_file(&a.file, opts).with_context(|| a.file.display().to_string())?;
    let port = a
        .port
        .map(|n| Port::from_number(n).expect("clap range 1..=4"));
    if let Some(p) = port {
        if game.start.player(p).is_none() {
            bail!("{}: port {p} has no player in this game", a.file.display());
        }
    }
    let mut out = std::io::stdout().lock();
    match &a.frames {
        Some(range) => dump_frames(&mut out, &game, frame_range(range)?, port, a.json)?,
        None if a.json => {
            let info = exphil_corpus::inspect(&a.file, Depth::Full)?;
            let json = ShowJson {
                summary: &info,
                start: &game.start,
                end: &game.end,
                metadata: game.metadata.as_ref().map(|m| &m.raw),
                rollback_resends: game.rollback_resends,
                warnings: &game.warnings,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        None => write!(out, "{}", describe(&a.file, &game)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(path: &Path, game: &Game) -> Result<String> {
    let info = exphil_corpus::inspect(path, Depth::Full)?;
    let st = &game.start;
    let mut s = format!("{}\n", path.display());
    s.push_str(&format!(
        "  Slippi {}{}{}, played on {}{}\n",
        st.version,
        if st.is_online() {
            ", Slippi Online"
        } else {
            ""
        },
        if st.is_pal == Some(true) { ", PAL" } else { "" },
        info.played_on.as_deref().unwrap_or("unknown"),
        info.start_at
            .as_deref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default()
    ));
    if let Some(m) = &st.match_info {
        if !m.id.is_empty() {
            s.push_str(&format!("  Match {} game {}\n", m.id, m.game_number));
        }
    }
    s.push_str(&format!("  Stage: {}\n", st.stage));
    s.push_str(&format!(
        "  Duration: {} frames ({:.1} s){}\n",
        game.frames.len(),
        game.frames.len() as f64 / 60.0,
        if game.rollback_resends > 0 {
            format!(", {} rollback re-sends", game.rollback_resends)
        } else {
            String::new()
        }
    ));
    s.push_str("  Players:\n");
    for p in &info.players {
        let who = p.identity().map(|i| format!(" {i}")).unwrap_or_default();
        let kind = match p.kind {
            exphil_replay::PlayerKind::Human => String::new(),
            k => format!(" ({k:?})"),
        };
        let end = match (p.end_stocks, p.end_percent) {
            (Some(st), Some(pc)) => format!(": {st} stock(s), {pc:.0}% at the end"),
            _ => String::new(),
        };
        let place = match p.placement {
            Some(0) => " — winner".to_string(),
            Some(n) => format!(" — place {}", n + 1),
            None => String::new(),
        };
        s.push_str(&format!(
            "    P{} {}{kind}{who}{end}{place}\n",
            p.port, p.character_name
        ));
    }
    s.push_str(&format!(
        "  Result: {}\n",
        match &game.end {
            Some(e) => format!("ended by {}", e.method),
            None => "no Game End (unfinished or damaged)".into(),
        }
    ));
    s.push_str(&format!(
        "  Quality: {}/100{}\n",
        info.quality.score,
        if info.quality.deductions.is_empty() {
            String::new()
        } else {
            let d: Vec<String> = info
                .quality
                .deductions
                .iter()
                .map(|(r, p, why)| format!("{r} -{p} ({why})"))
                .collect();
            format!(" ({})", d.join("; "))
        }
    ));
    for w in &game.warnings {
        s.push_str(&format!("  Warning: {w}\n"));
    }
    Ok(s)
}

fn dump_frames(
    out: &mut impl Write,
    game: &Game,
    (from, to): (i32, i32),
    port: Option<Port>,
    json: bool,
) -> Result<()> {
    for f in game.frames.iter().filter(|f| (from..=to).contains(&f.id())) {
        let players: Vec<_> = f
            .players()
            .filter(|p| port.is_none_or(|want| p.port == want))
            .collect();
        if json {
            let line = FrameJson {
                frame: f.id(),
                start: f.start(),
                bookend: f.bookend(),
                players: players
                    .iter()
                    .map(|p| PlayerJson {
                        port: p.port.number(),
                        leader: p.leader,
                        follower: p.follower,
                        hitstun_remaining: p.leader.post.hitstun_remaining(),
                    })
                    .collect(),
                items: f.items(),
                stage_events: f.stage_events(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else {
            for p in players {
                let post = &p.leader.post;
                writeln!(
                    out,
                    "{:>6} P{} action {:>3} x {:>8.2} y {:>8.2} {:>5.1}% stocks {} buttons {:08x} stick ({:+.3}, {:+.3})",
                    f.id(),
                    p.port.number(),
                    post.action_state,
                    post.x,
                    post.y,
                    post.percent,
                    post.stocks,
                    p.leader.pre.buttons,
                    p.leader.pre.joystick.x,
                    p.leader.pre.joystick.y
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::frame_range;

    #[test]
    fn frame_ranges_parse() {
        assert_eq!(frame_range("-123..0").unwrap(), (-123, 0));
        assert_eq!(frame_range("10..").unwrap(), (10, i32::MAX));
        assert_eq!(frame_range("..5").unwrap(), (i32::MIN, 5));
        assert_eq!(frame_range("7").unwrap(), (7, 7));
        assert!(frame_range("9..3").is_err());
        assert!(frame_range("x..3").is_err());
    }
}

/// `replays scan --json`.
#[derive(serde::Serialize)]
struct ScanJson<'a> {
    seconds: f64,
    threads: usize,
    metadata_only: bool,
    report: &'a ScanReport,
    replays: &'a [&'a ReplayInfo],
    rejected: Vec<Rejected<'a>>,
}

/// A replay the filter left out, and why.
#[derive(serde::Serialize)]
struct Rejected<'a> {
    path: &'a Path,
    reason: String,
}

/// `replays show --json` (without --frames).
#[derive(serde::Serialize)]
struct ShowJson<'a> {
    summary: &'a ReplayInfo,
    start: &'a exphil_replay::GameStart,
    end: &'a Option<exphil_replay::GameEnd>,
    metadata: Option<&'a serde_json::Value>,
    rollback_resends: u32,
    warnings: &'a [exphil_replay::Warning],
}

/// One line of `replays show --frames --json`.
#[derive(serde::Serialize)]
struct FrameJson<'a> {
    frame: i32,
    start: Option<&'a exphil_replay::FrameStart>,
    bookend: Option<&'a exphil_replay::FrameBookend>,
    players: Vec<PlayerJson<'a>>,
    items: &'a [exphil_replay::Item],
    stage_events: &'a [exphil_replay::StageEvent],
}

/// A player's frame in [`FrameJson`].
#[derive(serde::Serialize)]
struct PlayerJson<'a> {
    port: u8,
    leader: &'a exphil_replay::CharFrame,
    follower: Option<&'a exphil_replay::CharFrame>,
    hitstun_remaining: Option<f32>,
}
