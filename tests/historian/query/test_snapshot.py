"""Historian.snapshot(): last-write-wins across memtable / L0 / L1 / L2 for every method,
one consistent moment under concurrent flush and compaction, paging exactly once."""

from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian import FsyncPolicy, Historian, Options, Point
from historian.sstable import SegmentCorruptError
from tests.historian.query.test_snapshot_index import assert_same, index_and_decoded

S = 1_000_000_000
MS = 1_000_000
Ref = dict[int, dict[int, tuple[float, int]]]


def opts(**kw: object) -> Options:
    base: dict[str, object] = {
        "fsync": FsyncPolicy.never(),
        "memtable_bytes": 64 << 20,
        "background": False,
        "bucket_ns": 100 * S,
    }
    base.update(kw)
    return Options(**base)  # type: ignore[arg-type]


def put(
    db: Historian, ref: Ref, series: int, ts: np.ndarray, values: np.ndarray, q: int = 0
) -> None:
    qual = np.full(len(ts), q, np.uint16)
    db.write_arrays(np.full(len(ts), series), ts, values, qual)
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        ref.setdefault(series, {})[t] = (v, q)


def layered(root: str) -> tuple[Historian, Ref]:
    """One bucket of data on every level: L2 (oldest), L1, L0 and the memtable (newest)."""
    ref: Ref = {}
    db = Historian.open(root, opts(l0_compaction_trigger=1))
    base = np.arange(3000, dtype=np.int64) * 10 * MS  # 0 .. 30 s: one 3,000-point chunk with stats
    put(db, ref, 1, base, np.sin(base / S))
    put(db, ref, 2, base, np.cos(base / S))
    db.compact()  # -> L2
    t2 = np.arange(500, 1500, dtype=np.int64) * 10 * MS
    put(db, ref, 1, t2, np.full(len(t2), 2.0), q=0x4000)
    db.flush()  # -> L0 -> L1 (trigger 1; the bucket is not settled, so no L2)
    db.close()
    db = Historian.open(root, opts(l0_compaction_trigger=100))
    t3 = np.arange(800, 1000, dtype=np.int64) * 10 * MS
    put(db, ref, 1, t3, np.full(len(t3), 3.0))
    put(db, ref, 2, np.array([50 * S]), np.array([30.0]))  # outside series 2's L2 chunk
    db.flush()  # -> L0
    put(db, ref, 1, np.array([900 * 10 * MS, 40 * S]), np.array([4.0, 4.5]), q=0x8000)
    levels = db.stats().levels
    assert [lv.files > 0 for lv in levels] == [True, True, True]
    assert db.stats().memtable_points == 2
    return db, ref


def ref_cols(ref: Ref, s: int, a: int, b: int) -> tuple[list[int], list[float], list[int]]:
    keys = [t for t in sorted(ref.get(s, {})) if a <= t < b]
    return keys, [ref[s][t][0] for t in keys], [ref[s][t][1] for t in keys]


