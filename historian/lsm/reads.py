"""The read side: snapshots of segment files and memtables, point reads, read sources.

A snapshot freezes one moment (version and memtable lengths taken together under
``_state_lock``); queries on it never see later writes, and files that compaction
deletes meanwhile stay readable through their mmaps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from historian.model import Point
from historian.query.snapshot import IndexTable, Snapshot
from historian.query.source import SeriesSource
from historian.sstable import Columns

from .core import EngineCore


class Reads(EngineCore):
    """``snapshot`` / ``read`` / ``last`` and the read-source hooks of the cold tier."""

    def snapshot(self) -> Snapshot:
        """The read sources of this moment, oldest first, for any number of queries.

        Segment files in precedence order (L2, L1, L0 by file number), then
        frozen views of the immutable memtables and of the active one; writes
        made after this call are not seen. Last-write-wins holds for every
        query on it (a later source wins on equal (series, ts)). Files that
        compaction deletes meanwhile stay readable through their mmaps (see
        :mod:`historian.query.snapshot`). Bounds: start inclusive, end exclusive.
        """
        self._check_open()
        with self._state_lock:  # one moment: version and memtable lengths together
            version = self._version
            views = [m.view() for m in (*self._imm, self._active)]
        files, (lo, hi) = version.sources()
        # provider sources (the cold tier) are older than every segment: first in line
        cold = [s for provider in self._source_providers for s in provider()]
        spans = [v.time_range() or (2**63 - 1, -(2**63)) for v in views]
        cold_spans = [c.time_range() or (2**63 - 1, -(2**63)) for c in cold]
        cold_lo = np.array([a for a, _ in cold_spans], np.int64)
        cold_hi = np.array([b for _, b in cold_spans], np.int64)
        ranges = (
            np.concatenate([cold_lo, lo, np.array([a for a, _ in spans], np.int64)]),
            np.concatenate([cold_hi, hi, np.array([b for _, b in spans], np.int64)]),
        )
        first = len(cold)

        def index_table(series: int) -> IndexTable | None:  # cached per Version and series
            table = version.index_table(series)
            return None if table is None else dataclasses.replace(table, first=first)

        return Snapshot([*cold, *files, *views], ranges, index_table=index_table)

    def read(self, series: int, start_ns: int, end_ns: int) -> Columns:
        """Points of one series with ``start_ns <= ts < end_ns`` (end exclusive).

        Returns (ts int64, values float64, quality uint16), ascending by time,
        one point per timestamp (the last written). Raises
        :class:`~historian.sstable.SegmentCorruptError` if a file holding data
        in the range is damaged. (``snapshot().read`` gives the same as
        :class:`~historian.model.SeriesColumns`; ``snapshot().read_many`` pages.)
        """
        return self.snapshot().read(series, start_ns, end_ns).columns

    def last(self, series: int) -> Point | None:
        """The latest point of a series (by timestamp), or None if it has none."""
        return self.snapshot().last(series)

    def memtable_oldest_ns(self) -> tuple[int | None, int | None]:
        """(active, queued): the oldest timestamp in the active memtable and in the immutable
        ones queued for flush, None where empty; a moment's figures, waiting for no writer.

        The cold tier flushes before an export only when the active memtable holds points
        older than its cutoff: queued ones are being flushed already."""
        with self._state_lock:
            active, queued = self._active, list(self._imm)
        return (
            active.min_ts if len(active) else None,
            min((m.min_ts for m in queued if len(m)), default=None),
        )

    def add_source_provider(self, provider: Callable[[], Sequence[SeriesSource]]) -> None:
        """Let ``provider`` add read sources OLDER than every segment to each snapshot.

        The cold tier registers here (historian/tier), so the engine never imports it:
        its sources come first in :meth:`snapshot`, and any hot point wins over them.
        """
        self._source_providers.append(provider)
