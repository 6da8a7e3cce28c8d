"""Every codec through the same cases: bit-exact round trip, corruption, truncation.

One parametrised property test runs over the single codec list
``ALL_VALUE_CODECS`` (each registered value codec, plus ``None`` = the
adaptive chooser); timestamp and quality codecs are exercised in every case
because each chunk carries all three.
"""

from __future__ import annotations

import struct

import crc32c
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec import (
    CODECS,
    HEADER_SIZE,
    TRAILER_SIZE,
    VALUE_CODEC_NAMES,
    ChunkCorruptError,
    ChunkTruncatedError,
    CodecNotApplicableError,
    UnknownCodecError,
    UnsortedTimestampsError,
    chunk_info,
    decode_chunk,
    encode_chunk,
    iter_chunks,
)
from historian.codec.registry import TIMESTAMP_CODECS
from historian.codec.sampling import value_sample
from historian.codec.scaled import scaled_is_exact_float32
from historian.errors import BatchValidationError, CorruptDataError
from tests.historian.codec.float32_strategies import float32_arrays
from tests.strategies import quality_arrays, series_chunks, sorted_timestamps

ALL_VALUE_CODECS: list[str | None] = [*VALUE_CODEC_NAMES, None]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Chunk = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]


def _encode_or_skip(chunk: Chunk, codec: str | None) -> bytes | None:
    try:
        return encode_chunk(*chunk, codec=codec)
    except CodecNotApplicableError:
        assert codec in ("const", "rle", "levels")  # only these may refuse input
        return None


def _assert_same(chunk: Chunk, decoded: Chunk) -> None:
    ts, values, quality = chunk
    t2, v2, q2 = decoded
    assert t2.dtype == np.int64 and v2.dtype == np.float64 and q2.dtype == np.uint16
    np.testing.assert_array_equal(t2, ts)
    np.testing.assert_array_equal(v2.view(np.uint64), values.view(np.uint64))  # bit-exact
    np.testing.assert_array_equal(q2, quality)


@pytest.mark.parametrize("codec", ALL_VALUE_CODECS, ids=lambda c: c or "chooser")
@SETTINGS
@given(chunk=series_chunks(), data=st.data())
def test_every_codec_round_trips_and_rejects_damage(
    codec: str | None, chunk: Chunk, data: st.DataObject
) -> None:
    encoded = _encode_or_skip(chunk, codec)
    if encoded is None:
        return
    _assert_same(chunk, decode_chunk(encoded))
    info = chunk_info(encoded)
    assert info.nbytes == len(encoded) and info.count == chunk[0].size
    if codec is not None:
        assert info.codec_names[1] == codec
    if chunk[0].size:
        assert (info.min_ts, info.max_ts) == (chunk[0][0], chunk[0][-1])

    # a chunk is self-delimiting: decoding ignores what follows it
    _assert_same(chunk, decode_chunk(encoded + b"\xff" * 9))

    # any single bit flip is caught by a CRC32C
    bit = data.draw(st.integers(0, 8 * len(encoded) - 1), label="flipped bit")
    damaged = bytearray(encoded)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ChunkCorruptError):
        decode_chunk(bytes(damaged))

    # any truncation is caught
    cut = data.draw(st.integers(0, len(encoded) - 1), label="truncated length")
    with pytest.raises(ChunkCorruptError):
        decode_chunk(encoded[:cut])


def _recrc(chunk: bytearray) -> bytes:
    """Fix both checksums so structural checks (not CRCs) face the damage."""
    fields_end = HEADER_SIZE - 4
    struct.pack_into("<I", chunk, fields_end, crc32c.crc32c(bytes(chunk[:fields_end])))
    payload = bytes(chunk[HEADER_SIZE:-TRAILER_SIZE])
    struct.pack_into("<I", chunk, len(chunk) - TRAILER_SIZE, crc32c.crc32c(payload))
    return bytes(chunk)


@st.composite
def float32_chunks(draw: st.DrawFn) -> Chunk:
    values = draw(float32_arrays(max_size=200))
    return draw(sorted_timestamps(values.size)), values, draw(quality_arrays(values.size))


