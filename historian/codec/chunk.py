"""One chunk = one series' points, self-delimiting, checksummed (format: docs/format/chunk.md).

``encode_chunk`` picks the smallest timestamp, value and quality codec for
the chunk (trying every applicable one; or uses the value codec it is told
to), writes a 44-byte header with both CRC32C-protected header fields and
the section lengths, the three sections, and a CRC32C over the sections.
``decode_chunk`` verifies both checksums and every structural invariant
before returning arrays; corrupt or truncated bytes raise
``ChunkCorruptError``, never wrong data.

Timestamp rule: ``ts`` must be non-decreasing. Equal timestamps are kept
as given (their order is preserved); a descending step raises
``UnsortedTimestampsError``. The storage engine de-duplicates before
encoding, so in practice chunks are strictly ascending.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.codec.errors import (
    ChunkChecksumError,
    ChunkCorruptError,
    ChunkTruncatedError,
    CodecNotApplicableError,
    UnsortedTimestampsError,
)
from historian.codec.registry import (
    QUALITY_CODECS,
    TIMESTAMP_CODECS,
    VALUE_CODECS,
    QualityCodec,
    TimestampCodec,
    ValueCodec,
    codec_by_id,
    value_codec,
)
from historian.codec.sampling import value_sample
from historian.codec.scaled import scaled_is_exact_float32, scaled_is_plain_decimal
from historian.errors import BatchValidationError

MAGIC = b"HC"
VERSION = 1
# magic, version, ts codec, value codec, quality codec, reserved, total length,
# count, min_ts, max_ts, ts section length, value section length
_FIELDS = struct.Struct("<2sBBBBHIIqqII")
HEADER_SIZE = _FIELDS.size + 4  # + header CRC32C
TRAILER_SIZE = 4  # payload CRC32C
MAX_POINTS = 2**32 - 1


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """What the header says, read without decoding the payload."""

    version: int
    ts_codec: int
    value_codec: int
    quality_codec: int
    count: int
    min_ts: int
    max_ts: int
    nbytes: int
    """Total chunk length in bytes (header + sections + trailer)."""
    ts_bytes: int
    value_bytes: int

    @property
    def quality_bytes(self) -> int:
        return self.nbytes - HEADER_SIZE - TRAILER_SIZE - self.ts_bytes - self.value_bytes

    @property
    def codec_names(self) -> tuple[str, str, str]:
        return (
            codec_by_id(self.ts_codec, TimestampCodec).name,
            codec_by_id(self.value_codec, ValueCodec).name,
            codec_by_id(self.quality_codec, QualityCodec).name,
        )


def _check_inputs(
    ts: NDArray[np.int64], values: NDArray[np.float64], quality: NDArray[np.uint16]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]:
    t = np.ascontiguousarray(ts, dtype=np.int64)
    v = np.ascontiguousarray(values, dtype=np.float64)
    q = np.ascontiguousarray(quality, dtype=np.uint16)
    if not (t.ndim == v.ndim == q.ndim == 1) or not (t.size == v.size == q.size):
        raise BatchValidationError(
            f"chunk columns must be 1-D and equal length, got {t.shape}, {v.shape}, {q.shape}"
        )
    if t.size > MAX_POINTS:
        raise BatchValidationError(f"a chunk holds at most {MAX_POINTS} points; split the series")
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        i = int(back[0])
        raise UnsortedTimestampsError(
            f"timestamps go backwards at index {i + 1} ({t[i]} -> {t[i + 1]}); "
            "sort by time (and de-duplicate) before encoding"
        )
    return t, v, q


def _smallest(candidates: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    return min(candidates, key=lambda c: len(c[0]))


SAMPLE_MIN_POINTS = 4096
"""Chunks at least this long are ranked on a sample instead of encoded by every codec."""
FINALISTS = 2
"""How many of the best codecs on the sample are encoded in full (the smallest is kept)."""
SLOW_DECODE_MARGIN = {"scaled-ac": 0.03}
"""Codecs that decode several times slower than pcodec win only by this share of bytes.

