"""AggregateConfiguration (Part 13, 4.2.1.2) and the processing intervals.

The configuration is the one Part 13 attaches to a HistoricalDataNode, plus the
variable's ``Stepped`` attribute (Part 11, 5.2.2), which decides sloped versus
stepped interpolation between raw values.

Intervals (Part 13, 5.4.3.1 / Part 11, 6.5.4): the range from ``start_ns``
is cut into ``interval_ns`` pieces, each half open ``[lo, hi)``. When
``end_ns < start_ns`` time runs backwards: the intervals are cut from
``start_ns`` downwards, results come latest first, and each result's timestamp
is its interval's start *in request order* (the later edge). When the range is
not a multiple of the interval, the last interval is the remainder and its
result carries the Partial bit. ``interval_ns == 0`` means one interval for the
whole range.

>>> iv = intervals(0, 10, 4)
>>> iv.lo.tolist(), iv.hi.tolist(), iv.short.tolist()
([0, 4, 8], [4, 8, 10], [False, False, True])
>>> back = intervals(10, 0, 4)
>>> back.lo.tolist(), back.hi.tolist(), back.timestamp.tolist(), back.order.tolist()
([0, 2, 6], [2, 6, 10], [2, 6, 10], [2, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.errors import HistorianError


class AggregateRequestError(HistorianError, ValueError):
    """A processed-read request that Part 13 does not allow (bad interval or config)."""


@dataclass(frozen=True, slots=True)
class AggregateConfiguration:
    """Part 13 AggregateConfiguration plus the Stepped attribute.

    ``percent_data_bad`` / ``percent_data_good``: an interval whose Bad share
    (of time, or of raw values for the non-time aggregates) reaches
    ``percent_data_bad`` is Bad; otherwise one whose Good share reaches
    ``percent_data_good`` is Good; otherwise Uncertain_DataSubNormal.
    Part 13 requires ``percent_data_good >= 100 - percent_data_bad``.
    """

    treat_uncertain_as_bad: bool = True
    percent_data_bad: float = 100.0
    percent_data_good: float = 100.0
    use_sloped_extrapolation: bool = False
    stepped: bool = False

    def __post_init__(self) -> None:
        for name in ("percent_data_bad", "percent_data_good"):
            v = getattr(self, name)
            if not 0.0 <= v <= 100.0:
                raise AggregateRequestError(f"{name} must be within 0..100, got {v}")
        if self.percent_data_good < 100.0 - self.percent_data_bad:
            raise AggregateRequestError(
                "percent_data_good must be >= 100 - percent_data_bad (Part 13, 4.2.1.2); "
                f"got good={self.percent_data_good}, bad={self.percent_data_bad}"
            )


@dataclass(frozen=True, slots=True)
class Intervals:
    """Processing intervals in ascending time, with the order results are returned in."""

    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    short: NDArray[np.bool_]  # shorter than the ProcessingInterval (the remainder)
    timestamp: NDArray[np.int64]  # each interval's result timestamp (its request-order start)
    order: NDArray[np.intp]  # ascending index of each result, in request order

    def __len__(self) -> int:
        return int(self.lo.size)


def intervals(start_ns: int, end_ns: int, interval_ns: int) -> Intervals:
    """Cut ``start..end`` into processing intervals (see the module docstring)."""
    if interval_ns < 0:
        raise AggregateRequestError(f"the processing interval must be >= 0 ns, got {interval_ns}")
    start, end = int(start_ns), int(end_ns)
    forward = end >= start
    span = abs(end - start)
    if span == 0:
        empty = np.zeros(0, np.int64)
        return Intervals(empty, empty, np.zeros(0, np.bool_), empty, np.zeros(0, np.intp))
    step = span if interval_ns == 0 else int(interval_ns)
    count = -(-span // step)
    k = np.arange(count, dtype=np.int64)
    near = k * step  # distance of each interval's request-order start from start_ns
    far = np.minimum(near + step, span)
    short = (far - near) < step
    if forward:
        lo, hi, ts = start + near, start + far, start + near
        order = np.arange(count, dtype=np.intp)
    else:
        # Cut from start_ns downwards, then stored ascending so every
        # calculation sees time run forwards; ``order`` restores request order.
        lo, hi, ts = (start - far)[::-1], (start - near)[::-1], (start - near)[::-1]
        short = short[::-1]
        order = np.arange(count - 1, -1, -1, dtype=np.intp)
    return Intervals(lo.copy(), hi.copy(), short.copy(), ts.copy(), order)
