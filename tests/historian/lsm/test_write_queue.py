"""The immutable-memtable queue: writers never wait on a flush under the memory budget.

A real file system whose segment-file creation is held on a gate stands for a
slow flush (a loaded disk): the flush thread is stuck on the first immutable
memtable while the writer keeps filling new ones.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from historian import FsyncPolicy, Historian, Options, OverloadedError, PointBatch
from historian.fs import FileSystem, WritableFile

S = 1_000_000_000
POINTS_PER_MEMTABLE = 1_000


class GatedSegments(FileSystem):
    """Creating a segment file (.tbs) blocks until ``gate`` is set."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def create(self, path: str) -> WritableFile:
        if path.endswith(".tbs"):
            self.waiting.set()
            assert self.gate.wait(self.timeout_s), "test gate never opened"
        return super().create(path)


def batch(k: int) -> PointBatch:
    n = POINTS_PER_MEMTABLE
    return PointBatch.from_arrays(np.full(n, 1), (k * n + np.arange(n)) * S, np.full(n, float(k)))


def _opts(**kw: object) -> Options:
    return Options(
        fsync=FsyncPolicy.always(),
        memtable_bytes=22 * POINTS_PER_MEMTABLE,
        bucket_ns=10**6 * S,
        backpressure="error",  # a wait would raise at once instead of blocking
        **kw,  # type: ignore[arg-type]
    )


def test_writers_do_not_wait_while_a_flush_runs_under_the_budget(tmp_path: object) -> None:
    fs = GatedSegments()
    budget = 10 * 22 * POINTS_PER_MEMTABLE  # the count limit (4) binds first
    db = Historian.open(str(tmp_path), _opts(immutable_budget_bytes=budget), fs)
    try:
        db.write(batch(0))  # fills the first memtable: it goes to the flush thread
        assert fs.waiting.wait(10), "the flush never started"
        # the flush is stuck; three more memtables fill and queue behind it
        for k in range(1, 4):
            t0 = time.perf_counter()
            db.write(batch(k))
            assert time.perf_counter() - t0 < 5.0
        assert db.stats().memtable_points == 4 * POINTS_PER_MEMTABLE
        ts, v, _ = db.read(1, 0, 2**62)  # every queued memtable is read
        assert len(ts) == 4 * POINTS_PER_MEMTABLE
        assert np.array_equal(v, np.repeat(np.arange(4.0), POINTS_PER_MEMTABLE))
    finally:
        fs.gate.set()
    db.flush()
    assert db.stats().memtable_points == 0
    assert len(db.read(1, 0, 2**62)[0]) == 4 * POINTS_PER_MEMTABLE
    db.close()


def test_backpressure_once_the_budget_is_exhausted(tmp_path: object) -> None:
    fs = GatedSegments()
    budget = 2 * 22 * POINTS_PER_MEMTABLE
    db = Historian.open(str(tmp_path), _opts(immutable_budget_bytes=budget), fs)
    try:
        db.write(batch(0))
        assert fs.waiting.wait(10)
        db.write(batch(1))  # queued: 1 x 22 kB < budget 44 kB
        db.write(batch(2))  # queued: 2 memtables = the budget
        with pytest.raises(OverloadedError, match="waiting for flush"):
            db.write(batch(3))
    finally:
        fs.gate.set()
    db.flush()
    db.close()


def test_recovery_queues_replayed_memtables_for_the_background_flush(tmp_path: object) -> None:
    big = Options(fsync=FsyncPolicy.always(), memtable_bytes=1 << 30, bucket_ns=10**6 * S)
    db = Historian.open(str(tmp_path), big)
    for k in range(3):
        db.write(batch(k))
    db.close()  # nothing flushed: the WAL holds three small memtables' worth
    fs = GatedSegments(timeout_s=5.0)  # an open that flushes fails after 5 s
    budget = 10 * 22 * POINTS_PER_MEMTABLE
    db = Historian.open(str(tmp_path), _opts(immutable_budget_bytes=budget), fs)
    try:
        rep = db.recovery_report
        assert rep["flushed_at_open_points"] == 0
        assert rep["queued_for_flush_points"] == 2 * POINTS_PER_MEMTABLE  # + the active one
        _, v, _ = db.read(1, 0, 2**62)  # replayed points are read from the queue
        assert np.array_equal(v, np.repeat(np.arange(3.0), POINTS_PER_MEMTABLE))
        assert db.stats().flushed_seq == 0
    finally:
        fs.gate.set()
    db.flush()  # the background flush drains the queue; the WAL it covered goes
    assert db.stats().segment_points == 3 * POINTS_PER_MEMTABLE
    db.close()
