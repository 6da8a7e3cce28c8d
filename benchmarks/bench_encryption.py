"""Cost of encryption at rest: the same workload with and without a key, side by side.

Each round writes ``--points`` points in 1,000-point batches over ``--series``
series (one reading per series per second, decimal values like a plant's) with the
engine's defaults (fsync every 5 ms, background flush), then times

* **write**: ``write`` of every batch (WAL append, AES-GCM per record with a key);
* **settle**: ``compact()`` (flush to L0, then L0 -> L1 -> L2; every chunk, index and
  stats block sealed with a key);
* **read**: reopen, then read every series' whole range (every chunk authenticated and
  decrypted with a key);
* **replay**: the same batches written again into a fresh store and closed without a
  flush; time ``Historian.open`` (the WAL checked, then replayed: two decryptions per
  record with a key).

Plain and encrypted rounds alternate, ``--repeats`` times each; the medians are
compared as ratios (encrypted / plain: > 1 means slower, for bytes larger). On the
shared 2-core machine single figures swing +-30 %; read the ratios.

    python benchmarks/bench_encryption.py [--points 1000000] [--series 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from historian import Historian, Options, PointBatch
from historian.crypto import generate_key_file

T0_NS = 1_767_225_600 * 10**9  # 2026-01-01
BATCH = 1_000


def batches(points: int, series: int) -> list[PointBatch]:
    rng = np.random.default_rng(11)
    out = []
    for k in range(points // BATCH):
        idx = np.arange(k * BATCH, (k + 1) * BATCH)
        s = (idx % series + 1).astype(np.uint32)
        ts = T0_NS + (idx // series) * 10**9
        out.append(PointBatch.from_arrays(s, ts, np.round(20.0 + rng.normal(0, 0.5, BATCH), 2)))
    return out


def tree_bytes(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def one_round(work: str, data: list[PointBatch], series: int, key: str | None) -> dict[str, float]:
    opts = Options(encryption_key_file=key)
    points = sum(len(b) for b in data)
    root = tempfile.mkdtemp(dir=work)
    db = Historian.open(root, opts)
    t0 = time.perf_counter()
    for b in data:
        db.write(b)
    t1 = time.perf_counter()
    db.compact()
    t2 = time.perf_counter()
    db.close()
    seg_bytes = tree_bytes(root)
    db = Historian.open(root, opts)
    t3 = time.perf_counter()
    got = sum(len(db.read(s, 0, 2**62)[0]) for s in range(1, series + 1))
    t4 = time.perf_counter()
    db.close()
    assert got == points, (got, points)
    shutil.rmtree(root)

    root = tempfile.mkdtemp(dir=work)
    db = Historian.open(root, opts)
    for b in data:
        db.write(b)
    db.close()  # nothing flushed: all of it is in the WAL
    wal_bytes = tree_bytes(root)
    t5 = time.perf_counter()
    db = Historian.open(root, opts)
    t6 = time.perf_counter()
    db.close()
    shutil.rmtree(root)
    return {
        "write_pts_s": points / (t1 - t0),
        "settle_pts_s": points / (t2 - t1),
        "read_pts_s": points / (t4 - t3),
        "replay_pts_s": points / (t6 - t5),
        "segment_bytes": float(seg_bytes),
        "wal_bytes": float(wal_bytes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--series", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = batches(args.points, args.series)
    work = tempfile.mkdtemp(prefix="bench-encryption-")
    try:
        key = os.path.join(work, "store.key")
        generate_key_file(key)
        warm = data[: max(1, len(data) // 20)]  # numba kernels load in the first round
        one_round(work, warm, args.series, None)
        one_round(work, warm, args.series, key)
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "encrypted": []}
        for _ in range(args.repeats):
            runs["plain"].append(one_round(work, data, args.series, None))
            runs["encrypted"].append(one_round(work, data, args.series, key))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"bench_encryption: {args.points:,} points, {args.series:,} series, "
        f"1,000-point batches, medians of {args.repeats}"
    )
    print(f"{'metric':<14} {'plain':>14} {'encrypted':>14} {'enc/plain':>10}")
    for metric in runs["plain"][0]:
        p = statistics.median(r[metric] for r in runs["plain"])
        e = statistics.median(r[metric] for r in runs["encrypted"])
        print(f"{metric:<14} {p:>14,.0f} {e:>14,.0f} {e / p:>10.3f}")
    print("(throughput ratios < 1 are the slowdown; byte ratios > 1 the size overhead)")


if __name__ == "__main__":
    main()
