"""Interpolated values at a fixed interval, and at-time values at a list of times.

The value at time ``t`` (page ``docs/query/interpolated.md``):

* a recorded point exactly at ``t``: that point, value and quality unchanged;
* between two points: linear interpolation when the tag is not ``stepped`` and
  neither neighbour is Bad, quality the worse of the two; otherwise the earlier
  point held, with its quality (a Bad point holds until the next non-Bad one;
  interpolation never crosses a Bad value);
* before the first recorded value: NaN with quality ``BadNoData``, flag ``NO_DATA``;
* after the last recorded value: that value and its quality, flag ``EXTRAPOLATED``
  (PI returns the last value; the flag tells the caller it is not confirmed).

Every synthesised value carries ``INTERPOLATED`` (held values of a stepped tag too).

Boundary contract for both functions: ``cols`` holds the recorded points of the
range the times span (``[min(times), max(times)]``; more is fine), ``before`` the
last recorded point strictly earlier than ``cols`` (the read seam's "last point
at or before ``min(times)``" may equal ``cols``' first point: it is then dropped),
``after`` the first recorded point later than ``cols`` (the seam's "first point at
or after" the range end). Missing ``before`` means "no data before"; missing
``after`` means "nothing recorded after": values past the last point extrapolate.
``cols`` may instead hold the boundary points itself (no merge copy then).

>>> from historian.query.columns import QueryColumns
>>> cols = QueryColumns.from_arrays([0, 10, 20], [0.0, 10.0, 40.0])
>>> r = interpolated_values(cols, -5, 30, 5, stepped=False)
>>> r.ts.tolist()
[-5, 0, 5, 10, 15, 20, 25]
>>> r.values.tolist()[1:]
[0.0, 5.0, 10.0, 25.0, 40.0, 40.0]
>>> [ValueFlag(int(f)).name for f in r.flags[[0, 2, 6]]]
['NO_DATA', 'INTERPOLATED', 'EXTRAPOLATED']
>>> values_at_times(cols, [15, 5], stepped=True).values.tolist()
[10.0, 0.0]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from historian.model import TIME_DTYPE, TimeArray
from historian.query.columns import ColumnsLike, PointLike, QueryColumns, ValueFlag
from historian.query.signal import build_signal, evaluate

__all__ = ["ValueFlag", "interpolated_values", "interval_times", "values_at_times"]


def values_at_times(
    cols: ColumnsLike,
    times: ArrayLike,
    *,
    stepped: bool,
    before: PointLike | None = None,
    after: PointLike | None = None,
) -> QueryColumns:
    """At-time values: one value per entry of ``times``, in the order given (repeats allowed)."""
    t = np.asarray(times, dtype=TIME_DTYPE).reshape(-1)
    sig = build_signal(cols, stepped=stepped, before=before, after=after)
    values, quality, flags = evaluate(sig, t)
    return QueryColumns(t.copy(), values, quality, flags)


def interval_times(start: int, end: int, interval: int) -> TimeArray:
    """``start, start + interval, ...`` strictly before ``end`` (start inclusive, end exclusive)."""
    if interval <= 0:
        raise ValueError(f"interval must be a positive number of nanoseconds, got {interval}")
    if end <= start:
        return np.zeros(0, TIME_DTYPE)
    return np.arange(start, end, interval, dtype=TIME_DTYPE)


def interpolated_values(
    cols: ColumnsLike,
    start: int,
    end: int,
    interval: int,
    *,
    stepped: bool,
    before: PointLike | None = None,
    after: PointLike | None = None,
) -> QueryColumns:
    """Values at ``start, start + interval, ...`` strictly before ``end`` (ns).

    ``end`` is exclusive like every range here: ask for ``end + 1`` to include a
    value at ``end`` itself. ``end < start`` walks backwards: ``start, start -
    interval, ...`` strictly after ``end``, newest first.
    """
    if end < start:
        times = start - interval_times(0, start - end, interval)
        return values_at_times(cols, times, stepped=stepped, before=before, after=after)
    times = interval_times(start, end, interval)
    return values_at_times(cols, times, stepped=stepped, before=before, after=after)
