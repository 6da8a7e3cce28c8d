// twinbench trend viewer: uPlot over /api/v1/streams/query (plot values at screen resolution).
//
// The view lives in the URL (?tags=a,b&start=*-1h&end=*&live=1&separate=1), so a link
// reproduces it. Zooming (drag) and panning re-query `plot` for the new window with one
// interval per pixel, so a year of 1 Hz data draws from a few thousand points. Bad values
// are marked red along the bottom of the plot, Uncertain ones amber at their value; the
// hover read-out gives each tag's nearest value with its OPC UA status.
"use strict";

const API = "/api/v1";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const LIVE_MS = 2000;
const $ = (id) => document.getElementById(id);

const state = {
  tags: [],        // selected tag names, in draw order
  meta: {},        // name -> tag metadata (unit, stepped, ...)
  start: "*-1h",   // requested range (PI-style or ISO), as typed
  end: "*",
  view: null,      // [t0, t1] seconds when zoomed or panned; null = the requested range
  live: false,
  separate: false,
  series: {},      // name -> {t: [], v: [], s: [], good: []} as last fetched (+ live tail)
  span: null,      // [t0, t1] seconds the last fetch covered
};
let plot = null;
let requery = null;     // debounce timer of a zoom re-query
let liveTimer = null;

// ------------------------------------------------------------------ helpers
function parseTs(iso) {
  // "2026-01-01T00:00:00.123456789Z" -> seconds (float); Date keeps ms, the rest is added
  const ms = Date.parse(iso.slice(0, 23) + "Z");
  const extra = iso.length > 24 ? Number("0." + iso.slice(20, iso.length - 1)) - Number("0." + iso.slice(20, 23)) : 0;
  return ms / 1000 + extra;
}
function iso(seconds) { return new Date(Math.round(seconds * 1000)).toISOString(); }
function setStatus(text, error) { const el = $("status"); el.textContent = text; el.className = error ? "error" : ""; }
function bump(attr, n) { const c = $("chart"); c.dataset[attr] = String(Number(c.dataset[attr] || 0) + (n ?? 1)); }

