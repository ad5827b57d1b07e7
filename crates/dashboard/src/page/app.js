// The dashboard page: the run list, the selected run's charts (SVG drawn here), its
// evaluations, epochs and config, and the league's Elo tables, kept live by server-sent events.
"use strict";

const COLORS = ["#2f6fdb", "#d9480f", "#1a7f37", "#8250df", "#bf3989", "#9a6700", "#0f766e"];
// Charts with several tags; every other tag gets a chart of its own, in this order first.
const GROUPS = [
  { title: "loss", tags: ["train/loss", "val/loss", "epoch/train_loss", "epoch/val_loss"] },
  { title: "learning rate", tags: ["train/lr"] },
  { title: "throughput (scored frames/s)", tags: ["train/scored_frames_per_sec"] },
  { title: "gradient norm", tags: ["train/grad_norm"] },
  { title: "memory (MiB resident)", tags: ["memory/resident_mib"] },
  { title: "PPO losses", tags: ["ppo/policy_loss", "ppo/value_loss"] },
  { title: "entropy", tags: ["ppo/entropy"] },
  { title: "approx KL", tags: ["ppo/approx_kl"] },
  { title: "mean return", tags: ["rollout/mean_return"] },
  { title: "throughput (frames/s)", tags: ["rollout/frames_per_sec"] },
];

const state = {
  runs: [],
  selected: null,
  series: {},      // tag -> [[step, wall_time, value], ...] of the selected run
  loading: false,  // the selected run's points are being fetched
  pending: [],     // live points of the selected run that came while loading
  livePoints: 0,
};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const fmt = (v) => (v === null || v === undefined || !isFinite(v)) ? "–"
  : (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) ? v.toExponential(3) : (+v.toPrecision(4)).toString();
const getJson = async (url) => {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
};

// Adds a point, dropping the points at or after its step first (a resumed run logs again).
function pushPoint(points, p) {
  if (points.length && points[points.length - 1][0] >= p[0]) {
    let keep = points.length;
    while (keep > 0 && points[keep - 1][0] >= p[0]) keep--;
    points.length = keep;
  }
  points.push(p);
}

