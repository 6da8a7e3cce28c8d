"""``scaled-ac``: the scaled codec's integers, delta-coded and range-coded with a context model.

Same integer underneath as :mod:`historian.codec.scaled` (decimals, ADC
counts, float32 renderings, common multiples; its detection and exact
fallback are reused, not repeated), but instead of handing ``k`` to pcodec
this codec picks a delta order per chunk (0, 1 or 2: levels, a random walk,
a ramp) by the residuals' total bit length, and codes the zigzag residuals
with :mod:`historian.codec.arith`: an adaptive binary range coder whose
context is the size of the previous residuals. pcodec bins a whole chunk
with one static distribution; the adaptive model follows quiet and noisy
stretches inside it, which is where its bytes go on real sensor noise.

Lossless like ``scaled``: bit residuals against the mapped values cover NaN,
-0.0, inf and anything the mapping misses. Layout:
historian/docs/format/chunk.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from historian.codec.arith import MAX_POINTS_PER_BYTE, bit_length, rc_decode, rc_encode
from historian.codec.bits import varint_decode, varint_encode
from historian.codec.errors import ChunkCorruptError
from historian.codec.integer_mapping import integrate_and_map
from historian.codec.residuals import residuals_decode
from historian.codec.scaled import (
    base_and_multiple,
    integers_of,
    read_mapping,
    scaled_residuals,
)

MAX_ORDER = 2


@njit(cache=True, nogil=True)
def differences(k: NDArray[np.int64], order: int) -> NDArray[np.int64]:
    """Order-``order`` differences of ``k`` (int64, mod 2^64; ``k[-1] = k[-2] = 0``)."""
    out = np.empty(k.size, np.int64)
    p1 = np.int64(0)
    p2 = np.int64(0)
    for i in range(k.size):
        x = k[i]
        if order == 0:
            out[i] = x
        elif order == 1:
            out[i] = x - p1
        else:
            out[i] = x - 2 * p1 + p2
        p2 = p1
        p1 = x
    return out


@njit(cache=True, nogil=True)
def centred_zigzag(d: NDArray[np.int64], centre: int) -> NDArray[np.uint64]:
    out = np.empty(d.size, np.uint64)
    c = np.int64(centre)
    for i in range(d.size):
        x = d[i] - c
        out[i] = np.uint64((x << 1) ^ (x >> 63))
    return out


@njit(cache=True, nogil=True)
def estimated_bits(z: NDArray[np.uint64]) -> float:
    """What the range coder is expected to spend on ``z``.

    The entropy of the residuals' bit lengths (the unary code with an adapted
    model) plus the bits below each leading one.
    """
    hist = np.zeros(65, np.int64)
    for i in range(z.size):
        hist[bit_length(z[i])] += 1
    cost = 0.0
    for nb in range(65):
        c = hist[nb]
        if c:
            cost += c * (np.log2(z.size / c) + max(nb - 1, 0))
    return cost


@njit(cache=True, nogil=True)
def _median(d: NDArray[np.int64]) -> int:
    """Median of the (steady-state) residuals: a level (order 0) or a drift (order 1).

    As ``np.median`` computes it (the middle value, or the mean of the two
    middle ones, in float64), rounded half to even: one call instead of
    numpy's median machinery, three times per encode.
    """
    body = d[MAX_ORDER : MAX_ORDER + 1024]
    n = body.size
    if n == 0:
        return 0
    k = n // 2
    part = np.partition(body, k)
    mid = float(part[k])
    if n % 2 == 0:
        mid = (float(part[:k].max()) + mid) / 2.0
    # a float64 median of values near +-2^63 can round out of int64: clamp (any centre is exact)
    return int(max(-(2.0**62), min(2.0**62, np.rint(mid))))


def choose_order(k: NDArray[np.int64]) -> tuple[int, int, NDArray[np.uint64]]:
    """(order, centre, residuals) of the delta order with the smallest estimated code."""
    best: tuple[int, int, NDArray[np.uint64]] | None = None
    best_cost = np.inf
    for order in range(MAX_ORDER + 1):  # ties go to the lower order: it decodes faster
        d = differences(k, order)
        centre = _median(d)
        z = centred_zigzag(d, centre)
        cost = estimated_bits(z)
        if cost < best_cost:
            best, best_cost = (order, centre, z), cost
    assert best is not None
    return best


def _zigzag_int(x: int) -> int:
    return ((x << 1) ^ (x >> 63)) % 2**64


def scaled_ac_encode(values: NDArray[np.float64]) -> bytes:
    params, base, g, k, diff = integers_of(values)
    order, centre, z = choose_order(k)
    code, raw = rc_encode(z)
    sizes = np.array([_zigzag_int(centre), code.size, raw.size], np.uint64)
    return (
        params
        + base_and_multiple(base, g)
        + bytes([order])
        + varint_encode(sizes).tobytes()
        + code.tobytes()
        + raw.tobytes()
        + scaled_residuals(diff)
    )


def scaled_ac_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    raw = bytes(payload)
    mode, a, b, base, g, at = read_mapping(raw)
    if at >= len(raw) or raw[at] > MAX_ORDER:
        raise ChunkCorruptError("scaled-ac value section: delta order missing or out of range")
    order = raw[at]
    buf = np.frombuffer(raw, np.uint8)
    head, at = varint_decode(buf, at + 1, 3)
    zz_centre, code_len, raw_len = (int(x) for x in head)
    centre = (zz_centre >> 1) ^ -(zz_centre & 1)
    if at < 0 or at + code_len + raw_len > len(raw):
        raise ChunkCorruptError("scaled-ac value section header is truncated")
    if n > MAX_POINTS_PER_BYTE * code_len:
        raise ChunkCorruptError(f"scaled-ac: {code_len} coded bytes cannot hold {n} points")
    z, status = rc_decode(buf[at : at + code_len], buf[at + code_len : at + code_len + raw_len], n)
    if status != 0:
        raise ChunkCorruptError("scaled-ac: the range-coded residuals are truncated or damaged")
    out = integrate_and_map(z, order, centre, mode, a, b, base, g)  # = values_of(integrate(..))
    residuals_decode(raw, at + code_len + raw_len, out)
    return out
