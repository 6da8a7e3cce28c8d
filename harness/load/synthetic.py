"""Deterministic synthetic point batches whose every point can be recomputed by the checker.

Identity: points go round-robin over ``series_ids``; timestamps are strictly
increasing across the whole run (each batch starts at its intended send time,
or just after the previous batch's last point if that is later), so the key
(series, ts) is unique across the run and tracks wall-clock time closely.

Values are plant-like decimals with two digits: an integer number of
hundredths (per-series level + slow triangle wave + hashed noise) divided by
100.0. Integer arithmetic and one correctly-rounded division make the value a
pure function of (series, ts, seed), bit-exact on every machine, so
:meth:`SyntheticSource.expected_values` can re-derive what must have been stored.

>>> src = SyntheticSource([7, 8, 9], seed=1, start_ns=10**18)
>>> b = src.batch(0, 4)
>>> b.series.tolist(), (b.ts - 10**18).tolist()
([7, 8, 9, 7], [0, 1000, 2000, 3000])
>>> bool(np.array_equal(src.expected_values(b.series, b.ts), b.values))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from historian.model import PointBatch

__all__ = ["SyntheticSource", "synthetic_values"]

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The splitmix64 finaliser: a cheap, well-mixed 64-bit hash (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


def synthetic_values(series: ArrayLike, ts: ArrayLike, seed: int) -> NDArray[np.float64]:
    """The value every synthetic point (series, ts) carries under ``seed``; vectorised."""
    s = np.asarray(series, dtype=np.uint64)
    t = np.asarray(ts, dtype=np.int64)
    seed_u = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        per_series = _splitmix64(s * np.uint64(0x100000001B3) ^ seed_u)
        # level 0.00 .. 999.99 and a triangle-wave amplitude 0 .. 49.99, per series
        level = (per_series % np.uint64(100_000)).astype(np.int64)
        amp = ((per_series >> np.uint64(20)) % np.uint64(5_000)).astype(np.int64)
        period_ns = (
            60_000_000_000
            + ((per_series >> np.uint64(40)) % np.uint64(60)).astype(np.int64) * 1_000_000_000
        )
        phase = np.mod(t, period_ns)
        tri = np.abs(2 * phase - period_ns)  # period_ns .. 0 .. period_ns
        wave = (amp * 2 * tri) // period_ns - amp  # -amp .. +amp, exact integers
        noise = _splitmix64(t.view(np.uint64) ^ (per_series << np.uint64(1))) % np.uint64(201)
        hundredths = level + wave + noise.astype(np.int64) - 100
    return hundredths.astype(np.float64) / 100.0


class SyntheticSource:
    """Builds the batch for schedule entry ``i`` deterministically from the run's seed.

    Batches must be requested in schedule order (the timestamp cursor moves
    forward); :meth:`batch_at` does that for a schedule entry.
    """

    def __init__(
        self,
        series_ids: Sequence[int] | NDArray[np.integer[Any]],
        seed: int,
        *,
        start_ns: int,
        resolution_ns: int = 1_000,
    ) -> None:
        ids = np.asarray(series_ids, dtype=np.uint32)
        if ids.size == 0:
            raise ValueError("SyntheticSource needs at least one series id")
        if len(np.unique(ids)) != ids.size:
            raise ValueError("series_ids must be distinct")
        if resolution_ns < 1:
            raise ValueError(f"resolution_ns must be >= 1, got {resolution_ns}")
        self.series_ids = ids
        self.seed = int(seed)
        self.start_ns = int(start_ns)
        self.resolution_ns = int(resolution_ns)
        self._next_point = 0  # global point index: picks the series round-robin
        self._next_ts = self.start_ns

    @property
    def points_generated(self) -> int:
        return self._next_point

    def start_at(self, start_ns: int) -> None:
        """Move the first timestamp to ``start_ns`` (before the first batch only).

        A scenario builds its source before the services start, but its points must
        be stamped from the load's start: stamped from construction they were already
        30-60 s old when written, so a cold tier's hot window (``--tier-hot-window``)
        exported the steady phase's data while it was being measured."""
        if self._next_point:
            raise RuntimeError("start_at() after the first batch would reorder timestamps")
        self.start_ns = self._next_ts = int(start_ns)

    def batch(self, offset_ns: int, n_points: int) -> PointBatch:
        """``n_points`` points for a batch intended ``offset_ns`` after the start."""
        if n_points < 1:
            raise ValueError(f"a batch needs >= 1 point, got {n_points}")
        res = self.resolution_ns
        anchor = self.start_ns + (int(offset_ns) // res) * res
        first = max(anchor, self._next_ts)
        ts = first + np.arange(n_points, dtype=np.int64) * res
        k = self._next_point + np.arange(n_points, dtype=np.int64)
        series = self.series_ids[k % self.series_ids.size]
        self._next_point += n_points
        self._next_ts = int(ts[-1]) + res
        return PointBatch.from_arrays(series, ts, synthetic_values(series, ts, self.seed))

    def expected_values(self, series: ArrayLike, ts: ArrayLike) -> NDArray[np.float64]:
        """What the generator put at (series, ts): lets the checker verify read-backs."""
        return synthetic_values(series, ts, self.seed)
