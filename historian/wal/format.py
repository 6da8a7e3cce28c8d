"""WAL byte layout: constants and pure encode/decode functions (see docs/format/wal.md).

A segment file is a 16-byte header followed by records::

    header  = magic "TBWAL\\0" (6) | version u16 | first_seq u64
    record  = length u32 | crc32c(payload) u32 | payload
    payload = type u8 | seq u64 | count u32 |
              series u32[count] | ts i64[count] | values f64[count] | quality u16[count]

All integers little-endian. ``length`` counts payload bytes only.

Encrypted segments (a key configured, :mod:`historian.crypto`) have a 48-byte
version-2 header ``magic | version 2 | first_seq u64 | cipher u8 | 0 u8 | 0 u16 |
0 u32 | key_id 8 | file_id 16`` and seal every record's body with AES-256-GCM::

    payload = type u8 | seq u64 | count u32 | nonce 12 | ciphertext(columns) | tag 16
    aad     = "TBWAL-rec" | file_id | first_seq u64 | type u8 | seq u64 | count u32

The CRC32C still covers the whole payload, so torn tails read as before.

>>> import numpy as np
>>> from historian.model import PointBatch
>>> rec = encode_record(7, PointBatch.from_arrays([1, 2], [10, 20], [0.5, 1.5]))
>>> seq, batch = decode_payload(memoryview(rec)[RECORD_HEADER.size:])
>>> seq, batch.ts.tolist()
(7, [10, 20])
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.crypto.cipher import BLOCK_OVERHEAD, CIPHER_AES_256_GCM, BlockCipher
from historian.errors import CorruptDataError
from historian.model import PointBatch

MAGIC = b"TBWAL\x00"
VERSION = 1
FILE_HEADER = struct.Struct("<6sHQ")
VERSION_ENCRYPTED = 2
ENCRYPTED_HEADER = struct.Struct("<6sHQBBHI8s16s")
"""Version 2 (encrypted): FILE_HEADER's fields, cipher id, 7 reserved bytes, key id, file id."""
FILE_ID_BYTES = 16
RECORD_HEADER = struct.Struct("<II")
PAYLOAD_PREFIX = struct.Struct("<BQI")
RECORD_TYPE_BATCH = 1
RECORD_TYPE_SEAL = 2
"""Written by a clean close: ``seq`` = the last batch's, no points. Everything before it
in the segment was fsynced, so damage there can never be taken for a torn tail."""
BYTES_PER_POINT = 4 + 8 + 8 + 2
MAX_RECORD_BYTES = 1 << 30
"""Sanity bound on ``length``: a larger value is corruption, not a record."""


@dataclass(frozen=True)
class WalDamage:
    """One unreadable region of the WAL: where it is and which records it takes."""

    path: str
    offset: int
    length: int
    """Bytes skipped (0 for a gap between segments or a missing record)."""
    first_seq: int
    last_seq: int | None
    """Last sequence number lost (None: unknown, up to the end of the log)."""
    reason: str
    resume_offset: int
    """Offset of the next valid record in ``path`` (0: none / not applicable)."""

    @property
    def seq_range(self) -> str:
        last = "end of log" if self.last_seq is None else str(self.last_seq)
        return f"seq {self.first_seq}..{last}"

    def describe(self) -> str:
        where = f"{self.path} at offset {self.offset}"
        span = f", {self.length} bytes" if self.length else ""
        after = (
            f"; a valid record follows at offset {self.resume_offset}" if self.resume_offset else ""
        )
        return f"WAL corrupt: {where}{span}: {self.reason} ({self.seq_range} unreadable{after})"


class WalCorruptError(CorruptDataError):
    """A WAL record in the middle of the log failed its checksum or structure check."""

    def __init__(self, message: str, damage: WalDamage | None = None) -> None:
        super().__init__(message)
        self.damage = damage


@dataclass(frozen=True)
class WalHeader:
    first_seq: int
    size: int
    key_id: bytes | None = None
    """Key id of an encrypted segment (None: not encrypted)."""
    file_id: bytes = b""


