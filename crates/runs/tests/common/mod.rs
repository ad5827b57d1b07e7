//! Helpers shared by the integration tests: a small seeded PRNG and child processes made by
//! re-running the test binary itself on one test with an environment variable that selects a
//! "child" mode. Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// The environment variable that puts a re-run test binary in child mode.
pub const CHILD_ENV: &str = "EXPHIL_RUNS_TEST_CHILD";

/// SplitMix64: small, seeded, good enough to pick kill moments and byte positions.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A seed from the environment (`EXPHIL_TEST_SEED`) or the clock, printed so a failure can be
/// replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("EXPHIL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{test}: seed {seed} (set EXPHIL_TEST_SEED to replay)");
    seed
}

/// A child process running test `test` of this binary in child mode `mode`, with extra
/// environment variables, its stdout piped.
pub fn spawn_child(test: &str, mode: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawning the test binary as a child")
}

/// The line [`forward_lines`] sends when the child's stdout closes.
pub const EOF: &str = "<EOF>";

/// Forwards the child's stdout lines, tagged with `tag`, to a channel (from a thread), then
/// [`EOF`] when the output ends.
pub fn forward_lines(child: &mut Child, tag: usize, tx: std::sync::mpsc::Sender<(usize, String)>) {
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((tag, line)).is_err() {
                return;
            }
        }
        let _ = tx.send((tag, EOF.to_string()));
    });
}

/// The lines of one child, through a channel.
pub fn lines_of(child: &mut Child) -> Receiver<(usize, String)> {
    let (tx, rx) = channel();
    forward_lines(child, 0, tx);
    rx
}

/// Waits up to `timeout` for a line holding `prefix` (see [`after_tag`]); returns all lines seen meanwhile.
pub fn wait_for_line(
    rx: &Receiver<(usize, String)>,
    prefix: &str,
    timeout: Duration,
) -> (bool, Vec<String>) {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((_, line)) => {
                let hit = after_tag(&line, prefix).is_some();
                seen.push(line);
                if hit {
                    return (true, seen);
                }
            }
            Err(_) => return (false, seen),
        }
    }
}

/// The text after `tag` in a child's output line. (libtest may print `test NAME ... ` on the
/// same line before a child's first line, so the tag is searched anywhere.)
pub fn after_tag<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.find(tag).map(|i| &line[i + tag.len()..])
}

/// Every line still to come from the channel (after the child has exited).
pub fn drain(rx: &Receiver<(usize, String)>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok((_, line)) = rx.recv_timeout(Duration::from_secs(5)) {
        if line == EOF {
            break;
        }
        out.push(line);
    }
    out
}
