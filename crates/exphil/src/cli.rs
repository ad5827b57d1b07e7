//! What the commands share besides the replay filter flags ([`crate::filters`]) and charts
//! ([`crate::charts`]): finding replay files, worker pools, progress bars, and printing a
//! library's lines.

use anyhow::{bail, Context, Result};
use exphil_corpus::discover;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// A pool of `threads` workers (default: one per core).
pub fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        b = b.num_threads(n);
    }
    b.build().context("starting worker threads")
}

/// A progress bar over `len` files on stderr (hidden when `quiet` or not a terminal).
pub fn progress(len: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed} (eta {eta})")
            .expect("static template is valid"),
    );
    bar
}

/// The time of day in UTC, `20:35:56Z`: the stamp of epoch and progress lines.
pub fn clock() -> String {
    let t = exphil_runs::checkpoint::rfc3339_utc(std::time::SystemTime::now());
    t.split_once('T')
        .map_or(t.clone(), |(_, time)| time.to_string())
}

/// How [`paint`] marks text.
#[derive(Clone, Copy, Debug)]
pub enum Paint {
    /// Headings (the epoch).
    Bold,
    /// Good news (a new best model).
    Good,
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset or empty (no-color.org).
pub fn colour_on() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `text` in ANSI colour when stdout is a colour terminal ([`colour_on`]), else as it is.
pub fn paint(text: &str, how: Paint) -> String {
    if !colour_on() {
        return text.to_string();
    }
    let code = match how {
        Paint::Bold => "1",
        Paint::Good => "32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Finds the files, failing when none of the paths exist.
pub fn files_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let (files, errors) = discover(paths);
    for (path, e) in &errors {
        eprintln!("warning: {}: {e}", path.display());
    }
    if files.is_empty() && !errors.is_empty() {
        bail!("none of the given paths could be read");
    }
    Ok(files)
}

/// Prints a library's line: the record on stdout, notes on stderr, progress as a bar of frames
/// on a terminal (the notes print above it).
pub fn say(line: exphil_rl::error::Line) {
    use exphil_rl::error::Line;
    static BAR: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);
    let mut bar = BAR.lock().unwrap_or_else(|e| e.into_inner());
    match line {
        Line::Out(s) => match bar.as_ref() {
            Some(b) => b.suspend(|| println!("{s}")),
            None => println!("{s}"),
        },
        Line::Note(s) => match bar.as_ref() {
            Some(b) => b.suspend(|| eprintln!("{s}")),
            None => eprintln!("{s}"),
        },
        Line::Progress {
            done,
            total,
            message,
        } => {
            if !std::io::stderr().is_terminal() {
                return;
            }
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(total);
                b.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} frames {elapsed} (eta {eta}) {msg}",
                    )
                    .expect("static template is valid"),
                );
                b
            });
            b.set_position(done.min(total));
            b.set_message(message);
            if done >= total {
                b.finish_and_clear();
                *bar = None;
            }
        }
    }
}
