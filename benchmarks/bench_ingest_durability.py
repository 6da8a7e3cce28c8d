"""What fsync-before-ack costs: publish -> durable write latency, ``fsync`` vs ``os``.

The real historian server (``python -m historian.server DIR --nats URL
--durability MODE``) consumes a paced (open-loop) stream of 1,000-point TBWB
batches from one nats-server. Each batch carries its publish time
(``created_ns``); the server's applied notice (sent right after the JetStream
ack, i.e. once the batch is durable under the mode) carries the applied time.
Latency = applied - published, per batch.

- ``fsync`` (the default): acked after the WAL fsync (group commit); survives power loss.
- ``os``: acked once written to the OS; fsync every 5 ms; survives SIGKILL only.

Runs alternate fsync, os, fsync, os, ... (fresh store and stream each), so machine
noise hits both; prints p50/p99/p99.9 per mode (median over repeats) and the
ratio fsync/os, plus the absolute p99 cost in ms.

    python benchmarks/bench_ingest_durability.py [--seconds 12] [--rate 50] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import nats.js.errors
import numpy as np
from nats.aio.msg import Msg

from harness.load.synthetic import SyntheticSource
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.ingest.service import APPLIED_PREFIX

POINTS_PER_BATCH = 1_000
WARMUP_S = 2.0


async def one_run(
    srv: NatsServer, work: Path, mode: str, k: int, seconds: float, rate: float
) -> np.ndarray:
    """Latencies (ms) of every batch published after the warm-up, in one mode."""
    opts = BusOptions()
    nc = await nats.connect(srv.url)
    js = nc.jetstream()
    for name in (opts.stream, f"{opts.stream}_DLQ"):  # a fresh stream and consumer per run
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
    await ensure_streams(js, opts)
    applied: dict[int, int] = {}
    created: dict[int, int] = {}

    async def on_notice(msg: Msg) -> None:
        notice = json.loads(msg.data)
        for _src, seq, _created, _points in notice["b"]:
            applied[int(seq)] = int(notice["t"])

    await nc.subscribe(f"{APPLIED_PREFIX}.>", cb=on_notice)
    data = work / f"hist-{k}-{mode}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "historian.server", str(data), "--nats", srv.url,
         "--durability", mode],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        subject = opts.batch_subject(0)
        src = SyntheticSource(np.arange(1, 2_001, dtype=np.uint32), k, start_ns=time.time_ns())
        n = int(seconds * rate)
        t0 = time.monotonic()
        for i in range(n):
            # open loop: each batch has an intended send time; never wait for acks
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time_ns()
            created[i] = now
            payload = encode_batch(
                src.batch(i * 1_000_000, POINTS_PER_BATCH),
                source_id="bench",
                sequence=i,
                created_ns=now,
            )
            await js.publish(subject, payload)
        deadline = time.monotonic() + 30
        while len(applied) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first = int(WARMUP_S * rate)
        lat = [(applied[i] - created[i]) / 1e6 for i in range(first, n) if i in applied]
        if len(lat) < (n - first) * 0.99:
            raise RuntimeError(f"{mode}: only {len(lat)} of {n - first} batches were applied")
        return np.array(lat)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        await nc.close()
        shutil.rmtree(data, ignore_errors=True)


async def main_async(seconds: float, rate: float, repeats: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-durability-"))
    results: dict[str, list[tuple[float, float, float]]] = {"fsync": [], "os": []}
    try:
        with NatsServer(work / "nats") as srv:
            k = 0
            for _ in range(repeats):
                for mode in ("fsync", "os"):
                    lat = await one_run(srv, work, mode, k, seconds, rate)
                    k += 1
                    p = np.percentile(lat, [50, 99, 99.9])
                    results[mode].append((float(p[0]), float(p[1]), float(p[2])))
                    print(
                        f"  run {k}: {mode:5} n={len(lat)} p50 {p[0]:.2f} ms  p99 {p[1]:.2f} ms  "
                        f"p99.9 {p[2]:.2f} ms",
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {m: [statistics.median(r[j] for r in rs) for j in range(3)] for m, rs in results.items()}
    print(f"\npublish -> durable write, {rate:g} batches/s x {POINTS_PER_BATCH} points, "
          f"median of {repeats} run(s) per mode")  # fmt: skip
    print(f"{'mode':>6} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}")
    for m in ("fsync", "os"):
        print(f"{m:>6} {med[m][0]:>8.2f} {med[m][1]:>8.2f} {med[m][2]:>9.2f}")
    ratio = med["fsync"][1] / med["os"][1]
    print(f"p99 ratio fsync/os: {ratio:.2f}  (fsync costs {med['fsync'][1] - med['os'][1]:+.2f} ms "
          "at p99)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="load per run")
    ap.add_argument("--rate", type=float, default=50.0, help="batches per second")
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode (alternating)")
    args = ap.parse_args()
    asyncio.run(main_async(args.seconds, args.rate, args.repeats))


if __name__ == "__main__":
    main()
