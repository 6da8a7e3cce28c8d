"""Shared Hypothesis strategies, reused across the test tree.

Float strategies lean adversarial: NaNs with payloads and sign, +-inf, -0.0,
subnormals, 2^53 + 1, huge/small magnitudes, and the "really a decimal" or
"really an ADC count" values that the decimal codec must map exactly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _bits_to_float(bits: int) -> float:
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


special_floats = st.sampled_from(
    [
        0.0,
        -0.0,
        float("inf"),
        float("-inf"),
        float("nan"),
        _bits_to_float(0x7FF8_DEAD_0000_0001),  # quiet NaN with payload
        _bits_to_float(0xFFF0_0000_0000_0001),  # negative signalling NaN
        5e-324,  # smallest subnormal
        -2.225073858507201e-308,  # largest negative subnormal
        float(2**53 + 2),
        float(2**53) + 1.0,  # rounds to 2^53: the "2^53 + 1" case
        1.7976931348623157e308,
        -1.7976931348623157e308,
        73.96732207,
        74.93588199999998,
    ]
)

any_float_bits = st.integers(0, 2**64 - 1).map(_bits_to_float)

decimal_floats = st.builds(
    lambda m, e: m / 10.0**e, st.integers(-(10**9), 10**9), st.integers(0, 8)
)

adc_floats = st.builds(
    lambda k, bits, lo, span: lo + k * (span / (2**bits - 1)),
    st.integers(0, 4095),
    st.sampled_from([12, 16]),
    st.sampled_from([0.0, -50.0, 4.0]),
    st.sampled_from([100.0, 16.0, 250.0]),
)

adversarial_floats = st.one_of(
    special_floats,
    any_float_bits,
    decimal_floats,
    adc_floats,
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
)


@st.composite
def float_arrays(draw: st.DrawFn, max_size: int = 300) -> NDArray[np.float64]:
    """Mostly one "family" per array (as real series are), sometimes a mix, sometimes runs."""
    family = draw(st.sampled_from(["mixed", "decimal", "adc", "runs", "const"]))
    element = {
        "mixed": adversarial_floats,
        "decimal": st.one_of(decimal_floats, decimal_floats, special_floats),
        "adc": st.one_of(adc_floats, adc_floats, special_floats),
        "runs": st.sampled_from([0.0, 1.0, -0.0, 2.5]),
        "const": st.just(draw(adversarial_floats)),
    }[family]
    values = draw(st.lists(element, max_size=max_size))
    if family == "runs" and values:
        values = sorted(values)  # long runs
    return np.array(values, dtype=np.float64)


@st.composite
def sorted_timestamps(draw: st.DrawFn, size: int) -> NDArray[np.int64]:
    """Non-decreasing int64 ns: regular, jittery, gappy, duplicated, or spanning all of int64."""
    kind = draw(st.sampled_from(["regular", "jitter", "gaps", "dups", "extreme"]))
    start = draw(st.integers(-(2**62), 2**62))
    if size == 0:
        return np.empty(0, np.int64)
    if kind == "extreme":
        ts = draw(st.lists(st.integers(INT64_MIN, INT64_MAX), min_size=size, max_size=size))
        ts[0] = INT64_MIN if draw(st.booleans()) else ts[0]
        return np.sort(np.array(ts, dtype=np.int64))
    step = draw(st.sampled_from([1, 1_000_000, 1_000_000_000, 300_000_000_000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    deltas = np.full(size - 1, step, dtype=np.int64)
    if kind == "jitter":
        deltas += rng.integers(-step // 10, step // 10 + 1, size - 1)
    elif kind == "gaps":
        deltas[rng.random(size - 1) < 0.05] *= 1000
    elif kind == "dups":
        deltas[rng.random(size - 1) < 0.2] = 0
    return start + np.concatenate(([0], np.cumsum(deltas))).astype(np.int64)


@st.composite
def quality_arrays(draw: st.DrawFn, size: int) -> NDArray[np.uint16]:
    kind = draw(st.sampled_from(["good", "runs", "random"]))
    if kind == "good":
        return np.zeros(size, np.uint16)
    if kind == "runs":
        q = np.zeros(size, np.uint16)
        if size:
            q[draw(st.integers(0, size - 1)) :] = 0x8000
        return q
    return np.array(draw(st.lists(st.integers(0, 0xFFFF), min_size=size, max_size=size)), np.uint16)


@st.composite
def series_chunks(
    draw: st.DrawFn, max_size: int = 300
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]:
    """(ts, values, quality) of one series: sorted ts, adversarial values, mostly-Good quality."""
    values = draw(float_arrays(max_size=max_size))
    return draw(sorted_timestamps(values.size)), values, draw(quality_arrays(values.size))
