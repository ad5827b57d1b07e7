//! The HTTP side: binding, routing, JSON answers and the event stream.

use crate::runs::{self, RunSummary};
use crate::scalars::Store;
use crate::{DashboardError, Options};
use serde::Serialize;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

/// How often the watcher looks for new points and run changes.
const POLL: Duration = Duration::from_secs(1);
/// How long an event stream may stay silent before a comment keeps it open.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// The most points in one `scalars` event.
const BATCH: usize = 500;

/// The page, its style and its script put together once.
fn page() -> String {
    include_str!("page/index.html")
        .replace("/*STYLE*/", include_str!("page/style.css"))
        .replace("/*SCRIPT*/", include_str!("page/app.js"))
}

/// What an event stream is sent: the event's name and its JSON data.
type Message = (&'static str, String);

/// What every request thread shares.
struct State {
    checkpoints: PathBuf,
    page: String,
    store: Mutex<Store>,
    subscribers: Mutex<Vec<Sender<Message>>>,
    /// The run list as last sent (without its steps), to tell when it changes.
    last_runs: Mutex<Vec<RunKey>>,
}

/// What of a run, when it changes, is sent as a `runs` event.
#[derive(Clone, Debug, PartialEq)]
struct RunKey {
    id: String,
    status: Option<String>,
    training_type: Option<String>,
    parent: Option<String>,
}

/// An error answer.
#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Reads what is new in the event files; sends new points to the event streams.
    fn refresh(&self) {
        let runs: Vec<(String, PathBuf)> = runs::run_dirs(&self.checkpoints)
            .into_iter()
            .map(|d| (d.name(), d.path().to_path_buf()))
            .collect();
        // Sent under the store's lock, so that streams get the points in the order read (a
        // client drops the points after an earlier step, as the store does for a resumed run).
        let mut store = lock(&self.store);
        let new = store.refresh(&runs);
        for batch in new.chunks(BATCH) {
            self.broadcast("scalars", batch);
        }
        drop(store);
    }

    /// The run list, with steps and losses from the event files.
    fn run_list(&self) -> Vec<RunSummary> {
        let mut list: Vec<RunSummary> = runs::run_dirs(&self.checkpoints)
            .iter()
            .map(runs::summary)
            .collect();
        let store = lock(&self.store);
        for s in &mut list {
            s.latest_step = store.latest_step(&s.id);
            if let Some(v) = store.best_val_loss(&s.id) {
                s.best_val_loss = Some(v);
            }
            s.warnings.extend(store.warnings(&s.id));
        }
        list
    }

    /// One watcher round: new points, then the run list when it changed.
    fn poll(&self) {
        self.refresh();
        let list = self.run_list();
        let keys: Vec<RunKey> = list
            .iter()
            .map(|s| RunKey {
                id: s.id.clone(),
                status: s.status.clone(),
                training_type: s.training_type.clone(),
                parent: s.parent.clone(),
            })
            .collect();
        let changed = {
            let mut last = lock(&self.last_runs);
            let changed = *last != keys;
            *last = keys;
            changed
        };
        if changed {
            self.broadcast("runs", &list);
        }
    }

    /// Sends `data` as event `name` to every open event stream, forgetting closed ones.
    fn broadcast<T: Serialize + ?Sized>(&self, name: &'static str, data: &T) {
        let Ok(json) = serde_json::to_string(data) else {
            return;
        };
        lock(&self.subscribers).retain(|tx| tx.send((name, json.clone())).is_ok());
    }
}

/// See [`crate::serve`].
pub(crate) fn serve(opts: &Options, ready: impl FnOnce(SocketAddr)) -> Result<(), DashboardError> {
    let addr_err = |reason: String| DashboardError::Address {
        host: opts.host.clone(),
        port: opts.port,
        reason,
    };
    let addr = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| addr_err(e.to_string()))?
        .next()
        .ok_or_else(|| addr_err("it resolves to no address".into()))?;
    if let Err(e) = std::fs::read_dir(&opts.checkpoints) {
        return Err(DashboardError::Checkpoints {
            path: opts.checkpoints.clone(),
            reason: e.to_string(),
        });
    }
    let listener =
        TcpListener::bind(addr).map_err(|source| DashboardError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| DashboardError::Bind { addr, source })?;
    let stopped = |reason: String| DashboardError::Stopped {
        addr: bound,
        reason,
    };
    let server = Server::from_listener(listener, None).map_err(|e| stopped(e.to_string()))?;
    let state = Arc::new(State {
        checkpoints: opts.checkpoints.clone(),
        page: page(),
        store: Mutex::new(Store::new()),
        subscribers: Mutex::new(Vec::new()),
        last_runs: Mutex::new(Vec::new()),
    });
    state.poll();
    let watcher = Arc::clone(&state);
    std::thread::Builder::new()
        .name("dashboard-watch".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            watcher.poll();
        })
        .map_err(|e| stopped(format!("cannot start the watcher thread: {e}")))?;
    ready(bound);
    loop {
        let request = server.recv().map_err(|e| stopped(e.to_string()))?;
        let state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("dashboard-request".into())
            .spawn(move || handle(&state, request))
            .map_err(|e| stopped(format!("cannot start a request thread: {e}")))?;
    }
}

