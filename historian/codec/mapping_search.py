"""The mapping searches of ``decimal`` and ``scaled`` as single numba calls.

Both codecs pick, on a sample, the mapping ``v -> integer`` (a decimal
exponent or an affine ``lo + m * q``, optionally rendered as float32) with the
fewest estimated bits. They used to call one numba kernel per candidate and
build the integers, the mapped-back floats and the residual arrays for each:
~35 calls per chunk whose dispatch and allocation cost more than the
arithmetic on a few hundred points, and on the short chunks the engine
flushes (~750 points) that search was half the chooser's encode time.

Here every candidate is costed in one call, without allocating per
candidate, by exactly the estimate the Python loop computed (same integer
rounding, same mapped value, same bit counts, same common-multiple credit),
so the chosen mapping, and every payload, is the same as before. Candidates
are evaluated in order and the first of equal costs wins, as in the loop.

``affine_offsets`` is the scalar loop behind ``decimal._affine_candidates``
(up to 200 trial offsets per step candidate), moved to numba for the same
reason.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros
from numpy.typing import NDArray

MODE_DECIMAL = 0
MODE_AFFINE = 1
MODE_DECIMAL_F32 = 2
MODE_AFFINE_F32 = 3
MODE_AFFINE_F32_MATH = 5
"""Mode numbers as ``scaled`` writes them (``decimal`` uses only 0 and 1)."""
EXACT_LIMIT = float(2**53)
_GCD_LIMIT = 2**62


@njit(cache=True, nogil=True, inline="always")
def _integer(x: float, mode: int, a: float, b: float) -> tuple[bool, np.int64]:
    y = x * a if mode in (MODE_DECIMAL, MODE_DECIMAL_F32) else (x - b) / a
    if math.isfinite(y) and abs(y) < EXACT_LIMIT:
        return True, np.int64(math.floor(y + 0.5))
    return False, np.int64(0)


@njit(cache=True, nogil=True, inline="always")
def _mapped(m: np.int64, mode: int, a: float, b: float) -> float:
    """What the decoder computes for integer ``m`` (``scaled.apply_mapping``, scalar)."""
    if mode == MODE_AFFINE_F32_MATH:
        return float(np.float32(m) * np.float32(a) + np.float32(b))
    y = float(m) / a if mode in (MODE_DECIMAL, MODE_DECIMAL_F32) else b + float(m) * a
    if mode in (MODE_DECIMAL_F32, MODE_AFFINE_F32):
        return float(np.float32(y))
    return y


@njit(cache=True, nogil=True)
def _bit_length(x: np.int64) -> int:
    """``64 - clz64(|x|)`` (``|INT64_MIN|`` wraps to itself, as in ``decimal._cost_bits``).

    For differences of values known to the kernel, call :func:`_magnitude_bits`
    with the wrapped unsigned difference instead: on a signed ``a - b`` that
    overflows, LLVM may assume it did not (numba's signed arithmetic is
    ``nsw``) and count a 63-bit residual as 64 bits.
    """
    u = np.uint64(x) if x >= 0 else np.uint64(-x)
    return 64 - int(leading_zeros(u))  # type: ignore[call-arg]


@njit(cache=True, nogil=True, inline="always")
def _magnitude_bits(r: np.uint64) -> int:
    """Bit length of ``|r|`` for ``r`` a two's-complement int64 held in a uint64."""
    if r >> np.uint64(63):
        r = ~r + np.uint64(1)
    return 64 - int(leading_zeros(r))  # type: ignore[call-arg]


