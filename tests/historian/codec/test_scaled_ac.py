"""scaled-ac: the scaled integers, delta-coded per chunk and range-coded with an adaptive model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec import arith, scaled_ac
from historian.codec.chunk import SLOW_DECODE_MARGIN, chunk_info, decode_chunk, encode_chunk
from historian.codec.errors import ChunkCorruptError
from historian.codec.scaled import scaled_encode
from historian.codec.scaled_ac import choose_order, scaled_ac_decode, scaled_ac_encode
from historian.lsm.compaction import warm_up_kernels
from tests.historian.codec.float32_strategies import f32, float32_arrays
from tests.strategies import float_arrays

N = 10_000


def _roundtrip(v: NDArray[np.float64]) -> bytes:
    payload = scaled_ac_encode(v)
    got = scaled_ac_decode(payload, v.size)
    np.testing.assert_array_equal(got.view(np.uint64), v.view(np.uint64))
    return payload


def _bursty_2dp(seed: int) -> NDArray[np.float64]:
    """A 2-decimal process value whose noise switches between quiet and loud stretches."""
    rng = np.random.default_rng(seed)
    sigma = np.repeat(rng.choice([0.01, 3.0], N // 50), 50)
    return np.round(60 + np.cumsum(rng.normal(0, 0.02, N)) + rng.normal(0, sigma), 2)


@given(values=float_arrays())
@settings(max_examples=80, deadline=None)
def test_any_floats_round_trip(values: NDArray[np.float64]) -> None:
    """Adversarial floats, decimals, ADC counts, few levels (runs) and constants."""
    _roundtrip(values)


@given(values=float32_arrays())
@settings(max_examples=60, deadline=None)
def test_float32_renderings_round_trip(values: NDArray[np.float64]) -> None:
    _roundtrip(values)


@pytest.mark.parametrize(
    "values",
    [
        [np.nan, -0.0, np.inf, -np.inf, 1e308, 5e-324, 1.5, 2.0**53 + 2],
        [-0.0, -0.0, 0.0],
        [],
        [1.0],
        [-1.7976931348623157e308, 1.7976931348623157e308] * 50,  # int64 wrap-around deltas
        np.arange(5000) * 0.001,  # a ramp: order 2 residuals are zero
    ],
)
def test_specials_and_extremes_round_trip(values: list[float]) -> None:
    _roundtrip(np.array(values, np.float64))


def test_delta_order_follows_the_signal() -> None:
    rng = np.random.default_rng(7)
    levels = np.round(rng.normal(0, 50, N)).astype(np.int64)  # noise about a level
    walk = np.cumsum(rng.integers(-3, 4, N))  # a random walk
    ramp = np.arange(N) * 37 + np.cumsum(np.cumsum(rng.integers(-1, 2, N)))  # smooth trend
    assert choose_order(levels)[0] == 0
    assert choose_order(walk)[0] == 1
    assert choose_order(ramp)[0] == 2
    order, centre, _ = choose_order(np.arange(N) * 25 + rng.integers(-2, 3, N))
    assert (order, centre) == (1, 25)  # the drift is the centre, the residuals stay small


def test_adaptive_model_beats_pcodec_on_bursty_decimals() -> None:
    v = _bursty_2dp(1)
    ac, pco = len(_roundtrip(v)), len(scaled_encode(v))
    assert ac < 0.97 * pco


def test_chooser_picks_scaled_ac_where_it_is_smaller() -> None:
    v = _bursty_2dp(2)
    ts = np.arange(N, dtype=np.int64) * 1_000_000_000
    q = np.zeros(N, np.uint16)
    chosen = encode_chunk(ts, v, q)  # N >= SAMPLE_MIN_POINTS: ranked on the sample
    assert chunk_info(chosen).codec_names[1] == "scaled-ac"
    for other in ("scaled", "pco", "decimal"):
        assert len(chosen) < len(encode_chunk(ts, v, q, other))
    np.testing.assert_array_equal(decode_chunk(chosen)[1].view(np.uint64), v.view(np.uint64))


def test_chooser_keeps_the_fast_decoder_where_the_model_gains_little() -> None:
    """i.i.d. noise: pcodec is near the entropy already; a 0.5 % gain does not pay a 4x decode."""
    rng = np.random.default_rng(6)
    v = np.round(80 + np.cumsum(rng.normal(0, 0.01, N)) + rng.normal(0, 0.05, N), 2)
    ts = np.arange(N, dtype=np.int64)
    q = np.zeros(N, np.uint16)
    ac = len(encode_chunk(ts, v, q, "scaled-ac"))
    fast = len(encode_chunk(ts, v, q, "scaled"))
    assert fast * (1 - SLOW_DECODE_MARGIN["scaled-ac"]) < ac < fast  # smaller, not enough
    assert chunk_info(encode_chunk(ts, v, q)).codec_names[1] != "scaled-ac"


def test_chooser_keeps_pcodec_where_the_model_loses() -> None:
    """Uniform full-width integers: nothing to model, pcodec's bins are as small."""
    rng = np.random.default_rng(3)
    v = f32(rng.normal(42, 0.3, N))
    ts = np.arange(N, dtype=np.int64)
    chosen = encode_chunk(ts, v, np.zeros(N, np.uint16))
    assert len(chosen) <= len(encode_chunk(ts, v, np.zeros(N, np.uint16), "scaled-ac"))


