"""A managed collector's health, read from its Prometheus page (``historian.collect.metrics``).

The manager scrapes each collector's ``/metrics`` (on 127.0.0.1, a port the
collector picked and wrote to its ready file) about once a second and keeps the
last two scrapes: the rate is the published-points counter's increase between
them over the time between them, so it needs no state in the collector and
survives nothing across a restart (a restarted collector's counters start at 0;
a decrease is a restart, not a negative rate).

>>> page = '''# HELP twinbench_collector_points_published_total x
... twinbench_collector_points_published_total{source="c",protocol="modbus"} 120.0
... twinbench_collector_last_data_timestamp_seconds{source="c",protocol="modbus"} 1.7e9
... '''
>>> s = Scrape.parse(page, at=10.0)
>>> s.value("points_published_total"), s.value("source_errors_total")
(120.0, 0.0)
>>> round(Scrape.parse(page.replace(" 120.0", " 170.0"), at=12.0).rate_since(s), 1)
25.0
"""

from __future__ import annotations

import datetime as dt
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PREFIX", "Scrape", "fetch_page", "health_figures"]

PREFIX = "twinbench_collector_"
SCRAPE_TIMEOUT_S = 2.0


def fetch_page(url: str) -> str:
    """GET the collector's page (blocking: call it from a worker thread)."""
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as r:
        return bytes(r.read()).decode("utf-8", "replace")


@dataclass(frozen=True)
class Scrape:
    """One scrape: ``twinbench_collector_*`` values (name without the prefix) at a time."""

    at: float
    """``time.monotonic()`` of the scrape."""
    values: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, at: float) -> Scrape:
        values: dict[str, float] = {}
        for line in text.splitlines():
            if not line.startswith(PREFIX):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0][len(PREFIX) :]
            try:
                values[name] = float(value)
            except ValueError:
                continue
        return cls(at, values)

    def value(self, name: str) -> float:
        return self.values.get(name, 0.0)

    def rate_since(self, before: Scrape) -> float | None:
        """Published points per second since ``before``; None across a restart or no time."""
        span = self.at - before.at
        grew = self.value("points_published_total") - before.value("points_published_total")
        if span <= 0 or grew < 0:
            return None
        return grew / span


def _iso(seconds: float) -> str | None:
    if seconds <= 0:
        return None
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def health_figures(last: Scrape | None, before: Scrape | None) -> dict[str, Any]:
    """The scraped part of ``GET /api/v1/connections/{id}/health`` (docs/api.md)."""
    if last is None:
        return {
            "last_data_time": None,
            "rate_points_per_s": None,
            "points_published": 0,
            "source_connected": False,
            "bus_connected": False,
            "spool_batches": 0,
            "counters": {},
        }
    rate = last.rate_since(before) if before is not None else None
    counted = (
        "points_read_total", "points_published_total", "points_refused_total",
        "publish_errors_total", "spool_write_errors_total", "source_errors_total",
        "source_reconnects_total", "batches_spooled_total", "batches_drained_total",
    )  # fmt: skip
    return {
        "last_data_time": _iso(last.value("last_data_timestamp_seconds")),
        "rate_points_per_s": round(rate, 3) if rate is not None else None,
        "points_published": int(last.value("points_published_total")),
        "source_connected": last.value("source_connected") == 1.0,
        "bus_connected": last.value("bus_connected") == 1.0,
        "spool_batches": int(last.value("spool_files")),
        "counters": {name.removesuffix("_total"): int(last.value(name)) for name in counted},
    }
