//! `exphil._native`: the Rust half of the `exphil` Python package. Replays decode through
//! `exphil-replay` into NumPy columns, folders scan through `exphil-corpus`, datasets load
//! through `exphil-dataset`'s loaders; the Python half (`python/exphil`) turns the columns into
//! Arrow tables and documents the API.
//!
//! No panic crosses into Python: every entry point runs its Rust work inside [`guarded`], which
//! turns a panic into the package's exception naming the file, and every input error is an
//! exception naming the file and the problem.
#![deny(missing_docs)]

mod columns;
mod dataset;
mod game;
#[cfg(feature = "policy")]
mod policy;
mod scan;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

create_exception!(
    exphil,
    ReplayError,
    PyValueError,
    "A replay that cannot be read: not a replay, unreadable, or damaged before its first frame. \
     The message names the file and the problem."
);
create_exception!(
    exphil,
    DatasetError,
    PyValueError,
    "A dataset that cannot be opened, built or loaded. The message names the directory or file \
     and the problem."
);

/// Runs `work` (Rust only, no Python calls) with the GIL released, turning a panic into
/// `on_panic(message)` instead of unwinding into the interpreter.
pub(crate) fn guarded<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> PyResult<T> + Send,
    on_panic: impl FnOnce(String) -> PyErr + Send,
) -> PyResult<T> {
    py.detach(|| match catch_unwind(AssertUnwindSafe(work)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(on_panic(format!("internal error (a bug in exphil): {msg}")))
        }
    })
}

/// Panics inside [`guarded`] on purpose, for the test that no panic crosses into Python: it must
/// raise `ReplayError` naming `path`.
#[pyfunction]
fn panic_selftest(py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
    let p = path.clone();
    guarded(
        py,
        move || -> PyResult<()> { panic!("deliberate panic while reading {}", path.display()) },
        |msg| ReplayError::new_err(format!("{}: {msg}", p.display())),
    )
}

/// The native module of the `exphil` package (use `exphil`, which re-exports it with docs).
#[pymodule(name = "_native")]
mod native {
    #[pymodule_export]
    use super::{DatasetError, ReplayError};

    #[pymodule_export]
    use super::game::{read_replay, Game};

    #[pymodule_export]
    use super::scan::scan;

    #[pymodule_export]
    use super::dataset::{build_dataset, Dataset, Epoch};

    #[pymodule_export]
    use super::game::decode_only;

    #[pymodule_export]
    use super::panic_selftest;

    #[cfg(feature = "policy")]
    #[pymodule_export]
    use super::policy::{write_untrained_policy, Policy, PolicyError};
}
