"""Per-point admission: split a batch into the points the store accepts and the rest, with why.

The engine checks a batch as a whole (one bad point refuses all of it), which is
right for a library call but wrong for a stream: one far-future point in a
collector's 1,000-point batch must not take the other 999 with it. So the ingest
admits each point before the write, vectorised (one boolean mask per rule, no
per-point Python): points of unknown series and points outside the accepted-time
window (wall clock - past .. wall clock + future, see
:meth:`historian.options.Options.accepted_window`) are split off with a reason
code, the rest is written. Unknown series are checked first, so a point is
counted under one reason only.

>>> from historian.model import PointBatch, SeriesIndex
>>> opts = Options(past_window_ns=100, future_window_ns=10, series_index=SeriesIndex({1: "a.b"}))
>>> b = PointBatch.from_arrays([1, 1, 2, 1], [950, 1005, 1000, 2000], [0.0, 1.0, 2.0, 3.0])
>>> a = admit(b, opts, now_ns=1000)
>>> a.accepted.ts.tolist(), [(r.reason, r.points.ts.tolist()) for r in a.rejected]
([950, 1005], [('unknown-series', [1000]), ('too-new', [2000])])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import PointBatch
from historian.options import Options

REASON_UNKNOWN_SERIES = "unknown-series"
REASON_TOO_OLD = "too-old"
REASON_TOO_NEW = "too-new"
REASONS = (REASON_UNKNOWN_SERIES, REASON_TOO_OLD, REASON_TOO_NEW)
"""Every reason code a point can be rejected with, in the order they are checked."""

_OK, _UNKNOWN, _OLD, _NEW = 0, 1, 2, 3


@dataclass(frozen=True)
class Rejection:
    """Points rejected for one reason; ``detail`` is a human-readable sentence."""

    reason: str
    points: PointBatch
    detail: str


@dataclass(frozen=True)
class Admission:
    accepted: PointBatch
    rejected: tuple[Rejection, ...]

    @property
    def rejected_points(self) -> int:
        return sum(len(r.points) for r in self.rejected)


def admit(batch: PointBatch, opts: Options, now_ns: int) -> Admission:
    """Split ``batch`` by the engine's own rules (``opts``: window and series index), per point.

    The common all-accepted case returns ``batch`` itself (no copy).
    """
    n = len(batch)
    if n == 0:
        return Admission(batch, ())
    lo, hi = opts.accepted_window(now_ns)
    code = np.zeros(n, dtype=np.uint8)
    code[batch.ts < lo] = _OLD
    code[batch.ts > hi] = _NEW
    if opts.series_index is not None:
        code[~opts.series_index.contains(batch.series)] = _UNKNOWN
    if not code.any():
        return Admission(batch, ())
    details = {
        _UNKNOWN: "series id not in the tag catalogue; add the tag, then republish",
        _OLD: f"timestamp before the accepted window start {lo} ns (wall clock {now_ns} ns)",
        _NEW: f"timestamp after the accepted window end {hi} ns (wall clock {now_ns} ns)",
    }
    rejected = []
    for c, reason in zip((_UNKNOWN, _OLD, _NEW), REASONS, strict=True):
        mask = code == c
        if mask.any():
            rejected.append(Rejection(reason, _subset(batch, mask), details[c]))
    return Admission(_subset(batch, code == _OK), tuple(rejected))


def _subset(batch: PointBatch, mask: NDArray[np.bool_]) -> PointBatch:
    # a boolean mask keeps order, so a sorted batch stays sorted
    return PointBatch(
        batch.series[mask], batch.ts[mask], batch.values[mask], batch.quality[mask], batch.is_sorted
    )
