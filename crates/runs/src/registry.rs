//! The run registry: `registry.json` in the checkpoints directory, one record per training run.
//!
//! Updates go through [`update_registry`], which holds an exclusive lock for the whole
//! read-modify-write, so concurrent processes never lose each other's updates. The lock is the
//! file `registry.lock`, created with `create_new` and holding the owner's pid, process start
//! time, creation time and a nonce. A lock is stale, and is removed by the next process that
//! wants it, when its owner is no longer running (checked through `/proc/<pid>` on Linux; where
//! that cannot be checked, when it is older than 60 s) or when it is older than 10 minutes. On
//! Unix, every change to `registry.lock` (taking, breaking, releasing) is made under an OS
//! advisory lock on `registry.lock.guard`, which the kernel releases when its holder dies, so two
//! processes breaking the same stale lock cannot both win.
//!
//! `registry.lock.guard` stays in the directory (removing it would let two processes lock
//! different files). Temporary files of a holder that died mid-write are removed by the next
//! holder.
//!
//! A `registry.json` that does not parse is moved aside to `registry.json.corrupt-<time>` by the
//! next update and reported in [`Registry::warnings`], never silently dropped.

use crate::checkpoint::rfc3339_utc;
use exphil_io::{process_alive, process_start_ticks, unique_suffix, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The registry's file name in the checkpoints directory.
pub const REGISTRY_FILE: &str = "registry.json";
/// The lock's file name in the checkpoints directory.
pub const LOCK_FILE: &str = "registry.lock";
/// The registry format version written and accepted.
pub const REGISTRY_VERSION: u32 = 1;
/// A lock older than this is stale whatever its owner.
pub const LOCK_MAX_AGE: Duration = Duration::from_secs(600);
/// Where the owner cannot be checked, a lock older than this is stale.
const LOCK_UNCHECKED_MAX_AGE: Duration = Duration::from_secs(60);
/// The largest registry file read.
const MAX_REGISTRY_LEN: u64 = 256 << 20;

/// What went wrong with the registry. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The registry file does not parse (an update moves it aside).
    #[error("{path} is corrupt ({reason}); the next update moves it aside and starts a new one")]
    Corrupt {
        /// The registry file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// The registry was written by a newer exphil.
    #[error("{path} has version {version}; this build reads version {REGISTRY_VERSION}")]
    Version {
        /// The registry file.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
}

/// Shorthand for the results of this module.
pub type Result<T> = std::result::Result<T, RegistryError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One training run. Fields added after version 1 default when absent, so older registries
/// still read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id (the run name).
    pub id: String,
    /// The run directory.
    pub path: String,
    /// The resolved config file of the run.
    pub config_path: String,
    /// When the run was created, RFC 3339 UTC.
    pub created_at: String,
    /// The backbone's name (`mlp`, ...).
    pub backbone: String,
    /// The config values worth showing in a listing.
    #[serde(default)]
    pub config_summary: serde_json::Value,
    /// The latest or final metrics.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// The run this one was resumed or fine-tuned from.
    #[serde(default)]
    pub parent: Option<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `running`, `completed`, `failed`, `interrupted`, ...
    pub status: String,
    /// `imitation` (trained from scratch), `fine_tune` (from `--pretrained`), `ppo`, ...
    #[serde(default)]
    pub training_type: String,
    /// The characters of the learning player's training frames, most frames first.
    #[serde(default)]
    pub characters: Vec<String>,
    /// Trainable parameters of the policy.
    #[serde(default)]
    pub params: Option<u64>,
    /// When the run was resumed (RFC 3339 UTC), oldest first.
    #[serde(default)]
    pub resumes: Vec<String>,
    /// Evaluation summaries by replay-set hash (the `summary` of each `eval_<hash>.json`).
    #[serde(default)]
    pub evals: BTreeMap<String, serde_json::Value>,
    /// Set when `exphil models prune` archived or deleted the run.
    #[serde(default)]
    pub removed: Option<Removal>,
}

/// What `exphil models prune` did to a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// `archived` (moved under `archive/`) or `pruned` (deleted).
    pub action: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Why it was chosen.
    pub reason: String,
}

/// The contents of `registry.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// [`REGISTRY_VERSION`].
    pub version: u32,
    /// The runs, in insertion order.
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    /// What this read recovered from (a corrupt file moved aside, a stale lock broken); not
    /// stored. Callers should show these to the user.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            version: REGISTRY_VERSION,
            runs: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Registry {
    /// Adds `record`, replacing (in place) any record with the same id.
    pub fn upsert(&mut self, record: RunRecord) {
        match self.runs.iter_mut().find(|r| r.id == record.id) {
            Some(slot) => *slot = record,
            None => self.runs.push(record),
        }
    }

    /// The record with id `id`.
    pub fn get(&self, id: &str) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.id == id)
    }

    /// Removes the record with id `id`, returning it.
    pub fn remove(&mut self, id: &str) -> Option<RunRecord> {
        let i = self.runs.iter().position(|r| r.id == id)?;
        Some(self.runs.remove(i))
    }
}

