"""Query benchmark: one year of a 1 Hz tag, from the segment index vs a full scan, vs InfluxDB 1.x.

    python benchmarks/bench_query.py [--days 365] [--influx-budget-s 300] [--no-influx]

Builds the store once per run in a temp dir through the engine (WAL, memtable,
flush, compaction to hourly L2 files) and prints how long that took. Then, all
in this one run, side by side:

- one day recorded (86,400 points), in-process (target < 5 ms);
- hourly average over the whole span, from the index stats vs a full scan of
  every point (target < 100 ms), and the same for 1,000 intervals of
  min/max/first/last (the plot question);
- peak memory of the one-year index queries (tracemalloc), beside their result
  size and the size of the points they stand for;
- a real InfluxDB 1.x (Debian ``influxdb``), started here on loopback ports in
  a temp dir and stopped by PID, loaded with the same points over the HTTP
  line protocol in large batches, asked the same questions: recorded day,
  1 h MEAN over the span, last value. If loading the whole span would take
  longer than ``--influx-budget-s`` on this machine, a shorter span is loaded
  and the table says so. (InfluxDB answers over HTTP + JSON, the historian
  in-process: the ratios include that difference, and the table says it.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.services.net import free_port, port_accepts
from historian import FsyncPolicy, Historian, Options
from historian.catalogue import TagCatalogue, TagInfo
from historian.fs import FileSystem
from historian.lsm.compaction import write_segments
from historian.lsm.manifest import FileMeta, ManifestState, write_manifest
from historian.model import PointBatch
from historian.query.engine import QueryEngine

S = 1_000_000_000
H = 3600 * S
DAY = 86_400
T0 = 1_672_531_200 * S  # 2023-01-01T00:00:00Z
SERIES = 1
TAG = "bench.site.area.unit.tag1hz"


def values_for(n: int, seed: int = 7) -> np.ndarray:
    """A plant-like 1 Hz signal: slow random walk plus a daily cycle, 2 decimals."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(scale=0.05, size=n))
    daily = 5 * np.sin(np.arange(n) * (2 * np.pi / DAY))
    return np.round(100 + walk + daily, 2)


class _NoSyncFileSystem(FileSystem):
    """For building the benchmark store only: a temp dir that no crash can reach."""

    def _sync(self, f: Any) -> None:
        pass

    def sync_dir(self, path: str) -> None:
        pass


def build_store(root: str, days: int) -> tuple[Historian, float]:
    """The layout compaction produces (one L2 file per hour, default codec), built directly.

    Through the engine's own segment writer (``write_segments``, as compaction
    calls it) and one manifest write, without fsync: ingesting a year through
    ``Historian.write`` costs one manifest rewrite per hourly bucket and level,
    which :func:`ingest_rate` measures and extrapolates instead.
    """
    opt = Options()
    fs = _NoSyncFileSystem()
    os.makedirs(root)
    vals = values_for(days * DAY)
    numbers = iter(range(1, 10**9))
    metas: list[FileMeta] = []
    t = time.perf_counter()
    for d0 in range(0, days, 10):  # ten days per call: one group in memory at a time
        d1 = min(days, d0 + 10)
        ts = T0 + np.arange(d0 * DAY, d1 * DAY, dtype=np.int64) * S
        group = PointBatch(
            np.full(len(ts), SERIES, np.uint32),
            ts,
            vals[d0 * DAY : d1 * DAY],
            np.zeros(len(ts), np.uint16),
            True,
        )
        metas += write_segments(
            fs, root, [group], 2, lambda: next(numbers), opt.bucket_ns, opt.codec,
            opt.chunk_max_points, "bench.build",
        )  # fmt: skip
    write_manifest(fs, root, ManifestState(next_file_number=len(metas) + 1, files=tuple(metas)))
    build_s = time.perf_counter() - t
    return Historian.open(root, Options(fsync=FsyncPolicy.never())), build_s


def ingest_rate(root: str, days: int = 2) -> float:
    """Points/s of ``Historian.write`` + flush + compaction to L2 over ``days`` of the tag."""
    db = Historian.open(root, Options(fsync=FsyncPolicy.never(), background=False))
    vals = values_for(days * DAY)
    t = time.perf_counter()
    for d in range(days):
        ts = T0 + (d * DAY + np.arange(DAY, dtype=np.int64)) * S
        db.write_arrays(np.full(DAY, SERIES), ts, vals[d * DAY : (d + 1) * DAY])
    db.compact()
    dt = time.perf_counter() - t
    db.close()
    return days * DAY / dt


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    fn()  # warm
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, out


def peak_mib(fn: Callable[[], Any]) -> tuple[float, Any]:
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, out


# ------------------------------------------------------------------ InfluxDB
INFLUX_CONF = """reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-max-memory-size = 2147483648
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  pprof-enabled = false
  max-body-size = 0
  unix-socket-enabled = false
[continuous_queries]
  enabled = false
"""


