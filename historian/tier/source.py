"""One cold part as a :class:`~historian.query.source.SeriesSource`: ranged reads, cached footers.

A query touches a part's object only where it must: the footer once (then
cached), the row groups whose ``series`` statistics (and, for single-series
row groups, ``ts`` statistics) meet the request, and nothing else; decoded
row groups and rollups stay in a byte-bounded LRU shared by every part.

``chunk_stats`` answers from the part's rollups, the same CHUNK_SUMMARY_DTYPE
rows a segment index holds, so the index path (``Snapshot.index_parts``)
treats hot chunks and cold buckets alike. The level is picked from the
request's span (finest that keeps the rows few): up to 2 days -> 1 min, up to
400 days -> 1 h, longer -> 1 day; a coarser level than the query's intervals
is still correct (those rows are decoded instead). A level removed by
retention falls back to another; with none left, one row without stats per
part tells the caller to decode.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from historian.model import Point
from historian.sstable import CHUNK_SUMMARY_DTYPE, Columns

from .coldcat import ColdPart
from .objstore import ObjectStore, RangeFile
from .parts import decode_rollups

__all__ = ["ColdPartSource", "PartCache"]

NS_PER_DAY = 86_400 * 10**9
_EMPTY: Columns = (np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.uint16))


class PartCache:
    """A thread-safe LRU of decoded things, bounded by their bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], tuple[int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...], make: Callable[[], tuple[int, Any]]) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item[1]
            self.misses += 1
        nbytes, value = make()  # outside the lock: a fetch may take a while
        with self._lock:
            if key not in self._items:
                self._items[key] = (nbytes, value)
                self._bytes += nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (n, _) = self._items.popitem(last=False)
                self._bytes -= n
        return value


class ColdPartSource:
    """A read source over one catalogued part (module docstring)."""

    def __init__(self, store: ObjectStore, part: ColdPart, cache: PartCache) -> None:
        self.part = part
        self._store = store
        self._cache = cache
        self._raw = part.objects.get("raw")

    # ---------------------------------------------------------------- fetch
    def _meta(self) -> tuple[pq.FileMetaData, NDArray[np.int64]]:
        """The footer and per row group (series min, series max, ts min, ts max)."""
        info = self._raw
        assert info is not None

        def fetch() -> tuple[int, Any]:
            meta = pq.ParquetFile(RangeFile(self._store, info.key, info.size)).metadata
            stats = np.zeros((meta.num_row_groups, 4), np.int64)
            for i in range(meta.num_row_groups):
                rg = meta.row_group(i)
                s, t = rg.column(0).statistics, rg.column(1).statistics
                stats[i] = (s.min, s.max, t.min, t.max)
            return meta.serialized_size + stats.nbytes, (meta, stats)

        result: tuple[pq.FileMetaData, NDArray[np.int64]] = self._cache.get(
            ("meta", info.key), fetch
        )
        return result

    def _row_group(self, i: int) -> tuple[NDArray[Any], ...]:
        info = self._raw
        assert info is not None

        def fetch() -> tuple[int, Any]:
            meta, _ = self._meta()
            f = pq.ParquetFile(
                RangeFile(self._store, info.key, info.size), metadata=meta, pre_buffer=True
            )
            t = f.read_row_group(i)
            cols = tuple(t.column(n).to_numpy() for n in ("series", "ts", "value", "quality"))
            return sum(c.nbytes for c in cols), cols

        result: tuple[NDArray[Any], ...] = self._cache.get(("rg", info.key, i), fetch)
        return result

    def _series_columns(self, series: int, start_ns: int, end_ns: int) -> Columns:
        if self._raw is None or not self.part.series_min <= series <= self.part.series_max:
            return _EMPTY
        if end_ns <= self.part.min_ts or start_ns > self.part.max_ts:
            return _EMPTY
        _, st = self._meta()
        hit = (st[:, 0] <= series) & (st[:, 1] >= series)
        single = (st[:, 0] == st[:, 1]) & hit
        hit &= ~single | ((st[:, 3] >= start_ns) & (st[:, 2] < end_ns))
        parts = []
        for i in np.flatnonzero(hit).tolist():
            s, ts, v, q = self._row_group(i)
            a, b = np.searchsorted(s, series, "left"), np.searchsorted(s, series, "right")
            lo = a + np.searchsorted(ts[a:b], start_ns, "left")
            hi = a + np.searchsorted(ts[a:b], end_ns, "left")
            if hi > lo:
                parts.append((ts[lo:hi], v[lo:hi], q[lo:hi]))
        if not parts:
            return _EMPTY
        if len(parts) == 1:
            return parts[0]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _rollups(self, level: str) -> NDArray[np.void]:
        info = self.part.objects[level]

        def fetch() -> tuple[int, Any]:
            rows = decode_rollups(self._store.get(info.key))
            return rows.nbytes, rows

        result: NDArray[np.void] = self._cache.get(("rollup", info.key), fetch)
        return result

    # ------------------------------------------------ the SeriesSource seam
    def time_range(self) -> tuple[int, int] | None:
        return (self.part.min_ts, self.part.max_ts) if self.part.rows else None

    def series_time_range(self, series: int) -> tuple[int, int] | None:
        ts = self._series_columns(series, -(2**63), 2**63 - 1)[0]
        return (int(ts[0]), int(ts[-1])) if len(ts) else None

    def read(self, series: int, start_ns: int, end_ns: int, limit: int | None = None) -> Columns:
        ts, v, q = self._series_columns(series, start_ns, end_ns)
        if limit is not None and len(ts) > limit:
            return ts[:limit], v[:limit], q[:limit]
        return ts, v, q

    def at_or_before(self, series: int, t: int) -> Point | None:
        ts, v, q = self._series_columns(series, -(2**63), t + 1 if t < 2**63 - 1 else t)
        if not len(ts) or ts[-1] > t:
            return None
        return Point(int(ts[-1]), float(v[-1]), int(q[-1]))

    def at_or_after(self, series: int, t: int) -> Point | None:
        ts, v, q = self._series_columns(series, t, 2**63 - 1)
        if not len(ts):
            return None
        return Point(int(ts[0]), float(v[0]), int(q[0]))

    def chunk_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        span = end_ns - start_ns
        wanted = "1m" if span <= 2 * NS_PER_DAY else "1h" if span <= 400 * NS_PER_DAY else "1d"
        order = {"1m": ("1m", "1h", "1d"), "1h": ("1h", "1m", "1d"), "1d": ("1d", "1h", "1m")}
        level = next((lv for lv in order[wanted] if lv in self.part.objects), None)
        if level is None:
            return self._no_stats(series, start_ns, end_ns)
        rows = self._rollups(level)
        a = int(np.searchsorted(rows["series"], series, "left"))
        b = int(np.searchsorted(rows["series"], series, "right"))
        sel = rows[a:b]
        lo = int(np.searchsorted(sel["max_ts"], start_ns, "left"))
        hi = int(np.searchsorted(sel["min_ts"], end_ns, "left"))
        out = np.zeros(max(0, hi - lo), CHUNK_SUMMARY_DTYPE)
        for name in CHUNK_SUMMARY_DTYPE.names or ():
            out[name] = sel[name][lo:hi]
        return out

    def _no_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        ts = self._series_columns(series, start_ns, end_ns)[0]
        out = np.zeros(1 if len(ts) else 0, CHUNK_SUMMARY_DTYPE)
        if len(ts):
            out["min_ts"], out["max_ts"], out["count"] = ts[0], ts[-1], len(ts)
        return out
