//! The benchmark report: the console table, the HTML page's static content and embedded data,
//! and (when a Chromium is installed) the charts the page draws in a headless browser.

use exphil_report::bench::{ArchResult, BenchReport, CurvePoint, Latency, MachineInfo};
use exphil_report::report::{console_table, render_html};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A name that would end the data script and open a tag if it were not escaped.
const HOSTILE: &str = "mlp</script><b>bold";

/// A successful result with a 3-epoch curve falling to `val`.
fn result(name: &str, val: f64, speed: f64, params: usize, macs: u64) -> ArchResult {
    ArchResult {
        name: name.to_string(),
        backbone: serde_json::json!({ "type": name, "hidden": 256 }),
        params,
        complexity: "O(W·L·H²)".to_string(),
        macs_per_example: macs,
        val_loss: val,
        val_components: vec![
            val * 0.4,
            val * 0.15,
            val * 0.14,
            val * 0.1,
            val * 0.1,
            val * 0.11,
        ],
        val_accuracy: vec![0.9, 0.6, 0.61, 0.8, 0.81, 0.7],
        curve: (1..=3)
            .map(|e| CurvePoint {
                epoch: e,
                train_loss: val * (1.0 + 0.5 / e as f64),
                val_loss: val * (1.0 + 0.3 / e as f64) - if e == 3 { val * 0.1 } else { 0.0 },
            })
            .collect(),
        train_samples_per_s: speed,
        train_seconds: 120.5,
        latency: Latency {
            step_batch1_us: 1e6 / speed,
            step_batch1_p99_us: 1.4e6 / speed,
            step_batch256_ms: 2e5 / speed,
        },
        error: None,
    }
}

/// Three backbones (run in the order mlp, lstm, mamba) and one failed one.
fn report() -> BenchReport {
    BenchReport {
        command: "exphil bench architectures --replays data/replays --epochs 3 & <all>".to_string(),
        created: "2026-05-14T12:00:00Z".to_string(),
        machine: MachineInfo {
            cpu_model: "AMD EPYC 7B13 <64-Core>".to_string(),
            cores: 16,
            memory_bytes: 128 * (1 << 30),
            gpus: vec!["NVIDIA H200".to_string()],
            os: "linux".to_string(),
            device: "cuda:0".to_string(),
        },
        replays: vec!["data/replays".to_string()],
        games: 420,
        train_frames: 3_000_000,
        val_frames: 300_000,
        epochs: 3,
        window: 60,
        complexity_legend: "W: window frames, L: layers, H: hidden size".to_string(),
        results: vec![
            result(HOSTILE, 1.2345678, 52_000.4, 230_123, 1_500_000),
            result("lstm", 0.98765, 8_100.0, 1_020_000, 61_000_000),
            result("mamba", 0.91, 6_400.0, 1_999_999, 92_300_000),
            ArchResult {
                name: "jamba".to_string(),
                backbone: serde_json::json!({ "type": "jamba" }),
                error: Some("out of memory: tried to allocate 2 GiB".to_string()),
                ..ArchResult::default()
            },
        ],
    }
}

/// The report with only its best backbone, trained for a single epoch.
fn single_report() -> BenchReport {
    let mut r = report();
    r.epochs = 1;
    r.results.retain(|a| a.name == "mamba");
    r.results[0].curve.truncate(1);
    r
}

/// The text between `start` (exclusive) and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let j = s[i..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}"))
        + i;
    &s[i..j]
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The data rows of the console table (after the header and the rule).
fn console_rows(table: &str) -> Vec<&str> {
    table.lines().skip(2).collect()
}

#[test]
fn the_console_table_ranks_by_validation_loss() {
    let table = console_table(&report());
    print!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("backbone") && lines[0].contains("val loss"));
    assert!(lines[1].chars().all(|c| c == '-'));
    let rows = console_rows(&table);
    assert_eq!(rows.len(), 4);
    let order = ["mamba", "lstm", HOSTILE, "jamba"];
    for (i, (row, name)) in rows.iter().zip(order).enumerate() {
        assert!(row.contains(name), "row {i} {row:?} is not {name}");
    }
    assert!(rows[0].trim_start().starts_with("1  mamba"), "{}", rows[0]);
    assert!(rows[0].contains("0.9100") && rows[0].contains("2.00M"));
    assert!(rows[1].contains("0.9877") && rows[1].contains("1.02M"));
    assert!(rows[2].contains("1.2346") && rows[2].contains("52000") && rows[2].contains("230k"));
    assert!(rows[2].contains("O(W·L·H²)"));
    assert!(rows[3].contains("failed: out of memory: tried to allocate 2 GiB"));
    assert!(rows[3].trim_start().starts_with('-'));
    // Fixed width: the numeric columns of the ranked rows end at the same place.
    let end = |row: &str, value: &str| row.find(value).map(|i| i + value.len());
    assert_eq!(end(rows[0], "0.9100"), end(rows[1], "0.9877"));
    assert_eq!(end(rows[0], "0.9100"), end(rows[2], "1.2346"));
    assert!(table.ends_with('\n'));
    assert_eq!(table, console_table(&report()), "deterministic");
}

