"""Consumer lag (messages and seconds) and stream size, read from a real JetStream and
exported on the ingest's Prometheus page; a paused consumer makes the lag grow."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.services import NatsServer
from historian import FsyncPolicy, Historian, Options
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.bus.wire import encode_batch
from historian.ingest.buslag import read_consumer, read_stream
from historian.ingest.metrics import IngestExporter
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(fetch_timeout_s=0.2, fetch_batch=4, max_bytes=64 * 1024**2)


def _payload(i: int) -> bytes:
    b = PointBatch.from_arrays([1, 2], [1_000 + i, 1_000 + i], [float(i), float(i)])
    return encode_batch(b, source_id="c", sequence=i)


def _samples(exporter: IngestExporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(exporter.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


async def test_reading_counts_unacked_messages_and_ages_the_oldest(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, OPTS)
        await ensure_consumer(js, OPTS, 0)
        name, subject = OPTS.consumer_name(0), OPTS.batch_subject(0)
        idle = await read_consumer(js, OPTS.stream, name, subject)
        assert (idle.lag_messages, idle.lag_seconds) == (0, 0.0)
        for i in range(3):
            await js.publish(subject, _payload(i))
        later = await read_consumer(
            js, OPTS.stream, name, subject, clock_s=lambda: time.time() + 30
        )
        assert later.lag_messages == 3
        assert 29.0 < later.lag_seconds < 40.0  # the first message's stream time, 30 s "ago"
        sub = await js.pull_subscribe_bind(durable=name, stream=OPTS.stream)
        first = await sub.fetch(1, timeout=5)
        await first[0].ack_sync()
        one_acked = await read_consumer(js, OPTS.stream, name, subject)
        assert one_acked.lag_messages == 2  # the rest are still pending
        for msg in await sub.fetch(2, timeout=5):
            await msg.ack_sync()
        done = await read_consumer(js, OPTS.stream, name, subject)
        assert (done.lag_messages, done.lag_seconds) == (0, 0.0)
        st = await read_stream(js, OPTS.stream)
        assert st.messages == 3 and st.bytes > 3 * 40 and st.max_bytes == OPTS.max_bytes
    finally:
        await nc.close()


async def test_a_paused_consumer_shows_growing_lag_on_the_metrics_page(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    db = Historian.open(str(tmp_path / "hist"), Options(fsync=FsyncPolicy.always()))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    await ensure_consumer(js, OPTS, 0)
    worker = IngestWorker(nc, db, OPTS)
    exporter = IngestExporter()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    lag = ("twinbench_ingest_consumer_lag_seconds", (("partition", "0"),))
    pending = ("twinbench_ingest_consumer_lag_messages", (("partition", "0"),))
    try:
        until = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await js.pause_consumer(OPTS.stream, OPTS.consumer_name(0), until)
        for i in range(5):
            await js.publish(OPTS.batch_subject(0), _payload(i))
        deadline = time.monotonic() + 30
        while True:  # the worker reads the lag about once a second; it must pass 1.5 s
            exporter.update([worker])
            s = _samples(exporter)
            if s.get(lag, 0.0) > 1.5:
                break
            assert time.monotonic() < deadline, f"lag never passed 1.5 s: {s.get(lag)}"
            await asyncio.sleep(0.1)
        assert s[pending] == 5
        stream = (("stream", OPTS.stream),)
        assert s[("twinbench_jetstream_stream_messages", stream)] == 5
        assert s[("twinbench_jetstream_stream_max_bytes", stream)] == OPTS.max_bytes
        assert 0 < s[("twinbench_jetstream_stream_bytes", stream)] < OPTS.max_bytes
        read_at = s[("twinbench_ingest_consumer_read_timestamp_seconds", (("partition", "0"),))]
        assert abs(read_at - time.time()) < 10
        await js.resume_consumer(OPTS.stream, OPTS.consumer_name(0))
        await wait_consumed(js, OPTS)
        deadline = time.monotonic() + 30
        while True:
            exporter.update([worker])
            s = _samples(exporter)
            if s.get(lag) == 0.0 and s.get(pending) == 0:
                break
            assert time.monotonic() < deadline, f"lag stayed at {s.get(lag)} after the resume"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        await nc.close()
        db.close()
