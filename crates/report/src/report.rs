//! The benchmark report: a [`BenchReport`] rendered as a fixed-width console table and as one
//! self-contained HTML page (no network resources) with five charts drawn in the browser by
//! inline JavaScript from the report embedded as JSON, and the same table.
//!
//! Both renderings rank the backbones by validation loss (best first, failed ones last) and
//! format every number with the same helpers, so the console and the page cannot disagree.
//! Both are deterministic: the only time in them is the report's own `created`.

use crate::bench::{ArchResult, BenchReport};

/// The page's title and main heading.
const TITLE: &str = "exphil architecture benchmark";

/// The console headers of the table's columns, and whether the column is right-aligned.
const CONSOLE_COLUMNS: [(&str, bool); 10] = [
    ("#", true),
    ("backbone", false),
    ("val loss", true),
    ("buttons loss", true),
    ("main_x loss", true),
    ("samples/s", true),
    ("step µs b1", true),
    ("step ms b256", true),
    ("params", true),
    ("complexity", false),
];

/// The HTML headers of the same columns (the page has room to spell them out).
const HTML_COLUMNS: [&str; 10] = [
    "#",
    "backbone",
    "val loss",
    "buttons loss",
    "main_x loss",
    "samples/s",
    "step µs (batch 1, median)",
    "step ms (batch 256)",
    "params",
    "complexity",
];

/// The charts, in page order: element id and caption. The inline script draws into the `<svg>`
/// of each figure by id.
const CHARTS: [(&str, &str); 5] = [
    (
        "chart-val-loss",
        "Validation loss per backbone (lower is better; the best is outlined)",
    ),
    (
        "chart-curves",
        "Loss per epoch: validation (solid, with markers) and training (dashed)",
    ),
    (
        "chart-speed",
        "Training throughput in samples per second (higher is better)",
    ),
    (
        "chart-latency",
        "Inference latency of one step: one game (median, whisker to p99) and 256 games at once",
    ),
    (
        "chart-complexity",
        "Size and cost: trainable parameters and multiply-accumulates per predicted frame",
    ),
];

/// One row of the results table, shared by the console and the HTML renderings.
struct Row<'a> {
    /// `1`, `2`, ... in ranking order; `-` for a failed backbone.
    rank: String,
    /// The backbone's name, on one line.
    name: String,
    /// The result the row shows.
    result: &'a ArchResult,
    /// The formatted values after the name (val loss .. complexity), or the failure text.
    cells: Result<[String; 8], String>,
}

/// A loss: 4 decimals, `n/a` when missing or not finite.
fn fmt_loss(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "n/a".to_string(),
    }
}

/// A rate: whole units.
fn fmt_rate(v: f64) -> String {
    fmt_fixed(v, 0)
}

/// `v` with `decimals` decimals, `n/a` when not finite.
fn fmt_fixed(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "n/a".to_string()
    }
}

/// A count with 3 significant digits and a k/M/G/T suffix from 1000 on: `987`, `12.3k`,
/// `1.02M`.
fn fmt_count(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let mut v = n as f64;
    let units = ["k", "M", "G", "T"];
    for (i, unit) in units.iter().enumerate() {
        v /= 1000.0;
        let decimals = if v < 9.995 {
            2
        } else if v < 99.95 {
            1
        } else {
            0
        };
        let text = format!("{v:.decimals$}");
        // 999.6k rounds to "1000": say 1.00M instead.
        let rolls_over = text.parse::<f64>().is_ok_and(|x| x >= 1000.0);
        if !rolls_over || i + 1 == units.len() {
            return format!("{text}{unit}");
        }
    }
    n.to_string()
}

