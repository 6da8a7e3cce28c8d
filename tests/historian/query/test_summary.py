"""Summaries: hand-computed cases, a per-piece reference, and the properties of the issue."""

from __future__ import annotations

import doctest
import importlib
import itertools
import math
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from historian.model import Point, Quality, severity_of
from historian.query import signal
from historian.query.columns import NO_TIME, QueryColumns, ValueFlag
from historian.query.summary import NS_PER_DAY, summaries, summaries_for_edges
from tests.historian.query.test_interpolated import BAD, GOOD, UNC, series, usable


def seg_value(cols: QueryColumns, j: int, t: int, stepped: bool) -> float:
    """Value of segment j (from point j) at time t, by the documented rule."""
    ts, v, q = cols.ts, cols.values, cols.quality
    if j == len(ts) - 1 or stepped or not usable(int(q[j + 1]), float(v[j + 1])):
        return float(v[j])
    return float(v[j] + (v[j + 1] - v[j]) * (t - ts[j]) / (ts[j + 1] - ts[j]))


def ref_time_weighted(
    cols: QueryColumns, a: int, b: int, stepped: bool
) -> tuple[float, float, int, float, float]:
    """(∫ s dt, ∫ s² dt, usable ns, min, max) over [a, b), piece by piece."""
    ts = cols.ts.tolist()
    cuts = sorted({a, b} | {t for t in ts if a < t < b})
    area = sq = 0.0
    good = 0
    extremes: list[float] = []
    for x, y in itertools.pairwise(cuts):
        j = int(np.searchsorted(cols.ts, x, "right")) - 1
        if j < 0 or not usable(int(cols.quality[j]), float(cols.values[j])):
            continue
        p, r = seg_value(cols, j, x, stepped), seg_value(cols, j, y, stepped)
        area += (y - x) * (p + r) / 2
        sq += (y - x) * (p * p + p * r + r * r) / 3
        good += y - x
        extremes += [p, r]
    return area, sq, good, min(extremes, default=math.nan), max(extremes, default=math.nan)


def test_hand_computed_time_weighted_linear_and_stepped() -> None:
    # 0 @0, 10 @10, 10 @20, Bad @30, 4 @40; intervals [0, 20), [20, 40), [40, 60)
    cols = QueryColumns.from_arrays(
        [0, 10, 20, 30, 40], [0.0, 10.0, 10.0, math.nan, 4.0], [GOOD, GOOD, GOOD, BAD, GOOD]
    )
    s = summaries(cols, 0, 60, 20, stepped=False)
    # [0,20): trapezoid 0->10 (area 50) + flat 10 (area 100) = 150 over 20 ns
    # [20,40): 10 held up to the Bad point (10 ns, area 100), then 10 ns bad
    # [40,60): 4 held after the last value (extrapolated)
    assert s.average.tolist() == [7.5, 10.0, 4.0]
    assert s.duration_good.tolist() == [20, 10, 20] and s.duration_bad.tolist() == [0, 10, 0]
    assert s.percent_good.tolist() == [100.0, 50.0, 100.0]
    assert s.total.tolist() == [150 / NS_PER_DAY, 100 / NS_PER_DAY, 80 / NS_PER_DAY]
    assert s.count.tolist() == [2, 1, 1]
    assert s.minimum.tolist() == [0.0, 10.0, 4.0] and s.maximum.tolist() == [10.0, 10.0, 4.0]
    assert s.min_time.tolist() == [0, 20, 40] and s.max_time.tolist() == [10, 20, 40]
    assert s.status.tolist() == [0, Quality.UNCERTAIN_SUB_NORMAL, 0]
    assert s.flags[1] & ValueFlag.BAD_EXCLUDED and s.flags[2] & ValueFlag.EXTRAPOLATED
    st_ = summaries(cols, 0, 20, 20, stepped=True)
    assert st_.average.tolist() == [5.0]  # 0 for 10 ns, 10 for 10 ns


