"""Locust load mix for the historian's HTTP API: what trend pages and dashboards ask.

Against a running ``twinbench historian serve --http``::

    locust -f harness/load/locustfile.py --headless -u 20 -r 10 -t 60s --host http://127.0.0.1:8080

Self-contained (builds a store, serves it, writes into it while loading it, prints
request rate and p50/p99 per request kind)::

    python -m harness.load.locustfile --seconds 30 --users 20 --ingest-rate 50000

The mix per simulated user (weights): trend views — ``plot`` over 1 h (5), 1 day (3)
and 30 days (1) at 1,000 pixels; ``recorded`` 10 min (3); hourly ``summary`` over a
day (2); the last values of five tags in one ``streams/query`` (6, the dashboard
poll). Requests are named by kind, not by URL, so the table has one row per kind.
Inside a scenario (``harness.run.api_load``) two environment variables steer the users:
``TWINBENCH_LOCUST_TAGS_FILE`` (tag names, one a line: no catalogue request, newest
data = now) and ``TWINBENCH_LOCUST_WINDOW`` (``START_NS:END_NS`` wall clock: each user
waits for the start and stops at the end, so the stats cover the window only);
``TWINBENCH_LOCUST_TOKEN_FILE`` (a file holding a bearer secret: every request sends
``Authorization: Bearer <secret>``, as a ``--secure`` scenario's load does);
``TWINBENCH_LOCUST_CA_FILE`` (a CA certificate: an ``https://`` host's certificate is
verified against it alone, as the ``--secure`` API's is against the deployment CA).
The self-contained run's ingest goes through ``POST /api/v1/write`` (the same engine
write path as the bus, not NATS) at ``--ingest-rate`` points/s in 10 batches a second.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from locust import HttpUser, task
from locust.exception import StopUser

S = 1_000_000_000
PLOT_PX = 1000
TAGS_FILE_ENV = "TWINBENCH_LOCUST_TAGS_FILE"
WINDOW_ENV = "TWINBENCH_LOCUST_WINDOW"
TOKEN_FILE_ENV = "TWINBENCH_LOCUST_TOKEN_FILE"
CA_FILE_ENV = "TWINBENCH_LOCUST_CA_FILE"


def _env_window() -> tuple[int, int]:
    """(start, end) wall ns from ``TWINBENCH_LOCUST_WINDOW``; (0, 0) = no window."""
    text = os.environ.get(WINDOW_ENV, "")
    if not text:
        return 0, 0
    start, _, end = text.partition(":")
    return int(start), int(end)


def _iso(ns: int) -> str:
    from historian.api.times import format_time

    return quote(format_time(ns))


class TrendUser(HttpUser):
    """One engineer's browser or a dashboard: trends, a raw table, summaries, live values."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call,unused-ignore]
        self.tags: list[str] = []
        self.newest_ns = 0
        self.window = _env_window()
        self.live = False

    def wait_time(self) -> float:
        if self.window[1] and time.time_ns() >= self.window[1]:
            raise StopUser()  # the scenario's window is over: no request outside it
        return random.uniform(0.05, 0.5)  # think time between requests

    def on_start(self) -> None:
        token_file = os.environ.get(TOKEN_FILE_ENV)
        if token_file:  # a token-protected server (historian serve --tokens)
            secret = Path(token_file).read_text().strip()
            self.client.headers["Authorization"] = f"Bearer {secret}"
        ca_file = os.environ.get(CA_FILE_ENV)
        if ca_file:  # an HTTPS server with a private CA: trust that CA (and only it)
            self.client.verify = ca_file
        tags_file = os.environ.get(TAGS_FILE_ENV)
        if tags_file:  # a scenario: names from its catalogue, data arriving now
            self.tags = Path(tags_file).read_text().split()
            delay = (self.window[0] - time.time_ns()) / S
            if delay > 0:
                time.sleep(delay)  # gevent-patched: this user only
            self.newest_ns = time.time_ns()
            self.live = True
            return
        items = self.client.get("/api/v1/tags", name="tags").json()["items"]
        self.tags = [t["name"] for t in items] or ["no.tags.in.store"]
        last = self.client.post(
            "/api/v1/streams/query",
            json={"queries": [{"tag": self.tags[0], "kind": "last"}]},
            name="last x1",
        ).json()["results"][0]
        stamp = last.get("items", [{}])[0].get("timestamp") if last.get("items") else None
        from historian.api.times import parse_time

        self.newest_ns = parse_time(stamp) if stamp else time.time_ns()

    def _window(self, span_ns: int) -> tuple[str, str]:
        if self.live:  # a scenario's store holds minutes: trend the live end, as `end=*`
            end = time.time_ns()
        else:
            end = self.newest_ns - random.randrange(0, max(1, span_ns // 4))
        return _iso(end - span_ns), _iso(end)

    def _plot(self, span_ns: int, label: str) -> None:
        start, end = self._window(span_ns)
        tag = random.choice(self.tags)
        self.client.get(
            f"/api/v1/tags/{tag}/plot?start={start}&end={end}&intervals={PLOT_PX}", name=label
        )

    @task(5)
    def plot_1h(self) -> None:
        self._plot(3600 * S, "plot 1 h")

    @task(3)
    def plot_1d(self) -> None:
        self._plot(86_400 * S, "plot 1 d")

    @task(1)
    def plot_30d(self) -> None:
        self._plot(30 * 86_400 * S, "plot 30 d")

    @task(3)
    def recorded_10min(self) -> None:
        start, end = self._window(600 * S)
        tag = random.choice(self.tags)
        self.client.get(
            f"/api/v1/tags/{tag}/recorded?start={start}&end={end}", name="recorded 10 min"
        )

    @task(2)
    def summary_day(self) -> None:
        start, end = self._window(86_400 * S)
        tag = random.choice(self.tags)
        self.client.get(
            f"/api/v1/tags/{tag}/summary?start={start}&end={end}&interval=1h"
            "&types=average,minimum,maximum",
            name="summary 1 d hourly",
        )

    @task(6)
    def last_values(self) -> None:
        tags = random.sample(self.tags, min(5, len(self.tags)))
        queries = [{"tag": t, "kind": "last"} for t in tags]
        self.client.post("/api/v1/streams/query", json={"queries": queries}, name="last x5")


# ------------------------------------------------------------------ self-contained run
def _catalogue(n: int) -> str:
    head = 'format = "twinbench-catalogue"\nversion = 1\n'
    return head + "".join(
        f'\n[[tag]]\nid = {i + 1}\npath = "load.site.area.line.cell.unit{i:02d}.flow"\n'
        f'legacy_name = "T{i:02d}"\nunit = "m3/h"\nlow = 0.0\nhigh = 1000.0\ndtype = "float64"\n'
        for i in range(n)
    )


def _seed(root: Path, tags: int, days: int, end_ns: int) -> None:
    import numpy as np

    from historian import Historian
    from historian.model import PointBatch

    db = Historian.open(str(root))
    try:
        per = days * 86_400
        for i in range(tags):
            ts = end_ns - (per - np.arange(per, dtype=np.int64)) * S
            vals = 100 + np.cumsum(np.random.default_rng(i).normal(scale=0.05, size=per))
            for lo in range(0, per, 86_400):
                sl = slice(lo, lo + 86_400)
                db.write(PointBatch.from_arrays(np.full(len(ts[sl]), i + 1), ts[sl], vals[sl]))
        db.flush()
    finally:
        db.close()


def _ingest(
    url: str, tags: list[str], rate: int, stop: threading.Event, stats: dict[str, int]
) -> None:
    per_batch = max(1, rate // 10)
    while not stop.is_set():
        t0 = time.monotonic()
        now = time.time_ns()
        names = [tags[k % len(tags)] for k in range(per_batch)]
        stamps = [now - (per_batch - k) * 1000 for k in range(per_batch)]
        body = json.dumps({"tag": names, "timestamp": stamps, "value": [1.0] * per_batch}).encode()
        req = urllib.request.Request(
            url + "/api/v1/write", body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                stats["points"] += json.loads(r.read())["written"]
        except OSError:
            stats["errors"] += 1
        stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))


def main() -> int:
    ap = argparse.ArgumentParser(description="Build a store, serve it, load it with the mix.")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--tags", type=int, default=20)
    ap.add_argument("--days", type=int, default=2, help="days of 1 Hz data per tag")
    ap.add_argument("--ingest-rate", type=int, default=50_000, help="points/s written meanwhile")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="locust-api-"))
    (tmp / "catalogue.toml").write_text(_catalogue(args.tags))
    end_ns = time.time_ns() - 60 * S
    print(f"seeding {args.tags} tags x {args.days} d at 1 Hz in {tmp}", flush=True)
    _seed(tmp / "data", args.tags, args.days, end_ns)
    ready = tmp / "ready.json"
    exe = str(Path(sys.executable).parent / "twinbench")
    serve = [
        exe,
        "historian",
        "serve",
        "--data-dir",
        str(tmp / "data"),
        "--catalogue",
        str(tmp / "catalogue.toml"),
        "--http",
        "127.0.0.1:0",
        "--ready-file",
        str(ready),
    ]
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                print((tmp / "serve.log").read_text(), file=sys.stderr)
                return 1
            time.sleep(0.05)
        url = json.loads(ready.read_text())["http"]
        tags = [f"load.site.area.line.cell.unit{i:02d}.flow" for i in range(args.tags)]
        stats = {"points": 0, "errors": 0}
        writer = threading.Thread(target=_ingest, args=(url, tags, args.ingest_rate, stop, stats))
        if args.ingest_rate > 0:
            writer.start()
        loc = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                __file__,
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.seconds}s",
                "--host",
                url,
                "--csv",
                str(tmp / "locust"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            capture_output=True,
            text=True,
        )
        stop.set()
        if writer.is_alive():
            writer.join()
        with open(tmp / "locust_stats.csv") as fh:
            rows = list(csv.DictReader(fh))
        rate = stats["points"] / args.seconds
        print(
            f"\n{args.users} users for {args.seconds} s; ingest {rate:,.0f} points/s through "
            f"/api/v1/write ({stats['errors']} failed batches)\n"
        )
        print("| request | count | failures | req/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | "
                f"{float(r['Requests/s']):.1f} | {r['50%']} | {r['99%']} |"
            )
        return loc.returncode
    finally:
        stop.set()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
