"""The state a scenario run shares between its phases, and the callbacks that record
into it.

:class:`RunContext` declares what the runner (``harness.run.runner``), its fault
orchestration (``harness.run.fault_schedule``) and its load monitor
(``harness.run.monitor``) all read and write: the run's records
(:class:`~harness.run.state.RunState`), the stack, the forwarder. The
forwarder's ack callback and the ingest process's "applied" notices land here.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats
import numpy as np
import numpy.typing as npt
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from harness.accounting import Ledger
from harness.faults.disk import SizedTmpfs
from harness.load.schedule import Schedule
from harness.load.synthetic import SyntheticSource
from harness.metrics import LatencyHistogram, ThroughputSeries, TimeSeries
from harness.plant.plant_load import PlantLoad
from harness.run.rejected import Rejected, count_dead_letters
from harness.run.scenario_stack import ScenarioStack
from harness.run.secure_profile import TENANT, SecureProfile
from harness.run.state import RunState
from harness.run.status import RunStatus
from harness.scenario import Scenario
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch


class RunContext:
    """Attributes are set by :class:`harness.run.runner.ScenarioRunner`'s constructor
    (``fwd`` and ``_nc_obs`` when the load starts)."""

    s: Scenario
    schedule: Schedule
    state: RunState
    status: RunStatus
    plant: PlantLoad | None
    secure: SecureProfile | None
    source_id: str
    stack: ScenarioStack
    tmpfs: SizedTmpfs | None
    bus: BusOptions
    series: npt.NDArray[np.uint32]
    source: SyntheticSource
    ledger: Ledger
    acked_series: ThroughputSeries
    applied_series: ThroughputSeries
    lag: TimeSeries
    spool_depth: TimeSeries
    nats_errors: int
    fwd: BatchForwarder
    _nc_obs: NATS
    _load_consumer: str
    _batch_points: int
    _skipped_kinds: dict[str, str]
    _last_ack_mono: float
    _last_applied_mono: dict[str, float]
    _nominal_phases: set[int]
    _unsettled: list[tuple[int, int]]
    _break_event: asyncio.Event
    _ramp_stopped_at: int | None
    _background: set[asyncio.Task[None]]
    _resume_watch: set[asyncio.Task[None]]
    _killing_historian: bool

    def _run_s(self) -> float:
        return (time.time_ns() - self.state.origin_wall_ns) / NS

    async def _sleep_until_run_s(self, at_s: float) -> None:
        delay = (self.state.origin_wall_ns + at_s * NS - time.time_ns()) / NS
        if delay > 0:
            await asyncio.sleep(delay)

    def nominal_p99_between(self, lo_s: float, hi_s: float) -> tuple[float | None, int]:
        """p99 ms (and count) publish->queryable of the nominal batches intended in
        [lo_s, hi_s) of the run (the API load's with/without comparison)."""
        hist = LatencyHistogram()
        origin = self.state.origin_wall_ns
        for info in self.state.batches.values():
            offset = info.intended_wall_ns - origin
            if not info.applied_ns or not lo_s * NS <= offset < hi_s * NS:
                continue
            if self._is_nominal(info.phase, offset):
                hist.record_ns(max(0, info.applied_ns - info.intended_wall_ns))
        return (hist.percentile_ms(99.0) if hist.count else None), hist.count

    def _is_nominal(self, phase: int, intended_offset_ns: int) -> bool:
        return phase in self._nominal_phases and not any(
            a <= intended_offset_ns < b for a, b in self._unsettled
        )

    def _plant_source(self, index: int) -> str:
        """The source id plant collector ``index`` publishes as."""
        return self.secure.collector_name(index + 1) if self.secure else f"collector-{index}"

    def _identity(self, role: str) -> dict[str, object]:
        """``nats.connect`` kwargs of the runner's ``role`` connection (none when plain):
        the publisher is the first collector identity, the observer the tenant's reader."""
        if self.secure is None:
            return {}
        name = self.source_id if role == "collector" else f"{TENANT}-{role}"
        return self.secure.connect_kwargs(name)

    async def _count_dead_letters(self, nc_obs: NATS) -> Rejected:
        """Read the dead-letter stream; in secure mode as the operator (the reader may not
        create the ordered consumer that reads it)."""
        if self.secure is None:
            return await count_dead_letters(nc_obs, self.bus)
        nc = await nats.connect(self.stack.nats_urls, **self._identity("operator"))
        try:
            return await count_dead_letters(nc, self.bus)
        finally:
            await nc.close()

    def _new_forwarder(self, nc: NATS, spool: DiskSpool) -> BatchForwarder:
        return BatchForwarder(
            nc,
            self.bus,
            self.source_id,
            spool,
            batch_points=self._batch_points,
            on_ack=self._on_ack,
            create_stream=self.stack.cluster is not None,  # retried through elections
        )

    # ------------------------------------------------------------ callbacks
    async def _nats_error(self, exc: Exception) -> None:
        self.nats_errors += 1  # reconnects during faults are expected; counted, not printed

    def _on_ack(self, mid: str, batch: PointBatch) -> None:
        now = time.time_ns()
        self._last_ack_mono = time.monotonic()
        self.ledger.mark_acked(mid)
        info = self.state.batches.get(mid)
        if info is not None:
            info.acked_ns = now
            self.state.ack_hist.record_ns(max(0, now - info.intended_wall_ns))
        self.acked_series.add(now, len(batch))

    async def _on_applied(self, msg: Msg) -> None:
        notice = json.loads(msg.data)
        t = int(notice["t"])
        for source, seq, created, n in notice["b"]:
            self._last_applied_mono[source] = time.monotonic()
            if source != self.source_id:
                self.state.plant_hist.record_ns(max(0, t - int(created)))
                self.state.plant_points += int(n)
                continue
            info = self.state.batches.get(f"{source}/{seq}")
            if info is None or info.applied_ns:
                continue  # a redelivery after a historian crash: first application counts
            info.applied_ns = t
            lat = max(0, t - info.intended_wall_ns)
            self.state.queryable_hist.record_ns(lat)
            self.state.phase_hists.setdefault(info.phase, LatencyHistogram()).record_ns(lat)
            if self._is_nominal(info.phase, info.intended_wall_ns - self.state.origin_wall_ns):
                self.state.nominal_hist.record_ns(lat)
            self.state.applied_points_by_phase.setdefault(info.phase, []).append((t, int(n)))
            self.applied_series.add(t, int(n))
            self.status.applied(int(n))
