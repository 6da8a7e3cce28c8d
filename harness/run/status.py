"""A one-line live status for long runs: phase, elapsed/remaining, rates, p99, spool, lag.

Printed with rich when the output is a terminal, as plain timestamped lines
otherwise (CI logs), at most every ``every_s`` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from harness.load.schedule import Schedule
from harness.metrics import LatencyHistogram, TimeSeries
from harness.scenario import Scenario
from historian.model import NS_PER_SECOND as NS


class RunStatus:
    def __init__(
        self,
        scenario: Scenario,
        schedule: Schedule,
        sink: Callable[[str], None] | None = None,
        every_s: float = 5.0,
    ) -> None:
        self.scenario = scenario
        self.schedule = schedule
        self._sink = sink or (lambda line: print(line, file=sys.stderr, flush=True))
        self.every_s = every_s
        self._last = 0.0
        self._applied = 0
        self._applied_at_last = 0

    def say(self, message: str) -> None:
        self._sink(f"[{time.strftime('%H:%M:%S')}] {self.scenario.name}: {message}")

    def applied(self, points: int) -> None:
        self._applied += points

    def _phase_at(self, t_s: float) -> str:
        for k, (a, b) in enumerate(self.schedule.phase_bounds_ns):
            if a / NS <= t_s < b / NS:
                return self.schedule.phase_names[k]
        return "drain" if t_s >= self.schedule.duration_s else "start"

    def tick(self, t_s: float, hist: LatencyHistogram, spool: int, lag: TimeSeries) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        elapsed = now - self._last if self._last else self.every_s
        rate = (self._applied - self._applied_at_last) / elapsed
        self._last, self._applied_at_last = now, self._applied
        remaining = max(0.0, self.schedule.duration_s - t_s)
        p99 = hist.percentile_ms(99.0) if hist.count else 0.0
        lag_now = lag.values[-1] if lag.values else 0.0
        self.say(
            f"{self._phase_at(t_s):<10} {t_s:6.0f} s elapsed, {remaining:5.0f} s left | "
            f"queryable {rate:>11,.0f} pts/s | p99 {p99:7.1f} ms | "
            f"lag {lag_now:,.0f} msgs | spool {spool} batches"
        )
