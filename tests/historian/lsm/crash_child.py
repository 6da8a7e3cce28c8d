"""Child process for crash tests: writes deterministic batches, prints each acked seq.

Usage: python crash_child.py DIR SEED FSYNC START [CRASH_POINT HITS]

Prints "<seq> <batch index>" after each acknowledged write, flushed at once, so
the parent knows exactly what was acknowledged when it kills this process.
"""

from __future__ import annotations

import sys

import numpy as np

from historian.fs import Faults, FaultyFileSystem, FileSystem
from historian.lsm.engine import Historian
from historian.model import PointBatch
from historian.options import FsyncPolicy, Options

BATCHES = 5000
S = 1_000_000_000


def crash_options(fsync: str) -> Options:
    return Options(
        fsync=FsyncPolicy.parse(fsync),
        memtable_bytes=22 * 1500,
        bucket_ns=40 * S,
        l0_compaction_trigger=2,
        chunk_max_points=64,
    )


def make_batch(seed: int, i: int) -> PointBatch:
    """Batch i: mostly in-order, some late points and duplicates; values unique per write."""
    rng = np.random.default_rng([seed, i])
    n = int(rng.integers(1, 120))
    series = rng.integers(0, 12, n)
    base = i * 2 * S
    late = rng.random(n) < 0.2
    ts = base + rng.integers(0, 4, n) * S
    ts[late] = rng.integers(0, base + 1, int(late.sum())) // S * S
    values = i * 10_000 + np.arange(n, dtype=np.float64)
    return PointBatch.from_arrays(series, ts, values, np.full(n, i % 3, np.uint16))


def main() -> None:
    root, seed, fsync, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    fs: FileSystem = FileSystem()
    if len(sys.argv) > 5:
        fs = FaultyFileSystem(
            Faults(crash_at=sys.argv[5], crash_after_hits=int(sys.argv[6]), crash_exits=True)
        )
    db = Historian.open(root, crash_options(fsync), fs)
    rng = np.random.default_rng([seed, start])
    for i in range(start, start + BATCHES):
        seq = db.write(make_batch(seed, i))
        print(seq, i, flush=True)
        r = rng.random()
        if r < 0.02:
            db.flush()
        elif r < 0.03:
            db.compact()
    db.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
