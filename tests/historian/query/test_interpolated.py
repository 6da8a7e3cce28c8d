"""Interpolated and at-time values: hand-computed cases, a per-point reference, properties.

This module also holds the series strategy and the slow per-point reference
model the other query-semantics tests compare against.
"""

from __future__ import annotations

import bisect
import doctest
import importlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.model import Point, Quality
from historian.query.columns import QueryColumns, ValueFlag
from historian.query.interpolated import interpolated_values, values_at_times

GOOD, UNC, BAD = int(Quality.GOOD), int(Quality.UNCERTAIN), int(Quality.BAD)
NO_DATA = int(Quality.BAD_NO_DATA)


@st.composite
def series(
    draw: st.DrawFn, max_points: int = 30, bad: bool = True, span: int = 1000
) -> QueryColumns:
    """A short series: unique ascending ns timestamps, dyadic values (exact sums), mixed quality."""
    ts = sorted(draw(st.sets(st.integers(0, span), max_size=max_points)))
    n = len(ts)
    values = draw(st.lists(st.integers(-800, 800), min_size=n, max_size=n))
    qualities = [GOOD, GOOD, GOOD, UNC, BAD, int(Quality.BAD_SENSOR_FAILURE)] if bad else [GOOD]
    quality = draw(st.lists(st.sampled_from(qualities), min_size=n, max_size=n))
    return QueryColumns.from_arrays(ts, np.array(values) / 8.0, quality)


def sev(q: int) -> int:
    return min(q >> 14, 2)


def usable(q: int, v: float, bad_from: int = 2) -> bool:
    return sev(q) < bad_from and math.isfinite(v)


def ref_value_at(cols: QueryColumns, t: int, stepped: bool) -> tuple[float, int, int]:
    """The documented rule, one point at a time: (value, quality, flag)."""
    ts, v, q = cols.ts.tolist(), cols.values.tolist(), cols.quality.tolist()
    j = bisect.bisect_right(ts, t) - 1
    if j < 0:
        return math.nan, NO_DATA, int(ValueFlag.NO_DATA)
    if ts[j] == t:
        return v[j], q[j], 0
    if j == len(ts) - 1:
        return v[j], q[j], int(ValueFlag.EXTRAPOLATED)
    if stepped or not (usable(q[j], v[j]) and usable(q[j + 1], v[j + 1])):
        return v[j], q[j], int(ValueFlag.INTERPOLATED)
    frac = (t - ts[j]) / (ts[j + 1] - ts[j])
    worse = q[j + 1] if sev(q[j + 1]) > sev(q[j]) else q[j]
    return v[j] + (v[j + 1] - v[j]) * frac, worse, int(ValueFlag.INTERPOLATED)


def test_linear_between_held_after_and_no_data_before() -> None:
    cols = QueryColumns.from_arrays([10, 20, 30], [1.0, 3.0, 2.0])
    r = values_at_times(cols, [5, 10, 15, 25, 30, 99], stepped=False)
    assert r.values[1:].tolist() == [1.0, 2.0, 2.5, 2.0, 2.0]
    assert math.isnan(r.values[0]) and r.quality[0] == NO_DATA
    assert r.flags.tolist() == [4, 0, 1, 1, 0, 2]


def test_stepped_holds_the_earlier_value() -> None:
    cols = QueryColumns.from_arrays([10, 20], [1.0, 3.0])
    assert values_at_times(cols, [10, 19, 20, 21], stepped=True).values.tolist() == [1, 1, 3, 3]


def test_interpolation_never_crosses_a_bad_value() -> None:
    # good 1.0 @10, Bad @20, good 5.0 @30: good holds up to the Bad point, Bad holds until 30
    cols = QueryColumns.from_arrays([10, 20, 30], [1.0, math.nan, 5.0], [GOOD, BAD, GOOD])
    r = values_at_times(cols, [15, 20, 25, 30], stepped=False)
    assert r.values[0] == 1.0 and r.quality[0] == GOOD
    assert r.quality[1:3].tolist() == [BAD, BAD] and np.isnan(r.values[1:3]).all()
    assert r.values[3] == 5.0 and r.quality[3] == GOOD


