"""Timestamp codecs: regular fast path, jitter on a grid, gaps, duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from historian.codec import ChunkCorruptError
from historian.codec.timestamps import (
    _nominal_period,
    delta_pco_encode,
    dod_decode,
    dod_encode,
    grid_decode,
    grid_encode,
)

S = 10**9


def test_regular_is_one_byte_and_gaps_cost_little() -> None:
    ts = np.arange(10_000, dtype=np.int64) * S
    assert dod_encode(ts) == b"\x00"
    ts[5000:] += 3600 * S  # one hour gap
    payload = dod_encode(ts)
    assert len(payload) < 10_000 // 8 + 30  # ~1 bit per point
    np.testing.assert_array_equal(dod_decode(payload, ts.size, int(ts[0]), int(ts[-1])), ts)


def test_grid_finds_the_nominal_period_under_jitter_and_gaps() -> None:
    rng = np.random.default_rng(5)
    ts = np.arange(20_000, dtype=np.int64) * S + rng.integers(-20, 21, 20_000) * 10**6
    ts[7000:] += 600 * S
    assert _nominal_period(np.diff(ts), 10**6) == S
    payload = grid_encode(ts)
    assert payload is not None
    assert len(payload) < len(delta_pco_encode(ts)) * 0.95
    np.testing.assert_array_equal(grid_decode(payload, ts.size, int(ts[0]), int(ts[-1])), ts)


def test_a_regular_chunk_with_the_wrong_header_span_is_corrupt() -> None:
    with pytest.raises(ChunkCorruptError):
        dod_decode(b"\x00", 3, 0, 5)  # 5 ns cannot be split into 2 equal steps