def test_time_weighted_edges_are_interpolated_from_the_boundary_points() -> None:
    cols = QueryColumns.from_arrays([10], [10.0])
    s = summaries(cols, 5, 15, 10, stepped=False, before=Point(0, 0.0, 0), after=Point(20, 0.0, 0))
    # s(5) = 5, up to 10 at t=10, down to 5 at t=15: average 7.5, min 5 at 5, max 10 at 10
    assert s.average.tolist() == [7.5]
    assert (s.minimum[0], s.min_time[0], s.maximum[0], s.max_time[0]) == (5.0, 5, 10.0, 10)
    assert (s.start_value[0], s.end_value[0], s.delta[0]) == (5.0, 5.0, 0.0)


def test_no_data_before_the_first_value_and_types_filter() -> None:
    cols = QueryColumns.from_arrays([15], [2.0])
    s = summaries(cols, 0, 20, 10, stepped=False)
    assert s.status.tolist() == [Quality.BAD_NO_DATA, Quality.UNCERTAIN_SUB_NORMAL]
    assert math.isnan(s.average[0]) and s.average[1] == 2.0
    assert s.min_time[0] == NO_TIME and s.flags[0] & ValueFlag.NO_DATA
    assert not s.flags[0] & ValueFlag.BAD_EXCLUDED, "no data is not bad data"
    only = summaries(cols, 0, 20, 10, stepped=False, types=["average"])
    assert only.average.tolist()[1] == 2.0 and np.isnan(only.maximum).all()
    with pytest.raises(ValueError, match="unknown summary type"):
        summaries(cols, 0, 20, 10, stepped=False, types=["median"])
    with pytest.raises(ValueError, match="weighting"):
        summaries(cols, 0, 20, 10, stepped=False, weighting="random")


def test_event_weighted_hand_computed_and_uncertain_rules() -> None:
    cols = QueryColumns.from_arrays([0, 1, 2, 3], [1.0, 2.0, 100.0, 4.0], [GOOD, UNC, BAD, GOOD])
    e = summaries(cols, 0, 10, 10, stepped=False, weighting="event")
    assert e.average.tolist() == [7 / 3] and e.total.tolist() == [7.0] and e.count.tolist() == [3]
    assert e.std_population[0] == pytest.approx(np.std([1, 2, 4]))
    assert e.std_sample[0] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert e.percent_good.tolist() == [75.0]
    assert (e.start_value[0], e.end_value[0], e.delta[0]) == (1.0, 4.0, 3.0)
    assert e.flags[0] & ValueFlag.BAD_EXCLUDED and e.flags[0] & ValueFlag.UNCERTAIN_INCLUDED
    strict = summaries(
        cols, 0, 10, 10, stepped=False, weighting="event", treat_uncertain_as_bad=True
    )
    assert strict.average.tolist() == [2.5] and strict.flags[0] & ValueFlag.UNCERTAIN_EXCLUDED


def _edges(draw_cuts: list[int]) -> np.ndarray:
    return np.array(sorted({0, 1001, *draw_cuts}), np.int64)


@settings(deadline=None, max_examples=200)
@given(series(), st.lists(st.integers(1, 1000), max_size=6), st.booleans())
def test_time_weighted_matches_the_per_piece_reference(
    cols: QueryColumns, cuts: list[int], stepped: bool
) -> None:
    edges = _edges(cuts)
    s = summaries_for_edges(cols, edges, stepped=stepped)
    for k, (a, b) in enumerate(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)):
        area, sq, good, mn, mx = ref_time_weighted(cols, a, b, stepped)
        assert s.duration_good[k] == good
        if good == 0:
            assert math.isnan(s.average[k]) and s.status[k] == Quality.BAD_NO_DATA
            continue
        avg = area / good
        assert s.average[k] == pytest.approx(avg, rel=1e-9, abs=1e-9)
        var = max(sq / good - avg * avg, 0.0)
        assert s.std_population[k] == pytest.approx(math.sqrt(var), rel=1e-6, abs=1e-6)
        assert s.minimum[k] == pytest.approx(mn) and s.maximum[k] == pytest.approx(mx)


