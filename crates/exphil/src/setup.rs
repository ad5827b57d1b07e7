//! `exphil setup`: the interactive wizard (see `exphil_setup`) that asks what to train, on what
//! and where the replays are, prints the `exphil train …` command, and runs it when asked.

use anyhow::Result;
use clap::Args;
use exphil_setup::{detect, shell_line, wizard, Env, Lines, SetupError, Terminal};
use std::process::ExitCode;

/// `exphil setup` arguments.
#[derive(Args, Debug)]
pub struct SetupArgs {
    /// Ask with plain numbered questions read line by line, even on a terminal (the default
    /// off a terminal; on one, the menus take arrow keys).
    #[arg(long)]
    plain: bool,
}

/// Runs the wizard; `run` runs the command it ends in, when the answer is yes.
pub fn run(a: SetupArgs, run: &dyn Fn(&[String]) -> Result<ExitCode>) -> Result<ExitCode> {
    let machine = detect();
    let env = Env::new(std::env::vars().collect());
    let plan = if !a.plain && Terminal::available() {
        wizard(&mut Terminal::new(), &machine, &env)
    } else {
        // Questions on stderr: stdout holds only the command, for `exphil setup > cmd.sh`.
        let (stdin, stderr) = (std::io::stdin(), std::io::stderr());
        wizard(&mut Lines::new(stdin.lock(), stderr.lock()), &machine, &env)
    };
    let plan = match plan {
        Ok(p) => p,
        Err(SetupError::Cancelled) => {
            eprintln!("setup cancelled: nothing run");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e.into()),
    };
    let line = shell_line(
        &std::iter::once("exphil".to_string())
            .chain(plan.argv.iter().cloned())
            .collect::<Vec<_>>(),
    );
    println!("{line}");
    if plan.run {
        return run(&plan.argv);
    }
    Ok(ExitCode::SUCCESS)
}
