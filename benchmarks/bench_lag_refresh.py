"""Cost of the ingest's lag refresh (historian/ingest/buslag.py) on a real nats-server.

    python benchmarks/bench_lag_refresh.py [--reads 300] [--pending 100]

The worker refreshes once a second per partition (and on idle fetch rounds). Prints
the median and p99 of one full refresh (consumer_info + the oldest unacked message +
stream_info) against a bare ``consumer_info`` (what the worker read before lag in
seconds and stream size were exported), measured in the same run, and the share
of one second of the worker's loop the full refresh takes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import nats

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.ingest.buslag import read_consumer, read_stream


async def timed(call: Callable[[], Awaitable[object]], reads: int) -> list[float]:
    out = []
    for _ in range(reads):
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return sorted(out)


async def run(url: str, reads: int, pending: int) -> None:
    o = BusOptions()
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js, o)
    await ensure_consumer(js, o, 0)
    for _ in range(pending):
        await js.publish(o.batch_subject(0), b"x" * 20_000)
    name, subject = o.consumer_name(0), o.batch_subject(0)

    async def bare() -> object:
        return await js.consumer_info(o.stream, name)

    async def full() -> object:
        await read_consumer(js, o.stream, name, subject)
        return await read_stream(js, o.stream)

    results = {}
    for label, call in (("consumer_info only", bare), ("full refresh", full)):
        ts = await timed(call, reads)
        results[label] = statistics.median(ts)
        p99 = ts[min(len(ts) - 1, int(len(ts) * 0.99))]
        print(f"{label:>20}: median {results[label] * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    ratio = results["full refresh"] / results["consumer_info only"]
    share = results["full refresh"] * 100
    print(f"full / bare: {ratio:.2f}x; one refresh a second = {share:.2f} % of the loop")
    await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--pending", type=int, default=100, help="unacked messages in the stream")
    args = ap.parse_args()
    with NatsServer() as server:  # its own temp dir, removed at the end
        asyncio.run(run(server.url, args.reads, args.pending))


if __name__ == "__main__":
    main()