def test_uncertain_neighbour_makes_the_interpolated_value_uncertain() -> None:
    cols = QueryColumns.from_arrays([0, 10], [0.0, 10.0], [GOOD, UNC])
    r = values_at_times(cols, [4], stepped=False)
    assert r.values.tolist() == [4.0] and r.quality.tolist() == [UNC]


def test_boundary_points_from_the_read_seam_are_used_and_duplicates_dropped() -> None:
    cols = QueryColumns.from_arrays([10, 20], [1.0, 2.0])
    r = values_at_times(
        cols, [0, 25], stepped=False, before=Point(-10, 3.0, 0), after=Point(30, 3.0, 0)
    )
    assert r.values.tolist() == [2.0, 2.5] and r.flags.tolist() == [1, 1]
    same = values_at_times(cols, [10], stepped=False, before=Point(10, 1.0, 0))
    assert same.values.tolist() == [1.0]
    with pytest.raises(ValueError, match="before point"):
        values_at_times(cols, [10], stepped=False, before=Point(15, 1.0, 0))


def test_interval_grid_is_end_exclusive_and_reverses() -> None:
    cols = QueryColumns.from_arrays([0, 10], [0.0, 10.0])
    assert interpolated_values(cols, 0, 10, 5, stepped=False).ts.tolist() == [0, 5]
    r = interpolated_values(cols, 10, 0, 5, stepped=False)
    assert r.ts.tolist() == [10, 5] and r.values.tolist() == [10.0, 5.0]
    with pytest.raises(ValueError, match="interval"):
        interpolated_values(cols, 0, 10, 0, stepped=False)


def test_empty_series_is_no_data_everywhere() -> None:
    r = values_at_times(QueryColumns.empty(), [1, 2], stepped=False)
    assert r.quality.tolist() == [NO_DATA, NO_DATA] and np.isnan(r.values).all()


@settings(deadline=None, max_examples=200)
@given(series(), st.booleans())
def test_at_recorded_timestamps_returns_the_recorded_values(
    cols: QueryColumns, stepped: bool
) -> None:
    r = values_at_times(cols, cols.ts, stepped=stepped)
    np.testing.assert_array_equal(r.values, cols.values)
    np.testing.assert_array_equal(r.quality, cols.quality)
    assert not r.flags.any()


@settings(deadline=None, max_examples=200)
@given(series(), st.lists(st.integers(-50, 1100), max_size=20), st.booleans())
def test_matches_the_per_point_reference(
    cols: QueryColumns, times: list[int], stepped: bool
) -> None:
    r = values_at_times(cols, times, stepped=stepped)
    for i, t in enumerate(times):
        v, q, f = ref_value_at(cols, t, stepped)
        assert (r.quality[i], r.flags[i]) == (q, f)
        assert r.values[i] == pytest.approx(v, rel=1e-12, abs=1e-12, nan_ok=True)


@settings(deadline=None, max_examples=100)
@given(series(bad=False), st.integers(0, 1000))
def test_linear_value_lies_between_its_neighbours(cols: QueryColumns, t: int) -> None:
    r = values_at_times(cols, [t], stepped=False)
    j = int(np.searchsorted(cols.ts, t, "right")) - 1
    if 0 <= j < len(cols) - 1:
        lo, hi = sorted((cols.values[j], cols.values[j + 1]))
        assert lo <= r.values[0] <= hi


@pytest.mark.parametrize("target", ["docs/query/interpolated.md", "historian.query.interpolated"])
def test_docs_page_and_docstring_examples_run(target: str) -> None:
    """The worked examples of docs/query/interpolated.md and the module docstrings are checked."""
    if target.endswith(".md"):
        path = Path(__file__).resolve().parents[3] / target
        result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    else:
        result = doctest.testmod(importlib.import_module(target), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{target} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {target} failed"