/// Parses registry bytes.
fn parse(path: &Path, bytes: &[u8]) -> Result<Registry> {
    let reg: Registry = serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if reg.version != REGISTRY_VERSION {
        return Err(RegistryError::Version {
            path: path.to_path_buf(),
            version: reg.version,
        });
    }
    Ok(reg)
}

/// Reads the bytes of the registry, `None` when it does not exist.
fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::metadata(path) {
        Ok(m) if m.len() > MAX_REGISTRY_LEN => {
            return Err(RegistryError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("{} bytes is more than a registry can be", m.len()),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    }
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads `dir/registry.json` without locking (writes are atomic, so a reader sees a whole
/// version). A missing file is an empty registry; a corrupt one is an error.
pub fn read_registry(dir: &Path) -> Result<Registry> {
    let path = dir.join(REGISTRY_FILE);
    match read_bytes(&path)? {
        None => Ok(Registry::default()),
        Some(b) => parse(&path, &b),
    }
}

/// Locks the registry of `dir`, reads it (moving a corrupt file aside), applies `f`, writes it
/// atomically and unlocks. Returns the registry as written, with [`Registry::warnings`] telling
/// what was recovered. `f` must not update the same registry (the lock is not re-entrant).
pub fn update_registry(dir: &Path, f: impl FnOnce(&mut Registry)) -> Result<Registry> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let lock = RegistryLock::acquire(dir)?;
    let path = dir.join(REGISTRY_FILE);
    let mut warnings = lock.warnings.clone();
    remove_stale_temporaries(dir)?;
    let parsed = read_bytes(&path).and_then(|b| b.map(|b| parse(&path, &b)).transpose());
    let mut reg = match parsed {
        Ok(Some(reg)) => reg,
        Ok(None) => Registry::default(),
        Err(RegistryError::Corrupt { reason, .. }) => {
            let aside = dir.join(format!(
                "{REGISTRY_FILE}.corrupt-{}-{}",
                rfc3339_utc(SystemTime::now()).replace(':', ""),
                unique_suffix()
            ));
            fs::rename(&path, &aside).map_err(io_err(&path))?;
            warnings.push(format!(
                "{} is corrupt ({reason}); moved it to {} and started a new registry",
                path.display(),
                aside.display()
            ));
            Registry::default()
        }
        Err(e) => return Err(e),
    };
    f(&mut reg);
    reg.version = REGISTRY_VERSION;
    let mut json = serde_json::to_vec_pretty(&reg).map_err(|e| RegistryError::Corrupt {
        path: path.clone(),
        reason: format!("serialisation failed: {e}"),
    })?;
    json.push(b'\n');
    write_atomic(&path, &json).map_err(io_err(&path))?;
    lock.release()?;
    reg.warnings = warnings;
    Ok(reg)
}

/// Removes `.tmp-registry.json-*` files: only the lock holder writes them, so while the lock is
/// held any that exist were left by a holder that died mid-write.
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let prefix = format!(".tmp-{REGISTRY_FILE}-");
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let p = entry.path();
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
    }
    Ok(())
}

/// How long a writer waits for the registry lock before saying what it waits for.
const LOCK_WAIT_NOTICE: Duration = Duration::from_secs(5);

/// The content of `registry.lock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    /// Process start time in clock ticks since boot (Linux), to tell a reused pid apart.
    start_ticks: Option<u64>,
    created_unix_ms: u64,
    nonce: String,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The exclusive lock on a registry, released on drop (or by [`RegistryLock::release`]).
#[derive(Debug)]
pub struct RegistryLock {
    dir: PathBuf,
    info: LockInfo,
    released: bool,
    /// Stale locks broken while acquiring this one.
    pub warnings: Vec<String>,
}

/// An OS advisory lock on `registry.lock.guard`, held while `registry.lock` is examined or
/// changed. The kernel drops it when the holder dies, so it is never stale. A no-op off Unix.
struct Guard {
    #[cfg(unix)]
    _file: File,
}

impl Guard {
    fn take(dir: &Path) -> Result<Guard> {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let path = dir.join(format!("{LOCK_FILE}.guard"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err(&path))?;
            loop {
                // SAFETY: flock only reads the descriptor, which `file` keeps open.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    break;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(io_err(&path)(e));
                }
            }
            // Closing the file (on drop) releases the lock.
            Ok(Guard { _file: file })
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(Guard {})
        }
    }
}

