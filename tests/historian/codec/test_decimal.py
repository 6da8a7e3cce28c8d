"""The decimal codec finds the integer underneath and stays exact when it cannot."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from historian.codec.decimal import (
    MODE_AFFINE,
    MODE_DECIMAL,
    choose_mapping,
    decimal_decode,
    decimal_encode,
)
from tests.strategies import float_arrays


def _roundtrip(v: np.ndarray) -> bytes:
    payload = decimal_encode(v)
    np.testing.assert_array_equal(
        decimal_decode(payload, v.size).view(np.uint64), v.view(np.uint64)
    )
    return payload


def test_two_decimal_values_map_to_exponent_two() -> None:
    v = np.round(np.random.default_rng(1).normal(50, 5, 5000), 2)
    assert choose_mapping(v) == (MODE_DECIMAL, 100.0, 0.0)
    assert len(_roundtrip(v)) < 5000 * 2  # ~10 bits/pt of integer deltas, not 64


def test_float_residue_costs_a_residual_not_a_raw_double() -> None:
    v = np.round(np.random.default_rng(2).normal(75, 3, 4000), 8)
    v[::20] = v[::20] * (1 + 2e-16)  # ``74.93588199999998``-style neighbours
    mode, a, _ = choose_mapping(v)
    assert (mode, a) == (MODE_DECIMAL, 1e8)
    assert len(_roundtrip(v)) < len(decimal_encode(np.round(v, 8))) + 4000 // 20 * 3


def test_scaled_adc_counts_use_the_affine_mapping() -> None:
    counts = np.random.default_rng(3).integers(0, 65536, 5000)
    v = (-1.0 + counts * (17.0 / 65535)).astype(np.float64)
    mode, q, lo = choose_mapping(v)
    assert mode == MODE_AFFINE and q == 17.0 / 65535 and lo == -1.0
    assert len(_roundtrip(v)) < 5000 * 2.2  # 16-bit counts, no exceptions


def test_non_finite_and_huge_values_are_exceptions() -> None:
    v = np.array([1.5, np.nan, 2.5, np.inf, -0.0, 1e300, 2.0**53 + 2, 3.5])
    _roundtrip(v)


def test_dense_residuals_when_most_points_miss() -> None:
    rng = np.random.default_rng(4)
    v = np.round(rng.normal(10, 1, 3000), 3)
    v[rng.random(3000) < 0.5] *= 1 + 2.2e-16
    payload = _roundtrip(v)
    assert len(payload) < 3000 * 3


@given(values=float_arrays())
@settings(max_examples=80, deadline=None)
def test_any_floats_round_trip(values: np.ndarray) -> None:
    _roundtrip(values)