def test_last_write_wins_across_memtable_l0_l1_l2_for_every_method(tmp_path: object) -> None:
    db, ref = layered(str(tmp_path))
    snap = db.snapshot()
    probes = [
        -1,
        0,
        4_999 * MS,
        5 * S,
        8 * S,
        9 * S,
        9 * S + 1,
        29_990 * MS,
        31 * S,
        40 * S,
        60 * S,
    ]
    for s in (1, 2, 3):
        keys = sorted(ref.get(s, {}))
        for a, b in [(0, 2**62), (5 * S, 15 * S), (9 * S, 9 * S + 1), (-5, 0), (30 * S, 41 * S)]:
            want = ref_cols(ref, s, a, b)
            got = snap.read(s, a, b)
            assert (got.ts.tolist(), got.values.tolist(), got.quality.tolist()) == want
            assert tuple(x.tolist() for x in db.read(s, a, b)) == want
        for t in probes:
            before = [k for k in keys if k <= t]
            after = [k for k in keys if k >= t]
            assert snap.at_or_before(s, t) == (
                Point(before[-1], *ref[s][before[-1]]) if before else None
            )
            assert snap.at_or_after(s, t) == (Point(after[0], *ref[s][after[0]]) if after else None)
        assert snap.last(s) == (Point(keys[-1], *ref[s][keys[-1]]) if keys else None)
        assert db.last(s) == snap.last(s)
        assert snap.first(s) == (Point(keys[0], *ref[s][keys[0]]) if keys else None)
    page = snap.read_many([1, 2], 0, 2**62)
    assert [c.ts.tolist() for c in page.columns] == [sorted(ref[1]), sorted(ref[2])]
    # aggregates from the index equal those from every decoded point, and the index was used
    edges = np.arange(0, 61, 10, dtype=np.int64) * S
    for s in (1, 2):
        fast, slow, _ = index_and_decoded(snap, s, edges, "event")
        assert_same(fast, slow)
        tw_fast, tw_slow, _ = index_and_decoded(snap, s, edges, "time")
        assert_same(tw_fast, tw_slow)
        _, vals, quals = ref_cols(ref, s, 0, 10 * S)
        good = [v for v, q in zip(vals, quals, strict=True) if q < 0x8000]
        assert fast.count[0] == len(good) and fast.average[0] == pytest.approx(np.mean(good))
    assert index_and_decoded(snap, 1, edges, "event")[2] == 0  # newer sources overlap it
    whole = np.array([0, 35 * S])
    assert index_and_decoded(snap, 2, whole, "event")[2] == 1  # series 2's L2 chunk
    db.close()


def test_snapshot_is_one_moment_under_concurrent_flush_and_compaction(tmp_path: object) -> None:
    db = Historian.open(
        str(tmp_path),
        Options(
            fsync=FsyncPolicy.always(),
            memtable_bytes=22 * 3000,
            bucket_ns=2 * S,
            l0_compaction_trigger=2,
        ),
    )
    per = 100  # points per series per batch; batch k holds value k at ts (k*per + i) * 1 ms
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        k = 0
        while not stop.is_set() and k < 400:
            ts = (k * per + np.arange(per, dtype=np.int64)) * MS
            db.write_arrays(np.repeat([1, 2], per), np.tile(ts, 2), np.full(2 * per, float(k)))
            k += 1
            written[0] = k
        stop.set()

    def check(snap_cols: tuple[np.ndarray, np.ndarray], other: np.ndarray) -> int:
        ts, v = snap_cols
        m, rem = divmod(len(ts), per)
        assert rem == 0, "a snapshot saw part of a batch"
        assert np.array_equal(ts, np.arange(m * per, dtype=np.int64) * MS)
        assert np.array_equal(v, np.repeat(np.arange(m, dtype=np.float64), per))
        assert np.array_equal(other, ts), "two series of one snapshot disagree"
        return m

    t = threading.Thread(target=writer)
    t.start()
    held = None
    seen = []
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        snap = db.snapshot()
        a, b = snap.read(1, 0, 2**62), snap.read(2, 0, 2**62)
        seen.append(check((a.ts, a.values), b.ts))
        if held is None and seen[-1] > 20:
            held, held_cols = snap, (a.ts.copy(), a.values.copy())
        if len(seen) % 5 == 0:
            db.compact()  # flush + L0 -> L1 -> L2 while snapshots are held
    t.join()
    assert written[0] == 400 and held is not None
    db.compact()
    assert db.stats().levels[0].files == 0  # the held snapshot's files are gone from the store
    again = held.read(1, 0, 2**62)  # ... and still readable through it
    assert np.array_equal(again.ts, held_cols[0]) and np.array_equal(again.values, held_cols[1])
    assert check((db.read(1, 0, 2**62)[0], db.read(1, 0, 2**62)[1]), db.read(2, 0, 2**62)[0]) == 400
    assert len(set(seen)) > 3, "the test never saw the store change under it"
    db.close()


