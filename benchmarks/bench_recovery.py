"""Recovery speed: seconds per GiB of WAL replayed by ``Historian.open``.

Writes ``--mib`` MiB of WAL directly with the engine's ``WalWriter`` (1,000-point
batches over ``--series`` series, one reading per series per second, so the
data looks like a plant's; nothing flushed: the state after a crash of a store
whose memtables never reached disk), then times ``Historian.open`` on it with
the default options, ``--repeats`` times (a fresh copy each time, the page cache
warm: it measures the replay and flush CPU, not the disk). The open's own CPU
seconds are printed beside the wall time: on a shared machine the wall time
includes waiting for a core. Prints s/GiB of WAL,
points/s, and the open's phases from ``recovery_report``. The issue's target is
< 10 s/GiB; scale with ``--mib`` (the cost is linear in the WAL size above one
memtable, so 256 MiB predicts 1 GiB within noise, at a quarter of the time).

    python benchmarks/bench_recovery.py [--mib 256] [--series 10000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace

import numpy as np

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.fs import FileSystem
from historian.lsm import filenames
from historian.wal import WalWriter

POINTS_PER_BATCH = 1_000
T0_NS = 1_767_225_600 * 10**9  # 2026-01-01


def write_wal(root: str, mib: int, series: int) -> tuple[int, int]:
    """Fill ``root``'s WAL with ~``mib`` MiB; return (WAL bytes, points)."""
    fs = FileSystem()
    wal_dir = filenames.wal_dir(root)
    fs.makedirs(wal_dir)
    w = WalWriter(
        fs, wal_dir, filenames.wal_segment_name, FsyncPolicy.never(), 64 << 20, next_seq=1
    )
    rng = np.random.default_rng(7)
    ids = np.arange(1, series + 1, dtype=np.uint32)
    target, points, k = mib << 20, 0, 0
    written = 0
    while written < target:
        idx = np.arange(k * POINTS_PER_BATCH, (k + 1) * POINTS_PER_BATCH)
        s = ids[idx % series]
        ts = T0_NS + (idx // series) * 10**9
        v = np.round(20.0 + rng.normal(0, 0.5, POINTS_PER_BATCH), 2)
        w.append(PointBatch.from_arrays(s, ts, v))
        points += POINTS_PER_BATCH
        k += 1
        if k % 256 == 0:
            written = _wal_bytes(root)
    w.close()
    return _wal_bytes(root), points


def _wal_bytes(root: str) -> int:
    d = filenames.wal_dir(root)
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=256, help="WAL size to replay (MiB)")
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--recovery-mib", type=int, help="Options.recovery_memtable_bytes (default: the default)"
    )
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-recovery-")
    try:
        src = os.path.join(work, "src")
        wal_bytes, points = write_wal(src, args.mib, args.series)
        gib = wal_bytes / 2**30
        print(f"WAL: {wal_bytes / 2**20:.0f} MiB, {points:,} points over {args.series} series")
        opts = Options(fsync=FsyncPolicy.always())
        if args.recovery_mib:
            opts = replace(opts, recovery_memtable_bytes=args.recovery_mib << 20)
        times: list[float] = []
        cpus: list[float] = []
        for r in range(args.repeats):
            db_dir = os.path.join(work, f"db{r}")
            shutil.copytree(src, db_dir)
            t0, c0 = time.perf_counter(), time.process_time()
            db = Historian.open(db_dir, opts)
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            rep = db.recovery_report
            db.close()
            shutil.rmtree(db_dir)
            times.append(took)
            cpus.append(cpu)
            print(
                f"  open {r + 1}: {took:.2f} s = {took / gib:.2f} s/GiB "
                f"(CPU {cpu / gib:.2f} s/GiB), {points / took / 1e6:.2f} M points/s; "
                f"replayed {rep['replayed_records']:,} records; flushed at open "
                f"{rep.get('flushed_at_open_points', '?')} points, queued for the background "
                f"flush {rep.get('queued_for_flush_points', '?')}"
            )
        med, cpu_med = statistics.median(times), statistics.median(cpus)
        print(f"recovery: median {med:.2f} s for {gib:.3f} GiB = {med / gib:.2f} s/GiB wall, "
              f"{cpu_med / gib:.2f} s/GiB CPU (target < 10 s/GiB)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
