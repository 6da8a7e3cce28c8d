"""The scaled codec finds the integer under float32 renderings, ADC counts and common steps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec.decimal import decimal_encode
from historian.codec.errors import ChunkCorruptError
from historian.codec.scaled import (
    MODE_AFFINE_F32_MATH,
    MODE_DECIMAL,
    MODE_DECIMAL_F32,
    MODE_F32_BITS,
    choose_mapping,
    scaled_decode,
    scaled_encode,
)
from tests.historian.codec.float32_strategies import f32, float32_arrays
from tests.strategies import float_arrays


def _roundtrip(v: NDArray[np.float64]) -> bytes:
    payload = scaled_encode(v)
    np.testing.assert_array_equal(scaled_decode(payload, v.size).view(np.uint64), v.view(np.uint64))
    return payload


def test_float32_rendering_of_3_decimals_costs_the_integers() -> None:
    rng = np.random.default_rng(1)
    v = f32(np.round(5 + np.cumsum(rng.normal(0, 0.05, 8000)), 3))  # 5.827000141143799 style
    mode, a, _ = choose_mapping(v)
    assert (mode, a) == (MODE_DECIMAL_F32, 1000.0)
    payload = _roundtrip(v)
    ints = np.round(v * 1000).astype(np.int64)
    assert len(payload) < 8000 * 1.8  # ~ the 3-decimal integers (12 bits/pt of deltas)
    assert len(payload) < len(decimal_encode(v)) * 0.8
    assert np.mean(ints / 1000 != v) > 0.9  # float64 decimals map almost none exactly


def test_adc_counts_scaled_in_float32_arithmetic() -> None:
    rng = np.random.default_rng(2)
    k = rng.integers(0, 4096, 6000).astype(np.float32)
    v = (np.float32(2.0) + k * np.float32(10 / 4095)).astype(np.float64)
    mode, q, lo = choose_mapping(v)
    assert mode == MODE_AFFINE_F32_MATH and lo == 2.0 and np.float32(q) == np.float32(10 / 4095)
    assert len(_roundtrip(v)) < 6000 * 1.6  # 12 bits of uniform counts


def test_common_step_divides_the_integers() -> None:
    rng = np.random.default_rng(3)
    v = np.round(np.round(50 + rng.normal(0, 1, 6000) / 0.05) * 0.05, 2)  # a 0.05 step
    assert choose_mapping(v) == (MODE_DECIMAL, 100.0, 0.0)
    by5 = len(_roundtrip(v))
    as_ints = len(_roundtrip(np.round(v * 20) / 100))  # same entropy without the multiple
    assert by5 <= as_ints + 16


def test_raw_float32_readings_use_their_bit_patterns() -> None:
    v = f32(np.random.default_rng(4).normal(42, 0.3, 5000))
    assert choose_mapping(v)[0] in (MODE_F32_BITS, MODE_AFFINE_F32_MATH, 3)
    assert len(_roundtrip(v)) < 5000 * 2.6  # 24-bit mantissas minus the noise's unused range


@pytest.mark.parametrize(
    "values",
    [
        [np.nan, -0.0, np.inf, -np.inf, 1e308, 5e-324, 1.5, 2.0**53 + 2],
        [-0.0, -0.0, 0.0],
        [np.nan],
        [],
        [float(np.float32(1.1)), np.nan, float(np.float32(-1.1)), 1e-45],
    ],
)
def test_specials_round_trip(values: list[float]) -> None:
    _roundtrip(np.array(values, np.float64))


@given(values=float32_arrays())
@settings(max_examples=80, deadline=None)
def test_float32_renderings_round_trip(values: NDArray[np.float64]) -> None:
    _roundtrip(values)


@given(values=float_arrays())
@settings(max_examples=80, deadline=None)
def test_any_floats_round_trip(values: NDArray[np.float64]) -> None:
    _roundtrip(values)


@given(values=float32_arrays(max_size=60), data=st.data())
@settings(max_examples=60, deadline=None)
def test_corrupt_payloads_are_refused_or_decode_to_the_count(
    values: NDArray[np.float64], data: st.DataObject
) -> None:
    """Damaged sections (the chunk CRC catches real damage) raise ChunkCorruptError, never crash."""
    payload = bytearray(scaled_encode(values))
    if payload:
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(payload)))
    for damaged in (bytes(payload), bytes(payload[:cut])):
        try:
            out = scaled_decode(damaged, values.size)
        except ChunkCorruptError:
            continue
        assert out.dtype == np.float64 and out.size == values.size


def test_a_resolved_float32_decimal_keeps_every_chosen_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ending the float32 search at a decimal step of >= 64 ulps (scaled._resolved) leaves
    every chunk the chooser writes byte-identical: corpus chunks and float32 renderings."""
    from historian.codec import scaled
    from historian.codec.chunk import encode_chunk
    from historian.codec.corpus import load_corpus

    rng = np.random.default_rng(8)
    walk = np.cumsum(rng.normal(0, 0.01, 3 * 4096))
    renderings = [f32(np.round(8 + walk + rng.normal(0, 0.005, walk.size), d)) for d in (1, 3)]
    series = [s.values for s in load_corpus()] + renderings
    chunks = [v[i : i + size] for v in series for size in (750, 4096)
              for i in range(0, min(v.size - size + 1, 2 * size), size)]  # fmt: skip

    def chosen() -> list[bytes]:
        scaled._mapping_of_sample.cache_clear()  # the memoised searches, done afresh
        scaled._integers_of_bytes.cache_clear()
        scaled._residuals_of_bytes.cache_clear()
        return [encode_chunk(np.arange(v.size), v, np.zeros(v.size, np.uint16)) for v in chunks]

    resolved: list[bool] = []
    real = scaled._resolved

    def counted(sample: NDArray[np.float64], scale: float) -> bool:
        resolved.append(real(sample, scale))
        return resolved[-1]

    monkeypatch.setattr(scaled, "_resolved", counted)
    with_shortcut = chosen()
    assert sum(resolved) >= 4  # the shortcut was taken (on the renderings at least)
    monkeypatch.setattr(scaled, "_resolved", lambda s, a: False)
    assert chosen() == with_shortcut
