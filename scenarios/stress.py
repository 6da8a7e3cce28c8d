"""stress: everything at once, then a ramp of synthetic bus load until latency breaks.

First the nominal rate with sensor faults, a bus<->historian partition and
kills of the collector and the historian; after recovery, geometric rate steps
from 2x to 32x nominal (100 k to 1.6 M points/s, 20 s each). The runner
measures every step (offered and achieved rate, p99 publish->queryable, acked
loss) and ``harness.metrics.highest_sustained_rate`` reports the highest rate
held before the first step that broke a threshold (written as
``stress.highest_sustained_pts_s``).

This is ``nox -s scenario-stress``: ~5 min of load plus service start-up. The
runner should stop the ramp after the first broken step: the full ramp would
produce ~90 M points (~1 GB of ledger at 12 B/point without stored values).
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import (
    FaultEvent,
    LoadPhase,
    MetricKey,
    Scenario,
    SensorFaultMix,
    default_thresholds,
    within_compression_baseline,
)

NOMINAL = 50_000.0
RAMP_STEPS = 8
API_USERS = 5
"""Locust users of the HTTP API mix in the second half of the steady phase (docs/api.md)."""

SCENARIO = Scenario(
    name="stress",
    description=(
        "Sensor faults, partition and kills at the nominal rate, then a load ramp to 32x nominal: "
        "reports the highest sustained rate."
    ),
    profile="stress",
    duration_s=290.0,
    warmup_s=20.0,
    seed=505,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 20.0, NOMINAL),
        LoadPhase("steady", "poisson", 40.0, NOMINAL),
        LoadPhase("fault", "steady", 40.0, NOMINAL),
        LoadPhase("recovery", "steady", 30.0, NOMINAL),
        LoadPhase(
            "ramp",
            "ramp",
            20.0 * RAMP_STEPS,
            2 * NOMINAL,
            batch_points=5_000,
            stop_rate_pts_s=32 * NOMINAL,
            steps=RAMP_STEPS,
        ),
    ),
    faults=(
        FaultEvent(65.0, 10.0, "partition-bus-historian", "nats->historian"),
        FaultEvent(80.0, 2.0, "kill-collector", "collector"),
        FaultEvent(88.0, 2.0, "kill-historian", "historian"),
    ),
    plant=True,
    api_load_users=API_USERS,
    sensor_fault_mix=SensorFaultMix(
        noise=1.0, quantization=0.5, spikes=0.1, stuck=0.02, dropouts=0.05, bad_quality=0.02
    ),
    thresholds=(
        *default_thresholds(),
        within_compression_baseline(),
        Threshold("recovery after crash", MetricKey.CRASH_RECOVERY_S, "<", 10.0, "s"),
        Threshold(
            "sustains at least the nominal rate",
            MetricKey.STRESS_SUSTAINED,
            ">=",
            NOMINAL,
            "points/s",
        ),
    ),
)
