"""Score the scenario's API load (``harness.run.api_load``): metrics, the report table, thresholds.

Metrics (``docs/report-schema.md``): ``api.requests``, ``api.failures``,
``api.requests_per_s`` (over the locust window), ``api.p50_ms`` / ``api.p99_ms`` (all
kinds), per request kind ``api.kind.<kind>.{requests_per_s,p50_ms,p99_ms,failures}``,
and the ingest's p99 publish->queryable of the nominal batches in the same phase
without (first half) and with (second half) the API load:
``api.ingest_p99_ms_without_api`` / ``api.ingest_p99_ms_with_api``.

Thresholds added when the run had API load: no failed request (any non-2xx answer or
connection error counts, locust's definition) and at least one request made (so an API
load that never ran cannot pass the first).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from harness.report.model import Report, Threshold

if TYPE_CHECKING:
    from harness.run.result import RunResult

__all__ = ["API_THRESHOLDS", "kind_key", "score_api_load"]

API_THRESHOLDS = (
    Threshold("API requests made during the load", "api.requests", ">", 0.0, "requests"),
    Threshold("no failed API requests (non-2xx, connection errors)", "api.failures", "==", 0.0,
              "requests"),
)  # fmt: skip


def kind_key(name: str) -> str:
    """A request kind's metric key part: ``plot 1 h`` -> ``plot_1_h``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def score_api_load(run: RunResult, report: Report) -> tuple[Threshold, ...]:
    """Fill the API metrics and ``report.api_load``; the thresholds to add (none without)."""
    api = run.api_load
    if api is None:
        return ()
    result = api.locust
    start, middle, end = api.window_s
    without, n_without = api.ingest_p99_without
    with_api, n_with = api.ingest_p99_with
    report.set_metric("api.users", api.users, "users")
    report.set_metric("api.ingest_p99_ms_without_api", without, "ms")
    report.set_metric("api.ingest_p99_ms_with_api", with_api, "ms")
    table: dict[str, Any] = {
        "phase": api.phase,
        "window_run_s": [middle, end],
        "baseline_run_s": [start, middle],
        "ingest_p99_ms_without_api": without,
        "ingest_batches_without_api": n_without,
        "ingest_p99_ms_with_api": with_api,
        "ingest_batches_with_api": n_with,
    }
    if result is not None:  # missing: the request metrics stay unset and fail their thresholds
        total = result.total
        report.set_metric("api.requests", total.requests, "requests")
        report.set_metric("api.failures", total.failures, "requests")
        report.set_metric("api.requests_per_s", total.requests_per_s, "requests/s")
        report.set_metric("api.p50_ms", total.p50_ms, "ms")
        report.set_metric("api.p99_ms", total.p99_ms, "ms")
        for k in result.kinds:
            key = f"api.kind.{kind_key(k.name)}"
            report.set_metric(f"{key}.requests_per_s", k.requests_per_s, "requests/s")
            report.set_metric(f"{key}.p50_ms", k.p50_ms, "ms")
            report.set_metric(f"{key}.p99_ms", k.p99_ms, "ms")
            report.set_metric(f"{key}.failures", k.failures, "requests")
        table.update(result.to_json())
    report.api_load = table
    report.notes.append(
        f"API load: {api.users} locust users (harness/load/locustfile.py TrendUser mix over the "
        f"synthetic tags) from {middle:g} s to {end:g} s, the second half of the "
        f"{api.phase!r} phase; its first half is the ingest baseline without it"
    )
    return API_THRESHOLDS
