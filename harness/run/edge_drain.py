"""The drain after an edge uplink heals: the hub sourcing the leaf's backlog into the historian.

During a leaf<->hub cut the collectors' batches are *acknowledged* (by the leaf),
so the collector-side drain (acks of spooled batches) sees nothing. The backlog
of an uplink cut is what the historian has not applied yet: every batch sent
before the heal without an applied notice. The drain resumes at the first of
those notices after the heal and is done at the last one; the rate is the
backlog's points over that span, the resume delay (heal -> first notice: the
leaf reconnecting, the hub re-creating its sourcing consumer) is reported apart,
as for the other partitions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

__all__ = ["UplinkDrain", "measure_uplink_drain"]


class SentBatch(Protocol):
    intended_wall_ns: int
    points: int
    applied_ns: int


@dataclass(frozen=True)
class UplinkDrain:
    backlog_points: int
    resume_s: float
    """Heal -> the first backlog batch applied."""
    drain_s: float
    """First -> last backlog batch applied."""

    @property
    def rate_pts_s(self) -> float:
        return self.backlog_points / max(self.drain_s, 0.01)


async def measure_uplink_drain(
    batches: Callable[[], Collection[SentBatch]],
    *,
    healed_at_ns: int | None = None,
    timeout_s: float = 300.0,
) -> UplinkDrain | None:
    """Call right after the heal; waits until the backlog is applied (None: no backlog, or
    it was not applied within ``timeout_s``). ``batches`` returns the run's batch records
    (``applied_ns`` is set, in wall-clock ns, by the applied-notice callback);
    ``healed_at_ns`` is when the heal began (default: now)."""
    t_heal_mono, t_heal_wall = time.monotonic(), healed_at_ns or time.time_ns()
    backlog = [b for b in batches() if not b.applied_ns and b.intended_wall_ns <= t_heal_wall]
    points = sum(b.points for b in backlog)
    if not points:
        return None
    deadline = t_heal_mono + timeout_s
    while any(not b.applied_ns for b in backlog):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)
    first = min(b.applied_ns for b in backlog)
    last = max(b.applied_ns for b in backlog)
    return UplinkDrain(points, max(first - t_heal_wall, 0) / 1e9, (last - first) / 1e9)
