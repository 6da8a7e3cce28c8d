"""Per-point admission (accepted-time window, catalogue) and wall-clock retention.

Issue 11, defects 4 and 8: an out-of-window point or a point of an unknown series
is rejected on its own (the rest of its batch is stored), and retention never
follows the newest data: one point dated 2100 must not expire real data.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.ingest.admission import (
    REASON_TOO_NEW,
    REASON_TOO_OLD,
    REASON_UNKNOWN_SERIES,
    admit,
)
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch, SeriesIndex
from historian.options import ACCEPT_FUTURE_DEFAULT_NS, ACCEPT_PAST_DEFAULT_NS, Options

YEAR_2100_NS = 4_102_444_800 * NS


def _points(b: PointBatch) -> Counter[tuple[int, int, float, int]]:
    return Counter(
        zip(b.series.tolist(), b.ts.tolist(), b.values.tolist(), b.quality.tolist(), strict=True)
    )


@settings(max_examples=200, deadline=None)
@given(
    series=st.lists(st.integers(0, 20), min_size=0, max_size=60),
    data=st.data(),
    known=st.sets(st.integers(0, 20)),
    use_index=st.booleans(),
    past=st.one_of(st.none(), st.integers(0, 1_000)),
    future=st.one_of(st.none(), st.integers(0, 1_000)),
)
def test_admission_partitions_the_batch_by_the_rules(
    series: list[int],
    data: st.DataObject,
    known: set[int],
    use_index: bool,
    past: int | None,
    future: int | None,
) -> None:
    n = len(series)
    ts = data.draw(st.lists(st.integers(0, 4_000), min_size=n, max_size=n))
    b = PointBatch.from_arrays(series, ts, np.arange(n, dtype=np.float64))
    index = SeriesIndex({i: f"t{i}" for i in known}) if use_index else None
    opts = Options(series_index=index, past_window_ns=past, future_window_ns=future)
    now = 2_000
    a = admit(b, opts, now)
    lo, hi = opts.accepted_window(now)

    # every point is in exactly one part, values and order kept
    parts = [a.accepted, *(r.points for r in a.rejected)]
    assert sum((_points(p) for p in parts), Counter()) == _points(b)
    assert a.rejected_points == n - len(a.accepted)
    assert np.all(np.diff(a.accepted.values) > 0)  # values are the original positions
    # the accepted part obeys every rule; each rejection is for its stated reason
    ok_series = (
        index.contains(a.accepted.series) if index is not None else np.ones(len(a.accepted), bool)
    )
    assert ok_series.all() and np.all((a.accepted.ts >= lo) & (a.accepted.ts <= hi))
    for r in a.rejected:
        p = r.points
        assert len(p) > 0
        known_mask = index.contains(p.series) if index is not None else np.ones(len(p), bool)
        if r.reason == REASON_UNKNOWN_SERIES:
            assert not known_mask.any()
        elif r.reason == REASON_TOO_OLD:
            assert known_mask.all() and np.all(p.ts < lo)
        else:
            assert r.reason == REASON_TOO_NEW and known_mask.all() and np.all(p.ts > hi)
    if not a.rejected:
        assert a.accepted is b  # the common case copies nothing


def test_server_default_window_is_ten_years_back_one_day_ahead() -> None:
    opts = Options(past_window_ns=ACCEPT_PAST_DEFAULT_NS, future_window_ns=ACCEPT_FUTURE_DEFAULT_NS)
    now = time.time_ns()
    b = PointBatch.from_arrays(
        [1, 1, 1, 1, 1],
        [
            now - 11 * 365 * 86_400 * NS,  # 11 years ago
            now - 9 * 365 * 86_400 * NS,
            now,
            now + 23 * 3_600 * NS,
            YEAR_2100_NS,
        ],
        [0.0, 1.0, 2.0, 3.0, 4.0],
    )
    a = admit(b, opts, now)
    assert a.accepted.values.tolist() == [1.0, 2.0, 3.0]
    assert {r.reason: r.points.values.tolist() for r in a.rejected} == {
        REASON_TOO_OLD: [0.0],
        REASON_TOO_NEW: [4.0],
    }