@settings(deadline=None, max_examples=100)
@given(
    series(bad=False, max_points=20), st.integers(-500, 500), st.lists(st.integers(1, 1000)),
    st.booleans(),
)  # fmt: skip
def test_time_weighted_average_of_a_constant_is_that_constant(
    cols: QueryColumns, level: int, cuts: list[int], stepped: bool
) -> None:
    const = QueryColumns.from_arrays(cols.ts, np.full(len(cols), level / 4.0))
    s = summaries_for_edges(const, _edges(cuts), stepped=stepped)
    ok = s.duration_good > 0
    np.testing.assert_array_equal(s.average[ok], level / 4.0)
    np.testing.assert_array_equal(s.std_population[ok], 0.0)


@settings(deadline=None, max_examples=200)
@given(series(), st.lists(st.integers(1, 1000), max_size=6))
def test_event_weighted_average_equals_numpy_mean_of_good_values(
    cols: QueryColumns, cuts: list[int]
) -> None:
    edges = _edges(cuts)
    s = summaries_for_edges(cols, edges, stepped=False, weighting="event")
    good = severity_of(cols.quality) < 2
    for k, (a, b) in enumerate(itertools.pairwise(edges)):
        v = cols.values[good & (cols.ts >= a) & (cols.ts < b)]
        assert s.count[k] == len(v)
        assert s.duration_good[k] == ref_time_weighted(cols, int(a), int(b), False)[2]
        if len(v):
            assert s.average[k] == pytest.approx(np.mean(v), rel=1e-12, abs=1e-12)
            assert s.std_population[k] == pytest.approx(np.std(v), rel=1e-9, abs=1e-9)
            assert (s.minimum[k], s.maximum[k]) == (v.min(), v.max())
        else:
            assert math.isnan(s.average[k])


@settings(deadline=None, max_examples=200)
@given(series(), st.integers(1, 1000), st.booleans(), st.sampled_from(["time", "event"]))
def test_summaries_over_a_split_interval_combine_to_the_whole(
    cols: QueryColumns, cut: int, stepped: bool, weighting: str
) -> None:
    whole = summaries_for_edges(cols, np.array([0, 1001]), stepped=stepped, weighting=weighting)
    parts = summaries_for_edges(
        cols, np.array([0, cut, 1001]), stepped=stepped, weighting=weighting
    )
    assume(whole.count[0] > 0)
    assert parts.count.sum() == whole.count[0]
    assert parts.duration_good.sum() == whole.duration_good[0]
    assert parts.duration_bad.sum() == whole.duration_bad[0]
    assert np.nanmin(parts.minimum) == whole.minimum[0]
    assert np.nanmax(parts.maximum) == whole.maximum[0]
    weights = parts.duration_good if weighting == "time" else parts.count
    ok = weights > 0
    combined = np.sum(parts.average[ok] * weights[ok]) / weights[ok].sum()
    assert combined == pytest.approx(whole.average[0], rel=1e-9, abs=1e-9)
    assert np.nansum(parts.total) == pytest.approx(whole.total[0], rel=1e-9, abs=1e-12)
    if weighting == "time":
        assert parts.start_value[0] == whole.start_value[0] or np.isnan(whole.start_value[0])
        assert np.array_equal(parts.end_value[-1:], whole.end_value, equal_nan=True)


