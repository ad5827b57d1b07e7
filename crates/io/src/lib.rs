//! Durable file writes: write a temporary file beside the target, fsync it, rename it over the
//! target, fsync the directory. A reader (or a process started after a crash) sees the old file
//! or the new one, never a partial one.
//!
//! Temporary names start with `.tmp-` and end with `-<pid>-<nonce>`, so a cleanup pass can tell
//! which process left them (see [`temp_owner_pid`]).
//!
//! For tests, [`simulate_disk_full_after`] makes the writes of the calling thread fail with
//! [`io::ErrorKind::StorageFull`] once a byte budget is spent, the way a full disk does.

#![deny(missing_docs)]

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// Bytes the current thread may still write through this module (`None`: unlimited).
    static WRITE_BUDGET: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Simulates a full disk for the calling thread only: after `bytes` more bytes have been written
/// through this module's writers ([`write_atomic`], [`write_file_synced`], and everything built on
/// them), writes fail with [`io::ErrorKind::StorageFull`] (the bytes that still fit are written
/// first, as a real full disk does). `None` lifts the limit. Meant for tests of the failure paths.
pub fn simulate_disk_full_after(bytes: Option<u64>) {
    WRITE_BUDGET.with(|b| b.set(bytes));
}

/// Writes `bytes` to `file`, honouring the simulated-disk-full budget of the calling thread.
fn write_budgeted(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let allowed = WRITE_BUDGET.with(|b| match b.get() {
        None => bytes.len(),
        Some(left) => {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
            b.set(Some(left - n as u64));
            n
        }
    });
    file.write_all(&bytes[..allowed])?;
    if allowed < bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device (simulated)",
        ));
    }
    Ok(())
}

/// Prefixes an I/O error's message with `path`, keeping its kind.
pub fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A suffix unique to this process and call: `<pid>-<16 hex digits>`.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    let mut seed = Vec::with_capacity(36);
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&count.to_le_bytes());
    seed.extend_from_slice(&pid.to_le_bytes());
    let nonce = xxhash_rust::xxh3::xxh3_64(&seed);
    format!("{pid}-{nonce:016x}")
}

/// The temporary path [`write_atomic`] uses for `path`: `.tmp-<file name>-<pid>-<nonce>` in the
/// same directory.
fn temp_path_for(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )
    })?;
    let tmp = format!(".tmp-{}-{}", name.to_string_lossy(), unique_suffix());
    Ok(path.with_file_name(tmp))
}

/// Reads the process id from a name ending in `-<pid>-<nonce>` (as made with
/// [`unique_suffix`]), e.g. a leftover temporary file or directory.
pub fn temp_owner_pid(name: &str) -> Option<u32> {
    let mut parts = name.rsplitn(3, '-');
    let nonce = parts.next()?;
    let pid = parts.next()?;
    parts.next()?;
    if nonce.len() != 16 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates (or truncates) `path`, writes `bytes`, flushes and fsyncs it. Not atomic on its own:
/// use it for files inside a directory that is itself published atomically, or through
/// [`write_atomic`]. Errors name the path.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| with_path(e, path))?;
    write_budgeted(&mut file, bytes).map_err(|e| with_path(e, path))?;
    file.flush().map_err(|e| with_path(e, path))?;
    file.sync_all().map_err(|e| with_path(e, path))
}

/// Fsyncs a directory, so that the renames and creations inside it survive a power loss.
/// A no-op where directories cannot be opened (Windows). Errors name the directory.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| with_path(e, dir))?;
        d.sync_all().map_err(|e| with_path(e, dir))?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: writes `.tmp-<name>-<pid>-<nonce>` in the same
/// directory, fsyncs it, renames it over `path` and fsyncs the directory. On any failure the
/// temporary file is removed and `path` keeps its old content. Errors name the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path_for(path)?;
    let result = write_file_synced(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("renaming {} to {}: {e}", tmp.display(), path.display()),
            )
        })
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(parent_dir(path))
}

/// Whether process `pid` is running: `Some(true|false)` on Linux (from `/proc/<pid>/stat`; a
/// zombie counts as dead; when `start_ticks` is given, a process with another start time is a
/// different process that reused the id and counts as dead), `None` where it cannot be told.
pub fn process_alive(pid: u32, start_ticks: Option<u64>) -> Option<bool> {
    if cfg!(target_os = "linux") {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return Some(false);
        };
        let Some((state, start)) = parse_proc_stat(&stat) else {
            return Some(true);
        };
        if state == 'Z' || state == 'X' {
            return Some(false);
        }
        if let (Some(want), Some(have)) = (start_ticks, start) {
            return Some(want == have);
        }
        Some(true)
    } else {
        None
    }
}

/// The start time (clock ticks since boot) of process `pid`, where it can be read (Linux).
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&stat)?.1
}

/// State letter and start time from the text of `/proc/<pid>/stat`.
fn parse_proc_stat(stat: &str) -> Option<(char, Option<u64>)> {
    // The command name is in parentheses and may itself contain ')' or spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 of the file (starttime) is the 20th after the state (field 3).
    let start = fields.nth(18).and_then(|s| s.parse().ok());
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_owner_pid_parses_from_the_right() {
        assert_eq!(
            temp_owner_pid(".tmp-epoch-0003-123-0123456789abcdef"),
            Some(123)
        );
        assert_eq!(temp_owner_pid(".tmp-x-123-01234"), None);
        assert_eq!(temp_owner_pid("123-0123456789abcdef"), None);
        let s = format!(".tmp-a-{}", unique_suffix());
        assert_eq!(temp_owner_pid(&s), Some(std::process::id()));
    }

    #[test]
    fn own_process_is_alive_on_linux() {
        if cfg!(target_os = "linux") {
            let me = std::process::id();
            assert_eq!(process_alive(me, None), Some(true));
            let start = process_start_ticks(me);
            assert!(start.is_some());
            assert_eq!(process_alive(me, start), Some(true));
            assert_eq!(process_alive(me, start.map(|s| s + 1)), Some(false));
        }
    }

    #[test]
    fn proc_stat_with_odd_command_name() {
        let line = "42 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20";
        assert_eq!(parse_proc_stat(line), Some(('S', Some(777))));
    }
}