/// `s` on one line: control characters (newlines, tabs, escapes) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The results in ranking order: finite validation losses ascending, then the others that did
/// not fail (in run order), then the failed ones (in run order).
fn ranked(r: &BenchReport) -> Vec<&ArchResult> {
    let mut out: Vec<&ArchResult> = r.results.iter().collect();
    let class = |a: &ArchResult| match (&a.error, a.val_loss.is_finite()) {
        (Some(_), _) => 2,
        (None, false) => 1,
        (None, true) => 0,
    };
    // A stable sort: ties keep the run order.
    out.sort_by(|a, b| {
        class(a).cmp(&class(b)).then_with(|| {
            if class(a) == 0 {
                a.val_loss.total_cmp(&b.val_loss)
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
    out
}

/// The table's rows, ranked, with every value formatted.
fn rows(r: &BenchReport) -> Vec<Row<'_>> {
    let mut next_rank = 0;
    ranked(r)
        .into_iter()
        .map(|a| {
            let name = one_line(&a.name);
            if let Some(err) = &a.error {
                return Row {
                    rank: "-".to_string(),
                    name,
                    result: a,
                    cells: Err(format!("failed: {}", one_line(err))),
                };
            }
            next_rank += 1;
            let cells = [
                fmt_loss(Some(a.val_loss)),
                fmt_loss(a.val_components.first().copied()),
                fmt_loss(a.val_components.get(1).copied()),
                fmt_rate(a.train_samples_per_s),
                fmt_fixed(a.latency.step_batch1_us, 1),
                fmt_fixed(a.latency.step_batch256_ms, 2),
                fmt_count(a.params as u64),
                one_line(&a.complexity),
            ];
            Row {
                rank: next_rank.to_string(),
                name,
                result: a,
                cells: Ok(cells),
            }
        })
        .collect()
}

/// Pads `s` to `width` characters, on the left when `right` (right-aligned) else on the right.
fn pad(s: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(s.chars().count()));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// The results as a fixed-width text table, one row per backbone ranked by validation loss (best
/// first, failed ones last, with `failed: <error>` in place of their numbers): rank, backbone,
/// validation loss, buttons and main_x losses, training samples/s, median step µs for one game,
/// step ms for 256 games, parameters and complexity. Columns are separated by two spaces, with a
/// rule under the header; every line ends with a newline.
pub fn console_table(r: &BenchReport) -> String {
    let rows = rows(r);
    let line_cells = |row: &Row| -> Vec<String> {
        let mut v = vec![row.rank.clone(), row.name.clone()];
        if let Ok(cells) = &row.cells {
            v.extend(cells.iter().cloned());
        }
        v
    };
    let mut widths: Vec<usize> = CONSOLE_COLUMNS
        .iter()
        .map(|(h, _)| h.chars().count())
        .collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(line_cells(row)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let join = |cells: &[String]| -> String {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i], CONSOLE_COLUMNS[i].1))
            .collect();
        line.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = CONSOLE_COLUMNS.iter().map(|(h, _)| h.to_string()).collect();
    let mut out = join(&header);
    out.push('\n');
    let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for row in &rows {
        let line = match &row.cells {
            Ok(_) => join(&line_cells(row)),
            // The failure text takes the place of the numbers.
            Err(failure) => format!(
                "{}  {}  {failure}",
                pad(&row.rank, widths[0], true),
                pad(&row.name, widths[1], false)
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `s` with the HTML special characters escaped, safe in text and in quoted attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as JSON safe inside a `<script>` element: `</` is written `<\/` and `<!--` as
/// `<\u0021--` (both valid JSON escapes, only possible inside strings), so no string can close
/// the element or start an HTML comment in it. `null` if the report cannot be serialised (the
/// charts then report an error; the static page is unaffected).
fn script_json(r: &BenchReport) -> String {
    match serde_json::to_string(r) {
        Ok(json) => json.replace("</", "<\\/").replace("<!--", "<\\u0021--"),
        Err(_) => "null".to_string(),
    }
}

/// Memory in GiB with one decimal, `unknown` for 0.
fn fmt_memory(bytes: u64) -> String {
    if bytes == 0 {
        "unknown".to_string()
    } else {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    }
}

/// A `<dl>` of label/value pairs; the values are escaped here.
fn definition_list(items: &[(&str, String)]) -> String {
    let mut out = String::from("<dl>\n");
    for (label, value) in items {
        out.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>\n",
            escape_html(label),
            escape_html(value)
        ));
    }
    out.push_str("</dl>\n");
    out
}

/// The machine and data cards.
fn info_html(r: &BenchReport) -> String {
    let m = &r.machine;
    let gpus = if m.gpus.is_empty() {
        "none".to_string()
    } else {
        m.gpus.join(", ")
    };
    let machine = definition_list(&[
        ("CPU", m.cpu_model.clone()),
        ("Cores", m.cores.to_string()),
        ("Memory", fmt_memory(m.memory_bytes)),
        ("GPUs", gpus),
        ("Device", m.device.clone()),
        ("OS", m.os.clone()),
    ]);
    let replays = if r.replays.is_empty() {
        "none".to_string()
    } else {
        r.replays.join(", ")
    };
    let data = definition_list(&[
        ("Replays", replays),
        ("Games", r.games.to_string()),
        ("Training frames", r.train_frames.to_string()),
        ("Validation frames", r.val_frames.to_string()),
        ("Epochs", r.epochs.to_string()),
        ("Window", format!("{} frames", r.window)),
    ]);
    format!(
        "<section class=\"info\">\n<div class=\"card\"><h2>Machine</h2>\n{machine}</div>\n\
         <div class=\"card\"><h2>Data</h2>\n{data}</div>\n</section>\n"
    )
}

/// The five chart figures, each with an empty `<svg>` the script draws into, and a note naming
/// the failed backbones the charts leave out.
fn charts_html(r: &BenchReport) -> String {
    let mut out = String::from("<section class=\"charts\">\n<h2>Charts</h2>\n");
    out.push_str(
        "<noscript><p class=\"note\">The charts are drawn by JavaScript; \
         the table below has every number.</p></noscript>\n",
    );
    let failed: Vec<String> = r
        .results
        .iter()
        .filter(|a| a.error.is_some())
        .map(|a| escape_html(&one_line(&a.name)))
        .collect();
    if !failed.is_empty() {
        out.push_str(&format!(
            "<p class=\"note\">Left out of the charts (failed): {}.</p>\n",
            failed.join(", ")
        ));
    }
    for (id, caption) in CHARTS {
        out.push_str(&format!(
            "<figure class=\"chart\" id=\"{id}\">\n<figcaption>{}</figcaption>\n\
             <svg class=\"plot\" role=\"img\" aria-label=\"{}\"></svg>\n</figure>\n",
            escape_html(caption),
            escape_html(caption)
        ));
    }
    out.push_str("</section>\n");
    out
}

/// The results table: the console table's rows and values, as HTML.
fn table_html(r: &BenchReport) -> String {
    let mut out = String::from(
        "<h2>Results</h2>\n<div class=\"table-wrap\">\n<table class=\"results\">\n<thead><tr>",
    );
    for (i, h) in HTML_COLUMNS.iter().enumerate() {
        let class = if CONSOLE_COLUMNS[i].1 {
            " class=\"num\""
        } else {
            ""
        };
        out.push_str(&format!("<th{class}>{}</th>", escape_html(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows(r) {
        let best = row.rank == "1";
        out.push_str(if best {
            "<tr class=\"best\">"
        } else if row.cells.is_err() {
            "<tr class=\"failed-row\">"
        } else {
            "<tr>"
        });
        out.push_str(&format!(
            "<td class=\"num\">{}</td><td title=\"{}\">{}</td>",
            escape_html(&row.rank),
            escape_html(&row.result.backbone.to_string()),
            escape_html(&row.name)
        ));
        match &row.cells {
            Ok(cells) => {
                for (i, cell) in cells.iter().enumerate() {
                    let class = if CONSOLE_COLUMNS[i + 2].1 {
                        " class=\"num\""
                    } else {
                        ""
                    };
                    out.push_str(&format!("<td{class}>{}</td>", escape_html(cell)));
                }
            }
            Err(failure) => out.push_str(&format!(
                "<td class=\"failed\" colspan=\"8\">{}</td>",
                escape_html(failure)
            )),
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    out
}

/// The benchmark as one self-contained HTML5 page: the title, the run time, the machine (CPU,
/// cores, memory, GPUs, device) and the data (replays, games, frames, epochs, window), the
/// command, five charts (validation loss, loss curves, training speed, latency, size and cost)
/// drawn by an inline script from the report embedded as JSON in
/// `<script type="application/json" id="bench-data">` (failed backbones left out), the results
/// table of [`console_table`] (same ranking, same values) and the complexity legend. Nothing is
/// loaded from the network. Once drawn, the script sets `data-charts-rendered` on `<body>` to the
/// number of charts, or `data-chart-error` to the error.
pub fn render_html(r: &BenchReport) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{TITLE}</title>\n<style>{STYLE}</style>\n"));
    out.push_str("</head>\n<body>\n<main>\n");
    out.push_str(&format!("<h1>{TITLE}</h1>\n"));
    out.push_str(&format!(
        "<p class=\"created\">Run at {}</p>\n",
        escape_html(&r.created)
    ));
    out.push_str(&info_html(r));
    out.push_str(&format!(
        "<h2>Command</h2>\n<pre class=\"command\"><code>{}</code></pre>\n",
        escape_html(&r.command)
    ));
    out.push_str(&charts_html(r));
    out.push_str(&table_html(r));
    out.push_str(&format!(
        "<h2>Complexity legend</h2>\n<p class=\"legend-text\">{}</p>\n",
        escape_html(&r.complexity_legend)
    ));
    out.push_str("</main>\n");
    out.push_str(&format!(
        "<script type=\"application/json\" id=\"bench-data\">{}</script>\n",
        script_json(r)
    ));
    out.push_str(&format!("<script>{SCRIPT}</script>\n"));
    out.push_str("</body>\n</html>\n");
    out
}

/// The page's style sheet: a light theme, system fonts only.
const STYLE: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f5f6f8; color: #1d2430;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
.created, .note { color: #5b6472; }
.created { margin: 0 0 16px; }
.info { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.card, figure.chart, pre.command, .table-wrap {
  background: #fff; border: 1px solid #dde1e7; border-radius: 8px; }
.card { padding: 12px 16px; }
.card h2 { margin: 0 0 8px; font-size: 16px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dt { color: #5b6472; }
dd { margin: 0; overflow-wrap: anywhere; }
pre.command { padding: 10px 14px; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere;
  font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
figure.chart { margin: 0 0 18px; padding: 12px 16px 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figure.chart svg { display: block; width: 100%; height: auto; }
svg text { font-family: inherit; font-size: 13px; fill: #1d2430; }
svg .tick { font-size: 12px; fill: #5b6472; }
svg .axis-label { fill: #3a4350; }
svg .panel-title, svg .strong { font-weight: 700; }
svg .grid { stroke: #e8ebef; }
svg .axis { stroke: #4a5260; }
svg .whisker { stroke: #333; stroke-width: 1.5; }
svg .plot-bg { fill: #fcfcfd; }
svg .legend-bg { fill: #fff; stroke: #dde1e7; }
.table-wrap { overflow-x: auto; }
table.results { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.results th, table.results td { padding: 6px 10px; border-bottom: 1px solid #e6e9ee;
  text-align: left; white-space: nowrap; }
table.results thead th { background: #eef1f5; font-size: 13px; white-space: normal; }
table.results .num { text-align: right; }
table.results tr.best td { background: #ecf7ec; font-weight: 600; }
table.results td.failed { color: #b3261e; white-space: normal; }
.legend-text { white-space: pre-wrap; }
"#;

/// The chart script: reads `#bench-data`, draws the five charts into the figures' `<svg>`s and
/// marks `<body>` with the outcome. ES2017, no modules, no network.
const SCRIPT: &str = r#"
'use strict';
(() => {
  const NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
    '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const W = 1000; // viewBox width of every chart
  const ROW = 28; // height of one bar

  const isNum = (v) => typeof v === 'number' && isFinite(v);
  // s cut to n characters (the full text goes into a tooltip).
  const short = (s, n = 22) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

  // Appends an SVG element with attributes (and text) to parent.
  function el(parent, tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }

  // The formats of the results table (report.rs): loss 4 decimals, counts 3 digits + suffix.
  const fixed = (d) => (v) => (isNum(v) ? v.toFixed(d) : 'n/a');
  const fmtLoss = fixed(4);
  function compact(v, trim) {
    if (!isNum(v)) return 'n/a';
    if (Math.abs(v) < 1000) return String(Math.round(v));
    let x = v;
    for (const u of ['k', 'M', 'G', 'T']) {
      x /= 1000;
      const a = Math.abs(x);
      let s = x.toFixed(a < 9.995 ? 2 : a < 99.95 ? 1 : 0);
      if (u === 'T' || Math.abs(parseFloat(s)) < 1000) {
        if (trim && s.indexOf('.') >= 0) s = s.replace(/\.?0+$/, '');
        return s + u;
      }
    }
    return String(v);
  }

  // A "nice" step (1, 2 or 5 times a power of ten) for about target ticks over span.
  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * mag >= raw * (1 - 1e-9)) return m * mag;
    return 10 * mag;
  }
  function ticks(lo, hi, step) {
    const out = [];
    for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k * step);
    return out;
  }
  function tickLabel(v, step) {
    if (Math.abs(v) < step * 1e-6) v = 0;
    if (Math.max(Math.abs(v), step) >= 1e4) return compact(v, true);
    const d = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
    return v.toFixed(d);
  }
  // [lo, hi] covering the values and zero (bars start at zero), widened to whole ticks.
  function barDomain(values) {
    const lo = Math.min(0, ...values);
    let hi = Math.max(0, ...values);
    if (hi - lo <= 0) hi = 1;
    const step = niceStep(hi - lo, 5);
    return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step, step];
  }

  function setSize(svg, h) {
    svg.setAttribute('viewBox', `0 0 ${W} ${Math.ceil(h)}`);
    svg.setAttribute('width', W);
    svg.setAttribute('height', Math.ceil(h));
  }

  // A horizontal bar chart of rows {name, color, value, label, whisker?, dim?, strong?} in a
  // panel of width w at x offset x0; returns the panel's height.
  function barPanel(svg, x0, w, rows, opt) {
    const g = el(svg, 'g', { transform: `translate(${x0},0)` });
    const nameLen = Math.max(4, ...rows.map((r) => short(r.name).length));
    const left = 40 + Math.min(170, nameLen * 7.6);
    const right = w - (opt.labelRoom || 100);
    const top = opt.title ? 34 : 10;
    // At least room for the rotated axis label; few bars are centred in it.
    const bottom = top + Math.max(rows.length * ROW, 84);
    const first = top + (bottom - top - rows.length * ROW) / 2;
    const values = [];
    for (const r of rows) for (const v of [r.value, r.whisker]) if (isNum(v)) values.push(v);
    const [lo, hi, step] = barDomain(values);
    const sx = (v) => left + ((v - lo) / (hi - lo)) * (right - left);
    if (opt.title) el(g, 'text', { x: 0, y: 16, class: 'panel-title' }, opt.title);
    for (const v of ticks(lo, hi, step)) {
      const x = sx(v);
      el(g, 'line', { x1: x, x2: x, y1: top, y2: bottom, class: 'grid' });
      el(g, 'line', { x1: x, x2: x, y1: bottom, y2: bottom + 5, class: 'axis' });
      el(g, 'text', { x, y: bottom + 19, 'text-anchor': 'middle', class: 'tick' }, tickLabel(v, step));
    }
    rows.forEach((r, i) => {
      const cy = first + i * ROW + ROW / 2;
      const name = el(g, 'text', { x: left - 8, y: cy + 4.5, 'text-anchor': 'end',
        class: r.strong ? 'strong' : '' }, short(r.name));
      el(name, 'title', {}, r.name);
      if (!isNum(r.value)) {
        el(g, 'text', { x: sx(0) + 6, y: cy + 4.5, class: 'tick' }, 'n/a');
        return;
      }
      const a = sx(0);
      const b = sx(r.value);
      const bar = el(g, 'rect', { x: Math.min(a, b), y: cy - ROW / 2 + 5, width: Math.abs(b - a),
        height: ROW - 10, rx: 2, fill: r.color, 'fill-opacity': r.dim ? 0.45 : 0.9 });
      if (r.strong) { bar.setAttribute('stroke', '#1d2430'); bar.setAttribute('stroke-width', 1.5); }
      el(bar, 'title', {}, `${r.name}: ${r.label}`);
      let end = Math.max(a, b);
      if (isNum(r.whisker)) {
        const c = sx(r.whisker);
        el(g, 'line', { x1: b, x2: c, y1: cy, y2: cy, class: 'whisker' });
        el(g, 'line', { x1: c, x2: c, y1: cy - 6, y2: cy + 6, class: 'whisker' });
        end = Math.max(end, c);
      }
      el(g, 'text', { x: end + 6, y: cy + 4.5, class: r.strong ? 'strong' : '' }, r.label);
    });
    el(g, 'line', { x1: left, x2: left, y1: top, y2: bottom, class: 'axis' });
    el(g, 'line', { x1: left, x2: right, y1: bottom, y2: bottom, class: 'axis' });
    el(g, 'text', { x: (left + right) / 2, y: bottom + 40, 'text-anchor': 'middle',
      class: 'axis-label' }, opt.axis);
    el(g, 'text', { transform: `translate(14,${(top + bottom) / 2}) rotate(-90)`,
      'text-anchor': 'middle', class: 'axis-label' }, 'backbone');
    return bottom + 52;
  }

  // One or two bar panels side by side (x offsets 0 and W/2 + 10).
  function barChart(svg, panels) {
    const w = panels.length === 1 ? W : W / 2 - 10;
    let h = 0;
    panels.forEach((p, i) => { h = Math.max(h, barPanel(svg, i * (w + 20), w, p.rows, p)); });
    setSize(svg, h);
  }

  function rowsOf(ok, value, label, extra) {
    return ok.map((r, i) => Object.assign({ name: r.name, color: r.color, value: value(r),
      label: label(r) }, extra ? extra(r, i) : {}));
  }

  function chartValLoss(svg, ok) {
    const best = isNum(ok[0].val_loss) ? 0 : -1;
    barChart(svg, [{
      rows: rowsOf(ok, (r) => r.val_loss, (r) => fmtLoss(r.val_loss) + (r === ok[best] ? '  best' : ''),
        (r, i) => ({ strong: i === best, dim: best >= 0 && i !== best })),
      axis: 'validation loss (lower is better)',
    }]);
  }

  function chartSpeed(svg, ok) {
    barChart(svg, [{
      rows: rowsOf(ok, (r) => r.train_samples_per_s, (r) => fixed(0)(r.train_samples_per_s)),
      axis: 'training samples per second (higher is better)',
    }]);
  }

  function chartLatency(svg, ok) {
    const lat = (r) => r.latency || {};
    barChart(svg, [{
      title: 'one game: median step (whisker: p99)',
      rows: rowsOf(ok, (r) => lat(r).step_batch1_us,
        (r) => `${fixed(1)(lat(r).step_batch1_us)} (p99 ${fixed(1)(lat(r).step_batch1_p99_us)})`,
        (r) => ({ whisker: lat(r).step_batch1_p99_us })),
      axis: 'µs per step (lower is better)',
      labelRoom: 130,
    }, {
      title: '256 games at once: median step',
      rows: rowsOf(ok, (r) => lat(r).step_batch256_ms, (r) => fixed(2)(lat(r).step_batch256_ms)),
      axis: 'ms per step (lower is better)',
    }]);
  }

  function chartComplexity(svg, ok) {
    barChart(svg, [{
      title: 'trainable parameters',
      rows: rowsOf(ok, (r) => r.params, (r) => compact(r.params)),
      axis: 'parameters',
      labelRoom: 70,
    }, {
      title: 'multiply-accumulates per predicted frame',
      rows: rowsOf(ok, (r) => r.macs_per_example, (r) => compact(r.macs_per_example)),
      axis: 'MACs per example (training window)',
      labelRoom: 70,
    }]);
  }

  // Runs of consecutive finite points of one series of a curve, as [epoch, loss] pairs.
  function runs(curve, key) {
    const out = [];
    let cur = [];
    for (const p of curve) {
      if (isNum(p.epoch) && isNum(p[key])) cur.push([p.epoch, p[key]]);
      else if (cur.length) { out.push(cur); cur = []; }
    }
    if (cur.length) out.push(cur);
    return out;
  }

  function chartCurves(svg, ok) {
    const left = 70, right = W - 250, top = 12, bottom = 300;
    const xs = [], ys = [];
    for (const r of ok) {
      for (const p of r.curve || []) {
        if (!isNum(p.epoch)) continue;
        for (const v of [p.val_loss, p.train_loss]) if (isNum(v)) { xs.push(p.epoch); ys.push(v); }
      }
    }
    let e0 = xs.length ? Math.min(...xs) : 1, e1 = xs.length ? Math.max(...xs) : 1;
    const xpad = Math.max(0.3, (e1 - e0) * 0.03);
    e0 -= xpad; e1 += xpad;
    const xstep = Math.max(1, niceStep(e1 - e0, 10));
    let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
    if (y1 - y0 <= 0) { const d = Math.abs(y0) > 0 ? Math.abs(y0) * 0.1 : 1; y0 -= d; y1 += d; }
    else { const d = (y1 - y0) * 0.05; y0 -= d; y1 += d; }
    const ystep = niceStep(y1 - y0, 6);
    y0 = Math.floor(y0 / ystep + 1e-9) * ystep;
    y1 = Math.ceil(y1 / ystep - 1e-9) * ystep;
    const sx = (x) => left + ((x - e0) / (e1 - e0)) * (right - left);
    const sy = (y) => bottom - ((y - y0) / (y1 - y0)) * (bottom - top);

    el(svg, 'rect', { x: left, y: top, width: right - left, height: bottom - top, class: 'plot-bg' });
    for (const v of ticks(y0, y1, ystep)) {
      el(svg, 'line', { x1: left, x2: right, y1: sy(v), y2: sy(v), class: 'grid' });
      el(svg, 'line', { x1: left - 5, x2: left, y1: sy(v), y2: sy(v), class: 'axis' });
      el(svg, 'text', { x: left - 9, y: sy(v) + 4, 'text-anchor': 'end', class: 'tick' }, tickLabel(v, ystep));
    }
    for (const v of ticks(e0, e1, xstep)) {
      el(svg, 'line', { x1: sx(v), x2: sx(v), y1: top, y2: bottom, class: 'grid' });
      el(svg, 'line', { x1: sx(v), x2: sx(v), y1: bottom, y2: bottom + 5, class: 'axis' });
      el(svg, 'text', { x: sx(v), y: bottom + 19, 'text-anchor': 'middle', class: 'tick' }, tickLabel(v, xstep));
    }
    el(svg, 'line', { x1: left, x2: left, y1: top, y2: bottom, class: 'axis' });
    el(svg, 'line', { x1: left, x2: right, y1: bottom, y2: bottom, class: 'axis' });
    el(svg, 'text', { x: (left + right) / 2, y: bottom + 40, 'text-anchor': 'middle', class: 'axis-label' }, 'epoch');
    el(svg, 'text', { transform: `translate(18,${(top + bottom) / 2}) rotate(-90)`,
      'text-anchor': 'middle', class: 'axis-label' }, 'loss');

    const pts = (run) => run.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    for (const r of ok) {
      const curve = r.curve || [];
      for (const run of runs(curve, 'train_loss')) {
        if (run.length > 1) el(svg, 'polyline', { points: pts(run), fill: 'none', stroke: r.color,
          'stroke-width': 1.6, 'stroke-dasharray': '6 4', 'stroke-opacity': 0.85 });
        for (const [x, y] of run) {
          const m = el(svg, 'circle', { cx: sx(x), cy: sy(y), r: 3, fill: '#fff', stroke: r.color, 'stroke-width': 1.5 });
          el(m, 'title', {}, `${r.name}, epoch ${x}: training loss ${fmtLoss(y)}`);
        }
      }
      for (const run of runs(curve, 'val_loss')) {
        if (run.length > 1) el(svg, 'polyline', { points: pts(run), fill: 'none', stroke: r.color, 'stroke-width': 2.4 });
        for (const [x, y] of run) {
          const m = el(svg, 'circle', { cx: sx(x), cy: sy(y), r: 4, fill: r.color });
          el(m, 'title', {}, `${r.name}, epoch ${x}: validation loss ${fmtLoss(y)}`);
        }
      }
    }

    // Legend: one entry per backbone with its last validation loss, then the line styles.
    const lx = right + 20, ly = top, rowH = 22;
    const lh = 14 + (ok.length + 2) * rowH + 6;
    el(svg, 'rect', { x: lx, y: ly, width: W - lx - 2, height: lh, rx: 4, class: 'legend-bg' });
    el(svg, 'text', { x: W - 14, y: ly + 20, 'text-anchor': 'end', class: 'tick' }, 'last val loss');
    ok.forEach((r, i) => {
      const y = ly + 14 + (i + 1) * rowH;
      el(svg, 'line', { x1: lx + 10, x2: lx + 36, y1: y - 4, y2: y - 4, stroke: r.color, 'stroke-width': 3 });
      const t = el(svg, 'text', { x: lx + 44, y }, short(r.name, 15));
      el(t, 'title', {}, r.name);
      const last = (r.curve || []).filter((p) => isNum(p.val_loss)).pop();
      el(svg, 'text', { x: W - 14, y, 'text-anchor': 'end' }, last ? fmtLoss(last.val_loss) : 'n/a');
    });
    const ky = ly + 14 + (ok.length + 1) * rowH + 6;
    el(svg, 'line', { x1: lx + 10, x2: lx + 36, y1: ky - 4, y2: ky - 4, stroke: '#4a5260', 'stroke-width': 2.4 });
    el(svg, 'text', { x: lx + 44, y: ky, class: 'tick' }, 'validation');
    el(svg, 'line', { x1: lx + 120, x2: lx + 146, y1: ky - 4, y2: ky - 4, stroke: '#4a5260',
      'stroke-width': 1.6, 'stroke-dasharray': '6 4' });
    el(svg, 'text', { x: lx + 154, y: ky, class: 'tick' }, 'training');
    setSize(svg, Math.max(bottom + 52, ly + lh + 4));
  }

  function noData(svg) {
    el(svg, 'rect', { x: 0, y: 0, width: W, height: 60, class: 'plot-bg' });
    el(svg, 'line', { x1: 0, x2: W, y1: 59, y2: 59, class: 'grid' });
    el(svg, 'text', { x: W / 2, y: 36, 'text-anchor': 'middle', class: 'axis-label' },
      'no successful backbone to chart');
    setSize(svg, 60);
  }

  function main() {
    const data = JSON.parse(document.getElementById('bench-data').textContent);
    if (!data || !Array.isArray(data.results)) throw new Error('no benchmark data');
    // Colours by run order; rows ranked like the table: finite validation loss ascending first.
    const ok = data.results.filter((r) => !r.error)
      .map((r, i) => Object.assign({}, r, { color: PALETTE[i % PALETTE.length], order: i }));
    ok.sort((a, b) => {
      const fa = isNum(a.val_loss), fb = isNum(b.val_loss);
      if (fa !== fb) return fa ? -1 : 1;
      if (fa && a.val_loss !== b.val_loss) return a.val_loss - b.val_loss;
      return a.order - b.order;
    });
    const charts = [['chart-val-loss', chartValLoss], ['chart-curves', chartCurves],
      ['chart-speed', chartSpeed], ['chart-latency', chartLatency],
      ['chart-complexity', chartComplexity]];
    let drawn = 0;
    for (const [id, draw] of charts) {
      const svg = document.querySelector(`#${id} svg`);
      if (!svg) throw new Error(`no svg in #${id}`);
      if (ok.length) draw(svg, ok); else noData(svg);
      drawn += 1;
    }
    document.body.setAttribute('data-charts-rendered', String(drawn));
  }

  try {
    main();
  } catch (e) {
    document.body.setAttribute('data-chart-error', String((e && e.message) || e));
  }
})();
"#;
