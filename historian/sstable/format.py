"""Segment file byte layout: constants, the index dtype and the footer (docs/format/segment.md).

    header   "TBSEG\\0" (6) | version u16
    chunks   encoded chunks (historian.codec), back to back, grouped by series
    index    INDEX_DTYPE[entries], sorted by (series, min_ts)
    stats    STATS_RECORD_DTYPE[stats_entries] (version 2 only; historian.sstable.stats)
    footer   FOOTER_V2 (80 bytes; version 1: FOOTER, 64 bytes), ending in "TBSEGEND"

All integers little-endian. Every chunk's CRC32C is in its index entry (the
block checksum); the index and the stats block have their own CRC32C in the
footer, and the footer has a CRC32C over all of it but the CRC and the magic.
Version 1 files (no stats block) stay readable; this build writes version 2.

Version 3 is version 2 encrypted (a key configured, :mod:`historian.crypto`): a
32-byte crypto header (cipher u8 | 7 reserved | key_id 8 | file_id 16) follows the
8-byte header; every chunk, the index and the stats block are each sealed with
AES-256-GCM (``nonce 12 | ciphertext | tag 16``); the footer stays in the clear and
is authenticated as the associated data of the index block (``footer_aad``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from historian.errors import CorruptDataError

HEADER_MAGIC = b"TBSEG\x00"
HEADER = struct.Struct("<6sH")
FORMAT_VERSION = 2
FORMAT_VERSION_ENCRYPTED = 3
READABLE_VERSIONS = (1, 2, 3)
CRYPTO_HEADER = struct.Struct("<BBHI8s16s")
"""Version 3, right after HEADER: cipher id, 7 reserved bytes, key id, file id."""
FILE_ID_BYTES = 16
FLAG_ENCRYPTED = 1
"""Footer ``flags`` bit of a version-3 file."""
CHUNK_AAD = struct.Struct("<QQIIqq")
"""Chunk associated data after the tag and file id: entry number, offset, series, count,
min_ts, max_ts (the chunk's own index entry, so no block can stand in for another)."""
FOOTER_AAD = struct.Struct("<QQQqqIHHQQ")
"""Index/stats associated data after the tag and file id: every footer field but the CRCs."""
FOOTER_MAGIC = b"TBSEGEND"
FOOTER = struct.Struct("<QQQqqIIHHI8s")
FOOTER_CRC_SPAN = 52
"""Version 1: the footer CRC covers index_offset .. flags (its first 52 bytes)."""
FOOTER_V2 = struct.Struct("<QQQqqIIHHQIII8s")
FOOTER_V2_CRC_SPAN = 68
"""Version 2: index_offset .. stats_crc (the first 68 bytes)."""

INDEX_DTYPE = np.dtype(
    [
        ("series", "<u4"),
        ("count", "<u4"),
        ("offset", "<u8"),
        ("length", "<u4"),
        ("crc", "<u4"),
        ("min_ts", "<i8"),
        ("max_ts", "<i8"),
    ]
)


class SegmentCorruptError(CorruptDataError):
    """A segment file failed a checksum or structural check; the message names file and offset."""


@dataclass(frozen=True)
class Footer:
    index_offset: int
    index_entries: int
    points: int
    min_ts: int
    max_ts: int
    series_count: int
    index_crc: int
    version: int = FORMAT_VERSION
    flags: int = 0
    stats_offset: int = 0
    stats_entries: int = 0
    stats_crc: int = 0

    @property
    def size(self) -> int:
        """Bytes this footer takes at the end of the file."""
        return FOOTER.size if self.version == 1 else FOOTER_V2.size

    @property
    def encrypted(self) -> bool:
        return self.version == FORMAT_VERSION_ENCRYPTED


def footer_aad(kind: bytes, file_id: bytes, f: Footer) -> bytes:
    """Associated data of the index (``kind`` b"idx") or stats (b"sta") block of a v3 file."""
    fields = FOOTER_AAD.pack(
        f.index_offset,
        f.index_entries,
        f.points,
        f.min_ts,
        f.max_ts,
        f.series_count,
        f.version,
        f.flags,
        f.stats_offset,
        f.stats_entries,
    )
    return b"TBSEG-" + kind + file_id + fields


def chunk_aad(
    file_id: bytes, entry: int, offset: int, series: int, count: int, t0: int, t1: int
) -> bytes:
    return b"TBSEG-chk" + file_id + CHUNK_AAD.pack(entry, offset, series, count, t0, t1)


def pack_footer(f: Footer) -> bytes:
    """The version-2 footer (also that of version 3, the encrypted variant)."""
    import crc32c

    head = FOOTER_V2.pack(
        f.index_offset,
        f.index_entries,
        f.points,
        f.min_ts,
        f.max_ts,
        f.series_count,
        f.index_crc,
        f.version,
        f.flags,
        f.stats_offset,
        f.stats_entries,
        f.stats_crc,
        0,
        FOOTER_MAGIC,
    )
    crc = crc32c.crc32c(head[:FOOTER_V2_CRC_SPAN])
    return head[:FOOTER_V2_CRC_SPAN] + struct.pack("<I", crc) + FOOTER_MAGIC


def unpack_footer(data: bytes | memoryview, path: str) -> Footer:
    """Check header and footer (either version); raise SegmentCorruptError naming the offset."""
    import crc32c

    if len(data) < HEADER.size + FOOTER.size:
        raise SegmentCorruptError(f"{path}: {len(data)} bytes is too short for a segment file")
    magic, version = HEADER.unpack_from(data, 0)
    if magic != HEADER_MAGIC:
        raise SegmentCorruptError(f"{path}: bad header magic {bytes(magic)!r}")
    if version not in READABLE_VERSIONS:
        raise SegmentCorruptError(
            f"{path}: segment format version {version} is not readable by this build "
            f"(reads {', '.join(map(str, READABLE_VERSIONS))})"
        )
    layout, span = (FOOTER, FOOTER_CRC_SPAN) if version == 1 else (FOOTER_V2, FOOTER_V2_CRC_SPAN)
    if len(data) < HEADER.size + layout.size:
        raise SegmentCorruptError(f"{path}: {len(data)} bytes is too short for a segment file")
    start = len(data) - layout.size
    fields = layout.unpack_from(data, start)
    if fields[-1] != FOOTER_MAGIC:
        raise SegmentCorruptError(f"{path}: bad footer magic at offset {len(data) - 8}")
    if crc32c.crc32c(data[start : start + span]) != fields[-2]:
        raise SegmentCorruptError(f"{path}: footer checksum mismatch at offset {start}")
    footer = Footer(*fields[:9]) if version == 1 else Footer(*fields[:12])
    if footer.version != version:
        raise SegmentCorruptError(
            f"{path}: footer says version {footer.version}, header says {version}"
        )
    return footer