@pytest.mark.parametrize("codec", ALL_VALUE_CODECS, ids=lambda c: c or "chooser")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk=float32_chunks())
def test_every_codec_round_trips_float32_renderings(codec: str | None, chunk: Chunk) -> None:
    encoded = _encode_or_skip(chunk, codec)
    if encoded is not None:
        _assert_same(chunk, decode_chunk(encoded))


@pytest.mark.parametrize("codec", ALL_VALUE_CODECS, ids=lambda c: c or "chooser")
@SETTINGS
@given(chunk=series_chunks(max_size=80), data=st.data())
def test_forged_payload_with_valid_crc_never_crashes(
    codec: str | None, chunk: Chunk, data: st.DataObject
) -> None:
    encoded = _encode_or_skip(chunk, codec)
    if encoded is None or len(encoded) == HEADER_SIZE + TRAILER_SIZE:
        return
    forged = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(HEADER_SIZE, len(forged) - TRAILER_SIZE - 1))
        forged[at] = data.draw(st.integers(0, 255))
    try:
        ts, values, quality = decode_chunk(_recrc(forged))
    except ChunkCorruptError:
        return
    assert ts.size == values.size == quality.size == chunk[0].size


def test_edge_cases_round_trip_under_every_codec() -> None:
    nan_payload = np.array([0x7FF8_DEAD_0000_0001], np.uint64).view(np.float64)[0]
    cases = [
        np.array([], np.float64),
        np.array([42.0]),
        np.array([np.nan, nan_payload, np.inf, -np.inf, -0.0, 0.0, 5e-324, -5e-324]),
        np.array([float(2**53), float(2**53 + 2), 2.0**53 + 1.0, -(2.0**53)]),
        np.array([0.1, 0.2, 0.30000000000000004, 1e300, 1e-300]),
    ]
    for values in cases:
        n = values.size
        ts = (np.arange(n, dtype=np.int64) * 10**9) if n else np.empty(0, np.int64)
        chunk = (ts, values, np.zeros(n, np.uint16))
        for codec in ALL_VALUE_CODECS:
            encoded = _encode_or_skip(chunk, codec)
            if encoded is not None:
                _assert_same(chunk, decode_chunk(encoded))


def test_huge_gaps_and_the_whole_int64_range_round_trip() -> None:
    ts = np.array([-(2**63), -1, 0, 1, 2**62, 2**63 - 1], np.int64)
    chunk = (ts, np.arange(6.0), np.zeros(6, np.uint16))
    for codec in TIMESTAMP_CODECS:
        payload = codec.encode(ts)
        if payload is None:
            assert codec.name == "ts-grid"  # the one codec that declines 2^62+ spans
            continue
        np.testing.assert_array_equal(codec.decode(payload, 6, int(ts[0]), int(ts[-1])), ts)
    _assert_same(chunk, decode_chunk(encode_chunk(*chunk)))


def test_regular_chunk_timestamps_cost_one_byte() -> None:
    ts = 1_700_000_000 * 10**9 + np.arange(3600, dtype=np.int64) * 10**9
    info = chunk_info(encode_chunk(ts, np.full(3600, 7.0), np.zeros(3600, np.uint16)))
    assert info.ts_bytes == 1
    assert info.codec_names == ("ts-dod", "const", "q-const")
    assert info.nbytes == HEADER_SIZE + TRAILER_SIZE + 1 + 8 + 2


@given(ts=st.integers(2, 200).flatmap(sorted_timestamps))
@settings(max_examples=50, deadline=None)
def test_timestamp_codecs_preserve_duplicates_and_gaps(ts: NDArray[np.int64]) -> None:
    for codec in TIMESTAMP_CODECS:
        payload = codec.encode(ts)
        if payload is not None:
            got = codec.decode(payload, ts.size, int(ts[0]), int(ts[-1]))
            np.testing.assert_array_equal(got, ts)


