"""Per-interval aggregates of one series from the segment index statistics.

Over a long range most chunks lie wholly inside one interval, and their stats
rows (historian/docs/format/segment.md) stand for their points; only the
chunks that straddle an interval edge, chunks without stats and the points
newer sources hold are decoded (:meth:`Snapshot.index_parts`). Answers equal
the same computation over every decoded point (``use_index=False``; tests and
``benchmarks/bench_query.py`` compare the two).

Per interval ``[edges[j], edges[j+1])``:

- event-weighted over the points inside it: ``count`` (all), ``n`` (usable:
  not Bad, finite), ``min``, ``max``, ``mean`` (usable), ``first_*`` /
  ``last_*`` (any quality);
- ``tw_avg``: stepped time-weighted average: each usable value holds from its
  timestamp to the next point's (the point in force at the interval start
  included, the last point held to the end of the range); time after a Bad
  point does not count. NaN where no usable value is in force.

>>> import tempfile, numpy as np
>>> from historian import Historian
>>> db = Historian.open(tempfile.mkdtemp())
>>> _ = db.write_arrays([1] * 4, [0, 10, 20, 30], [1.0, 3.0, 5.0, 7.0])
>>> s = interval_summary(db.snapshot(), 1, np.array([5, 25, 45]))
>>> s.count.tolist(), s.mean.tolist(), s.tw_avg.tolist()
([2, 1], [4.0, 7.0], [3.0, 6.5])
>>> db.close()
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import SeriesColumns, severity_of
from historian.query.snapshot import Snapshot
from historian.sstable import CHUNK_SUMMARY_DTYPE
from historian.sstable.stats import compute_chunk_stats

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class IntervalSummary:
    """One entry per interval (``len(edges) - 1``); NaN / count 0 where it holds no data."""

    edges: I64
    count: I64
    n: I64
    min: F64
    max: F64
    mean: F64
    first_ts: I64
    first_value: F64
    last_ts: I64
    last_value: F64
    tw_avg: F64
    chunks_from_index: int
    """How many chunks were answered from their stats row (0 with ``use_index=False``)."""


def interval_summary(
    snap: Snapshot, series: int, edges: NDArray[np.int64], use_index: bool = True
) -> IntervalSummary:
    """Aggregates of ``series`` per interval between consecutive ``edges`` (ascending).

    Everything becomes stats rows lying inside one interval: usable index rows
    as they are, and decoded points (the rest, and chunks straddling an edge,
    decoded one at a time) cut at the edges into pieces whose stats are
    computed like a chunk's. So memory holds rows, the rest, and one chunk.
    """
    edges = np.asarray(edges, np.int64)
    if len(edges) < 2 or bool(np.any(np.diff(edges) <= 0)):
        raise ValueError("edges must be at least two strictly ascending timestamps")
    start, end = int(edges[0]), int(edges[-1])
    pieces: list[NDArray[np.void]] = []
    from_index = 0
    if use_index:
        parts = snap.index_parts(series, start, end)
        rows = parts.stats
        j0 = np.searchsorted(edges, rows["min_ts"], "right") - 1
        j1 = np.searchsorted(edges, rows["max_ts"], "right") - 1
        cut = j0 != j1
        pieces.append(rows[~cut])
        from_index = int((~cut).sum())
        # a chunk straddling an edge: decode it alone (from its own source: no other source
        # holds points in its span) and cut it at the edges
        for r, o in zip(rows[cut], parts.owner[cut].tolist(), strict=True):
            lo, hi = int(r["min_ts"]), int(r["max_ts"]) + 1
            ts, v, q = snap.sources[o].read(series, lo, hi)
            pieces.append(_cut(SeriesColumns(series, ts, v, q), edges))
        # cut the rest at the stats rows too, so no piece spans a row (pieces never overlap)
        pieces.append(_cut(parts.rest, np.union1d(edges, rows["min_ts"])))
    else:
        pieces.append(_cut(snap.read(series, start, end), edges))
    # joined as bytes: np.concatenate checks every field of every piece (~25 us each)
    rows = np.frombuffer(b"".join(p.tobytes() for p in pieces), CHUNK_SUMMARY_DTYPE)
    rows = rows[np.argsort(rows["min_ts"], kind="stable")]
    k = len(edges) - 1
    j = np.searchsorted(edges, rows["min_ts"], "right") - 1
    count = np.bincount(j, rows["count"].astype(np.int64), minlength=k).astype(np.int64)
    n = np.bincount(j, rows["n"].astype(np.int64), minlength=k).astype(np.int64)
    total = np.bincount(j, rows["sum"], minlength=k)
    vmin = np.full(k, np.inf)
    vmax = np.full(k, -np.inf)
    has = rows["n"] > 0
    np.minimum.at(vmin, j[has], rows["min"][has])
    np.maximum.at(vmax, j[has], rows["max"][has])
    some = n > 0
    # rows are in time order and never overlap: an interval's first row holds its first point
    first_ts = np.zeros(k, np.int64)
    last_ts = np.zeros(k, np.int64)
    first_v = np.full(k, np.nan)
    last_v = np.full(k, np.nan)
    if len(j):
        head = np.ones(len(j), bool)
        head[1:] = j[1:] != j[:-1]
        tail = np.ones(len(j), bool)
        tail[:-1] = head[1:]
        first_ts[j[head]], first_v[j[head]] = rows["min_ts"][head], rows["first_value"][head]
        last_ts[j[tail]], last_v[j[tail]] = rows["max_ts"][tail], rows["last_value"][tail]
    mean: F64 = np.full(k, np.nan)
    np.divide(total, n, out=mean, where=some)
    return IntervalSummary(
        edges,
        count,
        n,
        np.where(some, vmin, np.nan),
        np.where(some, vmax, np.nan),
        mean,
        first_ts,
        first_v,
        last_ts,
        last_v,
        _stepped_average(snap, series, edges, rows),
        from_index,
    )


def _cut(cols: SeriesColumns, edges: I64) -> NDArray[np.void]:
    """Stats rows for ``cols`` cut at ``edges``: one row per interval it has points in."""
    n = len(cols)
    if not n:
        return np.empty(0, CHUNK_SUMMARY_DTYPE)
    # only the few edges inside the columns' span cut them
    a = int(np.searchsorted(edges, cols.ts[0], "right"))
    b = int(np.searchsorted(edges, cols.ts[-1], "right"))
    cuts = np.searchsorted(cols.ts, edges[a:b], "left")
    bounds = np.concatenate(([0], cuts, [n])).astype(np.int64)
    bounds = bounds[np.concatenate(([True], np.diff(bounds) > 0))]  # drop empty runs
    return compute_chunk_stats(cols.ts, cols.values, cols.quality, bounds[:-1], bounds[1:])


def _stepped_average(snap: Snapshot, series: int, edges: I64, rows: NDArray[np.void]) -> F64:
    """Time-weighted stepped average per interval from a cumulative integral F(t).

    The timeline is the rows in time order (plus the point in force at the
    start); between one row's last point and the next row's first point the
    last value holds (a "gap"). F and the usable duration G grow linearly in
    the gaps and by a row's (tw_step, dur_step) across the row, which never
    holds an edge strictly inside it.
    """
    end = int(edges[-1])
    prior = snap.at_or_before(series, int(edges[0]) - 1)
    if prior is not None:
        one = compute_chunk_stats(
            np.array([prior.ts], np.int64),
            np.array([prior.value]),
            np.array([prior.quality], np.uint16),
            np.array([0]),
            np.array([1]),
        )
        rows = np.concatenate([one, rows])
    k = len(edges) - 1
    if not len(rows):
        return np.full(k, np.nan)
    e_start, e_end = rows["min_ts"], rows["max_ts"]
    e_ok = (severity_of(rows["last_quality"]) < 2) & np.isfinite(rows["last_value"])
    rate = np.where(e_ok, rows["last_value"], 0.0)
    weight = e_ok.astype(np.float64)
    e_int = rows["tw_step"]
    e_dur = rows["dur_step"].astype(np.float64)
    # gap after row i: [e_end[i], next start) (the last one runs to the range end)
    g_end = np.append(e_start[1:], max(end, int(e_end[-1])))
    g_len = (g_end - e_end).astype(np.float64)
    f_at = np.concatenate([[0.0], np.cumsum(e_int + rate * g_len)])
    g_at = np.concatenate([[0.0], np.cumsum(e_dur + weight * g_len)])
    i = np.searchsorted(e_start, edges, "right") - 1
    before = i < 0
    i = np.maximum(i, 0)
    past_row = edges >= e_end[i]  # an edge is at a row's start or at/after its end
    into_gap = np.clip(edges - e_end[i], 0, None).astype(np.float64)
    f = np.where(before, 0.0, f_at[i] + np.where(past_row, e_int[i], 0.0) + rate[i] * into_gap)
    g = np.where(before, 0.0, g_at[i] + np.where(past_row, e_dur[i], 0.0) + weight[i] * into_gap)
    di, dd = np.diff(f), np.diff(g)
    out: F64 = np.full(k, np.nan)
    np.divide(di, dd, out=out, where=dd > 0)
    return out
