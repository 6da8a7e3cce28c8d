"""Prometheus figures of the cold tier a server runs (``historian serve --tier FILE``).

Exported on the HTTP API's ``/metrics`` beside the store's, read at scrape time:

- ``twinbench_tier_rounds_total`` / ``twinbench_tier_round_failures_total``: maintenance
  rounds run and failed (object store unreachable, verify mismatch), live counters of
  :class:`~historian.tier.serve.TierFrontEnd`;
- ``twinbench_tier_exported_points_total``: points moved to the cold tier;
- ``twinbench_tier_export_lag_seconds``: how much data older than the hot window is
  still hot (``ColdTier.stats()["export_lag_s"]``), as of the last successful round;
- ``twinbench_tier_status_timestamp_seconds``: when that round wrote ``tier-status.json``.
  With rounds every ``export_every`` (60 s by default), a timestamp much older than
  that means rounds keep failing, and the lag figure is stale.

The lag is taken from the status file, not recomputed per scrape: computing it
needs the live file list under the compaction lock, and a scrape must never wait
for a compaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .serve import read_status
from .tier import ColdTier

__all__ = ["TierCollector"]


class _TierRunner(Protocol):
    """What :class:`~historian.tier.serve.TierFrontEnd` offers (its live counters)."""

    tier: ColdTier | None
    rounds: int
    failures: int
    exported_points: int


class TierCollector(Collector):
    def __init__(self, runner: _TierRunner) -> None:
        self._runner = runner

    def collect(self) -> Iterator[Metric]:
        r = self._runner
        if r.tier is None:  # not attached yet: no tier figures rather than zeros
            return
        for name, doc, value in (
            ("rounds", "Cold-tier maintenance rounds run", r.rounds),
            ("round_failures", "Cold-tier rounds that failed (retried next round)", r.failures),
            ("exported_points", "Points exported to the cold tier", r.exported_points),
        ):
            yield CounterMetricFamily(f"twinbench_tier_{name}", doc, value=float(value))
        status = read_status(Path(r.tier.db.directory))
        if status is None:
            return
        yield GaugeMetricFamily(
            "twinbench_tier_export_lag_seconds",
            "Data older than the hot window still in the hot tier, as of the last round",
            value=float(status.get("export_lag_s", 0.0)),
        )
        yield GaugeMetricFamily(
            "twinbench_tier_status_timestamp_seconds",
            "When the last successful round wrote tier-status.json (seconds since 1970)",
            value=float(status.get("written_at", 0.0)),
        )
