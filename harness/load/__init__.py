"""Open-model load for scenarios: schedules, synthetic batches and the drivers that play them.

One import point for the runner. The pieces live in their own modules:

- :mod:`harness.load.schedule`: :class:`Schedule` (intended send times fixed in
  advance, points per batch, named phases) and its builders ``steady``,
  ``poisson``, ``square_wave_bursts``, ``poisson_bursts``, ``ramp``, ``concat``.
- :mod:`harness.load.synthetic`: :class:`SyntheticSource`, deterministic batches whose
  values the checker can recompute from (series, ts, seed).
- :mod:`harness.load.driver`: ``drive`` (batches) and ``drive_queries`` (raw and
  last-value reads), both measuring latency from the intended time.
"""

from __future__ import annotations

from harness.load.driver import (
    NOT_SENT,
    Clock,
    DriveResult,
    MonotonicClock,
    QueryLoadResult,
    drive,
    drive_queries,
)
from harness.load.schedule import (
    PhaseSpan,
    Schedule,
    ScheduleError,
    concat,
    poisson,
    poisson_bursts,
    ramp,
    square_wave_bursts,
    steady,
)
from harness.load.synthetic import SyntheticSource, synthetic_values

__all__ = [
    "NOT_SENT",
    "Clock",
    "DriveResult",
    "MonotonicClock",
    "PhaseSpan",
    "QueryLoadResult",
    "Schedule",
    "ScheduleError",
    "SyntheticSource",
    "concat",
    "drive",
    "drive_queries",
    "poisson",
    "poisson_bursts",
    "ramp",
    "square_wave_bursts",
    "steady",
    "synthetic_values",
]
