"""failover: the crash scenario's shape on a 3-node JetStream cluster, stream at R3.

Three ways a node goes down mid-ingest (``harness.faults.cluster``): a follower
SIGKILLed, the stream's leader SIGKILLed, the leader stopped cleanly (SIGTERM,
as in a rolling restart); each node comes back on its own store. Every acked
point must be stored once, unchanged; the publisher must get through each
election. The gap (strike -> first ack of a batch sent after it) must stay
under 5 s for the follower kill and the clean stop; after a SIGKILLed leader
nats-server waits out its Raft election timeout (4-9 s, fixed in the server),
so that gap has its own, honest limit. ``docs/scaling.md`` explains the
placement and the quorum arithmetic.
"""

from __future__ import annotations

from harness.report.model import Threshold
from harness.scenario import FaultEvent, LoadPhase, Scenario, default_thresholds

NOMINAL = 10_000.0
GAP_LIMIT_S = 5.0
LEADER_CRASH_GAP_LIMIT_S = 15.0  # 9 s worst Raft timeout + heartbeat + vote + retry backoff

SCENARIO = Scenario(
    name="failover",
    description="R3 cluster: SIGKILL a follower, SIGKILL and SIGTERM the stream leader "
    "mid-ingest: zero acked loss, publish gap measured.",
    profile="normal",
    duration_s=120.0,
    warmup_s=10.0,
    seed=505,
    nominal_rate_pts_s=NOMINAL,
    load=(
        LoadPhase("warm-up", "steady", 10.0, NOMINAL),
        LoadPhase("steady", "steady", 15.0, NOMINAL),
        LoadPhase("failover", "steady", 80.0, NOMINAL),
        LoadPhase("recovery", "steady", 15.0, NOMINAL),
    ),
    faults=(
        FaultEvent(30.0, 5.0, "failover", "follower"),
        FaultEvent(50.0, 8.0, "failover", "leader"),
        FaultEvent(80.0, 5.0, "failover", "leader-stop"),
    ),
    cluster=3,
    thresholds=(
        *default_thresholds(latency=False),
        Threshold(
            "publish gap: follower killed, leader stopped cleanly",
            "failover.gap_s",
            "<",
            GAP_LIMIT_S,
            "s",
        ),
        Threshold(
            "publish gap: stream leader SIGKILLed (Raft election timeout 4-9 s)",
            "failover.leader_crash_gap_s",
            "<",
            LEADER_CRASH_GAP_LIMIT_S,
            "s",
        ),
    ),
    short_s=28.0,
    # the short copy spaces the faults by hand: a SIGKILLed leader needs up to ~10 s
    short_faults=(
        FaultEvent(6.5, 1.0, "failover", "follower"),
        FaultEvent(10.0, 2.0, "failover", "leader"),
        FaultEvent(22.0, 1.0, "failover", "leader-stop"),
    ),
)
