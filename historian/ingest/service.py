"""The ingest host: NATS connections, one worker per partition, applied notices.

The long-running process that hosts it is ``twinbench historian serve``
(:mod:`historian.server`); ``python -m historian.ingest`` is an alias of it.

After each applied fetch round a worker publishes a small JSON notice on core
NATS subject ``<applied_prefix>.p<N>``: ``{"t": applied_ns, "b": [[source, seq,
created_ns, points], ...]}``. The harness uses it to measure
publish->queryable latency without polling the store.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from historian.bus.auth import NatsAuth
from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.bus.wire import DecodedBatch
from historian.fs import FileSystem
from historian.ingest.metrics import IngestExporter, export_loop
from historian.ingest.sources import SourceBinding
from historian.ingest.worker import BatchSink, IngestWorker
from historian.options import Options

APPLIED_PREFIX = "tb.applied"


def applied_subject(partition: int) -> str:
    return f"{APPLIED_PREFIX}.p{partition}"


class IngestHost:
    """Connects, subscribes every partition's worker (:meth:`start`), runs them (:meth:`run`)."""

    def __init__(
        self,
        sink: BatchSink,
        nats_url: str,
        opts: BusOptions,
        partitions: list[int],
        checkpoint_dir: Path,
        *,
        notify_url: str | None = None,
        admission: Options | None = None,
        fs: FileSystem | None = None,
        auth: NatsAuth | None = None,
        bind_only: bool = False,
        sources: SourceBinding | None = None,
    ) -> None:
        """``auth``: the identity both connections use (NKEY, TLS; plain when None);
        ``bind_only``: see :class:`IngestWorker` (streams provisioned by an operator);
        ``sources``: the forged-source check of every worker (historian.ingest.sources)."""
        self._sink = sink
        self._auth = auth or NatsAuth()
        self._bind_only = bind_only
        self._sources = sources
        self._url = nats_url
        self._opts = opts
        self._partitions = partitions
        self._checkpoint_dir = checkpoint_dir
        self._notify_url = notify_url
        self._admission = admission
        self._fs = fs
        self.workers: list[IngestWorker] = []
        self._nc: NATS | None = None
        self._nc_notify: NATS | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self._run_stop: asyncio.Event | None = None
        self._failure: BaseException | None = None

    def fail(self, exc: BaseException) -> None:
        """A worker run outside :meth:`run` failed for good: make :meth:`run` raise ``exc``."""
        self._failure = exc
        if self._run_stop is not None:
            self._run_stop.set()

    async def start(self) -> None:
        self._nc = nc = await nats.connect(
            server_list(self._url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            connect_timeout=2,
            error_cb=_quiet_error,
            **self._auth.connect_kwargs(),
        )
        # Notices are instrumentation for the harness: a separate connection lets a test
        # cut the ingest's data link (through a fault proxy) without losing the measurement.
        self._nc_notify = nc
        if self._notify_url is not None and self._notify_url != self._url:
            self._nc_notify = await nats.connect(
                server_list(self._notify_url),
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                error_cb=_quiet_error,
                **self._auth.connect_kwargs(),
            )
        self.workers = [self.make_worker(p) for p in self._partitions]
        for w in self.workers:
            await w._subscribe()

    @property
    def nc(self) -> NATS:
        """The data connection (after :meth:`start`)."""
        assert self._nc is not None, "IngestHost.start() first"
        return self._nc

    @property
    def bus(self) -> BusOptions:
        return self._opts

    def make_worker(self, partition: int) -> IngestWorker:
        """A worker for ``partition`` on this host's connection, sink and notices (not run:
        :meth:`run` runs the ones in :attr:`workers` at start; historian.server.partition_owner
        runs the ones it acquires later)."""
        return IngestWorker(
            self.nc,
            self._sink,
            self._opts,
            partition=partition,
            checkpoint_dir=self._checkpoint_dir,
            on_applied=self._notifier(partition),
            admission=self._admission,
            fs=self._fs,
            bind_only=self._bind_only,
            sources=self._sources,
        )

    def _notifier(self, partition: int) -> Callable[[list[DecodedBatch]], None]:
        subject = applied_subject(partition)

        def on_applied(decoded: list[DecodedBatch]) -> None:
            assert self._nc_notify is not None
            notice = {
                "t": time.time_ns(),
                "b": [[d.source_id, d.sequence, d.created_ns, len(d.batch)] for d in decoded],
            }
            payload = json.dumps(notice).encode()
            fut = asyncio.ensure_future(self._nc_notify.publish(subject, payload))
            self._pending.add(fut)
            fut.add_done_callback(self._pending.discard)

        return on_applied

    async def run(self, stop: asyncio.Event) -> None:
        """Run every worker until ``stop``; if one raises, stop the others and re-raise."""
        tasks = [asyncio.create_task(w.run(stop)) for w in self.workers]
        if not tasks:  # partitions come and go at run time (historian.server.partition_owner)
            self._run_stop = stop
            await stop.wait()
            if self._failure is not None:
                raise self._failure
            return
        try:
            for fut in asyncio.as_completed(tasks):
                await fut
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for w in self.workers:
            await w.close()
        for nc in {id(c): c for c in (self._nc, self._nc_notify) if c is not None}.values():
            # bounded: a stop must not hang on a bus that is partitioned away
            try:
                await asyncio.wait_for(nc.drain(), 5.0)
            except Exception:
                await nc.close()


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
    auth: NatsAuth | None = None,
    bind_only: bool = False,
    sources: SourceBinding | None = None,
) -> list[IngestWorker]:
    """Ingest in-process until ``stop`` (tests and benchmarks; the process is historian.server)."""
    host = IngestHost(
        sink,
        nats_url,
        opts,
        partitions,
        checkpoint_dir,
        notify_url=notify_url,
        auth=auth,
        bind_only=bind_only,
        sources=sources,
    )
    await host.start()
    jobs = [host.run(stop)]
    exporter: IngestExporter | None = None
    if metrics_port is not None:
        exporter = IngestExporter()
        exporter.serve(metrics_port)
        jobs.append(export_loop(exporter, host.workers, stop))
    if announce:
        print("READY", flush=True)
    try:
        await asyncio.gather(*jobs)
    finally:
        if exporter is not None:
            exporter.close()
        await host.close()
    return host.workers


async def _quiet_error(exc: Exception) -> None:
    """nats-py prints a traceback per connection error by default; reconnects are routine."""
    print(f"nats: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m historian.ingest``: an alias of ``twinbench historian serve``."""
    from historian.server.cli import main as serve_main

    return serve_main(argv, prog="python -m historian.ingest")
