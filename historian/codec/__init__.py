"""Chunk codecs: one series' points (int64 ns, float64, uint16 quality) <-> bytes.

>>> import numpy as np
>>> ts = np.arange(5, dtype=np.int64) * 1_000_000_000
>>> data = encode_chunk(ts, np.array([1.5, 1.5, 1.6, 1.7, 1.5]), np.zeros(5, np.uint16))
>>> t, v, q = decode_chunk(data)
>>> v.tolist(), chunk_info(data).count
([1.5, 1.5, 1.6, 1.7, 1.5], 5)

Lossy filters (deadband, swinging door) live apart, in :mod:`historian.codec.lossy`.
"""

from __future__ import annotations

from historian.codec.chunk import (
    HEADER_SIZE,
    TRAILER_SIZE,
    ChunkInfo,
    chunk_info,
    decode_chunk,
    encode_chunk,
    iter_chunks,
)
from historian.codec.errors import (
    ChunkChecksumError,
    ChunkCorruptError,
    ChunkTruncatedError,
    CodecNotApplicableError,
    UnknownCodecError,
    UnsortedTimestampsError,
)
from historian.codec.registry import CODECS, CODECS_BY_ID, VALUE_CODEC_NAMES, Codec

__all__ = [
    "CODECS",
    "CODECS_BY_ID",
    "HEADER_SIZE",
    "TRAILER_SIZE",
    "VALUE_CODEC_NAMES",
    "ChunkChecksumError",
    "ChunkCorruptError",
    "ChunkInfo",
    "ChunkTruncatedError",
    "Codec",
    "CodecNotApplicableError",
    "UnknownCodecError",
    "UnsortedTimestampsError",
    "chunk_info",
    "decode_chunk",
    "encode_chunk",
    "iter_chunks",
]
