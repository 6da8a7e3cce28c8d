"""OPC UA readings that are not what the tag promises: counted and flagged, never silently Good.

The server is the simulator's real OPC UA server (asyncua) in this process; the
test writes into its address space what a misbehaving server sends: a string
where a number belongs (the node re-typed to String, Good status), a value
without a source timestamp, and one with neither timestamp. The collector's hand-off is a recorder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import numpy as np
import pytest
from asyncua import ua
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from historian.collect.opcua import BAD_TYPE_MISMATCH, UNCERTAIN_NO_SOURCE_TIME, OpcUaCollector
from historian.model import PointBatch, Quality
from sim.catalogue_gen import generate_profile
from sim.servers.opcua import OpcUaTwinServer
from sim.tags import Tag

pytestmark = [pytest.mark.service]


class Recorder:
    def __init__(self) -> None:
        self.batches: list[PointBatch] = []

    def add(self, batch: PointBatch) -> None:
        self.batches.append(batch)

    def last(self, series: int) -> tuple[int, float, int] | None:
        for b in reversed(self.batches):
            hit = np.flatnonzero(b.series == series)
            if len(hit):
                k = hit[-1]
                return int(b.ts[k]), float(b.values[k]), int(b.quality[k])
        return None


@pytest.fixture
async def twin() -> AsyncIterator[tuple[OpcUaTwinServer, list[Tag]]]:
    cat = generate_profile("normal", 0).slice(0, 20)
    server = OpcUaTwinServer(cat, None, fast_notifications=False)
    await server.start()
    try:
        # int16 tags are served as Double; deadband -1: the exception filter passes everything
        yield (
            server,
            [dataclasses.replace(t, deadband=-1.0) for t in cat.tags if t.dtype == "int16"][:4],
        )
    finally:
        await server.stop()


async def _until(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_wrong_type_and_missing_source_time_are_flagged_and_counted(
    twin: tuple[OpcUaTwinServer, list[Tag]],
) -> None:
    server, tags = twin
    assert len(tags) == 4 and server.server is not None
    rec = Recorder()
    col = OpcUaCollector(server.endpoint, tags, rec, publishing_interval_ms=50)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(col.run(stop))
    aspace = server.server.iserver.aspace
    node = {t.id: ua.NodeId(ua.String(t.path), ua.Int16(server.ns)) for t in tags}
    good, text, no_src, no_ts = (t.id for t in tags)
    src = ua.DateTime.now(UTC) - timedelta(seconds=30)
    srv_time = ua.DateTime.now(UTC) - timedelta(seconds=10)
    try:
        assert await _until(lambda: col.metrics.notifications >= 4, 30), col.metrics
        writes = {
            good: ua.DataValue(ua.Variant(1.5, ua.VariantType.Double), SourceTimestamp=src,
                               ServerTimestamp=srv_time),
            text: ua.DataValue(ua.Variant("12.5", ua.VariantType.String), SourceTimestamp=src,
                               ServerTimestamp=srv_time),
            no_src: ua.DataValue(ua.Variant(2.5, ua.VariantType.Double),
                                 ServerTimestamp=srv_time),
            no_ts: ua.DataValue(ua.Variant(3.5, ua.VariantType.Double)),
        }  # fmt: skip
        # the server's node is re-typed (a misconfigured server): a String where the
        # collector's tag list says a number; asyncua then serves the string as the value
        string_type = ua.DataValue(
            ua.Variant(ua.NodeId(ua.Int32(ObjectIds.String)), ua.VariantType.NodeId)
        )
        for attr, dv in (
            (AttributeIds.DataType, string_type),
            # a Bad write nulls the value; asyncua then checks new writes against DataType
            (
                AttributeIds.Value,
                ua.DataValue(StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.Bad))),
            ),
        ):
            assert (await aspace.write_attribute_value(node[text], attr, dv)).is_good()
        before = time.time_ns()
        for sid, dv in writes.items():
            status = await aspace.write_attribute_value(node[sid], AttributeIds.Value, dv)
            assert status.is_good(), (sid, status)
        assert await _until(lambda: col.metrics.no_source_ts >= 3, 10), col.metrics
        assert await _until(lambda: col.metrics.wrong_type >= 1, 10), col.metrics
    finally:
        stop.set()
        await task
    src_ns = int(src.timestamp() * 1e6) * 1000
    srv_ns = int(srv_time.timestamp() * 1e6) * 1000
    assert rec.last(good) == (src_ns, 1.5, Quality.GOOD)
    ts, value, quality = rec.last(text)  # type: ignore[misc]
    assert np.isnan(value) and quality == BAD_TYPE_MISMATCH  # not parsed, not Good
    assert ts == src_ns
    assert rec.last(no_src) == (srv_ns, 2.5, UNCERTAIN_NO_SOURCE_TIME)  # server time, flagged
    ts, value, quality = rec.last(no_ts)  # type: ignore[misc]
    assert value == 3.5 and quality == UNCERTAIN_NO_SOURCE_TIME and ts >= before
    assert UNCERTAIN_NO_SOURCE_TIME & 0xC000 == 0x4000 and BAD_TYPE_MISMATCH & 0xC000 == 0x8000
    # the Bad write that nulled the value had no source time either: counted, stays Bad
    assert col.metrics.wrong_type == 1 and col.metrics.no_source_ts == 3
