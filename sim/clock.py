"""The twin's clock: sim time advances in fixed ticks, paced at real time x speed or unpaced.

Sim time of tick k is ``start_ns + k * tick_ns``, always: pacing only decides
*when* (wall clock) a tick is computed, never what it contains, so a run is the
same at speed 1, 60 or as fast as possible.

>>> c = SimClock(start_ns=0, tick_s=1.0, speed=60.0)
>>> c.sim_ns(3), c.wall_offset_s(60)
(3000000000, 1.0)
>>> SimClock(0, 1.0, speed=None).wall_offset_s(1000)
0.0
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from historian.model import NS_PER_SECOND as NS


@dataclass
class SimClock:
    start_ns: int
    tick_s: float = 1.0
    speed: float | None = 1.0  # None or <= 0: as fast as possible
    wall_start: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tick_s <= 0:
            raise ValueError(f"tick_s={self.tick_s} must be > 0")
        self.tick_ns = round(self.tick_s * NS)

    @property
    def paced(self) -> bool:
        return self.speed is not None and self.speed > 0

    def sim_ns(self, tick: int) -> int:
        return self.start_ns + tick * self.tick_ns

    def wall_offset_s(self, tick: int) -> float:
        """Seconds after ``wall_start`` at which tick ``tick`` is due (0 when unpaced)."""
        if not self.paced:
            return 0.0
        assert self.speed is not None
        return tick * self.tick_s / self.speed

    def lag_s(self, tick: int) -> float:
        """How late tick ``tick`` is against its wall-clock due time (negative = early)."""
        return time.monotonic() - (self.wall_start + self.wall_offset_s(tick))

    async def wait_for(self, tick: int) -> None:
        """Sleep until tick ``tick`` is due; returns at once when unpaced or late."""
        delay = -self.lag_s(tick)
        await asyncio.sleep(delay if delay > 0 else 0)

    def reset(self, tick: int = 0) -> None:
        """Re-anchor pacing so that ``tick`` is due now (after a pause or a speed change)."""
        self.wall_start = time.monotonic() - self.wall_offset_s(tick)


def now_ns() -> int:
    return time.time_ns()
