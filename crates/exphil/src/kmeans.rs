//! `exphil kmeans`: fit the k-means stick centres (one set per axis) from replays and write them
//! as JSON for the `kmeans` stick discretisation.

use crate::cli::{files_of, pool, progress};
use crate::filters::FilterArgs;
use anyhow::{bail, Result};
use clap::Args;
use exphil_corpus::{summarize_game, ReplayInfo};
use exphil_embed::{
    fit_stick_centers, AxisHistogram, KMeans, KMeansConfig, StickCenters, StickHistograms,
};
use exphil_replay::{read, DecodeOptions};
use exphil_state::Controller;
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `kmeans`.
#[derive(Args)]
pub struct KmeansArgs {
    /// Replay folders (searched recursively for .slp) or files.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE")]
    replays: Vec<PathBuf>,
    /// Centres per stick axis (2..=161; odd unless --asymmetric).
    #[arg(long, default_value_t = 21)]
    k: usize,
    /// Where to write the centres (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Seed of the k-means++ initialisation (same seed and replays: same file).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Independent initialisations per axis; the best fit wins.
    #[arg(long, default_value_t = 10, value_name = "N")]
    restarts: usize,
    /// Most Lloyd iterations per initialisation.
    #[arg(long, default_value_t = 300, value_name = "N")]
    max_iterations: usize,
    /// Fit the x axes on the data as recorded. By default they are fitted on the data and its
    /// left/right mirror with centres symmetric about neutral (mirroring a target is then exact).
    #[arg(long)]
    asymmetric: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Raw stick units of a 0..1 stick value (−80..80, 0 neutral).
fn raw_units(v: f32) -> f32 {
    v * 160.0 - 80.0
}

/// Runs `kmeans`.
pub fn run(a: KmeansArgs) -> Result<ExitCode> {
    if !(2..=161).contains(&a.k) {
        bail!(
            "--k must be between 2 and 161 (a stick axis has 161 raw positions), not {}",
            a.k
        );
    }
    if !a.asymmetric && a.k % 2 != 1 {
        bail!(
            "--k must be odd for symmetric x axes (neutral is the middle centre, the rest come in \
             mirrored pairs); use an odd k or --asymmetric"
        );
    }
    let kmeans = KMeans::new(KMeansConfig {
        k: a.k,
        seed: a.seed,
        max_iterations: a.max_iterations,
        restarts: a.restarts,
    })?;
    let filter = a.filter.to_filter()?;
    let files = files_of(&a.replays)?;
    let pool = pool(a.threads)?;
    let t0 = Instant::now();

    // One pass: decode each file once, summarise it (as `replays scan` does) and count its
    // sticks; the filters then pick which files' counts are merged.
    let bar = progress(files.len(), false);
    let outcomes: Vec<Result<(ReplayInfo, StickHistograms, u64), String>> = pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let r = exphil_replay::read_bytes(path)
                    .and_then(|bytes| {
                        let game = read(&bytes, DecodeOptions::default())?;
                        let mut h = StickHistograms::default();
                        for frame in game.frames.iter() {
                            for p in frame.players() {
                                h.add(&Controller::from_pre(&p.leader.pre));
                            }
                        }
                        let info = summarize_game(path, &bytes, &game);
                        Ok((info, h, game.frames.len() as u64))
                    })
                    .map_err(|e| format!("{}: {e}", path.display()));
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut failed = 0usize;
    let mut decoded: Vec<&(ReplayInfo, StickHistograms, u64)> = Vec::new();
    for o in &outcomes {
        match o {
            Ok(d) => decoded.push(d),
            Err(e) => {
                failed += 1;
                eprintln!("warning: skipped {e}");
            }
        }
    }
    let (kept, rejected) = filter.apply(decoded.iter().map(|d| &d.0));
    let kept_set: std::collections::HashSet<*const ReplayInfo> =
        kept.iter().map(|k| *k as *const ReplayInfo).collect();
    let mut histograms = StickHistograms::default();
    let (mut replays, mut frames) = (0usize, 0u64);
    for (info, h, n) in &decoded {
        if kept_set.contains(&(info as *const ReplayInfo)) {
            histograms.merge(h);
            replays += 1;
            frames += n;
        }
    }
    if histograms.samples() == 0 {
        bail!(
            "no stick values to fit: {} files, {failed} failed, {} filtered out, {replays} replays \
             with frames",
            files.len(),
            rejected.len()
        );
    }

    let centers = fit_stick_centers(&histograms, &kmeans, !a.asymmetric)?;
    let file = StickCenters {
        version: StickCenters::VERSION,
        k: a.k,
        seed: a.seed,
        symmetric_x: !a.asymmetric,
        replays,
        frames,
        samples: histograms.samples(),
        centers,
    };
    file.write(&a.out)?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Fitted {} centres per stick axis from {} player-frames ({frames} frames, {replays} \
         replays) in {:.2} s; {failed} files failed, {} filtered out",
        a.k,
        file.samples,
        t0.elapsed().as_secs_f64(),
        rejected.len()
    )?;
    writeln!(
        out,
        "Centres in raw stick units (-80..80, 0 neutral){}:",
        if file.symmetric_x {
            "; x axes symmetric"
        } else {
            ""
        }
    )?;
    for ((axis, centers), (_, h)) in file.centers.axes().into_iter().zip(histograms.axes()) {
        let raw: Vec<String> = centers
            .iter()
            .map(|&c| format!("{:.1}", raw_units(c)))
            .collect();
        writeln!(
            out,
            "  {axis:<6} {}  (neutral {:.1}% of values)",
            raw.join(" "),
            neutral_share(h)
        )?;
        if h.off_grid() > 0 {
            writeln!(
                out,
                "         {} values were off the raw stick grid (rounded to it)",
                h.off_grid()
            )?;
        }
    }
    writeln!(out, "Wrote {}", a.out.display())?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Percent of an axis's values at neutral.
fn neutral_share(h: &AxisHistogram) -> f64 {
    100.0 * h.counts()[80] as f64 / h.total().max(1) as f64
}
