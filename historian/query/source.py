"""The read seam: what every store of points answers, whatever it is made of.

A :class:`SeriesSource` is one immutable set of points at one moment: a
segment file (:class:`historian.sstable.SegmentReader`), a frozen memtable
(:class:`historian.lsm.memtable.MemtableView`) and, later, a Parquet file of
the cold tier. They satisfy it structurally (nothing here is imported by
them, so ``historian/sstable`` stays free of ``historian/lsm`` and of this
package). A :class:`~historian.query.snapshot.Snapshot` orders sources oldest
first and merges their answers with last-write-wins.

Contract, for every method:

- **bounds**: ``start_ns`` inclusive, ``end_ns`` exclusive (docs/query/README.md);
- within one source, one point per (series, ts): the source resolves its own
  duplicates (a memtable keeps the later write);
- columns are ascending by ts; a source never returns points outside the range;
- ``chunk_stats`` describes the source's own data only, one
  ``CHUNK_SUMMARY_DTYPE`` row per chunk that meets the range (chunk ``min_ts``
  <= end - 1 and ``max_ts`` >= start), in time order, chunks not overlapping;
  rows with ``has_stats`` False tell only the span and count, and the caller
  reads those points (historian/docs/format/segment.md, "Stats block").

>>> import numpy as np
>>> from historian.lsm.memtable import Memtable
>>> from historian.model import PointBatch
>>> m = Memtable(1 << 20, 1)
>>> m.add(1, PointBatch.from_arrays([5, 5, 5], [30, 10, 30], [3.0, 1.0, 3.5]))
>>> src: SeriesSource = m.view()
>>> src.read(5, 0, 100)[1].tolist()          # later write wins on ts 30
[1.0, 3.5]
>>> src.at_or_before(5, 29), src.at_or_after(5, 31)
(Point(ts=10, value=1.0, quality=0), None)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from historian.model import Point
from historian.sstable import CHUNK_SUMMARY_DTYPE, Columns

__all__ = ["CHUNK_SUMMARY_DTYPE", "Columns", "SeriesSource"]


@runtime_checkable
class SeriesSource(Protocol):
    """One immutable set of points; see the module docstring for the contract."""

    def time_range(self) -> tuple[int, int] | None:
        """(first, last) timestamp over all series, both inclusive; None when empty."""
        ...

    def series_time_range(self, series: int) -> tuple[int, int] | None:
        """(first, last) timestamp of one series here; None when it has no points."""
        ...

    def read(self, series: int, start_ns: int, end_ns: int, limit: int | None = None) -> Columns:
        """(ts, values, quality) with start_ns <= ts < end_ns, ascending; the first ``limit``."""
        ...

    def at_or_before(self, series: int, t: int) -> Point | None:
        """The point with the greatest ts <= t."""
        ...

    def at_or_after(self, series: int, t: int) -> Point | None:
        """The point with the smallest ts >= t."""
        ...

    def chunk_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        """CHUNK_SUMMARY_DTYPE rows of the chunks meeting [start_ns, end_ns), in time order."""
        ...
