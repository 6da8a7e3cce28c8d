"""A shadow :class:`~harness.shadow.verdict.DiffReport` as a text table, JSON or an HTML page.

The table is Markdown (pasteable into a note), one row per tag, then one line per discrepancy.
"""

from __future__ import annotations

import html
import json
import math

from harness.shadow.verdict import DiffReport, TagResult

__all__ = ["render", "render_html", "render_json", "render_table"]

_COLUMNS = (
    "verdict",
    "tag",
    "legacy pts",
    "twinbench pts",
    "compared",
    "mismatched",
    "worst |diff|",
    "offset s",
    "scale",
    "rollups",
    "reasons",
)


def _row(t: TagResult) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for r in t.discrepancies:  # e.g. hourly and daily rollup findings: one entry per kind
        counts[r.kind] = counts.get(r.kind, 0) + r.count
    reasons = "; ".join(f"{k}({n})" for k, n in counts.items()) or "-"
    return (
        t.verdict,
        t.tag,
        f"{t.legacy_points:,}",
        f"{t.twinbench_points:,}",
        f"{t.compared:,}",
        f"{t.mismatched:,}",
        f"{t.worst_abs_diff:.4g}",
        f"{t.time_offset_s:+.3f}" if t.time_offset_s else "-",
        f"{t.scale_ratio:.6g}" if t.scale_ratio != 1.0 else "-",
        t.rollup_rule or "-",
        reasons,
    )


def render_table(report: DiffReport) -> str:
    """Markdown-style table (readable in a terminal, pasteable into a note)."""
    rows = [_COLUMNS, *(_row(t) for t in report.tags)]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" for _ in _COLUMNS) + "|")
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
    rate = report.points_compared / report.elapsed_s if report.elapsed_s > 0 else 0.0
    lines.append("")
    lines.append(
        f"{len(report.tags)} tags: {counts}. {report.points_compared:,} points compared in "
        f"{report.elapsed_s:.3f} s ({rate:,.0f} points/s); {report.start} .. {report.end}"
    )
    for t in report.tags:
        for r in t.discrepancies:
            where = f" [{', '.join(f'{a}..{b}' for a, b in r.ranges[:3])}]" if r.ranges else ""
            lines.append(f"- {t.tag}: {r.kind}: {r.detail}{where}")
    return "\n".join(lines)


def render_json(report: DiffReport) -> str:
    return json.dumps(_finite(report.to_dict()), indent=2, allow_nan=False)


def _finite(obj: object) -> object:
    """JSON has no NaN/inf: those become null ("not measured")."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def render_html(report: DiffReport) -> str:
    colour = {"match": "#d7f5d7", "within_tolerance": "#eef7d0", "mismatch": "#f9d0d0"}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
    body = []
    for t in report.tags:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in _row(t))
        details = "".join(
            f"<li><b>{html.escape(r.kind)}</b>: {html.escape(r.detail)} "
            f"{html.escape(', '.join(f'{a}..{b}' for a, b in r.ranges[:5]))}</li>"
            for r in t.reasons
        )
        bg = colour.get(t.verdict, "#fde5c8")
        body.append(f'<tr style="background:{bg}">{cells}</tr>')
        if details:
            body.append(f'<tr><td colspan="{len(_COLUMNS)}"><ul>{details}</ul></td></tr>')
    summary = html.escape(render_table(report).split("\n\n", 1)[1].split("\n", 1)[0])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>twinbench shadow diff</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}</style></head><body>"
        f"<h1>Shadow diff</h1><p>legacy {html.escape(report.legacy)} vs twinbench "
        f"{html.escape(report.historian)}</p><p>{summary}</p>"
        f"<table><tr>{head}</tr>{''.join(body)}</table></body></html>"
    )


def render(report: DiffReport, fmt: str) -> str:
    return {"table": render_table, "json": render_json, "html": render_html}[fmt](report)
