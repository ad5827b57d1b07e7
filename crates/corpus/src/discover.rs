//! Finding replay files under the paths a user gives.

use std::path::{Path, PathBuf};

/// Expands files and folders into a sorted, de-duplicated list of replay files.
///
/// Folders are walked recursively for `*.slp` files (case-insensitive; symbolic links to
/// folders are not followed, so a link loop cannot hang the walk). A file named directly is
/// taken whatever its extension. Paths that do not exist are returned as errors, in order.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut files, &mut errors),
            Ok(_) => files.push(path.clone()),
            Err(e) => errors.push((path.clone(), e.to_string())),
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn is_replay_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("slp"))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push((dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, errors),
            Ok(t) if t.is_file() && is_replay_name(&path) => files.push(path),
            Ok(t) if t.is_symlink() && is_replay_name(&path) && path.is_file() => files.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_recursively_and_reports_missing_paths() {
        let dir = std::env::temp_dir().join(format!("exphil-discover-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/x.SLP"), b"").unwrap();
        std::fs::write(dir.join("a/y.slp"), b"").unwrap();
        std::fs::write(dir.join("a/notes.txt"), b"").unwrap();
        let (files, errors) = discover(&[dir.clone(), dir.join("missing")]);
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(errors.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
