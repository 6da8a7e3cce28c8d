"""Decimal-aware value codec: find the integer underneath fixed-point values.

Plant values are mostly decimals with a few digits (``73.96732207``,
``12.5``) or ADC counts scaled to units. Storing ``m = round(v * 10^e)`` as an
integer and decoding ``v' = m / 10^e`` (mode ``decimal``), or
``v' = lo + m * q`` (mode ``affine``, for ``k * span / 4095`` style scaling),
turns noisy-looking doubles into small integer deltas that pcodec entropy-codes.

Lossless for every input: wherever ``v'`` differs from ``v`` bit for bit, the
difference of the two ``uint64`` bit patterns (mod 2^64) is stored as an
exception (position + zigzag varint). Near misses such as
``74.93588199999998`` cost one or two bytes; NaN, infinities, -0.0 and values
too large for an exact integer carry the previous integer and a raw residual.

Payload: ``mode:u8`` | params (decimal: ``e:u8``; affine: ``q:f64 lo:f64``) |
``n_exceptions`` varint | ``int_len`` varint | pcodec(int64 m) | residuals:
``0`` + varint position gaps + zigzag varint residuals (sparse), or ``1`` +
pcodec(int64 residual per point) (dense; smaller when near misses are common).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pcodec
from numba import njit
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.bits import varint_decode, varint_encode
from historian.codec.errors import ChunkCorruptError
from historian.codec.gorilla import clz64
from historian.codec.mapping_search import affine_offsets, candidate_costs, decimal_gcd
from historian.codec.timestamps import pco_decompress

MODE_DECIMAL = 0
MODE_AFFINE = 1
RESIDUALS_SPARSE = 0
RESIDUALS_DENSE = 1
MAX_EXPONENT = 15
SAMPLE_SIZE = 1024
EXACT_LIMIT = float(2**53)
_PCO = pcodec.ChunkConfig()


@njit(cache=True, nogil=True)
def _quantise(
    v: NDArray[np.float64], mode: int, a: float, b: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Integers, exception positions and bit residuals of ``v`` under one mapping."""
    n = v.size
    m = np.empty(n, np.int64)
    back = np.empty(n, np.float64)
    prev = np.int64(0)
    for i in range(n):
        x = v[i]
        y = x * a if mode == MODE_DECIMAL else (x - b) / a
        if math.isfinite(y) and abs(y) < EXACT_LIMIT:
            prev = np.int64(math.floor(y + 0.5))
        m[i] = prev
        back[i] = float(prev) / a if mode == MODE_DECIMAL else b + float(prev) * a
    diff = v.view(np.int64) - back.view(np.int64)
    pos = np.flatnonzero(diff)
    return m, pos.astype(np.int64), diff[pos]


@njit(cache=True, nogil=True)
def _cost_bits(m: NDArray[np.int64], res: NDArray[np.int64]) -> int:
    """Rough size estimate: bit length of each integer delta plus ~16 bits per exception."""
    total = 0
    for i in range(1, m.size):
        d = m[i] - m[i - 1]
        total += 65 - clz64(np.uint64(d if d >= 0 else -d))
    for r in res:
        total += 72 - clz64(np.uint64(r if r >= 0 else -r))
    return total


def _affine_offsets(lo: float, step: float, full: int, tol: float = 1e-6) -> list[float]:
    """Offsets worth trying: 0, the sample minimum, and round numbers on the step grid below it."""
    return [float(x) for x in affine_offsets(lo, step, full, tol)]


def _affine_candidates(
    sample: NDArray[np.float64], tol: float = 1e-6
) -> list[tuple[int, float, float]]:
    """(mode, q, lo) worth trying; ``tol`` is the relative slack (float32 renderings need more)."""
    cands: list[tuple[int, float, float]] = []
    finite = np.unique(sample[np.isfinite(sample)])
    if finite.size < 3:
        return cands
    lo, hi = float(finite[0]), float(finite[-1])
    diffs = np.diff(finite)
    step = float(np.min(diffs))
    if tol > 1e-6:  # rounded renderings: the smallest gap is off by their error, take the median
        step = float(np.median(diffs[diffs <= 1.5 * step]))
    if not (step > 0 and math.isfinite(hi - lo) and (hi - lo) / step < 2**20):
        return cands
    levels = round((hi - lo) / step)
    steps = [((hi - lo) / levels, levels)]
    for adc_bits in (8, 10, 12, 14, 16):  # span / (2^b - 1) with a round span
        full = 2**adc_bits - 1
        span = step * full
        for digits in range(0, 7):
            rs = round(span, digits)
            if rs > 0 and abs(rs / full - step) < step * tol:
                steps.append((rs / full, full))
                break
    for q, full in steps:
        cands += [(MODE_AFFINE, q, b) for b in _affine_offsets(lo, q, full, tol)]
    return cands


_EXPONENTS: NDArray[np.float64] = 10.0 ** np.arange(MAX_EXPONENT + 1, dtype=np.float64)


