"""Self-contained HTML report: one file, inline CSS, uPlot charts inline, SVG without scripts.

The time series are interactive uPlot charts (``harness.report.charts``) on one
shared time axis; each also carries its static SVG inside ``<noscript>``, so a
reader with scripts off still sees every chart. No network reference anywhere.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.api import API_LOAD_TITLE, api_load_table
from harness.report.charts import interactive_charts, static_chart, time_charts, time_range
from harness.report.format import (
    BASELINE_KEY,
    bytes_per_point_caption,
    format_value,
    started_label,
)
from harness.report.svgplot import bar_chart, percentile_chart

if TYPE_CHECKING:
    from harness.report.model import Report

__all__ = ["render_html"]

_CSS = """
body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
td:first-child,th:first-child{text-align:left}
.pass{color:#2a7d2a;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
.verdict{font-size:1.4em}svg{display:block;margin:0.5em 0 1.5em}
figure.tchart{margin:0 0 1.5em;min-height:40px}
.readout{position:sticky;top:0;background:#fffbe6;border:1px solid #e6d9a5;padding:4px 8px;
font-size:13px;min-height:1.3em;z-index:10}
.hint,.caption{font-size:13px;color:#555}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _code_spans(text: str) -> str:
    """`name` (the shared captions' Markdown) as <code>name</code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _verdict_cell(passed: bool) -> str:
    return "<span class='pass'>pass</span>" if passed else "<span class='fail'>FAIL</span>"


def _time_section(report: Report, uplot_dist: Path | None) -> list[str]:
    charts = time_charts(report)
    if not charts:
        return []
    x_range = time_range(report, charts)
    parts = [
        "<h2>Over time</h2>",
        # the hint and the read-out are about the interactive charts: shown by their script
        "<div id='chart-help' hidden><p class='hint'>All charts share one time axis (seconds "
        "since the start of the load). Drag across a chart to zoom all of them, double-click "
        "to zoom out; fault windows are shaded and named, phases named along the top; the "
        "acked line is dashed.</p>"
        "<p id='readout' class='readout'>hover a chart: time, phase, fault and values</p></div>",
    ]
    for c in charts:
        parts.append(
            f"<h3>{escape(c.title)} over time</h3>"
            f"<figure class='tchart' id='{c.key}' data-title='{escape(c.title)}'>"
            f"<noscript>{static_chart(c, report, x_range)}</noscript></figure>"
        )
    parts.append(interactive_charts(report, charts, uplot_dist))
    return parts


def _fault_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["fault", "target", "start s", "end s"]
    rows = [
        [
            escape(f["kind"]),
            escape(f["target"]),
            format_value(f["start_s"]),
            format_value(f["end_s"]),
        ]
        for f in report.faults
    ]
    if any("ack_resumed_s" in f or "skipped" in f for f in report.faults):
        header += ["acks resumed after s", "queryable resumed after s"]
        for row, f in zip(rows, report.faults, strict=True):
            if f.get("skipped"):
                row += [escape(f"SKIPPED: {f['skipped']}"), ""]
            else:
                source = f" ({escape(f['resumed_source'])})" if f.get("resumed_source") else ""
                row += [
                    format_value(f.get("ack_resumed_s")),
                    format_value(f.get("queryable_resumed_s")) + source,
                ]
    return header, rows


def render_html(report: Report, *, uplot_dist: Path | None = None) -> str:
    """The page; ``uplot_dist`` overrides where uPlot is read from (default: node_modules)."""
    verdict_class = "fail" if report.verdict == "fail" else "pass"
    started = started_label(report.started_utc, is_load_start=report.started_is_load_start)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>twinbench {escape(report.scenario)}: {escape(report.verdict)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>twinbench report: {escape(report.scenario)}</h1>",
        f"<p class='verdict {verdict_class}'>{escape(report.verdict.upper())}</p>",
        f"<p>{escape(report.description)}</p>",
        f"<p>profile <code>{escape(report.profile)}</code>, seed {report.seed}, "
        f"duration {report.duration_s:g} s, started "
        f"<span id='started'>{escape(started)}</span></p>",
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
    parts += _time_section(report, uplot_dist)
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
        caption = bytes_per_point_caption(report.metrics, report.thresholds)
        parts += [
            "<h2>Bytes per point by tag type</h2>",
            bar_chart(
                report.bytes_per_point,
                title="bytes per point",
                unit="B/point",
                reference=report.metrics.get(BASELINE_KEY),
            ),
            f"<p class='caption'>{_code_spans(escape(caption))}</p>" if caption else "",
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
    if report.stress:
        rows = [
            [escape(k), escape(v) if isinstance(v, str) else format_value(v)]
            for k, v in report.stress.items()
            if not isinstance(v, list)
        ]
        parts += ["<h2>Stress</h2>", _table(["", "value"], rows)]
    if report.api_load:
        header, rows, caption = api_load_table(report.api_load)
        parts += [
            f"<h2>{API_LOAD_TITLE}</h2>",
            _table(header, [[escape(c) for c in r] for r in rows]),
        ]
        parts.append(f"<p class='caption'>{escape(caption)}</p>")
    if report.faults:
        header, rows = _fault_rows(report)
        parts += ["<h2>Faults</h2>", _table(header, rows)]
    rows = [
        [f"<code>{escape(k)}</code>", format_value(v), escape(report.units.get(k, ""))]
        for k, v in sorted(report.metrics.items())
    ]
    parts += ["<h2>All metrics</h2>", _table(["metric", "value", "unit"], rows)]
    if report.notes:
        parts += ["<h2>Notes</h2><ul>", *[f"<li>{escape(n)}</li>" for n in report.notes], "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)
