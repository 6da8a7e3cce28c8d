"""Summaries from index stats equal those from every decoded point, and a point-by-point
reference, whatever the overlap of sources, the interval edges and the qualities.

The index path is the engine's (``historian.query.index_answers`` over
``Snapshot.index_parts``, the semantics of ``historian.query.chunkstats``); the decoded
path is ``summaries_for_edges`` over the snapshot's merged columns."""

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
from historian.query.index_answers import summaries_from_index
from historian.query.snapshot import Snapshot
from historian.query.summary import Summaries, summaries_for_edges
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


TYPES = ["average", "minimum", "maximum", "count", "start", "end", "min_time", "max_time"]


def index_and_decoded(
    snap: Snapshot, series: int, e: np.ndarray, weighting: str
) -> tuple[Summaries, Summaries, int]:
    """(from the index, from every decoded point, chunks the index answered)."""
    before = snap.at_or_before(series, int(e[0]) - 1)
    after = snap.at_or_after(series, int(e[-1]))
    fast, rows = summaries_from_index(
        snap, series, e, stepped=True, weighting=weighting, before=before, after=after,
        types=TYPES,
    )  # fmt: skip
    cols = snap.read(series, int(e[0]), int(e[-1]))
    slow = summaries_for_edges(
        cols, e, stepped=True, weighting=weighting, before=before, after=after, types=TYPES
    )
    return fast, slow, rows


FIELDS = ("average", "minimum", "maximum", "count", "start_value", "end_value", "min_time",
          "max_time", "status")  # fmt: skip


def assert_same(fast: Summaries, slow: Summaries) -> None:
    for name in FIELDS:
        np.testing.assert_allclose(
            getattr(fast, name), getattr(slow, name), rtol=1e-12, err_msg=name
        )


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
    ev_fast, ev_slow, _ = index_and_decoded(snap, 1, e, "event")
    tw_fast, tw_slow, _ = index_and_decoded(snap, 1, e, "time")
    assert_same(ev_fast, ev_slow)
    assert_same(tw_fast, tw_slow)
    pts = merged([old, new, mem])
    for j in range(len(e) - 1):
        a, b = int(e[j]), int(e[j + 1])
        inside = [p for p in pts if a <= p[0] < b]
        good = [v for _, v, q in inside if q < 0x8000]
        assert ev_fast.count[j] == len(good)
        if good:
            assert ev_fast.minimum[j] == min(good) and ev_fast.maximum[j] == max(good)
            assert math.isclose(ev_fast.average[j], sum(good) / len(good), rel_tol=1e-9)
        want = reference_tw(pts, a, b, int(e[-1]))
        got = tw_fast.average[j]
        assert math.isnan(want) == math.isnan(got), (j, got, want)
        if not math.isnan(want):
            assert math.isclose(got, want, rel_tol=1e-9), (j, got, want)
