"""A running Modbus (and optionally OPC UA) twin node in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sim.catalogue_gen import generate_oilfield
from sim.servers.node import TwinNode
from sim.twin import PlantTwin


@pytest.fixture
async def modbus_node() -> AsyncIterator[TwinNode]:
    twin = PlantTwin(generate_oilfield(120, seed=1), seed=1, start_ns=0)
    node = TwinNode(twin, speed=None, opcua_port=None)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
