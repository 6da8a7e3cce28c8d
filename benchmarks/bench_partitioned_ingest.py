"""Partitioned ingest scaling: drain a pre-published backlog with 1, 2 and 4 serve processes.

Per configuration (fresh nats-server, fresh stores): publish ``--points`` points
in 1,000-point batches (100 series x 10 timestamps, random walks) evenly over
the 4 partitions of the stream (``tb.ingest.p0..p3``), then start the
``twinbench historian serve`` processes, each with its static share
(``--partition``: 1 process all four, 2 processes two each, 4 one each), and
time the drain from the consumers' state (messages neither pending nor awaiting
an ack: what the historians made durable and acked), polled every 0.1 s. The rate is
measured from the moment every process is ready (its ready file; a process
fetches from then on) to 90 % of the backlog acked, so process start-up
(imports, WAL open, numba warm-up) is not counted. Give the configurations
several times (``--processes 1 2 4 1 2 4 1 2 4``): runs alternate, so machine
noise hits all of them, and the table gives the median per configuration.

Also printed: the CPU seconds the serve processes and nats-server used during
the drain (``/proc/<pid>/stat``), so points per *core*-second can be read off
whatever the machine's core count is; and the machine's core count. On a
2-core machine four ingest processes and nats-server share two cores: the
curve flattens where the processes' total CPU demand reaches the cores.

    python benchmarks/bench_partitioned_ingest.py [--points 4000000] [--durability os]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nats
import numpy as np
from nats.js import JetStreamContext

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.bus.wire import encode_batch
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch

PARTITIONS = 4
SERIES_PER_BATCH = 100
TS_PER_BATCH = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
OPTS = BusOptions(partitions=PARTITIONS, max_bytes=16 * 1024**3)
LAYOUTS = {1: [[0, 1, 2, 3]], 2: [[0, 1], [2, 3]], 4: [[0], [1], [2], [3]]}


@dataclass
class Run:
    processes: int
    points: int
    rate: float
    """points/s from every process ready to 90 % of the backlog acked"""
    drain_s: float
    serve_cpu_s: float
    nats_cpu_s: float
    points_in_window: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


async def prepublish(js: JetStreamContext, points: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    per_partition = points // (PARTITIONS * SERIES_PER_BATCH * TS_PER_BATCH)
    base = (time.time_ns() // NS - 86_400) * NS
    pending: list[asyncio.Future[object]] = []
    for k in range(per_partition):
        for p in range(PARTITIONS):
            series = np.repeat(
                np.arange(SERIES_PER_BATCH, dtype=np.uint32) + 1 + p * SERIES_PER_BATCH,
                TS_PER_BATCH,
            )
            ts = base + (np.tile(np.arange(TS_PER_BATCH), SERIES_PER_BATCH) + k * TS_PER_BATCH) * NS
            values = np.cumsum(rng.normal(0, 0.1, len(series))) + 50.0
            payload = encode_batch(
                PointBatch.from_arrays(series, ts.astype(np.int64), values),
                source_id=f"bench-p{p}",
                sequence=k + 1,
            )
            headers = {"Nats-Msg-Id": f"p{p}-{k}"}
            pending.append(
                asyncio.ensure_future(js.publish(OPTS.batch_subject(p), payload, headers=headers))
            )
            if len(pending) >= 256:
                await asyncio.gather(*pending)
                pending.clear()
    await asyncio.gather(*pending)
    return per_partition * PARTITIONS * SERIES_PER_BATCH * TS_PER_BATCH


async def acked_messages(js: JetStreamContext, messages: int) -> int:
    """Messages acked so far: the backlog less what is pending or delivered but not acked."""
    left = 0
    for p in range(PARTITIONS):
        ci = await js.consumer_info(OPTS.stream, OPTS.consumer_name(p))
        left += int(ci.num_pending or 0) + int(ci.num_ack_pending or 0)
    return messages - left


async def one_run(work: Path, processes: int, points: int, durability: str) -> Run:
    nats_server = NatsServer(work / "nats")
    nats_server.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js, OPTS)
        for p in range(PARTITIONS):
            await ensure_consumer(js, OPTS, p)
        points = await prepublish(js, points, seed=processes)
        info = await js.stream_info(OPTS.stream)
        messages = int(info.state.messages)
        env = dict(
            os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache")
        )
        for i, parts in enumerate(LAYOUTS[processes]):
            argv = [sys.executable, "-m", "historian.server", str(work / f"store{i}")]
            argv += ["--nats", nats_server.url, "--partitions", str(PARTITIONS)]
            argv += [a for p in parts for a in ("--partition", str(p))]
            argv += ["--durability", durability, "--ready-file", str(work / f"ready{i}.json")]
            log = open(work / f"serve{i}.log", "wb")  # noqa: SIM115  (closed with the process)
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
        samples: list[tuple[float, int]] = []
        cpu0: tuple[float, float] | None = None
        ready = [work / f"ready{i}.json" for i in range(len(procs))]
        start: tuple[float, int] | None = None
        deadline = time.monotonic() + 900
        while True:
            acked = await acked_messages(js, messages)
            now = time.monotonic()
            samples.append((now, acked))
            if start is None and all(r.exists() for r in ready):
                start = (now, acked)  # every process fetches from READY on
            if start is not None and cpu0 is None:
                cpu0 = (sum(cpu_seconds(proc.pid) for proc in procs), cpu_seconds(nats_server.pid))
            if acked >= 0.9 * messages and cpu0 is not None:
                cpu1 = (sum(cpu_seconds(proc.pid) for proc in procs), cpu_seconds(nats_server.pid))
                break
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited {proc.returncode}; see {work}/serve*.log")
            if now > deadline:
                raise RuntimeError(f"drain did not finish: {acked}/{messages} acked")
            await asyncio.sleep(0.1)
        assert start is not None
        t10, a10 = start
        t90, a90 = samples[-1]
        if a10 > 0.5 * messages:
            raise RuntimeError("half the backlog drained before the last process was up")
        if t90 <= t10:
            raise RuntimeError("the backlog drained between two samples: give more --points")
        pts_per_msg = points / messages
        await nc.close()
        return Run(
            processes,
            points,
            (a90 - a10) * pts_per_msg / (t90 - t10),
            t90 - t10,
            cpu1[0] - cpu0[0],
            cpu1[1] - cpu0[1],
            (a90 - a10) * pts_per_msg,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats_server.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=4_000_000, help="backlog per configuration")
    ap.add_argument("--durability", choices=("fsync", "os"), default="os")
    ap.add_argument("--processes", type=int, nargs="*", default=[1, 2, 4])
    args = ap.parse_args()
    runs: list[Run] = []
    for n in args.processes:
        work = Path(tempfile.mkdtemp(prefix=f"bench-part{n}-"))
        try:
            run = await one_run(work, n, args.points, args.durability)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(run)
        print(
            f"{n} process(es): {run.rate:,.0f} points/s over the drain "
            f"({run.drain_s:.1f} s); CPU s: serve {run.serve_cpu_s:.1f}, "
            f"nats-server {run.nats_cpu_s:.1f}",
            flush=True,
        )
    print(f"\ncores: {os.cpu_count()}, durability {args.durability}, {runs[0].points:,} points")
    print("| processes | runs | median points/s | x 1 process | points per serve CPU-s |")
    print("|---|---|---|---|---|")
    counts = sorted({r.processes for r in runs})
    medians = {n: statistics.median(r.rate for r in runs if r.processes == n) for n in counts}
    for n in counts:
        mine = [r for r in runs if r.processes == n]
        per_cpu = statistics.median(r.points_in_window / r.serve_cpu_s for r in mine)
        ratio = medians[n] / medians[counts[0]]
        print(f"| {n} | {len(mine)} | {medians[n]:,.0f} | {ratio:.2f} | {per_cpu:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
