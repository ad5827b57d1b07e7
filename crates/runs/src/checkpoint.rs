//! Checkpoint directories and run directories.
//!
//! A checkpoint is a directory of files written as a unit (`model.safetensors`,
//! `optim.safetensors`, `state.json`, ...) plus `manifest.json`, which lists every file with its
//! size and xxh3-64 and is written last. [`save_checkpoint`] builds the directory under a temporary
//! name (`.tmp-<name>-<pid>-<nonce>`), fsyncs everything, then swaps it into place: the old
//! `<name>` is renamed to `.trash-<name>-<pid>-<nonce>`, the new one renamed to `<name>`, the
//! parent fsynced, the trash removed. [`load_checkpoint`] returns a checkpoint only when its
//! manifest is present and every file matches it; when `<name>` is missing or corrupt, a valid
//! trash copy left by an interrupted swap is used instead. A process killed at any moment
//! therefore leaves the previous checkpoint or the new one loadable, never a partial one.
//!
//! Directories being deleted are first renamed to `.delete-<name>-<pid>-<nonce>` (never loaded),
//! so a kill mid-deletion cannot leave a half-deleted checkpoint under a real name.
//!
//! One writer per parent directory: saves, rotation and [`cleanup`] of the same parent must not
//! run concurrently (the trainer does them from one thread).

use exphil_io::{
    fsync_dir, process_alive, temp_owner_pid, unique_suffix, with_path, write_file_synced,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xxhash_rust::xxh3::xxh3_64;

/// The manifest's file name inside a checkpoint directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest format version written and accepted.
pub const MANIFEST_VERSION: u32 = 1;
/// The largest manifest a reader accepts.
const MANIFEST_MAX_LEN: u64 = 1 << 20;
/// Where the owner of a leftover cannot be checked (not Linux), leftovers older than this are
/// taken to be abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// What went wrong with a checkpoint or run directory. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A checkpoint, run or file name is unusable.
    #[error("invalid name {name:?}: {reason}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A checkpoint directory exists but does not match its manifest (or has none).
    #[error("checkpoint {dir} is refused: {reason}")]
    Corrupt {
        /// The checkpoint directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No valid checkpoint of the name(s) exists.
    #[error("no valid checkpoint {name} in {parent}: {}", reasons.join("; "))]
    NotFound {
        /// The parent directory searched.
        parent: PathBuf,
        /// The name(s) tried.
        name: String,
        /// Why each candidate was refused.
        reasons: Vec<String>,
    },
    /// The loaded checkpoint lacks a file the caller needs.
    #[error("checkpoint {dir} has no file {file:?}")]
    MissingFile {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The file asked for.
        file: String,
    },
    /// A run directory exists and overwriting was not asked for.
    #[error(
        "run directory {path} already exists (last modified {modified}): use --overwrite to replace it, or choose another --name"
    )]
    RunExists {
        /// The run directory.
        path: PathBuf,
        /// Its modification time (RFC 3339, UTC).
        modified: String,
    },
}

/// Shorthand for the results of this module.
pub type Result<T> = std::result::Result<T, CheckpointError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file listed in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// File name inside the checkpoint directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-64 of the content, 16 hex digits.
    pub xxh3: String,
}

/// `manifest.json`: what a complete checkpoint holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// When the checkpoint was saved, nanoseconds since the Unix epoch.
    pub saved_unix_ns: u64,
    /// The files, in the order given to [`save_checkpoint`].
    pub files: Vec<ManifestEntry>,
    /// xxh3-64 (16 hex digits) of the manifest's compact JSON with this field empty, so that a
    /// flipped byte in the manifest itself is detected too.
    pub check: String,
}

impl Manifest {
    /// The value [`Manifest::check`] must have.
    pub fn expected_check(&self) -> String {
        let mut m = self.clone();
        m.check.clear();
        let json =
            serde_json::to_vec(&m).expect("a manifest (strings and integers) always serialises");
        format!("{:016x}", xxh3_64(&json))
    }
}

/// A loaded, verified checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointFiles {
    /// The directory it was read from (a `.trash-*` directory when the named one was unusable).
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Every listed file's content, by name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Why other candidates were refused before this one was taken (empty when the first
    /// choice loaded); callers should show these to the user.
    pub warnings: Vec<String>,
}