def choose_mapping(values: NDArray[np.float64]) -> tuple[int, float, float]:
    """The mapping with the fewest estimated bits on a strided sample.

    Decimal exponents in order until the first exact one (larger exponents
    only grow the integers), then the affine candidates; the first of equal
    costs wins. One numba call for all of them (historian.codec.mapping_search).

    An exact exponent whose integers have no common multiple ends the
    search: an affine grid that reproduces every value must have a step
    ``q`` dividing all their differences, ``10^-e * (m_i - m_0)``, so with a
    gcd of 1 it is ``10^-e / j``: integers ``j`` times larger, no delta
    shorter, and any miss an exception on top. (Measured on the corpus cut in
    chunks of 1-4,096 points: no affine candidate ever won after an exact
    exponent; skipping them is ~40 % of this codec's encode on short chunks.)
    """
    stride = max(1, values.size // SAMPLE_SIZE)
    sample = np.ascontiguousarray(values[::stride][:SAMPLE_SIZE])
    dec_costs, n_dec, exact = candidate_costs(
        sample, np.full(_EXPONENTS.size, MODE_DECIMAL), _EXPONENTS, np.zeros(_EXPONENTS.size),
        False, 0, math.inf,
    )  # fmt: skip
    cands = [(MODE_DECIMAL, float(a), 0.0) for a in _EXPONENTS[:n_dec]]
    costs = dec_costs[:n_dec]
    if exact and decimal_gcd(sample, _EXPONENTS[n_dec - 1]) <= 1:
        return cands[int(np.argmin(costs))]
    affine = _affine_candidates(sample)
    if affine:
        modes, qs, los = (np.array(col) for col in zip(*affine, strict=True))
        aff_costs, _, _ = candidate_costs(
            sample, modes.astype(np.int64), qs, los, False, -1, float(costs.min())
        )
        cands += affine
        costs = np.concatenate([costs, aff_costs])
    return cands[int(np.argmin(costs))]


def apply_mapping(m: NDArray[np.int64], mode: int, a: float, b: float) -> NDArray[np.float64]:
    """Integers back to floats: ``m / 10^e`` or ``lo + m * q`` (IEEE, no fused multiply-add)."""
    mf = m.astype(np.float64)
    out: NDArray[np.float64] = mf / a if mode == MODE_DECIMAL else b + mf * a
    return out


def decimal_encode(values: NDArray[np.float64]) -> bytes:
    v = np.ascontiguousarray(values, dtype=np.float64)
    mode, a, b = choose_mapping(v)
    m, _, _ = _quantise(v, mode, a, b)
    # Residuals against exactly what the decoder computes (numpy, not the numba kernel),
    # so a compiler that fuses multiply-add differently can never break the round trip.
    diff = v.view(np.int64) - apply_mapping(m, mode, a, b).view(np.int64)
    pos = np.flatnonzero(diff)
    res = diff[pos]
    if mode == MODE_DECIMAL:
        params = bytes([MODE_DECIMAL, round(math.log10(a))])
    else:
        params = bytes([MODE_AFFINE]) + struct.pack("<dd", a, b)
    ints = bytes(standalone.simple_compress(m, _PCO)) if m.size else b""
    gaps = np.diff(pos, prepend=0).astype(np.uint64)
    zz = ((res << 1) ^ (res >> 63)).view(np.uint64)
    head = varint_encode(np.array([pos.size, len(ints)], np.uint64)).tobytes()
    sparse = bytes([RESIDUALS_SPARSE]) + varint_encode(np.concatenate([gaps, zz])).tobytes()
    if pos.size > 16:  # many near misses: one dense residual per point, entropy-coded
        dense_res = np.zeros(v.size, np.int64)
        dense_res[pos] = res
        dense = bytes([RESIDUALS_DENSE]) + bytes(standalone.simple_compress(dense_res, _PCO))
        if len(dense) < len(sparse):
            return params + head + ints + dense
    return params + head + ints + sparse


def decimal_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    raw = bytes(payload)
    if len(raw) < 2 or raw[0] not in (MODE_DECIMAL, MODE_AFFINE):
        raise ChunkCorruptError("decimal value section: bad mode byte")
    if raw[0] == MODE_DECIMAL:
        if raw[1] > MAX_EXPONENT:
            raise ChunkCorruptError(f"decimal exponent {raw[1]} out of range")
        mode, a, b, at = MODE_DECIMAL, 10.0 ** raw[1], 0.0, 2
    else:
        if len(raw) < 17:
            raise ChunkCorruptError("affine parameters truncated")
        a, b = struct.unpack_from("<dd", raw, 1)
        mode, at = MODE_AFFINE, 17
    buf = np.frombuffer(raw, np.uint8)
    head, at = varint_decode(buf, at, 2)
    n_exc, int_len = (int(x) for x in head)
    if at < 0 or n_exc > n or at + int_len > len(raw):
        raise ChunkCorruptError("decimal value section header is truncated")
    m = (
        pco_decompress(raw[at : at + int_len], np.dtype(np.int64), n)
        if n
        else np.empty(0, np.int64)
    )
    out = apply_mapping(m, mode, a, b)
    at += int_len
    kind = raw[at] if at < len(raw) else -1
    if kind == RESIDUALS_DENSE:
        dense = pco_decompress(raw[at + 1 :], np.dtype(np.int64), n)
        if np.count_nonzero(dense) != n_exc:
            raise ChunkCorruptError("decimal dense residuals disagree with the exception count")
        out.view(np.int64)[:] += dense
        return out
    if kind != RESIDUALS_SPARSE:
        raise ChunkCorruptError("decimal value section: bad residual kind")
    tail, end = varint_decode(buf, at + 1, 2 * n_exc)
    if end != len(raw):
        raise ChunkCorruptError("decimal exception list is truncated or has trailing bytes")
    pos = np.cumsum(tail[:n_exc]).astype(np.int64)
    if n_exc and (pos[0] < 0 or pos[-1] >= n or np.any(np.diff(pos) <= 0)):
        raise ChunkCorruptError("decimal exception positions out of range")
    z = tail[n_exc:]
    res = (z >> np.uint64(1)).view(np.int64) ^ -(z & np.uint64(1)).view(np.int64)
    bits = out.view(np.int64)
    bits[pos] += res
    return out
