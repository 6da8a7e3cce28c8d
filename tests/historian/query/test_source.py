"""The SeriesSource contract, held by the segment reader and the memtable view alike.

Both are fed the same writes (the memtable in arrival order with duplicates,
the segment the deduplicated result) and must give the answers a
point-by-point last-write-wins reference gives.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.fs import FileSystem
from historian.lsm.memtable import Memtable
from historian.lsm.merge import sort_dedup
from historian.model import Point, PointBatch
from historian.query.source import SeriesSource
from historian.sstable import SegmentReader, SegmentWriter

Writes = list[tuple[int, int, float, int]]


@st.composite
def writes(draw: st.DrawFn) -> Writes:
    n = draw(st.integers(0, 120))
    return [
        (
            draw(st.sampled_from([1, 2, 9])),
            draw(st.integers(-50, 50)),
            float(draw(st.integers(-1000, 1000))),
            draw(st.sampled_from([0, 0x4000, 0x8000])),
        )
        for _ in range(n)
    ]


def reference(ws: Writes) -> dict[int, dict[int, tuple[float, int]]]:
    ref: dict[int, dict[int, tuple[float, int]]] = {}
    for s, t, v, q in ws:
        ref.setdefault(s, {})[t] = (v, q)  # later write wins
    return ref


def sources(ws: Writes, chunk: int) -> list[SeriesSource]:
    batch = PointBatch.from_arrays(
        [w[0] for w in ws], [w[1] for w in ws], [w[2] for w in ws], [w[3] for w in ws]
    )
    mem = Memtable(1 << 20, 1)
    mem.add(1, batch)
    path = os.path.join(tempfile.mkdtemp(), "s.tbs")
    w = SegmentWriter(FileSystem(), path, "pco", chunk, stats_min_points=1)
    w.add_batch(sort_dedup(batch))
    w.finish()
    return [mem.view(), SegmentReader(FileSystem(), path)]


@settings(max_examples=80, deadline=None)
@given(ws=writes(), chunk=st.integers(1, 20), a=st.integers(-60, 60), b=st.integers(-60, 60))
def test_sources_answer_like_the_reference(ws: Writes, chunk: int, a: int, b: int) -> None:
    ref = reference(ws)
    for src in sources(ws, chunk):
        assert isinstance(src, SeriesSource)
        every = [t for pts in ref.values() for t in pts]
        assert src.time_range() == ((min(every), max(every)) if every else None)
        for s in (1, 2, 9, 4):
            pts = ref.get(s, {})
            keys = sorted(pts)
            assert src.series_time_range(s) == ((keys[0], keys[-1]) if keys else None)
            # bounds: start inclusive, end exclusive
            inside = [t for t in keys if a <= t < b]
            ts, v, q = src.read(s, a, b)
            assert ts.tolist() == inside
            assert v.tolist() == [pts[t][0] for t in inside]
            assert q.tolist() == [pts[t][1] for t in inside]
            lim = src.read(s, a, b, limit=3)[0]
            assert lim.tolist() == inside[:3]
            before = [t for t in keys if t <= a]
            after = [t for t in keys if t >= a]
            want_b = Point(before[-1], *pts[before[-1]]) if before else None
            want_a = Point(after[0], *pts[after[0]]) if after else None
            assert src.at_or_before(s, a) == want_b
            assert src.at_or_after(s, a) == want_a
            rows = src.chunk_stats(s, a, b)
            # rows meet the range, are in time order and do not overlap
            assert bool(np.all(rows["max_ts"] >= a)) and bool(np.all(rows["min_ts"] < b))
            assert bool(np.all(rows["min_ts"][1:] > rows["max_ts"][:-1]))
            assert int(rows["count"].sum()) >= len(inside)
