"""edge: the partitioned scenario with an edge leaf node between the collector and the hub.

The collector publishes to a local leaf nats-server (JetStream domain ``edge``,
its own copy of the batch stream); the hub's stream sources it over a leafnode
link (``harness.services.edge``). Same load, same times as ``partitioned``:

At 50 s the leaf's uplink to the hub is cut for 30 s (where ``partitioned`` cuts
the collector's own link, and its collector spools); the collector->leaf path
stays up. The leaf keeps acknowledging, nothing spools, and after the heal the
hub sources the backlog; its drain (backlog / time from the first to the last
backlog batch applied by the historian) must reach 10x nominal, the issue's
target. (The disk spool stays the last line when the leaf itself is out of
reach: ``tests/harness/run/test_edge.py``.)

Zero acknowledged points lost, none stored twice. ``docs/scaling.md`` ("Edge leaf
nodes") compares the figures with the spool-only ``partitioned`` run.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import FaultEvent, LoadPhase, MetricKey, Scenario, default_thresholds

NOMINAL = 50_000.0
EDGE_DRAIN_OVER_NOMINAL = 10.0

SCENARIO = Scenario(
    name="edge",
    description="Edge leaf node: cut and heal leaf<->hub while the leaf keeps acking: "
    "zero acked loss, drain >= 10x.",
    profile="normal",
    duration_s=150.0,
    warmup_s=15.0,
    seed=606,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 15.0, NOMINAL),
        LoadPhase("steady", "steady", 30.0, NOMINAL),
        LoadPhase("fault", "steady", 60.0, NOMINAL),
        LoadPhase("recovery", "steady", 45.0, NOMINAL),
    ),
    faults=(FaultEvent(50.0, 30.0, "partition-leaf-hub", "leaf->hub"),),
    edge=True,
    short_s=25.0,  # service start-up + read-back: the whole short run stays under a minute
    thresholds=(
        *default_thresholds(latency=False),
        Threshold(
            "leaf->hub drain after the uplink cut at >= 10x nominal",
            MetricKey.DRAIN_OVER_NOMINAL,
            ">=",
            EDGE_DRAIN_OVER_NOMINAL,
            "x",
        ),
    ),
)
