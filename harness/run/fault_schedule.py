"""The fault schedule of a scenario run: inject each fault at its time, hold it,
undo it, and measure what it cost (recovery, resume delay, drain rate).

Each :class:`~harness.scenario.FaultEvent` runs as its own task
(:meth:`FaultOrchestration._fault`), started by the runner with the load. What
it observes goes to the run's records: the fault log, recoveries, drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from nats.aio.client import Client as NATS

from harness.faults import pause, resume
from harness.faults.cluster import FailoverRecord
from harness.faults.spool import flip_bytes_in_spool
from harness.metrics import ProcessSampler
from harness.run.context import RunContext
from harness.run.edge_drain import measure_uplink_drain
from harness.scenario import FaultEvent
from historian.collect.spool import DiskSpool


class FaultOrchestration(RunContext):
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
            # off the loop: kill() waits for the process to be reaped (58 ms seen), and the
            # loop publishes the measured load meanwhile
            await asyncio.to_thread(ingest.kill)
            await self._sleep_until_run_s(f.end_s)
            try:
                took = await asyncio.to_thread(ingest.start)
            finally:
                self._killing_historian = False
            sampler.set_pid("historian", ingest.pid)
            self.state.recoveries.append((f.kind, took))
        elif f.kind == "kill-nats":
            await asyncio.to_thread(self.stack.nats.kill)  # off the loop, as above
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
                await asyncio.to_thread(self.plant.kill_collector, 0)
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
