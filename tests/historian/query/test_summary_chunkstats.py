"""Summaries from per-chunk index statistics + decoded rest equal summaries over all points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.query.chunkstats import chunks_usable_in_intervals, summaries_from_chunk_stats
from historian.query.columns import QueryColumns
from historian.query.summary import SUMMARY_TYPES, Summaries, summaries_for_edges
from historian.sstable.stats import compute_chunk_stats
from tests.historian.query.test_interpolated import BAD, GOOD, UNC, series

FLOAT_TYPES = ["average", "minimum", "maximum", "range", "total", "start", "end", "delta"]


def split(cols: QueryColumns, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    bounds = sorted({0, len(cols), *(c % (len(cols) + 1) for c in cuts)})
    return np.array(bounds[:-1], np.int64), np.array(bounds[1:], np.int64)


def from_index(
    cols: QueryColumns, starts: np.ndarray, ends: np.ndarray, edges: np.ndarray, **kw: object
) -> tuple[Summaries, int]:
    rows = compute_chunk_stats(cols.ts, cols.values, cols.quality, starts, ends)
    use = chunks_usable_in_intervals(
        rows, edges, stepped=bool(kw["stepped"]),
        treat_uncertain_as_bad=bool(kw.get("treat_uncertain_as_bad", False)),
    )  # fmt: skip
    covered = np.zeros(len(cols), bool)
    for s, e in zip(starts[use], ends[use], strict=True):
        covered[s:e] = True
    rest = cols.take(np.flatnonzero(~covered))
    return summaries_from_chunk_stats(rows[use], rest, edges, **kw), int(use.sum())  # type: ignore[arg-type]


def assert_same(got: Summaries, want: Summaries, *, skip: set[str]) -> None:
    for name in SUMMARY_TYPES:
        if name in skip:
            continue
        g, w = got.column(name), want.column(name)
        if name in FLOAT_TYPES or name.startswith("std"):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
    np.testing.assert_array_equal(got.status, want.status)
    np.testing.assert_array_equal(got.flags, want.flags)


def test_hand_computed_row_in_the_middle() -> None:
    ts = np.arange(0, 100, 10, dtype=np.int64)
    cols = QueryColumns.from_arrays(ts, np.arange(10.0), [GOOD] * 4 + [UNC] + [GOOD] * 5)
    edges = np.array([0, 100], np.int64)
    got, used = from_index(cols, np.array([0, 2, 6]), np.array([2, 6, 10]), edges, stepped=False)
    assert used == 3
    want = summaries_for_edges(cols, edges, stepped=False)
    assert_same(got, want, skip={"std_population", "std_sample"})
    assert np.isnan(got.std_population).all()  # the record has no ∫ s² dt


def test_rows_that_cannot_stand_for_their_points_are_refused() -> None:
    ts = np.arange(0, 60, 10, dtype=np.int64)
    q = [GOOD, GOOD, BAD, GOOD, GOOD, BAD]
    cols = QueryColumns.from_arrays(ts, [1.0, 2, 3, 4, 5, 6], q)
    rows = compute_chunk_stats(
        cols.ts, cols.values, cols.quality, np.array([0, 3]), np.array([3, 6])
    )
    # linear: good->bad inside row 0; row 1 ends on a Bad point; stepped accepts row 0
    edges = np.array([0, 100], np.int64)
    assert chunks_usable_in_intervals(rows, edges, stepped=False).tolist() == [False, False]
    straddles = np.array([0, 15, 100], np.int64)
    assert not chunks_usable_in_intervals(rows, straddles, stepped=True)[0]


@settings(deadline=None, max_examples=200)
@given(
    series(max_points=40),
    st.lists(st.integers(0, 40), max_size=6),
    st.lists(st.integers(1, 1000), max_size=4),
    st.booleans(),
    st.sampled_from(["time", "event"]),
    st.booleans(),
)
def test_index_statistics_give_the_same_summaries(
    cols: QueryColumns, cuts: list[int], edge_cuts: list[int], stepped: bool, weighting: str,
    strict: bool,
) -> None:  # fmt: skip
    if len(cols) == 0:
        return
    starts, ends = split(cols, cuts)
    edges = np.array(sorted({0, 1001, *edge_cuts}), np.int64)
    kw = dict(stepped=stepped, weighting=weighting, treat_uncertain_as_bad=strict)
    got, used = from_index(cols, starts, ends, edges, **kw)
    want = summaries_for_edges(cols, edges, **kw)  # type: ignore[arg-type]
    skip = {"std_population", "std_sample"} if (weighting == "time" and used) else set()
    assert_same(got, want, skip=skip)
    if weighting == "event":
        np.testing.assert_allclose(got.std_population, want.std_population, rtol=1e-7, atol=1e-7)


def test_unknown_weighting_is_a_clear_error() -> None:
    cols = QueryColumns.from_arrays([1], [1.0])
    rows = compute_chunk_stats(cols.ts, cols.values, cols.quality, np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="weighting"):
        summaries_from_chunk_stats(rows, cols, np.array([0, 5]), stepped=False, weighting="x")


@settings(deadline=None, max_examples=150)
@given(
    series(max_points=60, bad=False),
    st.lists(st.integers(0, 60), max_size=8),
    st.lists(st.integers(1, 1000), max_size=4),
    st.booleans(),
)
def test_all_good_series_take_the_fast_path_with_row_overrides(
    cols: QueryColumns, cuts: list[int], edge_cuts: list[int], stepped: bool
) -> None:
    if len(cols) == 0:
        return
    starts, ends = split(cols, cuts)
    edges = np.array(sorted({0, 1001, *edge_cuts}), np.int64)
    got, used = from_index(cols, starts, ends, edges, stepped=stepped)
    want = summaries_for_edges(cols, edges, stepped=stepped)
    assert_same(got, want, skip={"std_population", "std_sample"} if used else set())
