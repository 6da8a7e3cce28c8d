"""Block coalescing and vectorised decoding, checked against pymodbus' own encoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from historian.collect.modbus_plan import MAX_REGISTERS_PER_READ, build_read_plan


@dataclass(frozen=True)
class Loc:
    table: str
    unit_id: int
    address: int
    encoding: str
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class T:
    id: int
    modbus: Loc
    deadband: float = 0.0


def _encode(loc: Loc, value: float) -> list[int]:
    dt = ModbusTcpClient.DATATYPE
    if loc.encoding == "float32":
        return ModbusTcpClient.convert_to_registers(value, dt.FLOAT32, word_order=loc.word_order)
    raw = round((value - loc.offset) / loc.scale)
    return ModbusTcpClient.convert_to_registers(raw, dt.INT16)


def test_blocks_coalesce_and_respect_the_125_register_limit() -> None:
    tags = [T(i, Loc("input", 1, i * 2, "float32")) for i in range(100)]  # 200 registers
    tags += [T(1000, Loc("holding", 1, 0, "int16_scaled", scale=0.1))]
    tags += [T(2000, Loc("input", 2, 0, "float32"))]
    plan = build_read_plan(tags)
    assert all(b.count <= MAX_REGISTERS_PER_READ for b in plan)
    covered = sorted(int(i) for b in plan for i in b.tag_index)
    assert covered == list(range(len(tags)))
    assert {(b.unit_id, b.table) for b in plan} == {(1, "input"), (1, "holding"), (2, "input")}
    assert len([b for b in plan if (b.unit_id, b.table) == (1, "input")]) == 2


def test_far_apart_registers_get_separate_reads() -> None:
    tags = [T(1, Loc("input", 1, 0, "float32")), T(2, Loc("input", 1, 1000, "float32"))]
    assert len(build_read_plan(tags)) == 2


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["float32/big", "float32/little", "int16_scaled"]),
            st.floats(-1000, 1000, allow_nan=False, width=32),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_decode_matches_pymodbus_encoding(specs: list[tuple[str, float]]) -> None:
    tags: list[T] = []
    regs: dict[int, int] = {}
    addr = 0
    expected = []
    for i, (enc, v) in enumerate(specs):
        if enc.startswith("float32"):
            order: Literal["big", "little"] = "little" if enc == "float32/little" else "big"
            loc = Loc("holding", 1, addr, "float32", word_order=order)
            exp = float(np.float32(v))
        else:
            loc = Loc("holding", 1, addr, "int16_scaled", scale=0.05, offset=-10.0)
            raw = max(-32768, min(32767, round((v - loc.offset) / loc.scale)))
            v = raw * loc.scale + loc.offset
            exp = v
        words = _encode(loc, v)
        for k, w in enumerate(words):
            regs[addr + k] = w
        addr += len(words) + (i % 3)  # small gaps are read through
        tags.append(T(i, loc))
        expected.append(exp)
    got = np.full(len(tags), np.nan)
    for block in build_read_plan(tags):
        block_regs = [regs.get(block.start + k, 0) for k in range(block.count)]
        got[block.tag_index] = block.decode(block_regs)
    assert got.tolist() == pytest.approx(expected, rel=0, abs=1e-9)


def test_coils_decode_as_zero_one() -> None:
    tags = [T(i, Loc("coil", 1, i * 3, "bit")) for i in range(5)]
    [block] = build_read_plan(tags)
    bits = [k % 2 == 0 for k in range(block.count)]
    assert block.decode(bits).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
