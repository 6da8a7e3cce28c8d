"""The legacy SCADA writer against a real PostgreSQL: per-tenant buffering (10,000 readings
or 5 s), COPY into day partitions with the (tag_node_id, timestamp) index, event-weighted
rollups; its own durable consumer on a real JetStream stream lags and catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats
import numpy as np
import psycopg

from harness.legacy.consumer import LegacyConsumer
from harness.legacy.pi_legacy import PiLegacyArchive, pi_compress
from harness.legacy.scada_writer import ScadaAggregator, ScadaTagMap
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.catalogue import TagCatalogue, TagInfo
from historian.codec.lossy import fidelity
from historian.io.pi_csv import read_pi
from historian.model import PointBatch, Quality

S = 1_000_000_000
DAY0 = 1_767_225_600 * S  # 2026-01-01
CAT = TagCatalogue(
    [
        TagInfo(1, "acme.permian.north.pad01.well0001.esp.speed", compdev=0.5, excdev=0.1),
        TagInfo(2, "acme.permian.north.pad01.well0002.esp.speed", compdev=0.5, excdev=0.1),
        TagInfo(3, "acme.delaware.south.pad07.well0003.esp.speed"),  # another tenant
    ]
)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _batch(series: int, t0: int, n: int, step_s: float = 1.0) -> PointBatch:
    ts = t0 + (np.arange(n) * step_s * S).astype(np.int64)
    return PointBatch.from_arrays(np.full(n, series), ts, np.sin(np.arange(n) / 50.0) * 10)


def _count(dsn: str, sql: str = "SELECT count(*) FROM scada_readings") -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_buffers_flush_at_10000_rows_or_5_s_per_tenant(postgres_db: str) -> None:
    clock = Clock()
    agg = ScadaAggregator(postgres_db, ScadaTagMap.from_catalogue(CAT), clock=clock)
    try:
        agg.add(_batch(1, DAY0, 9_999))
        agg.add(_batch(3, DAY0, 10))
        assert agg.flush_due() == 0 and _count(postgres_db) == 0  # neither full nor old
        agg.add(_batch(2, DAY0, 1))  # tenant acme.permian reaches 10,000
        assert agg.flush_due() == 10_000 and _count(postgres_db) == 10_000
        clock.t = 4.9
        assert agg.flush_due() == 0
        clock.t = 5.0  # acme.delaware's 10 readings have waited 5 s
        assert agg.flush_due() == 10 and agg.pending_rows == 0
        assert agg.copies == 2 and len(agg.write_latency_s) == 2
    finally:
        agg.close()


def test_day_partitions_index_and_event_weighted_rollups(postgres_db: str) -> None:
    agg = ScadaAggregator(postgres_db, ScadaTagMap.from_catalogue(CAT))
    try:
        b = _batch(1, DAY0 + 23 * 3600 * S, 7200)  # 23:00 .. 01:00 next day
        q = b.quality.copy()
        q[:10] = Quality.BAD  # Bad readings stay out of the averages
        agg.add(PointBatch(b.series, b.ts, b.values, q))
        agg.flush_due(force=True)
    finally:
        agg.close()
    with psycopg.connect(postgres_db) as conn:
        parts = [
            r[0]
            for r in conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits "
                "WHERE inhparent = 'scada_readings'::regclass ORDER BY 1"
            )
        ]
        assert parts == ["scada_readings_20260101", "scada_readings_20260102"]
        sql = "SELECT indexdef FROM pg_indexes WHERE tablename = 'scada_readings_20260101'"
        indexes = {r[0] for r in conn.execute(sql)}
        assert any('(tag_node_id, "timestamp")' in d for d in indexes)
        sql = "SELECT avg_value, readings FROM scada_readings_hourly ORDER BY bucket"
        (avg, n), *_ = conn.execute(sql).fetchall()
        sql = "SELECT tag_node_id, quality FROM scada_readings ORDER BY timestamp LIMIT 1"
        node, quality = conn.execute(sql).fetchone()  # type: ignore[misc]
    assert node == "ns=2;s=acme.permian.north.pad01.well0001.esp.speed" and quality == "Bad"
    assert n == 3590  # the first hour's 3,600 readings but the 10 Bad ones
    assert abs(avg - float(b.values[10:3600].mean())) < 1e-9  # AVG: every reading counts once


def test_pi_archive_is_within_compdev_plus_two_excdev_and_exports_states(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = _batch(1, DAY0, 5000)
    q = b.quality.copy()
    q[100] = Quality.BAD_SENSOR_FAILURE
    v = b.values.copy()
    keep = pi_compress(b.ts, v, q, excdev=0.1, compdev=0.5, comp_max_ns=600 * S)
    assert 100 in keep and len(keep) < len(v) / 10
    good = np.ones(len(v), bool)
    good[100] = False
    mask = np.zeros(len(v), bool)
    mask[keep] = True
    assert fidelity(b.ts[good], v[good], mask[good]).max_abs_error <= 0.5 + 2 * 0.1
    archive = PiLegacyArchive(CAT)
    archive.add(PointBatch(b.series, b.ts, v, q))
    path = tmp_path / "pi.csv"
    assert archive.export_csv(path) == len(keep)
    parsed = read_pi(str(path))
    assert parsed.names == [CAT.by_id(1).name]  # type: ignore[union-attr]
    assert int(np.sum(parsed.quality >= 0x8000)) == 1  # the Bad reading, as a digital state
    assert "Failed" in path.read_text()


def test_own_durable_consumer_lags_while_stopped_and_catches_up(
    nats_server: NatsServer, postgres_db: str
) -> None:
    async def main() -> None:
        opts = BusOptions()
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js, opts)
        agg = ScadaAggregator(postgres_db, ScadaTagMap.from_catalogue(CAT), max_age_s=0.2)
        consumer = LegacyConsumer(nc, opts, agg)
        await consumer.ensure()

        async def publish(first: int, count: int) -> None:
            for i in range(first, first + count):
                batch = _batch(1 + i % 2, DAY0 + i * 100 * S, 100)
                await js.publish(
                    opts.batch_subject(0), encode_batch(batch, source_id="t", sequence=i)
                )

        async def pending() -> int:
            info = await js.consumer_info(opts.stream, consumer.durable)
            return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

        async def until(cond, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
            deadline = asyncio.get_running_loop().time() + timeout_s
            while not await cond():
                assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
                await asyncio.sleep(0.05)

        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await publish(0, 20)
        await until(lambda: _async(agg.rows_written == 2000))
        stop.set()
        await task
        await publish(20, 30)  # the legacy is down: twinbench's stream keeps it
        assert await pending() == 30
        stop.clear()
        task = asyncio.create_task(consumer.run(stop))
        await until(lambda: _async(agg.rows_written == 5000))
        await until(lambda: _pending_zero(pending))
        stop.set()
        await task
        agg.close()
        await nc.close()
        assert _count(postgres_db) == 5000
        assert consumer.stats.max_lag_messages >= 30

    asyncio.run(main())


async def _async(value: bool) -> bool:
    return value


async def _pending_zero(pending: Callable[[], Awaitable[int]]) -> bool:
    return await pending() == 0
