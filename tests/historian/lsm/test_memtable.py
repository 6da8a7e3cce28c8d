"""Memtable: columnar appends, grouping at flush, last-write-wins."""

from __future__ import annotations

import itertools

import numpy as np

from historian.lsm.memtable import Memtable
from historian.model import PointBatch


def test_sorted_groups_equal_sorted_points_and_keep_series_whole() -> None:
    rng = np.random.default_rng(3)
    m = Memtable(22 * 100_000, 1)
    for i in range(20):
        n = 2000
        m.add(
            i + 1,
            PointBatch.from_arrays(
                rng.integers(0, 300, n), rng.integers(0, 500, n), rng.normal(size=n)
            ),
        )
    whole = m.sorted_points()
    groups = list(m.sorted_groups(group_points=5000))
    assert len(groups) > 3
    joined = PointBatch.concat(groups)
    for col in ("series", "ts", "values", "quality"):
        assert np.array_equal(getattr(joined, col), getattr(whole, col))
    for a, b in itertools.pairwise(groups):
        assert a.series[-1] < b.series[0]  # a series never spans two groups
    assert m.last_seq == 20


def test_read_and_last_apply_last_write_wins() -> None:
    m = Memtable(1 << 20, 1)
    m.add(1, PointBatch.from_arrays([1, 1, 2], [10, 5, 10], [1.0, 2.0, 3.0]))
    m.add(2, PointBatch.from_arrays([1, 1], [10, 7], [9.0, 4.0]))
    ts, v, _ = m.read(1, 0, 100)
    assert ts.tolist() == [5, 7, 10] and v.tolist() == [2.0, 4.0, 9.0]
    assert m.last(1) == (10, 9.0, 0) and m.last(3) is None
    assert m.read(1, 6, 10)[0].tolist() == [7]
