"""Collector-side forwarder -> real nats-server (JetStream) -> ingest worker.

The sink here is a recorder of what the worker hands to the engine; the
engine-backed end-to-end test lives in tests/historian/ingest. What these
tests check is the bus contract: every acknowledged batch arrives, exactly
once after dedup, across a server SIGKILL and with the bus down at start.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.wire import decode_batch
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch

pytestmark = [pytest.mark.service]

OPTS = BusOptions(ack_timeout_s=1.0, publish_attempts=2, fetch_timeout_s=0.2, ack_wait_s=2.0)


class RecordingSink:
    """Stores (series, ts) -> value like the engine's last-write-wins, and counts writes."""

    def __init__(self) -> None:
        self.points: dict[tuple[int, int], float] = {}
        self.writes = 0
        self.raw_points = 0
        self._lock = threading.Lock()

    def write(self, batch: PointBatch) -> int:
        with self._lock:
            for s, t, v in zip(
                batch.series.tolist(), batch.ts.tolist(), batch.values.tolist(), strict=True
            ):
                self.points[(s, t)] = v
            self.writes += 1
            self.raw_points += len(batch)
            return self.writes


def _batch(i: int, n: int = 100) -> PointBatch:
    series = np.arange(n, dtype=np.uint32)
    ts = np.full(n, 1_000_000_000 * (i + 1), dtype=np.int64)
    return PointBatch.from_arrays(series, ts, series * 0.5 + i)


async def _connect(url: str) -> NATS:
    return await nats.connect(
        url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, connect_timeout=1
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    srv = NatsServer(tmp_path / "nats").start()
    try:
        yield srv
    finally:
        srv.close()


async def _run_until(cond: object, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if cond():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_batches_arrive_once_and_bad_messages_are_dead_lettered(
    server: NatsServer, tmp_path: Path
) -> None:
    nc_pub = await _connect(server.url)
    nc_sub = await _connect(server.url)
    sink = RecordingSink()
    acked: list[str] = []
    worker = IngestWorker(nc_sub, sink, OPTS, checkpoint_dir=tmp_path)
    stop = asyncio.Event()
    wtask = asyncio.create_task(worker.run(stop))
    await _run_until(lambda: worker._sub is not None, 5)
    fwd = BatchForwarder(
        nc_pub,
        OPTS,
        "src-a",
        DiskSpool(tmp_path / "spool"),
        batch_points=100,
        on_ack=lambda mid, b: acked.append(mid),
    )
    ftask = asyncio.create_task(fwd.run(stop))
    for i in range(50):
        fwd.add(_batch(i))
        await asyncio.sleep(0)
    # a malformed message straight onto the batch subject
    js = nc_pub.jetstream()
    await js.publish(fwd.subject, b"not a batch at all, just forty-odd bytes of text")
    assert await _run_until(lambda: len(sink.points) == 50 * 100, 20)
    assert await _run_until(lambda: worker.metrics.dead_lettered == 1, 10)
    dlq = await js.pull_subscribe(OPTS.dead_letter_subject, stream=f"{OPTS.stream}_DLQ")
    [dead] = await dlq.fetch(1, timeout=5)
    assert dead.headers is not None and dead.headers["Twinbench-Reason"] == "bad-magic"
    assert dead.data == b"not a batch at all, just forty-odd bytes of text"
    stop.set()
    await asyncio.gather(wtask, ftask)
    assert len(acked) == 50
    assert sink.raw_points == 50 * 100  # nothing written twice
    assert worker.metrics.last_stream_seq >= 50
    assert (tmp_path / "ingest-p0.checkpoint.json").exists()
    await nc_pub.close()
    await nc_sub.close()


async def test_spool_holds_batches_while_bus_is_down_and_drains_in_order(
    tmp_path: Path,
) -> None:
    srv = NatsServer(tmp_path / "nats").start()
    port_dir = srv.base_dir
    nc = await _connect(srv.url)
    js = nc.jetstream()
    from historian.bus.stream import ensure_streams

    await ensure_streams(js, OPTS)
    spool = DiskSpool(tmp_path / "spool")
    acked: list[str] = []
    fwd = BatchForwarder(
        nc, OPTS, "src-b", spool, batch_points=100, on_ack=lambda mid, b: acked.append(mid)
    )
    stop = asyncio.Event()
    ftask = asyncio.create_task(fwd.run(stop))
    try:
        srv.kill()  # bus gone: everything must go to the spool
        await _run_until(lambda: not nc.is_connected, 5)
        for i in range(20):
            fwd.add(_batch(i))
            await asyncio.sleep(0.02)
        assert await _run_until(lambda: len(spool) >= 15, 20), len(spool)
        srv.restart()
        assert port_dir == srv.base_dir
        assert await _run_until(lambda: len(spool) == 0 and len(acked) == 20, 30), (
            len(spool),
            len(acked),
        )
        stop.set()
        await ftask
        # read the stream back: every batch once, sequences increasing
        sub = await js.pull_subscribe(OPTS.batch_subject(0), stream=OPTS.stream)
        msgs = await sub.fetch(100, timeout=2)
        seqs = [decode_batch(m.data).sequence for m in msgs]
        assert len(seqs) == 20
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 20
    finally:
        stop.set()
        await nc.close()
        srv.close()


async def test_ingest_survives_server_sigkill_without_loss_or_duplicates(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path / "nats").start()
    nc_pub = await _connect(srv.url)
    nc_sub = await _connect(srv.url)
    sink = RecordingSink()
    acked: set[str] = set()
    worker = IngestWorker(nc_sub, sink, OPTS, checkpoint_dir=tmp_path)
    stop = asyncio.Event()
    wtask = asyncio.create_task(worker.run(stop))
    fwd = BatchForwarder(
        nc_pub,
        OPTS,
        "src-c",
        DiskSpool(tmp_path / "spool"),
        batch_points=100,
        on_ack=lambda mid, b: acked.add(mid),
    )
    ftask = asyncio.create_task(fwd.run(stop))
    try:
        for i in range(60):
            fwd.add(_batch(i))
            if i == 25:
                srv.kill()
            if i == 35:
                srv.restart()
            await asyncio.sleep(0.03)
        assert await _run_until(lambda: len(sink.points) == 60 * 100, 60), (
            len(sink.points),
            len(acked),
            fwd.metrics,
            worker.metrics,
        )
        assert await _run_until(lambda: len(acked) == 60, 30), len(acked)
        # values are what was produced (last write wins never had to pick between versions)
        assert sink.points[(7, 1_000_000_000 * 41)] == 7 * 0.5 + 40
    finally:
        stop.set()
        await asyncio.gather(wtask, ftask, return_exceptions=True)
        await nc_pub.close()
        await nc_sub.close()
        srv.close()
