"""``scaled``: the integer underneath any value stream, found per chunk, entropy-coded by pcodec.

Plant values are integers in disguise: decimals a transmitter reports
(``m / 10^e``), ADC counts scaled to units (``lo + m * q`` with
``q = span / (2^bits - 1)``), either of them rendered as float32 on the wire
and widened to float64 (``5.827000141143799`` is ``float32(5827 / 1000)``),
or raw float32 readings, whose integer is the float32 bit pattern itself.
This codec tries those mappings on a sample, keeps the cheapest, divides the
integers by their common multiple (a 0.05 step at 2 decimals stores
``m / 5``) and hands the integers, not the floats, to pcodec, which picks the
delta order (0-7) and binning per chunk.

Lossless for every input: where the mapped value differs from ``v`` bit for
bit, ``bits(v) - bits(mapped)`` (int64, mod 2^64) is stored as an exception
(see :mod:`historian.codec.residuals`); NaN, inf, -0.0 and unmappable values
carry the previous integer. Layout: historian/docs/format/chunk.md.
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np
import pcodec
from numba import njit
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec.bits import varint_decode, varint_encode
from historian.codec.decimal import _affine_candidates, _cost_bits
from historian.codec.errors import ChunkCorruptError
from historian.codec.integer_mapping import map_integers
from historian.codec.mapping_search import candidate_costs
from historian.codec.residuals import residuals_decode, residuals_encode
from historian.codec.sampling import value_sample
from historian.codec.timestamps import pco_decompress

MODE_DECIMAL = 0
MODE_AFFINE = 1
MODE_DECIMAL_F32 = 2
MODE_AFFINE_F32 = 3
MODE_F32_BITS = 4
MODE_AFFINE_F32_MATH = 5
MODES = frozenset(range(MODE_AFFINE_F32_MATH + 1))
MAX_EXPONENT = 15
EXACT_LIMIT = float(2**53)
_PCO = pcodec.ChunkConfig()


@njit(cache=True, nogil=True)
def _scale_integers(v: NDArray[np.float64], mode: int, a: float, b: float) -> NDArray[np.int64]:
    """Nearest integer of each value under a decimal/affine mapping; misfits carry the last one."""
    n = v.size
    m = np.empty(n, np.int64)
    prev = np.int64(0)
    dec = mode in (MODE_DECIMAL, MODE_DECIMAL_F32)
    for i in range(n):
        y = v[i] * a if dec else (v[i] - b) / a
        if math.isfinite(y) and abs(y) < EXACT_LIMIT:
            prev = np.int64(math.floor(y + 0.5))
        m[i] = prev
    return m


def _f32_integers(v: NDArray[np.float64]) -> NDArray[np.int64]:
    """Order-preserving integers of the float32 bit patterns (sign-magnitude -> signed)."""
    with np.errstate(over="ignore", invalid="ignore"):
        v32 = v.astype(np.float32)
    bits = v32.view(np.int32).astype(np.int64)
    m = np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    bad = ~np.isfinite(v32)
    if bad.any():  # NaN/inf carry the previous integer (their bits go to the residuals)
        m[bad] = 0
        idx = np.where(bad, 0, np.arange(v.size))
        np.maximum.accumulate(idx, out=idx)
        m = m[idx]
    return m


def _quantise(
    v: NDArray[np.float64], mode: int, a: float, b: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Integers of ``v`` under one mapping, and each point's bit residual (0 = exact)."""
    m = _f32_integers(v) if mode == MODE_F32_BITS else _scale_integers(v, mode, a, b)
    return m, v.view(np.int64) - apply_mapping(m, mode, a, b).view(np.int64)


