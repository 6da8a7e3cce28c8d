"""The secured set-up the forged-batch tests share: a real secured bus and a bind-only ingest.

:func:`secured_ingest`: ``security init`` (options from the ``deployment_options``
fixture, which a test module overrides to bind series), a real nats-server with its
rendered config (TLS, NKEY users, allow-lists), the streams and consumers created by
``acme-operator``, an :class:`IngestHost` bound as ``acme-ingest`` with the tenant's
owners file, running; and two client connections, as ``acme-collector-1`` and as the
operator. Everything is closed and stopped in reverse order afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment, source_owners_path
from harness.services import NatsServer
from historian.bus.auth import NatsAuth
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.ingest.service import IngestHost
from historian.ingest.sources import load_source_owners
from historian.model import PointBatch


class ListSink:
    """The ingest's store: keeps the series of every point written."""

    def __init__(self) -> None:
        self.series: list[int] = []

    def write(self, batch: PointBatch) -> int:
        self.series.extend(batch.series.tolist())
        return len(batch)


@dataclass
class SecuredIngest:
    cfg: SecureNatsConfig
    server: NatsServer
    sink: ListSink
    host: IngestHost
    collector: NATS
    """Connected as ``acme-collector-1``."""
    operator: NATS
    """Connected as ``acme-operator`` (reads stream and dead-letter state)."""


async def provision(cfg: SecureNatsConfig, server: NatsServer) -> None:
    """As the operator: the streams and every partition's durable consumer."""
    nc = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
    try:
        opts = cfg.manifest.bus
        await ensure_streams(nc.jetstream(), opts)
        for p in range(opts.partitions):
            await ensure_consumer(nc.jetstream(), opts, p)
    finally:
        await nc.close()


async def wait_all_acked(ops: NATS, opts: BusOptions, partition: int, deadline: float) -> Any:
    """The partition consumer's info once nothing is pending or unacked (asserted by
    ``deadline``, a ``time.monotonic()``): every message was acked, none left over."""
    name = opts.consumer_name(partition)
    while True:
        info = await ops.jetstream().consumer_info(opts.stream, name)
        if (not info.num_ack_pending and not info.num_pending) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    assert not info.num_ack_pending and not info.num_pending
    return info


async def dead_letters(nc: NATS, stream: str, subject: str, n: int) -> list[dict[str, str]]:
    """The headers of the first ``n`` dead letters (waited for, 20 s at most)."""
    sub = await nc.jetstream().pull_subscribe(subject, stream=f"{stream}_DLQ")
    out: list[dict[str, str]] = []
    deadline = time.monotonic() + 20
    while len(out) < n and time.monotonic() < deadline:
        try:
            msgs = await sub.fetch(n - len(out), timeout=1)
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            out.append(dict(m.headers or {}))  # not acked: the operator may not ack
    return out


@pytest.fixture
def deployment_options() -> InitOptions:
    return InitOptions(collectors=2)


@pytest.fixture
async def secured_ingest(
    tmp_path: Path, deployment_options: InitOptions
) -> AsyncIterator[SecuredIngest]:
    init_deployment(tmp_path / "sec", deployment_options)
    cfg = SecureNatsConfig.load(tmp_path / "sec")
    server = NatsServer(tmp_path / "nats", **cfg.server_kwargs(tmp_path / "nats"))
    server.start()
    try:
        await provision(cfg, server)
        opts = cfg.manifest.bus
        ident = cfg.manifest.identity("acme-ingest")
        sink = ListSink()
        (tmp_path / "cp").mkdir()
        host = IngestHost(
            sink,
            server.url,
            opts,
            list(range(opts.partitions)),
            tmp_path / "cp",
            auth=NatsAuth(
                nkey_seed=cfg.path(ident.seed_file), tls_ca=cfg.path(cfg.manifest.tls.ca_cert)
            ),
            bind_only=True,
            sources=load_source_owners(source_owners_path(cfg.directory, "acme")),
        )
        await host.start()
        stop = asyncio.Event()
        running = asyncio.create_task(host.run(stop))
        try:
            nc = await nats.connect(server.url, **cfg.connect_kwargs("acme-collector-1"))
            ops = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
            try:
                yield SecuredIngest(cfg, server, sink, host, nc, ops)
            finally:
                await nc.close()
                await ops.close()
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await host.close()
    finally:
        server.close()