``scaled-ac`` decodes at ~20-30 M points/s against ``scaled``'s ~100 M
(bench_codec); on i.i.d. noise, where pcodec is already near the entropy, it
saves 0.4 %, on bursty or stepwise series 5-25 %. The margin keeps the fast
decoder where the adaptive model gains little.
"""
_MARGIN_BY_ID = {value_codec(name).id: m for name, m in SLOW_DECODE_MARGIN.items()}


def _value_cost(payload: bytes, codec_id: int) -> float:
    return len(payload) * (1.0 + _MARGIN_BY_ID.get(codec_id, 0.0))


def _cheapest(candidates: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    return min(candidates, key=lambda c: _value_cost(*c))


_DECIMAL_ID = value_codec("decimal").id
_SCALED_ID = value_codec("scaled").id


def _sample_encode(codec: ValueCodec, sample: NDArray[np.float64]) -> bytes | None:
    """``codec`` on the sample, but not ``decimal`` where ``scaled`` already codes its integers.

    When ``scaled`` maps the sample as plain float64 decimals with no common
    multiple (its mapping is memoised and computed for ``scaled`` and
    ``scaled-ac`` anyway, so asking costs nothing extra), ``decimal`` would
    hand pcodec the same integers, up to an offset: its sample encode (its
    own mapping search and a pcodec call) would only repeat ``scaled``'s. The
    caller ranks it at ``scaled``'s cost; both are still encoded in full when
    they are the finalists. Measured on bench_codec's --small series at
    4,096-point chunks (in-process, 21 interleaved rounds): the same bytes,
    pcodec calls per chunk 4.9 -> 4.4, chooser 5-7 % faster (median 3.05 ->
    3.26 M points/s; a 7-round run had shown 15 %, within the noise). (Skipping
    ``pco`` where the mapping is exact was tried too: a further 1-9 %, but
    pcodec's float modes beat the integers by 2 bytes on a 16-bit ADC chunk.)
    Nor where ``scaled`` maps the sample in a float32 mode (not ranked at all:
    see ``scaled.scaled_is_exact_float32``).
    """
    if codec.id == _DECIMAL_ID and (
        scaled_is_plain_decimal(sample) or scaled_is_exact_float32(sample)
    ):
        return None
    return codec.encode(sample)


def encode_values(
    values: NDArray[np.float64], codec: str | int | None = None, *, exhaustive: bool = False
) -> tuple[bytes, int]:
    """Encoded value section and codec id: the named codec, or the smallest by the chooser.

    "Smallest" counts a slow decoder's bytes ``1 + SLOW_DECODE_MARGIN`` times.

    The chooser checks ``const`` first (nothing beats its 8 bytes). Below
    ``SAMPLE_MIN_POINTS`` (or with ``exhaustive``) it encodes every codec and
    keeps the smallest. Longer chunks are ranked by encoding a 1,024-point
    sample (four 256-point windows) with every codec; only the ``FINALISTS``
    best are encoded in full. bench_codec prints what this costs in bytes and
    saves in time against trying all.
    """
    if codec is not None:
        chosen = value_codec(codec)
        payload = chosen.encode(values)
        if payload is None:
            raise CodecNotApplicableError(f"codec {chosen.name!r} cannot represent these values")
        return payload, chosen.id
    const = value_codec("const")
    payload = const.encode(values)
    if payload is not None:
        return payload, const.id
    others = [c for c in VALUE_CODECS if c.id != const.id]
    if not exhaustive and values.size >= SAMPLE_MIN_POINTS:
        sample = value_sample(values)
        costs = {
            c.id: _value_cost(p, c.id)
            for c in others
            if (p := _sample_encode(c, sample)) is not None
        }
        if _DECIMAL_ID not in costs and _SCALED_ID in costs and scaled_is_plain_decimal(sample):
            costs[_DECIMAL_ID] = costs[_SCALED_ID]  # the same integers: rank decimal as scaled
        ranked = sorted((costs[c.id], i) for i, c in enumerate(others) if c.id in costs)
        finalists = [others[i] for _, i in ranked[:FINALISTS]]
        candidates = [(p, c.id) for c in finalists if (p := c.encode(values)) is not None]
        if candidates:
            return _cheapest(candidates)
    candidates = [(p, c.id) for c in others if (p := c.encode(values)) is not None]
    return _cheapest(candidates)


def encode_timestamps(ts: NDArray[np.int64]) -> tuple[bytes, int]:
    """Smallest of ts-dod and ts-grid (ts-delta-pco only where ts-grid declines).

    A regular chunk stops at ts-dod's one byte. On the corpus ts-grid is
    within 40 bytes of ts-delta-pco on gap-only series and ~10 % smaller on
    jittered ones, so trying both would cost a third pcodec call per chunk
    (~20 % of encode time) for nothing.
    """
    by_name = {c.name: c for c in TIMESTAMP_CODECS}
    dod = by_name["ts-dod"]
    payload = dod.encode(ts)
    assert payload is not None  # ts-dod takes any sorted input
    if len(payload) <= 1:
        return payload, dod.id
    candidates = [(payload, dod.id)]
    for name in ("ts-grid", "ts-delta-pco"):
        other = by_name[name].encode(ts)
        if other is not None:
            candidates.append((other, by_name[name].id))
            break
    return _smallest(candidates)


def encode_quality(quality: NDArray[np.uint16]) -> tuple[bytes, int]:
    candidates = []
    for c in QUALITY_CODECS:
        payload = c.encode(quality)
        if payload is not None:
            if c.name == "q-const":
                # 2 bytes; any run-length payload is >= 3 (count, code, length): nothing
                # can beat it, and most chunks are all Good. Skipping the RLE encode cut
                # a flush's per-chunk cost from ~120 to ~65 us (it holds the GIL).
                return payload, c.id
            candidates.append((payload, c.id))
    return _smallest(candidates)


def encode_chunk(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    codec: str | int | None = None,
    *,
    exhaustive: bool = False,
) -> bytes:
    """Encode one series' points; ``codec`` names the value codec (None = the chooser).

    ``exhaustive`` makes the chooser encode every value codec in full instead
    of ranking them on a sample first (slower; for measuring the sampling).
    """
    t, v, q = _check_inputs(ts, values, quality)
    ts_payload, ts_id = encode_timestamps(t)
    val_payload, val_id = encode_values(v, codec, exhaustive=exhaustive)
    q_payload, q_id = encode_quality(q)
    payload = ts_payload + val_payload + q_payload
    total = HEADER_SIZE + len(payload) + TRAILER_SIZE
    min_ts, max_ts = (int(t[0]), int(t[-1])) if t.size else (0, 0)
    fields = _FIELDS.pack(
        MAGIC, VERSION, ts_id, val_id, q_id, 0, total, t.size, min_ts, max_ts,
        len(ts_payload), len(val_payload),
    )  # fmt: skip
    header = fields + struct.pack("<I", crc32c.crc32c(fields))
    return header + payload + struct.pack("<I", crc32c.crc32c(payload))


def chunk_info(data: bytes | memoryview) -> ChunkInfo:
    """Parse and verify the header only (its own CRC32C); the payload is not read."""
    buf = memoryview(data)
    if len(buf) < HEADER_SIZE:
        raise ChunkTruncatedError(f"chunk header needs {HEADER_SIZE} bytes, got {len(buf)}")
    fields = buf[: _FIELDS.size]
    (stored_crc,) = struct.unpack_from("<I", buf, _FIELDS.size)
    if crc32c.crc32c(fields) != stored_crc:
        raise ChunkChecksumError("chunk header CRC32C mismatch: the header is damaged")
    magic, version, ts_id, val_id, q_id, _, total, count, min_ts, max_ts, ts_len, val_len = (
        _FIELDS.unpack(fields)
    )
    if magic != MAGIC or version != VERSION:
        raise ChunkCorruptError(f"not a chunk: magic {magic!r} version {version}")
    if total < HEADER_SIZE + TRAILER_SIZE + ts_len + val_len or min_ts > max_ts:
        raise ChunkCorruptError("chunk header lengths or time range are inconsistent")
    return ChunkInfo(version, ts_id, val_id, q_id, count, min_ts, max_ts, total, ts_len, val_len)


def decode_chunk(
    data: bytes | memoryview,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]:
    """Decode one chunk from the start of ``data`` (trailing bytes belong to the next chunk)."""
    info = chunk_info(data)
    buf = memoryview(data)
    if len(buf) < info.nbytes:
        raise ChunkTruncatedError(f"chunk is {info.nbytes} bytes but only {len(buf)} are present")
    payload = buf[HEADER_SIZE : info.nbytes - TRAILER_SIZE]
    (stored_crc,) = struct.unpack_from("<I", buf, info.nbytes - TRAILER_SIZE)
    if crc32c.crc32c(payload) != stored_crc:
        raise ChunkChecksumError("chunk payload CRC32C mismatch: the data is damaged")
    ts_codec = codec_by_id(info.ts_codec, TimestampCodec)
    val_codec = codec_by_id(info.value_codec, ValueCodec)
    q_codec = codec_by_id(info.quality_codec, QualityCodec)
    assert isinstance(ts_codec, TimestampCodec)
    assert isinstance(val_codec, ValueCodec)
    assert isinstance(q_codec, QualityCodec)
    n = info.count
    ts_end = info.ts_bytes
    val_end = ts_end + info.value_bytes
    try:
        if n == 0:
            ts = np.empty(0, np.int64)
            if info.ts_bytes > 1 or info.min_ts or info.max_ts:
                raise ChunkCorruptError("an empty chunk carries timestamps")
        else:
            ts = ts_codec.decode(payload[:ts_end], n, info.min_ts, info.max_ts)
        values = val_codec.decode(payload[ts_end:val_end], n)
        quality = q_codec.decode(payload[val_end:], n)
    except (ValueError, IndexError, OverflowError, TypeError, MemoryError) as exc:
        raise ChunkCorruptError(f"chunk section failed to decode: {exc}") from exc
    if not (ts.size == values.size == quality.size == n):
        raise ChunkCorruptError("a chunk section decoded to the wrong number of points")
    return ts, values, quality


def iter_chunks(data: bytes | memoryview) -> Iterator[tuple[int, ChunkInfo]]:
    """(offset, header) of every chunk in a buffer of concatenated chunks."""
    buf = memoryview(data)
    offset = 0
    while offset < len(buf):
        info = chunk_info(buf[offset:])
        if offset + info.nbytes > len(buf):
            raise ChunkTruncatedError(f"chunk at offset {offset} runs past the end of the buffer")
        yield offset, info
        offset += info.nbytes