@njit(cache=True, nogil=True)
def _one_cost(
    v: NDArray[np.float64],
    mode: int,
    a: float,
    b: float,
    scaled: bool,
    prunable_above: int,
    bound: float,
) -> tuple[float, int]:
    """(estimated bits, exceptions) of ``v`` under one mapping; (inf, -1) once it cannot win.

    ``decimal``: bit length + 1 of every integer delta + ``72 - clz`` per
    residual. ``scaled`` adds 8 bits per exception and credits ``log2(g)`` per
    delta for the common multiple ``g`` of ``m - m[0]`` (1 once any step
    reaches 2^62). Every term is >= 0 and ``g`` only shrinks, so the partial
    sum minus the credit of the current ``g`` is a lower bound of the final
    cost: past ``bound`` (strictly) the candidate cannot be the first of the
    cheapest, and it is given up, but only once it has more than
    ``prunable_above`` exceptions (the caller stops at the first candidate with
    at most that many, so it must still learn that count).
    """
    n = v.size
    bits = np.int64(0)
    n_exc = 0
    prev = np.int64(0)
    first = np.int64(0)
    last = np.int64(0)
    g = np.int64(0)
    gcd_done = False
    credit = math.inf  # log2(g) per delta; unbounded while every m equals m[0]
    vbits = v.view(np.uint64)
    back = np.empty(1, np.float64)  # a scalar's bit pattern through a one-element view
    back_bits = back.view(np.uint64)
    for i in range(n):
        ok, mi = _integer(v[i], mode, a, b)
        if ok:
            prev = mi
        back[0] = _mapped(prev, mode, a, b)
        r = vbits[i] - back_bits[0]  # wraps, as bits(v) - bits(mapped) does in int64
        if r != 0:
            n_exc += 1
            bits += 8 + _magnitude_bits(r)
        if i == 0:
            first = prev
        else:
            bits += 1 + _bit_length(prev - last)
            if scaled and not gcd_done:
                e = prev - first
                if e >= _GCD_LIMIT or e <= -_GCD_LIMIT:
                    g = np.int64(1)
                    gcd_done = True
                else:
                    e = -e if e < 0 else e
                    changed = False
                    while e:
                        g, e = e, g % e
                        changed = True
                    if g == 1:
                        gcd_done = True
                    if changed:
                        credit = (n - 1) * math.log2(g)
        last = prev
        if (i & 31) == 31 and n_exc > prunable_above:
            lb = float(bits)
            if scaled:
                lb = lb + 8.0 * n_exc - (credit if not gcd_done else 0.0)
            if lb > bound:
                return math.inf, -1
    cost = float(bits)
    if scaled:
        cost += 8.0 * n_exc
        if n >= 2:
            cost -= (n - 1) * math.log2(max(g, np.int64(1)))
    return cost, n_exc


@njit(cache=True, nogil=True)
def candidate_costs(
    v: NDArray[np.float64],
    modes: NDArray[np.int64],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    scaled: bool,
    stop_exceptions: int,
    bound: float,
) -> tuple[NDArray[np.float64], int, bool]:
    """Cost of each candidate in order; stops after the first with <= ``stop_exceptions``.

    Returns (costs, how many were evaluated, whether it stopped early). A
    negative ``stop_exceptions`` evaluates them all. A candidate that cannot
    cost <= ``bound`` or the cheapest before it costs ``inf`` (it is not
    finished: it would not have been chosen).
    """
    costs = np.full(modes.size, np.inf)
    best = bound
    for j in range(modes.size):
        cost, n_exc = _one_cost(v, modes[j], a[j], b[j], scaled, stop_exceptions, best)
        costs[j] = cost
        best = min(best, cost)
        if 0 <= n_exc <= stop_exceptions:
            return costs, j + 1, True
    return costs, modes.size, False


@njit(cache=True, nogil=True)
def decimal_gcd(v: NDArray[np.float64], scale: float) -> int:
    """gcd of ``m - m[0]`` for ``m = round(v * scale)`` over the mappable values (0 if none).

    ``decimal`` asks this when an exponent is exact: with no common multiple
    (1), no affine step can beat it (see ``decimal.choose_mapping``).
    """
    g = np.int64(0)
    first = np.int64(0)
    have_first = False
    for i in range(v.size):
        ok, m = _integer(v[i], MODE_DECIMAL, scale, 0.0)
        if not ok:
            continue
        if not have_first:
            first, have_first = m, True
            continue
        e = m - first
        if e >= _GCD_LIMIT or e <= -_GCD_LIMIT:
            return 1
        e = -e if e < 0 else e
        while e:
            g, e = e, g % e
        if g == 1:
            return 1
    return int(g)


@njit(cache=True, nogil=True)
def affine_offsets(lo: float, step: float, full: int, tol: float) -> NDArray[np.float64]:
    """Offsets worth trying: 0, the sample minimum, and round numbers on the step grid below it.

    A PLC scales ``lo_range + counts * span / full``; ``lo_range`` is a round
    number at or below the smallest reading, a whole number of steps away.
    """
    out = np.empty(5, np.float64)
    out[0] = 0.0
    out[1] = lo
    count = 2
    if not (step * full < 1e6 and abs(lo) < 2.0**52):
        return out[:count]
    base = math.floor(lo)
    for i in range(0, min(math.ceil(step * full) + 1, 200)):
        b = float(base - i)
        c = (lo - b) / step
        if math.isfinite(c) and abs(c - np.rint(c)) < tol * max(1.0, c):
            seen = False
            for k in range(count):
                if out[k] == b:
                    seen = True
            if not seen:
                out[count] = b
                count += 1
                if count >= 5:
                    break
    return out[:count]
