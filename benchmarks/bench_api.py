"""HTTP API benchmark: recorded and plot through a real server, beside the in-process calls.

    python benchmarks/bench_api.py [--days 365] [--requests 200]

Builds a store of one 1 Hz tag over ``--days`` (the hourly L2 layout compaction
makes, through ``benchmarks/bench_query.py``'s builder) with its catalogue, then,
all in this one run:

1. in-process: ``QueryEngine.recorded`` of 1 h and 1 day, ``QueryEngine.plot`` of the
   whole span into 1,000 intervals (the baseline);
2. a real ``twinbench historian serve --http 127.0.0.1:0`` over the same store
   (started here, found through its ready file, stopped by PID), the same questions
   over one keep-alive HTTP connection: recorded 1 h as JSON and as Arrow, 1 day as
   Arrow, plot of the span as JSON and Arrow.

3. a real InfluxDB 1.x (Debian ``influxdb``, started on loopback by
   ``bench_query.Influx``) loaded with the first ``--influx-days`` of the same points,
   the same questions over its HTTP ``/query`` (InfluxQL, JSON, ``epoch=ns``) on one
   keep-alive connection: raw 1 h and 1 day, and ``FIRST/LAST/MIN/MAX ... GROUP BY
   time(span/1000)`` over the loaded span as the plot question (its span is said).

Each row: p50 and p99 over ``--requests`` requests (random windows inside the span,
so no answer is served from a cache), the target from issue 13, and the ratio of
the HTTP p99 to the in-process p99 of the same question (what HTTP, encoding and
the worker-thread hop add). The client decodes nothing; it reads every byte.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from historian.api.encode import ARROW_MEDIA_TYPE
from historian.api.times import format_time
from historian.catalogue import TagCatalogue, TagInfo
from historian.query.engine import QueryEngine

S = 1_000_000_000
H = 3600 * S
DAY = 86_400 * S
TAG = "bench.site.area.line.cell.unit.flow"


def _bench_query() -> object:
    path = Path(__file__).with_name("bench_query.py")
    spec = importlib.util.spec_from_file_location("bench_query", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def timed(fn: Callable[[int], object], n: int, rng: np.random.Generator, span: int) -> list[float]:
    out = []
    for _ in range(n):
        offset = int(rng.integers(0, span))
        t = time.perf_counter()
        fn(offset)
        out.append(time.perf_counter() - t)
    return out


class Client:
    """One keep-alive HTTP/1.1 connection; reads every byte of each answer."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def get(self, path: str, accept: str = "application/json") -> bytes:
        self.conn.request("GET", path, headers={"Accept": accept})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}: {body[:300]!r}")
        return body


