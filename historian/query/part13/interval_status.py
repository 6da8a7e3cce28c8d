"""Per-interval facts every aggregate needs, and Part 13's StatusCode rules.

**Status from percentages** (Part 13, 5.4.3, with the AggregateConfiguration):
an interval whose Bad share reaches ``PercentDataBad`` is Bad; otherwise one
whose Good share reaches ``PercentDataGood`` is Good; otherwise it is
Uncertain_DataSubNormal. Time-based aggregates measure shares in time (the
time after the end of data is left out of the whole; time before the first raw
value stays in it as neither Good nor Bad); aggregates over raw values count
values (``Bad_NoData`` markers are not values).

**Partial**: the interval is shorter than the ProcessingInterval (the last
one), or part of it has no data — before the first raw value, covered by a
``Bad_NoData`` marker, or (for aggregates that do not extrapolate) after the
last raw value.

An interval that lies wholly after the last raw value, or holds no usable
value at all, is ``Bad_NoData``; its value is NaN. Bad results carry NaN too:
Bad values never reach a result's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.query.part13.config import AggregateConfiguration, Intervals
from historian.query.part13.raw import BAD_CLASS, GOOD_CLASS, UNCERTAIN_CLASS, RawSeries
from historian.query.part13.status import (
    BAD,
    GOOD,
    PARTIAL,
    UNCERTAIN_DATA_SUB_NORMAL,
    StatusArray,
    compose_array,
)
from historian.query.part13.timeline import (
    AFTER_KIND,
    BAD_KIND,
    BEFORE_KIND,
    GOOD_KIND,
    UNCERTAIN_KIND,
    Timeline,
)


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """One value per processing interval, in request order.

    ``status`` is the full 32-bit StatusCode (code and historian bits); where
    it is Bad the value is NaN.
    """

    timestamps: NDArray[np.int64]
    values: NDArray[np.float64]
    status: StatusArray

    def __len__(self) -> int:
        return int(self.timestamps.size)


@dataclass(frozen=True, slots=True)
class RawSpans:
    """Raw values ``[i0, i1)`` of each interval and their counts by class."""

    i0: NDArray[np.intp]
    i1: NDArray[np.intp]
    n_good: NDArray[np.int64]
    n_uncertain: NDArray[np.int64]
    n_bad: NDArray[np.int64]  # Bad values, Bad_NoData markers excluded
    n_any: NDArray[np.int64]  # every raw value, markers included

    @property
    def n_usable(self) -> NDArray[np.int64]:
        out: NDArray[np.int64] = self.n_good + self.n_uncertain
        return out


def raw_spans(raw: RawSeries, iv: Intervals) -> RawSpans:
    i0 = np.searchsorted(raw.ts, iv.lo, side="left").astype(np.intp)
    i1 = np.searchsorted(raw.ts, iv.hi, side="left").astype(np.intp)

    def count(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        c = np.zeros(mask.size + 1, np.int64)
        np.cumsum(mask, out=c[1:])
        out: NDArray[np.int64] = c[i1] - c[i0]
        return out

    return RawSpans(
        i0,
        i1,
        count(raw.cls == GOOD_CLASS),
        count(raw.cls == UNCERTAIN_CLASS),
        count((raw.cls == BAD_CLASS) & ~raw.no_data_marker),
        (i1 - i0).astype(np.int64),
    )


def percent_status(
    good: NDArray[np.float64],
    bad: NDArray[np.float64],
    whole: NDArray[np.float64],
    cfg: AggregateConfiguration,
) -> StatusArray:
    """Good / Uncertain_DataSubNormal / Bad codes from shares of ``whole``."""
    safe = np.where(whole > 0, whole, 1.0)
    pct_bad = np.where(whole > 0, 100.0 * bad / safe, 100.0)
    pct_good = np.where(whole > 0, 100.0 * good / safe, 0.0)
    # A tiny tolerance: shares are ratios of integer durations in float.
    eps = 1e-9
    code = np.where(
        pct_bad >= cfg.percent_data_bad - eps,
        np.uint32(BAD),
        np.where(
            pct_good >= cfg.percent_data_good - eps,
            np.uint32(GOOD),
            np.uint32(UNCERTAIN_DATA_SUB_NORMAL),
        ),
    ).astype(np.uint32)
    return code


def count_status(spans: RawSpans, cfg: AggregateConfiguration) -> StatusArray:
    """Status of an aggregate over raw values, from counts."""
    whole = (spans.n_good + spans.n_uncertain + spans.n_bad).astype(np.float64)
    return percent_status(
        spans.n_good.astype(np.float64), spans.n_bad.astype(np.float64), whole, cfg
    )


@dataclass(frozen=True, slots=True)
class TimeShares:
    """Durations (ns) per interval by kind, from a timeline."""

    good: NDArray[np.float64]
    uncertain: NDArray[np.float64]
    bad: NDArray[np.float64]
    before: NDArray[np.float64]
    after: NDArray[np.float64]
    marker: NDArray[np.float64]

    @property
    def covered(self) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.good + self.uncertain + self.bad
        return out


def time_shares(tl: Timeline) -> TimeShares:
    by_kind = tl.durations_by_kind()
    return TimeShares(
        by_kind[GOOD_KIND],
        by_kind[UNCERTAIN_KIND],
        by_kind[BAD_KIND],
        by_kind[BEFORE_KIND],
        by_kind[AFTER_KIND],
        tl.per_interval(np.where(tl.no_data_marker, tl.duration, 0.0)),
    )


def time_status(shares: TimeShares, cfg: AggregateConfiguration) -> StatusArray:
    """Status of a time-based aggregate: shares of the interval minus the time after the data."""
    whole = shares.covered + shares.before
    return percent_status(shares.good, shares.bad, whole, cfg)


def partial_bits(raw: RawSeries, iv: Intervals, *, extrapolates: bool) -> NDArray[np.uint32]:
    """PARTIAL where the interval is short or partly without data (module docstring).

    Read off the raw columns in O(intervals x log points): time before the
    first raw value (for the extrapolating aggregates: the first usable one),
    time covered by a Bad_NoData marker, and — unless the aggregate
    extrapolates — time after the last raw value.
    """
    gap = iv.short.copy()
    if raw.n == 0:
        return np.where(gap, np.uint32(PARTIAL), np.uint32(0)).astype(np.uint32)
    first = raw.ts[raw.usable_index[0]] if extrapolates and raw.usable_index.size else raw.ts[0]
    gap |= iv.lo < first
    if not extrapolates:
        gap |= iv.hi > raw.ts[-1]
    # The raw value governing lo, and every one inside [lo, hi): is any a marker?
    k0 = np.maximum(np.searchsorted(raw.ts, iv.lo, side="right") - 1, 0)
    k1 = np.searchsorted(raw.ts, iv.hi, side="left")
    markers = np.zeros(raw.n + 1, np.int64)
    np.cumsum(raw.no_data_marker, out=markers[1:])
    gap |= (markers[np.maximum(k1, k0)] - markers[k0]) > 0
    out: NDArray[np.uint32] = np.where(gap, np.uint32(PARTIAL), np.uint32(0)).astype(np.uint32)
    return out


def outside_data(raw: RawSeries, iv: Intervals) -> NDArray[np.bool_]:
    """Intervals wholly before the first raw value or after the last one."""
    if raw.n == 0:
        return np.ones(len(iv), np.bool_)
    out: NDArray[np.bool_] = (iv.hi <= raw.ts[0]) | (iv.lo > raw.ts[-1])
    return out


def after_end_of_data(raw: RawSeries, iv: Intervals) -> NDArray[np.bool_]:
    """Intervals that start after the last raw value (nothing is known there yet)."""
    if raw.n == 0:
        return np.ones(len(iv), np.bool_)
    out: NDArray[np.bool_] = iv.lo > raw.ts[-1]
    return out


def finish(
    iv: Intervals,
    values: NDArray[np.float64],
    code: NDArray[np.uint32],
    bits: NDArray[np.uint32],
    timestamps: NDArray[np.int64] | None = None,
    *,
    keep_bits_when_bad: bool = False,
) -> AggregateResult:
    """Assemble the result in request order; Bad results get NaN and (usually) no bits."""
    code = code.astype(np.uint32)
    bad = (code & np.uint32(0x80000000)) != 0
    vals = np.where(bad, np.nan, values)
    if not keep_bits_when_bad:
        bits = np.where(bad, np.uint32(0), bits).astype(np.uint32)
    status = compose_array(code, bits.astype(np.uint32))
    ts = iv.timestamp if timestamps is None else timestamps
    o = iv.order
    return AggregateResult(ts[o].astype(np.int64), vals[o].astype(np.float64), status[o])


def cap_by_bounds(
    code: NDArray[np.uint32],
    sb_uncertain: NDArray[np.bool_],
    eb_doubtful: NDArray[np.bool_],
    stepped: bool,
) -> NDArray[np.uint32]:
    """A Good result that leans on an Uncertain bound is Uncertain_DataSubNormal.

    For simple-bound aggregates: an Uncertain start bound, or (sloped data
    only, where the end bound shapes the last segment) an Uncertain or
    missing end bound, turns a Good result Uncertain (Annex A, e.g. Minimum2).
    """
    doubt = sb_uncertain | (eb_doubtful & (not stepped))
    out: NDArray[np.uint32] = np.where(
        doubt & (code == np.uint32(GOOD)), np.uint32(UNCERTAIN_DATA_SUB_NORMAL), code
    ).astype(np.uint32)
    return out
