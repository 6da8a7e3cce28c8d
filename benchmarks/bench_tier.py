"""Cold-tier benchmark: bytes/point hot vs cold, export rate, a year's hourly average vs DuckDB.

    python benchmarks/bench_tier.py [--days 365] [--tags 100] [--no-encodings]

All in one run, on the embedded S3 server (moto, started here on loopback and
stopped by PID):

1. ``--encodings``: raw-part encodings measured on 30 days of the tag (bytes
   per point and encode time per configuration), the evidence for the
   defaults in ``historian/tier/parts.py``;
2. one tag at 1 Hz for ``--days`` days, built directly in the compacted
   layout (as bench_query.py does), then exported with a 7-day hot window:
   hot B/pt (segments) vs cold B/pt (raw Parquet), rollup overhead, export rate;
3. export rate again on one day of ``--tags`` tags at 1 Hz (few, large objects);
4. hourly time-weighted average of the tag over the whole span, hot + cold,
   through ``QueryEngine.summary`` (first call: footers/rollups fetched from
   S3; then warm, median of 5), and the same from DuckDB's ``read_parquet``
   over a local mirror of the cold Parquet (httpfs cannot be installed here),
   with the largest difference between the two answers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.services import S3Server
from historian import FsyncPolicy, Historian, Options
from historian.catalogue import TagCatalogue, TagInfo
from historian.fs import FileSystem
from historian.lsm.compaction import write_segments
from historian.lsm.manifest import FileMeta, ManifestState, write_manifest
from historian.model import PointBatch
from historian.query.engine import QueryEngine
from historian.tier import ColdTier, TierConfig
from historian.tier.objstore import mirror
from historian.tier.parts import encode_raw

S = 1_000_000_000
H = 3_600 * S
DAY = 86_400
T0 = 1_672_531_200 * S  # 2023-01-01T00:00:00Z


def values_for(n: int, seed: int = 7) -> np.ndarray:
    """A plant-like 1 Hz signal: slow random walk plus a daily cycle, 2 decimals."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(scale=0.05, size=n))
    daily = 5 * np.sin(np.arange(n) * (2 * np.pi / DAY))
    return np.round(100 + walk + daily, 2)


class _NoSyncFileSystem(FileSystem):
    """For building the benchmark store only: a temp dir no crash can reach."""

    def _sync(self, f: Any) -> None:
        pass

    def sync_dir(self, path: str) -> None:
        pass


def build_store(root: str, tags: list[int], days: int) -> float:
    opt = Options()
    fs = _NoSyncFileSystem()
    os.makedirs(root)
    numbers = iter(range(1, 10**9))
    metas: list[FileMeta] = []
    t = time.perf_counter()
    vals = {sid: values_for(days * DAY, seed=sid) for sid in tags}
    for d0 in range(0, days, 10):
        d1 = min(days, d0 + 10)
        ts = T0 + np.arange(d0 * DAY, d1 * DAY, dtype=np.int64) * S
        groups = [
            PointBatch(
                np.full(len(ts), sid, np.uint32),
                ts,
                vals[sid][d0 * DAY : d1 * DAY],
                np.zeros(len(ts), np.uint16),
                True,
            )
            for sid in tags
        ]
        metas += write_segments(
            fs, root, groups, 2, lambda: next(numbers), opt.bucket_ns, opt.codec,
            opt.chunk_max_points, "bench.build",
        )  # fmt: skip
    write_manifest(fs, root, ManifestState(next_file_number=len(metas) + 1, files=tuple(metas)))
    names = [TagInfo(sid, f"bench.site{sid % 4}.unit.tag{sid}", stepped=True) for sid in tags]
    TagCatalogue(names).save(root)
    return time.perf_counter() - t


def encodings_table(n: int) -> None:
    v = values_for(n)
    ts = T0 + np.arange(n, dtype=np.int64) * S
    s = np.ones(n, np.uint32)
    q = np.zeros(n, np.uint16)
    dict_sq = ["series", "quality"]
    configs: list[tuple[str, dict[str, Any], int]] = [
        ("plain + dictionary, zstd 3", {"use_dictionary": True}, 3),
        (
            "ts delta, value plain, zstd 3",
            {
                "use_dictionary": dict_sq,
                "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "PLAIN"},
            },
            3,
        ),
        (
            "ts delta, value byte-stream-split, zstd 1",
            {
                "use_dictionary": dict_sq,
                "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
            },
            1,
        ),
        (
            "ts delta, value byte-stream-split, zstd 3",
            {
                "use_dictionary": dict_sq,
                "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
            },
            3,
        ),
        (
            "ts delta, value byte-stream-split, zstd 9",
            {
                "use_dictionary": dict_sq,
                "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
            },
            9,
        ),
        (
            "ts delta, value dictionary, zstd 3 (default)",
            {
                "use_dictionary": ["series", "quality", "value"],
                "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
            },
            3,
        ),
    ]
    print(f"\nraw-part encodings on {n:,} points of one tag (1 Hz, 2 decimals)")
    print(f"| {'encoding':54} | B/pt  | encode Mpt/s |")
    print(f"|{'-' * 56}|-------|--------------|")
    for label, enc, level in configs:
        t = time.perf_counter()
        data = encode_raw(s, ts, v, q, row_group_rows=1 << 20, zstd_level=level, encoding=enc)
        dt = time.perf_counter() - t
        print(f"| {label:54} | {len(data) / n:5.2f} | {n / dt / 1e6:12.1f} |")


