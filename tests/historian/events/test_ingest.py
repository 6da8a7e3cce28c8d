"""Events through a real nats-server: publish, consume, durable before ack, dedupe on redelivery."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.events.ingest import EventIngest
from historian.events.model import Event
from historian.events.publish import EventPublisher
from historian.events.store import EventStore
from historian.fs import Faults, FaultyFileSystem

BASE = 1_767_225_600 * 10**9
OPTS = dataclasses.replace(BusOptions(), ack_wait_s=1.0, fetch_timeout_s=0.2)
FAR = 2**62


class Crash(BaseException):
    """The ingest dies between the durable append and the acks."""


def ev(i: int) -> Event:
    return Event(f"plant-a:{i}", BASE + i, "acme.s.a.l.well_0001.pump.vibration", "trip", 800, "t")


async def until(cond: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = cond()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def all_acked(url: str) -> bool:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.consumer_info(OPTS.events_stream, OPTS.events_consumer)
        stream = await js.stream_info(OPTS.events_stream)
        return info.ack_floor.stream_seq == stream.state.last_seq and not info.num_ack_pending
    finally:
        await nc.close()


def ids(store: EventStore) -> list[str]:
    return [e.id for e in store.query(-FAR, FAR, max_count=10**6)[0]]


async def _publish(url: str, events: list[Event]) -> None:
    pub = EventPublisher(url, "plant-a", OPTS)
    await pub.start()
    pub.submit(events)
    assert await pub.flush(30), "publisher did not empty its outbox"
    await pub.close()


def test_published_events_are_stored_once(nats_server: NatsServer, tmp_path: Path) -> None:
    async def main() -> None:
        store = EventStore(tmp_path / "events")
        ingest = EventIngest(store, nats_server.url, OPTS)
        await ingest.start()
        stop = asyncio.Event()
        task = asyncio.create_task(ingest.run(stop))
        await _publish(nats_server.url, [ev(i) for i in range(20)])
        await _publish(nats_server.url, [ev(3), ev(20)])  # a re-publish of 3: deduplicated
        await until(lambda: len(store) == 21, "21 events stored")
        await until(lambda: all_acked(nats_server.url), "every event acked")
        stop.set()
        await task
        await ingest.close()
        assert ids(store) == [f"plant-a:{i}" for i in range(21)]
        assert ingest.metrics.stored == 21

    asyncio.run(main())


def test_no_ack_until_durable(nats_server: NatsServer, tmp_path: Path) -> None:
    async def main() -> None:
        fs = FaultyFileSystem(Faults(fsync_error=True))
        store = EventStore(tmp_path / "events", fs)
        ingest = EventIngest(store, nats_server.url, OPTS)
        await ingest.start()
        stop = asyncio.Event()
        task = asyncio.create_task(ingest.run(stop))
        await _publish(nats_server.url, [ev(1), ev(2)])
        await until(lambda: ingest.metrics.append_errors >= 2, "two failed appends (a redelivery)")
        assert len(store) == 0
        assert not await all_acked(nats_server.url), "an event was acked before it was durable"
        fs.faults.fsync_error = False
        await until(lambda: len(store) == 2, "the redelivered events stored")
        await until(lambda: all_acked(nats_server.url), "acked once durable")
        stop.set()
        await task
        await ingest.close()

    asyncio.run(main())


def test_crash_between_fsync_and_ack_stores_once(nats_server: NatsServer, tmp_path: Path) -> None:
    async def main() -> None:
        def crash(msgs: object) -> None:
            raise Crash

        first = EventIngest(
            EventStore(tmp_path / "events"), nats_server.url, OPTS, after_durable=crash
        )
        await first.start()
        await _publish(nats_server.url, [ev(1), ev(2), ev(3)])
        with pytest.raises(Crash):
            await first.run(asyncio.Event())
        assert first._nc is not None
        await first._nc.close()  # dies: no ack ever sent
        assert first.metrics.stored == 3
        store = EventStore(tmp_path / "events")  # the restarted process reopens the store
        assert len(store) == 3
        second = EventIngest(store, nats_server.url, OPTS)
        await second.start()
        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop))
        await until(lambda: second.metrics.duplicates >= 3, "the redelivered events deduplicated")
        await until(lambda: all_acked(nats_server.url), "acked after the restart")
        stop.set()
        await task
        await second.close()
        assert ids(store) == ["plant-a:1", "plant-a:2", "plant-a:3"]
        assert second.metrics.redelivered >= 3 and second.metrics.stored == 0

    asyncio.run(main())
