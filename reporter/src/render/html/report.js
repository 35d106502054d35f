// The heapsnap HTML report: reads the data set embedded in the page
// (`heapsnap report`) and draws the leak suspects, a flamegraph, the top
// table and a diff between any two snapshots. No network, no library.
"use strict";

// Errors the page meets, for its self-test: thrown anywhere, or written to
// the console.
const PROBLEMS = [];
window.addEventListener("error", (e) => PROBLEMS.push(String(e.message)));
const consoleError = console.error.bind(console);
console.error = (...args) => {
  PROBLEMS.push(args.map(String).join(" "));
  consoleError(...args);
};

const DATA = JSON.parse(document.getElementById("data").textContent);
const SVG_NS = "http://www.w3.org/2000/svg";
/** Rows a table shows before "show all". */
const PAGE = 300;
/** Frames narrower than this share of the graph are not drawn. */
const MIN_FRAME = 0.0005;
const FRAME_HEIGHT = 18;

// ---------------------------------------------------------------- helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** `0 B`, `512 B`, `1.5 KiB`, `45.4 MiB`: as the command line writes them. */
function bytes(n) {
  n = Math.max(0, Math.round(n));
  if (n < 1024) return `${n} B`;
  let unit = 0;
  let value = n;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit >= 3 ? 2 : 1)} ${UNITS[unit]}`;
}

function signedBytes(n) {
  return n > 0 ? `+${bytes(n)}` : n < 0 ? `-${bytes(-n)}` : "0 B";
}

function count(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** A count and its standard error to two significant digits, as the command line writes it. */
function countAbout(n, stddev) {
  if (!(stddev >= 0.5)) return count(n);
  const magnitude = Math.max(1, Math.pow(10, Math.floor(Math.log10(stddev)) - 1));
  return `${count(n)} ±${count(Math.round(stddev / magnitude) * magnitude)}`;
}

function signedCount(n) {
  return n > 0 ? `+${count(n)}` : count(n);
}

function percent(fraction) {
  const p = fraction * 100;
  if (!isFinite(p)) return "";
  return p > 0 && p < 0.05 ? "<0.1%" : `${p.toFixed(1)}%`;
}

function seconds(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7200000) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}

// Why a location is `?` (view::Unknown::describe).
const UNKNOWN = { no_stack: "no stack recorded", no_symbols: "no symbols", library_only: "library code only" };

function locationText(loc) {
  if (!loc || !loc.function) return "";
  if (!loc.file) return loc.unknown ? `${loc.function} (${UNKNOWN[loc.unknown]})` : loc.function;
  return loc.line ? `${loc.function} (${loc.file}:${loc.line})` : `${loc.function} (${loc.file})`;
}

function snapshotLabel(s, i) {
  return `#${i + 1} at ${seconds(s.at_ms)}: ${bytes(s.live_bytes)} (${s.trigger})`;
}

/** Options for the snapshots `indices` (all of them by default), `chosen` selected. */
function fillSnapshots(select, chosen, indices = DATA.snapshots.map((_, i) => i)) {
  for (const i of indices) select.append(el("option", { value: i }, snapshotLabel(DATA.snapshots[i], i)));
  select.value = String(chosen);
}

/** A site's frames as names, outermost first. */
function pathNames(site) {
  return site.path.map((id) => DATA.frames[id] || "?");
}

// ------------------------------------------------------------------ theme

const THEMES = ["auto", "light", "dark"];

function setTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  document.getElementById("theme").textContent = `Theme: ${theme}`;
  try {
    localStorage.setItem("heapsnap-theme", theme);
  } catch (_) {
    // Storage is off for files in some browsers: the choice lasts the visit.
  }
}

function initTheme() {
  let saved = "auto";
  try {
    saved = localStorage.getItem("heapsnap-theme") || "auto";
  } catch (_) {}
  setTheme(THEMES.includes(saved) ? saved : "auto");
  document.getElementById("theme").addEventListener("click", () => {
    const now = document.documentElement.dataset.theme || "auto";
    setTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
  });
}

