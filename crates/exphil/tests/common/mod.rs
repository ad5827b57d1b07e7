//! Helpers shared by the end-to-end tests of the `exphil` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `exphil` binary with `args`.
pub fn exphil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exphil"))
        .args(args)
        .output()
        .expect("run exphil")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
