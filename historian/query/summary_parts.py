"""The additive pieces every summary is finished from, per interval, in columns.

A summary is computed in two steps: first the *parts* of each interval (event
count, sum, sum of squared deviations, extremes with their times, first/last
usable value; time-weighted area, usable duration, deviation integral, edge
values), then :func:`historian.query.summary.finish` turns parts into the
documented summary types. Parts of disjoint pieces of data combine (counts
and sums add, extremes compare, m2 follows Chan's parallel rule), which is
how :mod:`historian.query.chunkstats` merges segment-index statistics with
decoded points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import TimeArray, ValueArray
from historian.query.columns import NO_TIME
from historian.query.integrate import (
    SegmentOverrides,
    deviation_integrals,
    edge_values,
    inside_ranges,
    interval_good_ns,
    interval_integrals,
)
from historian.query.signal import (
    Signal,
    evaluate,
    first_index_of_extremes,
    first_usable_at_or_after,
    last_usable_at_or_before,
    range_sums,
    sums_over_usable,
    unusable_per_range,
    usable_result,
)

EXTREME_TYPES = frozenset({"minimum", "maximum", "range", "min_time", "max_time"})
STD_TYPES = frozenset({"std_population", "std_sample"})
FIRST_LAST_TYPES = frozenset({"start", "end", "delta"})
SUM_TYPES = frozenset({"average", "total"}) | STD_TYPES


@dataclass(slots=True)
class EventParts:
    """Recorded values inside each interval (usable ones only, except ``n_all``)."""

    n_all: NDArray[np.int64]
    count: NDArray[np.int64]
    total: ValueArray
    m2: ValueArray
    """Σ (v - mean)² over the interval's usable values, about their own mean."""
    minimum: ValueArray
    min_time: TimeArray
    maximum: ValueArray
    max_time: TimeArray
    first: ValueArray
    first_time: TimeArray
    last: ValueArray
    last_time: TimeArray
    uncertain: NDArray[np.bool_]
    """An Uncertain value lies inside (whether or not it was used)."""


@dataclass(slots=True)
class TimeParts:
    area: ValueArray
    """∫ s dt over usable time, value·ns."""
    good_ns: NDArray[np.int64]
    deviation: ValueArray
    """∫ (s - time average)² dt over usable time (value²·ns); NaN where unknown."""
    at_start: ValueArray
    """s(a), NaN if not usable; for extremes, ``start`` and ``delta``."""
    end_left: ValueArray
    """s(b⁻), NaN if not usable: the extremes' right edge."""
    at_end: ValueArray
    """s(b), NaN if not usable: ``end``."""
    no_data_ns: NDArray[np.int64]
    """Time before the first recorded value (no data, counted apart from bad time)."""
    extrapolated: NDArray[np.bool_]
    uncertain_at_start: NDArray[np.bool_]


