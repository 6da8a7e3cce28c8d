"""Run one scenario over the real stack and score it.

The run, in order:

1. start nats-server, the fault proxies the scenario needs and the ingest process
   (``harness.scenario_stack``);
2. drive the open-model schedule (``Scenario.schedule()``): each batch is built by
   ``SyntheticSource``, written to the ledger, then sent through a
   ``BatchForwarder`` (windowed publish, dedup ids, disk spool), exactly as a
   collector sends;
3. meanwhile apply the fault schedule (link cuts, SIGKILL + restart) and sample
   consumer lag, spool depth, CPU and RSS;
4. latency: publish->ack from the forwarder's ack callback, publish->queryable
   from the ingest process's "applied" notices, both from the batch's
   *intended* send time (no coordinated omission);
5. at the end: drain, stop ingest cleanly, reopen the store, read every series
   back and reconcile it with the ledger; compact and measure bytes/point,
   beside the codec's own figure on the same data;
6. score thresholds, write ``reports/runs/<stamp>-<name>/`` and return the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import numpy as np
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from harness.accounting import Ledger
from harness.driver import drive
from harness.edge_drain import measure_uplink_drain
from harness.faults import pause, resume
from harness.faults.cluster import FailoverRecord
from harness.faults.disk import SizedTmpfs, can_mount_tmpfs
from harness.faults.spool import flip_bytes_in_spool
from harness.metrics import (
    LatencyHistogram,
    ProcessSampler,
    StepMeasurement,
    ThroughputSeries,
    TimeSeries,
    highest_sustained_rate,
)
from harness.plant import PlantLoad
from harness.rejected import Rejected, count_dead_letters
from harness.report import Report
from harness.report_charts import require_uplot_dist
from harness.report_write import write_run
from harness.run_status import RunStatus
from harness.scenario import FaultEvent, MetricKey, Scenario
from harness.scenario_stack import ScenarioStack
from harness.secure_profile import TENANT, SecureProfile
from harness.synthetic import SyntheticSource
from historian.bus.cluster import ELECTION_ERRORS, server_list
from historian.bus.options import BusOptions
from historian.bus.subjects import partition_of
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.ingest.service import APPLIED_PREFIX
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch

SOURCE_ID = "loadgen"
N_SERIES = 2_000
SYNTHETIC_ID_BASE = 1_000_001  # clear of catalogue ids (1..10,000 for the stress profile)
RAMP_GRACE_S = 3.0  # a ramp step is judged this long after it ends (its last batches land)
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


class ScenarioRunner:
    def __init__(
        self,
        scenario: Scenario,
        *,
        reports_root: Path = Path("reports/runs"),
        work_dir: Path | None = None,
        keep_data: bool = False,
        status: Callable[[str], None] | None = None,
        secure: bool = False,
        mtls: bool = False,
    ) -> None:
        self.s = scenario
        self.reports_root = reports_root
        self._own_work = work_dir is None
        require_uplot_dist()  # report.html inlines uPlot: say so now, not after the load
        self.work = work_dir or Path(tempfile.mkdtemp(prefix=f"twinbench-{scenario.name}-"))
        self.keep_data = keep_data
        self.schedule = scenario.schedule()
        self.state = RunState()
        self.status = RunStatus(scenario, self.schedule, status)
        self.plant: PlantLoad | None = None
        if scenario.plant:
            # CI-sized runs use the small plant: 10 k tags is 10 server + collector
            # processes' worth of CPU on a 2-core machine
            profile = "normal" if scenario.is_short else scenario.profile
            self.plant = PlantLoad(
                self.work / "plant", profile, scenario.seed, fault_mix=scenario.sensor_fault_mix
            )
        kinds = {f.kind for f in scenario.faults}
        # --secure: credentials first (harness.secure_profile); the load generator is the
        # first collector identity (so it publishes on its own partition's subject), plant
        # collector i the (i+1)-th
        self.secure: SecureProfile | None = None
        if secure:
            self.work.mkdir(parents=True, exist_ok=True)
            plant_collectors = self.plant.collector_count() if self.plant is not None else 0
            self.secure = SecureProfile(self.work, collectors=1 + plant_collectors, mtls=mtls)
        self.source_id = self.secure.collector_name(0) if self.secure else SOURCE_ID
        self.stack = ScenarioStack(
            self.work,
            proxy_collector=bool({"partition-collector-bus", "corrupt-spool"} & kinds),
            proxy_historian="partition-bus-historian" in kinds,
            tier_hot_window_s=scenario.tier_hot_window_s,
            cluster_size=scenario.cluster,
            edge=scenario.edge,
            secure=self.secure,
        )
        self.tmpfs: SizedTmpfs | None = None
        self._skipped_kinds: dict[str, str] = {}
        if "disk-full-historian" in kinds:
            ok, why = can_mount_tmpfs()
            if ok:
                self.tmpfs = SizedTmpfs(self.work / "historian")
            else:
                self._skipped_kinds["disk-full-historian"] = why
        self._last_ack_mono = 0.0
        self._last_applied_mono: dict[str, float] = {}
        self.bus = BusOptions(
            ack_timeout_s=2.0,
            publish_attempts=3,
            publish_window=256,
            replicas=self.stack.bus.replicas,
        )
        if self.secure is not None:
            self.bus = self.secure.bus(self.bus)
        load_partition = partition_of(self.source_id, self.bus.partitions)
        self._load_consumer = self.bus.consumer_name(load_partition)
        self.series = np.arange(SYNTHETIC_ID_BASE, SYNTHETIC_ID_BASE + N_SERIES, dtype=np.uint32)
        self.source = SyntheticSource(self.series, scenario.seed, start_ns=time.time_ns())
        self.ledger = Ledger(expected_values=self.source.expected_values)
        self.acked_series = ThroughputSeries(time.time_ns())
        self.applied_series = ThroughputSeries(time.time_ns())
        self.lag = TimeSeries("consumer lag", "messages")
        self.spool_depth = TimeSeries("spool depth", "batches")
        self._nominal_phases = {
            k for k, name in enumerate(self.schedule.phase_names) if name == "steady"
        }
        self._unsettled = self._unsettled_windows()
        self._break_event = asyncio.Event()
        self._ramp_stopped_at: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._resume_watch: set[asyncio.Task[None]] = set()
        self._killing_historian = False
        self.nats_errors = 0
        self._batch_points = max(int(p.batch_points) for p in scenario.load)

    def _unsettled_windows(self) -> list[tuple[int, int]]:
        """Run-time windows (ns offsets) that do not count as "at the nominal rate":
        each fault plus SETTLE_S after it, each burst (a phase above the nominal rate)
        plus SETTLE_S after it, so its backlog does not masquerade as nominal latency.
        Their latencies still count in the overall histogram."""
        out = [(int(f.at_s * NS), int((f.end_s + SETTLE_S) * NS)) for f in self.s.faults]
        for k, (a, b) in enumerate(self.schedule.phase_bounds_ns):
            if self.schedule.phase_rates[k] > self.s.nominal_rate_pts_s * 1.01:
                out.append((a, b + int(SETTLE_S * NS)))
        return out

    def _is_nominal(self, phase: int, intended_offset_ns: int) -> bool:
        return phase in self._nominal_phases and not any(
            a <= intended_offset_ns < b for a, b in self._unsettled
        )

    # ------------------------------------------------------------------ run
    async def run(self) -> tuple[Report, Path]:
        """Run the scenario and write its report.

        The work directory (store, logs, spool) is a printed temp path unless
        ``work_dir`` was given. It is removed after a successful run unless
        ``keep_data``; after a failure it is always kept, as evidence, and its path
        is printed.
        """
        kept = "kept" if self.keep_data or not self._own_work else "removed after a successful run"
        self.status.say(f"work directory {self.work} ({kept})")
        try:
            report, path = await self._run_and_write()
        except BaseException:
            self.status.say(f"run failed; its data and logs are kept in {self.work}")
            raise
        if self._own_work and not self.keep_data:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            self.status.say(f"data and logs kept in {self.work}")
        return report, path

    async def _run_and_write(self) -> tuple[Report, Path]:
        if self.s.shadow or self.s.replay:  # self-contained: their own services
            if self.s.replay:
                from harness.replay_scenario import run_replay as run_own
            else:
                from harness.shadow.scenario import run_shadow as run_own

            report, files = await run_own(self.s, self.work, self.status.say)
            path = write_run(report, self.reports_root)
            for name, text in files.items():
                (path / name).write_text(text)
            return report, path
        try:
            for kind, why in self._skipped_kinds.items():
                self.status.say(f"fault {kind} SKIPPED: {why}")
                self.state.notes.append(f"fault {kind} was SKIPPED in this run: {why}")
            if self.tmpfs is not None:
                self.tmpfs.mount()
                self.state.notes.append(
                    f"historian data dir on a {self.tmpfs.size_bytes / 2**30:g} GiB tmpfs "
                    "(disk-full shrinks it to its use, then grows it back)"
                )
            self.status.say("starting nats-server and the historian ingest process")
            await self.stack.start()
            if self.plant is not None:
                self.status.say(f"starting the {self.plant.profile} plant: servers + collectors")
                await asyncio.to_thread(
                    self.plant.start,
                    self.stack.url_for("collector"),
                    replicas=self.bus.replicas,
                    collector_args=self.secure.plant_collector_args if self.secure else None,
                    opcua_users=self.secure.opcua_users if self.secure else None,
                )
            report = await self._run_with_stack()
        finally:
            if self.plant is not None:
                await asyncio.to_thread(self.plant.stop)
            await self.stack.close()
            if self.tmpfs is not None:
                self.tmpfs.unmount()
        return report, write_run(report, self.reports_root)

    async def _run_with_stack(self) -> Report:
        assert self.stack.ingest is not None
        self._nc_obs = nc_obs = await nats.connect(
            self.stack.nats_urls,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            error_cb=self._nats_error,
            **self._identity("reader"),
        )
        nc_pub = await nats.connect(
            server_list(self.stack.url_for("collector")),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            error_cb=self._nats_error,
            ping_interval=2,
            max_outstanding_pings=2,
            **self._identity("collector"),
        )
        await nc_obs.subscribe(f"{APPLIED_PREFIX}.>", cb=self._on_applied)
        spool = DiskSpool(self.work / "spool", max_bytes=4 * 1024**3, fsync=False)
        self.fwd = self._new_forwarder(nc_pub, spool)
        stop_fwd = asyncio.Event()
        fwd_task = asyncio.create_task(self.fwd.run(stop_fwd))
        pids = {
            **self.stack.nats_pids(),
            "historian": self.stack.ingest.pid,
            "runner": os.getpid(),
        }
        if self.plant is not None:
            pids.update(self.plant.pids)
        sampler = ProcessSampler(pids)
        sampler.start()
        self.state.origin_wall_ns = time.time_ns() + 200_000_000
        origin_mono = time.monotonic_ns() + 200_000_000
        # t = 0 s of every chart is the start of the load: the throughput series counted
        # from the runner's construction and the sampler from its own start, so the charts'
        # time axes differed by the services' start-up time
        self.acked_series.origin_ns = self.applied_series.origin_ns = self.state.origin_wall_ns
        sampler.origin = origin_mono / NS
        monitor = asyncio.create_task(self._monitor(nc_obs, spool, stop_fwd))
        faults = [
            asyncio.create_task(self._fault(f, nc_pub, spool, stop_fwd, sampler))
            for f in self.s.faults
        ]
        ramp_watch = asyncio.create_task(self._watch_ramp())

        async def send(i: int, batch: PointBatch) -> None:
            seq, _mid = self._reserved[i]
            await self.fwd.send_batch(batch, seq)

        self._reserved: dict[int, tuple[int, str]] = {}

        def on_batch(i: int, batch: PointBatch) -> None:
            seq, mid = self.fwd.reserve()
            self._reserved[i] = (seq, mid)
            phase = int(self.schedule.phase[i])
            self.ledger.record(mid, batch, self.schedule.phase_names[phase])
            info = BatchInfo(
                self.state.origin_wall_ns + int(self.schedule.send_ns[i]), phase, len(batch)
            )
            self.state.batches[mid] = info
            self.state.batches_by_phase.setdefault(phase, []).append(info)

        drive_task = asyncio.create_task(
            drive(
                self.schedule,
                send,
                source=self.source,
                origin_ns=origin_mono,
                on_batch=on_batch,
                max_in_flight=64,
                stop=self._break_event,
            )
        )
        await asyncio.wait(
            [drive_task, asyncio.create_task(self._break_event.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not drive_task.done():
            self.state.notes.append("load ramp stopped after the first step that broke a threshold")
            drive_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drive_task
        for t in faults:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        ramp_watch.cancel()
        if self.plant is not None:
            self.status.say("stopping the plant's collectors (they flush their spools)")
            for c in self.plant.collectors:
                await asyncio.to_thread(c.process.stop)
        self.status.say("load done: draining spool and consumer")
        await self.fwd.flush(timeout=120)
        stop_fwd.set()
        await asyncio.gather(fwd_task, return_exceptions=True)
        await self._wait_applied(timeout_s=120)
        if self._resume_watch:  # faults whose recovery is still being timed
            await asyncio.wait(self._resume_watch, timeout=30)
        self.state.rejected = await self._count_dead_letters(nc_obs)
        self.state.quarantined_spool_files = spool.quarantined
        if spool.quarantined:
            self.state.notes.append(
                f"{spool.quarantined} spool file(s) quarantined (spool/quarantine/): their "
                "points were never acknowledged and count as unacked_missing, not lost"
            )
        monitor.cancel()
        sampler.stop()
        await nc_pub.close()
        await nc_obs.close()
        self.status.say("stopping ingest; reading everything back")
        await asyncio.to_thread(self.stack.ingest.stop)
        return self._score(sampler)

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

    # --------------------------------------------------------------- faults
    async def _sleep_until_run_s(self, at_s: float) -> None:
        delay = (self.state.origin_wall_ns + at_s * NS - time.time_ns()) / NS
        if delay > 0:
            await asyncio.sleep(delay)

    async def _fault(
        self,
        f: FaultEvent,
        nc_pub: NATS,
        spool: DiskSpool,
        stop_fwd: asyncio.Event,
        sampler: ProcessSampler,
    ) -> None:
        await self._sleep_until_run_s(f.at_s)
        if f.kind in self._skipped_kinds:
            self.state.fault_log.append(self._fault_entry(f, skipped=self._skipped_kinds[f.kind]))
            return
        self.status.say(f"fault: {f.kind} for {f.duration_s:g} s")
        started = self._run_s()
        failover: FailoverRecord | None = None
        ingest = self.stack.ingest
        assert ingest is not None
        if f.kind.startswith("pause-"):
            await self._pause_process(f, sampler)
        elif f.kind == "disk-full-historian":
            await self._fill_disk(f, sampler)
        elif f.kind == "corrupt-spool":
            await self._corrupt_spool(f, spool)
        elif f.kind.startswith("partition"):
            side = {"partition-collector-bus": "collector", "partition-leaf-hub": "uplink"}.get(
                f.kind, "historian"
            )
            await self.stack.cut(side)
            await self._sleep_until_run_s(f.end_s)
            await self.stack.heal(side)
            self._background.add(asyncio.create_task(self._measure_drain(f.kind, side, spool)))
        elif f.kind == "kill-historian":
            self._killing_historian = True  # not a crash for the supervisor to restart
            ingest.kill()
            await self._sleep_until_run_s(f.end_s)
            try:
                took = await asyncio.to_thread(ingest.start)
            finally:
                self._killing_historian = False
            sampler.set_pid("historian", ingest.pid)
            self.state.recoveries.append((f.kind, took))
        elif f.kind == "kill-nats":
            self.stack.nats.kill()
            await self._sleep_until_run_s(f.end_s)
            t0 = time.monotonic()
            await asyncio.to_thread(self.stack.nats.restart)
            sampler.set_pid("nats-server", self.stack.nats.pid)
            acked_before = self.fwd.metrics.batches_acked
            while self.fwd.metrics.batches_acked == acked_before and time.monotonic() - t0 < 60:
                await asyncio.sleep(0.05)  # recovered = publishes are acknowledged again
            self.state.recoveries.append((f.kind, time.monotonic() - t0))
        elif f.kind == "failover":
            failover = await self._failover(f, sampler)
        elif f.kind == "kill-collector":
            self.fwd.abort()
            if self.plant is not None:
                self.plant.kill_collector(0)
            await self._sleep_until_run_s(f.end_s)
            t0 = time.monotonic()
            if self.plant is not None:
                await asyncio.to_thread(self.plant.restart_collector, 0)
                sampler.set_pid("collector-0", self.plant.collectors[0].process.pid)
            self.fwd = self._new_forwarder(nc_pub, spool)
            self._background.add(asyncio.create_task(self.fwd.run(stop_fwd)))
            self.state.recoveries.append((f.kind, time.monotonic() - t0))
        await self._ensure_historian_up(f.kind, sampler)
        entry = self._fault_entry(f, start_s=started, end_s=self._run_s())
        if failover is not None:
            entry.update(failover.as_entry())
            self.state.failovers.append((entry, failover))
        self.state.fault_log.append(entry)
        watch = asyncio.create_task(self._time_resume(f, entry))
        self._resume_watch.add(watch)
        self.status.say(f"fault over: {f.kind}")

    async def _failover(self, f: FaultEvent, sampler: ProcessSampler) -> FailoverRecord:
        """Take a cluster node down (the stream leader, found when the fault starts, or a
        follower), hold it down for the fault, restart it (harness.faults.cluster)."""
        failover = self.stack.failover
        assert failover is not None  # Scenario refuses a failover fault without a cluster
        record = await failover.strike(f.target or "leader")
        self.status.say(f"failover: {record.signal} {record.role} {record.victim}")
        await self._sleep_until_run_s(f.end_s)
        pid = await failover.revive(record)
        sampler.set_pid(self.stack.sampler_name(record.victim), pid)
        return record

    # ------------------------------------------------- chaos fault kinds
    def _run_s(self) -> float:
        return (time.time_ns() - self.state.origin_wall_ns) / NS

    def _fault_entry(
        self, f: FaultEvent, *, start_s: float = 0.0, end_s: float = 0.0, skipped: str = ""
    ) -> dict[str, object]:
        entry: dict[str, object] = {"kind": f.kind, "target": f.target}
        if skipped:
            entry.update(start_s=f.at_s, end_s=f.end_s, skipped=skipped)
        else:
            entry.update(start_s=start_s, end_s=end_s)
        return entry

    def _pids_of(self, kind: str) -> list[tuple[str, int]]:
        """The processes a pause-* fault stops: (sampler name, pid)."""
        assert self.stack.ingest is not None
        if kind == "pause-historian":
            return [("historian", self.stack.ingest.pid)]
        if kind == "pause-nats":
            return [("nats-server", self.stack.nats.pid)]
        if self.plant is None or not self.plant.collectors:
            return []
        return [("collector-0", self.plant.collectors[0].process.pid)]

    async def _pause_process(self, f: FaultEvent, sampler: ProcessSampler) -> None:
        """SIGSTOP, hold, SIGCONT: the process keeps its sockets but answers nothing."""
        targets = self._pids_of(f.kind)
        if not targets:
            self.state.notes.append(f"{f.kind}: no such process in this run (no plant)")
        for _, pid in targets:
            pause(pid)
        try:
            await self._sleep_until_run_s(f.end_s)
        finally:
            for _, pid in targets:
                with contextlib.suppress(ProcessLookupError):
                    resume(pid)

    async def _fill_disk(self, f: FaultEvent, sampler: ProcessSampler) -> None:
        """The historian's data dir full (ENOSPC) for the fault, then room again."""
        assert self.tmpfs is not None
        size = await asyncio.to_thread(self.tmpfs.fill)
        try:
            await self._sleep_until_run_s(f.end_s)
        finally:
            await asyncio.to_thread(self.tmpfs.grow)
        self.state.notes.append(f"disk-full at {f.at_s:g} s: tmpfs shrunk to {size:,} bytes")

    async def _corrupt_spool(self, f: FaultEvent, spool: DiskSpool) -> None:
        """Refuse the collector link (batches spool at once), flip bytes in one spool file."""
        await self.stack.proxies["collector"].set_mode("reset")
        try:
            corrupted = None
            while corrupted is None and self._run_s() < f.end_s:
                await asyncio.sleep(0.05)
                if len(spool):
                    corrupted = flip_bytes_in_spool(spool.directory, seed=self.s.seed)
            if corrupted is None:
                self.state.notes.append("corrupt-spool: the spool stayed empty; nothing corrupted")
            else:
                self.state.notes.append(f"corrupt-spool: flipped 8 bytes in {corrupted.name}")
            await self._sleep_until_run_s(f.end_s)
        finally:
            await self.stack.heal("collector")

    async def _ensure_historian_up(self, kind: str, sampler: ProcessSampler) -> None:
        """Act as the supervisor: a historian that exited (as it must when its store is
        unusable) is restarted; the exit is noted, with its status."""
        ingest = self.stack.ingest
        assert ingest is not None
        if ingest.process.running or self._killing_historian:
            return
        code = ingest.process.returncode
        took = await asyncio.to_thread(ingest.start)
        sampler.set_pid("historian", ingest.pid)
        self.state.notes.append(
            f"after {kind} the historian had exited (status {code}); "
            f"the supervisor restarted it ({took:.1f} s to READY)"
        )

    async def _time_resume(self, f: FaultEvent, entry: dict[str, object]) -> None:
        """Seconds from the fault's end until the affected flow is acked and queryable again:
        the load generator's acks, and applied notices of the source the fault hit."""
        t_end = time.monotonic()
        source = self._plant_source(0) if f.kind.endswith("-collector") else self.source_id
        ack_s = query_s = None
        while time.monotonic() - t_end < 120 and (ack_s is None or query_s is None):
            if ack_s is None and self._last_ack_mono >= t_end:
                ack_s = self._last_ack_mono - t_end
            applied = self._last_applied_mono.get(source, 0.0)
            if query_s is None and applied >= t_end:
                query_s = applied - t_end
            await asyncio.sleep(0.02)
        entry["ack_resumed_s"] = ack_s
        entry["queryable_resumed_s"] = query_s
        entry["resumed_source"] = source

    async def _measure_drain(self, kind: str, side: str, spool: DiskSpool) -> None:
        """Drain rate = backlog / (caught up - resumed); the resume delay is reported apart.

        Collector side: the backlog is the points produced before the heal and not yet
        acknowledged (spooled or stuck in the publish window); it resumes at the first
        of their acks. Historian side: the consumer's undelivered messages
        (``num_pending``); it resumes when that number first falls.
        """
        if side == "uplink":  # the leaf acked everything: the backlog is the unapplied batches
            assert self.stack.edge is not None
            drained = await measure_uplink_drain(
                lambda: list(self.state.batches.values()),
                healed_at_ns=self.stack.edge.healed_at_ns,
            )
            if drained is None:
                self.state.notes.append(f"{kind}: no backlog to drain was observed after the heal")
                return
            self.state.drains.append((kind, drained.rate_pts_s))
            self.state.resume_delays.append((kind, drained.resume_s))
            return
        t_heal = time.monotonic()
        now = time.time_ns()
        resumed = done = 0.0
        if side == "collector":
            waiting = [
                i
                for i in self.state.batches.values()
                if not i.acked_ns and i.intended_wall_ns <= now
            ]
            backlog = sum(i.points for i in waiting)
            while time.monotonic() - t_heal < 300:
                acked = sum(1 for i in waiting if i.acked_ns)
                if acked and not resumed:
                    resumed = time.monotonic()
                if acked == len(waiting):
                    done = time.monotonic()
                    break
                await asyncio.sleep(0.01)
        else:
            js = self._nc_obs.jetstream()
            name = self._load_consumer
            sizes = [i.points for i in self.state.batches.values()]
            mean_points = sum(sizes) / max(len(sizes), 1)
            peak = 0
            while time.monotonic() - t_heal < 300:
                pending = int((await js.consumer_info(self.bus.stream, name)).num_pending or 0)
                if pending < peak and not resumed:
                    resumed = time.monotonic()
                peak = max(peak, pending)
                if resumed and pending <= 1:
                    done = time.monotonic()
                    break
                await asyncio.sleep(0.02)
            backlog = int(peak * mean_points)
        if not backlog or not done:
            self.state.notes.append(f"{kind}: no backlog to drain was observed after the heal")
            return
        self.state.drains.append((kind, backlog / max(done - resumed, 0.01)))
        self.state.resume_delays.append((kind, resumed - t_heal))

    # -------------------------------------------------------------- monitor
    async def _monitor(self, nc: NATS, spool: DiskSpool, stop: asyncio.Event) -> None:
        js = nc.jetstream()
        while True:
            t = (time.time_ns() - self.state.origin_wall_ns) / NS
            with contextlib.suppress(Exception):
                info = await js.consumer_info(self.bus.stream, self._load_consumer)
                self.lag.append(t, float(info.num_pending or 0) + float(info.num_ack_pending or 0))
            self.spool_depth.append(t, float(len(spool)))
            self.status.tick(t, self.state.queryable_hist, len(spool), self.lag)
            await asyncio.sleep(0.5)

    async def _watch_ramp(self) -> None:
        """After each ramp step, stop the run once a step broke a threshold."""
        for k, name in enumerate(self.schedule.phase_names):
            if not name.startswith("ramp"):
                continue
            _, end = self.schedule.phase_bounds_ns[k]
            await self._sleep_until_run_s(end / NS + RAMP_GRACE_S + 0.1)
            verdict = highest_sustained_rate(self._ramp_steps(), p99_limit_ms=self._p99_limit())
            if verdict.breaking_step is not None:
                self.status.say(f"stopping the ramp: {verdict.reason}")
                self._ramp_stopped_at = k + 1  # the step already running is cut short
                self._break_event.set()
                return

    def _p99_limit(self) -> float:
        for t in self.s.thresholds:
            if t.metric == MetricKey.P99_QUERYABLE_NOMINAL and not isinstance(t.limit, str):
                return float(t.limit)
        return 50.0

    def _ramp_steps(self, *, final: bool = False) -> list[StepMeasurement]:
        """Offered/achieved rate and p99 of each ramp step that has ended (+ grace).

        A batch of the step that is not queryable yet counts with the latency it has
        at least (now - intended send time), so a step can be judged right after it
        ends without waiting for its stragglers, and is never judged too kindly.
        """
        steps = []
        now = time.time_ns()
        for k, name in enumerate(self.schedule.phase_names):
            if not name.startswith("ramp"):
                continue
            if self._ramp_stopped_at is not None and k >= self._ramp_stopped_at:
                break  # cut short by the stop: nothing to judge
            start, end = self.schedule.phase_bounds_ns[k]
            grace = 0 if final else int(RAMP_GRACE_S * NS)  # at the end, all data is in
            if now < self.state.origin_wall_ns + end + grace:
                break  # a step still running (or just ended) is not judged
            infos = self.state.batches_by_phase.get(k, [])
            hist = LatencyHistogram()
            hist.merge(self.state.phase_hists.get(k, LatencyHistogram()))
            pending = [now - i.intended_wall_ns for i in infos if not i.applied_ns]
            if pending:
                hist.record_many_ns(np.array(pending, dtype=np.int64))
            applied = self.state.applied_points_by_phase.get(k, [])
            pts = sum(n for _, n in applied)
            last = max((t for t, _ in applied), default=self.state.origin_wall_ns + end)
            span = max(last - (self.state.origin_wall_ns + start), end - start)
            p99 = hist.percentile_ms(99.0) if hist.count else float("inf")
            steps.append(
                StepMeasurement(name, self.schedule.phase_rates[k], pts / (span / NS), p99)
            )
        return steps

    async def _wait_applied(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        js = self._nc_obs.jetstream()
        while time.monotonic() < deadline:
            if all(i.applied_ns for i in self.state.batches.values() if i.acked_ns):
                try:
                    info = await js.consumer_info(self.bus.stream, self._load_consumer)
                except ELECTION_ERRORS:  # a cluster still electing after a failover
                    await asyncio.sleep(0.1)
                    continue
                if not info.num_pending and not info.num_ack_pending:
                    return
            await asyncio.sleep(0.1)
        self.state.notes.append(f"not every acked batch was applied within {timeout_s:g} s")

    # -------------------------------------------------------------- scoring
    def _score(self, sampler: ProcessSampler) -> Report:
        from harness.scoring import score_run

        return score_run(self, sampler)