#[test]
fn the_html_is_self_contained_with_the_charts_and_the_data() {
    let r = report();
    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>exphil architecture benchmark</title>"));
    for id in [
        "chart-val-loss",
        "chart-curves",
        "chart-speed",
        "chart-latency",
        "chart-complexity",
    ] {
        assert!(
            html.contains(&format!("<figure class=\"chart\" id=\"{id}\">")),
            "{id}"
        );
    }
    assert_eq!(html.matches("<figcaption>").count(), 5);
    // Nothing from the network.
    for bad in [
        "http://", "https://", "//cdn", "<link", "<img", "@import", "url(",
    ] {
        let hits: Vec<&str> = html
            .match_indices(bad)
            .map(|(i, _)| &html[i.saturating_sub(20)..(i + 40).min(html.len())])
            .filter(|ctx| !ctx.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(hits.is_empty(), "{bad}: {hits:?}");
    }
    // Machine, data, command, legend; escaped.
    for text in [
        "AMD EPYC 7B13 &lt;64-Core&gt;",
        "128.0 GiB",
        "NVIDIA H200",
        "cuda:0",
        "data/replays",
        "420",
        "3000000",
        "300000",
        "60 frames",
        "--epochs 3 &amp; &lt;all&gt;",
        "W: window frames, L: layers, H: hidden size",
        "2026-05-14T12:00:00Z",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert_eq!(html, render_html(&r), "deterministic");

    // The embedded data parses back to the report.
    let json = between(
        &html,
        "<script type=\"application/json\" id=\"bench-data\">",
        "</script>",
    );
    let back: BenchReport = serde_json::from_str(&json.replace("<\\/", "</")).unwrap();
    assert_eq!(back, r);
    // A name cannot close the script element or open a tag, neither in the data nor the page.
    assert!(json.contains("mlp<\\/script><b>bold"));
    assert!(!html.contains("</script><b>"));
    assert!(html.contains("mlp&lt;/script&gt;&lt;b&gt;bold"));
    assert_eq!(html.matches("</script>").count(), 2, "two scripts only");
    assert_eq!(
        html.matches("<b>").count(),
        json.matches("<b>").count(),
        "only the JSON strings have <b>"
    );
    assert!(!json.contains("<!--"));
}

#[test]
fn the_html_table_matches_the_console_table() {
    let r = report();
    let html = render_html(&r);
    let console = console_table(&r);
    let tbody = between(&html, "<table class=\"results\">", "</table>");
    let tbody = between(tbody, "<tbody>", "</tbody>");
    let html_rows: Vec<Vec<String>> = tbody
        .split("<tr")
        .skip(1)
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| unescape_html(between(td, ">", "</td>")))
                .collect()
        })
        .collect();
    let console_rows = console_rows(&console);
    assert_eq!(html_rows.len(), console_rows.len());
    for (cells, line) in html_rows.iter().zip(&console_rows) {
        // Every HTML cell appears in the console row, in the same order.
        let mut at = 0;
        for cell in cells {
            let i = line[at..]
                .find(cell.as_str())
                .unwrap_or_else(|| panic!("{cell:?} not in {line:?} after {at}"));
            at += i + cell.len();
        }
        assert_eq!(line[at..].trim(), "", "the console row has nothing more");
    }
    assert_eq!(html_rows[0].len(), 10);
    assert_eq!(html_rows[0][0], "1");
    assert_eq!(html_rows[0][1], "mamba");
    assert_eq!(html_rows[3].len(), 3);
    assert_eq!(
        html_rows[3][2],
        "failed: out of memory: tried to allocate 2 GiB"
    );
    assert!(tbody.contains("<tr class=\"best\">"));
}

