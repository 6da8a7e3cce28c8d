"""What a scenario run accumulates while it runs: one record per batch, the latency
histograms, the fault log. The runner's callbacks fill it; when the load is done
the runner hands a :class:`~harness.run.result.RunResult` built from it to scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.faults.cluster import FailoverRecord
from harness.metrics import LatencyHistogram
from harness.run.rejected import Rejected

SETTLE_S = 5.0  # after a fault or a burst, the backlog drains; not "at nominal rate"


@dataclass
class BatchInfo:
    intended_wall_ns: int
    phase: int
    points: int
    acked_ns: int = 0
    applied_ns: int = 0


@dataclass
class RunState:
    origin_wall_ns: int = 0
    batches: dict[str, BatchInfo] = field(default_factory=dict)
    ack_hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    queryable_hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    nominal_hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    phase_hists: dict[int, LatencyHistogram] = field(default_factory=dict)
    applied_points_by_phase: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    recoveries: list[tuple[str, float]] = field(default_factory=list)
    drains: list[tuple[str, float]] = field(default_factory=list)
    resume_delays: list[tuple[str, float]] = field(default_factory=list)
    plant_hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    plant_points: int = 0
    batches_by_phase: dict[int, list[BatchInfo]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fault_log: list[dict[str, object]] = field(default_factory=list)
    """Each injected fault: kind, target, start/end (run s), when acks/queryable resumed."""
    rejected: Rejected = field(default_factory=Rejected)
    quarantined_spool_files: int = 0
    failovers: list[tuple[dict[str, object], FailoverRecord]] = field(default_factory=list)
    """Each failover fault: its fault-log entry and what was struck (scored afterwards)."""

    def dump_batches(self, path: Path) -> None:
        """One CSV line per batch (run-relative ms): a diagnostic beside the stall watch's
        records (``TWINBENCH_STALL_TRACE``), to line up slow batches with stalls."""
        o = self.origin_wall_ns
        with path.open("w", encoding="utf-8") as f:
            f.write("intended_ms,phase,points,ack_ms,applied_ms\n")
            for b in sorted(self.batches.values(), key=lambda b: b.intended_wall_ns):
                ack = (b.acked_ns - b.intended_wall_ns) / 1e6 if b.acked_ns else -1
                app = (b.applied_ns - b.intended_wall_ns) / 1e6 if b.applied_ns else -1
                f.write(f"{(b.intended_wall_ns - o) / 1e6:.1f},{b.phase},{b.points},")
                f.write(f"{ack:.2f},{app:.2f}\n")
