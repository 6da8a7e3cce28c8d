"""Count, DurationInStateZero/NonZero, NumberOfTransitions (Part 13, 5.4.3.21-5.4.3.24).

* **Count**: the number of Good raw values in the interval (non-Good ones are
  left out; the status then says so). An interval inside the data with no raw
  value counts 0, Good. Status from counts of values.
* **DurationInStateZero / NonZero**: milliseconds the value is 0 / not 0,
  always stepped (a state holds until the next value), over the non-Bad
  stretches of the simple timeline. Status from the shares of time.
* **NumberOfTransitions**: how often consecutive non-Bad raw values differ,
  counting the change from the last non-Bad value before the interval.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from historian.query.part13.config import Intervals
from historian.query.part13.interval_status import (
    AggregateResult,
    after_end_of_data,
    count_status,
    finish,
    outside_data,
    partial_bits,
    raw_spans,
    time_shares,
    time_status,
)
from historian.query.part13.raw import RawSeries, prepare
from historian.query.part13.reduce import span_count
from historian.query.part13.status import BAD_NO_DATA, CALCULATED, GOOD
from historian.query.part13.timeline import GOOD_KIND, UNCERTAIN_KIND, simple_timeline

NS_PER_MS = 1_000_000


def count(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    whole = spans.n_good + spans.n_uncertain + spans.n_bad
    code = count_status(spans, raw.config)
    code = np.where(whole == 0, np.uint32(GOOD), code).astype(np.uint32)
    no_data = (spans.n_any == 0) & outside_data(raw, iv) | after_end_of_data(raw, iv)
    code = np.where(no_data, np.uint32(BAD_NO_DATA), code).astype(np.uint32)
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return finish(iv, spans.n_good.astype(np.float64), code, bits.astype(np.uint32))


def _duration_in_state(raw: RawSeries, iv: Intervals, *, zero: bool) -> AggregateResult:
    # States hold until the next value: read the series stepped, whatever its attribute.
    stepped = (
        raw
        if raw.config.stepped
        else prepare(
            raw.ts, raw.stored_values, raw.quality, dataclasses.replace(raw.config, stepped=True)
        )
    )
    tl = simple_timeline(stepped, iv)
    shares = time_shares(tl)
    live = (tl.kind == GOOD_KIND) | (tl.kind == UNCERTAIN_KIND)
    in_state = live & ((tl.va == 0.0) if zero else (tl.va != 0.0))
    ms = tl.per_interval(np.where(in_state, tl.duration, 0.0)) / NS_PER_MS
    code = time_status(shares, raw.config)
    code = np.where(
        (shares.covered > 0) & ~after_end_of_data(raw, iv), code, np.uint32(BAD_NO_DATA)
    )
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return finish(iv, ms, code.astype(np.uint32), bits.astype(np.uint32))


def duration_in_state_zero(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _duration_in_state(raw, iv, zero=True)


def duration_in_state_non_zero(raw: RawSeries, iv: Intervals) -> AggregateResult:
    return _duration_in_state(raw, iv, zero=False)


def number_of_transitions(raw: RawSeries, iv: Intervals) -> AggregateResult:
    spans = raw_spans(raw, iv)
    u = raw.usable_index
    changed = np.zeros(raw.n, np.bool_)
    if u.size > 1:
        vu = raw.values[u]
        changed[u[1:]] = vu[1:] != vu[:-1]
    n_changes = span_count(changed, spans.i0, spans.i1)
    code = count_status(spans, raw.config)
    whole = spans.n_good + spans.n_uncertain + spans.n_bad
    code = np.where(whole == 0, np.uint32(GOOD), code).astype(np.uint32)
    no_data = (spans.n_any == 0) & outside_data(raw, iv) | after_end_of_data(raw, iv)
    code = np.where(no_data, np.uint32(BAD_NO_DATA), code).astype(np.uint32)
    bits = np.uint32(CALCULATED) | partial_bits(raw, iv, extrapolates=False)
    return finish(iv, n_changes.astype(np.float64), code, bits.astype(np.uint32))
