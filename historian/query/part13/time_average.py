"""Interpolative, TimeAverage, TimeAverage2, Total and Total2 (Part 13, 5.4.3.2-5.4.3.8).

* **Interpolative**: the interpolated bounding value at each interval start.
* **TimeAverage**: the time-weighted average over the interval of the line
  through the interpolated bounds and the non-Bad raw values in between — Bad
  values are stepped over. Always sloped, whatever the Stepped attribute
  (5.4.3.6: "this calculation always uses a sloped line between points").
  Before the first non-Bad value nothing is known, so only the covered part
  counts. Status from the shares of Good and
  not-Good time (:mod:`.interval_status`).
* **TimeAverage2**: the same with *simple* bounds; Bad stretches are left out
  of the average instead of being bridged.
* **Total** = TimeAverage x interval length in seconds; **Total2** = the time
  integral (value x seconds) over the non-Bad stretches, i.e. TimeAverage2 x
  non-Bad seconds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND
from historian.query.part13.bounds import interpolated_bounds, simple_bounds
from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    after_end_of_data,
    cap_by_bounds,
    finish,
    partial_bits,
    raw_spans,
    time_shares,
    time_status,
)
from historian.query.part13.raw import UNCERTAIN_CLASS, RawSeries, prepare
from historian.query.part13.status import (
    BAD_NO_DATA,
    CALCULATED,
    INTERPOLATED,
    UNCERTAIN_DATA_SUB_NORMAL,
)
from historian.query.part13.timeline import interpolated_timeline, simple_timeline


def interpolative(raw: RawSeries, iv: Intervals) -> AggregateResult:
    b = interpolated_bounds(raw, iv.timestamp)
    bits = np.where(b.is_raw, np.uint32(0), np.uint32(INTERPOLATED)).astype(np.uint32)
    return finish(iv, b.value, b.code, bits)


def _sloped(raw: RawSeries) -> RawSeries:
    """TimeAverage and Total always draw sloped lines (Part 13, 5.4.3.6 and 5.4.3.8)."""
    if not raw.config.stepped:
        return raw
    cfg = dataclasses.replace(raw.config, stepped=False)
    return prepare(raw.ts, raw.stored_values, raw.quality, cfg)


def _time_average(
    raw: RawSeries, iv: Intervals
) -> tuple[NDArray[np.float64], NDArray[np.uint32], NDArray[np.uint32]]:
    raw = _sloped(raw)
    tl = interpolated_timeline(raw, iv)
    shares = time_shares(tl)
    covered = shares.good + shares.uncertain
    area = tl.integral()
    value = np.divide(area, covered, out=np.full(covered.shape, np.nan), where=covered > 0)
    code = time_status(shares, raw.config)
    code = np.where(covered > 0, code, np.uint32(BAD_NO_DATA)).astype(np.uint32)
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=True)
    return value, code, bits.astype(np.uint32)


def time_average(raw: RawSeries, iv: Intervals) -> AggregateResult:
    value, code, bits = _time_average(raw, iv)
    return finish(iv, value, code, bits)


def total(raw: RawSeries, iv: Intervals) -> AggregateResult:
    value, code, bits = _time_average(raw, iv)
    seconds = (iv.hi - iv.lo).astype(np.float64) / NS_PER_SECOND
    return finish(iv, value * seconds, code, bits)


def _time_average2(
    raw: RawSeries, iv: Intervals
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.uint32], NDArray[np.uint32]]:
    """(TimeAverage2, Total2, code, bits) per interval."""
    cfg = raw.config
    tl = simple_timeline(raw, iv)
    shares = time_shares(tl)
    usable_time = shares.good + shares.uncertain
    area = tl.integral()
    spans = raw_spans(raw, iv)
    # An interval that starts on the last raw value: only that value is known.
    last_usable = _last_usable_value(raw, spans.i0, spans.i1)
    has_usable = spans.n_usable > 0
    avg = np.divide(area, usable_time, out=last_usable.copy(), where=usable_time > 0)
    whole = shares.covered + shares.before
    code = time_status(shares, cfg)
    code = np.where((whole == 0) & has_usable, np.uint32(UNCERTAIN_DATA_SUB_NORMAL), code).astype(
        np.uint32
    )
    sb = simple_bounds(raw, iv.lo)
    eb = simple_bounds(raw, iv.hi, end=True)
    code = cap_by_bounds(
        code,
        sb.exists & (sb.cls == UNCERTAIN_CLASS),
        (eb.exists & (eb.cls == UNCERTAIN_CLASS)) | ~eb.exists,
        cfg.stepped,
    )
    nothing = ((usable_time == 0) & ~has_usable) | after_end_of_data(raw, iv)
    code = np.where(nothing, np.uint32(BAD_NO_DATA), code).astype(np.uint32)
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return avg, area / NS_PER_SECOND, code, bits.astype(np.uint32)


def _last_usable_value(
    raw: RawSeries, i0: NDArray[np.intp], i1: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Value of the last non-Bad raw value in each ``[i0, i1)`` (NaN if none)."""
    u = raw.usable_index
    j = np.searchsorted(u, i1, side="left") - 1
    ok = (
        (j >= 0) & (u[np.clip(j, 0, max(u.size - 1, 0))] >= i0)
        if u.size
        else np.zeros(i0.shape, np.bool_)
    )
    out = np.full(i0.shape, np.nan)
    if u.size:
        out = np.where(ok, raw.values[u[np.clip(j, 0, u.size - 1)]], np.nan)
    return out


def time_average2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    avg, _total, code, bits = _time_average2(raw, iv)
    return finish(iv, avg, code, bits)


def total2(raw: RawSeries, iv: Intervals) -> AggregateResult:
    _avg, tot, code, bits = _time_average2(raw, iv)
    return finish(iv, tot, code, bits)


__all__ = ["interpolative", "time_average", "time_average2", "total", "total2"]
