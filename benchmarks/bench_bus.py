"""Bus path throughput: synthetic batches -> JetStream -> ingest process -> engine.

Measured side by side in one run, on one nats-server:

1. raw JetStream publish: pre-encoded 1,000- and 5,000-point TBWB batches with
   ``publish_async`` (window 256, ``Nats-Msg-Id`` set), no consumer running;
2. end to end: the same batches published while a real ingest process
   (``python -m historian.ingest``) consumes them into the engine (durable,
   group-committed WAL), timed until the consumer has acked the last one.

Prints points/s of each and the ratio end-to-end / raw (issue goal >= 0.7,
architecture goal >= 1 M points/s end to end).

The end-to-end clock starts once the ingest process has loaded its numba kernels
(its ``kernels warm`` line): that start-up work (1.5-3 CPU-s, on a thread after
READY) is not ingest throughput, yet on a CPU-capped machine it took a third of the
CPU of a 3 s measurement. Also printed: the CPU each side spent per million points
(``µs``: publisher + nats-server, the ingest process), from /proc, so a ratio on a
CPU-capped machine can be read as the CPU budget it is.

    python benchmarks/bench_bus.py [--points 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nats
import numpy as np

from harness.load.synthetic import SyntheticSource
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch


def _payloads(total: int, per_batch: int) -> list[bytes]:
    src = SyntheticSource(np.arange(1, 10_001, dtype=np.uint32), 7, start_ns=time.time_ns())
    return [
        encode_batch(src.batch(i * 1_000_000, per_batch), source_id="bench", sequence=i)
        for i in range(total // per_batch)
    ]


async def _publish(js, subject: str, payloads: list[bytes], tag: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    window: list[asyncio.Future] = []  # type: ignore[type-arg]
    for i, p in enumerate(payloads):
        window.append(await js.publish_async(subject, p, headers={"Nats-Msg-Id": f"{tag}/{i}"}))
        if len(window) >= 256:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    return time.perf_counter() - t0


WARM_TIMEOUT_S = 600.0
"""A cold numba cache (a fresh clone) compiles the kernels: 44 s measured, minutes under load."""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch_warm(proc: subprocess.Popen[str]) -> threading.Event:
    """Forward the ingest's stderr; the event is set at its ``kernels warm`` line."""
    warm = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            if "kernels warm" in line:
                warm.set()

    threading.Thread(target=pump, daemon=True).start()
    return warm


async def run(points: int, per_batch: int) -> tuple[float, float, float, float]:
    """Raw and end-to-end points/s, then the CPU µs per point of the publishing side
    (this process + nats-server) and of the ingest process during the end-to-end run."""
    work = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    opts = BusOptions()
    payloads = _payloads(points, per_batch)
    n = len(payloads) * per_batch
    with NatsServer(work / "nats") as srv:
        nc = await nats.connect(srv.url)
        js = nc.jetstream(publish_async_max_pending=1024)
        await ensure_streams(js, opts)
        raw_s = await _publish(js, opts.batch_subject(0), payloads, "raw")
        await js.purge_stream(opts.stream)
        proc = subprocess.Popen(
            [sys.executable, "-m", "historian.ingest", "--data-dir", str(work / "hist"),
             "--nats", srv.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            warm = _watch_warm(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            if not await asyncio.to_thread(warm.wait, WARM_TIMEOUT_S):
                raise RuntimeError(f"ingest kernels not warm within {WARM_TIMEOUT_S:g} s")
            cpu0 = (time.process_time() + _cpu_s(srv.pid), _cpu_s(proc.pid))
            t0 = time.perf_counter()
            await _publish(js, opts.batch_subject(0), payloads, "e2e")
            while True:
                info = await js.consumer_info(opts.stream, opts.consumer_name(0))
                if not info.num_pending and not info.num_ack_pending:
                    break
                await asyncio.sleep(0.005)
            e2e_s = time.perf_counter() - t0
            pub_cpu = time.process_time() + _cpu_s(srv.pid) - cpu0[0]
            ingest_cpu = _cpu_s(proc.pid) - cpu0[1]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        await nc.close()
    return n / raw_s, n / e2e_s, pub_cpu / n * 1e6, ingest_cpu / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=2_000_000)
    args = ap.parse_args()
    print(
        f"{'points/msg':>10} {'raw publish pts/s':>18} {'end-to-end pts/s':>17} {'ratio':>6}"
        f" {'CPU µs/pt: publish':>19} {'ingest':>7}"
    )
    for per_batch in (1_000, 5_000):
        raw, e2e, pub_us, ingest_us = asyncio.run(run(args.points, per_batch))
        print(
            f"{per_batch:>10,} {raw:>18,.0f} {e2e:>17,.0f} {e2e / raw:>6.2f}"
            f" {pub_us:>19.3f} {ingest_us:>7.3f}"
        )


if __name__ == "__main__":
    main()