def apply_mapping(m: NDArray[np.int64], mode: int, a: float, b: float) -> NDArray[np.float64]:
    """Integers back to floats exactly as the decoder computes them (numpy, IEEE, no FMA)."""
    if mode == MODE_F32_BITS:
        mag = np.abs(m).astype(np.uint32)
        bits = np.where(m < 0, mag | np.uint32(0x80000000), mag)
        return bits.view(np.float32).astype(np.float64)
    if mode == MODE_AFFINE_F32_MATH:  # a PLC scaling in REAL (float32) arithmetic
        y32 = m.astype(np.float32) * np.float32(a) + np.float32(b)
        return y32.astype(np.float64)
    mf = m.astype(np.float64)
    y = mf / a if mode in (MODE_DECIMAL, MODE_DECIMAL_F32) else b + mf * a
    if mode in (MODE_DECIMAL_F32, MODE_AFFINE_F32):
        return y.astype(np.float32).astype(np.float64)
    out: NDArray[np.float64] = y
    return out


def _gcd_of(m: NDArray[np.int64]) -> tuple[int, int]:
    """(base, g): every ``m`` is ``base + g * k``; g = 1 when there is no common multiple."""
    if m.size < 2:
        return (int(m[0]) if m.size else 0), 1
    return int(m[0]), _common_gcd(m)


@njit(cache=True, nogil=True)
def _common_gcd(m: NDArray[np.int64]) -> int:
    """gcd of all ``m - m[0]`` (1 when there is none, or when a step reaches 2^62).

    Stops at the first 1: the mapping search calls this for every candidate,
    and a wrong candidate's gcd collapses within a few points.
    """
    g = np.int64(0)
    limit = np.int64(2**62)
    for i in range(1, m.size):
        d = m[i] - m[0]
        if d >= limit or d <= -limit:
            return 1
        d = -d if d < 0 else d
        while d:
            g, d = d, g % d
        if g == 1:
            return 1
    return max(int(g), 1)


def _cost(m: NDArray[np.int64], res: NDArray[np.int64]) -> float:
    exc = res[res != 0]
    _, g = _gcd_of(m)
    bits: float = float(_cost_bits(m, exc)) + 8.0 * exc.size
    return bits - (m.size - 1) * math.log2(g)


def _float32_share(sample: NDArray[np.float64]) -> float:
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return 0.0
    with np.errstate(over="ignore"):
        return float(np.mean(finite.astype(np.float32).astype(np.float64) == finite))


def choose_mapping(values: NDArray[np.float64]) -> tuple[int, float, float]:
    """The cheapest mapping on the chooser's sample (four 256-point windows), by estimated bits.

    Memoised on the sample's bytes: the chooser ranks ``scaled`` and
    ``scaled-ac`` on that very sample and then encodes the finalists in full,
    and the search over mappings is most of their encode time (~1.5 ms per
    float32 chunk), so one search serves all four encodes.
    """
    return _mapping_of_sample(value_sample(values).tobytes())


_EXPONENTS: NDArray[np.float64] = 10.0 ** np.arange(MAX_EXPONENT + 1, dtype=np.float64)
RESOLVED_ULPS = 64.0
"""A float32 decimal exponent ends the search when its step spans this many float32 ulps."""


def _resolved(sample: NDArray[np.float64], scale: float) -> bool:
    """Whether the decimal step ``1 / scale`` is at least ``RESOLVED_ULPS`` float32 ulps of
    the sample's largest magnitude: then its exactness is a fact about the data.

    At ~7 digits every float32 is "exact" and an ADC grid may still be cheaper;
    at a step 64 ulps wide a value off the grid lands on it by chance with
    probability ~1/64, so a sample of 1,024 that is exact but for at most four
    is on that grid. Then the float32 bit patterns (integers >= 64 times larger)
    and the affine grids (a step that reproduces every value is the decimal step
    times its common multiple, which the encoder divides out anyway) cannot code
    fewer bits, and skipping their candidates (up to 60) is most of the search.
    """
    finite = np.abs(sample[np.isfinite(sample)])
    if finite.size == 0:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        ulp = float(np.spacing(np.float32(finite.max())))
    return 1.0 / scale >= RESOLVED_ULPS * ulp


