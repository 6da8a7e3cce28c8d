"""The numba integer -> float mapping is bit-identical to scaled.values_of."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from numpy.typing import NDArray

from historian.codec.corpus import load_corpus
from historian.codec.integer_mapping import integrate_and_map, map_integers
from historian.codec.scaled import MODES, integers_of, read_mapping, values_of
from historian.codec.scaled_ac import choose_order
from tests.historian.codec.float32_strategies import float32_arrays
from tests.strategies import float_arrays


@njit(cache=True)
def integrate(z: NDArray[np.uint64], order: int, centre: int) -> NDArray[np.int64]:
    """Inverse of ``scaled_ac.differences`` followed by ``centred_zigzag``, in two steps:
    the reference ``integrate_and_map`` fuses with the mapping (the decoder needs no
    separate pass, so this lives here and not in the engine)."""
    out = np.empty(z.size, np.int64)
    c = np.int64(centre)
    p1 = np.int64(0)
    p2 = np.int64(0)
    for i in range(z.size):
        v = z[i]
        d = (np.int64(v >> np.uint64(1)) ^ -np.int64(v & np.uint64(1))) + c
        if order == 0:
            x = d
        elif order == 1:
            x = d + p1
        else:
            x = d + 2 * p1 - p2
        out[i] = x
        p2 = p1
        p1 = x
    return out


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> None:
    np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64))


def _check_chunk(values: NDArray[np.float64]) -> None:
    """Both kernels against numpy on the integers the encoder found for ``values``."""
    params, base, g, k, _ = integers_of(values)
    mode, a, b, *_ = read_mapping(params + bytes([0, 1]))  # + a base (0) and g (1) varint
    with np.errstate(all="ignore"):
        _same(map_integers(k, mode, a, b, base, g), values_of(k, mode, a, b, base, g))
        order, centre, z = choose_order(k)
        ref = values_of(integrate(z, order, centre), mode, a, b, base, g)
    _same(integrate_and_map(z, order, centre, mode, a, b, base, g), ref)


@given(values=float_arrays())
@settings(max_examples=80, deadline=None)
def test_property_inputs_map_bit_identically(values: NDArray[np.float64]) -> None:
    _check_chunk(values)


@given(values=float32_arrays())
@settings(max_examples=60, deadline=None)
def test_float32_renderings_map_bit_identically(values: NDArray[np.float64]) -> None:
    _check_chunk(values)


def test_corpus_chunks_map_bit_identically() -> None:
    for series in load_corpus():
        for i in range(0, series.values.size, 4096):
            _check_chunk(series.values[i : i + 4096])


@pytest.mark.parametrize("mode", sorted(MODES))
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_any_int64_maps_bit_identically_in_every_mode(mode: int, data: st.DataObject) -> None:
    """Whole-range integers (wrap-around, NaN/inf float32 patterns, overflow to inf)."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    width = data.draw(st.sampled_from([2**63, 2**31, 10**7]))
    k = rng.integers(-width, width - 1, 500, dtype=np.int64, endpoint=True)
    if mode in (0, 2):
        a = 10.0 ** data.draw(st.integers(0, 15))
    else:
        a = data.draw(st.sampled_from([250 / 4095, 17 / 65535, 1e-3, 3.7, 1e300, 5e-324]))
    b = data.draw(st.sampled_from([0.0, -1.0, 4.0, -50.0, 1e300]))
    base = data.draw(st.integers(-(2**63), 2**63 - 1))
    g = data.draw(st.sampled_from([1, 5, 2**40]))
    z = rng.integers(0, 2**64 - 1, 500, dtype=np.uint64, endpoint=True)
    with np.errstate(all="ignore"):
        _same(map_integers(k, mode, a, b, base, g), values_of(k, mode, a, b, base, g))
        for order in range(3):
            ref = values_of(integrate(z, order, base), mode, a, b, base, g)
            _same(integrate_and_map(z, order, base, mode, a, b, base, g), ref)


def test_warm_up_compiles_the_mapping_kernels_before_the_first_query() -> None:
    from historian.codec.chunk import decode_chunk, encode_chunk
    from historian.lsm.compaction import warm_up_kernels

    warm_up_kernels([None])
    kernels: list[Any] = [integrate_and_map, map_integers]  # numba dispatchers
    before = [len(k.signatures) for k in kernels]
    assert all(before)
    v = np.round(np.random.default_rng(2).normal(50, 3, 5000), 2)
    for codec in ("scaled", "scaled-ac"):
        decode_chunk(
            encode_chunk(np.arange(v.size, dtype=np.int64), v, np.zeros(v.size, np.uint16), codec)
        )
    assert [len(k.signatures) for k in kernels] == before
