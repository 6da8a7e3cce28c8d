"""Modbus server against a real pymodbus client over TCP: values, exceptions, writes."""

from __future__ import annotations

import numpy as np
from pymodbus.client import AsyncModbusTcpClient

from sim.servers.node import TwinNode

DT = AsyncModbusTcpClient.DATATYPE


async def _client(node: TwinNode) -> AsyncModbusTcpClient:
    assert node.modbus is not None
    c = AsyncModbusTcpClient("127.0.0.1", port=node.modbus.port)
    assert await c.connect()
    return c


def _value(node: TwinNode, path: str) -> float:
    assert node.last is not None
    return float(
        node.last.values[node.source.catalogue.tags.index(node.source.catalogue.by_path[path])]
    )


W1 = "acme.permian.field_01.pad_01.well_0001"
W101 = "acme.permian.field_02.pad_01.well_0101"  # unit 2, slot 0


async def test_reads_match_model_values(modbus_node: TwinNode) -> None:
    c = await _client(modbus_node)
    try:
        r = await c.read_input_registers(0, count=14, device_id=1)
        assert not r.isError()
        tp = c.convert_from_registers(r.registers[0:2], DT.FLOAT32)
        assert tp == _value(modbus_node, f"{W1}.wellhead.tubing_pressure")
        vib = c.convert_from_registers(r.registers[8:10], DT.FLOAT32, word_order="little")
        assert vib == _value(modbus_node, f"{W1}.esp.vibration")
        casing = np.int16(np.uint16(r.registers[10])) * 0.2
        assert abs(casing - _value(modbus_node, f"{W1}.wellhead.casing_pressure")) < 1e-9
        r = await c.read_input_registers(4, count=2, device_id=2)
        assert c.convert_from_registers(r.registers, DT.FLOAT32) == _value(
            modbus_node, f"{W101}.separator.oil"
        )
        # a 125-register block read across wells (reserved registers read 0)
        r = await c.read_input_registers(0, count=125, device_id=1)
        assert not r.isError() and r.registers[14:16] == [0, 0]
    finally:
        c.close()


async def test_values_follow_ticks(modbus_node: TwinNode) -> None:
    c = await _client(modbus_node)
    try:
        seen = set()
        for _ in range(3):
            await modbus_node.tick_once()
            r = await c.read_input_registers(0, count=2, device_id=1)
            seen.add(c.convert_from_registers(r.registers, DT.FLOAT32))
        assert len(seen) == 3
    finally:
        c.close()


async def test_setpoint_write_reaches_model(modbus_node: TwinNode) -> None:
    c = await _client(modbus_node)
    try:
        regs = c.convert_to_registers(3300.0, DT.FLOAT32)
        r = await c.write_registers(2, regs, device_id=1)  # well 2 pump_speed, holding 2..3
        assert not r.isError()
        # the register holds it at once, and the model follows from the next tick
        r = await c.read_holding_registers(2, count=2, device_id=1)
        assert c.convert_from_registers(r.registers, DT.FLOAT32) == 3300.0
        for _ in range(40):
            await modbus_node.tick_once()
        twin = modbus_node.source
        assert twin.inputs.speed_sp[1] == 3300.0  # type: ignore[attr-defined]
        assert twin.outputs["speed"][1] > 3200.0  # type: ignore[attr-defined]
        r = await c.read_holding_registers(2, count=2, device_id=1)
        assert c.convert_from_registers(r.registers, DT.FLOAT32) == 3300.0
    finally:
        c.close()


async def test_protocol_errors_and_server_keeps_serving(modbus_node: TwinNode) -> None:
    c = await _client(modbus_node)
    try:
        # beyond the unit's last register -> illegal data address
        r = await c.read_input_registers(100 * 16 - 2, count=10, device_id=1)
        assert r.isError() and r.exception_code == 2
        r = await c.read_holding_registers(500, count=1, device_id=1)
        assert r.isError() and r.exception_code == 2
        r = await c.read_coils(0, count=1, device_id=1)  # no coils in this catalogue
        assert r.isError() and r.exception_code == 2
        # out-of-range and NaN setpoints -> illegal data value
        for bad in (4000.0, -1.0, float("nan")):
            r = await c.write_registers(0, c.convert_to_registers(bad, DT.FLOAT32), device_id=1)
            assert r.isError() and r.exception_code == 3, bad
        # half a float32 -> illegal data address
        r = await c.write_register(1, 7, device_id=1)
        assert r.isError() and r.exception_code == 2
        # a reserved holding register between tags does not exist for writes
        r = await c.write_registers(0, [0, 0, 0, 0, 0], device_id=1)
        assert r.isError() and r.exception_code == 2
        # unknown unit id -> gateway target failed to respond
        r = await c.read_input_registers(0, count=1, device_id=77)
        assert r.isError() and r.exception_code == 0x0B
        assert modbus_node.modbus is not None and modbus_node.modbus.stats.writes_accepted == 0
        # still serving
        r = await c.read_input_registers(0, count=2, device_id=1)
        assert not r.isError()
    finally:
        c.close()


async def test_dropout_holds_last_register_value(modbus_node: TwinNode) -> None:
    assert modbus_node.modbus is not None and modbus_node.last is not None
    server = modbus_node.modbus
    values = modbus_node.last.values.copy()
    emit = np.ones(len(values), dtype=bool)
    await server.publish(values, 0, emit)
    c = await _client(modbus_node)
    try:
        emit[0] = False  # tubing pressure of well 1 drops out
        await server.publish(values + 100.0, 0, emit)
        r = await c.read_input_registers(0, count=4, device_id=1)
        assert c.convert_from_registers(r.registers[0:2], DT.FLOAT32) == np.float32(values[0])
        assert c.convert_from_registers(r.registers[2:4], DT.FLOAT32) == np.float32(values[4] + 100)
    finally:
        c.close()


async def test_every_register_decodes_to_the_emitted_value(modbus_node: TwinNode) -> None:
    from sim.servers.registers import layouts

    c = await _client(modbus_node)
    try:
        for _ in range(3):
            r = await modbus_node.tick_once()
            for (unit, table), lay in layouts(modbus_node.catalogue.tags).items():
                words: list[int] = []
                for start in range(lay.lo, lay.hi + 1, 125):
                    count = min(125, lay.hi + 1 - start)
                    if table == "input":
                        resp = await c.read_input_registers(start, count=count, device_id=unit)
                    else:
                        resp = await c.read_holding_registers(start, count=count, device_id=unit)
                    assert not resp.isError()
                    words += resp.registers
                for pos, i in enumerate(lay.tag_index):
                    a = int(lay.address[pos]) - lay.lo
                    got = lay.decode(pos, words[a : a + lay.width(pos)])
                    if r.emit[i]:
                        assert got == r.values[i], modbus_node.catalogue.tags[int(i)].path
    finally:
        c.close()
