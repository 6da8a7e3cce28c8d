"""Which series a source may write: sorted id ranges and a columnar membership check.

A source's series are a set of inclusive id ranges ``[first, last]`` (a single id is a
range of one). The ingest checks a decoded batch's whole ``series`` column against its
source's set with numpy, no Python per point: two reductions (min, max) when the set is
one range; else one gather from a membership table over the set's id span (up to
:data:`TABLE_MAX_SPAN` ids), or a ``searchsorted`` over the range starts beyond it.
``benchmarks/bench_series_owners.py`` measures it against the decode of the same batch.

>>> s = SeriesSet.of([(10, 19), 30, (15, 25)])
>>> s.ranges(), s.first_foreign(np.array([10, 25, 30], dtype=np.uint32))
([(10, 25), (30, 30)], None)
>>> s.first_foreign(np.array([12, 26, 30], dtype=np.uint32))
26
>>> SeriesSet.ANY.first_foreign(np.array([7], dtype=np.uint32)) is None
True
>>> SeriesSet.parse("1-500,700,501")
SeriesSet([(1, 501), (700, 700)])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_SERIES_ID", "SeriesSet"]

MAX_SERIES_ID = 2**32 - 1
"""Series ids are uint32 (``historian.model.PointBatch.series``)."""
TABLE_MAX_SPAN = 1 << 22
"""Largest id span (first..last owned id) given a membership table (4 MiB of bool)."""

SeriesSpec = int | tuple[int, int]
"""One id, or an inclusive ``(first, last)`` range."""


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:  # overlapping or adjacent: one range
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(frozen=True, eq=False)
class SeriesSet:
    """Disjoint sorted ranges (``lows[i]..highs[i]``), or every series (``unrestricted``)."""

    lows: NDArray[np.uint32] = field(repr=False)
    highs: NDArray[np.uint32] = field(repr=False)
    unrestricted: bool = False
    _table: NDArray[np.bool_] | None = field(init=False, repr=False, default=None)

    ANY: ClassVar[SeriesSet]

    @classmethod
    def of(cls, specs: Iterable[SeriesSpec]) -> SeriesSet:
        """The set of ``specs`` (ids and ``(first, last)`` ranges); raises ValueError."""
        ranges: list[tuple[int, int]] = []
        for spec in specs:
            lo, hi = (spec, spec) if isinstance(spec, int) else spec
            if not 0 <= lo <= hi <= MAX_SERIES_ID:
                raise ValueError(
                    f"series range {lo}..{hi}: need 0 <= first <= last <= {MAX_SERIES_ID}"
                )
            ranges.append((lo, hi))
        merged = _merged(ranges)
        return cls(
            np.array([lo for lo, _ in merged], dtype=np.uint32),
            np.array([hi for _, hi in merged], dtype=np.uint32),
        )

    @classmethod
    def of_ids(cls, ids: Iterable[int]) -> SeriesSet:
        """The set of ``ids``, as the fewest ranges (consecutive ids become one)."""
        return cls.of(int(i) for i in np.unique(np.fromiter(ids, dtype=np.int64)))

    @classmethod
    def parse(cls, text: str) -> SeriesSet:
        """``"*"`` (every series) or comma-separated ids and ``first-last`` ranges."""
        if text.strip() == "*":
            return cls.ANY
        specs: list[SeriesSpec] = []
        for part in (p.strip() for p in text.split(",")):
            lo, dash, hi = part.partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise ValueError(f"{part!r} is neither an id nor a first-last range of ids")
            specs.append((int(lo), int(hi)) if dash else int(lo))
        return cls.of(specs)

    def ranges(self) -> list[tuple[int, int]]:
        return [(int(lo), int(hi)) for lo, hi in zip(self.lows, self.highs, strict=True)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeriesSet):
            return NotImplemented
        return self.unrestricted == other.unrestricted and self.ranges() == other.ranges()

    def __hash__(self) -> int:
        return hash((self.unrestricted, tuple(self.ranges())))

    def __repr__(self) -> str:
        return "SeriesSet.ANY" if self.unrestricted else f"SeriesSet({self.ranges()})"

    def __post_init__(self) -> None:
        # Several ranges over a bounded span: a membership table indexed by id - first
        # (one gather per batch, ~10x cheaper than a searchsorted over the ranges)
        # and one False past the end, where ``take(mode="clip")`` sends every id outside
        # the span (those below it wrap around to huge offsets in uint32): no min/max pass
        table = None
        if len(self.lows) > 1 and int(self.highs[-1]) - int(self.lows[0]) < TABLE_MAX_SPAN:
            first = int(self.lows[0])
            table = np.zeros(int(self.highs[-1]) - first + 2, dtype=np.bool_)
            for lo, hi in self.ranges():
                table[lo - first : hi - first + 1] = True
        object.__setattr__(self, "_table", table)

    def first_foreign(self, series: NDArray[np.uint32]) -> int | None:
        """The first id of ``series`` outside the set, or None when all are in it."""
        if self.unrestricted or len(series) == 0:
            return None
        if len(self.lows) == 0:
            return int(series[0])
        if self._table is not None:
            inside = np.take(self._table, series - self.lows[0], mode="clip")
        elif len(self.lows) == 1:  # a collector's contiguous tags: 2 reductions
            if self.lows[0] <= series.min() and series.max() <= self.highs[0]:
                return None
            inside = (series >= self.lows[0]) & (series <= self.highs[0])
        else:
            # the range each id would fall in: the last start <= id; in it if id <= its end
            at = np.searchsorted(self.lows, series, side="right") - 1
            inside = (at >= 0) & (series <= self.highs[np.maximum(at, 0)])
        if inside.all():
            return None
        return int(series[int(np.argmin(inside))])


SeriesSet.ANY = SeriesSet(np.zeros(0, np.uint32), np.zeros(0, np.uint32), unrestricted=True)