// ----------------------------------------------------------- sortable table

/**
 * A table sortable by any column: `columns` are {key, label, num, cell(row)
 * -> text, cls(row) -> class}; a click on a header sorts by it, a second
 * click reverses. Shows PAGE rows, then a button for the rest.
 */
function sortableTable(container, columns, rows, sortKey, descending) {
  const state = { key: sortKey, descending, all: false };
  function value(row, key) {
    const v = row[key];
    return v === null || v === undefined ? "" : v;
  }
  function draw() {
    const column = columns.find((c) => c.key === state.key);
    const sorted = rows.slice().sort((a, b) => {
      const x = value(a, state.key);
      const y = value(b, state.key);
      let order;
      if (column && column.num) order = x - y;
      else order = String(x).localeCompare(String(y));
      return state.descending ? -order : order;
    });
    const head = el("tr");
    for (const c of columns) {
      const sort = c.key === state.key ? (state.descending ? "descending" : "ascending") : null;
      const th = el("th", { class: c.num ? "num" : null, "aria-sort": sort, "data-key": c.key, scope: "col" }, c.label);
      th.addEventListener("click", () => {
        if (state.key === c.key) state.descending = !state.descending;
        else {
          state.key = c.key;
          state.descending = !!c.num;
        }
        draw();
      });
      head.append(th);
    }
    const body = el("tbody");
    const shown = state.all ? sorted : sorted.slice(0, PAGE);
    for (const row of shown) {
      const tr = el("tr");
      for (const c of columns) {
        const text = c.cell ? c.cell(row) : value(row, c.key);
        const cls = [c.num ? "num" : null, c.cls ? c.cls(row) : null].filter(Boolean).join(" ");
        tr.append(el("td", { class: cls || null, title: c.title ? c.title(row) : null }, text));
      }
      body.append(tr);
    }
    const table = el("table", {}, el("thead", {}, head), body);
    container.replaceChildren(table);
    if (shown.length < sorted.length) {
      const more = el("button", { type: "button", class: "more" }, `Show all ${count(sorted.length)} rows`);
      more.addEventListener("click", () => {
        state.all = true;
        draw();
      });
      container.append(more);
    }
    if (rows.length === 0) container.append(el("p", { class: "muted" }, "Nothing to show."));
  }
  draw();
}

// ---------------------------------------------------------------- suspects

/** A chart of a suspect's live bytes over time with a band of ±2 standard errors. */
function suspectChart(series) {
  const width = 720;
  const height = 220;
  const pad = { left: 72, right: 16, top: 12, bottom: 34 };
  const span = Math.max(1, series[series.length - 1].at_ms - series[0].at_ms);
  const top = Math.max(1, ...series.map((p) => p.bytes + 2 * p.stddev));
  const x = (ms) => pad.left + ((ms - series[0].at_ms) / span) * (width - pad.left - pad.right);
  const y = (b) => pad.top + (1 - Math.max(0, b) / top) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  chart.append(svg("title", {}, "Live bytes over time, with a band of two standard errors"));
  for (let i = 0; i <= 4; i++) {
    const value = (top * i) / 4;
    chart.append(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }));
    chart.append(svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, bytes(value)));
  }
  for (let i = 0; i <= 4; i++) {
    const ms = series[0].at_ms + (span * i) / 4;
    chart.append(svg("text", { x: x(ms), y: height - 14, "text-anchor": "middle" }, seconds(Math.round(ms))));
  }
  chart.append(svg("text", { x: width - pad.right, y: height - 2, "text-anchor": "end" }, "time since the first snapshot"));
  const upper = series.map((p) => `${x(p.at_ms)},${y(p.bytes + 2 * p.stddev)}`);
  const lower = series.map((p) => `${x(p.at_ms)},${y(p.bytes - 2 * p.stddev)}`).reverse();
  chart.append(svg("polygon", { class: "band", points: upper.concat(lower).join(" ") }));
  chart.append(svg("polyline", { class: "line", points: series.map((p) => `${x(p.at_ms)},${y(p.bytes)}`).join(" ") }));
  for (const p of series) {
    const dot = svg("circle", { class: "dot", cx: x(p.at_ms), cy: y(p.bytes), r: 3 });
    dot.append(svg("title", {}, `${seconds(p.at_ms)}: ${bytes(p.bytes)} ± ${bytes(2 * p.stddev)}`));
    chart.append(dot);
  }
  return chart;
}

