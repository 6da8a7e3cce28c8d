"""Exceptions of a value mapping: ``bits(v) - bits(mapped)`` per point, mostly zero.

Shared by the value codecs that map floats to integers. Layout:
``0`` (sparse) | varint count | count varint position gaps | count zigzag
varint residuals; or ``1`` (dense) | pcodec(int64 residual per point), which
wins when near misses are common. Decoding adds the residuals to the bit
patterns of the mapped values in place (int64, mod 2^64).
"""

from __future__ import annotations

import numpy as np
import pcodec
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.bits import unzigzag, varint_decode, varint_encode, zigzag
from historian.codec.errors import ChunkCorruptError
from historian.codec.timestamps import pco_decompress

SPARSE = 0
DENSE = 1
_PCO = pcodec.ChunkConfig()


def residuals_encode(diff: NDArray[np.int64]) -> bytes:
    """The smaller of the sparse and dense encodings of one residual per point."""
    pos = np.flatnonzero(diff)
    gaps = np.diff(pos, prepend=0).astype(np.uint64)
    body = np.concatenate([np.array([pos.size], np.uint64), gaps, zigzag(diff[pos])])
    sparse = bytes([SPARSE]) + varint_encode(body).tobytes()
    if pos.size > 16:
        dense = bytes([DENSE]) + bytes(standalone.simple_compress(diff, _PCO))
        if len(dense) < len(sparse):
            return dense
    return sparse


def residuals_decode(raw: bytes, at: int, out: NDArray[np.float64]) -> None:
    """Apply the residual section ``raw[at:]`` (to the end) to ``out`` in place."""
    n = out.size
    kind = raw[at] if at < len(raw) else -1
    bits = out.view(np.int64)
    if kind == DENSE:
        bits += pco_decompress(raw[at + 1 :], np.dtype(np.int64), n)
        return
    if kind != SPARSE:
        raise ChunkCorruptError("value residuals: bad kind byte")
    buf = np.frombuffer(raw, np.uint8)
    head, p = varint_decode(buf, at + 1, 1)
    count = int(head[0])
    if p < 0 or count > n:
        raise ChunkCorruptError("value residuals: bad exception count")
    tail, end = varint_decode(buf, p, 2 * count)
    if end != len(raw):
        raise ChunkCorruptError("value residuals are truncated or have trailing bytes")
    pos = np.cumsum(tail[:count]).astype(np.int64)
    if count and (pos[0] < 0 or pos[-1] >= n or np.any(np.diff(pos) <= 0)):
        raise ChunkCorruptError("value residual positions out of range")
    bits[pos] += unzigzag(np.ascontiguousarray(tail[count:]))