impl CheckpointFiles {
    /// The content of file `name`, if the checkpoint has it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// The content of file `name`, or an error naming the checkpoint and the file.
    pub fn require(&self, name: &str) -> Result<&[u8]> {
        self.get(name).ok_or_else(|| CheckpointError::MissingFile {
            dir: self.dir.clone(),
            file: name.to_string(),
        })
    }
}

/// What [`cleanup`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Leftover temporary, trash and deletion entries removed.
    pub removed: Vec<PathBuf>,
    /// Trash directories renamed back to their name because the named checkpoint was missing
    /// (an interrupted swap), as `(from, to)`.
    pub restored: Vec<(PathBuf, PathBuf)>,
}

/// Checks a checkpoint, run or file name: not empty, at most 200 bytes, no path separators or
/// NUL, not starting with `.` (hidden names are reserved for temporary and trash entries).
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > 200 {
        "it is longer than 200 bytes"
    } else if name.starts_with('.') {
        "it starts with '.'"
    } else if name.contains(['/', '\\', '\0']) {
        "it contains a path separator or NUL"
    } else {
        return Ok(());
    };
    Err(CheckpointError::Name {
        name: name.to_string(),
        reason: reason.to_string(),
    })
}

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Saves a checkpoint `parent/name` holding `files` (name, content), replacing any previous one
/// atomically (see the module docs). Returns the checkpoint's path. On failure (a full disk
/// included) the temporary directory is removed and the previous checkpoint is untouched.
pub fn save_checkpoint(parent: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
    validate_name(name)?;
    let mut seen = BTreeSet::new();
    for (file, _) in files {
        validate_name(file)?;
        if *file == MANIFEST {
            return Err(CheckpointError::Name {
                name: file.to_string(),
                reason: "it is reserved for the manifest".into(),
            });
        }
        if !seen.insert(*file) {
            return Err(CheckpointError::Name {
                name: file.to_string(),
                reason: "it is given twice".into(),
            });
        }
    }
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(".tmp-{name}-{}", unique_suffix()));
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = fill_checkpoint_dir(&tmp, files) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let target = parent.join(name);
    let trash = match fs::symlink_metadata(&target) {
        Ok(_) => {
            let trash = parent.join(format!(".trash-{name}-{}", unique_suffix()));
            if let Err(e) = fs::rename(&target, &trash) {
                let _ = fs::remove_dir_all(&tmp);
                return Err(io_err(&target)(e));
            }
            if let Err(e) = fsync_dir(parent) {
                let _ = fs::rename(&trash, &target);
                let _ = fs::remove_dir_all(&tmp);
                return Err(io_err(parent)(e));
            }
            Some(trash)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err(&target)(e));
        }
    };
    if let Err(e) = fs::rename(&tmp, &target) {
        if let Some(trash) = &trash {
            let _ = fs::rename(trash, &target);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(io_err(&target)(e));
    }
    fsync_dir(parent).map_err(io_err(parent))?;
    if let Some(trash) = trash {
        // The new checkpoint is in place; a trash left behind by a failure here is harmless and
        // is removed by the next `cleanup`.
        let _ = remove_checkpoint_dir(&trash);
    }
    Ok(target)
}

/// Writes and fsyncs the files, then the manifest, then fsyncs the directory.
fn fill_checkpoint_dir(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let mut entries = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_file_synced(&path, bytes).map_err(io_err(&path))?;
        entries.push(ManifestEntry {
            name: name.to_string(),
            size: bytes.len() as u64,
            xxh3: format!("{:016x}", xxh3_64(bytes)),
        });
    }
    let mut manifest = Manifest {
        version: MANIFEST_VERSION,
        saved_unix_ns: now_unix_ns(),
        files: entries,
        check: String::new(),
    };
    manifest.check = manifest.expected_check();
    let path = dir.join(MANIFEST);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Corrupt {
        dir: dir.to_path_buf(),
        reason: format!("manifest serialisation failed: {e}"),
    })?;
    write_file_synced(&path, &json).map_err(io_err(&path))?;
    fsync_dir(dir).map_err(io_err(dir))
}

