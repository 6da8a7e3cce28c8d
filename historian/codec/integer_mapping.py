"""The scaled codecs' integers back to floats in one numba pass (decode hot path).

``scaled.apply_mapping`` is the definition (numpy, IEEE, no fused
multiply-add); this computes the same bits point by point without the
temporaries: ``integrate`` (delta order, centre, zigzag) and the mapping in
one loop for ``scaled-ac``, the mapping alone for ``scaled``. Bit-identical by
construction (the same IEEE operations in the same order: int64 -> float64 or
float32 conversion, one division or one multiply and one add, float32
rounding; numba emits no FMA without fastmath) and by test
(tests/historian/codec/test_integer_mapping.py compares both on property-test
inputs, corpus chunks and random int64 over every mode).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

# the mode numbers of historian.codec.scaled (not imported: scaled imports this module)
_DECIMAL = 0
_AFFINE = 1
_DECIMAL_F32 = 2
_AFFINE_F32 = 3
_F32_BITS = 4
_AFFINE_F32_MATH = 5


@njit(cache=True, inline="always")
def _map_into(
    out: NDArray[np.float64],
    bits32: NDArray[np.uint32],
    i: int,
    m: np.int64,
    mode: int,
    dec: bool,
    f32: bool,
    a: float,
    b: float,
    a32: np.float32,
    b32: np.float32,
) -> None:
    """``out[i]`` = integer ``m`` mapped (f32-bits mode: its pattern into ``bits32[i]``).

    ``dec`` and ``f32`` are the mode's two flags, computed once per chunk (the
    loop then keeps no tuple test per point).
    """
    if mode == _F32_BITS:
        mag = np.uint32(np.uint64(abs(m)) & np.uint64(0xFFFFFFFF))  # numpy: astype(uint32)
        bits32[i] = mag | np.uint32(0x80000000) if m < 0 else mag
    elif mode == _AFFINE_F32_MATH:
        out[i] = np.float64(np.float32(np.float32(m) * a32) + b32)
    else:
        mf = np.float64(m)
        y = mf / a if dec else b + mf * a
        out[i] = np.float64(np.float32(y)) if f32 else y


@njit(cache=True, inline="always")
def _finish(out: NDArray[np.float64], bits32: NDArray[np.uint32], mode: int) -> None:
    if mode == _F32_BITS:
        f = bits32.view(np.float32)
        for i in range(out.size):
            out[i] = np.float64(f[i])


@njit(cache=True, nogil=True)
def integrate_and_map(
    z: NDArray[np.uint64], order: int, centre: int, mode: int, a: float, b: float, base: int, g: int
) -> NDArray[np.float64]:
    """``values_of(k, mode, a, b, base, g)`` for the ``k`` whose delta order ``order``
    and centred zigzag (``scaled_ac.differences``, ``centred_zigzag``) gave ``z``, in one pass."""
    n = z.size
    out = np.empty(n, np.float64)
    bits32 = np.empty(n if mode == _F32_BITS else 0, np.uint32)
    a32 = np.float32(a)
    b32 = np.float32(b)
    dec = mode in (_DECIMAL, _DECIMAL_F32)
    f32 = mode in (_DECIMAL_F32, _AFFINE_F32)
    c = np.int64(centre)
    gg = np.int64(g)
    bb = np.int64(base)
    p1 = np.int64(0)
    p2 = np.int64(0)
    for i in range(n):
        v = z[i]
        d = (np.int64(v >> np.uint64(1)) ^ -np.int64(v & np.uint64(1))) + c
        if order == 0:
            x = d
        elif order == 1:
            x = d + p1
        else:
            x = d + 2 * p1 - p2
        p2 = p1
        p1 = x
        _map_into(out, bits32, i, x * gg + bb, mode, dec, f32, a, b, a32, b32)
    _finish(out, bits32, mode)
    return out


@njit(cache=True, nogil=True)
def map_integers(
    k: NDArray[np.int64], mode: int, a: float, b: float, base: int, g: int
) -> NDArray[np.float64]:
    """``values_of(k, mode, a, b, base, g)``: ``m = base + g * k`` (int64, mod 2^64) mapped."""
    n = k.size
    out = np.empty(n, np.float64)
    bits32 = np.empty(n if mode == _F32_BITS else 0, np.uint32)
    a32 = np.float32(a)
    b32 = np.float32(b)
    dec = mode in (_DECIMAL, _DECIMAL_F32)
    f32 = mode in (_DECIMAL_F32, _AFFINE_F32)
    gg = np.int64(g)
    bb = np.int64(base)
    for i in range(n):
        _map_into(out, bits32, i, k[i] * gg + bb, mode, dec, f32, a, b, a32, b32)
    _finish(out, bits32, mode)
    return out
