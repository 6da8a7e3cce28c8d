"""Interop: Debian's mbpoll (an independent Modbus master) reads the twin's registers."""

from __future__ import annotations

import asyncio
import re
import shutil

import numpy as np
import pytest

from sim.servers.node import TwinNode

pytestmark = pytest.mark.skipif(
    shutil.which("mbpoll") is None,
    reason="mbpoll not installed (scripts/install-system-deps.sh installs it)",
)


async def _mbpoll(port: int, *args: str) -> list[tuple[str, str]]:
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-p", str(port), "-1", "-0", "-o", "2", *args, "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode() + out.decode()
    return re.findall(r"^\[(\d+)\]:\s+(\S+)", out.decode(), flags=re.M)


def _values(node: TwinNode, unit: int, table: str) -> dict[int, float]:
    assert node.last is not None
    cat = node.source.catalogue
    return {
        t.modbus.address: float(node.last.values[i])
        for i, t in enumerate(cat.tags)
        if t.modbus.unit_id == unit and t.modbus.table == table
    }


async def test_mbpoll_reads_float32_big_endian(modbus_node: TwinNode) -> None:
    assert modbus_node.modbus is not None
    want = _values(modbus_node, 1, "input")
    rows = await _mbpoll(modbus_node.modbus.port, "-a", "1", "-t", "3:float", "-B",
                         "-r", "16", "-c", "3")  # fmt: skip
    # well 2: tubing pressure @16, gas @18, oil @20
    got = {int(a): float(v) for a, v in rows}
    assert set(got) == {16, 18, 20}
    for a, v in got.items():
        assert v == pytest.approx(want[a], rel=1e-6, abs=1e-3), a


async def test_mbpoll_reads_float32_little_endian_word_order(modbus_node: TwinNode) -> None:
    assert modbus_node.modbus is not None
    want = _values(modbus_node, 2, "input")
    rows = await _mbpoll(modbus_node.modbus.port, "-a", "2", "-t", "3:float", "-r", "8", "-c", "1")
    assert float(rows[0][1]) == pytest.approx(want[8], rel=1e-6, abs=1e-4)  # vibration


async def test_mbpoll_reads_int16_scaled(modbus_node: TwinNode) -> None:
    assert modbus_node.modbus is not None
    want = _values(modbus_node, 1, "input")
    rows = await _mbpoll(modbus_node.modbus.port, "-a", "1", "-t", "3", "-r", "10", "-c", "4")
    raw = np.array([int(v) for _, v in rows], dtype=np.int64)
    scales = np.array([0.2, 0.01, 0.01, 0.01])  # casing, temperature, tank level, water cut
    np.testing.assert_allclose(raw * scales, [want[10], want[11], want[12], want[13]], atol=1e-9)


async def test_mbpoll_writes_setpoint(modbus_node: TwinNode) -> None:
    assert modbus_node.modbus is not None
    port = modbus_node.modbus.port
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-p", str(port), "-0", "-o", "2", "-a", "1", "-t", "4:float",
        "-B", "-r", "4", "127.0.0.1", "3100",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    await modbus_node.tick_once()
    twin = modbus_node.source
    assert twin.inputs.speed_sp[2] == 3100.0  # type: ignore[attr-defined]
    # an out-of-range write is refused by the server; mbpoll reports the exception
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-p", str(port), "-0", "-o", "2", "-a", "1", "-t", "4:float",
        "-B", "-r", "4", "127.0.0.1", "9999",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert "Illegal data value" in (out + err).decode()
