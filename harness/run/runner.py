"""Run one scenario over the real stack and score it.

The run, in order:

1. start nats-server, the fault proxies the scenario needs and the ingest process
   (``harness.run.scenario_stack``);
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
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nats
import numpy as np

from harness.accounting import Ledger
from harness.faults.disk import SizedTmpfs, can_mount_tmpfs
from harness.load.driver import drive
from harness.load.synthetic import SyntheticSource
from harness.metrics import ProcessSampler, ThroughputSeries, TimeSeries
from harness.plant.plant_load import PlantLoad
from harness.report.charts import require_uplot_dist
from harness.report.model import Report
from harness.report.write import write_run
from harness.run.api_load import ApiLoad
from harness.run.fault_schedule import FaultOrchestration
from harness.run.result import RunResult
from harness.run.result_assembly import ResultAssembly
from harness.run.scenario_stack import ScenarioStack
from harness.run.scoring import score_run
from harness.run.secure_profile import SecureProfile
from harness.run.state import BatchInfo, RunState
from harness.run.status import RunStatus
from harness.run.warm import warm_numba_cache
from harness.scenario import Scenario
from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.bus.subjects import partition_of
from historian.collect.spool import DiskSpool
from historian.ingest.service import APPLIED_PREFIX
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from historian.server.stall_watch import StallWatch

SOURCE_ID = "loadgen"
N_SERIES = 2_000
SYNTHETIC_ID_BASE = 1_000_001  # clear of catalogue ids (1..10,000 for the stress profile)


class ScenarioRunner(FaultOrchestration, ResultAssembly):
    """One scenario over the real stack; :meth:`run` returns its scored report.

    The fault schedule is :class:`~harness.run.fault_schedule.FaultOrchestration`, the
    watching of the load :class:`~harness.run.monitor.LoadMonitor`, the state they
    share :class:`~harness.run.context.RunContext`; scoring gets a
    :class:`~harness.run.result.RunResult` (built by
    :class:`~harness.run.result_assembly.ResultAssembly`) and nothing else.
    """

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
        # --secure: credentials first (harness.run.secure_profile); the load generator is the
        # first collector identity (so it publishes on its own partition's subject), plant
        # collector i the (i+1)-th
        self.secure: SecureProfile | None = None
        if secure:
            self.work.mkdir(parents=True, exist_ok=True)
            plant_collectors = self.plant.collector_count() if self.plant is not None else 0
            self.secure = SecureProfile(self.work, collectors=1 + plant_collectors, mtls=mtls)
        self.source_id = self.secure.collector_name(0) if self.secure else SOURCE_ID
        auth = self.secure.api_auth() if self.secure else None  # --secure: bearer tokens
        self.api_load = ApiLoad.for_scenario(scenario, self.schedule, self.work, auth)
        self.stack = ScenarioStack(
            self.work,
            proxy_collector=bool({"partition-collector-bus", "corrupt-spool"} & kinds),
            proxy_historian="partition-bus-historian" in kinds,
            tier_hot_window_s=scenario.tier_hot_window_s,
            cluster_size=scenario.cluster,
            edge=scenario.edge,
            secure=self.secure,
            historian_args=self.api_load.server_args() if self.api_load else None,
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
        if self.secure is not None:  # each collector identity may write its own series only
            self.secure.bind_series(self.series.tolist(), self.plant)
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
                from harness.run.replay_scenario import run_replay as run_own
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
            if self.api_load is not None:  # its catalogue names the plant's tags too
                self.api_load.write_catalogue(self.series.tolist(), SYNTHETIC_ID_BASE, self.plant)
            if not self.s.is_short:  # a full run judges latency: no compiling inside it
                await warm_numba_cache(self.status.say)
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
            report = score_run(await self._run_with_stack())
        finally:
            if self.plant is not None:
                await asyncio.to_thread(self.plant.stop)
            await self.stack.close()
            if self.tmpfs is not None:
                self.tmpfs.unmount()
        return report, write_run(report, self.reports_root)

    async def _run_with_stack(self) -> RunResult:
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
        # The runner is the measuring instrument: a full collection of its start-up objects
        # (~100 k: harness, historian, numba, nats) would stop its loop for ~60 ms, late
        # publishes and late applied notices that the report would charge to the system
        # under test. Frozen, they are never scanned again (as the servers do at start).
        gc.freeze()
        stall_watch = StallWatch.from_env("runner")  # a diagnostic (TWINBENCH_STALL_TRACE)
        if stall_watch is not None:
            stall_watch.start()
        self.state.origin_wall_ns = time.time_ns() + 200_000_000
        self.source.start_at(self.state.origin_wall_ns)  # points stamped from the load's start
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
        api_task = (  # locust over the HTTP API in its window (harness.run.api_load)
            asyncio.create_task(
                self.api_load.run(self.state.origin_wall_ns, self._sleep_until_run_s)
            )
            if self.api_load is not None
            else None
        )

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
        if api_task is not None and self.api_load is not None:
            self.state.notes += await self.api_load.finish(api_task, self._break_event.is_set())
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
        return self._result(sampler)
