"""Where an ingest write spends its time: p50/p99 per stage inside the real server.

A real nats-server and a real ``python -m historian.server DIR --nats URL
--metrics-port 0`` process (default ``--durability fsync``); this script
publishes an open-loop, paced stream of 1,000-point TBWB batches (default 50
batches/s = the stress scenario's nominal 50 k points/s over 10,000 series) and,
at the end, scrapes the server's ``/metrics`` once: the per-stage histograms
``twinbench_ingest_stage_seconds`` (the worker: decode, admission, concat, write,
ack, round, publish_to_ack, loop_lag) and ``twinbench_historian_write_stage_seconds``
(inside ``Historian.write``: validate, write_lock, wait_for_room, wal_append,
memtable_add, memtable_switch, fsync_wait, total, wal_rotate). Quantiles are
bucket upper bounds (10 buckets per decade, so within 26 %). Also prints the
server's peak RSS (VmHWM) and its CPU seconds.

Run it long enough for the memtable to fill (32 MiB = 1.5 M points, ~30 s at
50 k points/s): the default serve options are what is measured, and the
histograms are cumulative from the start (no warm-up is cut).

    python benchmarks/bench_ingest_stages.py [--seconds 45] [--rate 50] [--series 10000]
        [--against OTHER_CHECKOUT --repeats 2]

``--against DIR`` runs the server from another checkout (``git archive REV historian |
tar -x -C DIR``; it needs the stage histograms, i.e. f4fef2f or later) in alternation
with this tree, so both see the same machine; the table shows them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nats
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from harness.load.synthetic import SyntheticSource
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch

POINTS_PER_BATCH = 1_000
FAMILIES = ("twinbench_ingest_stage_seconds", "twinbench_historian_write_stage_seconds")


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Upper bound of the bucket holding quantile q, from cumulative (bound, count) pairs."""
    total = buckets[-1][1]
    if total == 0:
        return 0.0
    for bound, cum in buckets:
        if cum >= q * total:
            return bound
    return float("inf")


def stage_table(metrics_text: str) -> list[tuple[str, str, int, float, float, float]]:
    """(family, stage, samples, p50 ms, p99 ms, max-bucket ms) per stage."""
    rows = []
    for fam in text_string_to_metric_families(metrics_text):
        if fam.name not in FAMILIES:
            continue
        per: dict[str, list[tuple[float, float]]] = {}
        for s in fam.samples:
            if s.name.endswith("_bucket"):
                per.setdefault(s.labels["stage"], []).append((float(s.labels["le"]), s.value))
        for stage, b in per.items():
            b.sort()
            n = int(b[-1][1])
            top = next((bound for bound, cum in b if cum >= n), 0.0) if n else 0.0
            short = "engine" if "historian" in fam.name else "worker"
            rows.append(
                (short, stage, n, _quantile(b, 0.5) * 1e3, _quantile(b, 0.99) * 1e3, top * 1e3)
            )
    return rows


