"""The report's time-series charts: which series share a chart, on one time axis, and how
they reach the page (columnar JSON for uPlot, static SVG for no-script readers).

Every chart of a run spans the same x range, ``[0, end]`` seconds from the
start of the load (``Report.started_utc``), so a fault window sits at the same
place on each. The HTML page inlines uPlot's minified JS and CSS, read from
``node_modules/uplot/dist`` when the report is written (installed by
``scripts/install-npm-deps.sh``), so the file stays self-contained: no CDN,
no network reference, readable offline years later.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.report.model import ReportError
from harness.report.svgplot import line_chart

if TYPE_CHECKING:
    from harness.report.model import Report

__all__ = [
    "GROUP_UNITS",
    "TimeChart",
    "chart_payload",
    "find_uplot_dist",
    "interactive_charts",
    "require_uplot_dist",
    "static_chart",
    "time_charts",
    "time_range",
]

# chart order and axis label per time-series group; unknown groups follow, labelled by unit
GROUP_UNITS = {"throughput": "points/s", "latency": "ms", "lag": "messages", "spool": "batches"}
# series drawn dashed, wider and last (on top): acked points/s runs on top of queryable
# points/s in a healthy run, and drawn first it vanished under it
EMPHASISED = frozenset({"acked"})
_SCRIPT = Path(__file__).with_name("charts.js")


@dataclass(frozen=True)
class TimeChart:
    """One chart: its series on a shared x array (seconds since the start), NaN = no sample."""

    key: str
    title: str
    unit: str
    names: list[str]
    x: NDArray[np.float64]
    ys: list[NDArray[np.float64]]


def _aligned(
    series: list[tuple[str, list[float | None], list[float | None]]],
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """The union of the series' sample times, each series NaN where it has no sample."""
    cols = [
        (np.array(t, dtype=np.float64), np.array(v, dtype=np.float64)) for _, t, v in series
    ]  # None -> nan
    x = np.unique(np.concatenate([t[np.isfinite(t)] for t, _ in cols] or [np.zeros(0)]))
    ys = []
    for t, v in cols:
        y = np.full(len(x), np.nan)
        ok = np.isfinite(t)
        y[np.searchsorted(x, t[ok])] = v[ok]
        ys.append(y)
    return x, ys


def time_charts(report: Report) -> list[TimeChart]:
    """One chart per (group, unit): CPU % and RSS bytes never share an axis."""
    groups: dict[tuple[str, str], list[tuple[str, Any, Any]]] = {}
    for name, ts in report.timeseries.items():
        key = (ts["group"], ts.get("unit", "") or GROUP_UNITS.get(ts["group"], ""))
        groups.setdefault(key, []).append((name, ts["t_s"], ts["values"]))
    rank = {g: i for i, g in enumerate(GROUP_UNITS)}
    out = []
    for n, (group, unit) in enumerate(sorted(groups, key=lambda k: (rank.get(k[0], 99), k))):
        members = sorted(groups[(group, unit)], key=lambda s: s[0] in EMPHASISED)
        x, ys = _aligned(members)
        units_in_group = sum(1 for g, _ in groups if g == group)
        title = f"{group} ({unit})" if units_in_group > 1 else group
        out.append(TimeChart(f"chart-{n}", title, unit, [m[0] for m in members], x, ys))
    return out


def time_range(report: Report, charts: list[TimeChart]) -> tuple[float, float]:
    """The one x range of every chart: the load's duration, widened to any sample or fault."""
    lo = min([0.0, *(float(c.x[0]) for c in charts if len(c.x))])
    ends = [report.duration_s, *(float(c.x[-1]) for c in charts if len(c.x))]
    ends += [float(f["end_s"]) for f in report.faults if f.get("end_s") is not None]
    return lo, max(ends)


def fault_windows(report: Report) -> list[tuple[float, float, str]]:
    """(start s, end s, fault name) of each injected fault; skipped ones are not windows."""
    return [
        (float(f["start_s"]), float(f["end_s"]), str(f["kind"]))
        for f in report.faults
        if not f.get("skipped")
    ]


