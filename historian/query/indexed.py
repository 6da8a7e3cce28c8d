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
    """Aggregates of ``series`` per interval between consecutive ``edges`` (ascending)."""
    edges = np.asarray(edges, np.int64)
    if len(edges) < 2 or bool(np.any(np.diff(edges) <= 0)):
        raise ValueError("edges must be at least two strictly ascending timestamps")
    start, end = int(edges[0]), int(edges[-1])
    if use_index:
        parts = snap.index_parts(series, start, end)
        rows, rest = parts.stats, parts.rest
        # a row must lie inside one interval; decode those straddling an edge
        j0 = np.searchsorted(edges, rows["min_ts"], "right") - 1
        j1 = np.searchsorted(edges, rows["max_ts"], "right") - 1
        cut = j0 != j1
        if cut.any():
            extra = [snap.read(series, int(r["min_ts"]), int(r["max_ts"]) + 1) for r in rows[cut]]
            rest = _concat_sorted([rest, *extra], series)
            rows, j0 = rows[~cut], j0[~cut]
    else:
        rows = np.empty(0, CHUNK_SUMMARY_DTYPE)
        j0 = np.empty(0, np.int64)
        rest = snap.read(series, start, end)
    k = len(edges) - 1
    jp = np.searchsorted(edges, rest.ts, "right") - 1
    usable = (severity_of(rest.quality) < 2) & np.isfinite(rest.values)

    count = np.bincount(jp, minlength=k) + _sum_by(j0, rows["count"].astype(np.int64), k)
    n = np.bincount(jp[usable], minlength=k) + _sum_by(j0, rows["n"].astype(np.int64), k)
    total: F64 = np.bincount(jp[usable], rest.values[usable], minlength=k).astype(np.float64)
    if len(rows):
        total = total + np.bincount(j0, rows["sum"], minlength=k)
    vmin = np.full(k, np.inf)
    vmax = np.full(k, -np.inf)
    np.minimum.at(vmin, jp[usable], rest.values[usable])
    np.maximum.at(vmax, jp[usable], rest.values[usable])
    has = rows["n"] > 0
    np.minimum.at(vmin, j0[has], rows["min"][has])
    np.maximum.at(vmax, j0[has], rows["max"][has])
    some = n > 0
    # first / last per interval over rows and points together (any quality)
    ts_all = np.concatenate([rest.ts, rows["min_ts"], rows["max_ts"]])
    v_all = np.concatenate([rest.values, rows["first_value"], rows["last_value"]])
    j_all = np.concatenate([jp, j0, j0])
    order = np.lexsort((ts_all, j_all))
    ts_all, v_all, j_all = ts_all[order], v_all[order], j_all[order]
    first_ts = np.zeros(k, np.int64)
    last_ts = np.zeros(k, np.int64)
    first_v = np.full(k, np.nan)
    last_v = np.full(k, np.nan)
    if len(j_all):
        head = np.ones(len(j_all), bool)
        head[1:] = j_all[1:] != j_all[:-1]
        tail = np.ones(len(j_all), bool)
        tail[:-1] = head[1:]
        first_ts[j_all[head]], first_v[j_all[head]] = ts_all[head], v_all[head]
        last_ts[j_all[tail]], last_v[j_all[tail]] = ts_all[tail], v_all[tail]
    tw = _stepped_average(snap, series, edges, rows, rest, usable)
    return IntervalSummary(
        edges,
        count,
        n,
        np.where(some, vmin, np.nan),
        np.where(some, vmax, np.nan),
        np.divide(total, n, out=np.full(k, np.nan), where=some),
        first_ts,
        first_v,
        last_ts,
        last_v,
        tw,
        len(rows),
    )


def _sum_by(j: I64, x: I64, k: int) -> I64:
    return np.bincount(j, x, minlength=k).astype(np.int64) if len(j) else np.zeros(k, np.int64)


def _concat_sorted(parts: list[SeriesColumns], series: int) -> SeriesColumns:
    ts = np.concatenate([p.ts for p in parts])
    order = np.argsort(ts, kind="stable")
    return SeriesColumns(
        series,
        ts[order],
        np.concatenate([p.values for p in parts])[order],
        np.concatenate([p.quality for p in parts])[order],
    )


def _stepped_average(
    snap: Snapshot,
    series: int,
    edges: I64,
    rows: NDArray[np.void],
    rest: SeriesColumns,
    usable: NDArray[np.bool_],
) -> F64:
    """Time-weighted stepped average per interval from a cumulative integral F(t).

    The timeline is a sequence of elements (stats rows and single points) in
    time order; between one element's last point and the next element's first
    point the last value holds (a "gap"). F and the usable duration G are
    piecewise linear in the gaps and jump by a row's (tw_step, dur_step) across
    the row, which never holds an edge strictly inside it.
    """
    start, end = int(edges[0]), int(edges[-1])
    prior = snap.at_or_before(series, start - 1)
    e_start = np.concatenate([rows["min_ts"], rest.ts])
    e_end = np.concatenate([rows["max_ts"], rest.ts])
    e_val = np.concatenate([rows["last_value"], rest.values])
    e_ok = np.concatenate(
        [(severity_of(rows["last_quality"]) < 2) & np.isfinite(rows["last_value"]), usable]
    )
    e_int = np.concatenate([rows["tw_step"], np.zeros(len(rest))])
    e_dur = np.concatenate([rows["dur_step"].astype(np.float64), np.zeros(len(rest))])
    if prior is not None:
        ok = severity_of(np.array([prior.quality], np.uint16))[0] < 2 and np.isfinite(prior.value)
        e_start = np.concatenate([[prior.ts], e_start])
        e_end = np.concatenate([[prior.ts], e_end])
        e_val = np.concatenate([[prior.value], e_val])
        e_ok = np.concatenate([[ok], e_ok])
        e_int = np.concatenate([[0.0], e_int])
        e_dur = np.concatenate([[0.0], e_dur])
    k = len(edges) - 1
    if not len(e_start):
        return np.full(k, np.nan)
    order = np.argsort(e_start, kind="stable")
    e_start, e_end, e_val = e_start[order], e_end[order], e_val[order]
    e_ok, e_int, e_dur = e_ok[order], e_int[order], e_dur[order]
    # gap after element i: [e_end[i], next start) (the last one runs to the range end)
    g_end = np.append(e_start[1:], max(end, int(e_end[-1])))
    rate = np.where(e_ok, e_val, 0.0)
    weight = e_ok.astype(np.float64)
    g_len = (g_end - e_end).astype(np.float64)
    # F at each element start = sum of everything before it
    step_int = e_int + rate * g_len
    step_dur = e_dur + weight * g_len
    f_at = np.concatenate([[0.0], np.cumsum(step_int)])
    g_at = np.concatenate([[0.0], np.cumsum(step_dur)])

    def at(t: I64) -> tuple[F64, F64]:
        i = np.searchsorted(e_start, t, "right") - 1
        before = i < 0
        i = np.maximum(i, 0)
        inside_row = np.where(t >= e_end[i], 1.0, 0.0)  # edges never fall strictly in a row
        into_gap = np.clip(t - e_end[i], 0, None).astype(np.float64)
        f = f_at[i] + e_int[i] * inside_row + rate[i] * into_gap
        g = g_at[i] + e_dur[i] * inside_row + weight[i] * into_gap
        return np.where(before, 0.0, f), np.where(before, 0.0, g)

    f, g = at(edges)
    di, dd = np.diff(f), np.diff(g)
    out: F64 = np.full(k, np.nan)
    np.divide(di, dd, out=out, where=dd > 0)
    return out
