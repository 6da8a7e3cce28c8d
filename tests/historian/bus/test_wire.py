"""TBWB wire format: bit-exact round trips and a specific error for every kind of damage."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.bus.wire import (
    HEADER_SIZE,
    BadMagicError,
    ChecksumMismatchError,
    OversizedMessageError,
    TruncatedMessageError,
    UnsupportedVersionError,
    WireFormatError,
    decode_batch,
    encode_batch,
    encoded_size,
)
from historian.model import PointBatch


@st.composite
def batches(draw: st.DrawFn) -> PointBatch:
    n = draw(st.integers(0, 200))
    series = draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    ts = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
    # raw 64-bit patterns: every NaN payload, -0.0, subnormals, inf
    bits = draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n))
    quality = draw(st.lists(st.integers(0, 2**16 - 1), min_size=n, max_size=n))
    values = np.array(bits, dtype=np.uint64).view(np.float64)
    return PointBatch.from_arrays(series, np.array(ts, dtype=np.int64), values, quality)


@given(
    batches(),
    st.text(min_size=1, max_size=40).filter(lambda s: len(s.encode()) <= 255),
    st.integers(0, 2**63 - 1),
)
@settings(max_examples=200)
def test_round_trip_is_bit_exact(batch: PointBatch, source: str, seq: int) -> None:
    msg = encode_batch(batch, source_id=source, sequence=seq, created_ns=123)
    assert len(msg) == encoded_size(len(batch), source)
    d = decode_batch(msg)
    assert d.source_id == source and d.sequence == seq and d.created_ns == 123
    assert d.batch.series.tolist() == batch.series.tolist()
    assert d.batch.ts.tolist() == batch.ts.tolist()
    assert d.batch.values.view(np.uint64).tolist() == batch.values.view(np.uint64).tolist()
    assert d.batch.quality.tolist() == batch.quality.tolist()


def _sample() -> bytes:
    b = PointBatch.from_arrays([1, 2, 3], [1, 2, 3], [1.0, 2.0, 3.0])
    return encode_batch(b, source_id="src", sequence=1)


@given(st.data())
@settings(max_examples=200)
def test_any_single_bit_flip_is_detected(data: st.DataObject) -> None:
    msg = bytearray(_sample())
    bit = data.draw(st.integers(0, len(msg) * 8 - 1))
    msg[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(WireFormatError):
        decode_batch(bytes(msg))


@given(st.data())
def test_every_truncation_is_refused(data: st.DataObject) -> None:
    msg = _sample()
    cut = data.draw(st.integers(0, len(msg) - 1))
    with pytest.raises(WireFormatError):
        decode_batch(msg[:cut])


def test_specific_errors_and_reasons() -> None:
    msg = _sample()
    with pytest.raises(TruncatedMessageError) as e1:
        decode_batch(msg[:10])
    assert e1.value.reason == "truncated"
    with pytest.raises(BadMagicError, match="not a TBWB batch"):
        decode_batch(b"JSON" + msg[4:])
    wrong_version = bytearray(msg)
    wrong_version[4] = 9
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        decode_batch(bytes(wrong_version))
    bad_crc = bytearray(msg)
    bad_crc[-1] ^= 0xFF
    with pytest.raises(ChecksumMismatchError):
        decode_batch(bytes(bad_crc))
    huge = bytearray(msg)
    struct.pack_into("<I", huge, 8, 10**9)
    with pytest.raises(OversizedMessageError):
        decode_batch(bytes(huge))
    with pytest.raises(WireFormatError):
        decode_batch(msg + b"\0" * 8)
    assert HEADER_SIZE == 28


def test_encoder_refuses_oversized_batch_and_bad_source() -> None:
    b = PointBatch.from_arrays(np.zeros(11), np.arange(11), np.zeros(11))
    with pytest.raises(OversizedMessageError, match="split it"):
        encode_batch(b, source_id="s", sequence=0, max_points=10)
    with pytest.raises(ValueError, match="source_id"):
        encode_batch(b, source_id="", sequence=0)
    with pytest.raises(ValueError, match="sequence"):
        encode_batch(b, source_id="s", sequence=-1)


def test_sorted_flag_survives() -> None:
    b = PointBatch.from_arrays([1, 2], [5, 1], [0.0, 0.0]).sorted()
    assert decode_batch(encode_batch(b, source_id="s", sequence=0)).batch.is_sorted