class Influx:
    """influxd in a temp dir on loopback ports, stopped by its PID."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.http = free_port()
        os.makedirs(root, exist_ok=True)
        conf = os.path.join(root, "influxdb.conf")
        with open(conf, "w") as fh:
            fh.write(INFLUX_CONF.format(root=root, rpc=free_port(), http=self.http))
        self.log = open(os.path.join(root, "influxd.log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["influxd", "-config", conf], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while not port_accepts("127.0.0.1", self.http):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"influxd did not start; see {root}/influxd.log")
            time.sleep(0.05)
        self.query("CREATE DATABASE bench", post=True)

    def url(self, path: str, **params: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}?{urllib.parse.urlencode(params)}"

    def query(self, q: str, post: bool = False) -> Any:
        url = self.url("/query", db="bench", epoch="ns", q=q)
        req = urllib.request.Request(url, method="POST" if post else "GET")
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def write(self, body: bytes) -> None:
        req = urllib.request.Request(
            self.url("/write", db="bench", precision="s"), data=body, method="POST"
        )
        with urllib.request.urlopen(req, timeout=600) as r:
            if r.status != 204:
                raise RuntimeError(f"influx write: HTTP {r.status}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def line_protocol(ts_s: np.ndarray, vals: np.ndarray) -> bytes:
    return "\n".join(
        f"tag1hz value={v} {t}" for t, v in zip(ts_s.tolist(), vals.tolist(), strict=True)
    ).encode()


def load_influx(ix: Influx, days: int, budget_s: float) -> tuple[int, float, str]:
    """Load day by day (one 86,400-line batch per request) until done or out of budget."""
    vals = values_for(days * DAY)
    t = time.perf_counter()
    loaded = 0
    for d in range(days):
        ts_s = (T0 // S) + d * DAY + np.arange(DAY, dtype=np.int64)
        ix.write(line_protocol(ts_s, vals[d * DAY : (d + 1) * DAY]))
        loaded = d + 1
        if time.perf_counter() - t > budget_s:
            break  # stop at a whole number of days; the table says so
    dt = time.perf_counter() - t
    note = "" if loaded == days else f" (stopped at {loaded} of {days} days: load budget)"
    return loaded, dt, note


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365, help="span of the 1 Hz tag (default a year)")
    ap.add_argument("--influx-budget-s", type=float, default=300.0, help="max InfluxDB load time")
    ap.add_argument("--no-influx", action="store_true", help="skip the InfluxDB comparison")
    args = ap.parse_args()
    days = args.days
    tmp = tempfile.mkdtemp(prefix="bench-query-")
    rows: list[tuple[str, str, str, str]] = []

    def add(question: str, took: str, target: str, notes: str) -> None:
        rows.append((question, took, target, notes))

    try:
        print(f"== building {days} days of a 1 Hz tag ({days * DAY / 1e6:.1f} M points)")
        db, build_s = build_store(os.path.join(tmp, "store"), days)
        st = db.stats()
        print(
            f"  built in {build_s:.1f} s as the hourly L2 files compaction makes "
            f"(segment writer, default codec, no fsync): {st.levels[2].files} files, "
            f"{st.bytes_per_point:.3f} B/pt"
        )
        rate = ingest_rate(os.path.join(tmp, "ingest"))
        print(
            f"  (Historian.write + flush + compaction of 2 days of this tag: {rate / 1e3:.0f} k "
            f"pts/s, i.e. >= {days * DAY / rate / 60:.0f} min for the span by linear "
            "extrapolation, a lower bound: every hourly bucket costs a manifest rewrite per "
            "level, and the manifest grows with the file count)"
        )
        start, end = T0, T0 + days * DAY * S
        day0 = T0 + (days // 2) * DAY * S

        # --- recorded: one day
        rec_ms, cols = median_ms(lambda: db.read(SERIES, day0, day0 + DAY * S), 21)
        assert len(cols[0]) == DAY
        full = db.read(SERIES, start, end)  # an in-memory copy: the floor a read cannot beat
        lo = int(np.searchsorted(full[0], day0))
        floor_ms, _ = median_ms(lambda: tuple(c[lo : lo + DAY].copy() for c in full), 21)
        add(
            "recorded, 1 day (86,400 pts)",
            f"{rec_ms:.2f} ms",
            "< 5 ms",
            f"{'MET' if rec_ms < 5 else 'NOT MET'}; in-memory copy {floor_ms:.2f} ms",
        )
        last_ms, last = median_ms(lambda: db.last(SERIES), 21)
        add("last value", f"{last_ms:.3f} ms", "", "")

        # --- through the query engine (the path the HTTP API and HistoryRead take): the
        # hourly time-weighted average and the PI plot values of 1,000 intervals, each from
        # the segment index and by decoding every point (same answers asserted)
        q = QueryEngine(db, TagCatalogue([TagInfo(id=SERIES, name=TAG)]))
        t = time.perf_counter()
        q.summary(TAG, start, end, H, ["average"])  # first index query on this Version
        add(
            f"hourly average, {days} d, index, first query after open",
            f"{(time.perf_counter() - t) * 1e3:.1f} ms",
            "",
            "collects the series' index rows from every file once (cached per Version)",
        )
        questions = {
            "hourly time-weighted average": lambda use: q.summary(
                TAG, start, end, H, ["average", "count"], "time", use_index=use
            ),
            "plot into 1,000 intervals": lambda use: q.plot(TAG, start, end, 1000, use_index=use),
        }
        for label, ask in questions.items():
            fast_ms, fast = median_ms(lambda a=ask: a(True), 5)
            from_index = q.last_chunks_from_index
            t = time.perf_counter()
            slow = ask(False)
            scan_ms = (time.perf_counter() - t) * 1e3
            for name in ("ts", "values", "average", "count"):
                if hasattr(fast, name):
                    np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-9)
            add(
                f"{label}, {days} d, index",
                f"{fast_ms:.1f} ms",
                "< 100 ms",
                f"{'MET' if fast_ms < 100 else 'NOT MET'}; {from_index:,} chunks from stats",
            )
            add(
                f"{label}, {days} d, full scan",
                f"{scan_ms:.0f} ms",
                "",
                f"index is {scan_ms / fast_ms:.0f}x faster, same answers",
            )

        # --- memory of the one-year index queries
        chunk_bytes = 4096 * (8 + 8 + 2)
        for label, ask in questions.items():
            mib, res = peak_mib(lambda a=ask: a(True))
            arrays = [getattr(res, f) for f in res.__dataclass_fields__]
            result_mib = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) / 2**20
            add(
                f"peak memory, {label}, index",
                f"{mib:.1f} MiB",
                "",
                f"result {result_mib:.1f} MiB; the points it stands for "
                f"{days * DAY * 18 / 2**20:.0f} MiB; one 4,096-pt chunk "
                f"{chunk_bytes / 2**20:.2f} MiB",
            )

        # --- InfluxDB side by side
        if not args.no_influx and shutil.which("influxd"):
            ix = Influx(os.path.join(tmp, "influx"))
            try:
                loaded, load_s, note = load_influx(ix, days, args.influx_budget_s)
                print(
                    f"  InfluxDB load: {loaded * DAY / 1e6:.1f} M pts in {load_s:.1f} s "
                    f"({loaded * DAY / load_s / 1e6:.2f} M pts/s over HTTP){note}"
                )
                span_end = T0 + loaded * DAY * S
                d0 = T0 + (loaded // 2) * DAY * S
                q_day = f"SELECT value FROM tag1hz WHERE time >= {d0} AND time < {d0 + DAY * S}"
                ix_rec, res = median_ms(lambda: ix.query(q_day), 5)
                got = len(res["results"][0]["series"][0]["values"])
                assert got == DAY, got
                ours_rec, _ = median_ms(lambda: db.read(SERIES, d0, d0 + DAY * S), 21)
                q_mean = (
                    f"SELECT MEAN(value) FROM tag1hz WHERE time >= {T0} AND time < {span_end} "
                    "GROUP BY time(1h)"
                )
                ix_mean, res = median_ms(lambda: ix.query(q_mean), 3)
                their = np.array([r[1] for r in res["results"][0]["series"][0]["values"]], float)
                ours_mean, mine = median_ms(
                    lambda: q.summary(TAG, T0, span_end, H, ["average"], "event"), 5
                )  # InfluxDB's MEAN is event-weighted
                agree = np.allclose(their, mine.average, rtol=1e-9)
                ix_last, res = median_ms(lambda: ix.query("SELECT LAST(value) FROM tag1hz"), 21)
                span = f"{loaded} d{note and ' (budget-limited)'}"
                add(
                    "InfluxDB recorded 1 day",
                    f"{ix_rec:.1f} ms",
                    "",
                    f"historian {ours_rec:.2f} ms: {ix_rec / ours_rec:.0f}x faster",
                )
                add(
                    f"InfluxDB 1 h MEAN over {span}",
                    f"{ix_mean:.0f} ms",
                    "",
                    f"historian {ours_mean:.1f} ms: {ix_mean / ours_mean:.0f}x faster; "
                    f"answers agree: {'yes' if agree else 'NO'}",
                )
                add(
                    "InfluxDB last value",
                    f"{ix_last:.2f} ms",
                    "",
                    f"historian {last_ms:.3f} ms: {ix_last / last_ms:.0f}x faster",
                )
            finally:
                ix.stop()
        elif not args.no_influx:
            print("  InfluxDB: influxd not found (scripts/install-system-deps.sh installs it)")
        db.close()

        print()
        print("| question | time | target | notes |")
        print("|---|---:|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
        print(
            "\nInfluxDB answers over HTTP + JSON on loopback, the historian in-process; "
            "figures swing +-30 % between runs on the shared 2-core machine."
        )
        del last
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