def hourly_duckdb(dest: str) -> tuple[np.ndarray, np.ndarray, float]:
    import duckdb

    raw = os.path.join(dest, "bench", "raw", "*", "*", "*.parquet")
    con = duckdb.connect()
    sql = f"""
        SELECT h, sum(value * (nts - ts)) / sum(nts - ts) FROM (
            SELECT ts // {H} AS h, ts, value, lead(ts) OVER (ORDER BY ts) AS nts
            FROM read_parquet('{raw}') WHERE series = 1 AND quality < 32768)
        WHERE nts IS NOT NULL GROUP BY h ORDER BY h"""
    times = []
    rows: list[Any] = []
    for _ in range(3):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    hours = np.array([r[0] for r in rows], np.int64) * H
    return hours, np.array([r[1] for r in rows]), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--tags", type=int, default=100)
    ap.add_argument("--no-encodings", action="store_true")
    args = ap.parse_args()
    if not args.no_encodings:
        encodings_table(30 * DAY)
    work = tempfile.mkdtemp(prefix="bench-tier-")
    s3 = S3Server(os_path := __import__("pathlib").Path(work) / "s3").start()
    del os_path
    try:
        rows = run(work, s3, args)
    finally:
        s3.close()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


def run(work: str, s3: S3Server, args: argparse.Namespace) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    root = os.path.join(work, "year")
    build_s = build_store(root, [1], args.days)
    db = Historian.open(root, Options(fsync=FsyncPolicy.never(), background=False))
    hot = db.stats()
    out.append(
        (
            f"store: 1 tag, 1 Hz, {args.days} days",
            f"{hot.segment_points:,} points, built in {build_s:.1f} s",
        )
    )
    out.append(("hot B/pt (L2 segments, default codec)", f"{hot.bytes_per_point:.3f}"))
    s3.create_bucket("bench")
    end = T0 + args.days * DAY * S
    cfg = TierConfig(
        endpoint=s3.endpoint,
        bucket="bench",
        prefix="bench",
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        region=s3.region,
        hot_window_ns=7 * DAY * S,
    )
    tier = ColdTier.attach(db, cfg)
    rep = tier.export_due(end)
    out.append(
        (
            "cold B/pt (raw Parquet, same points)",
            f"{rep.raw_bytes / rep.points:.3f}  "
            f"({rep.raw_bytes / rep.points / hot.bytes_per_point:.2f} x hot; target <= 1.2 x)",
        )
    )
    per = {lv: sum(p.objects[lv].size for p in tier.catalogue.parts) for lv in ("1m", "1h", "1d")}
    split = ", ".join(f"{lv} {b / rep.raw_bytes:.1%}" for lv, b in per.items())
    out.append(
        ("rollups / raw bytes", f"{rep.rollup_bytes / rep.raw_bytes:.1%} ({split}; target <= 5 %)")
    )
    out.append(
        (
            "export, 1 tag (1 part/day, 4 objects)",
            f"{rep.points:,} points, {rep.days} days in {rep.seconds:.1f} s = "
            f"{rep.points / rep.seconds / 1e6:.2f} M points/s",
        )
    )
    # export rate on many tags: one day, few large objects
    root2 = os.path.join(work, "wide")
    build_store(root2, list(range(1, args.tags + 1)), 1)
    db2 = Historian.open(root2, Options(fsync=FsyncPolicy.never(), background=False))
    s3.create_bucket("wide")
    tier2 = ColdTier.attach(
        db2, TierConfig(**{**cfg.__dict__, "bucket": "wide", "hot_window_ns": 0})
    )
    rep2 = tier2.export_due(T0 + 2 * DAY * S)
    out.append(
        (
            f"export, {args.tags} tags x 1 day ({rep2.parts} parts)",
            f"{rep2.points:,} points in {rep2.seconds:.1f} s = "
            f"{rep2.points / rep2.seconds / 1e6:.2f} M points/s (target >= 1 M)",
        )
    )
    out.append(
        (
            f"  hot vs cold B/pt, {args.tags} tags",
            f"{rep2.hot_bytes / rep2.points:.3f} vs {rep2.raw_bytes / rep2.points:.3f}",
        )
    )
    db2.close()
    # one year hourly time-weighted average across hot + cold
    q = QueryEngine(db, TagCatalogue.load(root))
    name = "bench.site1.unit.tag1"
    t = time.perf_counter()
    first = q.summary(name, T0, end, H, types=["average"])
    first_s = time.perf_counter() - t
    warm = []
    for _ in range(5):
        t = time.perf_counter()
        res = q.summary(name, T0, end, H, types=["average"])
        warm.append(time.perf_counter() - t)
    out.append(
        (
            f"hourly TW average, {args.days} days hot + cold ({len(res.average):,} intervals)",
            f"first {first_s * 1e3:.0f} ms (fetches rollups), warm "
            f"{statistics.median(warm) * 1e3:.1f} ms (target < 200 ms); "
            f"{q.last_chunks_from_index:,} rows from index/rollups",
        )
    )
    assert np.array_equal(first.average, res.average, equal_nan=True)
    dest = os.path.join(work, "mirror")
    t = time.perf_counter()
    n = mirror(tier.store, "bench/", dest)
    out.append(
        ("mirror cold objects for DuckDB", f"{n} objects in {time.perf_counter() - t:.1f} s")
    )
    hours, avg, duck_s = hourly_duckdb(dest)
    mine = dict(zip(res.start.tolist(), res.average.tolist(), strict=True))
    cold_end = max(p.max_ts for p in tier.catalogue.parts) // H * H
    sel = hours < cold_end  # the last cold hour's final segment runs into hot data
    diff = max(abs(mine[int(h)] - a) for h, a in zip(hours[sel], avg[sel], strict=True))
    out.append(
        (
            f"same query in DuckDB (read_parquet, cold {len(hours):,} hours)",
            f"{duck_s * 1e3:.0f} ms (median of 3); max |difference| {diff:.2e}",
        )
    )
    db.close()
    return out


if __name__ == "__main__":
    main()