async function api(path, body) {
  const headers = {"Accept": "application/json"};
  const token = localStorage.getItem("twinbench.token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = body === undefined ? {headers} : {method: "POST", headers: {...headers, "Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(API + path, init);
  const doc = await r.json();
  if (r.status === 401) $("token-box").hidden = false;
  if (!r.ok) throw new Error(doc.error ? `${doc.error.code}: ${doc.error.message}` : `HTTP ${r.status}`);
  return doc;
}

// ---------------------------------------------------------------- URL state
function readUrl() {
  const q = new URLSearchParams(location.search);
  state.tags = (q.get("tags") || "").split(",").filter(Boolean);
  state.start = q.get("start") || "*-1h";
  state.end = q.get("end") || "*";
  state.live = q.get("live") === "1";
  state.separate = q.get("separate") === "1";
  $("start").value = state.start; $("end").value = state.end;
  $("live").checked = state.live; $("separate").checked = state.separate;
}
function writeUrl() {
  const q = new URLSearchParams();
  if (state.tags.length) q.set("tags", state.tags.join(","));
  q.set("start", state.view ? iso(state.view[0]) : state.start);
  q.set("end", state.view ? iso(state.view[1]) : state.end);
  if (state.live) q.set("live", "1");
  if (state.separate) q.set("separate", "1");
  history.replaceState(null, "", "?" + q.toString().replaceAll("%2C", ",").replaceAll("%2A", "*"));
}

// ------------------------------------------------------------------- data
async function fetchPlot(start, end) {
  const width = Math.max(100, Math.floor($("chart").clientWidth || 800));
  const queries = state.tags.map((tag) => ({tag, kind: "plot", start, end, intervals: width}));
  bump("plotRequests");
  const t0 = performance.now();
  const doc = await api("/streams/query", {queries});
  let points = 0;
  state.series = {};
  for (const r of doc.results) {
    if (r.error) { setStatus(`${r.tag}: ${r.error.message}`, true); continue; }
    const s = {t: [], v: [], s: [], good: []};
    for (const it of r.items) { s.t.push(parseTs(it.timestamp)); s.v.push(it.value); s.s.push(it.status); s.good.push(it.good); }
    state.series[r.tag] = s;
    state.span = [parseTs(r.start), parseTs(r.end)];
    points += r.items.length;
  }
  if (!doc.results.some((r) => r.error)) {
    setStatus(`${points} plot values of ${state.tags.length} tag(s) in ${Math.round(performance.now() - t0)} ms`);
  }
}

function aligned() {
  // uPlot wants one x array: the union of the tags' timestamps; `undefined` where a tag has
  // no point (spanned), `null` where its value is Bad (a gap in the line)
  const names = state.tags.filter((n) => state.series[n]);
  const xs = Array.from(new Set(names.flatMap((n) => state.series[n].t))).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = names.map((n) => {
    const col = new Array(xs.length).fill(undefined);
    const s = state.series[n];
    s.t.forEach((t, i) => { col[index.get(t)] = s.v[i] === null ? null : s.v[i]; });
    return col;
  });
  return {names, data: [xs, ...ys]};
}

// ------------------------------------------------------------------ chart
function scaleOf(name) { return state.separate ? name : (state.meta[name]?.unit || "value"); }

function drawMarkers(u) {
  // Bad: red tick along the bottom (their value is not usable); Uncertain: amber dot at the value
  const ctx = u.ctx;
  let marks = 0;
  ctx.save();
  const bottom = u.bbox.top + u.bbox.height;
  state.tags.forEach((name) => {
    const s = state.series[name];
    if (!s) return;
    s.t.forEach((t, i) => {
      if (s.good[i]) return;
      const x = u.valToPos(t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      if (s.s[i].startsWith("Uncertain") && s.v[i] !== null) {
        ctx.fillStyle = "#f0a30a";
        ctx.beginPath(); ctx.arc(x, u.valToPos(s.v[i], scaleOf(name), true), 4 * devicePixelRatio, 0, 2 * Math.PI); ctx.fill();
      } else {
        ctx.fillStyle = "#d62728";
        ctx.fillRect(x - 1.5 * devicePixelRatio, bottom - 12 * devicePixelRatio, 3 * devicePixelRatio, 12 * devicePixelRatio);
      }
      marks += 1;
    });
  });
  ctx.restore();
  $("chart").dataset.badMarkers = String(marks);
}

function readout(u) {
  const left = u.cursor.left;
  if (left == null || left < 0) { $("readout").textContent = ""; return; }
  const x = u.posToVal(left, "x");
  const lines = [iso(x)];
  state.tags.forEach((name) => {
    const s = state.series[name];
    if (!s || !s.t.length) return;
    let lo = 0, hi = s.t.length - 1;          // nearest point by time (binary search)
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (s.t[mid] <= x) lo = mid; else hi = mid; }
    const i = Math.abs(s.t[hi] - x) < Math.abs(s.t[lo] - x) ? hi : lo;
    const unit = state.meta[name]?.unit || "";
    const value = s.v[i] === null ? "—" : `${s.v[i]} ${unit}`.trim();
    lines.push(`${name} = ${value}  [${s.s[i]}]  @ ${iso(s.t[i])}`);
  });
  $("readout").textContent = lines.join("\n");
}

function onSelect(u) {
  // a drag across the plot (only the user makes one): zoom to it and re-query that window
  if (u.select.width < 2) return;
  const min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
  u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
  if (max <= min) return;
  clearTimeout(requery);
  requery = setTimeout(() => { state.view = [min, max]; draw(); }, 50);
}

function build(names, data) {
  const scales = {x: {time: true}};
  const axes = [{}];
  const seen = [];
  const series = [{}];
  names.forEach((name, i) => {
    const key = scaleOf(name);
    if (!seen.includes(key)) {
      seen.push(key);
      scales[key] = {auto: true};
      axes.push({scale: key, label: key, side: seen.length % 2 ? 3 : 1, grid: {show: seen.length === 1}});
    }
    const unit = state.meta[name]?.unit;
    series.push({label: unit ? `${name} (${unit})` : name, scale: key, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
      paths: state.meta[name]?.stepped ? uPlot.paths.stepped({align: 1}) : undefined, points: {show: false}});
  });
  if (plot) plot.destroy();
  plot = new uPlot({
    width: Math.max(300, $("chart").clientWidth), height: 420, scales, axes, series,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),  // the axis in UTC, like the API
    cursor: {drag: {x: true, y: false, setScale: false}, bind: {dblclick: () => () => { state.view = null; draw(); return null; }}},
    hooks: {draw: [drawMarkers], setSelect: [onSelect], setCursor: [readout]},
  }, data, $("chart"));
}