@dataclass(frozen=True)
class RecordCrypto:
    """Seals the records of one encrypted segment: the AAD binds file id, first seq, prefix."""

    cipher: BlockCipher
    file_id: bytes
    first_seq: int

    def aad(self, prefix: bytes | memoryview) -> bytes:
        return b"".join(
            (b"TBWAL-rec", self.file_id, self.first_seq.to_bytes(8, "little"), bytes(prefix))
        )

    def open(self, payload: memoryview) -> memoryview:
        """Verify and decrypt an encrypted payload: the plain payload (prefix + columns).

        Raises :class:`~historian.crypto.BlockAuthenticationError` when the tag fails.
        """
        prefix = payload[: PAYLOAD_PREFIX.size]
        body = self.cipher.decrypt(payload[PAYLOAD_PREFIX.size :], self.aad(prefix))
        return memoryview(bytes(prefix) + body)


def encode_header(first_seq: int) -> bytes:
    return FILE_HEADER.pack(MAGIC, VERSION, first_seq)


def encode_encrypted_header(first_seq: int, key_id: bytes, file_id: bytes) -> bytes:
    return ENCRYPTED_HEADER.pack(
        MAGIC, VERSION_ENCRYPTED, first_seq, CIPHER_AES_256_GCM, 0, 0, 0, key_id, file_id
    )


def header_size(data: bytes | memoryview) -> int:
    """Bytes the header of this segment takes (by its version field when present)."""
    if len(data) >= 8 and int.from_bytes(data[6:8], "little") == VERSION_ENCRYPTED:
        return ENCRYPTED_HEADER.size
    return FILE_HEADER.size


def decode_header_info(data: bytes | memoryview) -> WalHeader:
    """Either header version; raises WalCorruptError on a bad one."""
    if header_size(data) == FILE_HEADER.size:
        return WalHeader(decode_header(data), FILE_HEADER.size)
    if len(data) < ENCRYPTED_HEADER.size:
        raise WalCorruptError(
            f"encrypted WAL header is {len(data)} bytes, need {ENCRYPTED_HEADER.size}"
        )
    magic, _, first_seq, cipher, *_, key_id, file_id = ENCRYPTED_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WalCorruptError(f"bad WAL magic {bytes(magic)!r}; not a twinbench WAL segment")
    if cipher != CIPHER_AES_256_GCM:
        raise WalCorruptError(f"unknown WAL cipher id {cipher} (this build knows 1, AES-256-GCM)")
    return WalHeader(int(first_seq), ENCRYPTED_HEADER.size, bytes(key_id), bytes(file_id))


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


def encode_record(seq: int, batch: PointBatch, crypto: RecordCrypto | None = None) -> bytes:
    """One framed record: columns are copied once, straight from the numpy buffers."""
    n = len(batch)
    prefix = PAYLOAD_PREFIX.pack(RECORD_TYPE_BATCH, seq, n)
    cols = (
        np.ascontiguousarray(batch.series).data.cast("B"),
        np.ascontiguousarray(batch.ts).data.cast("B"),
        np.ascontiguousarray(batch.values).data.cast("B"),
        np.ascontiguousarray(batch.quality).data.cast("B"),
    )
    if crypto is not None:
        return _frame(prefix + crypto.cipher.encrypt(b"".join(cols), crypto.aad(prefix)))
    crc = crc32c.crc32c(prefix)
    for c in cols:
        crc = crc32c.crc32c(c, crc)
    length = PAYLOAD_PREFIX.size + n * BYTES_PER_POINT
    return b"".join((RECORD_HEADER.pack(length, crc), prefix, *cols))


def encode_seal(last_seq: int, crypto: RecordCrypto | None = None) -> bytes:
    """The clean-close marker record (type 2, count 0)."""
    prefix = PAYLOAD_PREFIX.pack(RECORD_TYPE_SEAL, last_seq, 0)
    if crypto is not None:
        return _frame(prefix + crypto.cipher.encrypt(b"", crypto.aad(prefix)))
    return RECORD_HEADER.pack(len(prefix), crc32c.crc32c(prefix)) + prefix


def _frame(payload: bytes) -> bytes:
    return RECORD_HEADER.pack(len(payload), crc32c.crc32c(payload)) + payload


def record_type(data: memoryview, pos: int) -> int:
    return int(data[pos + RECORD_HEADER.size])


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