@given(values=float32_arrays(max_size=80), data=st.data())
@settings(max_examples=60, deadline=None)
def test_damaged_payloads_are_refused_or_decode_to_the_count(
    values: NDArray[np.float64], data: st.DataObject
) -> None:
    """The chunk CRC catches real damage; the section itself still never crashes or overruns."""
    payload = bytearray(scaled_ac_encode(values))
    i = data.draw(st.integers(0, len(payload) - 1))
    payload[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(payload) - 1))
    for damaged in (bytes(payload), bytes(payload[:cut])):
        try:
            out = scaled_ac_decode(damaged, values.size)
        except ChunkCorruptError:
            continue
        assert out.dtype == np.float64 and out.size == values.size


def test_truncated_streams_and_forged_counts_are_refused() -> None:
    v = _bursty_2dp(4)[:2000]
    payload = _roundtrip(v)
    for cut in (1, 5, len(payload) // 2, len(payload) - 1):
        with pytest.raises(ChunkCorruptError):
            scaled_ac_decode(payload[:cut], v.size)
    with pytest.raises(ChunkCorruptError, match="cannot hold"):  # refused before allocating
        scaled_ac_decode(payload, 2**32 - 1)
    with pytest.raises(ChunkCorruptError):
        scaled_ac_decode(payload, v.size + 1)  # the stream ends early
    code, raw = arith.rc_encode(np.arange(1000, dtype=np.uint64))
    assert arith.rc_decode(code, raw, 1000)[1] == 0
    assert arith.rc_decode(code[:-3], raw, 1000)[1] == -1
    assert arith.rc_decode(code, raw[:-1], 1000)[1] == -1
    assert arith.rc_decode(np.concatenate([code, code[:1]]), raw, 1000)[1] == -1


def test_range_coder_round_trips_extreme_residuals() -> None:
    u = np.array([0, 1, 2, 3, 2**63, 2**64 - 1, 2**64 - 2, 0, 0, 1 << 40], np.uint64)
    code, raw = arith.rc_encode(np.tile(u, 300))
    got, status = arith.rc_decode(code, raw, u.size * 300)
    assert status == 0
    np.testing.assert_array_equal(got, np.tile(u, 300))


def test_warm_up_compiles_every_scaled_ac_kernel_before_the_first_flush() -> None:
    warm_up_kernels([None])  # the chooser: every value codec runs on the warm-up chunk
    kernels: list[Any] = [  # numba dispatchers (their .signatures are the compiled variants)
        arith.rc_encode,
        scaled_ac.differences,
        scaled_ac.centred_zigzag,
        scaled_ac.estimated_bits,
    ]
    before = [len(k.signatures) for k in kernels]
    assert all(before)
    encode_chunk(np.arange(N, dtype=np.int64), _bursty_2dp(5), np.zeros(N, np.uint16))
    assert [len(k.signatures) for k in kernels] == before  # nothing compiled at the flush
