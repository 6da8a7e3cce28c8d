"""The "API load during the run" table, shared by the Markdown and HTML reports.

Reads ``Report.api_load`` (written by ``harness.run.api_scoring``): one row per locust
request kind plus the all-kinds row, and a caption with the window and the ingest
p99 without and with the API load.
"""

from __future__ import annotations

from typing import Any

from harness.report.format import format_value

__all__ = ["API_LOAD_TITLE", "api_load_table"]

API_LOAD_TITLE = "API load during the run"
HEADER = ["request", "requests", "failures", "req/s", "p50 ms", "p99 ms", "max ms"]


def _row(k: dict[str, Any], label: str | None = None) -> list[str]:
    return [
        label or str(k["name"]),
        format_value(k["requests"]),
        format_value(k["failures"]),
        format_value(k["requests_per_s"]),
        format_value(k["p50_ms"]),
        format_value(k["p99_ms"]),
        format_value(k["max_ms"]),
    ]


def api_load_table(api: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, caption); no rows when locust produced no stats (the caption says)."""
    kinds = api.get("kinds") or []
    rows = [_row(k) for k in kinds]
    if api.get("total"):
        rows.append(_row(api["total"], "all requests"))
    a, b = api["window_run_s"]
    lo = api["baseline_run_s"][0]
    caption = (
        f"{format_value(api.get('users'))} locust users from {format_value(a)} s to "
        f"{format_value(b)} s ({api['phase']} phase, second half); req/s over that window. "
        f"Ingest p99 publish->queryable at the nominal rate: "
        f"{format_value(api['ingest_p99_ms_without_api'])} ms without the API load "
        f"({format_value(lo)}-{format_value(a)} s, "
        f"{format_value(api['ingest_batches_without_api'])} batches), "
        f"{format_value(api['ingest_p99_ms_with_api'])} ms with it "
        f"({format_value(api['ingest_batches_with_api'])} batches)."
    )
    if not kinds:
        caption += " Locust produced no statistics (see the notes)."
    for err in api.get("errors") or []:
        caption += f" Failure: {err}."
    return HEADER, rows, caption
