"""Minimum, Maximum, ActualTime, Range and their "2" forms (Part 13, 5.4.3.10-5.4.3.19).

**Minimum / Maximum / Range** use the Good raw values in the interval only
(Annex A: an interval holding only an Uncertain value is Bad_NoData even with
``TreatUncertainAsBad = False``). The timestamp is the interval start; the
Calculated bit is set unless the extreme value sits at the interval start.
The *ActualTime* forms return the raw value's own timestamp instead, with
MultiValue when several raw values share the extreme (the first is returned).
Status from the counts of Good/Bad values.

**Minimum2 / Maximum2 / Range2 (and ActualTime2)** consider the simple start
bound, every non-Bad raw value and — for sloped data — the simple end bound
(reported 1 ms before the interval end, as in the Annex A tables). A bound
that wins carries Interpolated — except, for Minimum2/Maximum2, a raw value
sitting exactly on the interval end, which is Calculated (Annex A A.14) —
and ties carry MultiValue. Status from the shares of Good/Bad *time*,
made Uncertain when it leans on an Uncertain (or missing) bound.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from historian.query.part13.bounds import simple_bounds
from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    after_end_of_data,
    cap_by_bounds,
    count_status,
    finish,
    partial_bits,
    raw_spans,
    time_shares,
    time_status,
)
from historian.query.part13.raw import GOOD_CLASS, UNCERTAIN_CLASS, RawSeries
from historian.query.part13.reduce import point_interval, span_count, span_first, span_reduce
from historian.query.part13.status import (
    BAD_NO_DATA,
    CALCULATED,
    INTERPOLATED,
    MULTI_VALUE,
    UNCERTAIN_DATA_SUB_NORMAL,
)
from historian.query.part13.timeline import simple_timeline

# Annex A reports an end-bound extreme 1 ms before the interval end (12:00:15.999).
END_BOUND_OFFSET_NS = 1_000_000

_U32 = NDArray[np.uint32]


def _raw_extreme(
    raw: RawSeries, iv: Intervals, *, maximum: bool, candidates: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.int64]]:
    """(extreme value, index of its first raw occurrence, count of ties) per interval."""
    spans = raw_spans(raw, iv)
    ident = -np.inf if maximum else np.inf
    masked = np.where(candidates, raw.values, ident)
    ext = span_reduce(masked, spans.i0, spans.i1, np.maximum if maximum else np.minimum, ident)
    owner_ext = np.full(raw.n, np.nan)
    owner = point_interval(raw.ts, spans.i0, spans.i1)
    inside = owner >= 0
    owner_ext[inside] = ext[owner[inside]]
    hit = candidates & inside & (raw.values == owner_ext)
    return ext, span_first(hit, spans.i0, spans.i1), span_count(hit, spans.i0, spans.i1)


def _extreme(raw: RawSeries, iv: Intervals, *, maximum: bool, actual_time: bool) -> AggregateResult:
    spans = raw_spans(raw, iv)
    ext, first, ties = _raw_extreme(raw, iv, maximum=maximum, candidates=raw.cls == GOOD_CLASS)
    found = first >= 0
    code = count_status(spans, raw.config)
    code = np.where(found & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)).astype(
        np.uint32
    )
    partial = partial_bits(raw, iv, extrapolates=False)
    at_ts = (
        np.where(found, raw.ts[np.clip(first, 0, max(raw.n - 1, 0))], iv.timestamp)
        if raw.n
        else iv.timestamp
    )
    if actual_time:
        bits = partial | np.where(ties > 1, np.uint32(MULTI_VALUE), np.uint32(0)).astype(np.uint32)
        return finish(iv, ext, code, bits.astype(np.uint32), timestamps=at_ts.astype(np.int64))
    bits = partial | np.where(at_ts != iv.timestamp, np.uint32(CALCULATED), np.uint32(0)).astype(
        np.uint32
    )
    return finish(iv, ext, code, bits.astype(np.uint32))


def minimum(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme(raw, iv, maximum=False, actual_time=False)


def maximum(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme(raw, iv, maximum=True, actual_time=False)


def minimum_actual_time(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme(raw, iv, maximum=False, actual_time=True)


def maximum_actual_time(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme(raw, iv, maximum=True, actual_time=True)


def range_(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    good = raw.cls == GOOD_CLASS
    ext_lo, first, _ = _raw_extreme(raw, iv, maximum=False, candidates=good)
    ext_hi, _, _ = _raw_extreme(raw, iv, maximum=True, candidates=good)
    code = count_status(spans, raw.config)
    code = np.where(
        (first >= 0) & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)
    ).astype(np.uint32)
    partial = partial_bits(raw, iv, extrapolates=False)
    return finish(iv, ext_hi - ext_lo, code, (partial | np.uint32(CALCULATED)).astype(np.uint32))


# --- the "2" forms: simple bounds, time-based status --------------------------------


class _Extreme2:
    """Per interval: winner value, timestamp, source bits and tie count, plus the status."""

    def __init__(self, raw: RawSeries, iv: Intervals, *, maximum: bool) -> None:
        cfg = raw.config
        sign = 1.0 if maximum else -1.0
        sb = simple_bounds(raw, iv.lo)
        eb = simple_bounds(raw, iv.hi, end=True)
        sb_ok = sb.exists & np.isfinite(sb.value)
        eb_ok = eb.exists & np.isfinite(eb.value) & (not cfg.stepped)
        # Raw candidates strictly after lo (a raw value at lo *is* the start bound).
        cand = raw.usable.copy()
        at_lo = np.searchsorted(raw.ts, iv.lo, side="left")
        on_edge = at_lo[at_lo < raw.n]
        cand[on_edge[raw.ts[on_edge] == iv.lo[at_lo < raw.n]]] = False
        rext, rfirst, rties = _raw_extreme(raw, iv, maximum=maximum, candidates=cand)
        r_ok = rfirst >= 0
        # Compare in "larger is better" space.
        s_v = np.where(sb_ok, sign * sb.value, -np.inf)
        r_v = np.where(r_ok, sign * rext, -np.inf)
        e_v = np.where(eb_ok, sign * eb.value, -np.inf)
        best = np.maximum(np.maximum(s_v, r_v), e_v)
        found = np.isfinite(best)
        s_win = sb_ok & (s_v == best)
        r_win = r_ok & (r_v == best)
        e_win = eb_ok & (e_v == best)
        self.ties = s_win.astype(np.int64) + np.where(r_win, rties, 0) + e_win.astype(np.int64)
        # The first in time wins: start bound, then raw values, then the end bound.
        ts_raw = raw.ts[np.clip(rfirst, 0, max(raw.n - 1, 0))] if raw.n else iv.lo
        self.timestamp = np.where(
            s_win, iv.lo, np.where(r_win, ts_raw, np.maximum(iv.hi - END_BOUND_OFFSET_NS, iv.lo))
        ).astype(np.int64)
        self.timestamp = np.where(found, self.timestamp, iv.timestamp).astype(np.int64)
        self.value = np.where(found, sign * best, np.nan)
        end_wins = ~s_win & ~r_win & e_win
        self.interpolated = (s_win & ~sb.is_raw) | end_wins
        # A raw value exactly at the interval end, winning as the end bound: Annex A
        # stamps Maximum2 "Calculated" there but MaximumActualTime2 "Interpolated".
        self.end_raw = end_wins & eb.is_raw
        self.raw_at_start = s_win & sb.is_raw
        shares = time_shares(simple_timeline(raw, iv))
        code = time_status(shares, cfg)
        whole = shares.covered + shares.before
        code = np.where((whole == 0) & found, np.uint32(UNCERTAIN_DATA_SUB_NORMAL), code).astype(
            np.uint32
        )
        code = cap_by_bounds(
            code,
            sb.exists & (sb.cls == UNCERTAIN_CLASS),
            (eb.exists & (eb.cls == UNCERTAIN_CLASS)) | ~eb.exists,
            cfg.stepped,
        )
        self.code = np.where(
            found & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)
        ).astype(np.uint32)
        self.partial = partial_bits(raw, iv, extrapolates=False)


def _extreme2(
    raw: RawSeries, iv: Intervals, *, maximum: bool, actual_time: bool
) -> AggregateResult:
    x = _Extreme2(raw, iv, maximum=maximum)
    interp = np.where(x.interpolated, np.uint32(INTERPOLATED), np.uint32(0)).astype(np.uint32)
    if actual_time:
        multi = np.where(x.ties > 1, np.uint32(MULTI_VALUE), np.uint32(0)).astype(np.uint32)
        return finish(
            iv,
            x.value,
            x.code,
            (x.partial | interp | multi).astype(np.uint32),
            timestamps=x.timestamp,
        )
    interp = np.where(x.interpolated & ~x.end_raw, np.uint32(INTERPOLATED), np.uint32(0))
    calc = np.where(
        (~x.interpolated | x.end_raw) & ~x.raw_at_start, np.uint32(CALCULATED), np.uint32(0)
    )
    multi = np.where(x.ties > 1, np.uint32(MULTI_VALUE), np.uint32(0))
    return finish(iv, x.value, x.code, (x.partial | interp | calc | multi).astype(np.uint32))


def minimum2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme2(raw, iv, maximum=False, actual_time=False)


def maximum2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme2(raw, iv, maximum=True, actual_time=False)


def minimum_actual_time2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme2(raw, iv, maximum=False, actual_time=True)


def maximum_actual_time2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _extreme2(raw, iv, maximum=True, actual_time=True)


def range2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    lo = _Extreme2(raw, iv, maximum=False)
    hi = _Extreme2(raw, iv, maximum=True)
    return finish(
        iv, hi.value - lo.value, lo.code, (lo.partial | np.uint32(CALCULATED)).astype(np.uint32)
    )
