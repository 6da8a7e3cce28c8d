"""Aggregates from index stats equal those from every decoded point, and a point-by-point
reference, whatever the overlap of sources, the interval edges and the qualities."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.fs import FileSystem
from historian.lsm.memtable import Memtable
from historian.lsm.merge import sort_dedup
from historian.model import PointBatch
from historian.query.indexed import interval_summary
from historian.query.snapshot import Snapshot
from historian.sstable import SegmentReader, SegmentWriter

Pts = list[tuple[int, float, int]]


@st.composite
def layer(draw: st.DrawFn) -> Pts:
    n = draw(st.integers(0, 80))
    return [
        (
            draw(st.integers(0, 1000)),
            float(draw(st.integers(-100, 100))),
            draw(st.sampled_from([0, 0, 0, 0x4000, 0x8000])),
        )
        for _ in range(n)
    ]


def segment(points: Pts, chunk: int) -> SegmentReader:
    path = os.path.join(tempfile.mkdtemp(), "s.tbs")
    w = SegmentWriter(FileSystem(), path, "pco", chunk, stats_min_points=1)
    if points:
        w.add_batch(
            sort_dedup(PointBatch.from_arrays([1] * len(points), *zip(*points, strict=True)))
        )
    w.finish()
    return SegmentReader(FileSystem(), path)


def merged(layers: list[Pts]) -> list[tuple[int, float, int]]:
    out: dict[int, tuple[float, int]] = {}
    for pts in layers:
        for t, v, q in pts:
            out[t] = (v, q)
    return [(t, *out[t]) for t in sorted(out)]


def reference_tw(points: Pts, a: int, b: int, end: int) -> float:
    """Stepped time-weighted average of usable values over [a, b), the last held to ``end``."""
    num = den = 0.0
    for i, (t, v, q) in enumerate(points):
        nxt = points[i + 1][0] if i + 1 < len(points) else max(end, t)
        lo, hi = max(t, a), min(nxt, b)
        if hi > lo and q < 0x8000:
            num += v * (hi - lo)
            den += hi - lo
    return num / den if den else math.nan


@settings(max_examples=60, deadline=None)
@given(
    old=layer(),
    new=layer(),
    mem=layer(),
    chunk=st.integers(1, 12),
    edges=st.lists(st.integers(-10, 1010), min_size=2, max_size=12, unique=True),
)
def test_index_answers_equal_full_scan_and_reference(
    old: Pts, new: Pts, mem: Pts, chunk: int, edges: list[int]
) -> None:
    m = Memtable(1 << 20, 1)
    if mem:
        m.add(1, PointBatch.from_arrays([1] * len(mem), *zip(*mem, strict=True)))
    snap = Snapshot([segment(old, chunk), segment(new, chunk), m.view()])
    e = np.array(sorted(edges), np.int64)
    fast = interval_summary(snap, 1, e)
    slow = interval_summary(snap, 1, e, use_index=False)
    pts = merged([old, new, mem])
    for name in (
        "count",
        "n",
        "min",
        "max",
        "mean",
        "first_ts",
        "first_value",
        "last_ts",
        "last_value",
        "tw_avg",
    ):
        np.testing.assert_allclose(
            getattr(fast, name), getattr(slow, name), rtol=1e-12, err_msg=name
        )
    for j in range(len(e) - 1):
        a, b = int(e[j]), int(e[j + 1])
        inside = [p for p in pts if a <= p[0] < b]
        good = [v for _, v, q in inside if q < 0x8000]
        assert fast.count[j] == len(inside) and fast.n[j] == len(good)
        if good:
            assert fast.min[j] == min(good) and fast.max[j] == max(good)
            assert math.isclose(fast.mean[j], sum(good) / len(good), rel_tol=1e-12)
        if inside:
            assert (fast.first_ts[j], fast.last_ts[j]) == (inside[0][0], inside[-1][0])
            assert (fast.first_value[j], fast.last_value[j]) == (inside[0][1], inside[-1][1])
        want = reference_tw(pts, a, b, int(e[-1]))
        got = fast.tw_avg[j]
        assert (math.isnan(want) and math.isnan(got)) or math.isclose(got, want, rel_tol=1e-9), (
            j,
            got,
            want,
        )
