"""The one-call mapping searches choose what the per-candidate loops they replaced chose.

The references below are the loops ``decimal.choose_mapping`` and
``scaled._mapping_of_sample`` ran before (one ``_quantise`` + cost per
candidate, in Python), kept here as the specification: same candidates, same
order, same estimate, the first of equal costs wins. The new search may skip
candidates that provably cannot win (a lower bound past the best so far; for
``decimal``, the affine grids after an exact exponent without a common
multiple), so the test compares costs where both were computed and the
chosen mapping's cost always.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec import decimal, scaled
from historian.codec.chunk import decode_chunk, encode_chunk, encode_values
from historian.codec.mapping_search import affine_offsets, candidate_costs, decimal_gcd
from historian.codec.registry import value_codec
from historian.codec.sampling import value_sample
from tests.historian.codec.float32_strategies import float32_arrays
from tests.strategies import adversarial_floats, float_arrays

EXPONENTS: NDArray[np.float64] = (10.0 ** np.arange(decimal.MAX_EXPONENT + 1)).astype(np.float64)


def reference_decimal_cost(v: NDArray[np.float64], mode: int, a: float, b: float) -> float:
    m, _, res = decimal._quantise(v, mode, a, b)
    return float(decimal._cost_bits(m, res))


def reference_scaled_cost(v: NDArray[np.float64], mode: int, a: float, b: float) -> float:
    m, res = scaled._quantise(v, mode, a, b)
    return scaled._cost(m, res)


def reference_decimal_choice(values: NDArray[np.float64]) -> tuple[float, tuple[int, float, float]]:
    stride = max(1, values.size // decimal.SAMPLE_SIZE)
    sample = np.ascontiguousarray(values[::stride][: decimal.SAMPLE_SIZE])
    best, best_cost = (decimal.MODE_DECIMAL, 1.0, 0.0), math.inf
    for e in range(decimal.MAX_EXPONENT + 1):
        m, _, res = decimal._quantise(sample, decimal.MODE_DECIMAL, 10.0**e, 0.0)
        cost = float(decimal._cost_bits(m, res))
        if cost < best_cost:
            best, best_cost = (decimal.MODE_DECIMAL, 10.0**e, 0.0), cost
        if res.size == 0:
            break
    for cand in decimal._affine_candidates(sample):
        cost = reference_decimal_cost(sample, *cand)
        if cost < best_cost:
            best, best_cost = cand, cost
    return best_cost, best


def old_affine_offsets(lo: float, step: float, full: int, tol: float) -> list[float]:
    offsets = [0.0, lo]
    if not (step * full < 1e6 and abs(lo) < 2.0**52):
        return offsets
    for i in range(0, min(math.ceil(step * full) + 1, 200)):
        b = float(math.floor(lo) - i)
        c = (lo - b) / step
        if math.isfinite(c) and abs(c - round(c)) < tol * max(1.0, c) and b not in offsets:
            offsets.append(b)
            if len(offsets) >= 5:
                break
    return offsets


def _sample(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.ascontiguousarray(values[: decimal.SAMPLE_SIZE], dtype=np.float64)


arrays = st.one_of(float_arrays(), float32_arrays(), float_arrays(max_size=3))


@given(values=arrays)
@settings(max_examples=120, deadline=None)
def test_every_candidate_costs_what_the_loop_computed(values: NDArray[np.float64]) -> None:
    v = _sample(values)
    modes = [0] * EXPONENTS.size + [1] * 3 + [2, 3, 5]
    qs = [*EXPONENTS, 0.01, 0.05, 250 / 4095, 1000.0, 250 / 4095, 250 / 4095]
    los = [0.0] * EXPONENTS.size + [0.0, -1.0, 3.0, 0.0, 0.0, -1.0]
    for mode, a, b in zip(modes, qs, los, strict=True):
        one = (np.array([mode], np.int64), np.array([a]), np.array([b]))
        (dec,), _, _ = candidate_costs(v, *one, False, -1, math.inf)  # alone: nothing to prune on
        (sca,), _, _ = candidate_costs(v, *one, True, -1, math.inf)
        if mode in (0, 1):
            assert dec == reference_decimal_cost(v, mode, a, b)
        assert sca == reference_scaled_cost(v, mode, a, b)


@given(values=arrays, bound=st.floats(0, 1e5))
@settings(max_examples=80, deadline=None)
def test_a_pruned_candidate_could_not_have_won(values: NDArray[np.float64], bound: float) -> None:
    v = _sample(values)
    modes, scales = np.zeros(EXPONENTS.size, np.int64), np.zeros(EXPONENTS.size)
    for scaled_cost in (False, True):
        full = [
            candidate_costs(
                v, modes[j : j + 1], EXPONENTS[j : j + 1], scales[j : j + 1], scaled_cost, -1,
                math.inf,
            )[0][0]
            for j in range(EXPONENTS.size)
        ]  # fmt: skip
        pruned, _, _ = candidate_costs(v, modes, EXPONENTS, scales, scaled_cost, -1, bound)
        best = bound
        for j in range(EXPONENTS.size):
            if math.isinf(pruned[j]):
                assert full[j] > best  # given up only when strictly worse than the best so far
            else:
                assert pruned[j] == full[j]
            best = min(best, full[j])


@given(values=arrays)
@settings(max_examples=120, deadline=None)
def test_decimal_chooses_the_cheapest_mapping_of_the_loop(values: NDArray[np.float64]) -> None:
    v = np.ascontiguousarray(values, dtype=np.float64)
    ref_cost, ref = reference_decimal_choice(v)
    stride = max(1, v.size // decimal.SAMPLE_SIZE)
    sample = np.ascontiguousarray(v[::stride][: decimal.SAMPLE_SIZE])
    chosen = decimal.choose_mapping(v)
    assert reference_decimal_cost(sample, *chosen) == ref_cost
    if ref[0] == decimal.MODE_DECIMAL:
        assert chosen == ref


@given(values=arrays)
@settings(max_examples=80, deadline=None)
def test_scaled_chooses_the_cheapest_mapping_of_the_loop(values: NDArray[np.float64]) -> None:
    v = np.ascontiguousarray(values, dtype=np.float64)
    sample = value_sample(v)
    chosen = scaled.choose_mapping(v)
    f32 = scaled._float32_share(sample) > 0.5
    dec_mode = scaled.MODE_DECIMAL_F32 if f32 else scaled.MODE_DECIMAL
    best, best_cost = (dec_mode, 1.0, 0.0), math.inf
    cands: list[tuple[int, float, float]] = [(scaled.MODE_F32_BITS, 1.0, 0.0)] if f32 else []
    for e in range(scaled.MAX_EXPONENT + 1):
        m, res = scaled._quantise(sample, dec_mode, 10.0**e, 0.0)
        cost = scaled._cost(m, res)
        if cost < best_cost:
            best, best_cost = (dec_mode, 10.0**e, 0.0), cost
        if np.count_nonzero(res) <= res.size // 256:
            finite = np.abs(sample[np.isfinite(sample)])
            with np.errstate(over="ignore", invalid="ignore"):
                ulp = float(np.spacing(np.float32(finite.max()))) if finite.size else math.inf
            if not f32 or 1.0 / 10.0**e >= 64 * ulp:  # a float32 step of 64 ulps ends it too
                assert chosen == best
                return
            break
    for _, a, b in decimal._affine_candidates(sample, 1e-4 if f32 else 1e-6):
        cands.append((scaled.MODE_AFFINE_F32 if f32 else scaled.MODE_AFFINE, a, b))
        if f32:
            cands.append((scaled.MODE_AFFINE_F32_MATH, a, b))
    for cand in cands:
        cost = reference_scaled_cost(sample, *cand)
        if cost < best_cost:
            best, best_cost = cand, cost
    assert chosen == best


@given(
    lo=st.floats(-1e7, 1e7),
    step=st.floats(1e-6, 1e3),
    full=st.sampled_from([1, 255, 1023, 4095, 65535]),
    tol=st.sampled_from([1e-6, 1e-4]),
)
@settings(max_examples=200, deadline=None)
def test_affine_offsets_match_the_python_loop(
    lo: float, step: float, full: int, tol: float
) -> None:
    assert affine_offsets(lo, step, full, tol).tolist() == old_affine_offsets(lo, step, full, tol)


def test_decimal_gcd_finds_the_common_multiple() -> None:
    assert decimal_gcd(np.array([0.05, 0.15, 0.35, np.nan, 1.05]), 100.0) == 10
    assert decimal_gcd(np.array([0.05, 0.06, 0.35]), 100.0) == 1
    assert decimal_gcd(np.array([2.5, 2.5, np.inf]), 10.0) == 0  # one integer only
    assert decimal_gcd(np.array([], np.float64), 10.0) == 0


def test_an_exact_decimal_with_a_common_step_still_tries_the_affine_grid() -> None:
    v = np.round(np.cumsum(np.random.default_rng(3).integers(-3, 4, 500)) * 0.5 + 20, 1)
    mode, q, _ = decimal.choose_mapping(v)
    assert (mode, q) == (decimal.MODE_AFFINE, 0.5)  # integers 5x smaller than at 10^1


@given(values=st.lists(adversarial_floats, min_size=1, max_size=3))
@settings(max_examples=150, deadline=None)
def test_tiny_chunks_round_trip_under_the_chooser(values: list[float]) -> None:
    v = np.array(values, np.float64)
    ts = np.arange(v.size, dtype=np.int64)
    t2, v2, _ = decode_chunk(encode_chunk(ts, v, np.zeros(v.size, np.uint16)))
    assert np.array_equal(v2.view(np.uint64), v.view(np.uint64))
    assert np.array_equal(t2, ts)


def test_memoised_analysis_never_leaks_between_chunks() -> None:
    """scaled and scaled-ac share one analysis per chunk: keyed on bytes, not on the array."""
    rng = np.random.default_rng(5)
    v = np.round(rng.normal(50, 1, 750), 2)
    first = value_codec("scaled").encode(v)
    v[100] = -0.0  # same array object, other contents
    for name in ("scaled", "scaled-ac"):
        codec = value_codec(name)
        payload = codec.encode(v)
        assert payload is not None
        assert codec.decode(payload, v.size).view(np.uint64).tolist() == v.view(np.uint64).tolist()
    assert value_codec("scaled").encode(v) != first
    payload, cid = encode_values(v)
    assert value_codec(cid).decode(payload, v.size).view(np.uint64).tolist() == (
        v.view(np.uint64).tolist()
    )
