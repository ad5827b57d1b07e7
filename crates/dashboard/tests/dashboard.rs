//! The dashboard served on a temporary checkpoints folder: its API through a raw HTTP/1.1
//! client, its event stream, and its page in headless Chromium.

use exphil_dashboard::{serve, Options};
use exphil_report::tensorboard::EventWriter;
use exphil_runs::rundir::{RunDir, RunFile};
use exphil_testdata::browser::Browser;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Writes the record of run `name` in `ckpt`.
fn write_run(ckpt: &Path, name: &str, file: RunFile) -> PathBuf {
    let dir = ckpt.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    RunDir::new(&dir).write(&file).unwrap();
    dir
}

/// A checkpoints folder with an imitation run `base` (completed, 10 steps of `train/loss`,
/// `val/loss` at 5 and 10, one evaluation, two epochs in `metrics.jsonl`) and a PPO run `ppo`
/// from it (running, with an Elo table), and returns the `ppo` run's directory.
fn checkpoints(ckpt: &Path) -> PathBuf {
    let base = write_run(
        ckpt,
        "base",
        RunFile {
            status: Some("completed".into()),
            training_type: Some("imitation".into()),
            created_at: Some("2026-01-01T00:00:00Z".into()),
            results: json!({"best_val_loss": 0.9}),
            ..RunFile::default()
        },
    );
    let mut w = EventWriter::create(&base.join("tensorboard")).unwrap();
    for step in 1..=10 {
        w.scalars(
            step,
            &[("train/loss", 2.0 / step as f64), ("train/lr", 1e-3)],
        )
        .unwrap();
    }
    w.scalar("val/loss", 5, 0.8).unwrap();
    w.scalar("val/loss", 10, 0.5).unwrap();
    drop(w);
    std::fs::write(
        base.join("metrics.jsonl"),
        "{\"epoch\":1,\"train_loss\":1.5}\n{\"epoch\":2,\"train_loss\":1.1}\n{\"epo",
    )
    .unwrap();
    std::fs::write(
        base.join("eval_abc123.json"),
        json!({"summary": {"games": 4, "accuracy": 0.5}}).to_string(),
    )
    .unwrap();
    let mut ppo = RunFile {
        status: Some("running".into()),
        training_type: Some("ppo".into()),
        parent: Some("base".into()),
        created_at: Some("2026-01-02T00:00:00Z".into()),
        ..RunFile::default()
    };
    let elo = json!([{"name": "learner", "rating": 1100.0, "games": 8},
                     {"name": "bot:random", "rating": 900.0, "games": 8}]);
    ppo.other.insert(
        "ppo".into(),
        json!({"history": [{"update": 1, "timesteps": 512, "elo": [], "stats": {}},
                           {"update": 2, "timesteps": 1024, "elo": elo, "stats": {}}]}),
    );
    write_run(ckpt, "ppo", ppo)
}