function suspectCard(suspect, possible) {
  const card = el("article", { class: possible ? "card possible suspect" : "card suspect" });
  card.append(el("h3", {}, `${suspect.rank}. ${suspect.summary}`));
  if (suspect.series && suspect.series.length >= 2) {
    card.append(suspectChart(suspect.series));
    card.append(el("p", { class: "legend" }, "Line: estimated live bytes of the suspect and what it holds. Band: ±2 standard errors of the sampling (about 95%)."));
  }
  const held = el("div");
  card.append(el("h3", {}, "What grows with it"), held);
  const rows = suspect.holds.map((h) => ({
    live: h.live_bytes,
    count: h.live_allocs,
    countError: h.live_allocs_stddev,
    growth: h.growth_bytes,
    type: h.type,
    function: h.function,
  }));
  sortableTable(held, [
    { key: "live", label: "LIVE", num: true, cell: (r) => bytes(r.live) },
    { key: "count", label: "COUNT", num: true, cell: (r) => countAbout(r.count, r.countError) },
    { key: "growth", label: "GROWTH", num: true, cell: (r) => signedBytes(r.growth) },
    { key: "type", label: "TYPE", cls: () => "type" },
    { key: "function", label: "ALLOCATED IN", cls: () => "loc" },
  ], rows, "live", true);
  const details = el("details", {}, el("summary", {}, "Stack"), el("div", { class: "stack" }, suspect.stack.join("\n")));
  card.append(details);
  return card;
}

function drawSuspects() {
  const body = document.getElementById("suspects-body");
  const leaks = DATA.leaks;
  if (!leaks) {
    body.append(el("p", { class: "muted" }, `No leak analysis: ${DATA.leaks_unavailable || "no data"}.`));
    return;
  }
  const level = percent(leaks.min_confidence);
  body.append(el("p", { class: "muted" },
    `${leaks.snapshots} snapshots over ${seconds(leaks.window_ms)}, ${sampling(leaks.interval_bytes)}; ` +
    `live heap ${bytes(leaks.live_bytes_first)} → ${bytes(leaks.live_bytes_last)}. A suspect keeps growing with ${level} confidence or more.`));
  if (leaks.notes.length) body.append(el("ul", { class: "notes" }, ...leaks.notes.map((n) => el("li", {}, n))));
  if (leaks.suspects.length === 0) {
    body.append(el("p", {}, `No leak suspects: nothing keeps growing with ${level} confidence or more.`));
  }
  leaks.suspects.forEach((s) => body.append(suspectCard(s, false)));
  if (leaks.possible.length) {
    body.append(el("h3", {}, `Grew, but may have stopped (below ${level})`));
    leaks.possible.forEach((s) => body.append(suspectCard(s, true)));
  }
}

// -------------------------------------------------------------- flamegraph

const flame = { root: null, zoom: null, metric: "live_bytes", snapshot: 0, search: null };

function node(name, parent) {
  return { name, value: 0, children: new Map(), parent, site: null };
}

