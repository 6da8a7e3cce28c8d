"""The ordering rule: a newer batch's value for a (series, timestamp) is the one kept.

An older batch A whose publish fails at first (JetStream refuses it: the stream's
``max_msg_size`` is below its size until the test raises it) and a newer batch B
carry the same (series, timestamp) with DIFFERENT values. B is accepted at once
and lands in the stream before A's successful retry. The stream is then read in
order by a real JetStream consumer and applied to a real engine, last write wins:
B's value must be the stored one (on the old forwarder A's value won).
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS

from harness.services import NatsServer
from historian import Historian, Options
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams, stream_config
from historian.bus.wire import batch_id, decode_batch, encode_batch
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(ack_timeout_s=1.0, publish_attempts=200, retry_backoff_s=0.02,
                  retry_backoff_max_s=0.05)  # fmt: skip
SMALL = 4_000  # bytes: B (10 points) fits, A (1,000 points) does not
SOURCE = "src-order"
SERIES, T = 7, (time.time_ns() // 10**9) * 10**9


def _old_a() -> PointBatch:
    series = np.full(1000, SERIES, dtype=np.uint32)
    series[1:] = np.arange(100, 1099)
    ts = np.full(1000, T, dtype=np.int64)
    return PointBatch.from_arrays(series, ts, np.full(1000, 1.0))  # the OLD value: 1.0


def _new_b() -> PointBatch:
    series = np.array([SERIES, *range(2000, 2009)], dtype=np.uint32)
    return PointBatch.from_arrays(series, np.full(10, T), np.full(10, 2.0))  # the NEW value


async def _until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), dataclasses.replace(OPTS, max_msg_bytes=SMALL))
    try:
        yield nc
    finally:
        await nc.close()


async def _lift_limit(nc: NATS) -> None:
    await nc.jetstream().update_stream(stream_config(OPTS))


async def _stored_value(nc: NATS, tmp_path: Path) -> tuple[float, list[int]]:
    """Apply the stream, in stream order, to a real engine; return its value at the key."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(OPTS.batch_subject(0), stream=OPTS.stream)
    seqs: list[int] = []
    db = Historian.open(str(tmp_path / "hist"), Options())
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:  # nats-py raises its own subclass or the plain one
                break
            for m in msgs:
                decoded = decode_batch(m.data)
                seqs.append(decoded.sequence)
                db.write(decoded.batch)
        _, values, _ = db.read(SERIES, T, T + 1)
    finally:
        db.close()
    assert len(values) == 1
    return float(values[0]), seqs


@pytest.mark.parametrize("attempts", [200, 3], ids=["acked-on-retry", "spooled-after-retries"])
async def test_a_retried_older_batch_does_not_overwrite_a_newer_one(
    bus: NATS, tmp_path: Path, attempts: int
) -> None:
    acked: list[str] = []
    spool = DiskSpool(tmp_path / "spool")
    opts = dataclasses.replace(OPTS, publish_attempts=attempts)
    fwd = BatchForwarder(bus, opts, SOURCE, spool, on_ack=lambda m, b: acked.append(m))
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        seq_a, id_a = fwd.reserve()
        seq_b, id_b = fwd.reserve()
        await fwd.send_batch(_old_a(), seq_a)
        await fwd.send_batch(_new_b(), seq_b)
        # A is being retried; B was accepted or (fenced) spooled behind A
        assert await _until(lambda: fwd.publisher.metrics.retries >= 2, 10)
        assert await _until(lambda: len(acked) + len(spool) >= 1, 10)
        await _lift_limit(bus)
        assert await _until(
            lambda: len(acked) == 2 and not len(spool) and not fwd.publisher.in_flight, 15
        )
    finally:
        stop.set()
        await task
    assert sorted(acked) == sorted([id_a, id_b])  # each reported once
    value, order = await _stored_value(bus, tmp_path)
    assert value == 2.0, f"older batch won: stream order {order} (A={seq_a}, B={seq_b})"
    assert order[-1] == seq_b


async def test_the_drain_keeps_sequence_order_when_an_older_file_is_retried(
    bus: NATS, tmp_path: Path
) -> None:
    spool = DiskSpool(tmp_path / "spool")  # both spooled while the bus was away
    for seq, batch in ((100, _old_a()), (101, _new_b())):
        spool.put(seq, batch_id(SOURCE, seq), encode_batch(batch, source_id=SOURCE, sequence=seq))
    acked: list[str] = []
    fwd = BatchForwarder(bus, OPTS, SOURCE, spool, on_ack=lambda m, b: acked.append(m))
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        assert await _until(lambda: fwd.publisher.metrics.retries >= 2, 10)
        assert await _until(lambda: fwd.publisher.metrics.acked >= 1, 10)  # B went through
        await _lift_limit(bus)
        assert await _until(lambda: not len(spool), 15), fwd.metrics
    finally:
        stop.set()
        await task
    assert sorted(acked) == [batch_id(SOURCE, 100), batch_id(SOURCE, 101)]
    value, order = await _stored_value(bus, tmp_path)
    assert value == 2.0, f"older batch won: stream order {order}"
    assert fwd.metrics.batches_resent >= 1


@pytest.mark.slow
async def test_the_real_ingest_stores_the_newer_value(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """The live-path case end to end: forwarder -> nats-server -> ``historian.ingest``."""
    data = tmp_path / "hist-ingest"
    ingest = subprocess.Popen(
        [sys.executable, "-m", "historian.ingest", "--data-dir", str(data), "--nats",
         nats_server.url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    nc = await nats.connect(nats_server.url)
    try:
        assert ingest.stdout is not None and ingest.stdout.readline().strip() == "READY"
        js = nc.jetstream()
        await js.update_stream(stream_config(dataclasses.replace(OPTS, max_msg_bytes=SMALL)))
        acked: list[str] = []
        spool = DiskSpool(tmp_path / "spool")
        fwd = BatchForwarder(nc, OPTS, SOURCE, spool, on_ack=lambda m, b: acked.append(m))
        stop = asyncio.Event()
        task = asyncio.create_task(fwd.run(stop))
        try:
            seq_a, _ = fwd.reserve()
            seq_b, _ = fwd.reserve()
            await fwd.send_batch(_old_a(), seq_a)
            await fwd.send_batch(_new_b(), seq_b)
            assert await _until(lambda: fwd.publisher.metrics.retries >= 2, 10)
            await _lift_limit(nc)
            assert await _until(lambda: len(acked) == 2 and not len(spool), 15)
        finally:
            stop.set()
            await task
        await wait_consumed(js, OPTS)
    finally:
        await nc.close()
        ingest.terminate()
        ingest.wait(timeout=60)
    db = Historian.open(str(data), Options())
    try:
        _, values, _ = db.read(SERIES, T, T + 1)
    finally:
        db.close()
    assert values.tolist() == [2.0]
