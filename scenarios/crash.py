"""crash: SIGKILL the historian mid-ingest, then NATS, restart each and verify.

The historian must recover from its WAL and resume consuming within 10 s of
its restart; points acknowledged before the kill must all be readable.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import FaultEvent, LoadPhase, MetricKey, Scenario, default_thresholds

NOMINAL = 50_000.0

SCENARIO = Scenario(
    name="crash",
    description="SIGKILL historian and nats-server mid-ingest: zero acked loss, recovery < 10 s.",
    profile="normal",
    duration_s=120.0,
    warmup_s=15.0,
    seed=404,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 15.0, NOMINAL),
        LoadPhase("steady", "steady", 25.0, NOMINAL),
        LoadPhase("fault", "steady", 40.0, NOMINAL),
        LoadPhase("recovery", "steady", 40.0, NOMINAL),
    ),
    faults=(
        FaultEvent(45.0, 2.0, "kill-historian", "historian"),
        FaultEvent(65.0, 2.0, "kill-nats", "nats"),
    ),
    thresholds=(
        *default_thresholds(latency=False),
        Threshold("recovery after crash", MetricKey.CRASH_RECOVERY_S, "<", 10.0, "s"),
    ),
)