/** The snapshot's sites as a tree: program frames from the root, the type at the tip. */
function buildTree(snapshot, metric) {
  const root = node("all", null);
  const columns = DATA.snapshots[snapshot].sites;
  for (let k = 0; k < columns.site.length; k++) {
    const weight = columns[metric][k];
    if (!(weight > 0)) continue;
    const site = DATA.sites[columns.site[k]];
    root.value += weight;
    let at = root;
    for (const name of pathNames(site).concat(`[${site.type}]`)) {
      let child = at.children.get(name);
      if (!child) {
        child = node(name, at);
        at.children.set(name, child);
      }
      child.value += weight;
      at = child;
    }
  }
  return root;
}

function frameColour(name) {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  if (name.startsWith("[")) return `hsl(${200 + (hash % 30)}, 70%, ${62 + (hash % 12)}%)`;
  return `hsl(${20 + (hash % 40)}, ${75 + (hash % 20)}%, ${58 + (hash % 14)}%)`;
}

function describe(value) {
  return flame.metric === "live_allocs" ? `${count(value)} allocations` : bytes(value);
}

function searchRegex(text) {
  if (!text) return null;
  try {
    return new RegExp(text, "i");
  } catch (_) {
    return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
  }
}

function drawFlame() {
  const graph = document.getElementById("flame-graph");
  const root = flame.root;
  const zoom = flame.zoom || root;
  const frames = [];
  // The zoomed frame's ancestors span the width, dimmed.
  const above = [];
  for (let at = zoom.parent; at; at = at.parent) above.unshift(at);
  above.forEach((n, depth) => frames.push({ n, depth, x: 0, w: 1, above: true }));
  let matched = 0;
  const walk = (n, depth, x, insideMatch) => {
    const w = zoom.value ? n.value / zoom.value : 0;
    if (w < MIN_FRAME) return;
    const isMatch = !!(flame.search && flame.search.test(n.name));
    if (isMatch && !insideMatch) matched += n.value;
    frames.push({ n, depth, x, w, match: isMatch });
    let childX = x;
    const children = [...n.children.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) {
      walk(child, depth + 1, childX, insideMatch || isMatch);
      childX += zoom.value ? child.value / zoom.value : 0;
    }
  };
  walk(zoom, above.length, 0, false);
  const depth = frames.reduce((d, f) => Math.max(d, f.depth), 0);
  graph.style.height = `${(depth + 1) * FRAME_HEIGHT + 2}px`;
  const nodes = frames.map((f) => {
    const share = root.value ? f.n.value / root.value : 0;
    const label = `${f.n.name}: ${describe(f.n.value)} (${percent(share)})`;
    const div = el("div", {
      class: `frame${f.above ? " above" : ""}${f.match ? " match" : ""}`,
      title: label,
      style: `left:${(f.x * 100).toFixed(4)}%;width:${(f.w * 100).toFixed(4)}%;top:${f.depth * FRAME_HEIGHT}px;background:${frameColour(f.n.name)}`,
    }, f.w > 0.02 ? f.n.name : "");
    div.addEventListener("click", () => {
      flame.zoom = f.n === flame.zoom ? f.n.parent || root : f.n;
      if (f.above) flame.zoom = f.n;
      drawFlame();
    });
    div.addEventListener("mouseenter", () => {
      document.getElementById("flame-info").textContent = label;
    });
    div.flameNode = f.n;
    return div;
  });
  graph.replaceChildren(...nodes);
  const matchedText = flame.search
    ? `matched ${describe(matched)} of ${describe(root.value)} (${percent(root.value ? matched / root.value : 0)})`
    : "";
  document.getElementById("flame-matched").textContent = matchedText;
  if (root.value === 0) graph.replaceChildren(el("p", { class: "muted" }, "Nothing to draw: the snapshot holds no live memory here."));
}

