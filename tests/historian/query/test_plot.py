"""Plot values: per pixel interval first, last, min, max and every non-Good value."""

from __future__ import annotations

import doctest
import importlib
import itertools
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.model import Point, severity_of
from historian.query import signal
from historian.query.columns import QueryColumns, ValueFlag
from historian.query.plot import pixel_edges, plot_values
from tests.historian.query.test_interpolated import BAD, UNC, series


def test_hand_computed_two_pixels() -> None:
    cols = QueryColumns.from_arrays(
        range(0, 100, 10), [3, 1, 4, 1, 5, 9, 2, 6, 5, 3], [0, 0, 0, 0, 0, 0, UNC, BAD, 0, 0]
    )
    p = plot_values(cols, 0, 100, 2)
    # [0, 50): first 0, min 1 @10 (first of the ties), max/last 5 @40
    # [50, 100): first/max 9 @50, uncertain 2 @60 (also the min), Bad 6 @70, last 3 @90
    assert p.ts.tolist() == [0, 10, 40, 50, 60, 70, 90]
    assert p.quality.tolist() == [0, 0, 0, 0, UNC, BAD, 0]


def test_boundaries_and_pixel_edges() -> None:
    cols = QueryColumns.from_arrays([10, 20], [1.0, 2.0])
    p = plot_values(cols, 5, 25, 1, before=Point(0, 7.0, 0), after=Point(30, 8.0, 0))
    assert p.ts.tolist() == [0, 10, 20, 30]
    assert p.flags.tolist() == [ValueFlag.BOUNDARY, 0, 0, ValueFlag.BOUNDARY]
    year_ns = 365 * 86_400 * 10**9
    e = pixel_edges(0, year_ns, 1000)  # span x intervals overflows int64: must not
    assert e[0] == 0 and e[-1] == year_ns and np.all(np.diff(e) > 0)
    with pytest.raises(ValueError, match="intervals"):
        plot_values(cols, 0, 10, 0)


@settings(deadline=None, max_examples=200)
@given(series(max_points=60), st.integers(1, 12))
def test_each_interval_keeps_first_last_min_max_and_non_good(
    cols: QueryColumns, intervals: int
) -> None:
    start, end = 0, 1001
    p = plot_values(cols, start, end, intervals)
    with mock.patch.object(signal, "BLOCK", 4):  # many blocks: the same answer
        small = plot_values(cols, start, end, intervals)
    np.testing.assert_array_equal(small.ts, p.ts)
    assert np.all(np.diff(p.ts) > 0), "time-ordered, de-duplicated"
    kept = set(p.ts.tolist())
    idx = np.searchsorted(cols.ts, p.ts)
    np.testing.assert_array_equal(cols.values[idx], p.values)  # each value with its own ts
    edges = pixel_edges(start, end, intervals)
    sev = severity_of(cols.quality)
    for a, b in itertools.pairwise(edges):
        sel = (cols.ts >= a) & (cols.ts < b)
        if not sel.any():
            continue
        ts, v = cols.ts[sel], cols.values[sel]
        assert {int(ts[0]), int(ts[-1])} <= kept
        good = sev[sel] < 2
        if good.any():
            plotted = p.values[(p.ts >= a) & (p.ts < b) & (severity_of(p.quality) < 2)]
            assert plotted.min() == v[good].min() and plotted.max() == v[good].max()
        assert set(ts[sev[sel] != 0].tolist()) <= kept
    assert len(p) <= 4 * intervals + int((sev != 0).sum())


@pytest.mark.parametrize("target", ["docs/query/plot.md", "historian.query.plot"])
def test_docs_page_and_docstring_examples_run(target: str) -> None:
    """The worked examples of docs/query/plot.md and the module docstrings are checked."""
    if target.endswith(".md"):
        path = Path(__file__).resolve().parents[3] / target
        result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    else:
        result = doctest.testmod(importlib.import_module(target), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{target} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {target} failed"
