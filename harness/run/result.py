"""What a finished scenario run hands to scoring (``harness.run.scoring.score_run``).

The runner builds one :class:`RunResult` when the load is over and the ingest
process has stopped; scoring reads nothing else, so the arithmetic of every
metric depends on these fields and not on the runner's internals. Frozen: scoring
reads it, never writes it (the ledger and histograms inside are the run's own
records, passed as they are, not copied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from harness.accounting import Ledger
from harness.faults.cluster import FailoverRecord
from harness.load.schedule import Schedule
from harness.metrics import LatencyHistogram, StepMeasurement, ThroughputSeries, TimeSeries
from harness.run.api_load import ApiLoadResult
from harness.run.rejected import Rejected
from harness.scenario import Scenario
from historian.tier.config import TierConfig


@dataclass(frozen=True)
class PlantResult:
    """The real-protocol plant a run drove: its catalogue's tags and what it applied."""

    profile: str
    collectors: int
    tag_types: dict[str, list[int]]
    """Series ids per tag (sensor) type."""
    series_ids: list[int]
    points_applied: int
    collect_to_queryable: LatencyHistogram


@dataclass(frozen=True)
class TierResult:
    """The cold tier a run exported to (the store's read-back attaches it)."""

    config: TierConfig
    hot_window_s: float


@dataclass(frozen=True)
class ApiRunResult:
    """The scenario's API load (harness.run.api_load): who asked, when, what it got, and the
    ingest p99 publish->queryable of the nominal batches without and with it."""

    users: int
    phase: str
    window_s: tuple[float, float, float]
    """Start of the phase, start of the API load (its middle), end of the phase (run s)."""
    locust: ApiLoadResult | None
    """The locust stats; None when locust never reported (the request thresholds fail)."""
    ingest_p99_without: tuple[float | None, int]
    """(p99 ms, batches) in the phase's first half, before the API load."""
    ingest_p99_with: tuple[float | None, int]


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    schedule: Schedule
    origin_wall_ns: int
    """Wall time of the load's t = 0 (0 when the load never started)."""
    notes: tuple[str, ...]
    durability_note: str
    security_note: str | None
    """The secure profile's sentence; None for a plain run."""
    store_key: str | None
    """The store's encryption key file (``--secure``), to reopen it for the read-back."""
    data_dir: Path
    work_dir: Path
    """The run's work directory (scratch space for scoring, e.g. the tier's re-stored copy)."""
    synthetic_series: npt.NDArray[np.uint32]
    ledger: Ledger
    # latency, from each batch's intended send time
    ack_hist: LatencyHistogram
    queryable_hist: LatencyHistogram
    nominal_hist: LatencyHistogram
    batch_acks: tuple[tuple[int, int], ...]
    """(intended wall ns, acked wall ns or 0) of every load batch, for the failover cost."""
    # time series for the charts
    acked_series: ThroughputSeries
    applied_series: ThroughputSeries
    lag: TimeSeries
    spool_depth: TimeSeries
    cpu: dict[str, TimeSeries]
    rss: dict[str, TimeSeries]
    # faults and what they cost
    fault_log: tuple[dict[str, object], ...]
    failovers: tuple[tuple[dict[str, object], FailoverRecord], ...]
    settle_s: float
    recoveries: tuple[tuple[str, float], ...]
    drains: tuple[tuple[str, float], ...]
    resume_delays: tuple[tuple[str, float], ...]
    rejected: Rejected
    quarantined_spool_files: int
    batches_spooled: int
    nats_client_errors: int
    # stress ramp: each judged step and the p99 limit it is judged against
    ramp_steps: tuple[StepMeasurement, ...]
    ramp_p99_limit_ms: float
    # the deployment
    cluster_nodes: int | None
    bus_replicas: int
    plant: PlantResult | None
    tier: TierResult | None
    api_load: ApiRunResult | None
    say: Callable[[str], None] = field(compare=False)
    """Progress line for the console (scoring reports how long its steps took)."""
