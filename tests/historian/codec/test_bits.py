"""Bit stream, zigzag and varint primitives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.codec.bits import (
    bytes_to_words,
    get_bits,
    put_bits,
    unzigzag,
    varint_decode,
    varint_encode,
    words_to_bytes,
    zigzag,
)


@given(st.lists(st.integers(0, 2**64 - 1)))
@settings(deadline=None)
def test_varints_round_trip_and_stop_at_truncation(values: list[int]) -> None:
    arr = np.array(values, dtype=np.uint64)
    buf = varint_encode(arr)
    out, end = varint_decode(buf, 0, arr.size)
    assert end == buf.size and out.tolist() == values
    if buf.size:
        assert varint_decode(buf[:-1], 0, arr.size)[1] == -1


@given(st.lists(st.integers(-(2**63), 2**63 - 1)))
@settings(deadline=None)
def test_zigzag_round_trips(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    assert unzigzag(zigzag(arr)).tolist() == values


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 64)), max_size=50))
@settings(deadline=None)
def test_bit_fields_read_back(fields: list[tuple[int, int]]) -> None:
    words = np.zeros(len(fields) + 2, np.uint64)
    pos = 0
    for value, width in fields:
        pos = put_bits(words, pos, np.uint64(value), width)
    back, limit = bytes_to_words(words_to_bytes(words, pos))
    assert limit >= pos
    at = 0
    for value, width in fields:
        assert int(get_bits(back, at, width)) == value & ((1 << width) - 1)
        at += width
