"""Recorded values: boundary types, reverse order, max_count and page tokens."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.model import Point
from historian.query.columns import QueryColumns, ValueFlag
from historian.query.recorded import (
    InvalidPageTokenError,
    PageCursor,
    decode_page_token,
    encode_page_token,
    page_start,
    recorded_values,
)
from tests.historian.query.test_interpolated import series

COLS = QueryColumns.from_arrays([10, 20, 30, 40], [1.0, 2.0, 3.0, 4.0])


def window(cols: QueryColumns, lo: int, hi: int) -> QueryColumns:
    """What the read seam returns for [lo, hi)."""
    i, j = np.searchsorted(cols.ts, [lo, hi])
    return cols.take(slice(int(i), int(j)))


def bounds(cols: QueryColumns, lo: int, hi: int) -> tuple[Point | None, Point | None]:
    """The seam's last point before lo and first point at or after hi."""
    i, j = np.searchsorted(cols.ts, [lo, hi])
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
    return before, after


def test_inside_is_start_inclusive_end_exclusive() -> None:
    assert recorded_values(COLS, 20, 40).columns.ts.tolist() == [20, 30]


def test_outside_adds_the_points_just_outside() -> None:
    b, a = bounds(COLS, 15, 40)
    r = recorded_values(window(COLS, 15, 40), 15, 40, boundary="outside", before=b, after=a)
    assert r.columns.ts.tolist() == [10, 20, 30, 40]
    assert r.columns.flags.tolist() == [ValueFlag.BOUNDARY, 0, 0, ValueFlag.BOUNDARY]
    # a point exactly on start is itself the boundary: no earlier point is added
    b, a = bounds(COLS, 20, 30)
    r = recorded_values(window(COLS, 20, 30), 20, 30, boundary="outside", before=b, after=a)
    assert r.columns.ts.tolist() == [20, 30]


def test_interpolated_boundaries_synthesise_a_value_at_each_end() -> None:
    b, a = bounds(COLS, 15, 35)
    r = recorded_values(window(COLS, 15, 35), 15, 35, boundary="interpolated", before=b, after=a)
    assert r.columns.ts.tolist() == [15, 20, 30, 35]
    assert r.columns.values.tolist() == [1.5, 2.0, 3.0, 3.5]
    assert r.columns.flags.tolist() == [1, 0, 0, 1]
    stepped = recorded_values(
        window(COLS, 15, 35), 15, 35, boundary="interpolated", before=b, after=a, stepped=True
    )
    assert stepped.columns.values.tolist() == [1.0, 2.0, 3.0, 3.0]


def test_reverse_order_reads_end_exclusive_start_inclusive_newest_first() -> None:
    r = recorded_values(window(COLS, 21, 41), 40, 20)
    assert r.columns.ts.tolist() == [40, 30]
    b, a = bounds(COLS, 21, 41)
    o = recorded_values(window(COLS, 21, 41), 40, 20, boundary="outside", before=b, after=a)
    assert o.columns.ts.tolist() == [40, 30, 20]


def test_max_count_and_errors() -> None:
    r = recorded_values(COLS, 0, 100, max_count=3)
    assert r.columns.ts.tolist() == [10, 20, 30] and r.next_page_token
    assert recorded_values(COLS, 0, 100, max_count=4).next_page_token is None
    with pytest.raises(ValueError, match="max_count"):
        recorded_values(COLS, 0, 100, max_count=0)
    with pytest.raises(ValueError, match="boundary"):
        recorded_values(COLS, 0, 100, boundary="sideways")


def test_page_tokens_round_trip_and_reject_garbage() -> None:
    for cursor in (PageCursor(-5, True), PageCursor(2**62, False)):
        assert decode_page_token(encode_page_token(cursor)) == cursor
    for bad in ("", "rv1", "rv1!!!!", "xyz" + encode_page_token(PageCursor(1, True))[3:]):
        with pytest.raises(InvalidPageTokenError, match="not valid"):
            decode_page_token(bad)
    forward = encode_page_token(PageCursor(20, True))
    assert page_start(0, 100, forward) == 21
    with pytest.raises(InvalidPageTokenError, match="opposite direction"):
        page_start(100, 0, forward)


@settings(deadline=None, max_examples=150)
@given(
    series(max_points=25),
    st.integers(-10, 1010),
    st.integers(-10, 1010),
    st.sampled_from(["inside", "outside", "interpolated"]),
    st.integers(1, 6),
)
def test_pages_concatenate_to_the_unpaged_answer(
    cols: QueryColumns, start: int, end: int, boundary: str, max_count: int
) -> None:
    lo, hi = (start, end) if start <= end else (end + 1, start + 1)
    b, a = bounds(cols, lo, hi)
    whole = recorded_values(window(cols, lo, hi), start, end, boundary=boundary, before=b, after=a)
    assert whole.next_page_token is None
    step = 1 if start <= end else -1
    if len(whole.columns) > 1:
        assert np.all(np.diff(whole.columns.ts) * step > 0)
    got: list[int] = []
    token = None
    for _ in range(100):
        p = recorded_values(
            window(cols, lo, hi), start, end, boundary=boundary, before=b, after=a,
            max_count=max_count, page_token=token,
        )  # fmt: skip
        assert len(p.columns) <= max_count
        got += p.columns.ts.tolist()
        token = p.next_page_token
        if token is None:
            break
    assert got == whole.columns.ts.tolist()


@pytest.mark.parametrize(
    "target", ["docs/query/recorded.md", "historian.query.recorded", "historian.query.columns"]
)
def test_docs_page_and_docstring_examples_run(target: str) -> None:
    """The worked examples of docs/query/recorded.md and the module docstrings are checked."""
    if target.endswith(".md"):
        path = Path(__file__).resolve().parents[3] / target
        result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    else:
        result = doctest.testmod(importlib.import_module(target), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{target} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {target} failed"
