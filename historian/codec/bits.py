"""Bit and byte streams for the numba hot loops (the ``bstream`` of the codecs).

Bits are packed most-significant first into ``uint64`` words and serialised
big-endian, so the byte stream reads left to right in the order written.
Readers take a bit *limit* and return ``-1`` instead of reading past it: a
truncated or forged payload must never read outside its buffer (numba does
not bounds-check), the caller turns ``-1`` into ``ChunkCorruptError``.

Varints are LEB128 (7 bits per byte, low group first) over ``uint64``.
Kernels are compiled ``nogil`` so the engine can encode chunks on worker
threads in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

U64 = np.uint64
ONE = np.uint64(1)


@njit(cache=True, inline="always")
def mask_bits(nbits: int) -> np.uint64:
    if nbits >= 64:
        return np.uint64(0xFFFFFFFFFFFFFFFF)
    return (np.uint64(1) << np.uint64(nbits)) - np.uint64(1)


@njit(cache=True, inline="always")
def put_bits(words: NDArray[np.uint64], pos: int, value: np.uint64, nbits: int) -> int:
    """Append the low ``nbits`` of ``value`` at bit ``pos``; returns the new position."""
    if nbits == 0:
        return pos
    v = np.uint64(value) & mask_bits(nbits)
    idx = pos >> 6
    free = 64 - (pos & 63)
    if nbits <= free:
        words[idx] |= v << np.uint64(free - nbits)
    else:
        spill = nbits - free
        words[idx] |= v >> np.uint64(spill)
        words[idx + 1] |= v << np.uint64(64 - spill)
    return pos + nbits


@njit(cache=True, inline="always")
def get_bits(words: NDArray[np.uint64], pos: int, nbits: int) -> np.uint64:
    """Read ``nbits`` at bit ``pos``; the caller checks ``pos + nbits <= limit`` first."""
    if nbits == 0:
        return np.uint64(0)
    idx = pos >> 6
    off = pos & 63
    avail = 64 - off
    if nbits <= avail:
        return np.uint64((words[idx] >> np.uint64(avail - nbits)) & mask_bits(nbits))
    spill = nbits - avail
    hi = words[idx] & mask_bits(avail)
    lo = words[idx + 1] >> np.uint64(64 - spill)
    return np.uint64((hi << np.uint64(spill)) | lo)


def words_to_bytes(words: NDArray[np.uint64], nbits: int) -> bytes:
    nbytes = (nbits + 7) // 8
    return words.astype(">u8").tobytes()[:nbytes]


def bytes_to_words(data: bytes | memoryview) -> tuple[NDArray[np.uint64], int]:
    """Padded word array (one spare word, so a 2-word read never overruns) and bit limit."""
    raw = bytes(data)
    nwords = len(raw) // 8 + 2
    padded = raw + b"\x00" * (nwords * 8 - len(raw))
    return np.frombuffer(padded, dtype=">u8").astype(np.uint64), len(raw) * 8


@njit(cache=True, nogil=True)
def zigzag(x: NDArray[np.int64]) -> NDArray[np.uint64]:
    out = np.empty(x.size, np.uint64)
    for i in range(x.size):
        v = x[i]
        out[i] = np.uint64((v << 1) ^ (v >> 63))
    return out


@njit(cache=True, nogil=True)
def unzigzag(z: NDArray[np.uint64]) -> NDArray[np.int64]:
    out = np.empty(z.size, np.int64)
    for i in range(z.size):
        v = z[i]
        out[i] = np.int64(v >> ONE) ^ -np.int64(v & ONE)
    return out


@njit(cache=True, nogil=True)
def varint_encode(values: NDArray[np.uint64]) -> NDArray[np.uint8]:
    out = np.empty(values.size * 10, np.uint8)
    p = 0
    for i in range(values.size):
        v = values[i]
        while v >= np.uint64(0x80):
            out[p] = np.uint8((v & np.uint64(0x7F)) | np.uint64(0x80))
            v >>= np.uint64(7)
            p += 1
        out[p] = np.uint8(v)
        p += 1
    return out[:p]


@njit(cache=True, nogil=True)
def varint_decode(buf: NDArray[np.uint8], start: int, count: int) -> tuple[NDArray[np.uint64], int]:
    """Decode ``count`` varints from ``buf[start:]``; returns (values, end) or end = -1."""
    out = np.zeros(count, np.uint64)
    p = start
    n = buf.size
    for i in range(count):
        v = np.uint64(0)
        shift = 0
        while True:
            if p >= n or shift > 63:
                return out, -1
            b = np.uint64(buf[p])
            p += 1
            v |= (b & np.uint64(0x7F)) << np.uint64(shift)
            if b < np.uint64(0x80):
                break
            shift += 7
        out[i] = v
    return out, p
