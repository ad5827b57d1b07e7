//! A fresh Dolphin user directory per instance (FORMATS §2), so many can run side by side:
//! the spectator server on, background input, pipe controllers on the ports exphil drives
//! (their FIFOs made before Dolphin starts), blocking pipes for lock-step, optionally a Gecko
//! code list with the menu-info code; and launching Dolphin on it.

use crate::pipe::{make_fifo, PipeError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A user-directory or launch failure, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum UserDirError {
    /// A file could not be read or written.
    #[error("{path}: {what}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        what: String,
    },
    /// A controller pipe could not be made.
    #[error(transparent)]
    Pipe(#[from] PipeError),
}

fn io(path: &Path, e: impl std::fmt::Display) -> UserDirError {
    UserDirError::Io {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

/// What the user directory sets.
#[derive(Clone, Debug)]
pub struct UserDirOptions {
    /// The spectator server's UDP port.
    pub spectator_port: u16,
    /// Ports (1-based) given pipe controllers.
    pub pipe_ports: Vec<u8>,
    /// Whether Dolphin waits for each frame's `FLUSH` (lock-step).
    pub blocking_pipes: bool,
    /// Slippi Online input delay (frames).
    pub online_delay: u8,
    /// A Gecko code list (`GALE01r2.ini`) to install, e.g. one with a menu-info code.
    pub gecko_ini: Option<PathBuf>,
    /// An existing user directory to start from (Slippi login, graphics settings), copied
    /// without its FIFOs.
    pub copy_from: Option<PathBuf>,
}

/// Sets `key = value` in `[section]` of an ini text (keys compared without case), adding the
/// section or the key when missing, and keeping everything else.
pub fn set_ini(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = format!("[{section}]");
    let start = lines
        .iter()
        .position(|l| l.trim().eq_ignore_ascii_case(&header));
    let Some(start) = start else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push(header);
        lines.push(format!("{key} = {value}"));
        return lines.join("\n") + "\n";
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let found = (start + 1..end).find(|&i| {
        lines[i]
            .split_once('=')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(key))
    });
    match found {
        Some(i) => lines[i] = format!("{key} = {value}"),
        None => {
            // After the section's last non-blank line.
            let mut at = end;
            while at > start + 1 && lines[at - 1].trim().is_empty() {
                at -= 1;
            }
            lines.insert(at, format!("{key} = {value}"));
        }
    }
    lines.join("\n") + "\n"
}

/// The `GCPadNew.ini` section giving `port` (1-based) to its pipe.
pub fn pad_section(port: u8) -> String {
    let mut s = format!("[GCPad{port}]\nDevice = Pipe/0/slippibot{port}\n");
    for b in ["A", "B", "X", "Y", "Z", "L", "R"] {
        s += &format!("Buttons/{b} = Button {b}\n");
    }
    s += "Buttons/Start = Button START\n";
    for (dir, axis) in [
        ("Up", "Y +"),
        ("Down", "Y -"),
        ("Left", "X -"),
        ("Right", "X +"),
    ] {
        s += &format!("Main Stick/{dir} = Axis MAIN {axis}\n");
        s += &format!("C-Stick/{dir} = Axis C {axis}\n");
    }
    s += "Main Stick/Radius = 100.0\nC-Stick/Radius = 100.0\n";
    s += "Triggers/L = Button L\nTriggers/R = Button R\n";
    s += "Triggers/L-Analog = Axis L -+\nTriggers/R-Analog = Axis R -+\n";
    s += "Triggers/Threshold = 90.0\n";
    for (dir, b) in [
        ("Up", "D_UP"),
        ("Down", "D_DOWN"),
        ("Left", "D_LEFT"),
        ("Right", "D_RIGHT"),
    ] {
        s += &format!("D-Pad/{dir} = Button {b}\n");
    }
    s
}

/// A prepared user directory; removed when dropped.
pub struct UserDir {
    _temp: tempfile::TempDir,
    /// The directory to pass as `-u`.
    pub path: PathBuf,
}

impl UserDir {
    /// The FIFO of `port`'s pipe controller.
    pub fn pipe(&self, port: u8) -> PathBuf {
        pipe_path(&self.path, port)
    }
}

/// The FIFO of `port`'s pipe controller in user directory `user`.
pub fn pipe_path(user: &Path, port: u8) -> PathBuf {
    user.join("Pipes").join(format!("slippibot{port}"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), UserDirError> {
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest).map_err(|e| io(&entry.path(), e))?;
        }
        // FIFOs, sockets and links are not copied.
    }
    Ok(())
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) -> Result<(), UserDirError> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(path, e)),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(path, f(old)).map_err(|e| io(path, e))
}