def test_descending_timestamps_are_rejected_with_the_index() -> None:
    ts = np.array([1, 2, 2, 1], np.int64)
    with pytest.raises(UnsortedTimestampsError, match="index 3") as err:
        encode_chunk(ts, np.zeros(4), np.zeros(4, np.uint16))
    assert isinstance(err.value, ValueError)


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(BatchValidationError):
        encode_chunk(np.arange(3, dtype=np.int64), np.zeros(2), np.zeros(3, np.uint16))
    with pytest.raises(UnknownCodecError):
        encode_chunk(np.arange(3, dtype=np.int64), np.zeros(3), np.zeros(3, np.uint16), codec="lz4")
    with pytest.raises(CodecNotApplicableError):
        encode_chunk(np.arange(3, dtype=np.int64), np.arange(3.0), np.zeros(3, np.uint16), "const")


def test_codec_ids_are_stable_and_unique() -> None:
    ids = {name: c.id for name, c in CODECS.items()}
    assert ids == {
        "ts-dod": 0x01, "ts-delta-pco": 0x02, "ts-grid": 0x03,
        "raw": 0x10, "gorilla": 0x11, "decimal": 0x12, "pco": 0x13, "const": 0x14, "rle": 0x15,
        "scaled": 0x16, "scaled-ac": 0x17, "levels": 0x18,
        "q-const": 0x20, "q-rle": 0x21,
    }  # fmt: skip
    assert encode_chunk(np.arange(2, dtype=np.int64), np.zeros(2), np.zeros(2, np.uint16), 0x11)


def test_concatenated_chunks_iterate_and_errors_are_corrupt_data_errors() -> None:
    a = encode_chunk(np.arange(10, dtype=np.int64), np.arange(10.0), np.zeros(10, np.uint16))
    b = encode_chunk(np.arange(5, dtype=np.int64), np.ones(5), np.zeros(5, np.uint16))
    offsets = [off for off, _ in iter_chunks(a + b)]
    assert offsets == [0, len(a)]
    segment = memoryview(bytearray(a + b))  # what an mmap-backed reader hands over
    t, v, _ = decode_chunk(segment[len(a) :])
    assert t.tolist() == list(range(5)) and v.tolist() == [1.0] * 5
    with pytest.raises(ChunkTruncatedError):
        list(iter_chunks(a + b[:-1]))
    assert issubclass(ChunkCorruptError, CorruptDataError)


def test_sample_shortcuts_keep_the_chooser_result_on_the_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ranking skips decimal's sample encode where scaled's mapping makes it redundant
    (plain decimals, exact float32 mappings); on the corpus and on float32 renderings cut
    in sampled chunks the chosen chunks stay byte-identical."""
    from historian.codec import chunk as chunk_module
    from historian.codec.corpus import load_corpus

    rng = np.random.default_rng(9)
    n = 3 * 4096
    walk = 8 + np.cumsum(rng.normal(0, 0.01, n))
    renderings = [
        np.round(walk + rng.normal(0, 0.005, n), d).astype(np.float32).astype(np.float64)
        for d in (1, 3)
    ] + [(rng.integers(0, 4096, n).astype(np.float32) * np.float32(10 / 4095)).astype(float)]
    series = [(s.ts, s.values, s.quality) for s in load_corpus()]
    series += [(np.arange(n, dtype=np.int64), v, np.zeros(n, np.uint16)) for v in renderings]
    chunks = [
        (ts[i : i + 4096], v[i : i + 4096], q[i : i + 4096])
        for ts, v, q in series
        for i in range(0, min(ts.size - 4095, 3 * 4096), 4096)
    ]
    with_shortcuts = [encode_chunk(*c) for c in chunks]
    skipped = [scaled_is_exact_float32(value_sample(c[1])) for c in chunks]
    monkeypatch.setattr(chunk_module, "scaled_is_plain_decimal", lambda _: False)
    monkeypatch.setattr(chunk_module, "scaled_is_exact_float32", lambda _: False)
    assert [encode_chunk(*c) for c in chunks] == with_shortcuts
    assert len(chunks) > 30
    assert sum(skipped) >= 6  # the float32 shortcut was taken