@functools.lru_cache(maxsize=16)
def _mapping_of_sample(sample_bytes: bytes) -> tuple[int, float, float]:
    """Decimal exponents in order, then (float32 only) the bit pattern and affine candidates.

    The exponents stop at the first exact one (but for a stray point or
    two, which cost less as exceptions than a digit more on every point):
    larger exponents only grow the integers, and a step that is not a power
    of ten (0.05, 0.25) is the common multiple the encoder divides out (a
    larger exponent only looked as cheap because its common multiple grew
    with it). That ends the search for doubles; not so for float32: at ~7
    digits every float32 is "exact", ADC steps are not. The first of equal
    costs wins; the costing is one numba call (historian.codec.mapping_search).
    """
    sample = np.frombuffer(sample_bytes, np.float64).copy()  # writable: one numba signature
    f32 = _float32_share(sample) > 0.5
    dec_mode, aff_mode = (MODE_DECIMAL_F32, MODE_AFFINE_F32) if f32 else (MODE_DECIMAL, MODE_AFFINE)
    ne = _EXPONENTS.size
    dec_costs, n_dec, exact = candidate_costs(
        sample, np.full(ne, dec_mode), _EXPONENTS, np.zeros(ne), True, sample.size // 256, math.inf
    )
    cands: list[tuple[int, float, float]] = [(dec_mode, float(a), 0.0) for a in _EXPONENTS[:n_dec]]
    costs = [dec_costs[:n_dec]]
    if exact and (not f32 or _resolved(sample, float(_EXPONENTS[n_dec - 1]))):
        return cands[int(np.argmin(costs[0]))]
    if f32:
        m, res = _quantise(sample, MODE_F32_BITS, 1.0, 0.0)
        cands.append((MODE_F32_BITS, 1.0, 0.0))
        costs.append(np.array([_cost(m, res)]))
    tol = 1e-4 if f32 else 1e-6  # a float32 rendering is off by up to 2^-24 of the value
    affine: list[tuple[int, float, float]] = []
    for _, a, b in _affine_candidates(sample, tol):
        affine.append((aff_mode, a, b))
        if f32:
            affine.append((MODE_AFFINE_F32_MATH, a, b))
    if affine:
        modes, qs, los = (np.array(col) for col in zip(*affine, strict=True))
        bound = float(min(c.min() for c in costs))
        aff_costs, _, _ = candidate_costs(sample, modes.astype(np.int64), qs, los, True, -1, bound)
        cands += affine
        costs.append(aff_costs)
    return cands[int(np.argmin(np.concatenate(costs)))]


def _params(mode: int, a: float, b: float) -> bytes:
    if mode in (MODE_DECIMAL, MODE_DECIMAL_F32):
        return bytes([mode, round(math.log10(a))])
    if mode == MODE_F32_BITS:
        return bytes([mode])
    return bytes([mode]) + struct.pack("<dd", a, b)


