"""How long an export round holds the store's compaction lock, and waits for it.

Every moment the export holds the compaction lock, flushed L0 files pile up
unmerged behind it (a round once held it 40 s under load). So a round takes it
only to pick and mark its files (:func:`timed_hold`: ``Historian.files_held``,
after which compaction skips the marked buckets and runs on) and for the
manifest edit that drops them (:func:`timed_pause`), never while the files are
read, encoded and uploaded. Both time each hold (and the wait for a running
compaction before it) into the round's :class:`LockTimes`, which the round's
report and log line carry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from historian.lsm.engine import Historian
from historian.lsm.manifest import FileMeta
from historian.lsm.version import Version

__all__ = ["LockTimes", "timed_hold", "timed_pause", "timed_try_pause"]


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

    def add_hold(self, held_s: float) -> None:
        """Count one hold of ``held_s`` seconds."""
        self.holds += 1
        self.held_s += held_s
        self.held_max_s = max(self.held_max_s, held_s)


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
            times.add_hold(time.perf_counter() - got)


@contextlib.contextmanager
def timed_try_pause(db: Historian, times: LockTimes) -> Iterator[Version | None]:
    """``db.compaction_paused_nowait()``: None at once when a compaction runs; a hold is timed."""
    with db.compaction_paused_nowait() as version:
        if version is None:
            yield None
            return
        got = time.perf_counter()
        try:
            yield version
        finally:
            times.add_hold(time.perf_counter() - got)


@contextlib.contextmanager
def timed_hold(
    db: Historian, pick: Callable[[Version], Sequence[FileMeta]], times: LockTimes
) -> Iterator[tuple[Version, tuple[FileMeta, ...]]]:
    """``db.files_held(pick)``, the lock's wait (until ``pick`` runs) and hold in ``times``."""
    asked = time.perf_counter()
    got = asked

    def timed_pick(version: Version) -> Sequence[FileMeta]:
        nonlocal got
        got = time.perf_counter()  # pick runs as soon as the lock is taken
        return pick(version)

    with db.files_held(timed_pick) as held:
        times.wait_s += got - asked
        times.add_hold(time.perf_counter() - got)
        yield held
