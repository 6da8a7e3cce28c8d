"""Open-model load schedules, fixed in advance, so latency never hides behind a slow sender.

A :class:`Schedule` is two numpy arrays, the *intended* send time of every batch
(ns from the start of the run) and its point count, plus a phase label per batch
(warm-up, steady, burst, fault, recovery, ramp steps) so accounting and metrics
can be reported per phase. The schedule never adapts to the system under test:
if a send is slow, later batches are late, and their latency is still measured
from their intended time (no coordinated omission; see :mod:`harness.load.driver`).

>>> s = concat([steady(1000, 100, 1.0, phase="warm-up"), steady(2000, 100, 1.0)])
>>> len(s), s.total_points, s.phase_names
(30, 3000, ('warm-up', 'steady'))
>>> [p.name for p in s.phases()], s.phases()[1].start_ns
(['warm-up', 'steady'], 1000000000)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND as NS

__all__ = [
    "PhaseSpan",
    "Schedule",
    "ScheduleError",
    "concat",
    "poisson",
    "poisson_bursts",
    "ramp",
    "square_wave_bursts",
    "steady",
]


class ScheduleError(ValueError):
    """A schedule was asked for with impossible parameters (negative rate, zero batch, ...)."""


@dataclass(frozen=True)
class PhaseSpan:
    """One named phase: batches ``[first, stop)`` and the time span they were planned for."""

    name: str
    first: int
    stop: int
    start_ns: int
    end_ns: int
    nominal_rate_pts_s: float
    points: int


@dataclass(frozen=True, eq=False)
class Schedule:
    """Intended send offsets (ns, non-decreasing), points per batch and phase per batch.

    ``phase_names[k]`` names phase index ``k``; ``phase_bounds_ns[k]`` is its
    planned (start, end) and ``phase_rates[k]`` its nominal rate in points/s.
    """

    send_ns: NDArray[np.int64]
    points: NDArray[np.int64]
    phase: NDArray[np.int16]
    phase_names: tuple[str, ...]
    phase_bounds_ns: tuple[tuple[int, int], ...]
    phase_rates: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.send_ns)
        if len(self.points) != n or len(self.phase) != n:
            raise ScheduleError("send_ns, points and phase must have one entry per batch")
        if n > 1 and np.any(np.diff(self.send_ns) < 0):
            raise ScheduleError("intended send times must be non-decreasing")
        if n and np.any(self.points <= 0):
            raise ScheduleError("every batch needs at least one point")
        k = len(self.phase_names)
        if len(self.phase_bounds_ns) != k or len(self.phase_rates) != k:
            raise ScheduleError("phase_names, phase_bounds_ns and phase_rates must match")
        if n and (np.any(np.diff(self.phase) < 0) or self.phase[0] < 0 or self.phase[-1] >= k):
            raise ScheduleError("phase indices must be non-decreasing and name a known phase")

    def __len__(self) -> int:
        return len(self.send_ns)

    @property
    def duration_ns(self) -> int:
        return self.phase_bounds_ns[-1][1] if self.phase_bounds_ns else 0

    @property
    def duration_s(self) -> float:
        return self.duration_ns / NS

    @property
    def total_points(self) -> int:
        return int(self.points.sum())

    def phases(self) -> list[PhaseSpan]:
        """Phases in time order (a name may repeat, e.g. steady / burst / steady)."""
        first = np.searchsorted(self.phase, np.arange(len(self.phase_names)), side="left")
        spans = []
        for k, name in enumerate(self.phase_names):
            # phase indices are non-decreasing along the schedule by construction
            lo = int(first[k])
            hi = int(np.searchsorted(self.phase, k, side="right"))
            start, end = self.phase_bounds_ns[k]
            spans.append(
                PhaseSpan(
                    name, lo, hi, start, end, self.phase_rates[k], int(self.points[lo:hi].sum())
                )
            )
        return spans

    def phase_name_of(self, batch: int) -> str:
        return self.phase_names[int(self.phase[batch])]


def _one_phase(
    send_ns: NDArray[np.int64], batch_points: int, duration_s: float, rate: float, phase: str
) -> Schedule:
    n = len(send_ns)
    return Schedule(
        send_ns.astype(np.int64),
        np.full(n, batch_points, dtype=np.int64),
        np.zeros(n, dtype=np.int16),
        (phase,),
        ((0, round(duration_s * NS)),),
        (float(rate),),
    )


def _check(rate: float, batch_points: int, duration_s: float) -> None:
    if rate < 0 or not np.isfinite(rate):
        raise ScheduleError(f"rate must be a finite number >= 0 points/s, got {rate}")
    if batch_points < 1:
        raise ScheduleError(f"batch_points must be >= 1, got {batch_points}")
    if duration_s <= 0:
        raise ScheduleError(f"duration_s must be > 0, got {duration_s}")


def steady(
    rate_pts_s: float, batch_points: int, duration_s: float, *, phase: str = "steady"
) -> Schedule:
    """Evenly spaced batches carrying ``rate_pts_s`` points per second on average."""
    _check(rate_pts_s, batch_points, duration_s)
    n = round(rate_pts_s * duration_s / batch_points)
    if n == 0:
        return _one_phase(np.zeros(0, np.int64), batch_points, duration_s, rate_pts_s, phase)
    interval_ns = batch_points / rate_pts_s * NS
    send = np.floor(np.arange(n) * interval_ns).astype(np.int64)
    return _one_phase(send, batch_points, duration_s, rate_pts_s, phase)


def poisson(
    rate_pts_s: float, batch_points: int, duration_s: float, *, seed: int, phase: str = "steady"
) -> Schedule:
    """Poisson arrivals of batches (exponential gaps), mean rate ``rate_pts_s`` points/s."""
    _check(rate_pts_s, batch_points, duration_s)
    if rate_pts_s == 0:
        return steady(0, batch_points, duration_s, phase=phase)
    mean_gap_ns = batch_points / rate_pts_s * NS
    rng = np.random.default_rng(seed)
    expect = rate_pts_s * duration_s / batch_points
    draws = int(expect + 6 * np.sqrt(expect) + 16)  # enough gaps with overwhelming probability
    times = np.cumsum(rng.exponential(mean_gap_ns, draws))  # memoryless: first gap from 0 too
    send = np.floor(times[times < duration_s * NS]).astype(np.int64)
    return _one_phase(send, batch_points, duration_s, rate_pts_s, phase)


def concat(parts: Sequence[Schedule]) -> Schedule:
    """Play schedules one after the other; each keeps its phases, shifted in time."""
    if not parts:
        raise ScheduleError("concat needs at least one schedule")
    send, points, phase = [], [], []
    names: list[str] = []
    bounds: list[tuple[int, int]] = []
    rates: list[float] = []
    offset = 0
    for part in parts:
        send.append(part.send_ns + offset)
        points.append(part.points)
        phase.append(part.phase.astype(np.int16) + len(names))
        names.extend(part.phase_names)
        bounds.extend((a + offset, b + offset) for a, b in part.phase_bounds_ns)
        rates.extend(part.phase_rates)
        offset += part.duration_ns
    return Schedule(
        np.concatenate(send),
        np.concatenate(points),
        np.concatenate(phase).astype(np.int16),
        tuple(names),
        tuple(bounds),
        tuple(rates),
    )


def square_wave_bursts(
    base_rate: float,
    *,
    burst_factor: float = 10.0,
    burst_s: float,
    period_s: float,
    duration_s: float,
    batch_points: int,
    base_phase: str = "steady",
    burst_phase: str = "burst",
) -> Schedule:
    """Base rate, then ``burst_factor`` x base for ``burst_s`` at the end of every period."""
    if not 0 < burst_s < period_s:
        raise ScheduleError(
            f"need 0 < burst_s < period_s, got burst_s={burst_s} period_s={period_s}"
        )
    if duration_s / period_s > 100_000:
        raise ScheduleError(
            f"{duration_s / period_s:.0f} burst periods is too many; lengthen period_s"
        )
    parts = []
    t = 0.0
    while t < duration_s - 1e-9:
        quiet = min(period_s - burst_s, duration_s - t)
        parts.append(steady(base_rate, batch_points, quiet, phase=base_phase))
        t += quiet
        if t < duration_s - 1e-9:
            loud = min(burst_s, duration_s - t)
            parts.append(steady(base_rate * burst_factor, batch_points, loud, phase=burst_phase))
            t += loud
    return concat(parts)


def poisson_bursts(
    base_rate: float,
    *,
    burst_factor: float = 10.0,
    mean_burst_s: float,
    mean_gap_s: float,
    duration_s: float,
    batch_points: int,
    seed: int,
    base_phase: str = "steady",
    burst_phase: str = "burst",
) -> Schedule:
    """Poisson arrivals whose rate jumps to ``burst_factor`` x base for random-length bursts.

    Quiet gaps and bursts have exponential lengths (means ``mean_gap_s`` and
    ``mean_burst_s``); everything follows from ``seed``.
    """
    if mean_burst_s <= 0 or mean_gap_s <= 0:
        raise ScheduleError("mean_burst_s and mean_gap_s must be > 0")
    rng = np.random.default_rng(seed)
    parts = []
    t, bursting = 0.0, False
    for _ in range(100_000):  # bounded; ends long before this for sane parameters
        if t >= duration_s - 1e-9:
            break
        mean = mean_burst_s if bursting else mean_gap_s
        span = min(max(float(rng.exponential(mean)), 1e-3), duration_s - t)
        rate = base_rate * burst_factor if bursting else base_rate
        phase = burst_phase if bursting else base_phase
        parts.append(poisson(rate, batch_points, span, seed=int(rng.integers(2**31)), phase=phase))
        t += span
        bursting = not bursting
    return concat(parts)


def ramp(
    start_rate: float,
    stop_rate: float,
    *,
    steps: int,
    step_s: float,
    batch_points: int,
    geometric: bool = True,
    phase_prefix: str = "step",
) -> Schedule:
    """Rate steps from ``start_rate`` to ``stop_rate``, each held ``step_s``; one phase per step.

    Geometric spacing by default: a stress ramp wants equal *ratios* between
    steps, so the breaking point is found to within a fixed percentage.
    """
    if steps < 1:
        raise ScheduleError(f"steps must be >= 1, got {steps}")
    if start_rate <= 0 or stop_rate < start_rate:
        raise ScheduleError(f"need 0 < start_rate <= stop_rate, got {start_rate}, {stop_rate}")
    rates = (
        np.geomspace(start_rate, stop_rate, steps)
        if geometric
        else np.linspace(start_rate, stop_rate, steps)
    )
    width = len(str(steps - 1))
    return concat(
        [
            steady(float(r), batch_points, step_s, phase=f"{phase_prefix}-{i:0{width}d}")
            for i, r in enumerate(rates)
        ]
    )
