"""OPC UA Part 13 aggregates over one series' raw columns — pure functions, no engine access.

Entry point::

    aggregate(aggregate, ts, values, quality, start_ns, end_ns, interval_ns, config=None)
        -> AggregateResult(timestamps int64 ns, values float64, status uint32)

``aggregate`` is a standard BrowseName (``"TimeAverage"``), a NodeId number
(``2343``) or text (``"i=2343"``); :data:`AGGREGATES` lists all 36.

**Input contract.** ``ts`` (int64 ns, strictly ascending), ``values``
(float64) and ``quality`` (uint16: the top 16 bits of the OPC UA StatusCode,
as stored; see :func:`historian.model.status_code_from_quality`) are one
series' raw points. Let ``lo = min(start_ns, end_ns)`` and
``hi = max(start_ns, end_ns)``. The caller passes

1. every raw point with ``lo <= ts < hi``;
2. the last raw point with ``ts < lo``, if one exists;
3. the first raw point with ``ts >= hi``, if one exists (a point exactly at
   ``hi`` is the end bound of the last interval);
4. for the interpolated-bound aggregates (Interpolative, TimeAverage, Total):
   when the point of (2) or (3) is not usable — Bad, Uncertain with
   ``TreatUncertainAsBad``, or non-finite — further points outward up to and
   including the nearest usable one on that side, if any.

Points beyond these are allowed and ignored where Part 13 ignores them. The
data's extent is read off what is passed: no point before ``lo`` means the
data starts at the first point (earlier time has no data and makes an interval
Partial); no point at or after ``hi`` means the last point is the *end of
data*: later intervals are Bad_NoData, except for the aggregates that
extrapolate (Interpolative, TimeAverage, Total), whose values there are
Uncertain_DataSubNormal. A point whose quality is ``Bad_NoData`` (``0x809B``)
marks "no data from here".

**Intervals** (:mod:`.config`): half open ``[lo, hi)``; the last one is the
remainder when the range is not a multiple of ``interval_ns`` (and is
Partial); ``interval_ns == 0`` gives one interval; ``end_ns < start_ns``
returns intervals latest first, each stamped with its later edge.

**Output.** One row per interval. ``status`` is the full 32-bit StatusCode:
Good, Uncertain_DataSubNormal, Bad, Bad_NoData or a raw value's own code,
with the historian bits Calculated, Interpolated, Partial, MultiValue
(:mod:`.status`). Where the status is Bad the value is NaN: Bad values never
enter arithmetic. Durations are milliseconds (OPC UA ``Duration``).

>>> import numpy as np
>>> s = 1_000_000_000
>>> ts = np.array([0, 10, 20]) * s
>>> r = aggregate("TimeAverage", ts, [0.0, 10.0, 10.0], [0, 0, 0], 0, 20 * s, 10 * s)
>>> r.values.tolist(), [describe(int(c)) for c in r.status]
([5.0, 10.0], ['Good, Calculated', 'Good, Calculated'])
>>> r = aggregate(2352, ts, [1.0, 2.0, 3.0], [0, 0x8000, 0], 0, 20 * s, 10 * s)  # Count
>>> r.values.tolist()[1:], describe(int(r.status[1]))
([nan], 'Bad')
"""

from __future__ import annotations

from historian.query.part13.config import (
    AggregateConfiguration,
    AggregateRequestError,
    Intervals,
    intervals,
)
from historian.query.part13.interval_status import AggregateResult
from historian.query.part13.registry import (
    AGGREGATES,
    BY_NODE_ID,
    AggregateFunction,
    aggregate,
    lookup,
)
from historian.query.part13.status import describe

__all__ = [
    "AGGREGATES",
    "BY_NODE_ID",
    "AggregateConfiguration",
    "AggregateFunction",
    "AggregateRequestError",
    "AggregateResult",
    "Intervals",
    "aggregate",
    "describe",
    "intervals",
    "lookup",
]
