"""QueryEngine over a real store: answers are the same wherever the points live.

Each test spreads one series over an L2 segment file, an L0 file and the
memtable (with an overwrite across sources), then checks every query family
against the pure semantics functions applied to the whole series read at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from historian import Historian, Options
from historian.catalogue import TagCatalogue, TagInfo
from historian.query.columns import BoundaryPoint
from historian.query.engine import QueryEngine, QueryLimitError, UnknownTagError
from historian.query.interpolated import values_at_times
from historian.query.recorded import recorded_values
from historian.query.summary import summaries

TAG = "plant.area.line.cell.unit.pump.speed"
STATE = "plant.area.line.cell.unit.pump.running"
S = 1_000_000_000


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[QueryEngine]:
    db = Historian.open(str(tmp_path / "store"), Options(background=False))
    cat = TagCatalogue(
        [
            TagInfo(id=7, name=TAG, unit="rpm", low=0.0, high=3000.0),
            TagInfo(id=8, name=STATE, dtype="bool"),
        ]
    )
    t = np.arange(0, 300, dtype=np.int64) * S
    v = np.sin(np.arange(300) / 17.0) * 100 + 1500
    q = np.zeros(300, np.uint16)
    q[40:45] = 0x8000  # a Bad stretch
    db.write_arrays(np.full(100, 7), t[:100], v[:100], q[:100])
    db.write_arrays(np.full(3, 8), [0, 50 * S, 120 * S], [0.0, 1.0, 0.0])
    db.compact()  # -> L2
    db.write_arrays(np.full(100, 7), t[100:200], v[100:200], q[100:200])
    db.flush()  # -> L0
    db.write_arrays(np.full(100, 7), t[200:], v[200:], q[200:])  # memtable
    db.write_arrays([7], [150 * S], [-1.0])  # overwrite of an L0 point from the memtable
    yield QueryEngine(db, cat)
    db.close()


def whole(engine: QueryEngine, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = engine.raw(name, -(2**62), 2**62)
    return cols.ts, cols.values, cols.quality


class Cols:
    def __init__(self, ts: np.ndarray, values: np.ndarray, quality: np.ndarray) -> None:
        self.ts, self.values, self.quality = ts, values, quality


def neighbours(
    ts: np.ndarray, v: np.ndarray, q: np.ndarray, lo: int, hi: int
) -> tuple[BoundaryPoint | None, BoundaryPoint | None]:
    """The last point before ``lo`` and the first at or after ``hi``, from whole columns."""
    i = int(np.searchsorted(ts, lo)) - 1
    j = int(np.searchsorted(ts, hi))
    before = BoundaryPoint(int(ts[i]), float(v[i]), int(q[i])) if i >= 0 else None
    after = BoundaryPoint(int(ts[j]), float(v[j]), int(q[j])) if j < len(ts) else None
    return before, after


def test_last_write_wins_across_sources(engine: QueryEngine) -> None:
    ts, v, _ = whole(engine, TAG)
    assert len(ts) == 300 and bool(np.all(np.diff(ts) > 0))
    assert v[150] == -1.0
    assert engine.last(TAG).ts.tolist() == [299 * S]


@pytest.mark.parametrize("boundary", ["inside", "outside", "interpolated"])
@pytest.mark.parametrize(("a", "b"), [(95, 205), (205, 95), (10, 11), (150, 151)])
def test_recorded_matches_the_pure_function_on_the_whole_series(
    engine: QueryEngine, boundary: str, a: int, b: int
) -> None:
    start, end = a * S + S // 2, b * S + S // 2
    got = engine.recorded(TAG, start, end, boundary=boundary).columns
    ts, v, q = whole(engine, TAG)
    lo, hi = (start, end) if start <= end else (end + 1, start + 1)
    before, after = neighbours(ts, v, q, lo, hi)
    want = recorded_values(
        Cols(ts, v, q), start, end, boundary=boundary, before=before, after=after
    ).columns
    for col in ("ts", "values", "quality", "flags"):
        np.testing.assert_array_equal(getattr(got, col), getattr(want, col), err_msg=col)


@pytest.mark.parametrize("boundary", ["inside", "outside"])
def test_paging_returns_every_point_once_in_order(engine: QueryEngine, boundary: str) -> None:
    pages, token = [], None
    while True:
        page = engine.recorded(TAG, 0, 300 * S, boundary=boundary, max_count=37, page_token=token)
        assert len(page.columns) <= 37
        pages.append(page.columns.ts)
        token = page.next_page_token
        if token is None:
            break
    ts = np.concatenate(pages)
    np.testing.assert_array_equal(ts, np.arange(300, dtype=np.int64) * S)


def test_interpolated_and_at_times_across_sources(engine: QueryEngine) -> None:
    times = np.array([-5 * S, 0, S // 2, 99 * S + S // 3, 150 * S, 250 * S + 1, 400 * S])
    got = engine.at_times(TAG, times)
    want = values_at_times(Cols(*whole(engine, TAG)), times, stepped=False)
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.flags, want.flags)
    assert np.isnan(got.values[0])  # before the first value: no data
    # the state tag is stepped (bool): the value holds, never a ramp
    st = engine.interpolated(STATE, 40 * S, 60 * S, 5 * S)
    assert st.values.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_summary_matches_the_pure_function(engine: QueryEngine) -> None:
    got = engine.summary(TAG, 30 * S, 270 * S, 60 * S, weighting="time")
    ts, v, q = whole(engine, TAG)
    inside = (ts >= 30 * S) & (ts < 270 * S)
    before, after = neighbours(ts, v, q, 30 * S, 270 * S)
    want = summaries(
        Cols(ts[inside], v[inside], q[inside]), 30 * S, 270 * S, 60 * S,
        stepped=False, before=before, after=after,
    )  # fmt: skip
    np.testing.assert_allclose(got.average, want.average)
    np.testing.assert_array_equal(got.count, want.count)
    assert got.percent_good[0] < 100.0  # the Bad stretch at 40..44 s is in the first interval


def test_unknown_tag_names_close_matches(engine: QueryEngine) -> None:
    with pytest.raises(UnknownTagError) as info:
        engine.recorded(TAG.replace("speed", "sped"), 0, S)
    assert info.value.close_matches[0] == TAG


def test_raw_reads_are_limited(engine: QueryEngine) -> None:
    engine.max_points = 50
    with pytest.raises(QueryLimitError, match="more than 50 points"):
        engine.recorded(TAG, 0, 300 * S)
    # a page that fits is fine, however long the range
    assert len(engine.recorded(TAG, 0, 300 * S, max_count=20).columns) == 20