#[test]
fn edge_cases_render() {
    // No results, zeros, a single epoch and a non-finite loss still make a page and a table.
    let mut r = single_report();
    r.results[0].train_samples_per_s = 0.0;
    r.results[0].params = 0;
    r.results[0].macs_per_example = 0;
    let mut nan = result("gru", f64::NAN, 100.0, 999_600, 999);
    nan.val_components.clear();
    r.results.push(nan);
    let table = console_table(&r);
    let rows = console_rows(&table);
    assert!(
        rows[0].contains("mamba") && rows[0].contains("  0  "),
        "{table}"
    );
    assert!(rows[1].contains("gru") && rows[1].contains("n/a") && rows[1].contains("1.00M"));
    assert!(render_html(&r).contains("chart-curves"));
    let empty = BenchReport::default();
    assert_eq!(console_rows(&console_table(&empty)).len(), 0);
    let html = render_html(&empty);
    assert!(html.contains("<dd>none</dd>"), "no GPUs: none");
    assert!(html.contains("<dd>unknown</dd>"), "memory 0: unknown");
}

/// Runs Chromium headless on `page` with `args`, killed after 60 s; returns its stdout.
fn chromium(bin: &Path, dir: &Path, args: &[String], page: &Path) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let out_path = profile.path().join("stdout.txt");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&out_path).unwrap()
}

/// Asserts the dumped DOM has five drawn charts and no chart error.
fn assert_charts_drawn(dom: &str, what: &str) {
    // The script's own text names the attributes too: look at the body tag only.
    let body = between(dom, "<body", ">");
    assert!(
        body.contains("data-charts-rendered=\"5\""),
        "{what}: charts not rendered: <body{body}>"
    );
    assert!(!body.contains("data-chart-error"), "{what}: <body{body}>");
    let svgs: Vec<&str> = dom
        .split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap_or(""))
        .collect();
    assert!(svgs.len() >= 5, "{what}: {} svgs", svgs.len());
    for (i, svg) in svgs.iter().enumerate() {
        assert!(svg.contains("<rect"), "{what}: svg {i} has no rect");
        assert!(
            svg.contains("<path") || svg.contains("<polyline") || svg.contains("<line"),
            "{what}: svg {i} has no line"
        );
        assert!(svg.contains("<text"), "{what}: svg {i} has no text");
    }
}

#[test]
fn the_charts_render_in_a_browser() {
    let Some(bin) = exphil_testdata::chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dump = ["--dump-dom".to_string()];

    let page = dir.path().join("report.html");
    let html = render_html(&report());
    std::fs::write(&page, &html).unwrap();
    let dom = chromium(&bin, dir.path(), &dump, &page);
    assert_charts_drawn(&dom, "four backbones, one failed");
    // Two lines per backbone in the curves chart: validation and training.
    let curves = between(&dom, "id=\"chart-curves\"", "</figure>");
    assert_eq!(curves.matches("<polyline").count(), 6);
    // The failed backbone is in no chart.
    let charts = between(&dom, "<section class=\"charts\">", "</section>");
    assert!(!charts.contains(">jamba<"));

    let single = dir.path().join("single.html");
    std::fs::write(&single, render_html(&single_report())).unwrap();
    let dom = chromium(&bin, dir.path(), &dump, &single);
    assert_charts_drawn(&dom, "one backbone, one epoch");
    let curves = between(&dom, "id=\"chart-curves\"", "</figure>");
    assert!(curves.contains("<circle"), "one epoch: a marker");

    // A screenshot for a person to look at; best effort, not checked.
    let shots = Path::new("/tmp/exphil-report-check");
    if std::fs::create_dir_all(shots).is_ok() {
        let _ = std::fs::write(shots.join("report.html"), &html);
        let shot = [
            format!("--screenshot={}", shots.join("report.png").display()),
            "--window-size=1280,2400".to_string(),
            "--hide-scrollbars".to_string(),
        ];
        let run = std::panic::catch_unwind(|| chromium(&bin, dir.path(), &shot, &page));
        let _ = std::fs::write(shots.join("single.html"), render_html(&single_report()));
        let shot = [
            format!("--screenshot={}", shots.join("single.png").display()),
            "--window-size=1280,1800".to_string(),
            "--hide-scrollbars".to_string(),
        ];
        let single_run = std::panic::catch_unwind(|| chromium(&bin, dir.path(), &shot, &single));
        if run.is_err() || single_run.is_err() {
            eprintln!("note: a screenshot failed");
        }
    }
}