/// Starts the dashboard of `ckpt` on a free port of 127.0.0.1 and returns its address.
fn start(ckpt: &Path) -> SocketAddr {
    let opts = Options {
        checkpoints: ckpt.to_path_buf(),
        ..Options::default()
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = serve(&opts, |addr| tx.send(addr).unwrap());
        panic!("the dashboard stopped: {result:?}");
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// `GET path` over a raw HTTP/1.1 connection: the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// `GET path` answered 200 with JSON.
fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_api_lists_runs_scalars_details_and_leagues() {
    let tmp = tempfile::tempdir().unwrap();
    checkpoints(tmp.path());
    // A half-written run: its config.json is torn.
    std::fs::create_dir_all(tmp.path().join("torn")).unwrap();
    std::fs::write(tmp.path().join("torn/config.json"), "{\"status\": \"runn").unwrap();
    let addr = start(tmp.path());

    let runs = get_json(addr, "/api/runs");
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["base", "ppo", "torn"]);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["training_type"], "imitation");
    assert_eq!(runs[0]["latest_step"], 10);
    assert_eq!(
        runs[0]["best_val_loss"], 0.5,
        "the event files' lowest val/loss"
    );
    assert_eq!(runs[0]["created"], "2026-01-01T00:00:00Z");
    assert_eq!(runs[1]["parent"], "base");
    assert_eq!(runs[1]["training_type"], "ppo");
    assert_eq!(runs[1]["latest_step"], Value::Null, "no event files");
    assert_eq!(runs[2]["status"], Value::Null);
    assert!(runs[2]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("config.json"));

    let scalars = get_json(addr, "/api/runs/base/scalars");
    assert_eq!(scalars["train/loss"].as_array().unwrap().len(), 10);
    assert_eq!(scalars["train/loss"][0][0], 1);
    assert_eq!(scalars["train/loss"][0][2], 2.0);
    let since = get_json(addr, "/api/runs/base/scalars?since=7");
    let steps: Vec<i64> = since["train/loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [8, 9, 10]);
    assert_eq!(since["val/loss"].as_array().unwrap().len(), 1);
    assert_eq!(get(addr, "/api/runs/base/scalars?since=x").0, 400);

    let detail = get_json(addr, "/api/runs/base");
    assert_eq!(detail["config"]["status"], "completed");
    assert_eq!(
        detail["metrics"].as_array().unwrap().len(),
        2,
        "torn line left out"
    );
    assert_eq!(detail["evals"][0]["replays_hash"], "abc123");
    assert_eq!(detail["evals"][0]["result"]["summary"]["games"], 4);
    let torn = get_json(addr, "/api/runs/torn");
    assert_eq!(torn["config"], Value::Null);
    assert_eq!(torn["warnings"].as_array().unwrap().len(), 1);

    let league = get_json(addr, "/api/league");
    assert_eq!(league.as_array().unwrap().len(), 1);
    assert_eq!(league[0]["run"], "ppo");
    assert_eq!(league[0]["update"], 2);
    assert_eq!(league[0]["elo"][0]["name"], "learner");

    for bad in [
        "/api/runs/../registry.json",
        "/api/runs/..%2F..%2Fetc/scalars",
        "/api/runs/a%2Fb",
        "/api/runs/..",
    ] {
        let (status, body) = get(addr, bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    }
    let (status, body) = get(addr, "/nothing/here");
    assert_eq!(status, 404);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    assert_eq!(get(addr, "/api/runs/nope").0, 404);
    assert_eq!(get(addr, "/api/runs/base/other").0, 404);
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<svg") || page.contains("createElementNS"));
    assert!(!page.contains("/*SCRIPT*/") && !page.contains("http://cdn"));
}

/// Reads server-sent events from `stream` until `done` holds for the events so far (name, data)
/// or `timeout` passes; returns them.
fn read_events(
    stream: TcpStream,
    timeout: Duration,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    let (mut name, mut data) = (String::new(), String::new());
    let mut line = String::new();
    while Instant::now() < deadline && !done(&events) {
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => continue, // a read timeout: the partial line stays in `line`
        }
        let l = std::mem::take(&mut line);
        let l = l.trim_end_matches(['\r', '\n']);
        if let Some(n) = l.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = l.strip_prefix("data: ") {
            data.push_str(d);
        } else if l.is_empty() && !data.is_empty() {
            events.push((std::mem::take(&mut name), std::mem::take(&mut data)));
        }
    }
    events
}

#[test]
fn the_event_stream_delivers_new_points_and_status_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let ppo = checkpoints(tmp.path());
    let addr = start(tmp.path());
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    // The stream opens with the run list.
    let first = read_events(s.try_clone().unwrap(), Duration::from_secs(5), |e| {
        !e.is_empty()
    });
    assert_eq!(first[0].0, "runs");
    // Another request is answered while the stream is open.
    assert_eq!(get(addr, "/api/runs").0, 200);

    let mut w = EventWriter::create(&ppo.join("tensorboard")).unwrap();
    w.scalars(
        2048,
        &[("ppo/policy_loss", 0.25), ("rollout/mean_return", 1.5)],
    )
    .unwrap();
    w.scalar("elo/learner", 2048, 1105.0).unwrap();
    w.flush().unwrap();
    let t0 = Instant::now();
    let wanted = |e: &[(String, String)]| {
        let points: Vec<Value> = e
            .iter()
            .filter(|(n, _)| n == "scalars")
            .flat_map(|(_, d)| serde_json::from_str::<Vec<Value>>(d).unwrap())
            .collect();
        points.len() >= 3
    };
    let events = read_events(s.try_clone().unwrap(), Duration::from_secs(10), wanted);
    assert!(wanted(&events), "no points in 10 s: {events:?}");
    eprintln!(
        "points streamed {:.2} s after the flush",
        t0.elapsed().as_secs_f64()
    );
    let points: Vec<Value> = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(
        points[0],
        json!({"run": "ppo", "tag": "ppo/policy_loss", "step": 2048,
               "wall_time": points[0]["wall_time"], "value": 0.25})
    );
    assert!(points
        .iter()
        .any(|p| p["tag"] == "elo/learner" && p["value"] == 1105.0));

    // A status change is a `runs` event.
    let mut file = RunDir::new(&ppo).read().unwrap();
    file.status = Some("completed".into());
    RunDir::new(&ppo).write(&file).unwrap();
    let events = read_events(s, Duration::from_secs(10), |e| {
        e.iter().any(|(n, _)| n == "runs")
    });
    let (_, list) = events
        .iter()
        .find(|(n, _)| n == "runs")
        .expect("a runs event in 10 s");
    let list: Vec<Value> = serde_json::from_str(list).unwrap();
    assert_eq!(list[1]["status"], "completed");
    assert_eq!(list[1]["latest_step"], 2048);
}

