"""Scenario run reports: one JSON document (schema ``twinbench.report/1``), Markdown and HTML.

The runner fills a :class:`Report` (flat dotted metrics, latency histograms,
time series, phases, fault windows, accounting), :func:`evaluate` scores it
against :class:`Threshold` objects and :func:`exit_code` turns the verdict into
the process exit status. This module is the model only: the renderers
(``harness.report.md``, ``harness.report.html``) read it, and the writer
(``harness.report.write.write_run``) puts all three files in a run directory,
so no import runs back from the model to what renders it.
The JSON layout is documented in ``docs/report-schema.md``.

>>> r = Report(scenario="demo", profile="normal", seed=1, duration_s=10.0)
>>> r.set_metric("accounting.total.lost", 0, "points")
>>> evaluate(r, [Threshold("no acked loss", "accounting.total.lost", "==", 0, "points")])
'pass'
>>> exit_code(r)
0
"""

from __future__ import annotations

import json
import math
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harness.accounting import AccountingReport
from harness.metrics import LatencyHistogram, TimeSeries

__all__ = [
    "SCHEMA",
    "Report",
    "ReportError",
    "Threshold",
    "evaluate",
    "exit_code",
    "load_report",
]

SCHEMA = "twinbench.report/1"
Comparator = Literal["<", "<=", ">", ">=", "=="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


class ReportError(ValueError):
    """A report file is missing, unreadable, or of a schema this code does not read."""


@dataclass(frozen=True)
class Threshold:
    """``metric comparator limit``; ``limit`` is a number or the key of another metric.

    A metric that is missing from the report fails the threshold: a check that
    could not run must never read as a pass.
    """

    name: str
    metric: str
    comparator: Comparator
    limit: float | str
    unit: str = ""

    def __post_init__(self) -> None:
        if self.comparator not in _COMPARE:
            raise ValueError(
                f"comparator must be one of {sorted(_COMPARE)}, got {self.comparator!r}"
            )

    def check(self, metrics: Mapping[str, float | None]) -> dict[str, Any]:
        value = metrics.get(self.metric)
        limit = metrics.get(self.limit) if isinstance(self.limit, str) else float(self.limit)
        if value is None or limit is None or math.isnan(value) or math.isnan(limit):
            missing = self.metric if value is None else str(self.limit)
            passed, why = False, f"metric {missing!r} missing from the report"
        else:
            passed = _COMPARE[self.comparator](value, limit)
            why = "" if passed else f"{value:g} {self.unit} is not {self.comparator} {limit:g}"
        return {**asdict(self), "value": value, "limit_value": limit, "passed": passed, "why": why}


@dataclass
class Report:
    """Everything a run measured. Metrics are flat: ``latency.publish_to_ack.p99_ms`` etc."""

    scenario: str
    profile: str
    seed: int
    duration_s: float
    description: str = ""
    # ISO 8601 UTC. The runner sets it to the load's start (t = 0 s of every chart) and
    # started_is_load_start; otherwise (reports built by hand, and every report written
    # before the runner did this) it is when the Report was made
    started_utc: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    started_is_load_start: bool = False
    metrics: dict[str, float | None] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeseries: dict[str, dict[str, Any]] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    accounting: dict[str, Any] | None = None
    bytes_per_point: dict[str, float] = field(default_factory=dict)
    stress: dict[str, Any] | None = None
    api_load: dict[str, Any] | None = None  # harness.run.api_scoring: the locust table
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    verdict: Literal["pass", "fail", "unscored"] = "unscored"
    environment: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set_metric(self, key: str, value: float | None, unit: str = "") -> None:
        """Non-finite values are stored as ``None`` (JSON has no NaN): "not measured"."""
        v = None if value is None else float(value)
        self.metrics[key] = v if v is not None and math.isfinite(v) else None
        if unit:
            self.units[key] = unit

    def add_latency(self, name: str, hist: LatencyHistogram) -> None:
        """Summary, percentile curve and HDR payload; also metrics ``latency.<name>.<stat>_ms``."""
        summary = hist.summary()
        self.latency[name] = {
            "summary_ms": summary,
            "curve_ms": [list(p) for p in hist.percentile_curve()],
            "hdr": hist.encode(),
        }
        for stat, value in summary.items():
            key = f"latency.{name}.count" if stat == "count" else f"latency.{name}.{stat}_ms"
            self.set_metric(key, value, "" if stat == "count" else "ms")

    def add_series(self, series: TimeSeries, *, group: str) -> None:
        """A time series to plot; ``group`` picks its chart (throughput, latency, lag, ...)."""
        self.timeseries[series.name] = {**series.to_json(), "group": group}

    def add_phase(self, name: str, start_s: float, end_s: float, nominal_rate_pts_s: float) -> None:
        self.phases.append(
            {
                "name": name,
                "start_s": start_s,
                "end_s": end_s,
                "nominal_rate_pts_s": nominal_rate_pts_s,
            }
        )

    def add_fault(self, kind: str, target: str, start_s: float, end_s: float) -> None:
        self.faults.append({"kind": kind, "target": target, "start_s": start_s, "end_s": end_s})

    def add_accounting(self, acc: AccountingReport) -> None:
        """Stores the accounting and flattens it to ``accounting.<phase|total>.<count>`` metrics."""
        self.accounting = acc.to_json()
        for scope, counts in [
            ("total", self.accounting["total"]),
            *self.accounting["phases"].items(),
        ]:
            for name, value in counts.items():
                self.set_metric(f"accounting.{scope}.{name}", value, "points")
        self.set_metric("accounting.total.unexpected", acc.unexpected, "points")

    def to_json(self) -> dict[str, Any]:
        """The JSON document; any non-finite float anywhere (e.g. an unmeasured p99) -> null."""
        doc: dict[str, Any] = _json_safe({"schema": SCHEMA, **asdict(self)})
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Report:
        if doc.get("schema") != SCHEMA:
            raise ReportError(
                f"report schema is {doc.get('schema')!r}; this twinbench reads {SCHEMA!r} "
                "(re-run the scenario, or compare with the twinbench version that wrote it)"
            )
        fields = {k: v for k, v in doc.items() if k != "schema"}
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ReportError(f"report does not match {SCHEMA}: {exc}") from exc


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def evaluate(report: Report, thresholds: Sequence[Threshold]) -> str:
    """Score the report (stores each result and the verdict in it) and return the verdict."""
    report.thresholds = [t.check(report.metrics) for t in thresholds]
    if not report.thresholds:
        report.verdict = "unscored"
    else:
        report.verdict = "pass" if all(r["passed"] for r in report.thresholds) else "fail"
    return report.verdict


def exit_code(report: Report) -> int:
    """0 when every threshold passed (or none were set); 1 when any failed."""
    return 1 if report.verdict == "fail" else 0


def load_report(path: str | os.PathLike[str]) -> Report:
    """A report from its run directory or its ``report.json``."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{p}: no such report; give a run directory or its report.json") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{p}: cannot read report: {exc}") from exc
    return Report.from_json(doc)