function initFlame() {
  const snapshotSelect = document.getElementById("flame-snapshot");
  fillSnapshots(snapshotSelect, DATA.snapshots.length - 1);
  const rebuild = () => {
    flame.snapshot = Number(snapshotSelect.value);
    flame.metric = document.getElementById("flame-metric").value;
    flame.root = buildTree(flame.snapshot, flame.metric);
    flame.zoom = null;
    drawFlame();
  };
  snapshotSelect.addEventListener("change", rebuild);
  document.getElementById("flame-metric").addEventListener("change", rebuild);
  document.getElementById("flame-search").addEventListener("input", (e) => {
    flame.search = searchRegex(e.target.value.trim());
    drawFlame();
  });
  document.getElementById("flame-reset").addEventListener("click", () => {
    flame.zoom = null;
    drawFlame();
  });
  rebuild();
}

// --------------------------------------------------------------------- top

/**
 * The tables were computed by the reporter, as `heapsnap top` and
 * `heapsnap diff` compute them: rows are drawn here, never added up.
 * A row's place (type, location, tag, stack) is in DATA.tables.places.
 */
function placed(row) {
  const place = DATA.tables.places[row.place];
  return {
    ...row,
    type: place.type,
    location: locationText(place.location),
    tag: place.tag || "",
    stack: place.stack.map((id) => DATA.frames[id] || "?").join("\n"),
  };
}

/** The columns that say what a row is and where it was allocated. */
const PLACE_COLUMNS = [
  { key: "type", label: "TYPE", cls: () => "type" },
  { key: "location", label: "LOCATION", cls: () => "loc", title: (r) => r.stack },
];

function drawTop() {
  const view = Number(document.getElementById("top-snapshot").value);
  const by = document.getElementById("top-by").value;
  const tops = DATA.tables.tops[DATA.tables.views.indexOf(view)];
  const rows = (tops ? tops[by] : []).map(placed);
  sortableTable(document.getElementById("top-table"), [
    { key: "live_bytes", label: "LIVE", num: true, cell: (r) => bytes(r.live_bytes) },
    { key: "live_bytes_stddev", label: "± (1σ)", num: true, cell: (r) => (r.live_bytes_stddev >= 0.5 ? bytes(r.live_bytes_stddev) : "") },
    { key: "live_allocs", label: "ALLOCS", num: true, cell: (r) => count(r.live_allocs) },
    { key: "share", label: "SHARE", num: true, cell: (r) => percent(r.share) },
    { key: "allocated_bytes", label: "ALLOCATED", num: true, cell: (r) => bytes(r.allocated_bytes) },
    ...PLACE_COLUMNS,
    { key: "tag", label: "TAG" },
  ], rows, "live_bytes", true);
}

function initTop() {
  const views = DATA.tables.views;
  fillSnapshots(document.getElementById("top-snapshot"), views[views.length - 1], views);
  document.getElementById("top-snapshot").addEventListener("change", drawTop);
  document.getElementById("top-by").addEventListener("change", drawTop);
  drawTop();
}

// -------------------------------------------------------------------- diff

function drawDiff() {
  const baseAt = Number(document.getElementById("diff-base").value);
  const newAt = Number(document.getElementById("diff-new").value);
  const by = document.getElementById("diff-by").value;
  const summary = document.getElementById("diff-summary");
  const table = document.getElementById("diff-table");
  const diff = DATA.tables.diffs.find((d) => d.base === baseAt && d.new === newAt);
  if (!diff) {
    summary.textContent = "Pick a base taken before the new snapshot.";
    table.replaceChildren();
    return;
  }
  const sb = DATA.snapshots[baseAt];
  const sn = DATA.snapshots[newAt];
  summary.textContent =
    `Live heap ${bytes(sb.live_bytes)} → ${bytes(sn.live_bytes)} (${signedBytes(diff.growth_bytes)}, ±${bytes(diff.growth_stddev)} sampling error) over ${seconds(sn.at_ms - sb.at_ms)}, as heapsnap diff gives it.`;
  sortableTable(table, [
    { key: "delta_bytes", label: "CHANGE", num: true, cell: (r) => signedBytes(r.delta_bytes), cls: (r) => (r.delta_bytes > 0 ? "grow" : r.delta_bytes < 0 ? "shrink" : null) },
    { key: "delta_stddev", label: "± (1σ)", num: true, cell: (r) => (r.delta_stddev >= 0.5 ? bytes(r.delta_stddev) : "") },
    { key: "before_bytes", label: "BASE", num: true, cell: (r) => bytes(r.before_bytes) },
    { key: "after_bytes", label: "NEW", num: true, cell: (r) => bytes(r.after_bytes) },
    { key: "delta_allocs", label: "ALLOCS", num: true, cell: (r) => signedCount(r.delta_allocs) },
    ...PLACE_COLUMNS,
  ], diff[by].map(placed), "delta_bytes", true);
}