/// A header from static text.
fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid static header")
}

/// Sends `value` as JSON with `status`.
fn respond_json<T: Serialize + ?Sized>(request: Request, status: u16, value: &T) {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| {
        serde_json::to_vec(&ApiError {
            error: e.to_string(),
        })
        .unwrap_or_default()
    });
    let response = Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"));
    // The client may have gone; nothing to do then.
    let _ = request.respond(response);
}

/// Sends an error answer.
fn respond_error(request: Request, status: u16, error: impl Into<String>) {
    respond_json(
        request,
        status,
        &ApiError {
            error: error.into(),
        },
    );
}

/// `%XX` sequences decoded (invalid ones kept as they are); `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `key` in a query string.
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Answers one request.
fn handle(state: &State, request: Request) {
    if *request.method() != Method::Get {
        return respond_error(request, 405, "only GET is served");
    }
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    match path {
        "/" | "/index.html" => {
            let response = Response::from_string(state.page.clone())
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Cache-Control", "no-store"));
            let _ = request.respond(response);
        }
        "/api/runs" => {
            state.refresh();
            respond_json(request, 200, &state.run_list());
        }
        "/api/league" => {
            let (leagues, _warnings) = runs::leagues(&state.checkpoints);
            respond_json(request, 200, &leagues);
        }
        "/api/events" => events(state, request),
        _ => match path.strip_prefix("/api/runs/") {
            Some(rest) => run_route(state, request, rest, query),
            None => respond_error(request, 404, format!("no such page: {path}")),
        },
    }
}

/// `/api/runs/{id}` and `/api/runs/{id}/scalars`; `rest` is what follows `/api/runs/`.
fn run_route(state: &State, request: Request, rest: &str, query: &str) {
    let (raw_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(id) = percent_decode(raw_id).filter(|id| runs::valid_run_id(id)) else {
        return respond_error(request, 400, format!("not a run id: {raw_id:?}"));
    };
    if !matches!(tail, "" | "scalars") {
        return respond_error(request, 404, format!("no such page: /api/runs/{rest}"));
    }
    let Some(dir) = runs::find(&state.checkpoints, &id) else {
        return respond_error(request, 404, format!("no run {id:?}"));
    };
    if tail.is_empty() {
        return respond_json(request, 200, &runs::detail(&dir));
    }
    let since = match query_value(query, "since").map(str::parse::<i64>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => return respond_error(request, 400, "since must be a whole step number"),
    };
    state.refresh();
    let scalars = lock(&state.store).scalars(&id, since);
    respond_json(request, 200, &scalars);
}

/// Writes one server-sent event.
fn write_event(out: &mut dyn Write, name: &str, data: &str) -> std::io::Result<()> {
    write!(out, "event: {name}\ndata: {data}\n\n")?;
    out.flush()
}

/// `/api/events`: holds the connection and sends what the watcher finds.
fn events(state: &State, request: Request) {
    let (tx, rx) = mpsc::channel::<Message>();
    lock(&state.subscribers).push(tx);
    let mut out = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 1000\n\n";
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let list = serde_json::to_string(&state.run_list()).unwrap_or_default();
    if write_event(&mut out, "runs", &list).is_err() {
        return;
    }
    loop {
        let sent = match rx.recv_timeout(HEARTBEAT) {
            Ok((name, data)) => write_event(&mut out, name, &data),
            Err(RecvTimeoutError::Timeout) => {
                out.write_all(b": heartbeat\n\n").and_then(|()| out.flush())
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_and_queries() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(query_value("a=1&since=42", "since"), Some("42"));
        assert_eq!(query_value("a=1", "since"), None);
    }
}
