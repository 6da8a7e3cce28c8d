"""Exception (deadband) filtering per tag, vectorised: which reads are worth sending.

The PI-style exception test: a new reading of a tag is sent when

* its quality differs from the last sent quality, or
* its NaN-ness differs from the last sent value's, or
* ``|value - last_sent| > deadband`` (``deadband == 0`` sends every change;
  ``deadband < 0`` sends every reading, unchanged ones included), or
* ``ts - last_sent_ts >= max_interval_ns`` (a heartbeat so a flat tag is not
  mistaken for a dead one).

State is three arrays indexed by the tag's position in the collector's tag list,
so a poll of thousands of tags costs a handful of numpy operations. A poll may
contain the same tag more than once (OPC UA notifications queue up); those are
processed in occurrence order, one vectorised round per repeat.

>>> import numpy as np
>>> f = ExceptionFilter(np.array([0.5, 0.0]), max_interval_ns=10**12)
>>> tags, good = np.array([0, 1]), np.zeros(2, np.uint16)
>>> f.admit(tags, np.array([1, 1]), np.array([1.0, 5.0]), good).tolist()
[True, True]
>>> f.admit(tags, np.array([2, 2]), np.array([1.4, 5.0]), good).tolist()
[False, False]
>>> f.admit(tags, np.array([3, 3]), np.array([1.6, 5.1]), good).tolist()
[True, True]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_NEVER = np.iinfo(np.int64).min


class ExceptionFilter:
    def __init__(self, deadbands: NDArray[np.float64], *, max_interval_ns: int) -> None:
        n = len(deadbands)
        self.deadbands = np.asarray(deadbands, dtype=np.float64)
        self.max_interval_ns = int(max_interval_ns)
        self._last_value = np.full(n, np.nan)
        self._last_quality = np.zeros(n, dtype=np.uint16)
        self._last_ts = np.full(n, _NEVER, dtype=np.int64)
        self.seen = 0
        self.sent = 0

    def admit(
        self,
        tag_index: NDArray[np.integer],
        ts: NDArray[np.int64],
        values: NDArray[np.float64],
        quality: NDArray[np.uint16],
    ) -> NDArray[np.bool_]:
        """Mask of readings to send; updates the per-tag state for the admitted ones."""
        idx = np.asarray(tag_index, dtype=np.int64)
        keep = np.zeros(len(idx), dtype=bool)
        if len(idx) == 0:
            return keep
        rank = _occurrence_rank(idx)
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r)
            keep[sel] = self._admit_unique(idx[sel], ts[sel], values[sel], quality[sel])
        self.seen += len(idx)
        self.sent += int(keep.sum())
        return keep

    def _admit_unique(
        self,
        idx: NDArray[np.int64],
        ts: NDArray[np.int64],
        values: NDArray[np.float64],
        quality: NDArray[np.uint16],
    ) -> NDArray[np.bool_]:
        last_v = self._last_value[idx]
        last_ts = self._last_ts[idx]
        db = self.deadbands[idx]
        first = last_ts == _NEVER
        nan_now = np.isnan(values)
        nan_changed = nan_now != np.isnan(last_v)
        with np.errstate(invalid="ignore"):
            diff = np.abs(values - last_v)
            moved = np.where(db > 0, diff > db, values != last_v) & ~nan_now
        moved |= db < 0  # every reading, repeated Bad (NaN) ones too
        stale = (ts - np.where(first, 0, last_ts)) >= self.max_interval_ns
        keep: NDArray[np.bool_] = (
            first | (quality != self._last_quality[idx]) | nan_changed | moved | stale
        )
        sent = idx[keep]
        self._last_value[sent] = values[keep]
        self._last_quality[sent] = quality[keep]
        self._last_ts[sent] = ts[keep]
        return keep


def _occurrence_rank(idx: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each element, how many earlier elements have the same tag index."""
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_idx)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(idx)]))
    rank = np.empty(len(idx), dtype=np.int64)
    rank[order] = np.arange(len(idx)) - run_start
    return rank
