"""What an export round costs the ingest: writer latency p99 with and without a round.

A writer thread writes fixed batches at a fixed rate into a background store (as
the ingest does) and times each from its scheduled start to its return; a probe
thread sleeps 1 ms in a loop and records how late it wakes (the longest stretch
some other thread held the GIL or the CPU). Phases, each in the same run:

- ``baseline``: the writer alone;
- ``in-process``: an export round (merge, Parquet encode, upload, verify) on a
  thread of this process, as the server ran it before ``historian.tier.worker``;
- ``child nice``: the round's heavy half in the export child at nice 10;
- ``child idle``: the same child under SCHED_IDLE too (``ExportWorker(idle=True)``,
  what ``serve --tier`` uses when ``Options.compaction_idle``);
- ``baseline again``: the writer alone, for drift.

Printed per phase: writer p50/p99/max (ms), p99 ratio to the baseline, the probe's
longest late wake-up (ms), the round's wall seconds, this process's CPU seconds
over the phase (writer and probe included: compare with the baseline's) and the
child's CPU seconds during the round. Each export phase re-seeds the same old data first (untimed).

    nice -n 19 python benchmarks/bench_tier_ingest.py [--points 1000000] [--rate 25000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from harness.services import S3Server
from historian import Historian, Options
from historian.tier import ColdTier, TierConfig
from historian.tier.worker import ExportWorker

S = 1_000_000_000
HOUR = 3_600 * S
SERIES = 200
BATCH = 250


def child_cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(db: Historian, points: int, now: int) -> None:
    """``points`` old points (3 days back, one a second per series): what a round exports."""
    per = points // SERIES
    ts = now - 3 * 86_400 * S + np.arange(per, dtype=np.int64) * S
    rng = np.random.default_rng(7)
    for sid in range(1, SERIES + 1):
        v = np.round(50 + np.cumsum(rng.normal(0, 0.2, per)), 2)
        db.write_arrays(np.full(per, sid, np.uint32), ts, v)
    db.compact()


class Load:
    """The fixed-rate writer and the wake-up probe of one phase."""

    def __init__(self, db: Historian, rate: int) -> None:
        self.db, self.period = db, BATCH / rate
        self.lat: list[float] = []
        self.late_max = 0.0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, name="writer"),
            threading.Thread(target=self._probe, name="probe"),
        ]

    def _write(self) -> None:
        series = np.arange(1, BATCH + 1, dtype=np.uint32) % SERIES + 1
        start, i = time.perf_counter(), 0
        while not self._stop.is_set():
            due = start + i * self.period
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            ts = np.full(BATCH, time.time_ns(), np.int64) + np.arange(BATCH)
            self.db.write_arrays(series, ts, np.ones(BATCH))
            self.lat.append(time.perf_counter() - due)
            i += 1

    def _probe(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            time.sleep(0.001)
            self.late_max = max(self.late_max, time.perf_counter() - t - 0.001)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def phase(db: Historian, rate: int, seconds: float, tier: ColdTier | None) -> dict[str, float]:
    cpu = {"round_s": 0.0, "child": 0.0}
    here0 = time.process_time()
    with Load(db, rate) as load:
        if tier is None:
            time.sleep(seconds)
        else:
            pid = tier.worker.pid() if isinstance(tier.worker, ExportWorker) else None
            c0 = child_cpu_s(pid)

            def round_() -> None:
                rep = tier.export_due()
                cpu["round_s"] = rep.seconds
                cpu["points"] = rep.points

            t = threading.Thread(target=round_, name="export-round")
            began = time.monotonic()
            t.start()
            t.join()
            cpu["child"] = child_cpu_s(pid) - c0
            time.sleep(max(0.0, seconds - (time.monotonic() - began)))
    cpu["here"] = time.process_time() - here0  # writer, probe, round (pyarrow's threads too)
    lat = np.array(load.lat) * 1e3
    return {
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
        "late": load.late_max * 1e3,
        **cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="points one round exports")
    ap.add_argument("--rate", type=int, default=25_000, help="writer points/s")
    ap.add_argument("--seconds", type=float, default=6.0, help="shortest phase")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tier-ingest-"))
    s3 = S3Server(work / "s3")
    s3.start()
    try:
        s3.create_bucket("bench")
        cfg = TierConfig(
            endpoint=s3.endpoint,
            bucket="bench",
            prefix="b",
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            region=s3.region,
            hot_window_ns=86_400 * S,
        )
        db = Historian.open(str(work / "db"), Options(bucket_ns=HOUR))
        rows: dict[str, dict[str, float]] = {}
        rows["baseline"] = phase(db, args.rate, args.seconds, None)
        for label, idle in (("in-process", None), ("child nice", False), ("child idle", True)):
            worker = None if idle is None else ExportWorker(db.directory, cfg, idle=idle)
            if worker is not None:
                worker.start()  # spawn and import before the timed phase
            tier = ColdTier(db, cfg, worker=worker)
            seed(db, args.points, time.time_ns())
            rows[label] = phase(db, args.rate, args.seconds, tier)
            if worker is not None:
                worker.close()
        rows["baseline again"] = phase(db, args.rate, args.seconds, None)
        db.close()
    finally:
        s3.close()
        shutil.rmtree(work, ignore_errors=True)
    base = rows["baseline"]["p99"]
    print(
        f"writer: {BATCH}-point batches at {args.rate:,} points/s; a round exports "
        f"{args.points:,} points"
    )
    print(
        f"{'phase':<15} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p99/base':>8} "
        f"{'late ms':>8} {'round s':>7} {'cpu here s':>10} {'cpu child s':>11}"
    )
    for label, r in rows.items():
        print(
            f"{label:<15} {r['p50']:7.2f} {r['p99']:7.2f} {r['max']:7.1f} "
            f"{r['p99'] / base:8.2f} {r['late']:8.1f} {r['round_s']:7.2f} {r['here']:10.2f} "
            f"{r['child']:11.2f}"
        )


if __name__ == "__main__":
    main()
