"""shadow: twinbench beside two legacy historians on one feed, with seeded discrepancies.

The feed (24 analog tags, 1 Hz of data time) goes over the JetStream stream to
twinbench's ingest and, through their own durable consumers, to the seed's
PostgreSQL SCADA writer and to a PI-style archive (ExcDev + swinging door). The
legacy side drops an hour on two tags, stores a stuck sensor, a psi/kPa scale
error, a +2 s clock offset and every status as Good; the SCADA consumer is
stopped mid-run and catches up. Passes when the shadow diff reports every
injection on its tag against both legacies and nothing else.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import LoadPhase, Scenario, default_thresholds

NOMINAL = 20_000.0

SCENARIO = Scenario(
    name="shadow",
    description="One feed, twinbench + PostgreSQL SCADA + PI-style legacy: every seeded "
    "discrepancy found, no false alarm.",
    profile="normal",
    duration_s=120.0,
    warmup_s=10.0,
    seed=16,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 10.0, NOMINAL, batch_points=1_200),
        LoadPhase("feed", "steady", 110.0, NOMINAL, batch_points=1_200),
    ),
    shadow=True,
    thresholds=(
        *default_thresholds(latency=False),  # twinbench stored the feed exactly
        Threshold("every injected discrepancy detected", "shadow.missed", "==", 0, "discrepancies"),
        Threshold("no false alarm", "shadow.false_alarms", "==", 0, "findings"),
    ),
)