/// Deletes a checkpoint directory, manifest first, so that a deletion cut short leaves a
/// directory that is plainly invalid.
fn remove_checkpoint_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {
            match fs::remove_file(dir.join(MANIFEST)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(with_path(e, dir)),
            }
            fs::remove_dir_all(dir).map_err(|e| with_path(e, dir))
        }
        Ok(_) => fs::remove_file(dir).map_err(|e| with_path(e, dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(with_path(e, dir)),
    }
}

/// Renames `parent/name` to `.delete-<name>-<pid>-<nonce>`, fsyncs the parent, and deletes it.
fn discard(parent: &Path, name: &str) -> Result<()> {
    let from = parent.join(name);
    let to = parent.join(format!(".delete-{name}-{}", unique_suffix()));
    fs::rename(&from, &to).map_err(io_err(&from))?;
    fsync_dir(parent).map_err(io_err(parent))?;
    remove_checkpoint_dir(&to).map_err(io_err(&to))
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let corrupt = |reason: String| CheckpointError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let path = dir.join(MANIFEST);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(corrupt(format!(
                "it has no {MANIFEST} (an incomplete save)"
            )))
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    if meta.len() > MANIFEST_MAX_LEN {
        return Err(corrupt(format!("{MANIFEST} is {} bytes", meta.len())));
    }
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("{MANIFEST} does not parse: {e}")))?;
    if manifest.check != manifest.expected_check() {
        return Err(corrupt(format!(
            "{MANIFEST} does not match its own checksum: it is corrupt"
        )));
    }
    if manifest.version != MANIFEST_VERSION {
        return Err(corrupt(format!(
            "{MANIFEST} has version {}, this build reads {MANIFEST_VERSION}",
            manifest.version
        )));
    }
    let mut seen = BTreeSet::new();
    for f in &manifest.files {
        if validate_name(&f.name).is_err() || f.name == MANIFEST || !seen.insert(&f.name) {
            return Err(corrupt(format!(
                "{MANIFEST} lists an invalid or repeated file {:?}",
                f.name
            )));
        }
    }
    Ok(manifest)
}

/// Reads and verifies the checkpoint in `dir`: the manifest must be present and every listed
/// file must exist as a regular file of the listed size and xxh3. Files not listed are ignored.
pub fn read_checkpoint_dir(dir: &Path) -> Result<CheckpointFiles> {
    let manifest = read_manifest(dir)?;
    let corrupt = |reason: String| CheckpointError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let mut files = BTreeMap::new();
    for entry in &manifest.files {
        let path = dir.join(&entry.name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt(format!("file {:?} is missing", entry.name)))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        if !meta.is_file() {
            return Err(corrupt(format!("{:?} is not a regular file", entry.name)));
        }
        if meta.len() != entry.size {
            return Err(corrupt(format!(
                "file {:?} is {} bytes, the manifest says {}",
                entry.name,
                meta.len(),
                entry.size
            )));
        }
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let hash = format!("{:016x}", xxh3_64(&bytes));
        if bytes.len() as u64 != entry.size || hash != entry.xxh3 {
            return Err(corrupt(format!(
                "file {:?} does not match the manifest (xxh3 {hash}, expected {}): it is corrupt",
                entry.name, entry.xxh3
            )));
        }
        files.insert(entry.name.clone(), bytes);
    }
    Ok(CheckpointFiles {
        dir: dir.to_path_buf(),
        manifest,
        files,
        warnings: Vec::new(),
    })
}

/// The `.trash-<name>-<pid>-<nonce>` entries of `name` in `parent`.
fn trash_of(parent: &Path, name: &str) -> Result<Vec<PathBuf>> {
    Ok(hidden_entries(parent)?
        .into_iter()
        .filter(|(kind, n, _)| *kind == Hidden::Trash && n == name)
        .map(|(_, _, path)| path)
        .collect())
}

/// Trash directories, newest manifest first (unreadable manifests last).
fn sort_newest_first(trash: &mut [PathBuf]) {
    let mut keyed: Vec<(u64, PathBuf)> = trash
        .iter()
        .map(|p| {
            (
                read_manifest(p).map(|m| m.saved_unix_ns).unwrap_or(0),
                p.clone(),
            )
        })
        .collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (slot, (_, p)) in trash.iter_mut().zip(keyed) {
        *slot = p;
    }
}

