//! `exphil dashboard` over a real training: the command serves the checkpoints folder, and a
//! training started while it runs reaches the event stream point by point, and the page open in
//! headless Chromium lists it and moves its latest step, before the training ends; it then
//! shows as completed with its curves, and its chart draws them. (The page against written
//! event files, in more detail, is tested in crates/dashboard/tests/dashboard.rs.)

mod common;

use common::{isolated, s, text};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Kills the dashboard when the test ends, passed or not.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path`: the status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // HTTP/1.0: the answer comes whole, not chunked.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut t = String::new();
    s.read_to_string(&mut t).unwrap();
    let (head, body) = t.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_training_started_under_the_dashboard_streams_its_points_live() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    std::fs::create_dir_all(root.join("ck")).unwrap();
    let mut dash = isolated(root)
        .current_dir(root)
        .args(["dashboard", "--checkpoints", "ck", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(dash.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _dash = Kill(dash);
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    assert_eq!(json(addr, "/api/runs"), Value::Array(vec![]));

    // The page, open before the training starts (no run selected).
    let chromium = exphil_testdata::chromium();
    let mut browser = chromium.as_ref().map(|bin| {
        let mut b = exphil_testdata::browser::Browser::start(bin);
        b.call("Page.enable", serde_json::json!({}));
        b.call(
            "Page.navigate",
            serde_json::json!({"url": format!("http://{addr}/")}),
        );
        b.wait_for(
            "document.body.dataset.live === 'open'",
            "the page's stream open",
        );
        b
    });
    // The event stream the page listens to, opened before the training starts.
    let mut events = TcpStream::connect(addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(events, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();

    let games = exphil_testdata::replays_dir().join("games");
    let mut train = isolated(root)
        .current_dir(root)
        .args(["train", "--preset", "quick", "--replays", s(&games)])
        .args([
            "--max-files",
            "2",
            "--checkpoints",
            "ck",
            "--cache-dir",
            "cache",
        ])
        .args(["--name", "live", "--seed", "3", "--quiet"])
        .args(["--epochs", "40", "--log-interval", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Points of the running training arrive on the stream while it trains.
    let mut streamed = String::new();
    let mut live_points = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match events.read(&mut buf) {
            Ok(0) => panic!("the event stream closed: {streamed}"),
            Ok(n) => streamed.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        live_points = streamed
            .split("event: scalars")
            .skip(1)
            .filter(|e| e.contains("\"run\":\"live\"") && e.contains("train/loss"))
            .count();
        let running = train.try_wait().unwrap().is_none();
        if live_points >= 2 {
            assert!(running, "the points came only after the training ended");
            break;
        }
        assert!(
            running,
            "the training ended before two batches of points streamed"
        );
    }
    assert!(live_points >= 2, "no live points: {streamed}");
    // The page lists the running training and moves its latest step as the points come.
    if let Some(b) = browser.as_mut() {
        let step = "(() => { const c = document.querySelector('tr[data-run=\"live\"] td.num'); \
                    return c ? +c.textContent : -1; })()";
        b.wait_for(
            &format!("{step} > 0"),
            "the running training in the run list",
        );
        let first = b.eval(step).as_f64().unwrap();
        b.wait_for(&format!("{step} > {first}"), "its latest step moving");
        assert!(
            train.try_wait().unwrap().is_none(),
            "the page moved only after the training ended"
        );
    }
    let out = train.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // Done: completed, its last step, and every progress point's loss.
    let runs = json(addr, "/api/runs");
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "live")
        .unwrap_or_else(|| panic!("{runs}"))
        .clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut run = run;
    while run["status"] != "completed" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        run = json(addr, "/api/runs")[0].clone();
    }
    assert_eq!(run["status"], "completed", "{run}");
    let scalars = json(addr, "/api/runs/live/scalars");
    let loss = scalars["train/loss"].as_array().unwrap();
    let last = loss.last().unwrap()[0].as_i64().unwrap();
    assert_eq!(run["latest_step"].as_i64(), Some(last), "{run}");
    let steps: Vec<i64> = loss.iter().map(|p| p[0].as_i64().unwrap()).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert!(steps.len() >= 40 * 2, "{steps:?}");
    assert_eq!(scalars["val/loss"].as_array().unwrap().len(), 40);
    // Its chart, once selected, draws every loss point.
    if let Some(b) = browser.as_mut() {
        b.call(
            "Page.navigate",
            serde_json::json!({"url": format!("http://{addr}/#run=live")}),
        );
        let points =
            "(() => { const l = document.querySelector('polyline[data-tag=\"train/loss\"]'); \
                      return l ? +l.getAttribute('data-points') : -1; })()";
        b.wait_for(&format!("{points} === {}", loss.len()), "the loss chart");
    }
    let page = get(addr, "/").1;
    assert!(
        page.contains("<script") && !page.contains("http://cdn"),
        "{page}"
    );
}