async function draw() {
  writeUrl();
  renderSelected();
  if (!state.tags.length) { if (plot) { plot.destroy(); plot = null; } setStatus("search for a tag and click it to draw it"); return; }
  try {
    for (const name of state.tags.filter((n) => !state.meta[n])) state.meta[name] = await api("/tags/" + encodeURIComponent(name));
    const [start, end] = state.view ? [iso(state.view[0]), iso(state.view[1])] : [state.start, state.end];
    await fetchPlot(start, end);
  } catch (err) { setStatus(String(err.message || err), true); return; }
  const {names, data} = aligned();
  const wanted = names.map(scaleOf).join("|");
  if (!plot || plot.series.length !== names.length + 1 || plot._scaleKeys !== wanted) { build(names, data); plot._scaleKeys = wanted; }
  else plot.setData(data, false);
  const span = state.view || state.span;
  if (span) plot.setScale("x", {min: span[0], max: span[1]});
}

// -------------------------------------------------------------- live tail
async function tail() {
  if (!state.live || !state.tags.length || !plot) return;
  try {
    const doc = await api("/streams/query", {queries: state.tags.map((tag) => ({tag, kind: "last"}))});
    let newest = -Infinity;
    for (const r of doc.results) {
      const s = state.series[r.tag];
      if (!s || r.error || !r.items.length) continue;
      const it = r.items[0], t = parseTs(it.timestamp);
      if (!s.t.length || t > s.t[s.t.length - 1]) { s.t.push(t); s.v.push(it.value); s.s.push(it.status); s.good.push(it.good); }
      newest = Math.max(newest, t);
    }
    if (state.view || !state.span || newest === -Infinity) { plot.setData(aligned().data, false); return; }
    const width = state.span[1] - state.span[0];
    const end = Math.max(state.span[1], newest);
    state.span = [end - width, end];
    plot.setData(aligned().data, false);
    plot.setScale("x", {min: state.span[0], max: state.span[1]});
  } catch (err) { setStatus("live: " + (err.message || err), true); }
}
function setLive(on) { state.live = on; clearInterval(liveTimer); if (on) liveTimer = setInterval(tail, LIVE_MS); writeUrl(); }

// ------------------------------------------------------------- tag lists
async function search(text) {
  const pattern = !text ? "*" : /[*?[]/.test(text) ? text : `*${text}*`;
  try {
    const doc = await api("/tags?pattern=" + encodeURIComponent(pattern));
    const ul = $("results");
    ul.replaceChildren(...doc.items.slice(0, 200).map((t) => {
      state.meta[t.name] = t;
      const li = document.createElement("li");
      li.textContent = t.name; li.title = t.description || t.name; li.dataset.tag = t.name;
      const unit = document.createElement("span"); unit.className = "unit"; unit.textContent = t.unit; li.append(unit);
      li.onclick = () => { if (!state.tags.includes(t.name)) { state.tags.push(t.name); draw(); } };
      return li;
    }));
  } catch (err) { setStatus(String(err.message || err), true); }
}
function renderSelected() {
  $("selected").replaceChildren(...state.tags.map((name, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = COLORS[i % COLORS.length];
    li.append(sw, name + " ×"); li.title = "remove"; li.dataset.tag = name;
    li.onclick = () => { state.tags = state.tags.filter((n) => n !== name); draw(); };
    return li;
  }));
}

// ------------------------------------------------------------------ wiring
function shift(fraction, zoom) {
  const span = state.view || state.span;
  if (!span) return;
  const w = span[1] - span[0], mid = (span[0] + span[1]) / 2;
  state.view = zoom ? [mid - w, mid + w] : [span[0] + w * fraction, span[1] + w * fraction];
  draw();
}
document.addEventListener("DOMContentLoaded", async () => {
  readUrl();
  $("range").onsubmit = (e) => { e.preventDefault(); state.start = $("start").value.trim(); state.end = $("end").value.trim(); state.view = null; draw(); };
  document.querySelectorAll(".presets button").forEach((b) => { b.onclick = () => { $("start").value = b.dataset.start; $("end").value = "*"; $("range").requestSubmit(); }; });
  $("pan-left").onclick = () => shift(-0.5); $("pan-right").onclick = () => shift(0.5); $("zoom-out").onclick = () => shift(0, true);
  $("live").onchange = (e) => setLive(e.target.checked);
  $("separate").onchange = (e) => { state.separate = e.target.checked; if (plot) { plot.destroy(); plot = null; } draw(); };
  $("token-save").onclick = () => { localStorage.setItem("twinbench.token", $("token").value); $("token-box").hidden = true; search($("search").value); draw(); };
  let timer = null;
  $("search").oninput = (e) => { clearTimeout(timer); timer = setTimeout(() => search(e.target.value.trim()), 200); };
  window.addEventListener("resize", () => { if (plot) plot.setSize({width: $("chart").clientWidth, height: 420}); });
  await search("");
  await draw();
  setLive(state.live);
  document.body.dataset.ready = "1";
});
