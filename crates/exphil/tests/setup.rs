//! `exphil setup` as a user meets it: in a pseudo-terminal, arrow keys move through its menus
//! and Enter takes the default everywhere else, ending in the printed `exphil train` command;
//! with plain line input (a pipe), Enter throughout ends in the quick preset's command on the
//! replays of `$EXPHIL_REPLAYS_DIR`. The pseudo-terminal is driven by Python's `pty` module
//! (the test fails, not skips, under CI without `EXPHIL_PYTHON`).

mod common;

use common::{isolated, s, text};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `exphil setup` in a 24×80 pseudo-terminal, sending each of `keys` once the program has
/// been quiet for a moment; returns everything it wrote.
const PTY: &str = r#"
import fcntl, os, pty, select, struct, sys, termios, time
exe, keys = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "setup"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
out = b""
def drain(quiet, limit=60.0):
    global out
    end, last = time.time() + limit, time.time()
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
            last = time.time()
        elif time.time() - last > quiet:
            return True
    return True
for k in keys:
    if not drain(0.8):
        break
    os.write(fd, k.encode().decode("unicode_escape").encode())
drain(2.0)
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
"#;

#[test]
fn the_wizard_takes_arrow_keys_on_a_terminal_and_enter_everywhere() {
    let home = tempfile::tempdir().unwrap();
    let games = exphil_testdata::replays_dir().join("games");
    // Plain input: Enter to every question (and end of input) gives the quick command.
    let mut c = isolated(home.path())
        .arg("setup")
        .env("EXPHIL_REPLAYS_DIR", &games)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"\n\n\n\n\n\n").unwrap();
    let o = c.wait_with_output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        last,
        format!("exphil train --preset quick --replays {}", s(&games)),
        "{out}"
    );
    assert!(
        out.contains("37 replays") || out.contains("37 replay"),
        "{out}"
    );

    // A terminal: Down then Enter picks the second goal (a character model); Enter takes
    // every other default, and "Run it now?" defaults to no.
    let Ok(py) = std::env::var("EXPHIL_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set EXPHIL_PYTHON (the pseudo-terminal is Python's)"
        );
        eprintln!("EXPHIL_PYTHON not set: the pseudo-terminal half did not run");
        return;
    };
    let o = Command::new(py)
        .args(["-c", PTY, env!("CARGO_BIN_EXE_exphil")])
        .args(["\\x1b[B\\r", "\\r", "\\r", "\\r", "\\r", "\\r", "\\r"])
        .env("HOME", home.path())
        .env("EXPHIL_REPLAYS_DIR", &games)
        .env_remove("EXPHIL_CHECKPOINTS_DIR")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    let command = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("exphil train"))
        .unwrap_or_else(|| panic!("no command in {out}"));
    assert!(command.contains("--train-character"), "{command}\n{out}");
    assert!(command.contains(s(&games)), "{command}");
}
