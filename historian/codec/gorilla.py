"""Gorilla XOR float compression (Pelkonen et al., VLDB 2015), bit-exact, in numba.

Each value is XORed with the previous one. A zero XOR costs one bit ``0``; a
XOR whose meaningful bits fit the previous leading/trailing-zero window costs
``10`` + the bits in that window; otherwise ``11`` + 5 bits leading zeros
(capped at 31) + 6 bits meaningful-bit count (64 stored as 0) + the bits.
The first value is stored raw (64 bits). Works on the ``uint64`` bit pattern,
so NaN payloads, -0.0 and infinities survive unchanged.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from historian.codec.bits import bytes_to_words, get_bits, put_bits, words_to_bytes
from historian.codec.errors import ChunkCorruptError


@njit(cache=True, inline="always")
def clz64(x: np.uint64) -> int:
    if x == 0:
        return 64
    n = 0
    for shift in (32, 16, 8, 4, 2, 1):
        if x >> np.uint64(64 - shift) == 0:
            n += shift
            x <<= np.uint64(shift)
    return n


@njit(cache=True, inline="always")
def ctz64(x: np.uint64) -> int:
    if x == 0:
        return 64
    n = 0
    for shift in (32, 16, 8, 4, 2, 1):
        if x & ((np.uint64(1) << np.uint64(shift)) - np.uint64(1)) == 0:
            n += shift
            x >>= np.uint64(shift)
    return n


@njit(cache=True, nogil=True)
def _encode(bits: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], int]:
    n = bits.size
    words = np.zeros((n * 77) // 64 + 4, np.uint64)
    if n == 0:
        return words, 0
    pos = put_bits(words, 0, bits[0], 64)
    prev = bits[0]
    lead = -1
    trail = 0
    for i in range(1, n):
        x = bits[i] ^ prev
        prev = bits[i]
        if x == 0:
            pos += 1  # a zero bit: words are zero-initialised
            continue
        lz = clz64(x)
        if lz > 31:
            lz = 31
        tz = ctz64(x)
        if lead >= 0 and lz >= lead and tz >= trail:
            pos = put_bits(words, pos, np.uint64(2), 2)
            pos = put_bits(words, pos, x >> np.uint64(trail), 64 - lead - trail)
        else:
            sig = 64 - lz - tz
            pos = put_bits(words, pos, np.uint64(3), 2)
            pos = put_bits(words, pos, np.uint64(lz), 5)
            pos = put_bits(words, pos, np.uint64(sig & 63), 6)
            pos = put_bits(words, pos, x >> np.uint64(tz), sig)
            lead = lz
            trail = tz
    return words, pos


@njit(cache=True, nogil=True)
def _decode(words: NDArray[np.uint64], limit: int, n: int) -> tuple[NDArray[np.uint64], int]:
    out = np.empty(n, np.uint64)
    if n == 0:
        return out, 0
    if limit < 64:
        return out, -1
    prev = get_bits(words, 0, 64)
    out[0] = prev
    pos = 64
    lead = -1
    trail = 0
    for i in range(1, n):
        if pos + 1 > limit:
            return out, -1
        if get_bits(words, pos, 1) == 0:
            pos += 1
            out[i] = prev
            continue
        if pos + 2 > limit:
            return out, -1
        ctrl = get_bits(words, pos + 1, 1)
        pos += 2
        if ctrl == 1:
            if pos + 11 > limit:
                return out, -1
            lead = int(np.int64(get_bits(words, pos, 5)))
            sig = int(np.int64(get_bits(words, pos + 5, 6)))
            pos += 11
            if sig == 0:
                sig = 64
            if lead + sig > 64:
                return out, -1
            trail = 64 - lead - sig
        elif lead < 0:
            return out, -1
        sig = 64 - lead - trail
        if pos + sig > limit:
            return out, -1
        x = get_bits(words, pos, sig) << np.uint64(trail)
        pos += sig
        prev ^= x
        out[i] = prev
    return out, pos


def gorilla_encode(values: NDArray[np.float64]) -> bytes:
    words, nbits = _encode(np.ascontiguousarray(values, dtype=np.float64).view(np.uint64))
    return words_to_bytes(words, nbits)


def gorilla_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    words, limit = bytes_to_words(payload)
    bits, end = _decode(words, limit, n)
    if end < 0 or (limit - end) >= 8:
        raise ChunkCorruptError(
            f"gorilla value stream ends early or has trailing bytes ({n} values)"
        )
    return bits.view(np.float64)
