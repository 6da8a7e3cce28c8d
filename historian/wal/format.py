"""WAL byte layout: constants and pure encode/decode functions (see docs/format/wal.md).

A segment file is a 16-byte header followed by records::

    header  = magic "TBWAL\\0" (6) | version u16 | first_seq u64
    record  = length u32 | crc32c(payload) u32 | payload
    payload = type u8 | seq u64 | count u32 |
              series u32[count] | ts i64[count] | values f64[count] | quality u16[count]

All integers little-endian. ``length`` counts payload bytes only.

>>> import numpy as np
>>> from historian.model import PointBatch
>>> rec = encode_record(7, PointBatch.from_arrays([1, 2], [10, 20], [0.5, 1.5]))
>>> seq, batch = decode_payload(memoryview(rec)[RECORD_HEADER.size:])
>>> seq, batch.ts.tolist()
(7, [10, 20])
"""

from __future__ import annotations

import struct

import crc32c
import numpy as np

from historian.errors import CorruptDataError
from historian.model import PointBatch

MAGIC = b"TBWAL\x00"
VERSION = 1
FILE_HEADER = struct.Struct("<6sHQ")
RECORD_HEADER = struct.Struct("<II")
PAYLOAD_PREFIX = struct.Struct("<BQI")
RECORD_TYPE_BATCH = 1
BYTES_PER_POINT = 4 + 8 + 8 + 2
MAX_RECORD_BYTES = 1 << 30
"""Sanity bound on ``length``: a larger value is corruption, not a record."""


class WalCorruptError(CorruptDataError):
    """A WAL record in the middle of the log failed its checksum or structure check."""


def encode_header(first_seq: int) -> bytes:
    return FILE_HEADER.pack(MAGIC, VERSION, first_seq)


def decode_header(data: bytes | memoryview) -> int:
    """First sequence number of a segment; raises WalCorruptError on a bad header."""
    if len(data) < FILE_HEADER.size:
        raise WalCorruptError(f"WAL header is {len(data)} bytes, need {FILE_HEADER.size}")
    magic, version, first_seq = FILE_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WalCorruptError(f"bad WAL magic {bytes(magic)!r}; not a twinbench WAL segment")
    if version != VERSION:
        raise WalCorruptError(
            f"WAL version {version} is not supported (this build reads {VERSION})"
        )
    return int(first_seq)


def encode_record(seq: int, batch: PointBatch) -> bytes:
    """One framed record: columns are copied once, straight from the numpy buffers."""
    n = len(batch)
    prefix = PAYLOAD_PREFIX.pack(RECORD_TYPE_BATCH, seq, n)
    cols = (
        np.ascontiguousarray(batch.series).data.cast("B"),
        np.ascontiguousarray(batch.ts).data.cast("B"),
        np.ascontiguousarray(batch.values).data.cast("B"),
        np.ascontiguousarray(batch.quality).data.cast("B"),
    )
    crc = crc32c.crc32c(prefix)
    for c in cols:
        crc = crc32c.crc32c(c, crc)
    length = PAYLOAD_PREFIX.size + n * BYTES_PER_POINT
    return b"".join((RECORD_HEADER.pack(length, crc), prefix, *cols))


def decode_payload(payload: memoryview) -> tuple[int, PointBatch]:
    """Payload (checksum already verified) -> (seq, batch). The arrays are copies."""
    rtype, seq, n = PAYLOAD_PREFIX.unpack_from(payload)
    if rtype != RECORD_TYPE_BATCH:
        raise WalCorruptError(f"unknown WAL record type {rtype}")
    if len(payload) != PAYLOAD_PREFIX.size + n * BYTES_PER_POINT:
        raise WalCorruptError(f"WAL record length {len(payload)} does not match count {n}")
    off = PAYLOAD_PREFIX.size
    series = np.frombuffer(payload, np.uint32, n, off).copy()
    off += 4 * n
    ts = np.frombuffer(payload, np.int64, n, off).copy()
    off += 8 * n
    values = np.frombuffer(payload, np.float64, n, off).copy()
    off += 8 * n
    quality = np.frombuffer(payload, np.uint16, n, off).copy()
    return int(seq), PointBatch(series, ts, values, quality, False)


def checksum_ok(payload: memoryview, crc: int) -> bool:
    return bool(crc32c.crc32c(payload) == crc)
