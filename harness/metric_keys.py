"""The report metric keys that scenario thresholds name.

A leaf module: the scenario model (thresholds) and the report (formatting the
baseline row) both use these names, and neither should import the other for them
(that made ``harness.scenario`` <-> ``harness.report.model`` an import cycle).
``harness.scenario`` re-exports :class:`MetricKey`, where scenarios import it from.
"""

from __future__ import annotations

__all__ = ["MetricKey"]


class MetricKey:
    """Report metric keys that scenario thresholds use; the runner must write these."""

    ACKED_LOST = "accounting.total.lost"
    DUPLICATED = "accounting.total.duplicated"
    CHANGED = "accounting.total.changed"
    P99_QUERYABLE_NOMINAL = "latency.publish_to_queryable_nominal.p99_ms"
    BYTES_PER_POINT = "storage.bytes_per_point"
    BASELINE_BYTES_PER_POINT = "storage.baseline_bytes_per_point"
    CRASH_RECOVERY_S = "recovery.crash_s"
    DRAIN_OVER_NOMINAL = "drain.rate_over_nominal"
    STRESS_SUSTAINED = "stress.highest_sustained_pts_s"
    TIER_COLD_POINTS = "tier.cold_points"
