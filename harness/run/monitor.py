"""What the runner watches while the load runs: consumer lag and spool depth for the
charts, the stress ramp (stopped after the first step that broke a threshold),
and, at the end, that every acknowledged batch was applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from nats.aio.client import Client as NATS

from harness.metrics import StepMeasurement, highest_sustained_rate
from harness.run.context import RunContext
from harness.run.ramp import RAMP_GRACE_S, measure_ramp_steps, p99_limit_ms
from harness.run.state import SETTLE_S
from historian.bus.cluster import ELECTION_ERRORS
from historian.collect.spool import DiskSpool
from historian.model import NS_PER_SECOND as NS


class LoadMonitor(RunContext):
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
        return p99_limit_ms(self.s.thresholds)

    def _ramp_steps(self, *, final: bool = False) -> list[StepMeasurement]:
        return measure_ramp_steps(
            self.schedule,
            self.state,
            now_ns=time.time_ns(),
            stopped_at=self._ramp_stopped_at,
            final=final,
        )

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