def start_server(root: str, tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    ready = Path(tmp) / "ready.json"
    exe = str(Path(sys.executable).parent / "twinbench")
    argv = [exe, "historian", "serve", "--data-dir", root, "--http", "127.0.0.1:0"]
    argv += ["--ready-file", str(ready), "--durability", "os"]
    log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {(Path(tmp) / 'serve.log').read_text()}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["http"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365, help="span of the 1 Hz tag (default a year)")
    ap.add_argument("--requests", type=int, default=200, help="requests per question")
    ap.add_argument("--influx-days", type=int, default=7, help="days loaded in InfluxDB; 0 skips")
    args = ap.parse_args()
    bq = _bench_query()
    tmp = tempfile.mkdtemp(prefix="bench-api-")
    root = os.path.join(tmp, "store")
    n = args.requests
    rng = np.random.default_rng(11)
    try:
        print(
            f"== building {args.days} days of a 1 Hz tag ({args.days * 86_400 / 1e6:.1f} M points)"
        )
        db, build_s = bq.build_store(root, args.days)  # type: ignore[attr-defined]
        print(f"  built in {build_s:.1f} s")
        cat = TagCatalogue([TagInfo(bq.SERIES, TAG, unit="m3/h")])  # type: ignore[attr-defined]
        cat.save(root)
        t0 = bq.T0  # type: ignore[attr-defined]
        span_end = t0 + args.days * DAY
        engine = QueryEngine(db, cat)

        # ---- in-process baseline (the server cannot open the store while we hold it)
        inproc: dict[str, list[float]] = {}
        for _ in range(5):  # warm up as the HTTP side is: numba, page cache
            engine.recorded(TAG, t0, t0 + DAY)
            engine.plot(TAG, t0, span_end, 1000)
        inproc["recorded 1 h"] = timed(
            lambda o: engine.recorded(TAG, t0 + o, t0 + o + H), n, rng, args.days * DAY - H
        )
        inproc["recorded 1 day"] = timed(
            lambda o: engine.recorded(TAG, t0 + o, t0 + o + DAY), n, rng, args.days * DAY - DAY
        )
        plot_n = max(10, n // 4)
        inproc["plot span / 1,000"] = timed(
            lambda o: engine.plot(TAG, t0 + o // 10**6, span_end, 1000), plot_n, rng, 10**9
        )
        db.close()

        proc, url = start_server(root, tmp)
        try:
            c = Client(url)
            base = f"/api/v1/tags/{TAG}"

            def rec(width: int, accept: str) -> Callable[[int], object]:
                return lambda o: c.get(
                    f"{base}/recorded?start={quote(format_time(t0 + o))}"
                    f"&end={quote(format_time(t0 + o + width))}",
                    accept,
                )

            def plot(accept: str) -> Callable[[int], object]:
                return lambda o: c.get(
                    f"{base}/plot?start={quote(format_time(t0 + o // 10**6))}"
                    f"&end={quote(format_time(span_end))}&intervals=1000",
                    accept,
                )

            for _ in range(5):  # warm up: connection, numba, page cache
                rec(H, "application/json")(0)
                plot(ARROW_MEDIA_TYPE)(0)
            sizes = {
                "json 1 h": len(rec(H, "application/json")(0)),
                "arrow 1 h": len(rec(H, ARROW_MEDIA_TYPE)(0)),
            }
            over = args.days * DAY
            rows = [
                (
                    "recorded 1 h, JSON",
                    "recorded 1 h",
                    "< 20 ms",
                    timed(rec(H, "application/json"), n, rng, over - H),
                ),
                (
                    "recorded 1 h, Arrow",
                    "recorded 1 h",
                    "< 10 ms",
                    timed(rec(H, ARROW_MEDIA_TYPE), n, rng, over - H),
                ),
                (
                    "recorded 1 day, Arrow",
                    "recorded 1 day",
                    "< 30 ms",
                    timed(rec(DAY, ARROW_MEDIA_TYPE), n, rng, over - DAY),
                ),
                (
                    f"plot {args.days} d / 1,000, JSON",  # = plot_label
                    "plot span / 1,000",
                    "< 150 ms",
                    timed(plot("application/json"), plot_n, rng, 10**9),
                ),
                (
                    f"plot {args.days} d / 1,000, Arrow",
                    "plot span / 1,000",
                    "< 150 ms",
                    timed(plot(ARROW_MEDIA_TYPE), plot_n, rng, 10**9),
                ),
            ]
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

        plot_label = f"plot {args.days} d / 1,000, JSON"
        influx = influx_rows(bq, tmp, args.influx_days, n, plot_n, rng, plot_label)

        print(f"\n== {n} requests per question ({plot_n} for plot), one keep-alive connection;")
        j, a = sizes["json 1 h"], sizes["arrow 1 h"]
        print(f"   answer sizes: JSON 1 h {j:,} B, Arrow 1 h {a:,} B\n")
        print(
            "| question | HTTP p50 | HTTP p99 | target (p99) | in-process p50 | in-process p99 "
            "| ratio p99 |"
        )
        print("|---|---|---|---|---|---|---|")
        for label, key, target, samples in rows:
            base_p99 = pct(inproc[key], 99)
            p99 = pct(samples, 99)
            limit = float(target.split()[1])
            verdict = "MET" if p99 < limit else "NOT MET"
            print(
                f"| {label} | {pct(samples, 50):.2f} ms | {p99:.2f} ms | {target} ({verdict}) | "
                f"{pct(inproc[key], 50):.2f} ms | {base_p99:.2f} ms | {p99 / base_p99:.1f}x |"
            )
        if influx:
            print(
                "\n| InfluxDB 1.x, same question over HTTP JSON | p50 | p99 | historian HTTP p99 "
                "| historian / InfluxDB p99 |"
            )
            print("|---|---|---|---|---|")
            ours = {label: pct(samples, 99) for label, _, _, samples in rows}
            for label, mine, samples in influx:
                p99 = pct(samples, 99)
                print(
                    f"| {label} | {pct(samples, 50):.2f} ms | {p99:.2f} ms | {ours[mine]:.2f} ms "
                    f"({mine}) | {ours[mine] / p99:.2f}x |"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def influx_rows(
    bq: object, tmp: str, days: int, n: int, plot_n: int, rng: np.random.Generator, plot_label: str
) -> list[tuple[str, str, list[float]]]:
    """The same questions against InfluxDB 1.x over HTTP (see the module docstring)."""
    if days <= 0:
        return []
    if shutil.which("influxd") is None:
        print("  (no influxd: InfluxDB comparison skipped; scripts/install-system-deps.sh)")
        return []
    ix = bq.Influx(os.path.join(tmp, "influx"))  # type: ignore[attr-defined]
    try:
        loaded, load_s, note = bq.load_influx(ix, days, 600.0)  # type: ignore[attr-defined]
        print(f"  InfluxDB: {loaded} days loaded in {load_s:.1f} s{note}")
        conn = http.client.HTTPConnection("127.0.0.1", ix.http, timeout=120)
        t0 = bq.T0  # type: ignore[attr-defined]
        span = loaded * DAY

        def query(q: str) -> bytes:
            conn.request("GET", "/query?" + urlencode({"db": "bench", "epoch": "ns", "q": q}))
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or b'"error"' in body:
                raise RuntimeError(f"influx: HTTP {r.status}: {body[:300]!r}")
            return body

        def raw(width: int) -> Callable[[int], object]:
            return lambda o: query(
                f"SELECT value FROM tag1hz WHERE time >= {t0 + o} AND time < {t0 + o + width}"
            )

        plot_q = (
            "SELECT FIRST(value), LAST(value), MIN(value), MAX(value) FROM tag1hz "
            f"WHERE time >= {t0} AND time < {t0 + span} GROUP BY time({span // 1000 // 1000}u)"
        )
        for _ in range(3):
            raw(H)(0)
            query(plot_q)
        return [
            ("raw 1 h", "recorded 1 h, JSON", timed(raw(H), n, rng, span - H)),
            ("raw 1 day", "recorded 1 day, Arrow", timed(raw(DAY), n, rng, span - DAY)),
            (
                f"FIRST/LAST/MIN/MAX x 1,000 over {loaded} d",
                plot_label,
                timed(lambda o: query(plot_q), plot_n, rng, 1),
            ),
        ]
    finally:
        ix.stop()


if __name__ == "__main__":
    main()
