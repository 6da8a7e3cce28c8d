// twinbench report.html: the run's time series as uPlot charts on ONE time axis.
//
// harness/report/charts.py inlines this file, uPlot and the data (columnar: one x array per
// chart, one array per series, null = no sample). Every chart spans the same x range (the
// payload pads x with the run's first and last second), zooming one (drag) zooms all,
// double-click resets all, and the cursor is synced (uPlot cursor.sync): the read-out above
// the charts gives the time since the start, the UTC time, the phase and any fault then,
// and each chart's legend its values there. Fault windows are shaded and labelled with the
// fault's name along their left edge; phase names run along the top.
"use strict";
(function () {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const started = data.started_utc ? Date.parse(data.started_utc) : NaN;  // null: t = 0 unknown
  const sync = uPlot.sync("twinbench-report");
  const plots = [];
  let syncing = false;
  let hovered = null;  // the chart under the mouse: the synced others follow its cursor

  function si(v) {
    if (v == null) return "–";
    const a = Math.abs(v);
    for (const [div, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (a >= div) return +(v / div).toPrecision(3) + suffix;
    }
    return String(+v.toPrecision(4));
  }
  function utc(t) {
    return Number.isFinite(started) ? new Date(started + t * 1000).toISOString().replace(".000Z", "Z") : "";
  }
  function at(list, t) { return list.filter((w) => w.start_s <= t && t <= w.end_s); }

  function drawWindows(u) {
    const ctx = u.ctx, px = devicePixelRatio || 1;
    const top = u.bbox.top, height = u.bbox.height, left = u.bbox.left, right = left + u.bbox.width;
    let labels = 0;
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, u.bbox.width, height); ctx.clip();
    ctx.font = `${10 * px}px sans-serif`;
    for (const p of data.phases) {  // phase names along the top, where they fit
      const a = u.valToPos(p.start_s, "x", true), b = u.valToPos(p.end_s, "x", true);
      ctx.strokeStyle = "#bbb"; ctx.setLineDash([2 * px, 3 * px]);
      ctx.beginPath(); ctx.moveTo(a, top); ctx.lineTo(a, top + height); ctx.stroke();
      if (ctx.measureText(p.name).width + 6 * px < b - a) {
        ctx.fillStyle = "#777"; ctx.textAlign = "center";
        ctx.fillText(p.name, (Math.max(a, left) + Math.min(b, right)) / 2, top + 11 * px);
      }
    }
    ctx.setLineDash([]);
    for (const f of data.faults) {
      const a = u.valToPos(f.start_s, "x", true), b = u.valToPos(f.end_s, "x", true);
      if (b < left || a > right) continue;
      ctx.fillStyle = "rgba(232, 120, 110, 0.30)";
      ctx.fillRect(a, top, Math.max(b - a, px), height);
      ctx.save();  // the fault's name, upwards along the window's left edge
      ctx.translate(a + 10 * px, top + 20 * px);
      ctx.rotate(-Math.PI / 2);
      ctx.fillStyle = "#a33"; ctx.textAlign = "right";
      ctx.fillText(f.name, 0, 0);
      ctx.restore();
      labels += 1;
    }
    ctx.restore();
    u.root.parentElement.dataset.faultLabels = String(labels);
  }

  function readout(u) {
    const i = u.cursor.idx;
    if (u !== hovered || i == null || u.cursor.left < 0) return;
    const t = u.posToVal(u.cursor.left, "x");
    const parts = [`t = ${t.toFixed(1)} s`, utc(t)];
    const phase = at(data.phases, t)[0];
    if (phase) parts.push(`phase ${phase.name}`);
    const faults = at(data.faults, t);
    if (faults.length) parts.push("fault: " + faults.map((f) => f.name).join(", "));
    const values = u.series.slice(1).map((s, k) => `${s.label} ${si(u.data[k + 1][i])}`);
    const el = document.getElementById("readout");
    el.textContent = parts.filter(Boolean).join(" · ") + " — " + u.root.parentElement.dataset.title + ": " + values.join(", ");
  }

  function shareX(u, key) {  // a zoom or reset of one chart is the zoom of all
    if (key !== "x" || syncing) return;
    syncing = true;
    const {min, max} = u.scales.x;
    for (const o of plots) {
      if (o !== u && (o.scales.x.min !== min || o.scales.x.max !== max)) o.setScale("x", {min, max});
    }
    syncing = false;
  }

  function make(c, el) {
    const [x0, x1] = data.x_range;
    const x = c.x.slice(), ys = c.ys.map((y) => y.slice());
    // pad to the run's range so every chart's full extent (and double-click reset) is the same
    if (!x.length || x[0] > x0) { x.unshift(x0); ys.forEach((y) => y.unshift(null)); }
    if (x[x.length - 1] < x1) { x.push(x1); ys.forEach((y) => y.push(null)); }
    const series = [{label: "t (s)", value: (u, v) => (v == null ? "–" : v.toFixed(1))}];
    c.names.forEach((name, k) => series.push({
      label: name,
      stroke: COLORS[k % COLORS.length],
      width: c.emphasised[k] ? 2.5 : 1.5,
      dash: c.emphasised[k] ? [7, 4] : undefined,
      value: (u, v) => si(v),
    }));
    const opts = {
      width: Math.max(300, el.clientWidth || 860),
      height: 240,
      scales: {x: {time: false}},
      series,
      axes: [
        {label: "time since the start of the load (s)" + (data.started_utc ? `, started ${data.started_utc}` : "")},
        {label: c.unit, size: 60, values: (u, ticks) => ticks.map(si)},
      ],
      cursor: {sync: {key: sync.key, setSeries: true}, drag: {x: true, y: false}},
      legend: {live: true},
      hooks: {drawClear: [drawWindows], setCursor: [readout], setScale: [shareX]},
    };
    const u = new uPlot(opts, [x, ...ys], el);
    u.over.addEventListener("mouseenter", () => { hovered = u; });
    el.dataset.series = String(c.names.length);
    plots.push(u);
  }

  document.getElementById("chart-help").hidden = false;
  try {
    for (const c of data.charts) make(c, document.getElementById(c.id));
    window.addEventListener("resize", () => {
      for (const u of plots) u.setSize({width: Math.max(300, u.root.parentElement.clientWidth), height: 240});
    });
    window.reportCharts = plots;
    document.body.dataset.chartsReady = String(plots.length);
  } catch (e) {
    document.getElementById("readout").textContent = "charts could not be drawn: " + e;
    throw e;
  }
})();
