"""``Historian.flush`` waits for the memtables of its call, not for an empty flush queue.

Under sustained overload writers queue a new memtable as fast as the flush thread
drains one, so "until the queue is empty" may never come. Here the flush thread
is held at a gate per memtable: the memtable the call switched out is flushed,
a memtable queued after the call stays held, and ``flush()`` must return anyway
(the old rule waited for the held one). The points written before the call are
in segment files when it returns; those written after are still queued.
"""

from __future__ import annotations

import threading

import numpy as np

from historian import Historian, Options
from historian.fs import FileSystem

S = 1_000_000_000
HOUR = 3_600 * S
T0 = 20_000 * 86_400 * S
DEADLINE_S = 30.0


class GatePerFlush(FileSystem):
    """The n-th memtable's flush (one segment each here) waits at its own gate."""

    def __init__(self) -> None:
        super().__init__()
        self.started = [threading.Event() for _ in range(2)]
        self.gates = [threading.Event() for _ in range(2)]
        self.flushes = 0

    def crash_point(self, name: str) -> None:
        if name == "flush.after_segment" and self.flushes < len(self.gates):
            n = self.flushes
            self.flushes += 1
            self.started[n].set()
            assert self.gates[n].wait(DEADLINE_S), "the test never opened the gate"


def points(start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = start + np.arange(n, dtype=np.int64) * S  # one bucket: one segment per flush
    return np.ones(n, np.uint32), ts, np.arange(n, dtype=np.float64)


def in_files(db: Historian) -> set[int]:
    return {f.min_ts for f in db.live_files()}


def test_flush_returns_once_its_own_memtables_are_flushed(tmp_path: object) -> None:
    fs = GatePerFlush()
    opts = Options(memtable_bytes=64 * 1024, bucket_ns=HOUR, max_immutable_memtables=4)
    db = Historian.open(str(tmp_path), opts, fs)
    caller: threading.Thread | None = None
    try:
        db.write_arrays(*points(T0, 100))  # the memtable the flush call switches out
        caller = threading.Thread(target=db.flush, name="flush-call")
        caller.start()
        assert fs.started[0].wait(DEADLINE_S), "the first flush never started"
        # written after the call, enough to fill a memtable: queued behind the first
        later = T0 + 2 * HOUR
        db.write_arrays(*points(later, 20_000))
        assert db.memtable_oldest_ns()[1] == T0  # two memtables queued now
        fs.gates[0].set()
        assert fs.started[1].wait(DEADLINE_S), "the second memtable's flush never started"
        caller.join(DEADLINE_S)
        assert not caller.is_alive(), "flush() waited for a memtable queued after the call"
        assert T0 in in_files(db)  # everything written before the call is in files
        assert later not in in_files(db)  # the held one is not (the flush did not wait)
        assert db.memtable_oldest_ns()[1] == later
    finally:
        for gate in fs.gates:
            gate.set()
        if caller is not None:
            caller.join(DEADLINE_S)
    db.flush()
    assert later in in_files(db)
    ts, values, _ = db.read(1, T0, later + 20_000 * S)
    assert len(ts) == 20_100
    np.testing.assert_array_equal(values[:100], np.arange(100))
    db.close()