function initDiff() {
  const views = DATA.tables.views;
  fillSnapshots(document.getElementById("diff-base"), views[0], views);
  fillSnapshots(document.getElementById("diff-new"), views[views.length - 1], views);
  for (const id of ["diff-base", "diff-new", "diff-by"]) document.getElementById(id).addEventListener("change", drawDiff);
  drawDiff();
}

// ------------------------------------------------------------------ header

/** How a snapshot was sampled, in words (0: off, 1 byte: every allocation). */
function sampling(interval) {
  if (interval === 0) return "sampling off";
  if (interval === 1) return "every allocation recorded";
  return `sampled every ${bytes(interval)}`;
}

function drawHeader() {
  const first = DATA.snapshots[0];
  const last = DATA.snapshots[DATA.snapshots.length - 1];
  const program = DATA.exe.split("/").pop();
  const parts = [`${program} (pid ${DATA.pid})`, `${DATA.snapshots.length} snapshots over ${seconds(last.at_ms - first.at_ms)}`];
  parts.push(sampling(last.interval_bytes));
  parts.push(`live heap ${bytes(first.live_bytes)} → ${bytes(last.live_bytes)}`);
  if (DATA.build_warning) {
    const warning = document.getElementById("build-warning");
    warning.textContent = `Warning: ${DATA.build_warning}`;
    warning.hidden = false;
  }
  const summary = document.getElementById("summary");
  summary.textContent = parts.join(" · ");
  summary.title = DATA.exe;
  const left = [];
  if (DATA.snapshots_left_out) left.push(`${DATA.snapshots_left_out} snapshots of the run left out (evenly spread ones kept)`);
  if (DATA.sites_left_out) left.push(`${DATA.sites_left_out} smaller sites summed into one row`);
  const footer = `Written by heapsnap report from ${DATA.snapshots.length} snapshots` + (left.length ? `; ${left.join("; ")}.` : ".");
  document.getElementById("footer").textContent = footer;
}

// --------------------------------------------------------------- self-test

/**
 * With `#selftest` in the address, the page drives its own controls and
 * writes what it saw into `#selftest` as JSON (what the project's browser
 * test reads).
 */
