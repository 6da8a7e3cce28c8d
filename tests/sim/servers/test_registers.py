"""Register encodings round-trip and match the layout the catalogue documents."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.catalogue_gen import generate_oilfield
from sim.servers.registers import (
    decode_float32,
    decode_int16_scaled,
    encode_float32,
    encode_int16_scaled,
    layouts,
)


@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=50), st.booleans())
def test_float32_round_trip(values: list[float], big: bool) -> None:
    v = np.array(values)
    order = np.full(len(v), big)
    words = encode_float32(v, order)
    assert np.array_equal(decode_float32(words, order), v)
    hi, lo = struct.unpack(">HH", struct.pack(">f", values[0]))
    assert words[0].tolist() == ([hi, lo] if big else [lo, hi])


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=50))
def test_int16_scaled_round_trip(raw: list[int]) -> None:
    scale, offset = np.full(len(raw), 0.25), np.full(len(raw), -10.0)
    v = np.array(raw) * 0.25 - 10.0
    words = encode_int16_scaled(v, scale, offset)
    assert words.dtype == np.uint16
    assert np.array_equal(decode_int16_scaled(words, scale, offset), v)


def test_int16_scaled_saturates() -> None:
    w = encode_int16_scaled(np.array([1e9, -1e9]), np.ones(2), np.zeros(2))
    assert w.view(np.int16).tolist() == [32767, -32768]


def test_layout_image_places_every_tag() -> None:
    cat = generate_oilfield(3)
    lay = layouts(cat.tags)
    assert set(lay) == {(1, "input"), (1, "holding")}
    values = np.array([t.low + (t.high - t.low) * 0.37 for t in cat.tags])
    inp = lay[(1, "input")]
    img = np.array(inp.image(values), dtype=np.uint16)
    assert (inp.lo, inp.hi) == (0, 2 * 16 + 13)
    for pos, i in enumerate(inp.tag_index):
        t = cat.tags[int(i)]
        a = t.modbus.address - inp.lo
        got = inp.decode(pos, img[a : a + t.modbus.register_count].tolist())
        exact = values[i] if t.modbus.encoding == "int16_scaled" else float(np.float32(values[i]))
        assert abs(got - exact) <= t.modbus.scale / 2 + 1e-9, t.path
