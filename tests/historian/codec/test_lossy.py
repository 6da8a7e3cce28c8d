"""Exception and swinging-door filters: error bounds, limits, and honest fidelity scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.codec.lossy import (
    dev_from_span_percent,
    exception_filter,
    fidelity,
    swinging_door,
)

S = 1_000_000_000


def _signal(seed: int, n: int = 2000) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 3 * S, n)).astype(np.int64)
    return ts, np.cumsum(rng.normal(0, 1, n))


@given(seed=st.integers(0, 2**32 - 1), percent=st.sampled_from([0.1, 0.5, 2.0, 10.0]))
@settings(max_examples=40, deadline=None)
def test_swinging_door_keeps_every_dropped_point_within_comp_dev(seed: int, percent: float) -> None:
    ts, v = _signal(seed)
    dev = dev_from_span_percent(v, percent)
    keep = swinging_door(ts, v, dev)
    assert keep[0] and keep[-1]
    f = fidelity(ts, v, keep)
    assert f.max_abs_error <= dev * (1 + 1e-9) + 1e-12
    assert f.kept == keep.sum() < ts.size or percent < 1


def test_swinging_door_reduces_a_straight_line_to_its_ends() -> None:
    ts = np.arange(1000, dtype=np.int64) * S
    keep = swinging_door(ts, np.linspace(0, 50, 1000), 0.01)
    assert keep.sum() == 2
    assert fidelity(ts, np.linspace(0, 50, 1000), keep).max_abs_error < 1e-9


def test_comp_max_forces_an_archive_at_least_that_often() -> None:
    ts = np.arange(1000, dtype=np.int64) * S
    keep = swinging_door(ts, np.zeros(1000), 1.0, comp_max_ns=100 * S)
    gaps = np.diff(ts[keep])
    assert gaps.max() <= 100 * S


def test_comp_min_suppresses_archives_closer_than_it() -> None:
    ts, v = _signal(7)
    keep = swinging_door(ts, v, dev_from_span_percent(v, 0.1), comp_min_ns=20 * S)
    inner = np.diff(ts[keep])[:-1]  # the forced last point may be closer
    assert inner.min() >= 20 * S


def test_exception_filter_deadband_and_max_time() -> None:
    ts = np.arange(10, dtype=np.int64) * S
    v = np.array([0.0, 0.1, 0.2, 1.5, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6])
    keep = exception_filter(ts, v, exc_dev=1.0)
    # 3 is the exception, 2 goes with it (PI sends the previous value), 0 and 9 are the ends
    assert np.flatnonzero(keep).tolist() == [0, 2, 3, 9]
    keep = exception_filter(ts, np.zeros(10), exc_dev=1.0, exc_max_ns=4 * S)
    assert np.flatnonzero(keep).tolist() == [0, 3, 4, 7, 8, 9]


def test_non_finite_values_are_kept_and_left_out_of_the_math() -> None:
    ts = np.arange(6, dtype=np.int64) * S
    v = np.array([1.0, 1.0, np.nan, 1.0, np.inf, 1.0])
    for keep in (swinging_door(ts, v, 0.5), exception_filter(ts, v, 0.5)):
        assert keep[2] and keep[4]
        f = fidelity(ts, v, keep)
        assert np.isfinite(f.max_abs_error)


def test_fidelity_measures_a_known_error() -> None:
    ts = np.arange(3, dtype=np.int64) * S
    v = np.array([0.0, 1.0, 0.0])
    f = fidelity(ts, v, np.array([True, False, True]))
    assert f.max_abs_error == 1.0
    assert f.integral_error == pytest.approx(1.0)  # triangle of height 1 over 2 s
    assert f.twa_error == pytest.approx(0.5)
    assert f.twa_abs_error == pytest.approx(0.5)


def test_negative_deviation_is_rejected() -> None:
    with pytest.raises(ValueError, match="comp_dev"):
        swinging_door(np.arange(3, dtype=np.int64), np.zeros(3), -1.0)
