"""Ledger reconciliation speed: 10 M points, packed-key path vs lexsort path vs a Python set.

    python benchmarks/bench_accounting.py [--points 10000000]

Prints seconds (median of 3) and points/s for each path, and the ratio of the
vectorised paths to a plain-Python dict/set reconciliation measured in the same
run on a 1 M-point subset (extrapolated linearly, which flatters Python).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from harness.accounting import Ledger
from harness.load.synthetic import SyntheticSource
from historian.model import PointBatch

T0 = 1_767_225_600 * 1_000_000_000


def build(points: int, batch: int = 5_000, series: int = 10_000) -> tuple[Ledger, PointBatch]:
    src = SyntheticSource(np.arange(series), seed=1, start_ns=T0)
    ledger = Ledger()
    batches = []
    for i in range(points // batch):
        b = src.batch(i * 1_000_000, batch)
        ledger.record(i, b, "steady" if i % 10 else "burst")
        ledger.mark_acked(i)
        batches.append(b)
    stored = PointBatch.concat(batches).sorted()
    # damage it a little so every counter has work: drop 100, duplicate 100
    rng = np.random.default_rng(0)
    idx = np.arange(len(stored))
    idx = np.delete(idx, rng.choice(len(idx), 100, replace=False))
    idx = np.sort(np.concatenate([idx, rng.choice(idx, 100, replace=False)]))
    return ledger, stored.take(idx)


def python_reconcile(ledger: Ledger, stored: PointBatch) -> tuple[int, int]:
    es, et, ev, _phase, _acked = ledger._expected()
    expected = {(int(s), int(t)): v for s, t, v in zip(es, et, ev, strict=True)}
    seen: dict[tuple[int, int], int] = {}
    for s, t in zip(stored.series.tolist(), stored.ts.tolist(), strict=True):
        seen[(s, t)] = seen.get((s, t), 0) + 1
    lost = sum(1 for k in expected if k not in seen)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    return lost, dups


def timed(fn: object, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    args = ap.parse_args()
    ledger, stored = build(args.points)
    n = ledger.produced
    r = ledger.reconcile(stored)
    assert r.total.lost == 100 and r.total.duplicated == 100, r.total
    packed = timed(lambda: ledger.reconcile(stored))
    lexsort = timed(lambda: ledger.reconcile(stored, force_lexsort=True))
    small_ledger, small_stored = build(1_000_000)
    py = timed(lambda: python_reconcile(small_ledger, small_stored), repeat=1) * n / 1_000_000
    print(f"reconcile {n:,} points (100 lost, 100 duplicated), median of 3:")
    print(f"  packed int64 keys : {packed:6.2f} s  {n / packed / 1e6:6.1f} M points/s")
    print(f"  lexsort fallback  : {lexsort:6.2f} s  {n / lexsort / 1e6:6.1f} M points/s")
    print(f"  python dict/set   : {py:6.2f} s  (1 M measured, scaled)")
    print(f"  speed-up vs python: packed {py / packed:.1f}x, lexsort {py / lexsort:.1f}x")


if __name__ == "__main__":
    main()
