"""Overlapping ingest rounds: the next round is fetched while this one waits for its
fsync, yet appends keep stream order (last-write-wins follows the stream) and no
message is acked before its own batch is durable."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import FsyncPolicy, Historian, Options
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(fetch_timeout_s=0.2, ack_wait_s=5.0, fetch_batch=4)
MESSAGES = 60


class SlowDisk(Historian):
    """The real engine on a disk whose fsync takes 20 ms; records what overlaps."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.appended: list[float] = []
        self.durable: set[int] = set()
        self._waiting = 0
        self.max_waiting = 0
        self._lock = threading.Lock()

    def append(self, batch: PointBatch) -> int:
        seq = super().append(batch)
        self.appended.append(float(batch.values[0]))
        return seq

    def wait_durable(self, seq: int) -> None:
        with self._lock:
            self._waiting += 1
            self.max_waiting = max(self.max_waiting, self._waiting)
        time.sleep(0.02)
        super().wait_durable(seq)
        with self._lock:
            self._waiting -= 1
            self.durable.add(seq)


async def test_rounds_overlap_and_appends_keep_stream_order(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    db = SlowDisk.open(str(tmp_path / "hist"), Options(fsync=FsyncPolicy.always()))
    assert isinstance(db, SlowDisk)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    for i in range(MESSAGES):  # every message overwrites the same key: the last must win
        b = PointBatch.from_arrays([1, 1 + i % 3 + 1], [1_000, 2_000 + i], [float(i), float(i)])
        await js.publish(OPTS.batch_subject(0), encode_batch(b, source_id="c", sequence=i))
    worker = IngestWorker(nc, db, OPTS)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_consumed(js, OPTS)
    finally:
        stop.set()
        await task
        await nc.close()
    try:
        assert db.read(1, 0, 2**62)[1].tolist() == [float(MESSAGES - 1)]
        assert db.appended == sorted(db.appended)  # rounds appended in stream order
        assert db.max_waiting >= 2  # a round's fsync wait overlapped the next one's
        assert worker.metrics.batches == MESSAGES
        assert len(db.durable) == len(db.appended)
        assert np.isclose(sum(db.read(s, 0, 2**62)[0].size for s in (2, 3, 4)), MESSAGES)
    finally:
        db.close()