@st.composite
def paged_query(draw: st.DrawFn) -> tuple[dict[int, list[int]], list[int], int, int, int]:
    data = {s: sorted(set(draw(st.lists(st.integers(0, 200), max_size=40)))) for s in (1, 2, 3, 4)}
    series = draw(st.lists(st.sampled_from([1, 2, 3, 4, 5]), min_size=1, max_size=5, unique=True))
    a = draw(st.integers(0, 100))
    b = draw(st.integers(a, 201))
    return data, series, a, b, draw(st.integers(1, 30))


@settings(max_examples=40, deadline=None)
@given(q=paged_query(), flushed=st.booleans())
def test_paging_returns_every_point_exactly_once(
    q: tuple[dict[int, list[int]], list[int], int, int, int], flushed: bool
) -> None:
    data, series, a, b, limit = q
    with tempfile.TemporaryDirectory() as root:
        db = Historian.open(root, opts(bucket_ns=50))
        for s, ts in data.items():
            if ts:
                db.write_arrays([s] * len(ts), ts, [float(s * 1000 + t) - 0.5 for t in ts])
        db.flush()  # one L0 file per 50 ns bucket
        for s, ts in data.items():  # overwrite every point: a newer source must win
            if ts:
                db.write_arrays([s] * len(ts), ts, [float(s * 1000 + t) for t in ts])
        if flushed:
            db.flush()
        got: list[tuple[int, int]] = []
        token = None
        pages = 0
        while True:
            page = db.snapshot().read_many(series, a, b, limit=limit, page_token=token)
            n = sum(len(c) for c in page.columns)
            assert n <= limit
            for c in page.columns:
                assert np.array_equal(c.values, c.series * 1000.0 + c.ts)
                got += [(c.series, t) for t in c.ts.tolist()]
            pages += 1
            token = page.next_token
            if token is None:
                break
            assert n == limit  # only the last page may be short
        want = [(s, t) for s in series for t in data.get(s, []) if a <= t < b]
        assert got == want
        assert pages <= len(want) // limit + 2
        with pytest.raises(ValueError, match="does not belong to this query"):
            db.snapshot().read_many(series, a, b + 1, page_token="p1.0.0.00000000")
        db.close()


def test_a_damaged_file_fails_only_the_queries_that_touch_it(tmp_path: object) -> None:
    root = str(tmp_path)
    db = Historian.open(root, opts())
    ts = np.arange(2000, dtype=np.int64) * 100 * MS  # 0 .. 200 s: two 100 s buckets
    db.write_arrays(np.ones(2000), ts, np.arange(2000.0))
    db.compact()
    files = sorted(f for f in os.listdir(root) if f.endswith(".tbs"))
    assert len(files) == 2
    db.close()
    with open(os.path.join(root, files[0]), "r+b") as fh:  # the 0 .. 100 s file
        fh.seek(-3, os.SEEK_END)
        fh.write(b"XXX")  # footer magic
    db = Historian.open(root, opts())
    snap = db.snapshot()
    assert len(snap.read(1, 100 * S, 200 * S)) == 1000
    assert snap.at_or_after(1, 100 * S) == Point(100 * S, 1000.0, 0)
    assert snap.last(1) == Point(1999 * 100 * MS, 1999.0, 0)
    with pytest.raises(SegmentCorruptError):  # index path: the damaged file is in range
        index_and_decoded(snap, 1, np.array([0, 200 * S]), "time")
    with pytest.raises(SegmentCorruptError):  # the value in force at 100 s is in it
        index_and_decoded(snap, 1, np.array([100 * S, 200 * S]), "time")
    with pytest.raises(SegmentCorruptError):
        snap.read(1, 50 * S, 60 * S)
    assert snap.read(1, 150 * S, 160 * S).values.tolist() == [float(i) for i in range(1500, 1600)]
    db.close()
