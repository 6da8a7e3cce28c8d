"""Modbus exception responses from the real simulator server (pymodbus), per block.

The sim server answers exception 2 (illegal data address) outside a table's tag
range and 0x0B (gateway target failed to respond) for a unit id it does not
have. The poller must mark just the refused block's tags with a quality that
says why, count the code, keep the other blocks Good and keep its connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import TypedDict, Unpack

import numpy as np
import pytest

from historian.collect.modbus import ModbusPoller
from historian.model import PointBatch, Quality
from sim.catalogue_gen import generate_profile
from sim.servers.modbus import ModbusTwinServer
from sim.tags import Tag

pytestmark = [pytest.mark.service]


class Recorder:
    def __init__(self) -> None:
        self.batches: list[PointBatch] = []

    def add(self, batch: PointBatch) -> None:
        self.batches.append(batch)


@pytest.fixture
async def served_tags() -> AsyncIterator[tuple[list[Tag], int]]:
    cat = generate_profile("normal", 0).slice(0, 30)
    server = ModbusTwinServer(cat)
    port = await server.start()
    try:
        yield list(cat.tags), port
    finally:
        await server.stop()


class _Where(TypedDict, total=False):
    unit_id: int
    address: int


def _moved(tag: Tag, new_id: int, **where: Unpack[_Where]) -> Tag:
    return dataclasses.replace(tag, id=new_id, modbus=dataclasses.replace(tag.modbus, **where))


async def test_exception_responses_mark_only_their_block_and_say_why(
    served_tags: tuple[list[Tag], int],
) -> None:
    tags, port = served_tags
    base = tags[0]
    unmapped = _moved(base, 900_001, address=60_000)  # outside the table: exception 2
    no_unit = _moved(base, 900_002, unit_id=200)  # no such device: exception 0x0B
    rec = Recorder()
    poller = ModbusPoller("127.0.0.1", port, [*tags, unmapped, no_unit], rec)  # type: ignore[arg-type]
    try:
        first = await poller.poll_once()
        await poller.poll_once()
    finally:
        if poller._client is not None:
            poller._client.close()
    quality = dict(zip(first.series.tolist(), first.quality.tolist(), strict=True))
    values = dict(zip(first.series.tolist(), first.values.tolist(), strict=True))
    assert quality[900_001] == Quality.BAD_CONFIGURATION_ERROR and np.isnan(values[900_001])
    assert quality[900_002] == Quality.BAD_NOT_CONNECTED and np.isnan(values[900_002])
    assert all(quality[t.id] == Quality.GOOD for t in tags)  # the other blocks are fine
    m = poller.metrics
    assert m.exceptions == {0x02: 2, 0x0B: 2}  # two polls, each block refused once per poll
    assert m.exception_responses == 4 and m.reconnects == 0  # the connection was kept
    assert "exception code" in m.last_error
