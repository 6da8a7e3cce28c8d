"""The forwarder through a stream-leader election on a real 3-node cluster (R3 stream).

The stream's leader is SIGKILLed while batches flow. Every batch the forwarder
acknowledged must be in the stream, no ``Nats-Msg-Id`` may be stored twice (retries
reuse the id, so the duplicate window makes them exactly-once), no batch may be
refused, and publishing must resume once the survivors have elected a new leader.
A publish that meets the election gets "no responders" (a 503 status): it must be
retried in place, not counted as a failed publish (it was, before
``NoStreamResponseError`` was retryable and retried for ``election_window_s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS

from harness.services import NatsCluster
from historian.bus.cluster import ELECTION_ERRORS, stream_leader
from historian.bus.options import BusOptions
from historian.bus.wire import decode_batch
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.model import PointBatch

pytestmark = [pytest.mark.service]

# election_window_s above the default 20 s: a loaded machine may need a second election
# round, and this test is about the retry, not the server's timing
OPTS = BusOptions(
    replicas=3,
    ack_timeout_s=2.0,
    publish_attempts=10,
    retry_backoff_max_s=0.5,
    publish_window=32,
    election_window_s=45.0,
)
SOURCE = "src-failover"
BATCH_EVERY_S = 0.02
LEADER_CRASH_GAP_LIMIT_S = 20.0  # scenarios.failover scores 15 s; room for a 2nd round


def _batch(i: int, n: int = 100) -> PointBatch:
    series = np.arange(n, dtype=np.uint32)
    return PointBatch.from_arrays(series, np.full(n, 10**9 * (i + 1)), series * 0.5 + i)


async def _until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


async def _leader(nc: NATS) -> str | None:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await stream_leader(nc.jetstream(), OPTS.stream)
        except ELECTION_ERRORS:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _stored_ids(nc: NATS, expect_at_least: int) -> list[str]:
    """Every message's Nats-Msg-Id in the stream, read back through an ephemeral consumer."""
    js = nc.jetstream()
    deadline = time.monotonic() + 60
    while True:  # the restarted node may still be catching up: API calls can time out
        try:
            total = int((await js.stream_info(OPTS.stream)).state.messages)
            sub = await js.pull_subscribe(OPTS.batch_subject(0), stream=OPTS.stream)
            break
        except ELECTION_ERRORS:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert total >= expect_at_least
    ids: list[str] = []
    deadline = time.monotonic() + 60
    while len(ids) < total and time.monotonic() < deadline:
        try:
            msgs = await sub.fetch(min(256, total - len(ids)), timeout=2)
        except TimeoutError:
            continue
        for m in msgs:
            assert m.headers is not None
            decoded = decode_batch(m.data)
            assert decoded.source_id == SOURCE
            ids.append(m.headers["Nats-Msg-Id"])
            await m.ack()
    assert len(ids) == total, f"read {len(ids)} of {total} stream messages"
    return ids


async def test_leader_kill_while_publishing_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "cluster", size=3).start()
    nc = await nats.connect(
        servers=cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2, ping_interval=1
    )
    acked: dict[str, float] = {}

    def record_ack(mid: str, _b: PointBatch) -> None:
        acked.setdefault(mid, time.monotonic())

    fwd = BatchForwarder(
        nc,
        OPTS,
        SOURCE,
        DiskSpool(tmp_path / "spool", fsync=False),
        create_stream=True,
        on_ack=record_ack,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(fwd.run(stop))
    sent: list[str] = []
    try:
        await asyncio.wait_for(fwd.stream_ready.wait(), 60)
        info = await nc.jetstream().stream_info(OPTS.stream)
        assert info.config.num_replicas == 3

        async def send(count: int) -> None:
            for _ in range(count):
                seq, mid = fwd.reserve()
                sent.append(mid)
                await fwd.send_batch(_batch(len(sent)), seq)
                await asyncio.sleep(BATCH_EVERY_S)

        await send(50)
        assert await _until(lambda: len(acked) >= 40, 30), "no acks before the fault"
        leader = await _leader(nc)
        victim = next(n for n in cluster.nodes if n.name == leader)
        victim.kill()
        killed = time.monotonic()
        # batches go on while the survivors elect a new leader, until acks resume
        sending = asyncio.create_task(send(10**6))

        def acked_after_kill() -> list[float]:
            return [t for t in acked.values() if t > killed]

        resumed = await _until(lambda: bool(acked_after_kill()), 30)
        await asyncio.sleep(0.5)
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        assert resumed, "nothing was acknowledged within 30 s after the leader was killed"
        gap = min(acked_after_kill()) - killed
        print(f"first ack {gap:.2f} s after the stream leader ({leader}) was SIGKILLed")
        # a SIGKILLed leader is replaced after a follower's Raft election timeout (4-9 s,
        # fixed in nats-server); the publisher must add no more than its retry backoff
        assert gap < LEADER_CRASH_GAP_LIMIT_S
        victim.restart()
        await fwd.flush(timeout=60)
        assert not len(fwd.spool) and not fwd.settling
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)
    try:
        assert set(acked) == set(sent), f"{len(set(sent) - set(acked))} batches never acked"
        assert fwd.metrics.points_refused == 0
        # an election publish is retried (same id), not counted as a failed publish
        assert fwd.publisher.metrics.failed == 0, fwd.metrics.publish_errors[:3]
        ids = await _stored_ids(nc, len(sent))
        assert len(ids) == len(set(ids)), "a Nats-Msg-Id was stored twice"
        canonical = {i.split("~", 1)[0] for i in ids}
        assert canonical == set(sent), "an acknowledged batch is missing from the stream"
        new_leader = await _leader(nc)
        assert new_leader is not None and new_leader != leader
    finally:
        await nc.close()
        cluster.close()
