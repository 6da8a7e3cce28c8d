"""Bus path throughput: synthetic batches -> JetStream -> ingest process -> engine.

Measured side by side in one run, on one nats-server:

1. raw JetStream publish: pre-encoded 1,000- and 5,000-point TBWB batches with
   ``publish_async`` (window 256, ``Nats-Msg-Id`` set), no consumer running;
2. end to end: the same batches published while a real ingest process
   (``python -m historian.ingest``) consumes them into the engine (durable,
   group-committed WAL), timed until the consumer has acked the last one.

Prints points/s of each and the ratio end-to-end / raw (issue goal >= 0.7,
architecture goal >= 1 M points/s end to end).

    python benchmarks/bench_bus.py [--points 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
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


async def run(points: int, per_batch: int) -> tuple[float, float]:
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
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            t0 = time.perf_counter()
            await _publish(js, opts.batch_subject(0), payloads, "e2e")
            while True:
                info = await js.consumer_info(opts.stream, opts.consumer_name(0))
                if not info.num_pending and not info.num_ack_pending:
                    break
                await asyncio.sleep(0.005)
            e2e_s = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        await nc.close()
    return n / raw_s, n / e2e_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=2_000_000)
    args = ap.parse_args()
    print(f"{'points/msg':>10} {'raw publish pts/s':>18} {'end-to-end pts/s':>17} {'ratio':>6}")
    for per_batch in (1_000, 5_000):
        raw, e2e = asyncio.run(run(args.points, per_batch))
        print(f"{per_batch:>10,} {raw:>18,.0f} {e2e:>17,.0f} {e2e / raw:>6.2f}")


if __name__ == "__main__":
    main()
