//! Controller out: Dolphin's named-pipe controllers (FORMATS §2). Each frame is one batch of
//! ASCII commands giving the whole pad (so a lost batch never leaves a button stuck), ended by
//! `FLUSH`. With a blocking pipe Dolphin waits for each `FLUSH`: lock-step.

use exphil_state::Controller;
use std::ffi::CString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every button the pipe knows, in the order a batch lists them.
pub const PAD_BUTTONS: [&str; 12] = [
    "A", "B", "X", "Y", "Z", "L", "R", "START", "D_UP", "D_DOWN", "D_LEFT", "D_RIGHT",
];

/// Index of a button in [`PAD_BUTTONS`].
pub fn button(name: &str) -> usize {
    PAD_BUTTONS
        .iter()
        .position(|b| *b == name)
        .unwrap_or_else(|| panic!("no pad button {name}"))
}

/// A whole GameCube pad: sticks in [0, 1] (0.5 neutral), analog shoulders in [0, 1], and
/// buttons by [`PAD_BUTTONS`] index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad {
    /// Main stick.
    pub main: (f32, f32),
    /// C-stick.
    pub c: (f32, f32),
    /// Analog L.
    pub l: f32,
    /// Analog R.
    pub r: f32,
    /// Buttons pressed (bit i = `PAD_BUTTONS[i]`).
    pub buttons: u16,
}

impl Pad {
    /// Nothing pressed, sticks centred.
    pub const NEUTRAL: Pad = Pad {
        main: (0.5, 0.5),
        c: (0.5, 0.5),
        l: 0.0,
        r: 0.0,
        buttons: 0,
    };

    /// Whether button `name` is pressed.
    pub fn pressed(&self, name: &str) -> bool {
        self.buttons >> button(name) & 1 == 1
    }

    /// This pad with button `name` pressed.
    pub fn press(mut self, name: &str) -> Pad {
        self.buttons |= 1 << button(name);
        self
    }

    /// The commands of one frame, ending with `FLUSH`.
    pub fn batch(&self) -> String {
        let clamp = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.5
            }
        };
        let mut s = String::with_capacity(256);
        for (i, name) in PAD_BUTTONS.iter().enumerate() {
            let verb = if self.buttons >> i & 1 == 1 {
                "PRESS"
            } else {
                "RELEASE"
            };
            let _ = writeln!(s, "{verb} {name}");
        }
        let _ = writeln!(
            s,
            "SET MAIN {:.4} {:.4}",
            clamp(self.main.0),
            clamp(self.main.1)
        );
        let _ = writeln!(s, "SET C {:.4} {:.4}", clamp(self.c.0), clamp(self.c.1));
        let _ = writeln!(s, "SET L {:.4}", clamp(self.l));
        let _ = writeln!(s, "SET R {:.4}", clamp(self.r));
        s.push_str("FLUSH\n");
        s
    }
}

impl From<&Controller> for Pad {
    /// The policy's controller: its eight buttons (A B X Y Z L R D-up) and its one analog
    /// shoulder (given to L).
    fn from(c: &Controller) -> Pad {
        let mut buttons = 0u16;
        for (i, name) in exphil_state::BUTTON_NAMES.iter().enumerate() {
            if c.buttons.pressed(i) {
                buttons |= 1 << button(name);
            }
        }
        Pad {
            main: (c.main_x, c.main_y),
            c: (c.c_x, c.c_y),
            l: c.shoulder,
            r: 0.0,
            buttons,
        }
    }
}

/// A pipe failure, naming the pipe.
#[derive(Debug, thiserror::Error)]
#[error("controller pipe {path}: {what}")]
pub struct PipeError {
    /// The pipe.
    pub path: PathBuf,
    /// What went wrong.
    pub what: String,
}

/// Creates the FIFO at `path` (owner read/write) unless one is there; refuses a non-FIFO.
pub fn make_fifo(path: &Path) -> Result<(), PipeError> {
    use std::os::unix::fs::FileTypeExt;
    let err = |what: String| PipeError {
        path: path.to_path_buf(),
        what,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(()),
        Ok(_) => return Err(err("exists and is not a FIFO".into())),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("creating its directory: {e}")))?;
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| err(e.to_string()))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(err(format!("mkfifo: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

/// The writing end of one controller pipe.
pub struct ControllerPipe {
    file: File,
    path: PathBuf,
    blocking: bool,
    /// Batches not written because the pipe was full (non-blocking mode only).
    pub dropped: u64,
    /// Batches written.
    pub written: u64,
}

impl ControllerPipe {
    /// Opens the FIFO at `path` for writing, waiting up to `timeout` for its reader (Dolphin
    /// opens it once the game boots). `blocking`: each write waits for room (lock-step with a
    /// reader that waits for `FLUSH`); otherwise a batch that does not fit is dropped.
    pub fn open(
        path: &Path,
        blocking: bool,
        timeout: Duration,
    ) -> Result<ControllerPipe, PipeError> {
        let err = |what: String| PipeError {
            path: path.to_path_buf(),
            what,
        };
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| err(e.to_string()))?;
        let end = Instant::now() + timeout;
        let fd = loop {
            // SAFETY: a valid path; O_NONBLOCK makes the open fail (ENXIO) with no reader
            // instead of hanging.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                break fd;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENXIO) {
                return Err(err(format!("opening: {e}")));
            }
            if Instant::now() >= end {
                return Err(err(format!(
                    "nobody opened it for reading within {:.0} s (did Dolphin start with this \
                     user directory, and is the port's controller set to the pipe?)",
                    timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: `fd` is a fresh descriptor we own.
        let file = unsafe { File::from_raw_fd(fd) };
        if blocking {
            // SAFETY: fcntl on our own descriptor.
            unsafe {
                let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        Ok(ControllerPipe {
            file,
            path: path.to_path_buf(),
            blocking,
            dropped: 0,
            written: 0,
        })
    }

    /// Writes one frame's batch. A batch is far under `PIPE_BUF`, so it is written whole or
    /// (non-blocking, pipe full) not at all.
    pub fn send(&mut self, pad: &Pad) -> Result<(), PipeError> {
        let batch = pad.batch();
        match self.file.write(batch.as_bytes()) {
            Ok(n) if n == batch.len() => {
                self.written += 1;
                Ok(())
            }
            Ok(n) => Err(PipeError {
                path: self.path.clone(),
                what: format!("short write ({n} of {} bytes)", batch.len()),
            }),
            Err(e) if !self.blocking && e.kind() == std::io::ErrorKind::WouldBlock => {
                self.dropped += 1;
                Ok(())
            }
            Err(e) => Err(PipeError {
                path: self.path.clone(),
                what: if e.kind() == std::io::ErrorKind::BrokenPipe {
                    "Dolphin closed it (did Dolphin exit?)".into()
                } else {
                    format!("writing: {e}")
                },
            }),
        }
    }
}
