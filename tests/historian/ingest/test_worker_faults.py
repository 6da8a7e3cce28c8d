"""Store faults under the real ingest worker, a real nats-server and the real engine.

The rule (issue 11, defect 1): only a batch that is invalid in itself may leave
the stream unstored (dead-lettered). A full disk or a failed fsync is the
store's condition: nothing may be acked or dead-lettered while it lasts, and
every batch must be stored once it clears (or after a restart).
Faults come through the file-system seam (``FaultyFileSystem``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from harness.services import NatsServer
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.fs import FaultyFileSystem
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch
from historian.options import FsyncPolicy, Options
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(fetch_timeout_s=0.2, ack_wait_s=2.0)
DLQ = f"{OPTS.stream}_DLQ"
N_SERIES = 20
T0 = 1_700_000_000_000_000_000


def _batch(i: int) -> PointBatch:
    series = np.arange(1, N_SERIES + 1, dtype=np.uint32)
    ts = np.full(N_SERIES, T0 + i * 1_000_000_000, dtype=np.int64)
    return PointBatch.from_arrays(series, ts, series * 0.5 + i)


async def _until(cond: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        got = cond()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def _dlq_messages(js: JetStreamContext) -> int:
    return int((await js.stream_info(DLQ)).state.messages)


async def _publish(js: JetStreamContext, first: int, count: int) -> None:
    for i in range(first, first + count):
        await js.publish(OPTS.batch_subject(0), encode_batch(_batch(i), source_id="t", sequence=i))


def _stored_batches(db: Historian, count: int) -> list[int]:
    """Which of batches 0..count-1 are fully stored with the values that were sent."""
    ts, values, _ = db.read(7, 0, 2**62)
    got = dict(zip(ts.tolist(), values.tolist(), strict=True))
    return [i for i in range(count) if got.get(T0 + i * 1_000_000_000) == 7 * 0.5 + i]


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_server.url, max_reconnect_attempts=-1)
    await ensure_streams(conn.jetstream(), OPTS)
    try:
        yield conn
    finally:
        await conn.close()


async def test_disk_full_never_acks_or_dead_letters_and_stores_everything_after(
    nc: NATS, tmp_path: Path
) -> None:
    fs = FaultyFileSystem()
    data = tmp_path / "hist"
    db = Historian.open(str(data), Options(fsync=FsyncPolicy.always()), fs)
    js = nc.jetstream()
    worker = IngestWorker(nc, db, OPTS, checkpoint_dir=data)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await _publish(js, 0, 5)
        await wait_consumed(js, OPTS)
        assert _stored_batches(db, 5) == list(range(5))

        fs.faults.disk_full = True  # the WAL cannot grow
        await _publish(js, 5, 10)

        async def tried_and_retried() -> bool:
            info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
            handled = info.num_redelivered or await _dlq_messages(js)
            return info.delivered.stream_seq >= 15 and bool(handled)

        await _until(tried_and_retried, 20, "the worker to try the batches during the fault")
        info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
        assert await _dlq_messages(js) == 0, "a disk-full batch was dead-lettered"
        assert info.ack_floor.stream_seq == 5, "a batch was acked while it could not be stored"
        assert info.num_ack_pending + info.num_pending == 10
        state = worker.health.state  # a local: mypy would keep the attribute narrowed
        assert state == "backing-off"
        assert "DiskFullError" in worker.health.condition
        assert worker.metrics.naks >= 10 and worker.metrics.dead_lettered == 0

        fs.faults.disk_full = False  # space is back: everything lands, nothing twice
        await wait_consumed(js, OPTS, timeout_s=30)
        assert _stored_batches(db, 15) == list(range(15))
        assert db.stats().points == 15 * N_SERIES
        assert worker.health.state == "ok" and worker.health.transient_failures >= 1
        assert await _dlq_messages(js) == 0
    finally:
        stop.set()
        await task
        db.close()


async def test_fsync_failure_stops_the_worker_without_draining_the_stream(
    nc: NATS, tmp_path: Path
) -> None:
    fs = FaultyFileSystem()
    data = tmp_path / "hist"
    db = Historian.open(str(data), Options(fsync=FsyncPolicy.always()), fs)
    js = nc.jetstream()
    worker = IngestWorker(nc, db, OPTS, checkpoint_dir=data)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await _publish(js, 0, 3)
        await wait_consumed(js, OPTS)
        fs.faults.fsync_error = True  # one EIO poisons the WAL until the store is reopened
        await _publish(js, 3, 30)
        # the worker gives up on the store (the process would exit for a restart) ...
        await _until(task.done, 20, "the worker to stop on the poisoned WAL")
        with pytest.raises(RuntimeError, match="fsync"):
            await task
    finally:
        stop.set()
        if not task.done():
            await task
        db.close()
    # ... having acked and dead-lettered nothing: the stream still holds every batch
    info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
    assert await _dlq_messages(js) == 0
    assert info.ack_floor.stream_seq == 3
    assert worker.health.state == "failed"

    # the "restart": reopen the store (the WAL is re-read from disk), consume again
    db = Historian.open(str(data), Options(fsync=FsyncPolicy.always()))
    worker = IngestWorker(nc, db, OPTS, checkpoint_dir=data)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_consumed(js, OPTS, timeout_s=30)
        assert _stored_batches(db, 33) == list(range(33))
        assert await _dlq_messages(js) == 0
    finally:
        stop.set()
        await task
        db.close()
