"""Memtable: whole batches appended to growable columns; grouped by series only when needed.

Appending a 1,000-point batch is four slice copies, whatever the number of
series in it (no per-series Python work on the write path). Grouping happens
once at flush (one stable lexsort over (series, ts)) and, for reads of recent
data, by a vectorised scan of the series column.

Thread safety: one writer appends while readers read. A reader takes
(arrays, length) under the lock; the writer only writes past that length, and
growth allocates new arrays, so a reader's snapshot never changes under it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import numpy as np

from historian.model import (
    QUALITY_DTYPE,
    SERIES_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    PointBatch,
    QualityArray,
    SeriesArray,
    TimeArray,
    ValueArray,
)
from historian.sstable import Columns

from .merge import last_of_runs, merge_columns, sort_dedup

BYTES_PER_POINT = 4 + 8 + 8 + 2


class Memtable:
    def __init__(self, capacity_bytes: int, first_seq: int) -> None:
        self.capacity_points = max(1, capacity_bytes // BYTES_PER_POINT)
        self.first_seq = first_seq
        self.last_seq = first_seq - 1
        self._lock = threading.Lock()
        self._n = 0
        # np.empty touches no pages: RSS grows as the memtable fills, and it never copies
        cap = self.capacity_points + 4096
        self._series: SeriesArray = np.empty(cap, SERIES_DTYPE)
        self._ts: TimeArray = np.empty(cap, TIME_DTYPE)
        self._values: ValueArray = np.empty(cap, VALUE_DTYPE)
        self._quality: QualityArray = np.empty(cap, QUALITY_DTYPE)
        self.min_ts = 2**63 - 1
        self.max_ts = -(2**63)

    def _alloc(self, cap: int) -> None:
        series = np.empty(cap, SERIES_DTYPE)
        ts = np.empty(cap, TIME_DTYPE)
        values = np.empty(cap, VALUE_DTYPE)
        quality = np.empty(cap, QUALITY_DTYPE)
        n = self._n
        series[:n], ts[:n] = self._series[:n], self._ts[:n]
        values[:n], quality[:n] = self._values[:n], self._quality[:n]
        self._series, self._ts, self._values, self._quality = series, ts, values, quality

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._n * BYTES_PER_POINT

    @property
    def full(self) -> bool:
        return self._n >= self.capacity_points

    def add(self, seq: int, batch: PointBatch) -> None:
        """Append a whole batch (may overshoot capacity by one batch)."""
        k = len(batch)
        n = self._n
        if n + k > len(self._ts):
            with self._lock:
                self._alloc(max(n + k, min(2 * len(self._ts), max(self.capacity_points, n + k))))
        self._series[n : n + k] = batch.series
        self._ts[n : n + k] = batch.ts
        self._values[n : n + k] = batch.values
        self._quality[n : n + k] = batch.quality
        if k:
            self.min_ts = min(self.min_ts, int(batch.ts.min()))
            self.max_ts = max(self.max_ts, int(batch.ts.max()))
        with self._lock:
            self._n = n + k
            self.last_seq = seq

    def _snapshot(self) -> tuple[int, PointBatch]:
        with self._lock:
            n = self._n
            return n, PointBatch(
                self._series[:n], self._ts[:n], self._values[:n], self._quality[:n], False
            )

    def sorted_points(self) -> PointBatch:
        """All points sorted by (series, ts), last write kept per key."""
        return sort_dedup(self._snapshot()[1])

    def sorted_groups(self, group_points: int = 262_144) -> Iterator[PointBatch]:
        """The same points as :meth:`sorted_points`, in groups of whole series (ascending).

        One lexsort over the whole memtable, then gathers of ~``group_points``
        points at a time: a flush holds the sort order (8 B/point) plus one
        group, not a second full copy of the memtable.
        """
        _, b = self._snapshot()
        if len(b) == 0:
            return
        order = np.lexsort((b.ts, b.series))  # stable: equal keys stay in arrival order
        s_sorted = b.series[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(s_sorted)) + 1))
        del s_sorted
        group_of = starts // group_points
        cut_at = starts[np.concatenate(([True], np.diff(group_of) > 0))]
        bounds = [*cut_at.tolist(), len(order)]
        for lo, hi in itertools.pairwise(bounds):
            idx = order[lo:hi]
            s, t = b.series[idx], b.ts[idx]
            keep = last_of_runs(s, t)
            if keep.all():
                yield PointBatch(s, t, b.values[idx], b.quality[idx], True)
            else:
                idx = idx[keep]
                yield PointBatch(s[keep], t[keep], b.values[idx], b.quality[idx], True)

    def read(self, series: int, start_ns: int, end_ns: int) -> Columns:
        _, b = self._snapshot()
        idx = np.flatnonzero(b.series == series)
        if len(idx):
            ts = b.ts[idx]
            inside = (ts >= start_ns) & (ts < end_ns)
            idx = idx[inside]
        return merge_columns([(b.ts[idx], b.values[idx], b.quality[idx])])

    def last(self, series: int) -> tuple[int, float, int] | None:
        _, b = self._snapshot()
        idx = np.flatnonzero(b.series == series)
        if not len(idx):
            return None
        ts = b.ts[idx]
        # latest timestamp; among equal ones the last written
        top = ts.max()
        i = int(idx[np.flatnonzero(ts == top)[-1]])
        return int(b.ts[i]), float(b.values[i]), int(b.quality[i])