def static_chart(chart: TimeChart, report: Report, x_range: tuple[float, float]) -> str:
    """The SVG of one chart, for readers without JavaScript."""
    shaded = fault_windows(report)
    return line_chart(
        [(n, chart.x.tolist(), y.tolist()) for n, y in zip(chart.names, chart.ys, strict=True)],
        title=f"{chart.title}, fault windows shaded" if shaded else chart.title,
        x_label="time since the start of the load (s)",
        y_label=chart.unit,
        shaded=shaded,
        x_range=x_range,
        dashed=EMPHASISED,
    )


def _column(values: NDArray[np.float64], digits: int) -> list[float | None]:
    return [None if not math.isfinite(v) else v for v in np.round(values, digits).tolist()]


def chart_payload(report: Report, charts: list[TimeChart]) -> dict[str, Any]:
    """What the page's script draws: columnar arrays per chart (x once, one array per series)."""
    x0, x1 = time_range(report, charts)
    return {
        # the read-out gives absolute times only when t = 0 is known to be the load's start
        "started_utc": report.started_utc if report.started_is_load_start else None,
        "x_range": [x0, x1],
        "faults": [{"name": n, "start_s": a, "end_s": b} for a, b, n in fault_windows(report)],
        "phases": [
            {"name": p["name"], "start_s": p["start_s"], "end_s": p["end_s"]} for p in report.phases
        ],
        "charts": [
            {
                "id": c.key,
                "title": c.title,
                "unit": c.unit,
                "names": c.names,
                "emphasised": [n in EMPHASISED for n in c.names],
                "x": _column(c.x, 3),
                "ys": [_column(y, 4) for y in c.ys],
            }
            for c in charts
        ],
    }


def find_uplot_dist() -> Path | None:
    """``node_modules/uplot/dist`` of the checkout or the working directory, if installed.

    (The API's ``find_vendor_dir`` looks the same way; importing it would pull the
    whole ASGI stack into report writing.)
    """
    for base in (*Path(__file__).resolve().parents, Path.cwd()):
        cand = base / "node_modules" / "uplot" / "dist"
        if (cand / "uPlot.iife.min.js").is_file():
            return cand
    return None


def _inline_script(text: str) -> str:
    # "</" would end the <script> element early; "<\/" means the same to JavaScript and JSON
    return text.replace("</", "<\\/")


def require_uplot_dist(uplot_dist: Path | None = None) -> Path:
    """uPlot's ``dist`` directory, or a ReportError that says how to install it.

    The runner calls this before it starts anything: a missing uPlot must not
    surface only after a long run, when the report is written.
    """
    dist = uplot_dist if uplot_dist is not None else find_uplot_dist()
    if dist is None or not (dist / "uPlot.iife.min.js").is_file():
        raise ReportError(
            "report.html inlines uPlot from node_modules/uplot/dist, which is not installed: "
            "run scripts/install-npm-deps.sh (then `twinbench report render RUN_DIR` re-renders "
            "a run whose report.json and report.md are written already)"
        )
    return dist


def interactive_charts(
    report: Report, charts: list[TimeChart], uplot_dist: Path | None = None
) -> str:
    """uPlot's CSS and JS, the chart data and the drawing script, all inline."""
    dist = require_uplot_dist(uplot_dist)
    js_path = dist / "uPlot.iife.min.js"
    css = (dist / "uPlot.min.css").read_text(encoding="utf-8")
    data = json.dumps(chart_payload(report, charts), separators=(",", ":"), allow_nan=False)
    return "".join(
        [
            f"<style>{css}</style>",
            f"<script>{_inline_script(js_path.read_text(encoding='utf-8'))}</script>",
            f'<script type="application/json" id="report-data">{_inline_script(data)}</script>',
            f"<script>{_inline_script(_SCRIPT.read_text(encoding='utf-8'))}</script>",
        ]
    )