def _proc_status(pid: int) -> dict[str, str]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    seconds: float, rate: float, series: int, serve_args: list[str], tree: str | None = None
) -> tuple[list[tuple[str, str, int, float, float, float]], str]:
    """One run; ``tree``: import the server's ``historian`` from there (another checkout)."""
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    try:
        with NatsServer(work / "nats") as srv:
            opts = BusOptions()
            nc = await nats.connect(srv.url)
            js = nc.jetstream()
            await ensure_streams(js, opts)
            ready = work / "ready.json"
            proc = subprocess.Popen(
                [sys.executable, "-m", "historian.server", str(work / "hist"), "--nats", srv.url,
                 "--metrics-port", "0", "--ready-file", str(ready), *serve_args],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                cwd=tree or None,
            )  # fmt: skip
            try:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
                metrics_url = json.loads(ready.read_text())["metrics"] + "/metrics"
                idle_rss = _proc_status(proc.pid).get("VmRSS", "?")
                cpu0 = _cpu_seconds(proc.pid)
                ids = np.arange(1, series + 1, dtype=np.uint32)
                src = SyntheticSource(ids, 1, start_ns=time.time_ns())
                subject = opts.batch_subject(0)
                n = int(seconds * rate)
                t0 = time.monotonic()
                late = 0
                for i in range(n):
                    delay = t0 + i / rate - time.monotonic()  # open loop: never wait for acks
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -0.05:
                        late += 1
                    payload = encode_batch(
                        src.batch(i * POINTS_PER_BATCH, POINTS_PER_BATCH),
                        source_id="bench",
                        sequence=i,
                        created_ns=time.time_ns(),
                    )
                    await js.publish(subject, payload)
                wanted = n
                deadline = time.monotonic() + 60
                text = ""
                while time.monotonic() < deadline:
                    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
                    done = [
                        s.value
                        for f in text_string_to_metric_families(text)
                        if f.name == "twinbench_ingest_batches_total"
                        for s in f.samples
                    ]
                    if done and sum(done) >= wanted:
                        break
                    await asyncio.sleep(0.2)
                st = _proc_status(proc.pid)
                cpu = _cpu_seconds(proc.pid) - cpu0
            finally:
                proc.terminate()
                proc.wait(timeout=60)
                await nc.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = stage_table(text)
    extra = (
        f"late {late}/{n}; serve RSS idle {idle_rss}, end {st.get('VmRSS', '?')}, "
        f"peak {st.get('VmHWM', '?')}; CPU {cpu:.1f} s in {seconds:g} s"
    )
    return rows, extra


async def compare(
    seconds: float,
    rate: float,
    series: int,
    serve_args: list[str],
    trees: list[str | None],
    repeats: int,
) -> None:
    """Alternate the trees run by run (machine noise hits each), print p50/p99 side by side."""
    names = [t or "this tree" for t in trees]
    runs: dict[int, list[dict[tuple[str, str], tuple[int, float, float, float]]]] = {}
    for r in range(repeats):
        for i, tree in enumerate(trees):
            rows, extra = await run(seconds, rate, series, serve_args, tree)
            runs.setdefault(i, []).append({(w, st): (k, a, b, c) for w, st, k, a, b, c in rows})
            print(f"  run {r + 1} {names[i]}: {extra}", flush=True)
    print(
        f"\n{rate:g} batches/s x {POINTS_PER_BATCH} points ({rate * POINTS_PER_BATCH / 1e3:g} k "
        f"points/s) over {series} series, {seconds:g} s per run, median of {repeats} run(s); "
        f"serve {' '.join(serve_args) or '(defaults)'}"
    )
    head = "".join(f" | {'p50':>7} {'p99':>7} {'max<=':>7}" for _ in trees)
    print(f"{'where':>6} {'stage':>16}{head}   (ms)  {' vs '.join(names)}")
    keys = list(runs[0][0])
    for key in keys:
        line = f"{key[0]:>6} {key[1]:>16}"
        for i in range(len(trees)):
            vals = [rr[key] for rr in runs[i] if key in rr]
            if not vals:
                line += f" | {'-':>7} {'-':>7} {'-':>7}"
                continue
            p50 = statistics.median(v[1] for v in vals)
            p99 = statistics.median(v[2] for v in vals)
            top = statistics.median(v[3] for v in vals)
            line += f" | {p50:>7.3f} {p99:>7.3f} {top:>7.1f}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=45.0, help="load duration")
    ap.add_argument("--rate", type=float, default=50.0, help="batches per second (1,000 points)")
    ap.add_argument("--series", type=int, default=10_000, help="distinct series in the load")
    ap.add_argument(
        "--against", help="another checkout's root: its server runs in alternation with this one"
    )
    ap.add_argument("--repeats", type=int, default=1, help="runs per tree")
    ap.add_argument("serve_args", nargs="*", help="extra serve arguments (after --)")
    args = ap.parse_args()
    trees: list[str | None] = [args.against, None] if args.against else [None]
    asyncio.run(compare(args.seconds, args.rate, args.series, args.serve_args, trees, args.repeats))


if __name__ == "__main__":
    main()
