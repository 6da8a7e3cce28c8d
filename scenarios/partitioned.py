"""partitioned: cut collector<->bus, then bus<->historian, heal both, watch the drain.

During the first cut the collector spools to disk; during the second the
stream buffers. After each heal the backlog must drain at >= 5x the nominal
rate, with no acknowledged point lost and none stored twice.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import FaultEvent, LoadPhase, MetricKey, Scenario, default_thresholds

NOMINAL = 50_000.0

SCENARIO = Scenario(
    name="partitioned",
    description="Cut and heal collector<->bus, bus<->historian: zero acked loss, drain >= 5x.",
    profile="normal",
    duration_s=150.0,
    warmup_s=15.0,
    seed=303,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 15.0, NOMINAL),
        LoadPhase("steady", "steady", 30.0, NOMINAL),
        LoadPhase("fault", "steady", 60.0, NOMINAL),
        LoadPhase("recovery", "steady", 45.0, NOMINAL),
    ),
    faults=(
        # 30 s: longer than the publish window covers, so the disk spool takes over
        FaultEvent(50.0, 30.0, "partition-collector-bus", "collector->nats"),
        FaultEvent(88.0, 15.0, "partition-bus-historian", "nats->historian"),
    ),
    thresholds=(
        *default_thresholds(latency=False),
        Threshold(
            "drain after partition at >= 5x nominal", MetricKey.DRAIN_OVER_NOMINAL, ">=", 5.0, "x"
        ),
    ),
)
