"""The historian ingest process: open the engine, consume partitions, ack after durable writes.

Run as ``python -m historian.ingest --data-dir DIR --nats URL [--partition N ...]``.
It prints one ``READY`` line on stdout once its consumers are subscribed (the
harness waits for it), stops cleanly on SIGTERM/SIGINT (flushes, closes the
engine), and is SIGKILL-safe by construction: nothing is acked before the
engine has made it durable.

After each applied fetch round it publishes a small JSON notice on core NATS
subject ``<applied_prefix>.p<N>``: ``{"t": applied_ns, "b": [[source, seq,
created_ns, points], ...]}``. The harness uses it to measure
publish->queryable latency without polling the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from historian.bus.options import BusOptions
from historian.bus.wire import DecodedBatch
from historian.ingest.metrics import IngestExporter, export_loop
from historian.ingest.worker import BatchSink, IngestWorker

APPLIED_PREFIX = "tb.applied"


def applied_subject(partition: int) -> str:
    return f"{APPLIED_PREFIX}.p{partition}"


async def serve(
    sink: BatchSink,
    nats_url: str,
    opts: BusOptions,
    partitions: list[int],
    checkpoint_dir: Path,
    stop: asyncio.Event,
    *,
    announce: bool = True,
    notify_url: str | None = None,
    metrics_port: int | None = None,
) -> list[IngestWorker]:
    nc: NATS = await nats.connect(
        nats_url,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
        error_cb=_quiet_error,
    )
    # Notices are instrumentation for the harness: a separate connection lets a test
    # cut the ingest's data link (through a fault proxy) without losing the measurement.
    nc_notify = nc
    if notify_url is not None and notify_url != nats_url:
        nc_notify = await nats.connect(
            notify_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=_quiet_error
        )

    pending: set[asyncio.Future[None]] = set()

    def notifier(partition: int) -> Callable[[list[DecodedBatch]], None]:
        subject = applied_subject(partition)

        def on_applied(decoded: list[DecodedBatch]) -> None:
            notice = {
                "t": time.time_ns(),
                "b": [[d.source_id, d.sequence, d.created_ns, len(d.batch)] for d in decoded],
            }
            fut = asyncio.ensure_future(nc_notify.publish(subject, json.dumps(notice).encode()))
            pending.add(fut)
            fut.add_done_callback(pending.discard)

        return on_applied

    workers = [
        IngestWorker(
            nc, sink, opts, partition=p, checkpoint_dir=checkpoint_dir, on_applied=notifier(p)
        )
        for p in partitions
    ]
    for w in workers:
        await w._subscribe()
    jobs = [w.run(stop) for w in workers]
    if metrics_port is not None:
        exporter = IngestExporter()
        exporter.serve(metrics_port)
        jobs.append(export_loop(exporter, workers, stop))
    if announce:
        print("READY", flush=True)
    try:
        await asyncio.gather(*jobs)
    finally:
        for w in workers:
            await w.close()
        await nc.drain()
        if nc_notify is not nc:
            await nc_notify.drain()
    return workers


async def _quiet_error(exc: Exception) -> None:
    """nats-py prints a traceback per connection error by default; reconnects are routine."""
    print(f"nats: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from historian import Historian
    from historian.options import FsyncPolicy, Options

    ap = argparse.ArgumentParser(prog="python -m historian.ingest", description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--nats", required=True, help="nats://host:port")
    ap.add_argument("--partition", type=int, action="append", default=None)
    ap.add_argument("--partitions", type=int, default=1, help="total partitions of the stream")
    ap.add_argument("--stream", default=BusOptions().stream)
    ap.add_argument("--notify-nats", help="separate URL for applied notices (harness use)")
    ap.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1")
    ap.add_argument("--fsync", default="interval_ms=5", help="always | interval_ms=N | never")
    args = ap.parse_args(argv)
    opts = replace(BusOptions(), stream=args.stream, partitions=args.partitions)
    parts = args.partition or list(range(args.partitions))
    db = Historian.open(args.data_dir, Options(fsync=FsyncPolicy.parse(args.fsync)))
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            db, args.nats, opts, parts, args.data_dir, stop,
            notify_url=args.notify_nats, metrics_port=args.metrics_port,
        )  # fmt: skip

    try:
        asyncio.run(run())
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
