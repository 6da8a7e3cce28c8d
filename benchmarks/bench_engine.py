"""Historian engine benchmark: write rate, bytes/point, read latency, recovery, RSS, vs Parquet.

    python benchmarks/bench_engine.py [--quick]

Everything is measured in this one run, side by side, and printed with ratios
(figures swing +-30 % between runs on the shared 2-core machine). Bounded to
about two minutes. Data: 10,000 series, 1,000-point batches, each batch one
time step of 1,000 series; values are a random walk with one decimal, like
most plant tags.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from historian import FsyncPolicy, Historian, Options
from historian.codec import encode_chunk
from historian.lsm.filenames import wal_segment_name
from historian.model import PointBatch
from historian.wal import WalWriter

SERIES = 10_000
BATCH = 1_000
S = 1_000_000_000
T0 = 1_700_000_000 * S


class Workload:
    """Batch i = time step i // 10 for series block i % 10; generated on the fly (columnar)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.walk = np.round(np.cumsum(rng.normal(scale=0.3, size=(64, SERIES)), axis=0), 1) + 50
        self.blocks = [np.arange(k * BATCH, (k + 1) * BATCH, dtype=np.uint32) for k in range(10)]
        self.quality = np.zeros(BATCH, np.uint16)

    def batch(self, i: int) -> PointBatch:
        k, step = i % 10, i // 10
        ts = np.full(BATCH, T0 + step * S, np.int64)
        values = self.walk[step % 64, k * BATCH : (k + 1) * BATCH]
        return PointBatch(self.blocks[k], ts, values, self.quality, False)

    def batches(self, n: int) -> Iterator[PointBatch]:
        return (self.batch(i) for i in range(n))


class RssSampler:
    """Peak RSS, and peak USS (private memory: without shared library pages) when asked."""

    def __init__(self, uss: bool = False) -> None:
        self.peak = 0
        self.peak_uss = 0
        self._uss = uss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            if self._uss:
                self.peak_uss = max(self.peak_uss, proc.memory_full_info().uss)
            self._stop.wait(0.05 if self._uss else 0.02)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


@dataclass
class WriteResult:
    policy: str
    points: int
    write_s: float
    flush_s: float
    peak_rss: int
    peak_uss: int
    latencies: list[float]

    def latency_ms(self, q: float) -> float:
        return float(np.quantile(self.latencies, q)) * 1e3

    @property
    def rate(self) -> float:
        return self.points / self.write_s

    @property
    def rate_to_segments(self) -> float:
        return self.points / (self.write_s + self.flush_s)


def bench_write(
    root: str, policy: str, n_batches: int, wl: Workload, uss: bool = False
) -> tuple[WriteResult, Historian]:
    db = Historian.open(root, Options(fsync=FsyncPolicy.parse(policy)))
    with RssSampler(uss) as rss:
        lat = []
        t = time.perf_counter()
        for b in wl.batches(n_batches):
            t1 = time.perf_counter()
            db.write(b)
            lat.append(time.perf_counter() - t1)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        db.flush()
        flush_s = time.perf_counter() - t
    result = WriteResult(policy, n_batches * BATCH, write_s, flush_s, rss.peak, rss.peak_uss, lat)
    return result, db


def bench_always_threads(
    root: str, n_batches: int, wl: Workload, threads: int
) -> tuple[float, int]:
    """fsync=always with several writer threads: group commit shares fsyncs. (pts/s, fsyncs)."""
    db = Historian.open(root, Options(fsync=FsyncPolicy.always()))

    def run(k: int) -> None:
        for i in range(k, n_batches, threads):
            db.write(wl.batch(i))

    pool = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    dt = time.perf_counter() - t
    fsyncs = db._wal.fsyncs
    db.close()
    return n_batches * BATCH / dt, fsyncs


def bench_wal_only(root: str, policy: str, n_batches: int, wl: Workload) -> float:
    """Baseline: the WAL alone (framing + CRC32C + write + fsync policy), no memtable/flush."""
    os.makedirs(root, exist_ok=True)
    from historian.fs import FileSystem

    w = WalWriter(FileSystem(), root, wal_segment_name, FsyncPolicy.parse(policy), 64 << 20, 1)
    t = time.perf_counter()
    for b in wl.batches(n_batches):
        w.append(b)
    dt = time.perf_counter() - t
    w.close()
    return n_batches * BATCH / dt


