"""DurationGood/Bad, PercentGood/Bad, WorstQuality, WorstQuality2 (Part 13, 5.4.3.28-5.4.3.33).

Quality is read off the *simple* timeline (:mod:`.timeline`): each stretch of
time has the quality of the raw value (or simple bound) that starts it, with
Uncertain counted as Bad when ``TreatUncertainAsBad`` is set and as neither
Good nor Bad otherwise. Time before the first raw value and after the last
one is not data and counts in neither; it makes the interval Partial.

Durations are OPC UA ``Duration`` values: milliseconds (float64). The
percentages are of the time that *has* data. WorstQuality returns, as its
value, the worst StatusCode (Bad over Uncertain over Good; the first one on a
tie) of the raw values in the interval; WorstQuality2 also weighs the start
bound. Their own StatusCode is Good, Calculated.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from historian.model import severity_of
from historian.query.part13.bounds import simple_bounds
from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    TimeShares,
    after_end_of_data,
    finish,
    partial_bits,
    raw_spans,
    time_shares,
)
from historian.query.part13.raw import RawSeries
from historian.query.part13.reduce import point_interval, span_first, span_reduce
from historian.query.part13.status import BAD_NO_DATA, CALCULATED, GOOD
from historian.query.part13.timeline import simple_timeline

NS_PER_MS = 1_000_000


def _shares(
    raw: RawSeries, iv: Intervals
) -> tuple[TimeShares, NDArray[np.uint32], NDArray[np.uint32]]:
    shares = time_shares(simple_timeline(raw, iv))
    code = np.where(
        (shares.covered > 0) & ~after_end_of_data(raw, iv), np.uint32(GOOD), np.uint32(BAD_NO_DATA)
    ).astype(np.uint32)
    bits = (np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)).astype(np.uint32)
    return shares, code, bits


def duration_good(raw: RawSeries, iv: Intervals) -> AggregateResult:
    shares, code, bits = _shares(raw, iv)
    return finish(iv, shares.good / NS_PER_MS, code, bits)


def duration_bad(raw: RawSeries, iv: Intervals) -> AggregateResult:
    shares, code, bits = _shares(raw, iv)
    return finish(iv, shares.bad / NS_PER_MS, code, bits)


def _percent(part: NDArray[np.float64], whole: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.divide(
        100.0 * part, whole, out=np.full(whole.shape, np.nan), where=whole > 0
    )
    return out


def percent_good(raw: RawSeries, iv: Intervals) -> AggregateResult:
    shares, code, bits = _shares(raw, iv)
    return finish(iv, _percent(shares.good, shares.covered), code, bits)


def percent_bad(raw: RawSeries, iv: Intervals) -> AggregateResult:
    shares, code, bits = _shares(raw, iv)
    return finish(iv, _percent(shares.bad, shares.covered), code, bits)


def _worst_raw(
    raw: RawSeries, iv: Intervals
) -> tuple[NDArray[np.float64], NDArray[np.uint32], NDArray[np.bool_]]:
    """(worst severity rank, its StatusCode, any raw value) per interval."""
    spans = raw_spans(raw, iv)
    rank = severity_of(raw.quality).astype(np.float64)
    worst = span_reduce(rank, spans.i0, spans.i1, np.maximum, -1.0)
    owner_worst = np.full(raw.n, -2.0)
    owner = point_interval(raw.ts, spans.i0, spans.i1)
    inside = owner >= 0
    owner_worst[inside] = worst[owner[inside]]
    first = span_first(inside & (rank == owner_worst), spans.i0, spans.i1)
    codes = np.zeros(len(iv), np.uint32)
    has = first >= 0
    if raw.n:
        codes = np.where(
            has, raw.quality[np.clip(first, 0, raw.n - 1)].astype(np.uint32) << np.uint32(16), 0
        )
    return worst, codes.astype(np.uint32), has


def worst_quality(raw: RawSeries, iv: Intervals) -> AggregateResult:
    _, codes, has = _worst_raw(raw, iv)
    bits = _shares(raw, iv)[2]
    code = np.where(has, np.uint32(GOOD), np.uint32(BAD_NO_DATA)).astype(np.uint32)
    return finish(iv, codes.astype(np.float64), code, bits)


def worst_quality2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    worst, codes, has = _worst_raw(raw, iv)
    sb = simple_bounds(raw, iv.lo)
    use_sb = sb.exists & ~sb.is_raw  # a raw value at the start is already counted
    sb_rank = (sb.code >> np.uint32(30)).astype(np.float64)
    sb_rank = np.minimum(sb_rank, 2.0)
    take_sb = use_sb & ((sb_rank > worst) | ~has)
    codes = np.where(take_sb, sb.code, codes).astype(np.uint32)
    found = has | use_sb
    bits = _shares(raw, iv)[2]
    code = np.where(found, np.uint32(GOOD), np.uint32(BAD_NO_DATA)).astype(np.uint32)
    return finish(iv, codes.astype(np.float64), code, bits)
