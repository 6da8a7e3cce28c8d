"""Points the store does not accept are rejected one by one, recorded, counted.

Real nats-server, real engine: a message with a few far-future / far-past points
and points of series the catalogue does not know has the rest stored; the
rejected points land in the dead-letter stream TBWB-encoded with their reason,
and the counters say how many (issue 11, defects 4 and 8).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import decode_batch, encode_batch
from historian.ingest.admission import REASON_TOO_NEW, REASON_TOO_OLD, REASON_UNKNOWN_SERIES
from historian.ingest.worker import IngestWorker
from historian.model import NS_PER_SECOND as NS
from historian.model import NanPolicy, PointBatch, SeriesIndex
from historian.options import ACCEPT_FUTURE_DEFAULT_NS, ACCEPT_PAST_DEFAULT_NS, Options
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(fetch_timeout_s=0.2, ack_wait_s=2.0)
YEAR_2100_NS = 4_102_444_800 * NS


async def test_out_of_window_and_unknown_points_are_rejected_individually(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    now = time.time_ns()
    catalogue = SeriesIndex({i: f"plant.site.area.line.cell.eq.s{i}" for i in range(1, 9)})
    opts = Options(
        series_index=catalogue,
        past_window_ns=ACCEPT_PAST_DEFAULT_NS,
        future_window_ns=ACCEPT_FUTURE_DEFAULT_NS,
    )
    db = Historian.open(str(tmp_path / "hist"), opts)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    series = np.array([1, 2, 3, 4, 5, 6, 7, 8, 99, 100], dtype=np.uint32)
    ts = np.full(10, now - 60 * NS, dtype=np.int64)
    ts[2] = YEAR_2100_NS  # series 3: far future
    ts[5] = now - 20 * 365 * 86_400 * NS  # series 6: 20 years old
    batch = PointBatch.from_arrays(series, ts, series * 1.5)
    await js.publish(OPTS.batch_subject(0), encode_batch(batch, source_id="col-1", sequence=41))
    worker = IngestWorker(nc, db, OPTS, checkpoint_dir=tmp_path / "hist", admission=opts)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_consumed(js, OPTS)  # acked: the accepted part is stored, the rest recorded
    finally:
        stop.set()
        await task
    try:
        for s in (1, 2, 4, 5, 7, 8):
            assert db.read(s, 0, 2**62)[1].tolist() == [s * 1.5]
        for s in (3, 6, 99, 100):
            assert len(db.read(s, 0, 2**62)[0]) == 0
        assert worker.metrics.rejected_points == {
            REASON_UNKNOWN_SERIES: 2,
            REASON_TOO_OLD: 1,
            REASON_TOO_NEW: 1,
        }
        assert worker.metrics.points == 6 and worker.metrics.dead_lettered == 0

        dlq = await js.pull_subscribe(OPTS.dead_letter_subject, stream=f"{OPTS.stream}_DLQ")
        dead = await dlq.fetch(10, timeout=5)
        by_reason = {}
        for m in dead:
            assert m.headers is not None
            d = decode_batch(m.data)  # the existing wire format, so the points can be replayed
            assert (d.source_id, d.sequence) == ("col-1", 41)
            assert int(m.headers["Twinbench-Points"]) == len(d.batch)
            assert m.headers["Twinbench-Stream-Seq"] == "1"
            by_reason[m.headers["Twinbench-Reason"]] = d.batch.series.tolist()
        assert by_reason == {
            REASON_UNKNOWN_SERIES: [99, 100],
            REASON_TOO_OLD: [6],
            REASON_TOO_NEW: [3],
        }
    finally:
        await nc.close()
        db.close()


async def test_a_batch_invalid_in_itself_is_dead_lettered_and_its_neighbours_stored(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    db = Historian.open(str(tmp_path / "hist"), Options(nan_policy=NanPolicy.REJECT))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    good = [
        PointBatch.from_arrays([1, 2], [10 * i, 10 * i], [float(i), float(i)]) for i in range(4)
    ]
    # a NaN under NanPolicy.REJECT: the engine refuses the batch whole (BatchValidationError)
    bad = PointBatch.from_arrays([2, 1], [5, 5], [9.0, np.nan])
    for i, b in enumerate([good[0], good[1], bad, good[2], good[3]]):
        await js.publish(OPTS.batch_subject(0), encode_batch(b, source_id="c", sequence=i))
    worker = IngestWorker(nc, db, OPTS, checkpoint_dir=tmp_path / "hist")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_consumed(js, OPTS)
    finally:
        stop.set()
        await task
    try:
        assert db.read(1, 0, 2**62)[1].tolist() == [0.0, 1.0, 2.0, 3.0]
        assert worker.metrics.dead_lettered == 1 and worker.metrics.naks == 0
        dlq = await js.pull_subscribe(OPTS.dead_letter_subject, stream=f"{OPTS.stream}_DLQ")
        [dead] = await dlq.fetch(1, timeout=5)
        assert dead.headers is not None and dead.headers["Twinbench-Reason"] == "rejected"
        assert "BatchValidationError" in dead.headers["Twinbench-Detail"]
    finally:
        await nc.close()
        db.close()
