"""Partitioned batch subjects: sources map to partitions, one consumer per partition,
and two historian workers share the stream without overlap or loss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.subjects import partition_of
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch

pytestmark = [pytest.mark.service]


class Sink:
    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def write(self, batch: PointBatch) -> int:
        self.keys += list(zip(batch.series.tolist(), batch.ts.tolist(), strict=True))
        return len(self.keys)


async def test_two_partitions_two_workers(tmp_path: Path) -> None:
    opts = BusOptions(partitions=2, fetch_timeout_s=0.2)
    sources = ["src-a", "src-b", "src-c", "src-d", "src-e", "src-f"]
    parts = {s: partition_of(s, 2) for s in sources}
    assert set(parts.values()) == {0, 1}, "pick sources that cover both partitions"
    with NatsServer(tmp_path / "nats") as srv:
        nc = await nats.connect(srv.url)
        sinks = [Sink(), Sink()]
        workers = [IngestWorker(nc, sinks[p], opts, partition=p) for p in (0, 1)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        fwds = [
            BatchForwarder(nc, opts, s, DiskSpool(tmp_path / s), batch_points=50) for s in sources
        ]
        tasks += [asyncio.create_task(f.run(stop)) for f in fwds]
        for k, f in enumerate(fwds):
            series = np.full(50, k + 1, dtype=np.uint32)
            f.add(PointBatch.from_arrays(series, np.arange(50) + 1000, np.arange(50) * 0.5))
        for _ in range(200):
            if sum(len(s.keys) for s in sinks) >= 300:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        await nc.close()
    for p in (0, 1):
        got_series = {s for s, _ in sinks[p].keys}
        want = {k + 1 for k, s in enumerate(sources) if parts[s] == p}
        assert got_series == want  # each worker saw exactly its partition's sources
        assert len(sinks[p].keys) == 50 * len(want)  # nothing lost, nothing twice
