"""OPC UA server against a real asyncua client: browse, read, subscribe, write, methods, history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC

import numpy as np
import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import DataChangeNotif
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError

from historian.model import Quality
from sim.catalogue_gen import generate_oilfield
from sim.servers.history import EmittedHistory, datetime_to_ns
from sim.servers.node import TwinNode
from sim.tags import Catalogue, SensorSpec
from sim.twin import PlantTwin
from tests.opcua_fields import source_time_of, status_of, value_of

W1 = "acme.permian.field_01.pad_01.well_0001"
TP = f"{W1}.wellhead.tubing_pressure"
SP = f"{W1}.esp.pump_speed"
BAD = f"{W1}.separator.gas"

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _catalogue() -> Catalogue:
    cat = generate_oilfield(5, seed=1)
    # one tag that is always in a bad-quality interval, so StatusCodes are testable
    tags = tuple(
        replace(t, sensor=SensorSpec(bad_quality_probability=1.0, bad_quality_s=1e9))
        if t.path == BAD
        else t
        for t in cat.tags
    )
    return Catalogue(tags, name=cat.name, meta=cat.meta)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node() -> AsyncIterator[TwinNode]:
    twin = PlantTwin(_catalogue(), seed=1, start_ns=1_700_000_000 * 10**9)
    n = TwinNode(twin, speed=None, modbus_port=None,
                 opcua_options={"history": EmittedHistory(twin.emitted)})  # fmt: skip
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


def _url(node: TwinNode) -> str:
    return str(node.opcua.endpoint)


async def test_browse_isa95_tree(node: TwinNode) -> None:
    async with Client(_url(node)) as c:
        node_ = c.nodes.objects
        for seg in ["acme", "permian", "field_01", "pad_01", "well_0001", "wellhead"]:
            node_ = await node_.get_child(f"2:{seg}")
        children = {(await ch.read_browse_name()).Name for ch in await node_.get_children()}
        assert children == {"tubing_pressure", "casing_pressure", "temperature"}
        tp = await node_.get_child("2:tubing_pressure")
        assert tp.nodeid == ua.NodeId(ua.String(TP), ua.Int16(2))
        assert await c.get_namespace_index("urn:twinbench:plant") == 2


async def test_read_value_timestamp_and_status(node: TwinNode) -> None:
    assert node.last is not None
    cat = node.catalogue
    async with Client(_url(node)) as c:
        dv = await c.get_node(f"ns=2;s={TP}").read_data_value()
        i = cat.tags.index(cat.by_path[TP])
        assert status_of(dv).is_good()
        assert value_of(dv) == node.last.values[i]
        want_ns = int(node.last.ts[i])
        got = source_time_of(dv)
        assert abs(got.timestamp() * 1e9 - want_ns) < 2_000  # microsecond resolution
        dv = await c.get_node(f"ns=2;s={BAD}").read_data_value(raise_on_bad_status=False)
        assert status_of(dv).value >> 16 == Quality.BAD_SENSOR_FAILURE


async def _wait_until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll ``cond`` until true; fail with a clear message at the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


async def test_subscription_receives_changes(node: TwinNode) -> None:
    got: list[float] = []

    class Handler:
        def datachange_notification(self, n: object, val: float, data: DataChangeNotif) -> None:
            got.append(val)

    async with Client(_url(node)) as c:
        sub = await c.create_subscription(50, Handler())
        await sub.subscribe_data_change(c.get_node(f"ns=2;s={TP}"))
        await _wait_until(lambda: len(got) >= 1)  # the initial value
        for _ in range(5):
            await node.tick_once()
            await asyncio.sleep(0.1)
        await _wait_until(lambda: len(set(got)) >= 5)
        await sub.delete()
    assert len(set(got)) >= 5  # the initial value plus changes


async def test_setpoint_write_and_refusals(node: TwinNode) -> None:
    twin = node.source
    async with Client(_url(node)) as c:
        sp = c.get_node(f"ns=2;s={SP}")
        await sp.write_value(ua.DataValue(ua.Variant(3200.0, ua.VariantType.Double)))
        await node.tick_once()
        assert twin.inputs.speed_sp[0] == 3200.0  # type: ignore[attr-defined]
        assert await sp.read_value() == 3200.0
        with pytest.raises(UaStatusCodeError) as e:
            await sp.write_value(5000.0)
        assert e.value.code == StatusCodes.BadOutOfRange
        with pytest.raises(UaStatusCodeError) as e:
            await sp.write_value("fast")
        assert e.value.code == StatusCodes.BadTypeMismatch
        with pytest.raises(UaStatusCodeError) as e:
            await c.get_node(f"ns=2;s={TP}").write_value(1.0)
        assert e.value.code == StatusCodes.BadNotWritable
        with pytest.raises(UaStatusCodeError) as e:
            await c.get_node("ns=2;s=acme.nowhere").read_value()
        assert e.value.code == StatusCodes.BadNodeIdUnknown
        with pytest.raises(UaStatusCodeError) as e:
            await c.get_node("ns=2;s=acme.nowhere").write_value(1.0)
        assert e.value.code == StatusCodes.BadNodeIdUnknown
        # the server keeps serving after every refusal
        assert status_of(await c.get_node(f"ns=2;s={TP}").read_data_value()).is_good()
        assert twin.inputs.speed_sp[0] == 3200.0  # type: ignore[attr-defined]


async def test_operator_methods(node: TwinNode) -> None:
    twin = node.source
    async with Client(_url(node)) as c:
        ops = c.get_node("ns=2;s=twinbench.operations")
        await ops.call_method("2:StopPump", W1)
        await ops.call_method(
            "2:SetSetpoint", "acme.permian.field_01.pad_01.well_0002.esp.pump_speed", 2500.0
        )
        await node.tick_once()
        assert twin.inputs.run[0] == 0.0 and twin.inputs.speed_sp[1] == 2500.0  # type: ignore[attr-defined]
        await ops.call_method("2:StartPump", TP)
        await node.tick_once()
        assert twin.inputs.run[0] == 1.0  # type: ignore[attr-defined]
        for args, code in (
            (("2:SetSetpoint", SP, 1e6), StatusCodes.BadOutOfRange),
            (("2:SetSetpoint", TP, 1.0), StatusCodes.BadNotWritable),
            (("2:SetSetpoint", "x.y", 1.0), StatusCodes.BadNodeIdUnknown),
            (("2:StopPump", "acme.permian.field_09"), StatusCodes.BadNodeIdUnknown),
        ):
            with pytest.raises(UaStatusCodeError) as e:
                await ops.call_method(*args)
            assert e.value.code == code, args


async def test_history_read_from_backend(node: TwinNode) -> None:
    for _ in range(5):
        await node.tick_once()
    async with Client(_url(node)) as c:
        hist = await c.get_node(f"ns=2;s={TP}").read_raw_history()
    emitted = node.source.emitted.concat()  # type: ignore[attr-defined]
    sid = node.catalogue.by_path[TP].id
    want = emitted.values[emitted.series == sid].tolist()
    assert [value_of(dv) for dv in hist] == want and len(want) >= 5


async def test_fast_datachange_copies_only_mutable_values() -> None:
    from asyncua.server.monitored_item_service import MonitoredItemValues

    from sim.servers.opcua_fast import install_fast_datachange

    install_fast_datachange()
    mv = MonitoredItemValues()
    scalar = ua.DataValue(ua.Variant(1.5, ua.VariantType.Double))
    mv.set_current_datavalue(scalar)
    assert mv.get_current_datavalue() is scalar
    array = ua.DataValue(ua.Variant([1.0, 2.0], ua.VariantType.Double))
    mv.set_current_datavalue(array)
    kept = mv.get_current_datavalue()
    assert kept is not array and kept == array and mv.get_old_datavalue() is scalar
    value_of(array).append(3.0)  # a caller mutating its list does not reach subscribers
    assert value_of(kept) == [1.0, 2.0]


async def test_subscriber_sees_exactly_what_was_emitted(node: TwinNode) -> None:
    """Every notification a subscriber gets is a point of the emitted log (value, time, status)."""
    cat = node.catalogue
    paths = [t.path for t in cat.tags if not t.writable][:10]
    got: list[tuple[int, int, float, int]] = []

    class Handler:
        def datachange_notification(self, n: object, val: float, data: DataChangeNotif) -> None:
            dv = data.monitored_item.Value
            ts = source_time_of(dv).replace(tzinfo=UTC)
            sid = cat.by_path[n.nodeid.Identifier].id  # type: ignore[attr-defined]
            got.append((sid, datetime_to_ns(ts), val, status_of(dv).value >> 16))

    twin = node.source
    async with Client(_url(node)) as c:
        sub = await c.create_subscription(20, Handler())
        VALUE = AttributeIds.Value
        # StatusValueTimestamp: a repeated value with a new source time is a new sample
        # (the default StatusValue trigger would drop it, as OPC UA specifies)
        reqs = []
        for k, p in enumerate(paths):
            nid = ua.NodeId(ua.String(p), ua.Int16(2))
            params = ua.MonitoringParameters(
                ClientHandle=1000 + k, SamplingInterval=0.0, QueueSize=50, DiscardOldest=True,
                Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp),
            )  # fmt: skip
            reqs.append(ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=nid, AttributeId=VALUE),
                MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=params,
            ))  # fmt: skip
        results = await sub.create_monitored_items(reqs)
        assert all(isinstance(r, int) for r in results), results
        await _wait_until(lambda: len(got) >= len(paths))  # one initial value per item
        got.clear()
        mark = twin.emitted.total_points  # type: ignore[attr-defined]
        for _ in range(5):
            await node.tick_once()
            await asyncio.sleep(0.05)
        ids = {cat.by_path[p].id for p in paths}
        emitted = twin.emitted.concat()  # type: ignore[attr-defined]
        new = emitted.take(np.arange(mark, len(emitted)))
        expected = int(np.isin(new.series, list(ids)).sum())
        await _wait_until(lambda: len(got) >= expected)
        await asyncio.sleep(0.2)  # anything beyond the expected count would be a bug: let it show
        await sub.delete()
    want = sorted(
        (int(s), int(t) // 1000 * 1000, float(v) if q < 0x8000 else "bad", int(q))
        for s, t, v, q in zip(new.series, new.ts, new.values, new.quality, strict=True)
        if int(s) in ids
    )
    # OPC UA source timestamps carry microseconds; under a Bad status the value is null
    assert sorted((s, t, "bad" if v is None else v, q) for s, t, v, q in got) == want
    assert len(want) >= 5 * 9


async def test_unsubscribed_node_reads_its_newest_value(node: TwinNode) -> None:
    """A node nobody subscribes to holds no DataValue per tick (publish() leaves the newest
    value in arrays), yet a read returns that tick's value, status and source time; once
    subscribed, the node is written eagerly again and notifies."""
    server = node.opcua
    got: list[float] = []

    class Handler:
        def datachange_notification(self, n: object, val: float, data: DataChangeNotif) -> None:
            got.append(val)

    for path in (TP, BAD):
        k = server.node_ids.index(ua.NodeId(ua.String(path), ua.Int16(2)))
        for _ in range(50):  # until the tag is emitted in a tick (its sample rate)
            result = await node.tick_once()
            if result.emit[k]:
                break
        assert result.emit[k]
        attval = server._attvals[k]
        if not attval.datachange_callbacks:
            assert attval.value is None and attval.value_callback is not None
        async with Client(_url(node)) as c:
            dv = await c.get_node(f"ns=2;s={path}").read_data_value(raise_on_bad_status=False)
        assert datetime_to_ns(source_time_of(dv).replace(tzinfo=UTC)) // 1000 == (
            int(result.ts[k]) // 1000
        )
        assert status_of(dv).value >> 16 == int(result.quality[k])
        if path == BAD:
            assert value_of(dv) is None
        else:
            assert value_of(dv) == float(result.values[k])
    async with Client(_url(node)) as c:
        sub = await c.create_subscription(50, Handler())
        await sub.subscribe_data_change(c.get_node(f"ns=2;s={TP}"))
        await _wait_until(lambda: len(got) >= 1)  # the initial value, read lazily
        n0 = len(got)
        for _ in range(5):
            await node.tick_once()
            await asyncio.sleep(0.1)
        await _wait_until(lambda: len(got) > n0)
        await sub.delete()
