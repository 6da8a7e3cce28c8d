"""Columns in, columns out: the shapes the query-semantics functions take and return.

Every query family (recorded, interpolated, at-time, plot, summaries) is a pure
function over one series' columns: ``ts`` int64 ns ascending and unique,
``values`` float64, ``quality`` uint16 (the top 16 bits of an OPC UA
StatusCode, see :mod:`historian.model`). The input is anything with those three
attributes (:class:`ColumnsLike`), so the read seam's result type
(``historian.model.SeriesColumns``) fits without a copy. Points just outside a
requested range travel as two optional :class:`PointLike` values
(``historian.model.Point`` or :class:`BoundaryPoint`), ``before`` and ``after``
(see each function for the exact contract).

Results are :class:`QueryColumns`: the same three columns plus ``flags``, one
:class:`ValueFlag` bit set per returned value saying how it was made.

>>> c = QueryColumns.from_arrays([10, 20], [1.0, 2.0])
>>> len(c), c.quality.tolist(), c.flags.tolist()
(2, [0, 0], [0, 0])
>>> ValueFlag(int(ValueFlag.INTERPOLATED | ValueFlag.EXTRAPOLATED)).name
'INTERPOLATED|EXTRAPOLATED'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from historian.model import (
    QUALITY_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    QualityArray,
    TimeArray,
    ValueArray,
)

__all__ = [
    "FLAG_DTYPE",
    "NO_TIME",
    "BoundaryPoint",
    "ColumnsLike",
    "FlagArray",
    "PointLike",
    "QueryColumns",
    "ValueFlag",
    "check_series",
]

FLAG_DTYPE = np.dtype(np.uint8)
FlagArray = NDArray[np.uint8]

NO_TIME = np.iinfo(np.int64).min
"""Timestamp column entry meaning "no such time" (e.g. the minimum of an empty interval)."""


class ValueFlag(enum.IntFlag):
    """How a returned value was made (bit set, one ``uint8`` per value)."""

    NONE = 0
    INTERPOLATED = 1
    """Synthesised at a time with no recorded value (interpolated or held)."""
    EXTRAPOLATED = 2
    """After the last recorded value: that value, held (PI returns it too)."""
    NO_DATA = 4
    """Before the first recorded value: value NaN, quality ``BadNoData``."""
    BOUNDARY = 8
    """A recorded value outside the requested range (``outside`` boundary, plot edges)."""
    BAD_EXCLUDED = 16
    """Summary: Bad values (or bad time) fell in the interval and were left out."""
    UNCERTAIN_INCLUDED = 32
    """Summary: Uncertain values entered the result."""
    UNCERTAIN_EXCLUDED = 64
    """Summary: Uncertain values were left out (``treat_uncertain_as_bad``)."""


class ColumnsLike(Protocol):
    """Anything holding one series' columns (``ts`` ascending, unique)."""

    @property
    def ts(self) -> TimeArray: ...

    @property
    def values(self) -> ValueArray: ...

    @property
    def quality(self) -> QualityArray: ...


class PointLike(Protocol):
    """One recorded point (``historian.model.Point`` and :class:`BoundaryPoint` both fit)."""

    @property
    def ts(self) -> int: ...

    @property
    def value(self) -> float: ...

    @property
    def quality(self) -> int: ...


class BoundaryPoint(NamedTuple):
    """One recorded point just outside a requested range (``quality`` as stored)."""

    ts: int
    value: float
    quality: int = 0


@dataclass(frozen=True, slots=True)
class QueryColumns:
    """A query result: four equal-length columns, time-ordered as the query asked."""

    ts: TimeArray
    values: ValueArray
    quality: QualityArray
    flags: FlagArray

    @classmethod
    def from_arrays(
        cls,
        ts: ArrayLike,
        values: ArrayLike,
        quality: ArrayLike | None = None,
        flags: ArrayLike | None = None,
    ) -> QueryColumns:
        t = np.ascontiguousarray(ts, dtype=TIME_DTYPE)
        v = np.ascontiguousarray(values, dtype=VALUE_DTYPE)
        q = (
            np.zeros(len(t), QUALITY_DTYPE)
            if quality is None
            else np.ascontiguousarray(quality, dtype=QUALITY_DTYPE)
        )
        f = (
            np.zeros(len(t), FLAG_DTYPE)
            if flags is None
            else np.ascontiguousarray(flags, dtype=FLAG_DTYPE)
        )
        if not (t.ndim == v.ndim == q.ndim == f.ndim == 1) or not (
            len(t) == len(v) == len(q) == len(f)
        ):
            raise ValueError(
                f"columns must be 1-D and equally long; got ts {t.shape}, values {v.shape}, "
                f"quality {q.shape}, flags {f.shape}"
            )
        return cls(t, v, q, f)

    @classmethod
    def empty(cls) -> QueryColumns:
        return cls.from_arrays([], [])

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: NDArray[np.intp] | slice) -> QueryColumns:
        return QueryColumns(
            self.ts[index], self.values[index], self.quality[index], self.flags[index]
        )

    def reversed(self) -> QueryColumns:
        return self.take(slice(None, None, -1))


def check_series(cols: ColumnsLike) -> None:
    """Raise ValueError unless the columns are 1-D, equally long, and ``ts`` strictly ascends."""
    n = len(cols.ts)
    if len(cols.values) != n or len(cols.quality) != n:
        raise ValueError(
            f"series columns differ in length: ts {n}, values {len(cols.values)}, "
            f"quality {len(cols.quality)}"
        )
    if n > 1 and not bool(np.all(cols.ts[1:] > cols.ts[:-1])):
        raise ValueError("series timestamps must be strictly ascending (sorted, no duplicates)")