/// Why the lock at `path` (with content `bytes`) is stale, or `None` when it is live.
fn stale_reason(path: &Path, bytes: &[u8]) -> Option<String> {
    let age = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default();
    let Ok(info) = serde_json::from_slice::<LockInfo>(bytes) else {
        // On Unix locks are written whole under the guard, so an unreadable one was left by a
        // process that died while writing it; elsewhere its writer may still be at it.
        return (cfg!(unix) || age > LOCK_UNCHECKED_MAX_AGE).then(|| "it is unreadable".into());
    };
    let created_age =
        Duration::from_millis(now_unix_ms().saturating_sub(info.created_unix_ms)).max(age);
    if created_age > LOCK_MAX_AGE {
        return Some(format!(
            "it is {} s old (pid {})",
            created_age.as_secs(),
            info.pid
        ));
    }
    match process_alive(info.pid, info.start_ticks) {
        Some(false) => Some(format!("its owner (pid {}) is no longer running", info.pid)),
        Some(true) => None,
        None if created_age > LOCK_UNCHECKED_MAX_AGE => Some(format!(
            "it is {} s old and its owner (pid {}) cannot be checked",
            created_age.as_secs(),
            info.pid
        )),
        None => None,
    }
}

impl RegistryLock {
    /// Takes the registry lock of `dir`, waiting while another live process holds it and
    /// breaking a stale one (reported in [`RegistryLock::warnings`]).
    pub fn acquire(dir: &Path) -> Result<RegistryLock> {
        let path = dir.join(LOCK_FILE);
        let mut warnings = Vec::new();
        let mut wait = Duration::from_millis(1);
        // Per-process jitter so that waiting processes do not poll in step.
        let jitter = u64::from(std::process::id() % 7);
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            {
                let _guard = Guard::take(dir)?;
                // A lock path that is not a plain file (a dangling symbolic link, a directory)
                // can never be taken: waiting on it would wait for ever.
                if let Ok(m) = fs::symlink_metadata(&path) {
                    if !m.file_type().is_file() {
                        let what = if m.file_type().is_symlink() {
                            match fs::read_link(&path) {
                                Ok(t) => format!("a symbolic link to {}", t.display()),
                                Err(_) => "a symbolic link".into(),
                            }
                        } else if m.is_dir() {
                            "a directory".into()
                        } else {
                            "not a regular file".into()
                        };
                        return Err(io_err(&path)(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "the registry lock is {what}, which no process can take; remove it"
                            ),
                        )));
                    }
                }
                match fs::read(&path) {
                    Ok(bytes) => {
                        if let Some(reason) = stale_reason(&path, &bytes) {
                            fs::remove_file(&path).map_err(io_err(&path))?;
                            warnings.push(format!(
                                "recovered a stale registry lock {}: {reason}",
                                path.display()
                            ));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
                match OpenOptions::new().write(true).create_new(true).open(&path) {
                    Ok(mut file) => {
                        let pid = std::process::id();
                        let info = LockInfo {
                            pid,
                            start_ticks: process_start_ticks(pid),
                            created_unix_ms: now_unix_ms(),
                            nonce: unique_suffix(),
                        };
                        let json = serde_json::to_vec(&info).map_err(|e| {
                            io_err(&path)(io::Error::new(io::ErrorKind::InvalidData, e))
                        })?;
                        if let Err(e) = file.write_all(&json).and_then(|()| file.flush()) {
                            let _ = fs::remove_file(&path);
                            return Err(io_err(&path)(e));
                        }
                        return Ok(RegistryLock {
                            dir: dir.to_path_buf(),
                            info,
                            released: false,
                            warnings,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            if !told && started.elapsed() > LOCK_WAIT_NOTICE {
                told = true;
                let owner = fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok())
                    .map_or_else(
                        || "an unknown process".to_string(),
                        |i| format!("process {}", i.pid),
                    );
                // The one line a library prints: without it a stuck wait is silent.
                eprintln!(
                    "exphil: waiting for the registry lock {} (held by {owner}); it is broken \
                     once that process is gone",
                    path.display()
                );
            }
            std::thread::sleep(wait + Duration::from_micros(jitter * 150));
            wait = (wait * 2).min(Duration::from_millis(20));
        }
    }

    /// Releases the lock (only if `registry.lock` is still this lock), reporting failures.
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.remove_own()
    }

    fn remove_own(&self) -> Result<()> {
        let path = self.dir.join(LOCK_FILE);
        let _guard = Guard::take(&self.dir)?;
        match fs::read(&path) {
            Ok(bytes) => {
                if serde_json::from_slice::<LockInfo>(&bytes).ok().as_ref() == Some(&self.info) {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

impl Drop for RegistryLock {
    fn drop(&mut self) {
        if !self.released {
            // Best effort: a lock that cannot be removed here goes stale once this process ends.
            let _ = self.remove_own();
        }
    }
}