@pytest.mark.parametrize(
    "target", ["docs/query/summaries.md", "historian.query.summary", "historian.query.chunkstats"]
)
def test_docs_page_and_docstring_examples_run(target: str) -> None:
    """The worked examples of docs/query/summaries.md and the module docstrings are checked."""
    if target.endswith(".md"):
        path = Path(__file__).resolve().parents[3] / target
        result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    else:
        result = doctest.testmod(importlib.import_module(target), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{target} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {target} failed"


@settings(deadline=None, max_examples=100)
@given(
    series(bad=False, max_points=120),
    st.lists(st.integers(0, 119), max_size=4),
    st.sampled_from([BAD, UNC]),
    st.lists(st.integers(1, 1000), max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_few_unusable_points_take_the_corrected_fast_path(
    cols: QueryColumns,
    bad_at: list[int],
    code: int,
    cuts: list[int],
    stepped: bool,
    strict: bool,
) -> None:
    """A long series with a handful of Bad/Uncertain points (the sparse-correction path)."""
    quality = cols.quality.copy()
    values = cols.values.copy()
    for i in bad_at:
        if i < len(cols):
            quality[i] = code
            values[i] = np.nan if code == BAD else values[i]
    cols = QueryColumns.from_arrays(cols.ts, values, quality)
    edges = _edges(cuts)
    s = summaries_for_edges(cols, edges, stepped=stepped, treat_uncertain_as_bad=strict)
    masked = cols if not strict else QueryColumns.from_arrays(
        cols.ts, cols.values, np.where(quality == UNC, BAD, quality)
    )  # fmt: skip
    for k, (a, b) in enumerate(itertools.pairwise(edges.tolist())):
        area, _, good, _, _ = ref_time_weighted(masked, a, b, stepped)
        assert s.duration_good[k] == good
        if good:
            assert s.average[k] == pytest.approx(area / good, rel=1e-9, abs=1e-9)


@settings(deadline=None, max_examples=100)
@given(series(max_points=60), st.lists(st.integers(1, 1000), max_size=5), st.booleans())
def test_cache_blocked_sums_equal_whole_array_sums(
    cols: QueryColumns, cuts: list[int], stepped: bool
) -> None:
    """Tiny blocks, so every range crosses block bounds: still the reference's answers."""
    edges = _edges(cuts)
    with mock.patch.object(signal, "BLOCK", 3):
        small = summaries_for_edges(cols, edges, stepped=stepped)
        small_ev = summaries_for_edges(cols, edges, stepped=stepped, weighting="event")
    whole_ev = summaries_for_edges(cols, edges, stepped=stepped, weighting="event")
    for name in ("minimum", "maximum", "min_time", "max_time"):
        np.testing.assert_array_equal(small_ev.column(name), whole_ev.column(name), err_msg=name)
    for k, (a, b) in enumerate(itertools.pairwise(edges.tolist())):
        area, sq, good, mn, mx = ref_time_weighted(cols, a, b, stepped)
        if good:
            assert (small.minimum[k], small.maximum[k]) == (pytest.approx(mn), pytest.approx(mx))
            avg = area / good
            assert small.average[k] == pytest.approx(avg, rel=1e-9, abs=1e-9)
            std = math.sqrt(max(sq / good - avg * avg, 0.0))
            assert small.std_population[k] == pytest.approx(std, rel=1e-6, abs=1e-6)


@settings(deadline=None, max_examples=100)
@given(series(max_points=40), st.integers(1, 999), st.integers(1, 999), st.booleans())
def test_boundary_points_inside_the_columns_equal_passing_them_apart(
    cols: QueryColumns, x: int, y: int, stepped: bool
) -> None:
    start, end = min(x, y), max(x, y) + 1
    i, j = np.searchsorted(cols.ts, [start, end])
    before = (
        Point(int(cols.ts[i - 1]), float(cols.values[i - 1]), int(cols.quality[i - 1]))
        if i
        else None
    )
    after = (
        Point(int(cols.ts[j]), float(cols.values[j]), int(cols.quality[j]))
        if j < len(cols)
        else None
    )
    apart = summaries(
        cols.take(slice(int(i), int(j))), start, end, 7, stepped=stepped, before=before, after=after
    )
    lo, hi = max(int(i) - 1, 0), min(int(j) + 1, len(cols))
    within = summaries(cols.take(slice(lo, hi)), start, end, 7, stepped=stepped)
    for name in ("average", "minimum", "max_time", "count", "duration_good", "start", "end"):
        np.testing.assert_array_equal(apart.column(name), within.column(name), err_msg=name)
    np.testing.assert_array_equal(apart.flags, within.flags)