function selfTest() {
  const checks = {};
  // Nothing wider than the window: no sideways scrolling of the page.
  checks.width = window.innerWidth;
  checks.summary = document.getElementById("summary").textContent;
  checks.overflow = document.documentElement.scrollWidth - window.innerWidth;
  const graph = document.getElementById("flame-graph");
  checks.frames = graph.querySelectorAll(".frame").length;
  checks.charts = document.querySelectorAll(".chart").length;
  checks.bands = document.querySelectorAll(".chart .band").length;
  checks.suspect_cards = document.querySelectorAll(".suspect").length;
  const firstSuspect = document.querySelector(".suspect h3");
  checks.first_suspect = firstSuspect ? firstSuspect.textContent : null;
  // Zoom: the widest frame below the root fills the width after a click.
  const candidates = [...graph.querySelectorAll(".frame")].filter((d) => d.flameNode && d.flameNode.parent && d.flameNode.children.size > 0);
  candidates.sort((a, b) => b.flameNode.value - a.flameNode.value);
  const target = candidates.find((d) => parseFloat(d.style.width) < 99.99) || candidates[0];
  if (target) {
    const name = target.flameNode.name;
    target.click();
    const zoomed = [...graph.querySelectorAll(".frame")].find((d) => d.flameNode && d.flameNode.name === name && !d.classList.contains("above"));
    checks.zoomed_width = zoomed ? zoomed.style.width : null;
    checks.zoomed_frames = graph.querySelectorAll(".frame").length;
    document.getElementById("flame-reset").click();
    checks.reset_frames = graph.querySelectorAll(".frame").length;
  }
  // Search: the first site's type is found.
  const search = document.getElementById("flame-search");
  const leaf = [...graph.querySelectorAll(".frame")].map((d) => d.flameNode && d.flameNode.name).find((n) => n && n.startsWith("["));
  if (leaf) {
    search.value = leaf.slice(1, -1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    search.dispatchEvent(new Event("input"));
    checks.search_matches = graph.querySelectorAll(".frame.match").length;
    checks.search_text = document.getElementById("flame-matched").textContent;
    search.value = "";
    search.dispatchEvent(new Event("input"));
  }
  // Sorting the top table by type, then by live bytes ascending.
  const topTable = document.getElementById("top-table");
  const column = (key) => topTable.querySelector(`th[data-key="${key}"]`);
  const cells = (index) => [...topTable.querySelectorAll("tbody tr")].map((tr) => tr.children[index].textContent);
  checks.top_rows = topTable.querySelectorAll("tbody tr").length;
  checks.top_first_live = cells(0)[0] || null;
  const diffCells = [...document.querySelectorAll("#diff-table tbody tr:first-child td")].map((td) => td.textContent);
  checks.diff_first_change = diffCells[0] || null;
  checks.diff_first_error = diffCells[1] || null;
  column("type").click();
  const types = cells(5);
  checks.top_sorted_by_type = types.every((t, i) => i === 0 || types[i - 1].localeCompare(t) <= 0);
  checks.top_sort_attribute = column("type").getAttribute("aria-sort");
  column("live_bytes").click();
  column("live_bytes").click();
  checks.top_live_sort = column("live_bytes").getAttribute("aria-sort");
  // The diff between the first and the newest snapshot, then two others.
  const diffTable = document.getElementById("diff-table");
  checks.diff_rows = diffTable.querySelectorAll("tbody tr").length;
  checks.diff_summary = document.getElementById("diff-summary").textContent;
  if (DATA.tables.views.length >= 3) {
    const baseSelect = document.getElementById("diff-base");
    baseSelect.value = String(DATA.tables.views[1]);
    baseSelect.dispatchEvent(new Event("change"));
    checks.diff_rows_from_second = diffTable.querySelectorAll("tbody tr").length;
  }
  // The theme: dark changes the background.
  const before = getComputedStyle(document.body).backgroundColor;
  setTheme("dark");
  checks.dark_background = getComputedStyle(document.body).backgroundColor;
  setTheme("light");
  checks.light_background = getComputedStyle(document.body).backgroundColor;
  checks.system_dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  checks.initial_background = before;
  setTheme("auto");
  // Nothing was fetched, and nothing went wrong.
  checks.resources = performance.getEntriesByType("resource").map((e) => e.name);
  checks.problems = PROBLEMS.slice();
  return checks;
}

function main() {
  initTheme();
  drawHeader();
  drawSuspects();
  initFlame();
  initTop();
  initDiff();
}

const out = document.getElementById("selftest");
try {
  main();
  if (location.hash === "#selftest") {
    out.textContent = JSON.stringify({ ok: true, checks: selfTest() });
  }
} catch (err) {
  out.textContent = JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) });
  out.hidden = false;
  throw err;
}