/// The number of points the page's chart line of `tag` holds (its `data-points`), -1 if none.
fn points_js(tag: &str) -> String {
    format!(
        "(() => {{ const l = document.querySelector('polyline[data-tag=\"{tag}\"]'); \
         return l ? +l.getAttribute('data-points') : -1; }})()"
    )
}

#[test]
fn the_page_shows_the_runs_and_their_charts_and_takes_live_points() {
    let Some(bin) = exphil_testdata::chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    checkpoints(tmp.path());
    let addr = start(tmp.path());
    let mut browser = Browser::start(&bin);
    browser.call("Page.enable", json!({}));
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1100, "deviceScaleFactor": 1, "mobile": false}),
    );
    browser.call(
        "Page.navigate",
        json!({"url": format!("http://{addr}/#run=base")}),
    );
    let loss = points_js("train/loss");
    browser.wait_for(&format!("{loss} === 10"), "the base run's 10 loss points");
    browser.wait_for(
        "document.body.dataset.live === 'open'",
        "the event stream open",
    );
    let dom = browser
        .eval("document.documentElement.outerHTML")
        .as_str()
        .unwrap()
        .to_string();
    assert!(dom.contains("data-run=\"base\"") && dom.contains("data-run=\"ppo\""));
    assert!(dom.contains(">└ ppo<"), "ppo shown as base's child");
    let line = dom
        .split("<polyline")
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("");
    assert!(
        line.contains("points=\"") && line.matches(',').count() >= 2,
        "{line}"
    );
    assert_eq!(browser.eval(&points_js("val/loss")), json!(2));
    assert!(
        dom.contains("data-run=\"ppo\"") && dom.contains(">learner<"),
        "Elo table"
    );
    assert!(dom.contains("abc123"), "the evaluation");

    // Points written after the page loaded reach its chart through the event stream.
    let mut w = EventWriter::create(&tmp.path().join("base/tensorboard")).unwrap();
    for step in 11..=15 {
        w.scalar("train/loss", step, 0.1).unwrap();
    }
    w.flush().unwrap();
    browser.wait_for(&format!("{loss} === 15"), "5 live points in the chart");
    assert_eq!(browser.eval("+document.body.dataset.livePoints"), json!(5));
    let step = browser.eval("document.querySelector('tr[data-run=\"base\"] td.num').textContent");
    assert_eq!(step, json!("15"), "the run list's latest step");

    // A screenshot for a person to look at; best effort, not checked.
    let shot = browser.call("Page.captureScreenshot", json!({"format": "png"}));
    if let Some(png) = shot["data"].as_str().and_then(base64_decode) {
        let dir = Path::new("/tmp/exphil-dashboard-check");
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = std::fs::write(dir.join("dashboard.png"), png);
        }
    }
}

/// Standard base64 (for the screenshot); `None` on a character outside its alphabet.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
