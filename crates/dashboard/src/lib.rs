//! A local training dashboard, without the ML framework: a small HTTP server over a checkpoints
//! folder that shows its runs (status, type, lineage), their TensorBoard curves, evaluations,
//! configs and league Elo tables, and pushes new points to the page as the runs write them.
//!
//! [`serve`] binds, then answers on a thread per request:
//!
//! | path | what |
//! | --- | --- |
//! | `GET /` | the page: HTML, CSS and JS embedded in the binary, charts drawn as SVG by the page |
//! | `GET /api/runs` | the runs ([`runs::RunSummary`]) |
//! | `GET /api/runs/{id}` | one run: its `config.json`, `metrics.jsonl` lines and evaluations ([`runs::RunDetail`]) |
//! | `GET /api/runs/{id}/scalars?since=STEP` | `{tag: [[step, wall_time, value], …]}`, points after `STEP` (all without it) |
//! | `GET /api/league` | the latest Elo table of each PPO or self-play run ([`runs::League`]) |
//! | `GET /api/events` | server-sent events: `scalars` (batches of [`scalars::NewPoint`]) and `runs` (the run list when it changes), a comment heartbeat |
//!
//! Everything is read from the folder as the runs write it: a run directory being written, a
//! half-written `config.json` or a truncated event file never breaks a page or an answer (what
//! could not be read is reported in a `warnings` field).
#![deny(missing_docs)]

pub mod runs;
pub mod scalars;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where to serve and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The checkpoints folder: one run directory per run, and `registry.json`.
    pub checkpoints: PathBuf,
    /// The address to bind (`127.0.0.1` by default: the dashboard is for this machine).
    pub host: String,
    /// The port to bind; 0 picks a free one (see the address given to `serve`'s `ready`).
    pub port: u16,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            checkpoints: PathBuf::from("checkpoints"),
            host: "127.0.0.1".into(),
            port: 0,
        }
    }
}

/// What stops the dashboard. Every message names the address or the path.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The host and port do not make an address.
    #[error("{host}:{port} is not an address to serve on ({reason})")]
    Address {
        /// The host given.
        host: String,
        /// The port given.
        port: u16,
        /// Why.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot serve on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The checkpoints folder is not a readable folder.
    #[error("{path}: not a checkpoints folder ({reason})")]
    Checkpoints {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server stopped taking connections.
    #[error("the dashboard on {addr} stopped: {reason}")]
    Stopped {
        /// The address it served on.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Serves the dashboard of `opts.checkpoints` on `opts.host:opts.port`: binds, calls `ready`
/// with the bound address (the port chosen when `opts.port` is 0), and answers requests, each on
/// its own thread (an open event stream holds only its own), until the process ends. A thread
/// watches the runs' event files every second for the event streams.
pub fn serve(opts: &Options, ready: impl FnOnce(SocketAddr)) -> Result<(), DashboardError> {
    server::serve(opts, ready)
}
