"""Plot values and summaries from the segment index equal the decoded answers.

The store holds ~40 k points of one tag in L2 segment files (chunks of 4,096
carry index statistics), some Bad and Uncertain stretches, a Good sub-code, and
a few newer overwrites in the memtable, so every kind of row (usable, straddling
an edge, overlapped by a newer source, holding non-Good points) occurs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from historian import Historian, Options
from historian.catalogue import TagCatalogue, TagInfo
from historian.query.engine import QueryEngine

S = 1_000_000_000
N = 40_000
LINEAR = "plant.area.line.cell.unit.tank.level"
STEP = "plant.area.line.cell.unit.tank.mode"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryEngine]:
    path: Path = tmp_path_factory.mktemp("index") / "store"
    db = Historian.open(str(path), Options(background=False))
    rng = np.random.default_rng(7)
    t = np.arange(N, dtype=np.int64) * S
    for sid in (1, 2):
        v = np.cumsum(rng.normal(0, 1, N)).round(2)
        q = np.zeros(N, np.uint16)
        q[5_000:5_050] = 0x8000  # Bad inside a chunk
        q[12_000:12_010] = 0x4000  # Uncertain
        q[20_000] = 0x0096  # Good, local override
        v[30_000] = np.nan  # a NaN with Good quality
        for a in range(0, N, 10_000):
            db.write_arrays(
                np.full(10_000, sid), t[a : a + 10_000], v[a : a + 10_000], q[a : a + 10_000]
            )
    db.compact()
    db.write_arrays([1, 1, 2], [17_000 * S, 17_001 * S, 33_333 * S], [1e6, -1e6, 42.0])
    cat = TagCatalogue([TagInfo(id=1, name=LINEAR), TagInfo(id=2, name=STEP, stepped=True)])
    yield QueryEngine(db, cat)
    db.close()


ranges = st.tuples(st.integers(-100, N + 100), st.integers(1, N + 200), st.integers(1, 400)).map(
    lambda a: (a[0] * S + 123, (a[0] + a[1]) * S + 456, a[2])
)


def assert_same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(r=ranges, name=st.sampled_from([LINEAR, STEP]))
def test_plot_from_index_equals_decoded(
    engine: QueryEngine, r: tuple[int, int, int], name: str
) -> None:
    start, end, intervals = r
    fast = engine.plot(name, start, end, intervals, use_index=True)
    slow = engine.plot(name, start, end, intervals, use_index=False)
    assert_same(fast.ts, slow.ts, "ts")
    assert_same(fast.values, slow.values, "values")
    # severities agree everywhere; exact quality where the point was not rebuilt from a row
    assert_same(fast.quality >> 14, slow.quality >> 14, "severity")
    assert_same(fast.flags, slow.flags, "flags")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(r=ranges, name=st.sampled_from([LINEAR, STEP]), weighting=st.sampled_from(["time", "event"]))
def test_summaries_from_index_equal_decoded(
    engine: QueryEngine, r: tuple[int, int, int], name: str, weighting: str
) -> None:
    start, end, n = r
    interval = max(1, (end - start) // n)
    types = ["average", "minimum", "maximum", "range", "total", "count", "percent_good",
             "duration_good", "duration_bad", "start", "end", "delta"]  # fmt: skip
    fast = engine.summary(name, start, end, interval, types, weighting, use_index=True)
    slow = engine.summary(name, start, end, interval, types, weighting, use_index=False)
    for field in ("average", "minimum", "maximum", "range", "total", "count", "percent_good",
                  "duration_good", "duration_bad", "start_value", "end_value", "delta",
                  "min_time", "max_time", "status"):  # fmt: skip
        assert_same(getattr(fast, field), getattr(slow, field), field)


@pytest.mark.parametrize("name", [LINEAR, STEP])
@pytest.mark.parametrize("pieces", [1, 2, 3, 5])
def test_a_long_range_reads_index_rows_and_still_agrees(
    engine: QueryEngine, name: str, pieces: int
) -> None:
    start, end = -50 * S, (N + 50) * S
    fast = engine.plot(name, start, end, pieces, use_index=True)
    if pieces <= 3:  # with more pieces most chunks straddle an edge: one decode is cheaper
        assert engine.last_chunks_from_index >= 3  # ~10 chunks of 4,096 per series
    slow = engine.plot(name, start, end, pieces, use_index=False)
    assert_same(fast.ts, slow.ts, "ts")
    assert_same(fast.values, slow.values, "values")
    interval = (end - start) // pieces + 1
    fast_s = engine.summary(
        name, start, end, interval, ["average", "total", "count"], use_index=True
    )
    if pieces <= 3:
        assert engine.last_chunks_from_index >= 3
    slow_s = engine.summary(
        name, start, end, interval, ["average", "total", "count"], use_index=False
    )
    for field in ("average", "total", "count", "status"):
        assert_same(getattr(fast_s, field), getattr(slow_s, field), field)


def test_part13_through_the_engine_matches_the_pure_function(engine: QueryEngine) -> None:
    from historian.query.part13 import aggregate

    whole = engine.raw(LINEAR, -(2**62), 2**62)
    for name in ("TimeAverage", "Average", "Minimum", "Count", "PercentGood", "Interpolative"):
        got = engine.aggregate(LINEAR, name, 4_000 * S, 13_000 * S, 1_000 * S)
        want = aggregate(
            name, whole.ts, whole.values, whole.quality, 4_000 * S, 13_000 * S, 1_000 * S
        )
        assert_same(got.values, want.values, name)
        assert_same(got.status, want.status, name)