def event_parts(
    sig: Signal,
    lo: NDArray[np.intp],
    hi: NDArray[np.intp],
    want: frozenset[str] | set[str],
    *,
    sums: bool = True,
) -> EventParts:
    """Parts of the recorded points ``lo[k] .. hi[k]-1`` (contiguous ranges).

    ``sums=False`` skips the sum and m2 (time-weighted summaries need neither).
    """
    k = len(lo)
    nan = np.full(k, np.nan)
    no_time = np.full(k, NO_TIME, np.int64)
    n = len(sig.ts)
    n_all = (hi - lo).astype(np.int64)
    sums = sums and bool(want & SUM_TYPES)
    total = nan
    if sig.all_usable:
        count = n_all.copy()
        v_ok = sig.values
    else:
        count = n_all - unusable_per_range(sig, lo, hi)
        v_ok = (
            np.where(sig.usable, sig.values, np.nan)
            if want & (EXTREME_TYPES | STD_TYPES)
            else sig.values
        )
    if sums:
        total = sums_over_usable(sig, lo, hi)
    mean = np.divide(total, count, out=nan.copy(), where=count > 0)
    m2 = nan
    if sums and want & STD_TYPES and n and k:
        per_point = np.repeat(np.where(count > 0, mean, 0.0), hi - lo)
        first = int(lo[0])
        d = v_ok[first : first + len(per_point)] - per_point
        d *= d
        if not sig.all_usable:
            d[np.isnan(d)] = 0.0
        m2 = range_sums(d, lo - first, hi - first)
    # Fresh arrays each: callers fold more data into these in place.
    mn, mx, mn_t, mx_t = nan.copy(), nan.copy(), no_time.copy(), no_time.copy()
    if want & EXTREME_TYPES and n:
        mn, mn_i, mx, mx_i = first_index_of_extremes(sig.values, lo, hi, sig.unusable)
        mn_t = np.where(mn_i >= 0, sig.ts[np.maximum(mn_i, 0)], NO_TIME)
        mx_t = np.where(mx_i >= 0, sig.ts[np.maximum(mx_i, 0)], NO_TIME)
    first_v, last_v, first_t, last_t = nan.copy(), nan.copy(), no_time.copy(), no_time.copy()
    if want & FIRST_LAST_TYPES and n:
        fi = np.minimum(first_usable_at_or_after(sig, lo), n - 1)
        li = np.maximum(last_usable_at_or_before(sig, hi - 1), 0)
        has = count > 0
        first_v = np.where(has, sig.values[fi], np.nan)
        first_t = np.where(has, sig.ts[fi], NO_TIME)
        last_v = np.where(has, sig.values[li], np.nan)
        last_t = np.where(has, sig.ts[li], NO_TIME)
    unc = sig.uncertain_index
    uncertain = (np.searchsorted(unc, hi) - np.searchsorted(unc, lo)) > 0
    return EventParts(
        n_all, count, total, m2, mn, mn_t, mx, mx_t, first_v, first_t, last_v, last_t, uncertain
    )


def time_parts(
    sig: Signal,
    edges: TimeArray,
    want: frozenset[str] | set[str],
    overrides: SegmentOverrides | None = None,
) -> tuple[TimeParts, NDArray[np.intp], NDArray[np.intp]]:
    """Time-weighted parts per interval, plus the inside index ranges ``lo``, ``hi``."""
    a, b = edges[:-1], edges[1:]
    k = len(a)
    ii = interval_integrals(sig, edges, overrides)
    nan = np.full(k, np.nan)
    deviation = nan
    if want & STD_TYPES:
        mean = np.divide(ii.area, ii.good_ns, out=nan.copy(), where=ii.good_ns > 0)
        deviation = deviation_integrals(sig, edges, ii, mean)
    ev, eq, ef = evaluate(sig, b)
    at_end = np.where(usable_result(sig, ev, eq, ef), ev, np.nan)
    n = len(sig.ts)
    if n:
        no_data_ns = np.clip(np.minimum(b, sig.ts[0]) - a, 0, None).astype(np.int64)
        extrapolated = b > sig.ts[-1] + 1
        j = np.searchsorted(sig.ts, a, "right") - 1
        uncertain_at_start = (j >= 0) & sig.is_uncertain_at(np.maximum(j, 0))
    else:
        no_data_ns = (b - a).astype(np.int64)
        extrapolated = np.zeros(k, bool)
        uncertain_at_start = np.zeros(k, bool)
    parts = TimeParts(
        area=ii.area,
        good_ns=ii.good_ns,
        deviation=deviation,
        at_start=np.where(ii.edges.start_ok, ii.edges.start, np.nan),
        end_left=np.where(ii.edges.end_left_ok, ii.edges.end_left, np.nan),
        at_end=at_end,
        no_data_ns=no_data_ns,
        extrapolated=extrapolated,
        uncertain_at_start=uncertain_at_start,
    )
    return parts, ii.lo, ii.hi


def good_duration_only(sig: Signal, edges: TimeArray) -> NDArray[np.int64]:
    """Usable ns per interval, for event-weighted summaries (no values touched)."""
    return interval_good_ns(sig, edges)


__all__ = [
    "EXTREME_TYPES",
    "EventParts",
    "TimeParts",
    "edge_values",
    "event_parts",
    "good_duration_only",
    "inside_ranges",
    "time_parts",
]
