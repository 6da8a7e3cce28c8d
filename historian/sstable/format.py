"""Segment file byte layout: constants, the index dtype and the footer (docs/format/segment.md).

    header   "TBSEG\\0" (6) | version u16
    chunks   encoded chunks (historian.codec), back to back, grouped by series
    index    INDEX_DTYPE[entries], sorted by (series, min_ts)
    footer   FOOTER (64 bytes), ending in the magic "TBSEGEND"

All integers little-endian. Every chunk's CRC32C is in its index entry (the
block checksum); the index has its own CRC32C in the footer, and the footer
has a CRC32C over its first 52 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from historian.errors import CorruptDataError

HEADER_MAGIC = b"TBSEG\x00"
HEADER = struct.Struct("<6sH")
FORMAT_VERSION = 1
FOOTER_MAGIC = b"TBSEGEND"
FOOTER = struct.Struct("<QQQqqIIHHI8s")
FOOTER_CRC_SPAN = 52
"""The footer CRC covers index_offset .. flags (its first 52 bytes)."""

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


def pack_footer(f: Footer) -> bytes:
    import crc32c

    head = FOOTER.pack(
        f.index_offset,
        f.index_entries,
        f.points,
        f.min_ts,
        f.max_ts,
        f.series_count,
        f.index_crc,
        f.version,
        f.flags,
        0,
        FOOTER_MAGIC,
    )
    crc = crc32c.crc32c(head[:FOOTER_CRC_SPAN])
    return head[:FOOTER_CRC_SPAN] + struct.pack("<I", crc) + FOOTER_MAGIC


def unpack_footer(data: bytes | memoryview, path: str) -> Footer:
    import crc32c

    if len(data) < HEADER.size + FOOTER.size:
        raise SegmentCorruptError(f"{path}: {len(data)} bytes is too short for a segment file")
    magic, version = HEADER.unpack_from(data, 0)
    if magic != HEADER_MAGIC:
        raise SegmentCorruptError(f"{path}: bad header magic {bytes(magic)!r}")
    start = len(data) - FOOTER.size
    fields = FOOTER.unpack_from(data, start)
    if fields[-1] != FOOTER_MAGIC:
        raise SegmentCorruptError(f"{path}: bad footer magic at offset {len(data) - 8}")
    if crc32c.crc32c(data[start : start + FOOTER_CRC_SPAN]) != fields[9]:
        raise SegmentCorruptError(f"{path}: footer checksum mismatch at offset {start}")
    footer = Footer(*fields[:9])
    if footer.version != FORMAT_VERSION or version != FORMAT_VERSION:
        raise SegmentCorruptError(
            f"{path}: segment format version {footer.version} is not readable by this build "
            f"(reads {FORMAT_VERSION})"
        )
    return footer
