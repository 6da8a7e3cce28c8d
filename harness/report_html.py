"""Self-contained HTML report: inline CSS and SVG charts, no scripts, no network references."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from harness.report_md import format_value
from harness.svgplot import bar_chart, line_chart, percentile_chart

if TYPE_CHECKING:
    from harness.report import Report

__all__ = ["render_html"]

_CSS = """
body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
td:first-child,th:first-child{text-align:left}
.pass{color:#2a7d2a;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
.verdict{font-size:1.4em}svg{display:block;margin:0.5em 0 1.5em}
"""

# chart order and axis label per time-series group; unknown groups follow, labelled by unit
_GROUPS = {"throughput": "points/s", "latency": "ms", "lag": "messages", "spool": "batches"}


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict_cell(passed: bool) -> str:
    return "<span class='pass'>pass</span>" if passed else "<span class='fail'>FAIL</span>"


def _time_charts(report: Report) -> list[str]:
    shaded = [(f["start_s"], f["end_s"], f"{f['kind']} {f['target']}") for f in report.faults]
    # one chart per (group, unit): CPU % and RSS bytes never share an axis
    charts: dict[tuple[str, str], list[tuple[str, Any, Any]]] = {}
    for name, ts in report.timeseries.items():
        key = (ts["group"], ts.get("unit", "") or _GROUPS.get(ts["group"], ""))
        charts.setdefault(key, []).append((name, ts["t_s"], ts["values"]))
    rank = {g: i for i, g in enumerate(_GROUPS)}
    order = sorted(charts, key=lambda k: (rank.get(k[0], len(rank)), k))
    out = []
    for group, unit in order:
        units_in_group = sum(1 for g, _ in charts if g == group)
        label = f"{group} ({unit})" if units_in_group > 1 else group
        title = f"{label}, fault windows shaded" if shaded else label
        out.append(
            f"<h3>{escape(label)} over time</h3>"
            + line_chart(charts[(group, unit)], title=title, y_label=unit, shaded=shaded)
        )
    return out


def render_html(report: Report) -> str:
    verdict_class = "fail" if report.verdict == "fail" else "pass"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>twinbench {escape(report.scenario)}: {escape(report.verdict)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>twinbench report: {escape(report.scenario)}</h1>",
        f"<p class='verdict {verdict_class}'>{escape(report.verdict.upper())}</p>",
        f"<p>{escape(report.description)}</p>",
        f"<p>profile <code>{escape(report.profile)}</code>, seed {report.seed}, "
        f"duration {report.duration_s:g} s, started {escape(report.started_utc)}</p>",
    ]
    if report.thresholds:
        rows = [
            [
                _verdict_cell(t["passed"]),
                escape(t["name"]),
                f"<code>{escape(t['metric'])}</code>",
                format_value(t["value"]),
                escape(f"{t['comparator']} {format_value(t['limit_value'])} {t['unit']}"),
                escape(t["why"]),
            ]
            for t in report.thresholds
        ]
        parts += [
            "<h2>Thresholds</h2>",
            _table(["verdict", "threshold", "metric", "value", "limit", "why"], rows),
        ]
    charts = _time_charts(report)
    if charts:
        parts += ["<h2>Over time</h2>", *charts]
    if report.latency:
        rows = [
            [escape(n)]
            + [
                format_value(lat["summary_ms"][k])
                for k in ("count", "p50", "p90", "p99", "p99_9", "max")
            ]
            for n, lat in report.latency.items()
        ]
        parts += [
            "<h2>Latency (from intended send time)</h2>",
            _table(["latency", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"], rows),
            percentile_chart(
                {n: [tuple(p) for p in lat["curve_ms"]] for n, lat in report.latency.items()},
                title="latency by percentile",
            ),
        ]
    if report.bytes_per_point:
        parts += [
            "<h2>Bytes per point by tag type</h2>",
            bar_chart(
                report.bytes_per_point,
                title="bytes per point",
                unit="B/point",
                reference=report.metrics.get("storage.baseline_bytes_per_point"),
            ),
        ]
    if report.accounting:
        acc = report.accounting
        cols = list(acc["total"])
        rows = [
            [escape(n)] + [format_value(c[k]) for k in cols]
            for n, c in [*acc["phases"].items(), ("total", acc["total"])]
        ]
        parts += ["<h2>Accounting (points)</h2>", _table(["phase", *cols], rows)]
        parts.append(
            f"<p>Stored points the run never produced: {format_value(acc['unexpected'])}</p>"
        )
    if report.faults:
        rows = [
            [
                escape(f["kind"]),
                escape(f["target"]),
                format_value(f["start_s"]),
                format_value(f["end_s"]),
            ]
            for f in report.faults
        ]
        parts += ["<h2>Faults</h2>", _table(["fault", "target", "start s", "end s"], rows)]
    rows = [
        [f"<code>{escape(k)}</code>", format_value(v), escape(report.units.get(k, ""))]
        for k, v in sorted(report.metrics.items())
    ]
    parts += ["<h2>All metrics</h2>", _table(["metric", "value", "unit"], rows), "</body></html>"]
    return "\n".join(parts)
