"""replay: the NAB machine-failure recording through the full stack, cut in the middle.

22,695 records of a real industrial machine's temperature (5 min apart over 79
days, reports/corpus/nab/) are replayed at the speed that fits the run
(~110,000x; the short copy ~450,000x) through an OPC UA server process, a real
collector process, nats-server and the historian. Half-way through, the
collector's link to the bus is cut: it spools, then drains after the heal. The
store must then hold every served point exactly (float64 bits, timestamps), the
drain must outrun the replay, and the historian must catch up within seconds of
the replay's end. The run directory's replay.md and failure-trend.svg show the
machine's failure before and after, as recorded and as stored.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import FaultEvent, LoadPhase, MetricKey, Scenario, default_thresholds

RECORDING = "reports/corpus/nab/machine_temperature_system_failure.csv"
DURATION_S = 60.0
POINTS = 22_683  # distinct timestamps of the recording (12 of its 22,695 records repeat one)
RATE = POINTS / DURATION_S

SCENARIO = Scenario(
    name="replay",
    description="NAB machine failure replayed at ~10^5 x through servers, collector, bus and "
    "historian with a collector<->bus partition mid-way: every point stored exactly, the "
    "backlog drains faster than the replay, the historian keeps up.",
    profile="normal",
    duration_s=DURATION_S,
    warmup_s=12.0,
    seed=14,
    nominal_rate_pts_s=RATE,
    # the phases only name the stretches of the replay (the recording is the load)
    load=(
        LoadPhase("warm-up", "steady", 12.0, RATE),
        LoadPhase("steady", "steady", 12.0, RATE),
        LoadPhase("partition", "steady", 12.0, RATE),
        LoadPhase("recovery", "steady", 24.0, RATE),
    ),
    faults=(FaultEvent(24.0, 12.0, "partition-collector-bus", "collector->nats"),),
    replay=RECORDING,
    short_s=12.0,
    thresholds=(
        *default_thresholds(latency=False),  # lost / duplicated / changed against the recording
        Threshold(
            "drain after partition at >= 1.5x the replay's rate, reconnect included",
            MetricKey.DRAIN_OVER_NOMINAL,
            ">=",
            1.5,
            "x",
        ),
        Threshold(
            "historian caught up after the replay ended",
            "lag.catch_up_after_replay_s",
            "<",
            10.0,
            "s",
        ),
        Threshold("servers kept >= half the requested speed", "replay.speed_ratio", ">=", 0.5, ""),
    ),
)
