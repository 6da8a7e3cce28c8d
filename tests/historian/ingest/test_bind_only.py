"""Bind-only ingest as a least-privilege identity on a real secured nats-server.

The deployment (``twinbench security init``) gives ``acme-ingest`` fetch/ack on its
consumers but no ``STREAM.CREATE/UPDATE`` or ``CONSUMER.CREATE``: the default
ingest (ensure streams and consumers) cannot start as it; ``bind_only`` binds to
what the operator provisioned, and with nothing provisioned says so at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.services import NatsServer
from historian.bus.auth import NatsAuth
from historian.bus.publisher import BatchPublisher
from historian.bus.wire import encode_batch
from historian.ingest.service import IngestHost
from historian.ingest.worker import NotProvisionedError
from historian.model import PointBatch
from tests.historian.ingest.conftest import ListSink, provision, wait_all_acked

pytestmark = [pytest.mark.service]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[SecureNatsConfig, NatsServer]]:
    init_deployment(tmp_path / "sec", InitOptions(collectors=1))
    cfg = SecureNatsConfig.load(tmp_path / "sec")
    server = NatsServer(tmp_path / "nats", **cfg.server_kwargs(tmp_path / "nats"))
    server.start()
    try:
        yield cfg, server
    finally:
        server.close()


def ingest_auth(cfg: SecureNatsConfig) -> NatsAuth:
    ident = cfg.manifest.identity("acme-ingest")
    # the command-line form: seed file + CA, inbox prefix derived from the seed's name
    return NatsAuth(nkey_seed=cfg.path(ident.seed_file), tls_ca=cfg.path(cfg.manifest.tls.ca_cert))


def host(cfg: SecureNatsConfig, server: NatsServer, tmp: Path, *, bind_only: bool) -> IngestHost:
    opts = cfg.manifest.bus
    return IngestHost(
        ListSink(),
        server.url,
        opts,
        list(range(opts.partitions)),
        tmp,
        auth=ingest_auth(cfg),
        bind_only=bind_only,
    )


async def test_default_ingest_cannot_start_as_the_ingest_identity(
    secured: tuple[SecureNatsConfig, NatsServer], tmp_path: Path
) -> None:
    cfg, server = secured
    await provision(cfg, server)
    h = host(cfg, server, tmp_path, bind_only=False)
    try:
        with pytest.raises(nats.errors.TimeoutError):  # STREAM.UPDATE is denied: no reply
            await h.start()
    finally:
        await h.close()
    assert f"$JS.API.STREAM.UPDATE.{cfg.manifest.bus.stream}" in server.log_path.read_text()


async def test_bind_only_without_provisioning_says_so(
    secured: tuple[SecureNatsConfig, NatsServer], tmp_path: Path
) -> None:
    cfg, server = secured
    h = host(cfg, server, tmp_path, bind_only=True)
    t0 = time.monotonic()
    try:
        with pytest.raises(NotProvisionedError, match="operator creates the streams"):
            await h.start()
    finally:
        await h.close()
    assert time.monotonic() - t0 < 5  # an answer (not found), not a denied request's timeout


async def test_bind_only_ingests_what_the_collector_publishes_without_a_violation(
    secured: tuple[SecureNatsConfig, NatsServer], tmp_path: Path
) -> None:
    cfg, server = secured
    await provision(cfg, server)
    opts = cfg.manifest.bus
    h = host(cfg, server, tmp_path, bind_only=True)
    await h.start()
    stop = asyncio.Event()
    running = asyncio.create_task(h.run(stop))
    collector = cfg.manifest.identity("acme-collector-1")
    assert collector.partition is not None and collector.source_id is not None
    nc = await nats.connect(server.url, **cfg.connect_kwargs(collector.name))
    try:
        ts = np.arange(500, dtype=np.int64) * 1_000_000 + time.time_ns()
        batch = PointBatch.from_arrays(np.full(500, 3), ts, np.linspace(0.0, 1.0, 500))
        payload = encode_batch(batch, source_id=collector.source_id, sequence=1, created_ns=ts[0])
        publisher = BatchPublisher(nc, opts.batch_subject(collector.partition), opts)
        await asyncio.wait_for(publisher.publish_and_wait(payload, "c1/1"), 10)
        sink = h.workers[0]._sink
        assert isinstance(sink, ListSink)
        deadline = time.monotonic() + 30
        while len(sink.series) < 500 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(sink.series) == 500
        # acked: the consumer's ack floor reaches it (read as the operator)
        ops = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
        try:
            await wait_all_acked(ops, opts, collector.partition, deadline)
        finally:
            await ops.close()
        # the worker's lag reading (consumer info + the oldest unacked message) succeeds
        # as this identity, and none of its requests was denied
        worker = next(w for w in h.workers if w.partition == collector.partition)
        while worker.metrics.consumer is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert worker.metrics.consumer is not None
        assert "Violation" not in server.log_path.read_text()
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(running, 30)
        await h.close()


def test_serve_options_for_a_secured_bus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from historian.server.cli import build_parser, config_from_args

    def parse(*argv: str):  # type: ignore[no-untyped-def]
        return config_from_args(build_parser("serve"), [str(tmp_path / "data"), *argv])

    seed = tmp_path / "acme-ingest.nk"
    seed.write_text("SU...\n")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = parse("--nats", "nats://127.0.0.1:1", "--nats-nkey", str(seed), "--bind-only")
    assert cfg.bind_only and cfg.nats_auth.nkey_seed == seed
    assert cfg.nats_auth.inbox == "_INBOX_acme-ingest"  # what security init grants
    assert not parse("--nats", "nats://127.0.0.1:1").bind_only  # default unchanged
    assert NatsAuth(nkey_seed=seed, tls_ca=ca).argv() == [
        "--nats-nkey", str(seed), "--nats-tls-ca", str(ca),
    ]  # fmt: skip
    for argv, says in (
        (["--nats", "nats://x:1", "--nats-nkey", str(tmp_path / "no.nk")], "no such file"),
        (["--bind-only"], "need --nats"),
        (["--nats", "nats://x:1", "--nats-tls-cert", str(seed)], "go together"),
    ):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2
        assert says in capsys.readouterr().err
