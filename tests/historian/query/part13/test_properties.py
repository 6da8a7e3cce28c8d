"""Hypothesis properties of the Part 13 aggregates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.query.part13 import AGGREGATES, AggregateConfiguration, aggregate
from historian.query.part13.status import PARTIAL

S = 1_000_000_000
QUALITIES = [0x0000, 0x0000, 0x0000, 0x4000, 0x4093, 0x8000, 0x808C, 0x809B]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The all-aggregates properties run 36 aggregates per example: fewer examples.
WIDE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def series(
    draw: st.DrawFn, max_points: int = 30, good_only: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]:
    secs = draw(st.lists(st.integers(0, 200), min_size=0, max_size=max_points, unique=True))
    ts = np.array(sorted(secs), np.int64) * S
    values = np.array(
        draw(st.lists(st.integers(-50, 50), min_size=ts.size, max_size=ts.size)), float
    )
    pick = st.just(0) if good_only else st.sampled_from(QUALITIES)
    quality = np.array(draw(st.lists(pick, min_size=ts.size, max_size=ts.size)), np.uint16)
    return ts, values, quality


configs = st.builds(
    AggregateConfiguration,
    treat_uncertain_as_bad=st.booleans(),
    percent_data_bad=st.sampled_from([100.0, 50.0]),
    percent_data_good=st.sampled_from([100.0, 50.0]),
    use_sloped_extrapolation=st.booleans(),
    stepped=st.booleans(),
)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int, int, int]:
    start = draw(st.integers(0, 150)) * S
    step = draw(st.integers(1, 40)) * S
    count = draw(st.integers(1, 6))
    return start, start + step * count, step


@FAST
@given(c=st.integers(-5, 5).map(float), r=ranges(), cfg=configs)
def test_time_average_of_a_constant_is_the_constant(
    c: float, r: tuple[int, int, int], cfg: AggregateConfiguration
) -> None:
    start, end, step = r
    ts = np.array([start - S, (start + end) // 2, end], np.int64)  # covers every interval
    for name in ("TimeAverage", "TimeAverage2", "Interpolative", "Average"):
        res = aggregate(name, ts, np.full(3, c), np.zeros(3, np.uint16), start, end, step, cfg)
        has = ~np.isnan(res.values)
        assert np.all(res.values[has] == c), name
        if name != "Average":  # Average needs a raw value inside each interval
            assert has.all(), name


@FAST
@given(s=series(), r=ranges(), cfg=configs)
def test_count_is_the_number_of_good_raw_values(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
) -> None:
    ts, v, q = s
    start, end, step = r
    res = aggregate("Count", ts, v, q, start, end, step, cfg)
    for k, lo in enumerate(range(start, end, step)):
        inside = (ts >= lo) & (ts < lo + step)
        expected = int(np.sum(inside & (q >> 14 == 0)))
        if not np.isnan(res.values[k]):
            assert res.values[k] == expected
        elif int(res.status[k]) >> 16 != 0x809B:
            assert int(res.status[k]) & 0x80000000  # Bad share reached PercentDataBad


@FAST
@given(s=series(), r=ranges(), cfg=configs)
def test_minimum_le_average_le_maximum(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
) -> None:
    ts, v, q = s
    start, end, step = r
    lo = aggregate("Minimum", ts, v, q, start, end, step, cfg).values
    avg = aggregate("Average", ts, v, q, start, end, step, cfg).values
    hi = aggregate("Maximum", ts, v, q, start, end, step, cfg).values
    rng = aggregate("Range", ts, v, q, start, end, step, cfg).values
    ok = ~np.isnan(avg)
    assert np.array_equal(ok, ~np.isnan(lo)) and np.array_equal(ok, ~np.isnan(hi))
    assert np.all(lo[ok] <= avg[ok] + 1e-9) and np.all(avg[ok] <= hi[ok] + 1e-9)
    assert np.allclose(rng[ok], hi[ok] - lo[ok])


@FAST
@given(s=series(), r=ranges(), tuab=st.booleans())
def test_duration_good_plus_bad_is_the_interval_when_data_covers_it(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    tuab: bool,
) -> None:
    # Stepped with TreatUncertainAsBad: every stretch is Good or Bad (sloped data has
    # Uncertain stretches between a Good and a Bad value, Annex A Historian1).
    cfg = AggregateConfiguration(treat_uncertain_as_bad=True, stepped=True)
    ts, v, q = s
    start, end, step = r
    keep = (ts > start - S) & (ts < end)
    ts = np.concatenate([[start - S], ts[keep], [end]]).astype(np.int64)  # Good at both ends
    q = np.concatenate([[0], q[keep], [0]]).astype(np.uint16)
    v = np.zeros(ts.size)
    good = aggregate("DurationGood", ts, v, q, start, end, step, cfg).values
    bad = aggregate("DurationBad", ts, v, q, start, end, step, cfg).values
    assert np.allclose(good + bad, step / 1e6)
    pg = aggregate("PercentGood", ts, v, q, start, end, step, cfg).values
    pb = aggregate("PercentBad", ts, v, q, start, end, step, cfg).values
    assert np.allclose(pg + pb, 100.0)
    del tuab


@WIDE
@given(s=series(), r=ranges(), cfg=configs, garbage=st.sampled_from([np.nan, np.inf, -1e300, 7.0]))
def test_bad_values_never_enter_arithmetic(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
    garbage: float,
) -> None:
    ts, v, q = s
    start, end, step = r
    bad = (q >> 14) >= 2
    v2 = np.where(bad, garbage, v)
    for name in AGGREGATES:
        a = aggregate(name, ts, v, q, start, end, step, cfg)
        b = aggregate(name, ts, v2, q, start, end, step, cfg)
        assert np.array_equal(a.status, b.status), name
        assert np.array_equal(a.values, b.values, equal_nan=True), name
        assert np.array_equal(a.timestamps, b.timestamps), name


@WIDE
@given(s=series(), r=ranges(), cfg=configs)
def test_intervals_computed_together_equal_each_computed_alone(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
) -> None:
    ts, v, q = s
    start, end, step = r
    for name in AGGREGATES:
        together = aggregate(name, ts, v, q, start, end, step, cfg)
        for k, lo in enumerate(range(start, end, step)):
            alone = aggregate(name, ts, v, q, lo, lo + step, 0, cfg)
            assert together.timestamps[k] == alone.timestamps[0], name
            assert int(together.status[k]) == int(alone.status[0]), name
            assert np.allclose(together.values[k], alone.values[0], equal_nan=True, rtol=1e-12), (
                name
            )


DIRECTION_FREE = [
    n
    for n in AGGREGATES
    if n not in {"Interpolative", "StartBound", "EndBound", "DeltaBounds", "Start", "End"}
]


@WIDE
@given(s=series(), r=ranges(), cfg=configs)
def test_reversed_request_returns_the_same_intervals_latest_first(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
) -> None:
    ts, v, q = s
    start, end, step = r
    for name in DIRECTION_FREE:
        fwd = aggregate(name, ts, v, q, start, end, step, cfg)
        back = aggregate(name, ts, v, q, end, start, step, cfg)
        assert np.array_equal(fwd.values[::-1], back.values, equal_nan=True), name
        assert np.array_equal(fwd.status[::-1] >> 16, back.status >> 16), name
        assert np.array_equal(fwd.status[::-1] & PARTIAL, back.status & PARTIAL), name


@pytest.mark.parametrize("name", sorted(AGGREGATES))
def test_every_aggregate_returns_one_row_per_interval(name: str) -> None:
    ts = np.array([0, 3, 7], np.int64) * S
    res = aggregate(name, ts, np.array([1.0, 2.0, 3.0]), np.zeros(3, np.uint16), 0, 10 * S, 2 * S)
    assert len(res) == 5 and res.values.dtype == np.float64 and res.status.dtype == np.uint32


@FAST
@given(s=series(), r=ranges(), cfg=configs, extrapolates=st.booleans())
def test_partial_from_raw_columns_equals_partial_from_the_timeline(
    s: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]],
    r: tuple[int, int, int],
    cfg: AggregateConfiguration,
    extrapolates: bool,
) -> None:
    """The O(log n) Partial rule agrees with measuring the no-data time segment by segment."""
    from historian.query.part13.config import intervals
    from historian.query.part13.interval_status import partial_bits, time_shares
    from historian.query.part13.raw import prepare
    from historian.query.part13.timeline import interpolated_timeline, simple_timeline

    raw = prepare(*s, cfg)
    iv = intervals(*r)
    tl = interpolated_timeline(raw, iv) if extrapolates else simple_timeline(raw, iv)
    sh = time_shares(tl)
    gap = (sh.before > 0) | (sh.marker > 0) | ((sh.after > 0) & (not extrapolates)) | iv.short
    live = raw.n > 0 and (not extrapolates or raw.usable_index.size > 0)
    if live:  # with no (usable) data at all every result is Bad_NoData, bits cleared
        expected = np.where(gap, PARTIAL, 0)
        assert np.array_equal(partial_bits(raw, iv, extrapolates=extrapolates), expected)