def bench_parquet(root: str, n_batches: int, wl: Workload) -> tuple[float, float]:
    """Same batches into Parquet (zstd), 1.45 M-point row groups like our memtable; pts/s, B/pt."""
    import pyarrow as pa  # imported here so the RSS child process never loads it
    import pyarrow.parquet as pq

    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "data.parquet")
    schema = pa.schema(
        [
            ("series", pa.uint32()),
            ("ts", pa.int64()),
            ("value", pa.float64()),
            ("quality", pa.uint16()),
        ]
    )
    group = 1_450_000 // BATCH
    t = time.perf_counter()
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        buf: list[PointBatch] = []
        for b in wl.batches(n_batches):
            buf.append(b)
            if len(buf) == group:
                c = PointBatch.concat(buf)
                w.write_table(pa.table([c.series, c.ts, c.values, c.quality], schema=schema))
                buf.clear()
        if buf:
            c = PointBatch.concat(buf)
            w.write_table(pa.table([c.series, c.ts, c.values, c.quality], schema=schema))
    dt = time.perf_counter() - t
    return n_batches * BATCH / dt, os.path.getsize(path) / (n_batches * BATCH)


def bench_postgres(n_batches: int, wl: Workload) -> tuple[float, float] | None:
    """The seed's legacy store: COPY the same batches into an indexed ``scada_readings``
    table in a real PostgreSQL; pts/s and bytes/point (table + index). None if no server."""
    import io

    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from harness.services import PostgresServer

    try:
        pg = PostgresServer().start()
    except Exception as exc:  # the benchmark still reports everything else
        print(f"  PostgreSQL not available ({exc}); skipped")
        return None
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE scada_readings (well_id integer, tag_node_id integer, "
                "timestamp timestamptz, value double precision, quality smallint)"
            )
            conn.execute(
                "CREATE INDEX scada_readings_tag_time ON scada_readings (tag_node_id, timestamp)"
            )
            t = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy("COPY scada_readings FROM STDIN WITH (FORMAT csv)") as copy,
            ):
                for b in wl.batches(n_batches):
                    table = pa.table(
                        [
                            pa.array(b.series // 10, pa.int32()),
                            pa.array(b.series, pa.int32()),
                            pa.array(b.ts, pa.timestamp("ns", tz="UTC")),
                            pa.array(b.values),
                            pa.array(b.quality.astype(np.int16)),
                        ],
                        names=["w", "t", "ts", "v", "q"],
                    )
                    buf = io.BytesIO()
                    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
                    copy.write(buf.getvalue())
            dt = time.perf_counter() - t
            size = conn.execute("SELECT pg_total_relation_size('scada_readings')").fetchone()
    finally:
        pg.close()
    points = n_batches * BATCH
    return points / dt, float(size[0]) / points if size else float("nan")


def codec_own_figure(db: Historian, bucket_ns: int, chunk_max: int) -> float:
    """Bytes/point of the codec alone on the same per-series, per-bucket chunks as the L2 files."""
    total = points = 0
    lo, hi = T0 - bucket_ns, T0 + 10 * 24 * 3600 * S
    for s in range(SERIES):
        ts, v, q = db.read(s, lo, hi)
        bucket = ts // bucket_ns
        for b in np.unique(bucket):
            sel = bucket == b
            bt, bv, bq = ts[sel], v[sel], q[sel]
            for i in range(0, len(bt), chunk_max):
                total += len(
                    encode_chunk(
                        bt[i : i + chunk_max], bv[i : i + chunk_max], bq[i : i + chunk_max]
                    )
                )
        points += len(ts)
    return total / points


def bench_stats_cost(root: str) -> None:
    """Segment write time with and without the v2 per-chunk stats, on hour-long 1 Hz chunks.

    (The main workload's series have < 1,024 points per chunk, so they carry no
    stats at all; this measures the case that does.)
    """
    from historian.fs import FileSystem
    from historian.sstable import SegmentWriter

    rng = np.random.default_rng(3)
    n_series, n = 300, 3600
    ts = T0 + np.arange(n, dtype=np.int64) * S
    vals = np.round(np.cumsum(rng.normal(scale=0.2, size=(n_series, n)), axis=1) + 50, 1)
    q = np.zeros(n, np.uint16)
    for codec in ("pco", None):
        best = {}
        for label, min_points in (("without", 2**31), ("with", 1024)):
            times = []
            for rep in range(5):
                w = SegmentWriter(
                    FileSystem(), os.path.join(root, f"s{rep}.tbs"), codec, 4096, min_points
                )
                t = time.perf_counter()
                for s in range(n_series):
                    w.add(s, ts, vals[s], q)
                w.finish()
                times.append(time.perf_counter() - t)
            best[label] = min(times)
        print(
            f"  segment write, {n_series} x {n} pts, codec {codec or 'auto'}: "
            f"{best['without'] * 1e3:.0f} ms without stats, {best['with'] * 1e3:.0f} ms with "
            f"(+{(best['with'] / best['without'] - 1) * 100:.1f} %)"
        )


def bench_read_day(root: str) -> tuple[float, int]:
    """One day of a 1 Hz tag (86,400 points), among 20 tags, compacted to hourly L2 files."""
    db = Historian.open(root, Options(fsync=FsyncPolicy.never()))
    rng = np.random.default_rng(1)
    day = 86_400
    for s in range(20):
        ts = T0 + np.arange(day, dtype=np.int64) * S
        v = np.round(np.cumsum(rng.normal(scale=0.2, size=day)) + 100, 2)
        for i in range(0, day, 20_000):
            db.write_arrays(
                np.full(len(ts[i : i + 20_000]), s), ts[i : i + 20_000], v[i : i + 20_000]
            )
    db.compact()
    times = []
    for _ in range(21):
        t = time.perf_counter()
        out = db.read(7, T0, T0 + day * S)
        times.append(time.perf_counter() - t)
    n = len(out[0])
    files = db.stats().levels[2].files
    db.close()
    print(f"  read setup: {files} L2 files for 20 tags x 1 day")
    return statistics.median(times), n


def bench_recovery(
    root: str, n_batches: int, wl: Workload, recovery_mib: int | None
) -> tuple[float, float, int, int, int]:
    """Write a WAL that is never flushed, then time Historian.open (replay + the flushes it forces).

    Returns (open seconds, seconds to flush the rest, WAL bytes, points, points flushed during
    open). open + flush is the conservative figure to extrapolate from: every replayed point is
    then in a segment file, as it would be for all but the last memtable of a 1 GiB WAL.
    """
    if not os.path.exists(root):
        db = Historian.open(root, Options(fsync=FsyncPolicy.never(), memtable_bytes=1 << 30))
        for b in wl.batches(n_batches):
            db.write(b)
        db.close()  # close does not flush: everything is replayed from the WAL
    copy = f"{root}-{recovery_mib}"
    shutil.copytree(root, copy)
    rec = None if recovery_mib is None else recovery_mib << 20
    t = time.perf_counter()
    db = Historian.open(copy, Options(recovery_memtable_bytes=rec))
    dt = time.perf_counter() - t
    st = db.stats()
    t = time.perf_counter()
    db.flush()
    flush_s = time.perf_counter() - t
    db.close()
    wal_bytes = sum(
        os.path.getsize(os.path.join(root, "wal", n)) for n in os.listdir(os.path.join(root, "wal"))
    )
    shutil.rmtree(copy)
    return dt, flush_s, wal_bytes, st.points, st.segment_points


def rss_in_fresh_process(n_batches: int) -> tuple[int, int, int, int]:
    """(RSS after imports, USS after imports, peak RSS, peak USS) of an engine-only process."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(n_batches)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    a, b, c, d = (int(x) for x in out[-4:])
    return a, b, c, d


def rss_child(n_batches: int) -> None:
    import historian.codec  # noqa: F401  (count its import in the baseline)

    info = psutil.Process().memory_full_info()
    tmp = tempfile.mkdtemp(prefix="bench-rss-")
    try:
        r, db = bench_write(tmp, "interval_ms=5", n_batches, Workload(), uss=True)
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(info.rss, info.uss, r.peak_rss, r.peak_uss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    scale = 0.2 if args.quick else 1.0
    n_write = int(8_000 * scale)
    n_always = int(1_000 * scale)
    n_recover = int(12_000 * scale)
    wl = Workload()
    tmp = tempfile.mkdtemp(prefix="bench-engine-")
    try:
        # warm-up: JIT-compiled codecs and page cache, not timed
        _, db = bench_write(os.path.join(tmp, "warm"), "interval_ms=5", 1_500, wl)
        db.close()

        print(f"== write: {SERIES} series, {BATCH}-point batches")
        iv, db = bench_write(os.path.join(tmp, "w-interval"), "interval_ms=5", n_write, wl)
        wal_iv = bench_wal_only(os.path.join(tmp, "wal-interval"), "interval_ms=5", n_write, wl)
        al, db_al = bench_write(os.path.join(tmp, "w-always"), "always", n_always, wl)
        db_al.close()
        wal_al = bench_wal_only(os.path.join(tmp, "wal-always"), "always", n_always, wl)
        gc_rate, gc_fsyncs = bench_always_threads(os.path.join(tmp, "w-gc"), n_always, wl, 4)
        pq_rate, pq_bpp = bench_parquet(os.path.join(tmp, "parquet"), n_write, wl)
        n_pg = max(n_write // 8, 50)  # PostgreSQL is ~10x slower: a smaller sample
        pg = bench_postgres(n_pg, wl)
        for r in (iv, al):
            print(
                f"  engine {r.policy:14s} {r.points / 1e6:5.1f} M pts: "
                f"{r.rate / 1e6:6.2f} M pts/s acked"
                f" ({r.rate_to_segments / 1e6:5.2f} M pts/s incl. final flush);"
                f" write latency p50 {r.latency_ms(0.5):.2f} ms, p99 {r.latency_ms(0.99):.2f} ms,"
                f" max {max(r.latencies) * 1e3:.0f} ms"
            )
        print(
            f"  engine always, 4 writer threads: {gc_rate / 1e6:.2f} M pts/s, {gc_fsyncs} fsyncs "
            f"for {n_always} writes (group commit); vs 1 thread = {gc_rate / al.rate:.2f}"
        )
        print(
            f"  WAL alone  interval_ms=5  {wal_iv / 1e6:6.2f} M pts/s   "
            f"engine/WAL = {iv.rate / wal_iv:.2f}"
        )
        print(
            f"  WAL alone  always         {wal_al / 1e6:6.2f} M pts/s   "
            f"engine/WAL = {al.rate / wal_al:.2f}"
        )
        print(
            f"  Parquet zstd (pyarrow)    {pq_rate / 1e6:6.2f} M pts/s   "
            f"engine/Parquet = {iv.rate / pq_rate:.2f}"
        )
        if pg is not None:
            print(
                f"  PostgreSQL COPY (indexed scada_readings, {n_pg * BATCH / 1e6:.1f} M rows)"
                f" {pg[0] / 1e6:6.2f} M pts/s, {pg[1]:.1f} B/pt   engine/PostgreSQL = "
                f"{iv.rate / pg[0]:.1f}x faster"
            )
        base, base_uss, peak, peak_uss = rss_in_fresh_process(n_write)
        mib = 2**20
        print(
            f"  engine-only process, interval_ms write: RSS {base / mib:.0f} MiB after imports, "
            f"peak {peak / mib:.0f} MiB "
            f"(target < 256 MiB: {'MET' if peak < 256 * mib else 'NOT MET'});"
            f" private (USS) {base_uss / mib:.0f} -> peak {peak_uss / mib:.0f} MiB"
        )
        print(f"  target >= 2 M pts/s (interval_ms): {'MET' if iv.rate >= 2e6 else 'NOT MET'}")

        print("== bytes/point after compaction")
        t = time.perf_counter()
        db.compact()
        ct = time.perf_counter() - t
        st = db.stats()
        own = codec_own_figure(db, Options().bucket_ns, Options().chunk_max_points)
        print(
            f"  compaction of {st.segment_points / 1e6:.1f} M pts took {ct:.1f} s "
            f"({st.segment_points / ct / 1e6:.2f} M pts/s)"
        )
        print(
            f"  segments {st.bytes_per_point:.3f} B/pt, codec alone {own:.3f} B/pt, "
            f"ratio {st.bytes_per_point / own:.3f} (target <= 1.10: "
            f"{'MET' if st.bytes_per_point <= 1.10 * own else 'NOT MET'})"
        )
        print(
            f"  Parquet zstd {pq_bpp:.3f} B/pt; engine/Parquet = {st.bytes_per_point / pq_bpp:.2f}"
        )
        db.close()

        print("== per-chunk stats (segment format v2) on the write path")
        os.makedirs(os.path.join(tmp, "stats"))
        bench_stats_cost(os.path.join(tmp, "stats"))

        print("== read one day of a 1 Hz tag from segments")
        med, n = bench_read_day(os.path.join(tmp, "read"))
        print(
            f"  {n} points in {med * 1e3:.2f} ms median of 21 (target < 10 ms: "
            f"{'MET' if med < 0.010 else 'NOT MET'})"
        )

        print("== recovery (WAL replay)")
        for rec_mib in (None, 128):
            dt, flush_s, wal_bytes, points, flushed = bench_recovery(
                os.path.join(tmp, "recover"), n_recover, wl, rec_mib
            )
            gib = (1 << 30) / wal_bytes
            worst = (dt + flush_s) * gib
            label = "= memtable_bytes" if rec_mib is None else f"{rec_mib} MiB"
            print(
                f"  recovery memtable {label}: {wal_bytes / 2**20:.0f} MiB WAL "
                f"({points / 1e6:.1f} M pts, {flushed / 1e6:.1f} M flushed during open): open "
                f"{dt:.2f} s, + {flush_s:.2f} s to flush the rest -> {dt * gib:.1f} .. "
                f"{worst:.1f} s per GiB by linear extrapolation (target < 10 s: "
                f"{'MET' if worst < 10 else 'NOT MET'} on the conservative figure)"
            )
        print(
            "== PostgreSQL COPY: skipped (optional; harness/services.py PostgreSQL not used here)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
