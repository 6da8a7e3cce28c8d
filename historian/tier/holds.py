"""How long an export round holds the store's compaction lock, and waits for it.

The export takes the compaction lock (``Historian.compaction_paused``) to act on
segment files no compaction merges away meanwhile; every moment it holds the lock,
flushed L0 files pile up unmerged behind it. :func:`timed_pause` times each hold
(and the wait for a running compaction before it) into the round's
:class:`LockTimes`, which the round's report and log line carry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from historian.lsm.engine import Historian
from historian.lsm.version import Version

__all__ = ["LockTimes", "timed_pause"]


@dataclass
class LockTimes:
    """The compaction-lock holds of one round (seconds)."""

    holds: int = 0
    held_s: float = 0.0
    """Total time held."""
    held_max_s: float = 0.0
    """The longest single hold: how long compaction stood still at once."""
    wait_s: float = 0.0
    """Total time waiting for the lock (a compaction running)."""


@contextlib.contextmanager
def timed_pause(db: Historian, times: LockTimes) -> Iterator[Version]:
    """``db.compaction_paused()``, its wait and hold added to ``times``."""
    asked = time.perf_counter()
    with db.compaction_paused() as version:
        got = time.perf_counter()
        times.wait_s += got - asked
        try:
            yield version
        finally:
            held = time.perf_counter() - got
            times.holds += 1
            times.held_s += held
            times.held_max_s = max(times.held_max_s, held)
