"""float32 renderings as a transmitter puts them on the wire, widened to float64."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from tests.strategies import adversarial_floats

F32_SPECIALS = [np.nan, -0.0, np.inf, -np.inf, 3.4028234663852886e38, 1.401298464324817e-45]


def f32(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(x, np.float32).astype(np.float64)


@st.composite
def float32_arrays(draw: st.DrawFn, max_size: int = 300) -> NDArray[np.float64]:
    """float32 renderings: of decimals, of ADC counts (float32 arithmetic), raw, or mixed."""
    n = draw(st.integers(0, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    kind = draw(st.sampled_from(["decimal", "adc", "raw", "mixed"]))
    if kind == "decimal":
        e = draw(st.integers(0, 6))
        v = f32(np.cumsum(rng.integers(-30, 31, n)) / 10.0**e)
    elif kind == "adc":
        bits, lo, span = draw(
            st.sampled_from([(12, 0.0, 250.0), (16, -1.0, 17.0), (14, 4.0, 16.0)])
        )
        k = rng.integers(0, 2**bits, n).astype(np.float32)
        v = (k * np.float32(span / (2**bits - 1)) + np.float32(lo)).astype(np.float64)
    elif kind == "raw":
        v = f32(rng.normal(draw(st.sampled_from([0.0, 42.0, -1e6])), 1.0, n))
    else:
        v = f32(rng.normal(5, 1, n))
        if n:
            idx = rng.integers(0, n, max(1, n // 10))
            v[idx] = np.array(
                draw(st.lists(adversarial_floats, min_size=idx.size, max_size=idx.size))
            )
    if n and draw(st.booleans()):
        v[rng.integers(0, n, max(1, n // 20))] = draw(st.sampled_from(F32_SPECIALS))
    return np.ascontiguousarray(v)