// The runs in lineage order, each with its depth: children under their parent.
function lineageOrder(runs) {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const kids = new Map();
  const roots = [];
  for (const r of runs) {
    if (r.parent && byId.has(r.parent) && r.parent !== r.id) {
      if (!kids.has(r.parent)) kids.set(r.parent, []);
      kids.get(r.parent).push(r);
    } else roots.push(r);
  }
  const out = [];
  const seen = new Set();
  const walk = (r, depth) => {
    if (seen.has(r.id)) return;
    seen.add(r.id);
    out.push([r, depth]);
    for (const k of kids.get(r.id) || []) walk(k, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  for (const r of runs) walk(r, 0); // a cycle of parents: still listed
  return out;
}

function renderRuns() {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  const warnings = [];
  for (const [r, depth] of lineageOrder(state.runs)) {
    const name = el("td", { style: "padding-left:" + (0.5 + depth * 1.2) + "em" }, (depth ? "└ " : "") + r.id);
    if (r.parent && !state.runs.some((x) => x.id === r.parent)) name.append(" ", el("span", { class: "parent" }, "← " + r.parent));
    const tr = el("tr", { "data-run": r.id, "data-status": r.status || "" },
      name,
      el("td", { class: "status-" + (r.status || "unknown") }, r.status || "?"),
      el("td", {}, r.training_type || "?"),
      el("td", { class: "num" }, r.latest_step === null ? "–" : String(r.latest_step)),
      el("td", { class: "num" }, fmt(r.best_val_loss)));
    if (r.id === state.selected) tr.classList.add("selected");
    tr.addEventListener("click", () => select(r.id));
    body.append(tr);
    for (const w of r.warnings || []) warnings.push(r.id + ": " + w);
  }
  $("runs-warnings").textContent = warnings.join("\n");
}

// The charts of the selected run's series: [{title, tags}].
function chartList() {
  const tags = Object.keys(state.series);
  const used = new Set();
  const charts = [];
  for (const g of GROUPS) {
    const have = g.tags.filter((t) => tags.includes(t));
    have.forEach((t) => used.add(t));
    if (have.length) charts.push({ title: g.title, tags: have });
  }
  const elo = tags.filter((t) => t.startsWith("elo/") && !used.has(t));
  elo.forEach((t) => used.add(t));
  if (elo.length) charts.push({ title: "Elo", tags: elo });
  for (const t of tags.filter((t) => !used.has(t)).sort()) charts.push({ title: t, tags: [t] });
  return charts;
}

// One SVG line chart of `tags` (x: step, y: value).
function drawChart(chart) {
  const W = 480, H = 210, L = 56, R = 10, T = 10, B = 28;
  const NS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const pts = chart.tags.flatMap((t) => state.series[t].filter((p) => p[2] !== null && isFinite(p[2])));
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[2])), Math.max(...pts.map((p) => p[2]))];
  if (!pts.length) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (x1 === x0) { x1 = x0 + 1; }
  if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fff", stroke: "#d9dee6" }));
  svg.append(svgEl("text", { x: L - 4, y: T + 10, "text-anchor": "end", "font-size": 10 }, fmt(y1)));
  svg.append(svgEl("text", { x: L - 4, y: H - B, "text-anchor": "end", "font-size": 10 }, fmt(y0)));
  svg.append(svgEl("text", { x: L, y: H - 8, "font-size": 10 }, String(x0)));
  svg.append(svgEl("text", { x: W - R, y: H - 8, "text-anchor": "end", "font-size": 10 }, "step " + x1));
  const legend = el("div", { class: "legend" });
  let total = 0;
  chart.tags.forEach((tag, i) => {
    const color = COLORS[i % COLORS.length];
    const data = state.series[tag].filter((p) => p[2] !== null && isFinite(p[2]));
    total += state.series[tag].length;
    const coords = data.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[2]).toFixed(1)).join(" ");
    svg.append(svgEl("polyline", { points: coords, fill: "none", stroke: color, "stroke-width": 1.5,
      "data-tag": tag, "data-points": state.series[tag].length }));
    if (data.length === 1) svg.append(svgEl("circle", { cx: sx(data[0][0]), cy: sy(data[0][2]), r: 3, fill: color }));
    const last = state.series[tag][state.series[tag].length - 1];
    legend.append(el("span", { style: "color:" + color }, "■ " + tag + " " + fmt(last ? last[2] : null)));
  });
  return el("figure", { class: "chart", "data-title": chart.title, "data-points": total },
    el("figcaption", {}, chart.title), svg, legend);
}

function renderCharts() {
  const charts = chartList();
  const box = $("charts");
  box.replaceChildren(...charts.map(drawChart));
  if (!charts.length) box.append(el("p", { class: "muted" }, "No TensorBoard points yet."));
  box.setAttribute("data-charts", charts.length);
}

function renderDetail(d) {
  $("config").textContent = JSON.stringify(d.config, null, 2);
  $("run-warnings").textContent = (d.warnings || []).join("\n");
  const evals = $("evals");
  evals.replaceChildren();
  for (const e of d.evals) {
    const shown = e.result && e.result.summary !== undefined ? e.result.summary : e.result;
    evals.append(el("h4", {}, "replay set " + e.replays_hash), el("pre", {}, JSON.stringify(shown, null, 2)));
  }
  if (!d.evals.length) evals.append(el("p", { class: "muted" }, "None."));
  const m = $("metrics");
  m.replaceChildren();
  const epochs = d.metrics.filter((r) => r && typeof r === "object");
  if (!epochs.length) { m.append(el("p", { class: "muted" }, "None.")); return; }
  const keys = [...new Set(epochs.flatMap((r) => Object.keys(r)))]
    .filter((k) => epochs.some((r) => typeof r[k] === "number")).slice(0, 10);
  const table = el("table", {}, el("thead", {}, el("tr", {}, ...keys.map((k) => el("th", {}, k)))));
  const body = el("tbody");
  for (const r of epochs.slice(-30)) body.append(el("tr", {}, ...keys.map((k) => el("td", { class: "num" }, fmt(r[k])))));
  table.append(body);
  m.append(table);
}

