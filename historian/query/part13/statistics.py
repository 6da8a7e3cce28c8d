"""Average and the spread aggregates (Part 13, 5.4.3.3 and 5.4.3.37-5.4.3.40).

All are over the *Good* raw values in the interval, unweighted (each value
counts once, whatever time it covers) — Annex A excludes an Uncertain value
from Average even with ``TreatUncertainAsBad = False``. Status from the
counts of Good and Bad values (:func:`.interval_status.count_status`),
Calculated, Partial as usual. No Good value: Bad_NoData. The *Sample* forms
need two values; with one the result is Bad (there is data, but no estimate).

Sums are taken around the interval mean (two passes), not as
``sum(x**2) - n * mean**2``, so large offsets do not cancel catastrophically.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    after_end_of_data,
    count_status,
    finish,
    partial_bits,
    raw_spans,
)
from historian.query.part13.raw import GOOD_CLASS, RawSeries
from historian.query.part13.reduce import point_interval
from historian.query.part13.status import BAD, BAD_NO_DATA, CALCULATED


def _moments(
    raw: RawSeries, iv: Intervals
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.uint32],
    NDArray[np.uint32],
]:
    """(count, mean, sum of squared deviations, code, bits) per interval."""
    spans = raw_spans(raw, iv)
    owner = point_interval(raw.ts, spans.i0, spans.i1)
    use = (owner >= 0) & (raw.cls == GOOD_CLASS)
    k = len(iv)
    who = owner[use]
    x = raw.values[use]
    n = np.bincount(who, minlength=k).astype(np.float64)
    s = np.bincount(who, weights=x, minlength=k).astype(np.float64)
    mean = np.divide(s, n, out=np.full(k, np.nan), where=n > 0)
    dev = x - mean[who]
    m2 = np.bincount(who, weights=dev * dev, minlength=k).astype(np.float64)
    code = count_status(spans, raw.config)
    code = np.where((n > 0) & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)).astype(
        np.uint32
    )
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return n, mean, m2, code, bits.astype(np.uint32)


def average(raw: RawSeries, iv: Intervals) -> AggregateResult:
    _n, mean, _m2, code, bits = _moments(raw, iv)
    return finish(iv, mean, code, bits)


def _spread(raw: RawSeries, iv: Intervals, *, sample: bool, root: bool) -> AggregateResult:
    n, _mean, m2, code, bits = _moments(raw, iv)
    dof = n - 1.0 if sample else n
    var = np.divide(m2, dof, out=np.full(n.shape, np.nan), where=dof > 0)
    if sample:
        code = np.where((n == 1) & (code != np.uint32(BAD_NO_DATA)), np.uint32(BAD), code).astype(
            np.uint32
        )
    return finish(iv, np.sqrt(var) if root else var, code, bits)


def standard_deviation_sample(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _spread(raw, iv, sample=True, root=True)


def standard_deviation_population(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _spread(raw, iv, sample=False, root=True)


def variance_sample(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _spread(raw, iv, sample=True, root=False)


def variance_population(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _spread(raw, iv, sample=False, root=False)
