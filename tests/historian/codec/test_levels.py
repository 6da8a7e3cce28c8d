"""levels: a dictionary of the distinct bit patterns plus range-coded runs of level indices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec import levels
from historian.codec.bits import varint_decode
from historian.codec.chunk import chunk_info, decode_chunk, encode_chunk
from historian.codec.errors import ChunkCorruptError
from historian.codec.levels import MAX_LEVELS, levels_decode, levels_encode
from historian.lsm.compaction import warm_up_kernels
from tests.strategies import adversarial_floats, any_float_bits, special_floats

N = 4096


def _roundtrip(v: NDArray[np.float64]) -> bytes:
    payload = levels_encode(v)
    assert payload is not None
    got = levels_decode(payload, v.size)
    np.testing.assert_array_equal(got.view(np.uint64), v.view(np.uint64))
    return payload


@st.composite
def few_level_arrays(draw: st.DrawFn, max_size: int = 600) -> NDArray[np.float64]:
    """Up to MAX_LEVELS adversarial levels (NaN payloads, -0.0, inf), in runs or shuffled."""
    pool = draw(
        st.lists(st.one_of(special_floats, adversarial_floats, any_float_bits), min_size=1,
                 max_size=draw(st.sampled_from([2, 5, MAX_LEVELS]))))  # fmt: skip
    idx = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=max_size))
    runs = draw(st.lists(st.integers(1, 300), min_size=len(idx), max_size=len(idx)))
    if draw(st.booleans()):
        idx = [i for i, r in zip(idx, runs, strict=True) for _ in range(r)][: max_size * 4]
    return np.array([pool[i] for i in idx], np.float64)


@given(values=few_level_arrays())
@settings(max_examples=120, deadline=None)
def test_few_levels_round_trip_bit_exact(values: NDArray[np.float64]) -> None:
    _roundtrip(values)


@given(values=few_level_arrays(max_size=200))
@settings(max_examples=40, deadline=None)
def test_float32_renderings_round_trip(values: NDArray[np.float64]) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        _roundtrip(values.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize(
    "values",
    [
        [42.0],
        [np.nan],
        [-0.0],
        [-0.0] * 5000,
        [7.25] * 100_000,
        [0.0, -0.0] * 700,  # equal as floats, different patterns: two levels
        [np.nan, np.array([0x7FF8_DEAD_0000_0001], np.uint64).view(np.float64)[0], np.inf,
         -np.inf, 5e-324, -0.0, 1.7976931348623157e308],
        [0.1, 0.2, 0.30000000000000004] * 9,  # not all exact decimals: raw/Gorilla dictionary
        [-(2.0**60), 2.0**60, 1e-300],
    ],
)  # fmt: skip
def test_specials_single_points_and_constants_round_trip(values: list[float]) -> None:
    _roundtrip(np.array(values, np.float64))


def test_empty_chunk_is_an_empty_section() -> None:
    assert levels_encode(np.empty(0)) == b""
    assert levels_decode(b"", 0).size == 0
    with pytest.raises(ChunkCorruptError):
        levels_decode(b"\x00", 0)


def test_declines_above_max_levels() -> None:
    exactly = np.repeat(np.arange(MAX_LEVELS, dtype=np.float64) * 0.5, 3)
    _roundtrip(exactly)
    assert levels_encode(np.append(exactly, 1e9)) is None
    noise = np.random.default_rng(1).normal(0, 1, N)
    assert levels_encode(noise) is None


def test_dictionary_kinds_follow_the_levels() -> None:
    """Decimals (and their float32 renderings) as varint integers; anything else raw/Gorilla."""
    steps = np.repeat([61.5, 62.1, 62.25, 70.0], 300)
    cases = {
        levels.DICT_DECIMAL: [steps],
        levels.DICT_DECIMAL_F32: [steps.astype(np.float32).astype(np.float64)],
        levels.DICT_RAW: [np.repeat([np.nan, 1 / 3, -0.0], 100)],
        levels.DICT_GORILLA: [np.repeat([1 / 3, 1 / 3 + 2**-50, 1 / 3 + 2**-49], 100)],
    }
    for kind, arrays in cases.items():
        for v in arrays:
            payload = _roundtrip(v)
            _, at = varint_decode(np.frombuffer(payload, np.uint8), 0, 3)
            assert payload[at] == kind


def _stepped(seed: int) -> NDArray[np.float64]:
    """Valve positions 0/25/50/75/100 % held for minutes."""
    rng = np.random.default_rng(seed)
    runs = rng.geometric(1 / 200, N)
    return np.repeat(np.array([0, 25, 50, 75, 100.0])[rng.integers(0, 5, runs.size)], runs)[:N]


def test_chooser_picks_levels_on_a_stepped_series() -> None:
    v = _stepped(2)
    ts = np.arange(N, dtype=np.int64) * 1_000_000_000
    q = np.zeros(N, np.uint16)
    for n in (N, 1000):  # ranked on the sample, and encoded by every codec
        chosen = encode_chunk(ts[:n], v[:n], q[:n])
        assert chunk_info(chosen).codec_names[1] == "levels"
        for other in ("rle", "scaled", "scaled-ac", "pco"):
            assert len(chosen) < len(encode_chunk(ts[:n], v[:n], q[:n], other))
        np.testing.assert_array_equal(
            decode_chunk(chosen)[1].view(np.uint64), v[:n].view(np.uint64)
        )


def test_chooser_does_not_pick_levels_on_noise() -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(N, dtype=np.int64)
    q = np.zeros(N, np.uint16)
    for v in (np.round(50 + rng.normal(0, 2, N), 2), 50 + rng.normal(0, 2, N)):
        assert chunk_info(encode_chunk(ts, v, q)).codec_names[1] != "levels"


def test_two_flickering_levels_cost_only_their_run_lengths() -> None:
    """With two levels the next one is known: only run lengths are coded, near their entropy."""
    rng = np.random.default_rng(4)
    p = 1 / 8
    runs = rng.geometric(p, N)
    runs = runs[: int(np.searchsorted(np.cumsum(runs), N)) + 1]
    v = np.repeat(np.arange(runs.size) % 2 * 0.1 + 62.0, runs)[:N]
    entropy_bits = runs.size * (-(1 - p) * np.log2(1 - p) - p * np.log2(p)) / p
    assert len(_roundtrip(v)) * 8 < 1.1 * entropy_bits + 8 * 16  # + header and dictionary


@given(values=few_level_arrays(max_size=80), data=st.data())
@settings(max_examples=80, deadline=None)
def test_damaged_payloads_are_refused_or_decode_to_the_count(
    values: NDArray[np.float64], data: st.DataObject
) -> None:
    """The chunk CRC catches real damage; the section itself never crashes or overruns."""
    payload = bytearray(_roundtrip(values))
    i = data.draw(st.integers(0, len(payload) - 1))
    payload[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(payload) - 1))
    for damaged in (bytes(payload), bytes(payload[:cut])):
        try:
            out = levels_decode(damaged, values.size)
        except ChunkCorruptError:
            continue
        assert out.dtype == np.float64 and out.size == values.size


def test_truncated_streams_and_wrong_counts_are_refused() -> None:
    v = _stepped(5)
    payload = _roundtrip(v)
    for cut in (1, 3, len(payload) // 2, len(payload) - 1):
        with pytest.raises(ChunkCorruptError):
            levels_decode(payload[:cut], v.size)
    for n in (v.size - 1, v.size + 1):  # a run overshoots the count, or the stream ends early
        with pytest.raises(ChunkCorruptError):
            levels_decode(payload, n)
    with pytest.raises(ChunkCorruptError):
        levels_decode(payload + b"\x00", v.size)  # trailing bytes


def test_warm_up_compiles_every_levels_kernel_before_the_first_flush() -> None:
    warm_up_kernels([None])
    kernels: list[Any] = [levels.distinct_patterns, levels.runs_encode, levels.runs_decode,
                          levels._decimal_exponent]  # fmt: skip
    before = [len(k.signatures) for k in kernels]
    assert all(before)
    chunk = encode_chunk(np.arange(N, dtype=np.int64), _stepped(6), np.zeros(N, np.uint16))
    decode_chunk(chunk)
    assert [len(k.signatures) for k in kernels] == before