def record_size(data: memoryview, pos: int) -> int:
    """Bytes of the framed record at ``pos`` (header included)."""
    return RECORD_HEADER.size + int.from_bytes(data[pos : pos + 4], "little")


def record_seq(data: memoryview, pos: int) -> int:
    """Sequence number of the framed record at ``pos`` (offset 9 of the frame)."""
    return int.from_bytes(data[pos + 9 : pos + 17], "little")


def check_record(data: memoryview, pos: int, overhead: int = 0) -> str:
    """'' when the framed record at ``pos`` is intact (length, checksum, layout), else why not.

    ``overhead``: bytes each payload has beyond the plain layout (BLOCK_OVERHEAD when
    encrypted). The GCM tag is checked by the reader, apart: a record with an intact
    checksum and a failing tag is tampering, never a torn write.
    """
    if len(data) - pos < RECORD_HEADER.size:
        return f"torn record header ({len(data) - pos} bytes)"
    length, crc = RECORD_HEADER.unpack_from(data, pos)
    if length < PAYLOAD_PREFIX.size or length > MAX_RECORD_BYTES:
        return f"implausible record length {length}"
    end = pos + RECORD_HEADER.size + length
    if end > len(data):
        return f"torn record: needs {length} payload bytes, {len(data) - pos - 8} present"
    payload = data[pos + RECORD_HEADER.size : end]
    if not checksum_ok(payload, crc):
        return "record checksum mismatch"
    rtype, _, n = PAYLOAD_PREFIX.unpack_from(payload)
    if not _layout_ok(rtype, n, length - overhead):
        return f"record type {rtype} / count {n} do not match its length {length}"
    return ""


def _layout_ok(rtype: int, n: int, length: int) -> bool:
    if rtype == RECORD_TYPE_SEAL:
        return n == 0 and length == PAYLOAD_PREFIX.size
    return rtype == RECORD_TYPE_BATCH and length == PAYLOAD_PREFIX.size + n * BYTES_PER_POINT


def record_overhead(header: WalHeader) -> int:
    """Payload bytes beyond the plain layout in this segment (the GCM nonce and tag)."""
    return 0 if header.key_id is None else BLOCK_OVERHEAD


_SCAN_WINDOW = 1 << 20


def find_next_frame(data: memoryview, start: int, overhead: int = 0) -> int | None:
    """Offset of the first intact record at or after ``start``, or None.

    Tells a torn tail (nothing valid after the damage) from mid-log
    corruption. Every byte offset is a candidate; numpy filters them on the
    frame's own redundancy (type byte 1 or 2, ``length == 13 + 22 * count``, fits
    in the file) in 1 MiB windows, and only the survivors (about one in 2**40
    offsets of random bytes) get a CRC check: 64 MiB of random bytes scan in
    ~1 s (worst case, all bytes 0x01: ~5 s); a real scan stops at the next record.
    """
    buf = np.frombuffer(data, np.uint8)
    header = RECORD_HEADER.size + PAYLOAD_PREFIX.size
    last_start = len(buf) - header
    for lo in range(start, last_start + 1, _SCAN_WINDOW):
        hi = min(lo + _SCAN_WINDOW, last_start + 1)
        offs = np.arange(lo, hi, dtype=np.int64)
        rtype = buf[offs + 8]
        cand = offs[(rtype == RECORD_TYPE_BATCH) | (rtype == RECORD_TYPE_SEAL)]
        if len(cand) == 0:
            continue
        length = _u32(buf, cand)
        count = _u32(buf, cand + 17)
        ok = (length == PAYLOAD_PREFIX.size + overhead + count * BYTES_PER_POINT) & (
            cand + RECORD_HEADER.size + length <= len(buf)
        )
        for pos in cand[ok].tolist():
            if not check_record(data, int(pos), overhead):
                return int(pos)
    return None


def _u32(buf: NDArray[np.uint8], offs: NDArray[np.int64]) -> NDArray[np.int64]:
    """Little-endian u32 at each (unaligned) offset, as int64 so sums cannot overflow."""
    b = [buf[offs + k].astype(np.int64) for k in range(4)]
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
