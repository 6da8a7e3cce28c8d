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
from numpy.typing import NDArray

from historian.model import (
    QUALITY_DTYPE,
    SERIES_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    Point,
    PointBatch,
    QualityArray,
    SeriesArray,
    TimeArray,
    ValueArray,
)
from historian.query.lww import last_of_runs, merge_columns
from historian.sstable import CHUNK_SUMMARY_DTYPE, Columns

from .merge import sort_dedup

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

    def view(self) -> MemtableView:
        """The points written so far, frozen: later appends are not seen (snapshot reads)."""
        n, b = self._snapshot()
        return MemtableView(b, self.min_ts if n else None, self.max_ts if n else None)

    def read(self, series: int, start_ns: int, end_ns: int) -> Columns:
        return self.view().read(series, start_ns, end_ns)

    def last(self, series: int) -> tuple[int, float, int] | None:
        p = self.view().at_or_before(series, 2**63 - 1)
        return None if p is None else (p.ts, p.value, p.quality)


class MemtableView:
    """A memtable's first ``n`` points, immutable: a ``SeriesSource`` (historian.query.source).

    Rows are in arrival order, unsorted, possibly with repeated timestamps; every
    answer applies last-write-wins inside the view (the later row wins). Per
    series, the matching rows are found by one vectorised scan and cached.
    """

    def __init__(self, batch: PointBatch, min_ts: int | None, max_ts: int | None) -> None:
        self._b = batch
        self._range = None if min_ts is None or max_ts is None else (min_ts, max_ts)
        self._rows: dict[int, NDArray[np.intp]] = {}

    def __len__(self) -> int:
        return len(self._b)

    def rows_of(self, series: int) -> NDArray[np.intp]:
        rows = self._rows.get(series)
        if rows is None:
            rows = np.flatnonzero(self._b.series == series)
            self._rows[series] = rows
        return rows

    def time_range(self) -> tuple[int, int] | None:
        return self._range

    def series_time_range(self, series: int) -> tuple[int, int] | None:
        idx = self.rows_of(series)
        if not len(idx):
            return None
        ts = self._b.ts[idx]
        return int(ts.min()), int(ts.max())

    def read(self, series: int, start_ns: int, end_ns: int, limit: int | None = None) -> Columns:
        b = self._b
        idx = self.rows_of(series)
        if len(idx):
            ts = b.ts[idx]
            idx = idx[(ts >= start_ns) & (ts < end_ns)]
        ts, v, q = merge_columns([(b.ts[idx], b.values[idx], b.quality[idx])])
        if limit is not None and len(ts) > limit:
            ts, v, q = ts[:limit], v[:limit], q[:limit]
        return ts, v, q

    def at_or_before(self, series: int, t: int) -> Point | None:
        return self._nearest(series, t, before=True)

    def at_or_after(self, series: int, t: int) -> Point | None:
        return self._nearest(series, t, before=False)

    def _nearest(self, series: int, t: int, before: bool) -> Point | None:
        b = self._b
        idx = self.rows_of(series)
        ts = b.ts[idx]
        side = ts <= t if before else ts >= t
        if not side.any():
            return None
        best = ts[side].max() if before else ts[side].min()
        i = int(idx[np.flatnonzero(ts == best)[-1]])  # among equal timestamps the last written
        return Point(int(b.ts[i]), float(b.values[i]), int(b.quality[i]))

    def chunk_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        """One row without stats covering the series' points in the range (none if empty)."""
        idx = self.rows_of(series)
        ts = self._b.ts[idx]
        ts = ts[(ts >= start_ns) & (ts < end_ns)]
        out = np.zeros(1 if len(ts) else 0, CHUNK_SUMMARY_DTYPE)
        if len(ts):
            out["min_ts"], out["max_ts"], out["count"] = ts.min(), ts.max(), len(ts)
        return out
