"""One series' raw columns, validated and classified the way Part 13 needs them.

Every raw value gets a *class*: 0 Good, 1 Uncertain (used in arithmetic but not
Good), 2 Bad (never enters arithmetic). With ``TreatUncertainAsBad`` an
Uncertain value is class 2. A non-Bad value that is NaN or infinite is class 2
too: it cannot take part in arithmetic, whatever its status says.

A raw value whose stored quality is exactly ``Bad_NoData`` (``0x809B``) is the
historian's "no data from here" marker (Annex A's "First archive entry, Point
created"): it is Bad for durations, and the time it covers makes an interval
Partial. It is not counted as a Bad *value* by the count-based status rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from historian.model import QUALITY_DTYPE, TIME_DTYPE, VALUE_DTYPE, severity_of
from historian.query.part13.config import AggregateConfiguration, AggregateRequestError
from historian.query.part13.status import QUALITY_BAD_NO_DATA

GOOD_CLASS = 0
UNCERTAIN_CLASS = 1
BAD_CLASS = 2


@dataclass(frozen=True, slots=True)
class RawSeries:
    """Columns of one series plus the per-point facts the aggregates share."""

    ts: NDArray[np.int64]
    values: NDArray[np.float64]  # NaN wherever the value is not usable: Bad never computes
    stored_values: NDArray[np.float64]  # as passed in (Start/End show Uncertain ones)
    quality: NDArray[np.uint16]
    cls: NDArray[np.uint8]
    usable: NDArray[np.bool_]
    no_data_marker: NDArray[np.bool_]
    # bad_before[i] = number of non-usable raw values in ts[:i] (length n + 1),
    # so "is there a Bad value strictly between raw i and raw j" is O(1).
    bad_before: NDArray[np.int64]
    usable_index: NDArray[np.intp]
    config: AggregateConfiguration

    @property
    def n(self) -> int:
        return int(self.ts.size)

    def bad_between(self, i: NDArray[np.intp], j: NDArray[np.intp]) -> NDArray[np.bool_]:
        """True where some non-usable raw value lies strictly between raw i and raw j (i < j)."""
        out: NDArray[np.bool_] = (self.bad_before[j] - self.bad_before[i + 1]) > 0
        return out


def prepare(
    ts: ArrayLike, values: ArrayLike, quality: ArrayLike, config: AggregateConfiguration
) -> RawSeries:
    """Validate the raw columns (strictly ascending times, equal lengths) and classify them."""
    t = np.ascontiguousarray(ts, dtype=TIME_DTYPE)
    v = np.ascontiguousarray(values, dtype=VALUE_DTYPE)
    q = np.ascontiguousarray(quality, dtype=QUALITY_DTYPE)
    if not (t.ndim == v.ndim == q.ndim == 1) or not (t.size == v.size == q.size):
        raise AggregateRequestError(
            "ts, values and quality must be 1-D and of equal length, got "
            f"{t.shape}, {v.shape}, {q.shape}"
        )
    if t.size > 1 and not bool(np.all(t[1:] > t[:-1])):
        raise AggregateRequestError(
            "raw timestamps must be strictly ascending (one value per time)"
        )
    sev = severity_of(q)
    cls = np.where(sev == 0, GOOD_CLASS, np.where(sev == 1, UNCERTAIN_CLASS, BAD_CLASS)).astype(
        np.uint8
    )
    if config.treat_uncertain_as_bad:
        cls[cls == UNCERTAIN_CLASS] = BAD_CLASS
    cls[(cls != BAD_CLASS) & ~np.isfinite(v)] = BAD_CLASS
    usable = cls != BAD_CLASS
    bad_before = np.zeros(t.size + 1, np.int64)
    np.cumsum(~usable, out=bad_before[1:])
    return RawSeries(
        ts=t,
        values=np.where(usable, v, np.nan),
        stored_values=v,
        quality=q,
        cls=cls,
        usable=usable,
        no_data_marker=q == QUALITY_BAD_NO_DATA,
        bad_before=bad_before,
        usable_index=np.flatnonzero(usable).astype(np.intp),
        config=config,
    )
