"""historian.bus.pull.fetch against a real nats-server: every message exactly once, in
order, batches bounded, an empty consumer answered within the timeout, and the
subscription's queue accounting left balanced (its drain must not hang)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from harness.services import NatsServer
from historian.bus import pull
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams

pytestmark = [pytest.mark.service]

OPTS = BusOptions(ack_wait_s=30.0)


async def _setup(url: str) -> tuple[NATS, JetStreamContext, JetStreamContext.PullSubscription]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    await ensure_consumer(js, OPTS, 0)
    sub = await js.pull_subscribe_bind(durable=OPTS.consumer_name(0), stream=OPTS.stream)
    return nc, js, sub


async def _publish(js: JetStreamContext, first: int, n: int) -> None:
    for i in range(first, first + n):
        await js.publish(OPTS.batch_subject(0), str(i).encode())


async def _drain_all(sub: JetStreamContext.PullSubscription, n: int, batch: int) -> list[int]:
    seen: list[int] = []
    deadline = time.monotonic() + 30.0
    while len(seen) < n:
        assert time.monotonic() < deadline, f"only {len(seen)} of {n} messages in 30 s"
        msgs = await pull.fetch(sub, batch, 0.5)
        assert len(msgs) <= batch
        for m in msgs:
            seen.append(int(m.data))
            await m.ack()
    return seen


async def test_every_message_once_in_order_in_bounded_batches(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as srv:
        nc, js, sub = await _setup(srv.url)
        await _publish(js, 0, 300)
        assert await _drain_all(sub, 300, 64) == list(range(300))
        # nothing left: an empty fetch returns [] within about its timeout
        t0 = time.monotonic()
        assert await pull.fetch(sub, 64, 0.3) == []
        assert time.monotonic() - t0 < 2.0
        info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
        assert info.num_pending == 0 and info.num_ack_pending == 0
        await asyncio.wait_for(nc.drain(), 5.0)  # balanced queue: the drain's join returns


async def test_a_waiting_fetch_returns_what_arrives_and_loses_nothing_after(
    tmp_path: Path,
) -> None:
    """The lingering request stays open after the fetch returns: its later deliveries
    are queued and come out of the next fetch, not lost (and not acked by anyone)."""
    with NatsServer(tmp_path / "nats") as srv:
        nc, js, sub = await _setup(srv.url)
        waiting = asyncio.create_task(pull.fetch(sub, 64, 5.0))
        await asyncio.sleep(0.2)  # the fetch is parked on its lingering request
        assert not waiting.done()
        await _publish(js, 0, 10)
        first = await asyncio.wait_for(waiting, 5.0)
        assert first, "a waiting fetch returns once messages arrive"
        for m in first:
            await m.ack()
        await _publish(js, 10, 100)
        rest = await _drain_all(sub, 110 - len(first), 64)
        assert [int(m.data) for m in first] + rest == list(range(110))
        await asyncio.wait_for(nc.drain(), 5.0)


async def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as srv:
        nc, _, sub = await _setup(srv.url)
        with pytest.raises(ValueError):
            await pull.fetch(sub, 0, 1.0)
        with pytest.raises(ValueError):
            await pull.fetch(sub, 8, 0.0)
        await nc.close()