/// Makes a fresh user directory (under the system temporary directory) set up as `opts` says.
pub fn prepare(opts: &UserDirOptions) -> Result<UserDir, UserDirError> {
    let temp = tempfile::Builder::new()
        .prefix("exphil-dolphin-")
        .tempdir()
        .map_err(|e| io(&std::env::temp_dir(), e))?;
    let user = temp.path().join("User");
    match &opts.copy_from {
        Some(from) => copy_dir(from, &user)?,
        None => std::fs::create_dir_all(&user).map_err(|e| io(&user, e))?,
    }
    let config = user.join("Config");
    edit(&config.join("Dolphin.ini"), |mut t| {
        let core = [
            ("SlippiEnableSpectator", "True".to_string()),
            ("SlippiSpectatorLocalPort", opts.spectator_port.to_string()),
            ("SlippiOnlineDelay", opts.online_delay.to_string()),
            (
                "BlockingPipes",
                if opts.blocking_pipes { "True" } else { "False" }.into(),
            ),
            ("EnableCheats", "True".into()),
        ];
        for (k, v) in core {
            t = set_ini(&t, "Core", k, &v);
        }
        for &p in &opts.pipe_ports {
            t = set_ini(&t, "Core", &format!("SIDevice{}", p - 1), "6");
        }
        set_ini(&t, "Input", "BackgroundInput", "True")
    })?;
    edit(&config.join("GCPadNew.ini"), |t| {
        // Replace the sections of the piped ports, keep the others.
        let mut out = String::new();
        let mut skip = false;
        for line in t.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                skip = opts
                    .pipe_ports
                    .iter()
                    .any(|p| l.eq_ignore_ascii_case(&format!("[GCPad{p}]")));
            }
            if !skip {
                out += line;
                out += "\n";
            }
        }
        for &p in &opts.pipe_ports {
            out += &pad_section(p);
        }
        out
    })?;
    if let Some(gecko) = &opts.gecko_ini {
        let dest = user.join("GameSettings").join("GALE01r2.ini");
        std::fs::create_dir_all(dest.parent().expect("parent")).map_err(|e| io(&dest, e))?;
        std::fs::copy(gecko, &dest).map_err(|e| io(gecko, e))?;
    }
    for &p in &opts.pipe_ports {
        make_fifo(&pipe_path(&user, p))?;
    }
    Ok(UserDir {
        _temp: temp,
        path: user,
    })
}

/// A running Dolphin, stopped when dropped.
pub struct Dolphin {
    child: Child,
}

impl Dolphin {
    /// Starts Slippi Dolphin (`path`: the executable or AppImage, or the folder holding
    /// `dolphin-emu`, or a macOS `.app`) on `iso` with user directory `user`.
    pub fn launch(path: &Path, iso: &Path, user: &Path) -> Result<Dolphin, UserDirError> {
        let exe = if path.is_dir() {
            let app = path.join("Contents/MacOS/Slippi Dolphin");
            if app.is_file() {
                app
            } else {
                path.join("dolphin-emu")
            }
        } else {
            path.to_path_buf()
        };
        if !exe.is_file() {
            return Err(io(&exe, "no Dolphin executable here"));
        }
        if !iso.is_file() {
            return Err(io(iso, "no Melee disc image here"));
        }
        let child = Command::new(&exe)
            .arg("-e")
            .arg(iso)
            .arg("-u")
            .arg(user)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| io(&exe, format!("starting Dolphin: {e}")))?;
        Ok(Dolphin { child })
    }

    /// Whether Dolphin has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Dolphin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