async function renderLeague() {
  let leagues;
  try { leagues = await getJson("/api/league"); } catch (e) { return; }
  const box = $("league");
  if (!leagues.length) return;
  box.replaceChildren();
  for (const l of leagues) {
    const head = l.run + (l.update !== null ? " · update " + l.update : "") + (l.timesteps !== null ? " · " + l.timesteps + " frames" : "");
    const body = el("tbody");
    for (const p of l.elo) body.append(el("tr", {}, el("td", {}, p.name), el("td", { class: "num" }, p.rating.toFixed(0)), el("td", { class: "num" }, String(p.games))));
    box.append(el("h3", {}, head), el("table", { class: "elo", "data-run": l.run },
      el("thead", {}, el("tr", {}, el("th", {}, "player"), el("th", {}, "Elo"), el("th", {}, "games"))), body));
  }
}

async function loadRuns() {
  try { state.runs = await getJson("/api/runs"); } catch (e) { return; }
  if (!state.selected && state.runs.length) select(state.runs[state.runs.length - 1].id);
  renderRuns();
}

// Shows run `id`: its points (fetched, then the live ones that came meanwhile) and detail.
async function select(id) {
  state.selected = id;
  if (location.hash !== "#run=" + encodeURIComponent(id)) history.replaceState(null, "", "#run=" + encodeURIComponent(id));
  $("run-title").textContent = id;
  renderRuns();
  state.loading = true;
  state.pending = [];
  try {
    const [scalars, detail] = await Promise.all([
      getJson("/api/runs/" + encodeURIComponent(id) + "/scalars"),
      getJson("/api/runs/" + encodeURIComponent(id)),
    ]);
    if (state.selected !== id) return;
    state.series = scalars;
    for (const p of state.pending) addLive(p);
    renderDetail(detail);
  } catch (e) {
    $("run-warnings").textContent = String(e);
  } finally {
    if (state.selected === id) { state.loading = false; state.pending = []; renderCharts(); }
  }
}

function addLive(p) {
  if (!state.series[p.tag]) state.series[p.tag] = [];
  pushPoint(state.series[p.tag], [p.step, p.wall_time, p.value]);
}

function onScalars(batch) {
  let mine = false;
  for (const p of batch) {
    if (p.run !== state.selected) continue;
    mine = true;
    state.livePoints++;
    if (state.loading) state.pending.push(p); else addLive(p);
  }
  document.body.setAttribute("data-live-points", state.livePoints);
  const latest = new Map();
  for (const p of batch) latest.set(p.run, Math.max(latest.get(p.run) ?? -Infinity, p.step));
  for (const r of state.runs) if (latest.has(r.id)) r.latest_step = Math.max(r.latest_step ?? -Infinity, latest.get(r.id));
  renderRuns();
  if (mine && !state.loading) renderCharts();
}

function connect() {
  const es = new EventSource("/api/events");
  const live = (s, text) => { document.body.setAttribute("data-live", s); $("live").textContent = text; };
  es.addEventListener("open", () => {
    live("open", "live");
    if (state.selected) select(state.selected); // catch up on what a reconnect missed
  });
  es.addEventListener("error", () => live("closed", "reconnecting…"));
  es.addEventListener("scalars", (e) => onScalars(JSON.parse(e.data)));
  es.addEventListener("runs", (e) => {
    const fresh = JSON.parse(e.data);
    const steps = new Map(state.runs.map((r) => [r.id, r.latest_step]));
    for (const r of fresh) if (steps.has(r.id) && (r.latest_step ?? -Infinity) < (steps.get(r.id) ?? -Infinity)) r.latest_step = steps.get(r.id);
    state.runs = fresh;
    if (!state.selected && fresh.length) select(fresh[fresh.length - 1].id);
    renderRuns();
    renderLeague();
  });
}

const fromHash = decodeURIComponent((location.hash.match(/^#run=(.*)$/) || [])[1] || "");
if (fromHash) select(fromHash);
loadRuns();
renderLeague();
connect();
