"""Subject permissions and tenant isolation, through a real nats-server with the generated config.

What a denial looks like with nats-py 2.16: the server answers a forbidden
PUB or SUB with ``-ERR 'Permissions Violation ...'`` and keeps the connection;
nats-py hands it to ``error_cb`` as ``nats.errors.Error`` and does not close.
A JetStream publish to a forbidden subject is dropped by the server, so the
PubAck never comes and ``js.publish`` raises ``nats.errors.TimeoutError``; the
stream's message count proves nothing was stored.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import nats.js.errors
import numpy as np
import pytest

from harness.security.client import SecureNatsConfig
from harness.security.identities import Identity
from harness.services import NatsServer
from historian.bus.publisher import BatchPublisher
from historian.bus.wire import decode_batch, encode_batch
from historian.model import PointBatch
from tests.harness.security.conftest import Connect

pytestmark = [pytest.mark.service]

DENY_TIMEOUT_S = 1.0
"""How long a JetStream call waits for a reply the server will never send (a denial)."""


def collector(cfg: SecureNatsConfig, tenant: str, i: int) -> Identity:
    return cfg.manifest.identity(f"{tenant}-collector-{i}")


async def stream_messages(connect: Connect, tenant: str, stream: str) -> int:
    async with connect(f"{tenant}-operator") as (nc, _):
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)


def a_batch(points: int = 100) -> PointBatch:
    ts = np.arange(points, dtype=np.int64) * 1_000_000 + 1_700_000_000_000_000_000
    return PointBatch.from_arrays(np.full(points, 7), ts, np.linspace(0.0, 1.0, points))


async def test_collectors_own_partitions_differ(deployment: SecureNatsConfig) -> None:
    # The other denials rely on it: two collectors of a tenant never share a subject.
    for tenant in deployment.manifest.tenants:
        assert (
            collector(deployment, tenant, 1).partition != collector(deployment, tenant, 2).partition
        )


async def test_collector_publishing_to_another_collectors_partition_is_denied(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    opts = deployment.manifest.bus
    other = opts.batch_subject(collector(deployment, "acme", 2).partition or 0)
    before = await stream_messages(connect, "acme", opts.stream)
    async with connect("acme-collector-1") as (nc, errors):
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream().publish(other, b"forged", timeout=DENY_TIMEOUT_S)
        text = await errors.wait_for("permissions violation")
        assert f'publish to "{other}"' in text
        assert nc.is_connected, "a permission denial must not close the connection"
    assert await stream_messages(connect, "acme", opts.stream) == before


async def test_collector_publishing_to_another_tenants_subjects_is_denied(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    opts = deployment.manifest.bus
    globex_uns = f"{collector(deployment, 'globex', 1).uns_root}.pump.current"
    globex_before = await stream_messages(connect, "globex", opts.stream)
    async with connect("acme-collector-1") as (nc, errors):
        await nc.publish(globex_uns, b"1.0")
        text = await errors.wait_for("permissions violation")
        assert f'publish to "{globex_uns}"' in text
        # Its own partition subject exists in every account, but acme's publish lands
        # in acme's stream: globex's stream does not grow.
        own = opts.batch_subject(collector(deployment, "acme", 1).partition or 0)
        ack = await nc.jetstream().publish(own, b"acme data", timeout=5)
        assert ack.stream == opts.stream
    assert await stream_messages(connect, "globex", opts.stream) == globex_before


async def test_collector_may_publish_below_its_uns_root_only(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    c1 = collector(deployment, "acme", 1)
    sibling = f"{collector(deployment, 'acme', 2).uns_root}.pump.current"
    async with connect("acme-reader") as (reader, _):
        sub = await reader.subscribe("acme.>")
        await reader.flush()
        # The publisher connects after the subscription: with nats-server 2.15.1, a
        # connection that existed before another one's SUB (even flushed) can have its
        # next core publish to that subject silently not delivered (reproduced on a
        # plain server too; it is not a permission effect).
        async with connect("acme-collector-1") as (nc, errors):
            await nc.publish(f"{c1.uns_root}.pump.current", b"42.0")
            await nc.publish(sibling, b"forged")
            await nc.flush()
            msg = await sub.next_msg(timeout=10)
            assert msg.subject == f"{c1.uns_root}.pump.current" and msg.data == b"42.0"
            await errors.wait_for(f'publish to "{sibling}"')
            with pytest.raises(nats.errors.TimeoutError):
                await sub.next_msg(timeout=0.3)  # the forged value never reached the reader


async def test_collector_cannot_subscribe_to_or_fetch_from_the_stream(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    opts = deployment.manifest.bus
    async with connect("acme-collector-1") as (nc, errors):
        await nc.subscribe(opts.all_batch_subjects())
        text = await errors.wait_for("permissions violation for subscription")
        assert opts.all_batch_subjects() in text
        js = nc.jetstream(timeout=DENY_TIMEOUT_S)
        sub = await js.pull_subscribe_bind(durable=opts.consumer_name(0), stream=opts.stream)
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(1, timeout=DENY_TIMEOUT_S)
        await errors.wait_for(f'"$JS.API.CONSUMER.MSG.NEXT.{opts.stream}.{opts.consumer_name(0)}"')
        with pytest.raises(nats.errors.TimeoutError):
            await js.stream_info(opts.stream)
        await errors.wait_for(f'"$JS.API.STREAM.INFO.{opts.stream}"')


async def test_ingest_cannot_publish_batches_and_reader_cannot_fetch(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    opts = deployment.manifest.bus
    async with connect("acme-ingest") as (nc, errors):
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream().publish(opts.batch_subject(0), b"x", timeout=DENY_TIMEOUT_S)
        await errors.wait_for(f'publish to "{opts.batch_subject(0)}"')
    async with connect("acme-reader") as (nc, errors):
        info = await nc.jetstream().consumer_info(opts.stream, opts.consumer_name(0))
        assert info.name == opts.consumer_name(0)  # what it may read, it reads
        sub = await nc.jetstream().pull_subscribe_bind(opts.consumer_name(0), opts.stream)
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(1, timeout=DENY_TIMEOUT_S)
        await errors.wait_for("CONSUMER.MSG.NEXT")


async def test_tenant_b_cannot_see_tenant_a_streams(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    async with connect("acme-operator") as (nc, _):
        js = nc.jetstream()
        await js.add_stream(name="ACME_PRIVATE", subjects=["acme.private.>"])
        assert (await js.stream_info("ACME_PRIVATE")).config.name == "ACME_PRIVATE"
    async with connect("globex-operator") as (nc, _):
        with pytest.raises(nats.js.errors.NotFoundError):
            await nc.jetstream().stream_info("ACME_PRIVATE")
        names = await nc.jetstream().streams_info()
        assert "ACME_PRIVATE" not in {s.config.name for s in names}


async def test_allowed_path_collector_publishes_a_batch_and_ingest_fetches_and_acks_it(
    deployment: SecureNatsConfig, connect: Connect, secure_server: NatsServer
) -> None:
    opts = deployment.manifest.bus
    c2 = collector(deployment, "globex", 2)
    assert c2.partition is not None and c2.source_id is not None
    batch = a_batch()
    payload = encode_batch(batch, source_id=c2.source_id, sequence=1, created_ns=time.time_ns())
    async with connect(c2.name) as (nc, errors):
        # the collectors' real publisher (window, deadline, Nats-Msg-Id)
        publisher = BatchPublisher(nc, opts.batch_subject(c2.partition), opts)
        seq = await asyncio.wait_for(publisher.publish_and_wait(payload, "globex-2/1"), 10)
        assert seq >= 1 and errors.errors == []
    async with connect("globex-ingest") as (nc, errors):
        js = nc.jetstream()
        sub = await js.pull_subscribe_bind(opts.consumer_name(c2.partition), opts.stream)
        msgs = await sub.fetch(10, timeout=5)
        decoded = [decode_batch(m.data) for m in msgs]
        mine = [d for d in decoded if d.source_id == c2.source_id]
        assert len(mine) == 1 and mine[0].batch.values.tolist() == batch.values.tolist()
        for m in msgs:
            await m.ack_sync(timeout=5)
        info = await js.consumer_info(opts.stream, opts.consumer_name(c2.partition))
        assert info.ack_floor.stream_seq == seq and info.num_ack_pending == 0
        dlq = await js.publish(opts.dead_letter_subject, b"rejected batch", timeout=5)
        assert dlq.stream == f"{opts.stream}_DLQ"
        assert errors.errors == []


async def test_ingest_cannot_change_the_stream_or_create_consumers(
    deployment: SecureNatsConfig, connect: Connect
) -> None:
    # Why the ingest worker needs a "provisioned, bind only" mode before it can run as
    # this user: its _subscribe calls ensure_streams (update_stream) and ensure_consumer.
    from historian.bus.stream import consumer_config, stream_config

    opts = deployment.manifest.bus
    async with connect("acme-ingest") as (nc, errors):
        js = nc.jetstream(timeout=DENY_TIMEOUT_S)
        assert (await js.stream_info(f"{opts.stream}_DLQ")).config.name == f"{opts.stream}_DLQ"
        with pytest.raises(nats.errors.TimeoutError):
            await js.update_stream(stream_config(opts))
        await errors.wait_for(f'"$JS.API.STREAM.UPDATE.{opts.stream}"')
        cfg = consumer_config(opts, 0)
        cfg.durable_name = "rogue"
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_consumer(opts.stream, cfg)
        await errors.wait_for("$JS.API.CONSUMER.")
