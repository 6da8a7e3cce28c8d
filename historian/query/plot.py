"""Plot values: the few recorded points per pixel column that draw a trend exactly.

``[start, end)`` is cut into ``intervals`` equal pixel intervals (integer ns edges
``start + (end - start) * k // intervals``). From each one, PI's plot values are kept:

* the first and the last recorded value (so the line enters and leaves the column
  where the raw line does),
* the minimum and the maximum usable value (first occurrence on ties), so the
  column's vertical extent is the raw data's,
* every value whose status is not Good (so bad and uncertain markers survive).

The selection is de-duplicated (one point may be several of these) and returned
in time order, each point with its own recorded timestamp, value and quality;
at most ``4 * intervals`` points plus the non-Good ones. With ``before`` /
``after`` (the recorded points just outside the range, as for recorded values
with ``outside`` boundaries) the line can be drawn to both edges; they are
returned flagged ``BOUNDARY``.

>>> from historian.query.columns import QueryColumns
>>> cols = QueryColumns.from_arrays(range(0, 100, 10), [3, 1, 4, 1, 5, 9, 2, 6, 5, 3],
...                                 [0, 0, 0, 0, 0, 0, 0, 0x8000, 0, 0])
>>> p = plot_values(cols, 0, 100, 2)
>>> p.ts.tolist()
[0, 10, 40, 50, 60, 70, 90]
>>> p.values.tolist()
[3.0, 1.0, 5.0, 9.0, 2.0, 6.0, 3.0]
"""

from __future__ import annotations

import numpy as np

from historian.model import TIME_DTYPE, TimeArray
from historian.query.columns import FLAG_DTYPE, ColumnsLike, PointLike, QueryColumns, ValueFlag
from historian.query.signal import build_signal, first_index_of_extremes

__all__ = ["pixel_edges", "plot_values"]


def pixel_edges(start: int, end: int, intervals: int) -> TimeArray:
    """``intervals + 1`` integer edges splitting ``[start, end)`` as evenly as possible."""
    if intervals < 1:
        raise ValueError(f"intervals must be at least 1, got {intervals}")
    if end <= start:
        raise ValueError(f"plot range is empty: end {end} must be after start {start}")
    # start + span * k // intervals without overflowing int64 (a year in ns x 1,000 would).
    whole, rest = divmod(end - start, intervals)
    k = np.arange(intervals + 1, dtype=np.int64)
    return start + whole * k + (rest * k) // intervals


def plot_values(
    cols: ColumnsLike,
    start: int,
    end: int,
    intervals: int,
    *,
    before: PointLike | None = None,
    after: PointLike | None = None,
) -> QueryColumns:
    """Plot values of ``[start, end)`` over ``intervals`` pixel intervals.

    Contract: ``cols`` holds the recorded points of ``[start, end)`` (others are
    ignored); ``before`` is the last point before ``start``, ``after`` the first at
    or after ``end``; both optional.
    """
    edges = pixel_edges(start, end, intervals)
    i0, i1 = np.searchsorted(cols.ts, [start, end], "left")
    inside = QueryColumns(
        np.asarray(cols.ts[i0:i1], TIME_DTYPE),
        np.asarray(cols.values[i0:i1]),
        np.asarray(cols.quality[i0:i1]),
        np.zeros(int(i1 - i0), FLAG_DTYPE),
    )
    sig = build_signal(inside, stepped=True)
    idx = np.searchsorted(sig.ts, edges, "left").astype(np.intp)
    lo, hi = idx[:-1], idx[1:]
    nonempty = hi > lo
    _, mn, _, mx = first_index_of_extremes(sig.values, lo, hi, sig.unusable)
    chosen = np.concatenate(
        [
            lo[nonempty],
            hi[nonempty] - 1,
            mn[mn >= 0],
            mx[mx >= 0],
            sig.not_good,
        ]
    )
    keep = np.unique(chosen)
    out = inside.take(keep)
    if before is None and after is None:
        return out
    parts = [out]
    if before is not None and before.ts < start:
        parts.insert(0, _one(before))
    if after is not None and after.ts >= end:
        parts.append(_one(after))
    return QueryColumns(
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.quality for p in parts]),
        np.concatenate([p.flags for p in parts]),
    )


def _one(p: PointLike) -> QueryColumns:
    return QueryColumns.from_arrays([p.ts], [p.value], [p.quality], [ValueFlag.BOUNDARY])
