"""The batch wire format (``TBWB`` version 1): one columnar point batch per NATS message.

Layout and rationale: ``historian/docs/format/wire.md``. Encoding and decoding
are pure functions over bytes (no sockets), as in nats.py's protocol module,
so they are tested without a server.

Decoding is zero-copy: the returned arrays are views into the message buffer
(``np.frombuffer``), valid as long as the buffer is. Every structural problem
raises a specific :class:`WireFormatError` subclass whose ``reason`` is the
short code written into the dead-letter message's headers.

>>> from historian.model import PointBatch
>>> b = PointBatch.from_arrays([1, 2], [10, 20], [0.5, 1.5], [0, 0x808C])
>>> msg = encode_batch(b, source_id="collector-a", sequence=7)
>>> d = decode_batch(msg)
>>> d.source_id, d.sequence, d.batch_id, d.batch.values.tolist()
('collector-a', 7, 'collector-a/7', [0.5, 1.5])
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

import crc32c
import numpy as np

from historian.errors import CorruptDataError
from historian.model import (
    QUALITY_DTYPE,
    SERIES_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    PointBatch,
)

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("the TBWB wire format is implemented for little-endian hosts only")

MAGIC = b"TBWB"
VERSION = 1
FLAG_SORTED = 0x01

# magic, version, flags, source_len, count, sequence, created_ns
_HEADER = struct.Struct("<4sBBHIqq")
HEADER_SIZE = _HEADER.size  # 28
_TRAILER = struct.Struct("<I")  # crc32c of every byte before it
BYTES_PER_POINT = 8 + 8 + 4 + 2
DEFAULT_MAX_POINTS = 50_000  # 1.1 MB: just above NATS' default 1 MiB max_payload
MAX_SOURCE_ID_BYTES = 255


class WireFormatError(CorruptDataError):
    """A message is not a valid TBWB batch; ``reason`` is a short machine-readable code."""

    reason = "malformed"


class TruncatedMessageError(WireFormatError):
    reason = "truncated"


class BadMagicError(WireFormatError):
    reason = "bad-magic"


class UnsupportedVersionError(WireFormatError):
    reason = "unsupported-version"


class ChecksumMismatchError(WireFormatError):
    reason = "checksum"


class OversizedMessageError(WireFormatError):
    reason = "oversized"


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    batch: PointBatch
    source_id: str
    sequence: int
    created_ns: int

    @property
    def batch_id(self) -> str:
        """The dedup identity: sequences never repeat within a source (``Nats-Msg-Id``)."""
        return batch_id(self.source_id, self.sequence)


def batch_id(source_id: str, sequence: int) -> str:
    return f"{source_id}/{sequence}"


def _padded(n: int) -> int:
    return (n + 7) & ~7


def encoded_size(points: int, source_id: str) -> int:
    src = len(source_id.encode())
    return _padded(HEADER_SIZE + src) + _padded(points * BYTES_PER_POINT) + _TRAILER.size


def encode_batch(
    batch: PointBatch,
    *,
    source_id: str,
    sequence: int,
    created_ns: int = 0,
    max_points: int = DEFAULT_MAX_POINTS,
) -> bytes:
    """Serialise a batch; columns go in 8-byte-aligned order ts, values, series, quality."""
    src = source_id.encode()
    if not src or len(src) > MAX_SOURCE_ID_BYTES:
        raise ValueError(f"source_id must be 1..{MAX_SOURCE_ID_BYTES} UTF-8 bytes, got {len(src)}")
    n = len(batch)
    if n > max_points:
        raise OversizedMessageError(
            f"batch of {n} points exceeds the {max_points}-point message limit; split it"
        )
    if sequence < 0:
        raise ValueError(f"sequence must be >= 0, got {sequence}")
    flags = FLAG_SORTED if batch.is_sorted else 0
    head_len = _padded(HEADER_SIZE + len(src))
    body_len = _padded(n * BYTES_PER_POINT)
    buf = bytearray(head_len + body_len + _TRAILER.size)
    _HEADER.pack_into(buf, 0, MAGIC, VERSION, flags, len(src), n, sequence, created_ns)
    buf[HEADER_SIZE : HEADER_SIZE + len(src)] = src
    off = head_len
    for col, dtype in (
        (batch.ts, TIME_DTYPE),
        (batch.values, VALUE_DTYPE),
        (batch.series, SERIES_DTYPE),
        (batch.quality, QUALITY_DTYPE),
    ):
        raw = np.ascontiguousarray(col, dtype=dtype.newbyteorder("<")).view(np.uint8)
        buf[off : off + raw.nbytes] = raw.data
        off += raw.nbytes
    end = head_len + body_len
    _TRAILER.pack_into(buf, end, crc32c.crc32c(memoryview(buf)[:end]))
    return bytes(buf)


def _check_canonical(
    mv: memoryview, flags: int, src_len: int, n: int, sequence: int, head_len: int, end: int
) -> None:
    """What the layout fixes but a checksum alone cannot: a sealed message from a buggy
    or hostile sender must still be the one encoding of its points (fuzzing found
    non-zero padding accepted)."""
    if flags & ~FLAG_SORTED:
        raise WireFormatError(f"unknown flag bits {flags:#04x}; this build knows only bit 0")
    if src_len == 0:
        raise WireFormatError("empty source id; a collector must name itself (1..255 bytes)")
    if sequence < 0:
        raise WireFormatError(f"sequence {sequence} is negative; sequences start at 0")
    pads = (mv[HEADER_SIZE + src_len : head_len], mv[head_len + n * BYTES_PER_POINT : end])
    if any(any(p) for p in pads):
        raise WireFormatError("non-zero padding bytes; the padding must be zero")


def decode_batch(
    message: bytes | bytearray | memoryview, *, max_points: int = DEFAULT_MAX_POINTS
) -> DecodedBatch:
    """Parse and verify a message; raise a :class:`WireFormatError` subclass if anything is off."""
    mv = memoryview(message).cast("B")
    size = len(mv)
    if size < HEADER_SIZE + _TRAILER.size:
        raise TruncatedMessageError(f"message of {size} bytes is shorter than the TBWB header")
    magic, version, flags, src_len, n, sequence, created_ns = _HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise BadMagicError(f"message starts with {bytes(magic)!r}, not a TBWB batch ({MAGIC!r})")
    if version != VERSION:
        raise UnsupportedVersionError(
            f"TBWB version {version} is not supported (this build reads version {VERSION}); "
            "upgrade the historian or downgrade the collector"
        )
    if n > max_points:
        raise OversizedMessageError(f"message declares {n} points, limit is {max_points}")
    head_len = _padded(HEADER_SIZE + src_len)
    end = head_len + _padded(n * BYTES_PER_POINT)
    if size != end + _TRAILER.size:
        kind = TruncatedMessageError if size < end + _TRAILER.size else WireFormatError
        raise kind(
            f"message is {size} bytes but its header ({n} points, source id of {src_len} bytes) "
            f"implies {end + _TRAILER.size}"
        )
    (stored_crc,) = _TRAILER.unpack_from(mv, end)
    actual = crc32c.crc32c(mv[:end])
    if stored_crc != actual:
        raise ChecksumMismatchError(
            f"checksum mismatch: stored {stored_crc:#010x}, computed {actual:#010x}"
        )
    _check_canonical(mv, flags, src_len, n, sequence, head_len, end)
    try:
        source_id = bytes(mv[HEADER_SIZE : HEADER_SIZE + src_len]).decode()
    except UnicodeDecodeError as exc:
        raise WireFormatError(f"source id is not UTF-8: {exc}") from exc
    off_values = head_len + n * 8
    off_series = off_values + n * 8
    off_quality = off_series + n * 4
    # TBWB is little-endian, like every machine we run on; np.frombuffer would need a
    # byteswap on a big-endian host, which the native dtypes below would get wrong.
    batch = PointBatch(
        np.frombuffer(mv, dtype=np.uint32, count=n, offset=off_series),
        np.frombuffer(mv, dtype=np.int64, count=n, offset=head_len),
        np.frombuffer(mv, dtype=np.float64, count=n, offset=off_values),
        np.frombuffer(mv, dtype=np.uint16, count=n, offset=off_quality),
        bool(flags & FLAG_SORTED),
    )
    return DecodedBatch(batch, source_id, int(sequence), int(created_ns))
