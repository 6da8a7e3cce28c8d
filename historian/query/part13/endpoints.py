"""Start, End, Delta, StartBound, EndBound, DeltaBounds (Part 13, 5.4.3.25-27 and 34-36).

* **Start / End**: the first / last raw value in the interval, with its own
  timestamp and StatusCode (a Bad one has a NaN value; an Uncertain one keeps
  its value even under TreatUncertainAsBad, its code says what it is).
* **Delta**: last minus first non-Bad raw value in the interval; Good when
  those are Good and are the interval's first and last raw values, otherwise
  Uncertain_DataSubNormal. Timestamp: the interval start.
* **StartBound / EndBound**: the simple bounding value at the interval's start
  / end (:mod:`.bounds`), Interpolated unless a raw value sits on the edge.
  EndBound is stamped with the interval end. A Bad bound is Bad_NoData and
  keeps its Partial bit (Annex A: "BadNoData, Partial").
* **DeltaBounds**: EndBound minus StartBound; Good only when both are Good.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from historian.model import severity_of
from historian.query.part13.bounds import Bounds, simple_bounds
from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    after_end_of_data,
    finish,
    partial_bits,
    raw_spans,
)
from historian.query.part13.raw import GOOD_CLASS, RawSeries
from historian.query.part13.reduce import span_first, span_last
from historian.query.part13.status import (
    BAD_NO_DATA,
    CALCULATED,
    GOOD,
    INTERPOLATED,
    UNCERTAIN_DATA_SUB_NORMAL,
)


def _raw_at(raw: RawSeries, iv: Intervals, idx: NDArray[np.intp]) -> AggregateResult:
    has = idx >= 0
    i = np.clip(idx, 0, max(raw.n - 1, 0))
    if raw.n == 0:
        nan = np.full(len(iv), np.nan)
        return finish(
            iv, nan, np.full(len(iv), BAD_NO_DATA, np.uint32), np.zeros(len(iv), np.uint32)
        )
    # The raw value as stored unless it is Bad (TreatUncertainAsBad does not hide it here).
    shown = (severity_of(raw.quality) < 2) & np.isfinite(raw.stored_values)
    value = np.where(has & shown[i], raw.stored_values[i], np.nan)
    code = np.where(has, raw.quality[i].astype(np.uint32) << np.uint32(16), np.uint32(BAD_NO_DATA))
    ts = np.where(has, raw.ts[i], iv.timestamp).astype(np.int64)
    return finish(iv, value, code.astype(np.uint32), np.zeros(len(iv), np.uint32), timestamps=ts)


def start(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    return _raw_at(raw, iv, span_first(np.ones(raw.n, np.bool_), spans.i0, spans.i1))


def end(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    return _raw_at(raw, iv, span_last(np.ones(raw.n, np.bool_), spans.i0, spans.i1))


def delta(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    first = span_first(raw.usable, spans.i0, spans.i1)
    last = span_last(raw.usable, spans.i0, spans.i1)
    has = first >= 0
    f, la = np.clip(first, 0, max(raw.n - 1, 0)), np.clip(last, 0, max(raw.n - 1, 0))
    value = (
        np.where(has, raw.values[la] - raw.values[f], np.nan) if raw.n else np.full(len(iv), np.nan)
    )
    clean = has & (first == spans.i0) & (last == spans.i1 - 1)
    if raw.n:
        clean &= (raw.cls[f] == GOOD_CLASS) & (raw.cls[la] == GOOD_CLASS)
    code = np.where(clean, np.uint32(GOOD), np.uint32(UNCERTAIN_DATA_SUB_NORMAL))
    code = np.where(has & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)).astype(
        np.uint32
    )
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return finish(iv, value, code, bits.astype(np.uint32))


def _edges(iv: Intervals) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(request-order start edge, end edge) of every interval."""
    start_edge = iv.timestamp
    end_edge = (iv.lo + iv.hi - iv.timestamp).astype(np.int64)
    return start_edge, end_edge


def _bound_result(
    raw: RawSeries, iv: Intervals, b: Bounds, ts: NDArray[np.int64]
) -> AggregateResult:
    partial = partial_bits(raw, iv, extrapolates=False)
    partial = np.where(after_end_of_data(raw, iv), np.uint32(0), partial).astype(np.uint32)
    interp = np.where(b.is_raw, np.uint32(0), np.uint32(INTERPOLATED)).astype(np.uint32)
    bad = (b.code & np.uint32(0x80000000)) != 0
    code = np.where(bad, np.uint32(BAD_NO_DATA), b.code).astype(np.uint32)
    bits = np.where(bad, partial, partial | interp).astype(np.uint32)
    return finish(iv, b.value, code, bits, timestamps=ts, keep_bits_when_bad=True)


def start_bound(raw: RawSeries, iv: Intervals) -> AggregateResult:
    s, _ = _edges(iv)
    return _bound_result(raw, iv, simple_bounds(raw, s), s)


def end_bound(raw: RawSeries, iv: Intervals) -> AggregateResult:
    _, e = _edges(iv)
    return _bound_result(raw, iv, simple_bounds(raw, e, end=True), e)


def delta_bounds(raw: RawSeries, iv: Intervals) -> AggregateResult:
    s, e = _edges(iv)
    sb, eb = simple_bounds(raw, s), simple_bounds(raw, e, end=True)
    both = sb.exists & eb.exists & np.isfinite(sb.value) & np.isfinite(eb.value)
    good = both & (sb.cls == GOOD_CLASS) & (eb.cls == GOOD_CLASS)
    code = np.where(good, np.uint32(GOOD), np.uint32(UNCERTAIN_DATA_SUB_NORMAL))
    code = np.where(both, code, np.uint32(BAD_NO_DATA)).astype(np.uint32)
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return finish(iv, eb.value - sb.value, code, bits.astype(np.uint32))