/// Loads checkpoint `name` from `parent`, verified against its manifest. When `parent/name` is
/// missing or refused, the newest valid `.trash-<name>-*` (left by a save interrupted mid-swap)
/// is returned instead, with the refusal in [`CheckpointFiles::warnings`]. A reader running while
/// another process saves therefore gets the previous or the new checkpoint.
pub fn load_checkpoint(parent: &Path, name: &str) -> Result<CheckpointFiles> {
    validate_name(name)?;
    let mut reasons = Vec::new();
    match read_checkpoint_dir(&parent.join(name)) {
        Ok(c) => return Ok(c),
        Err(e) => reasons.push(e.to_string()),
    }
    let mut trash = trash_of(parent, name)?;
    sort_newest_first(&mut trash);
    for t in trash {
        match read_checkpoint_dir(&t) {
            Ok(mut c) => {
                reasons.push(format!(
                    "using {} (the checkpoint before an interrupted save) instead",
                    t.display()
                ));
                c.warnings = reasons;
                return Ok(c);
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    // A reader racing a save can see `<name>` missing and then the trash already gone; by now
    // the new checkpoint is in place.
    if let Ok(c) = read_checkpoint_dir(&parent.join(name)) {
        return Ok(c);
    }
    Err(CheckpointError::NotFound {
        parent: parent.to_path_buf(),
        name: format!("{name:?}"),
        reasons,
    })
}

/// Loads the first of `names` that loads (each as [`load_checkpoint`] does, trash included),
/// e.g. `["latest", "epoch-0004", "best"]`. Refusals of earlier names are returned in
/// [`CheckpointFiles::warnings`].
pub fn load_checkpoint_with_fallback(parent: &Path, names: &[&str]) -> Result<CheckpointFiles> {
    let mut reasons = Vec::new();
    for name in names {
        match load_checkpoint(parent, name) {
            Ok(mut c) => {
                if !reasons.is_empty() {
                    reasons.push(format!("falling back to {}", c.dir.display()));
                }
                reasons.append(&mut c.warnings);
                c.warnings = reasons;
                return Ok(c);
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(CheckpointError::NotFound {
        parent: parent.to_path_buf(),
        name: format!("{names:?}"),
        reasons,
    })
}

/// The names of the checkpoint (and other) directories in `parent`, sorted; hidden entries
/// (`.tmp-*`, `.trash-*`, `.delete-*`) are left out. A missing `parent` has none.
pub fn list_checkpoints(parent: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(parent) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(parent)(e)),
    };
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io_err(parent))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hidden {
    Tmp,
    Trash,
    Delete,
}

/// Hidden entries made by this module: (kind, the name they belong to, path).
fn hidden_entries(parent: &Path) -> Result<Vec<(Hidden, String, PathBuf)>> {
    let rd = match fs::read_dir(parent) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(parent)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io_err(parent))?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        let (kind, rest) = if let Some(r) = file_name.strip_prefix(".tmp-") {
            (Hidden::Tmp, r)
        } else if let Some(r) = file_name.strip_prefix(".trash-") {
            (Hidden::Trash, r)
        } else if let Some(r) = file_name.strip_prefix(".delete-") {
            (Hidden::Delete, r)
        } else {
            continue;
        };
        if temp_owner_pid(rest).is_none() {
            continue;
        }
        // rest = <name>-<pid>-<nonce>
        let mut parts = rest.rsplitn(3, '-');
        let (Some(_), Some(_), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        out.push((kind, name.to_string(), entry.path()));
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    Ok(out)
}

/// Whether the process that made a hidden entry is gone (its own process never is; where the
/// owner cannot be checked, entries older than a minute are taken as abandoned).
fn owner_gone(path: &Path) -> bool {
    let Some(pid) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(temp_owner_pid)
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    match process_alive(pid, None) {
        Some(alive) => !alive,
        None => fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED_AFTER),
    }
}

/// Removes what interrupted saves, rotations and deletions left in `parent` by processes that
/// are gone: `.tmp-*` (partial saves and partial [`exphil_io::write_atomic`] files) and
/// `.delete-*` are removed; a `.trash-<name>-*` is removed when `<name>` is valid, renamed back to
/// `<name>` when `<name>` is missing (completing the interrupted swap the other way), and the
/// newest valid one is kept when `<name>` exists but is corrupt. Must not run concurrently with a
/// save in the same `parent`.
pub fn cleanup(parent: &Path) -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let mut trash_by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (kind, name, path) in hidden_entries(parent)? {
        if !owner_gone(&path) {
            continue;
        }
        match kind {
            Hidden::Tmp | Hidden::Delete => {
                remove_checkpoint_dir(&path).map_err(io_err(&path))?;
                report.removed.push(path);
            }
            Hidden::Trash => trash_by_name.entry(name).or_default().push(path),
        }
    }
    for (name, mut trash) in trash_by_name {
        let target = parent.join(&name);
        let keep = if read_checkpoint_dir(&target).is_ok() {
            None
        } else {
            sort_newest_first(&mut trash);
            trash
                .iter()
                .find(|t| read_checkpoint_dir(t).is_ok())
                .cloned()
        };
        if let Some(keep) = &keep {
            if fs::symlink_metadata(&target).is_err() {
                fs::rename(keep, &target).map_err(io_err(keep))?;
                fsync_dir(parent).map_err(io_err(parent))?;
                report.restored.push((keep.clone(), target.clone()));
            }
        }
        for t in trash {
            if Some(&t) != keep.as_ref() {
                remove_checkpoint_dir(&t).map_err(io_err(&t))?;
                report.removed.push(t);
            }
        }
    }
    if !report.removed.is_empty() {
        fsync_dir(parent).map_err(io_err(parent))?;
    }
    Ok(report)
}

/// The number of a directory named `<prefix><digits>`.
fn numbered(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Keeps the newest `keep_last` directories named `<prefix><number>` in `parent` (by number,
/// e.g. `epoch-0003`) and deletes the older ones (renamed to `.delete-*` first, then removed);
/// `keep_last` 0 deletes them all. Returns the deleted names, oldest first.
pub fn rotate_numbered(parent: &Path, prefix: &str, keep_last: usize) -> Result<Vec<String>> {
    let mut found: Vec<(u64, String)> = list_checkpoints(parent)?
        .into_iter()
        .filter_map(|n| numbered(&n, prefix).map(|k| (k, n)))
        .collect();
    found.sort();
    let excess = found.len().saturating_sub(keep_last);
    let mut removed = Vec::with_capacity(excess);
    for (_, name) in found.into_iter().take(excess) {
        discard(parent, &name)?;
        removed.push(name);
    }
    Ok(removed)
}

/// The name of backup slot `i` of run `name`: `name.bak`, `name.bak.1`, `name.bak.2`, ...
fn backup_name(name: &str, i: usize) -> String {
    if i == 0 {
        format!("{name}.bak")
    } else {
        format!("{name}.bak.{i}")
    }
}

/// Makes the run directory `checkpoints_dir/name` and returns it. An existing one is refused
/// unless `overwrite`; then with `backup_count > 0` it becomes `name.bak` (older backups shift to
/// `name.bak.1`, `name.bak.2`, ..., keeping `backup_count` in all), with `backup_count == 0` it
/// is deleted.
pub fn prepare_run_dir(
    checkpoints_dir: &Path,
    name: &str,
    overwrite: bool,
    backup_count: usize,
) -> Result<PathBuf> {
    validate_name(name)?;
    fs::create_dir_all(checkpoints_dir).map_err(io_err(checkpoints_dir))?;
    let path = checkpoints_dir.join(name);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
        Ok(meta) => {
            if !overwrite {
                let modified = meta
                    .modified()
                    .map(rfc3339_utc)
                    .unwrap_or_else(|_| "unknown".into());
                return Err(CheckpointError::RunExists { path, modified });
            }
            if backup_count == 0 {
                discard(checkpoints_dir, name)?;
            } else {
                let bak = format!("{name}.bak");
                let mut slots: Vec<(usize, String)> = Vec::new();
                for entry in fs::read_dir(checkpoints_dir).map_err(io_err(checkpoints_dir))? {
                    let entry = entry.map_err(io_err(checkpoints_dir))?;
                    let Ok(n) = entry.file_name().into_string() else {
                        continue;
                    };
                    if n == bak {
                        slots.push((0, n));
                    } else if let Some(i) = n
                        .strip_prefix(&bak)
                        .and_then(|r| r.strip_prefix('.'))
                        .and_then(|r| numbered(r, ""))
                        .and_then(|i| usize::try_from(i).ok())
                    {
                        slots.push((i, n));
                    }
                }
                let existing: BTreeSet<usize> = slots.iter().map(|s| s.0).collect();
                for (i, n) in &slots {
                    if *i >= backup_count - 1 {
                        discard(checkpoints_dir, n)?;
                    }
                }
                for i in (0..backup_count - 1).rev() {
                    if existing.contains(&i) {
                        let from = checkpoints_dir.join(backup_name(name, i));
                        let to = checkpoints_dir.join(backup_name(name, i + 1));
                        fs::rename(&from, &to).map_err(io_err(&from))?;
                    }
                }
                let to = checkpoints_dir.join(&bak);
                fs::rename(&path, &to).map_err(io_err(&path))?;
            }
            fsync_dir(checkpoints_dir).map_err(io_err(checkpoints_dir))?;
        }
    }
    fs::create_dir(&path).map_err(io_err(&path))?;
    fsync_dir(checkpoints_dir).map_err(io_err(checkpoints_dir))?;
    Ok(path)
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Round toward negative infinity: -0.5 s is 1969-12-31T23:59:59.
            if d.subsec_nanos() > 0 {
                -s - 1
            } else {
                -s
            }
        }
    }
}

/// UTC calendar fields (year, month, day, hour, minute, second) of a time.
fn utc_fields(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = unix_seconds(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days to civil date (H. Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// A time as RFC 3339 in UTC, whole seconds: `2023-11-14T22:13:20Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_fields(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses what [`rfc3339_utc`] writes (`2023-11-14T22:13:20Z`; fractional seconds and a
/// `+00:00` suffix are accepted too). `None` for anything else.
pub fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&day)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    // Civil date to days (H. Hinnant's algorithm), the inverse of `utc_fields`.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    })
}

/// The default run name: `{backbone}_{YYYYMMDD_HHMMSS}` in UTC, e.g. `mlp_20231114_221320`.
pub fn default_run_name(backbone: &str, now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_fields(now);
    format!("{backbone}_{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339_utc(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(at(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(at(951_868_799)), "2000-02-29T23:59:59Z");
        for secs in [
            0,
            1_700_000_000,
            951_782_400,
            951_868_799,
            -86_401,
            4_102_444_800,
        ] {
            let s = rfc3339_utc(at(secs));
            assert_eq!(parse_rfc3339_utc(&s), Some(at(secs)), "{s}");
        }
        assert_eq!(
            parse_rfc3339_utc("2023-11-14T22:13:20.123+00:00"),
            Some(at(1_700_000_000))
        );
        for bad in [
            "",
            "2023-13-01T00:00:00Z",
            "2023-11-14 22:13:20",
            "x-1-1T0:0:0Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
        assert_eq!(rfc3339_utc(at(4_107_542_400)), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339_utc(at(-1)), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_millis(500)),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(rfc3339_utc(at(1_709_251_199)), "2024-02-29T23:59:59Z");
        assert_eq!(
            default_run_name("mlp", at(1_700_000_000)),
            "mlp_20231114_221320"
        );
    }

    #[test]
    fn dates_agree_with_a_day_by_day_walk() {
        // Walk 1970..2200 one day at a time and compare with a simple calendar.
        let mut days: i64 = 0;
        for year in 1970..2200i64 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (m, len) in lengths.iter().enumerate() {
                for d in 1..=*len {
                    let want = format!("{year:04}-{:02}-{d:02}T00:00:00Z", m + 1);
                    assert_eq!(rfc3339_utc(at(days * 86_400)), want);
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("epoch-0003").is_ok());
        for bad in ["", ".x", "a/b", "..", "a\\b", "a\0b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(numbered("epoch-0012", "epoch-"), Some(12));
        assert_eq!(numbered("epoch-", "epoch-"), None);
        assert_eq!(numbered("epoch-1a", "epoch-"), None);
        assert_eq!(numbered("best", "epoch-"), None);
    }
}