def integers_of(
    values: NDArray[np.float64],
) -> tuple[bytes, int, int, NDArray[np.int64], NDArray[np.int64]]:
    """The mapping's parameter bytes, ``base``, ``g``, ``k = (m - base) / g`` and the bit residuals.

    Shared with :mod:`historian.codec.scaled_ac`, which entropy-codes the same
    ``k``: memoised on the values' bytes, so the chooser, which encodes both
    codecs on the same chunk, maps it once. Callers must not modify the arrays.
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    return _integers_of_bytes(v.tobytes())


@functools.lru_cache(maxsize=4)
def _integers_of_bytes(
    value_bytes: bytes,
) -> tuple[bytes, int, int, NDArray[np.int64], NDArray[np.int64]]:
    v = np.frombuffer(value_bytes, np.float64).copy()  # writable: one numba signature
    mode, a, b = choose_mapping(v)
    m, diff = _quantise(v, mode, a, b)
    base, g = _gcd_of(m)
    k = (m - base) // g if g > 1 else m - base
    return _params(mode, a, b), base, g, k, diff


def scaled_is_plain_decimal(values: NDArray[np.float64]) -> bool:
    """Whether ``values`` map as float64 decimals (mode 0) with no common multiple (g = 1)."""
    params, _, g, _, _ = integers_of(values)
    return params[0] == MODE_DECIMAL and g == 1


FLOAT32_MODES = frozenset({MODE_DECIMAL_F32, MODE_AFFINE_F32, MODE_F32_BITS, MODE_AFFINE_F32_MATH})


def scaled_is_exact_float32(values: NDArray[np.float64]) -> bool:
    """Whether ``values`` map in a float32 mode, exact but for one point in 256 at most.

    The chooser then skips ``decimal`` on its sample: its float64 mappings of
    float32 renderings need many more digits (``5.827000141143799`` is exact
    at 10^15) or an exception per point, and its search over them is spent for
    nothing (bench_codec float32_3dp: ``decimal`` alone encodes at 0.7x
    ``scaled``'s speed, and the chooser ranked it on every chunk).
    """
    params, _, _, _, diff = integers_of(values)
    return params[0] in FLOAT32_MODES and int(np.count_nonzero(diff)) <= values.size // 256


def scaled_residuals(diff: NDArray[np.int64]) -> bytes:
    """``residuals_encode(diff)``, memoised like :func:`integers_of` (both codecs append it)."""
    return _residuals_of_bytes(diff.tobytes())


@functools.lru_cache(maxsize=4)
def _residuals_of_bytes(diff_bytes: bytes) -> bytes:
    return residuals_encode(np.frombuffer(diff_bytes, np.int64))


def base_and_multiple(base: int, g: int) -> bytes:
    zz_base = (base << 1) ^ (base >> 63)
    return varint_encode(np.array([zz_base % 2**64, g], np.uint64)).tobytes()


def scaled_encode(values: NDArray[np.float64]) -> bytes:
    params, base, g, k, diff = integers_of(values)
    ints = bytes(standalone.simple_compress(k, _PCO)) if k.size else b""
    head = base_and_multiple(base, g) + varint_encode(np.array([len(ints)], np.uint64)).tobytes()
    return params + head + ints + scaled_residuals(diff)


def read_mapping(raw: bytes) -> tuple[int, float, float, int, int, int]:
    """(mode, a, b, base, g, offset after them) from the start of a scaled-family payload."""
    if not raw or raw[0] not in MODES:
        raise ChunkCorruptError("scaled value section: bad mode byte")
    mode = raw[0]
    a, b = 1.0, 0.0
    if mode in (MODE_DECIMAL, MODE_DECIMAL_F32):
        if len(raw) < 2 or raw[1] > MAX_EXPONENT:
            raise ChunkCorruptError(
                "scaled value section: decimal exponent missing or out of range"
            )
        a, at = 10.0 ** raw[1], 2
    elif mode == MODE_F32_BITS:
        at = 1
    else:
        if len(raw) < 17:
            raise ChunkCorruptError("scaled value section: affine parameters truncated")
        a, b = struct.unpack_from("<dd", raw, 1)
        at = 17
    head, at = varint_decode(np.frombuffer(raw, np.uint8), at, 2)
    if at < 0:
        raise ChunkCorruptError("scaled value section header is truncated")
    zz, g = (int(x) for x in head)
    base = (zz >> 1) ^ -(zz & 1)
    if g < 1 or not -(2**63) <= base < 2**63 or g >= 2**63:
        raise ChunkCorruptError("scaled value section header is invalid")
    return mode, a, b, base, g, at


def values_of(
    k: NDArray[np.int64], mode: int, a: float, b: float, base: int, g: int
) -> NDArray[np.float64]:
    """``m = base + g * k`` (int64, mod 2^64) mapped back to floats."""
    with np.errstate(over="ignore"):
        m = k * np.int64(g) + np.int64(base) if g > 1 else k + np.int64(base)
    return apply_mapping(m, mode, a, b)


def scaled_decode(payload: bytes | memoryview, n: int) -> NDArray[np.float64]:
    raw = bytes(payload)
    mode, a, b, base, g, at = read_mapping(raw)
    head, at = varint_decode(np.frombuffer(raw, np.uint8), at, 1)
    int_len = int(head[0])
    if at < 0 or at + int_len > len(raw):
        raise ChunkCorruptError("scaled value section header is truncated")
    k = (
        pco_decompress(raw[at : at + int_len], np.dtype(np.int64), n)
        if n
        else np.empty(0, np.int64)
    )
    out = map_integers(k, mode, a, b, base, g)  # = values_of(k, ...), one numba pass
    residuals_decode(raw, at + int_len, out)
    return out
