"""The address space through a real client: folders, attributes, properties, HAConfiguration,
server capabilities, and current values that follow ingest (written over the HTTP API)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncua.client.client import Client

from historian.query.part13 import AGGREGATES
from tests.historian.opcua.conftest import BASE, FLOW, NS, RUNNING, OpcUaHistorian
from tests.historian.opcua.helpers import ua
from tests.opcua_fields import source_time_of, status_of, value_of

NAMESPACE = "urn:twinbench:historian"


@pytest.fixture(scope="module")
def with_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaHistorian]:
    server = OpcUaHistorian(tmp_path_factory.mktemp("live"), "--http", "127.0.0.1:0")
    yield server
    assert server.stop() == 0, server.log.read_text()


async def test_folders_variables_and_properties(historian_server: OpcUaHistorian) -> None:
    async with Client(historian_server.url, timeout=30) as c:
        ns = await c.get_namespace_index(NAMESPACE)
        pump = c.get_node(ua.NodeId("acme.site1.area1.line1.cell1.pump1", ns))
        names = sorted([(await ch.read_browse_name()).Name for ch in await pump.get_children()])
        assert names == ["empty", "flow", "precise", "running"]
        flow = c.get_node(ua.NodeId(FLOW, ns))
        assert value_of(await flow.read_attribute(ua.AttributeIds.Historizing)) is True
        for attr in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
            level = value_of(await flow.read_attribute(attr))
            assert (
                level & ua.AccessLevel.HistoryRead.mask and level & ua.AccessLevel.CurrentRead.mask
            )
        eu = await (await flow.get_child("0:EngineeringUnits")).read_value()
        assert eu.DisplayName.Text == "m3/h"
        rng = await (await flow.get_child("0:EURange")).read_value()
        assert (rng.Low, rng.High) == (0.0, 5000.0)
        dv = await flow.read_data_value()
        assert value_of(dv) == 1799.5 and status_of(dv).is_good()
        assert source_time_of(dv).timestamp() == (BASE + 3599 * NS) / NS


@pytest.mark.parametrize(("name", "stepped"), [(FLOW, False), (RUNNING, True)])
async def test_ha_configuration(historian_server: OpcUaHistorian, name: str, stepped: bool) -> None:
    async with Client(historian_server.url, timeout=30) as c:
        ns = await c.get_namespace_index(NAMESPACE)
        var = c.get_node(ua.NodeId(name, ns))
        refs = await var.get_referenced_nodes(ua.ObjectIds.HasHistoricalConfiguration)
        assert len(refs) == 1
        ha = refs[0]
        assert (await ha.read_browse_name()).Name == "HAConfiguration"
        assert await (await ha.get_child("0:Stepped")).read_value() is stepped
        assert await (await ha.get_child("0:Definition")).read_value()
        assert await (await ha.get_child("0:MinTimeInterval")).read_value() == 0.0
        agg = await ha.get_child("0:AggregateConfiguration")
        assert await (await agg.get_child("0:TreatUncertainAsBad")).read_value() is True
        if name == FLOW:
            assert await (await ha.get_child("0:ExceptionDeviation")).read_value() == 0.5


async def test_server_capabilities_list_what_is_supported(historian_server: OpcUaHistorian) -> None:
    async with Client(historian_server.url, timeout=30) as c:
        for folder in (
            ua.ObjectIds.HistoryServerCapabilities_AggregateFunctions,
            ua.ObjectIds.Server_ServerCapabilities_AggregateFunctions,
        ):
            children = await c.get_node(ua.NodeId(folder)).get_referenced_nodes(
                ua.ObjectIds.Organizes
            )
            ids = {n.nodeid.Identifier for n in children}
            assert ids >= {a.node_id for a in AGGREGATES.values()}

        async def read(i: int) -> Any:
            return await c.get_node(ua.NodeId(i)).read_value()

        assert await read(ua.ObjectIds.HistoryServerCapabilities_AccessHistoryDataCapability)
        assert not await read(ua.ObjectIds.HistoryServerCapabilities_InsertDataCapability)
        assert await read(ua.ObjectIds.HistoryServerCapabilities_MaxReturnDataValues) == 20_000
        limit = ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadData
        assert await read(limit) == 1_000


async def test_subscriptions_see_values_as_they_are_ingested(with_http: OpcUaHistorian) -> None:
    seen: list[Any] = []

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            seen.append(data.monitored_item.Value)

    async with Client(with_http.url, timeout=30) as c:
        ns = await c.get_namespace_index(NAMESPACE)
        sub = await c.create_subscription(50, Handler())
        await sub.subscribe_data_change(c.get_node(ua.NodeId(FLOW, ns)))
        t = time.time_ns() // 1000 * 1000
        body = json.dumps({"tag": FLOW, "timestamp": [t], "value": [42.25]}).encode()
        req = urllib.request.Request(
            str(with_http.info["http"]) + "/api/v1/write",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=30).read())
        deadline = time.monotonic() + 10
        while not any(dv.Value.Value == 42.25 for dv in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        hit = [dv for dv in seen if dv.Value.Value == 42.25]
        assert hit, [dv.Value.Value for dv in seen]
        assert int(hit[0].SourceTimestamp.timestamp() * 1_000_000) * 1000 == t


def test_docs_example_runs(historian_server: OpcUaHistorian, tmp_path: Path) -> None:
    """The worked client example in docs/opcua.md runs against the server as written."""
    doc = (Path(__file__).parents[3] / "docs" / "opcua.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(code)
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, str(script), historian_server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "TimeAverage" in r.stdout and "raw values" in r.stdout, r.stdout
