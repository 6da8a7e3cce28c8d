"""Summaries per interval, time-weighted or event-weighted (page ``docs/query/summaries.md``).

Intervals: ``[start, start + interval)``, ``[start + interval, start + 2·interval)``, ...,
the last one cut at ``end`` (start inclusive, end exclusive). *Usable* values are
those neither Bad nor NaN/inf (and not Uncertain with ``treat_uncertain_as_bad``);
nothing else enters arithmetic.

Time-weighted: the signal between recorded points is a line (not stepped) or a
held value (stepped, or next to an unusable point; see
:mod:`historian.query.signal`); at the interval edges it is interpolated (held for
stepped tags) from the points around them, so ``before`` / ``after`` matter.

* ``average`` = ∫ s dt / usable duration; ``total`` = ∫ s dt / ``total_per_ns``
  (the rate's time unit; default one day, as PI: a flow in m³/d totals to m³);
* ``minimum`` / ``maximum`` over the usable recorded values inside the interval and
  the edge values (``s(a)`` at ``a``, the left limit ``s(b⁻)`` at ``b``), with their
  timestamps (``a`` or ``b`` for an edge value; the earliest on ties);
* ``std_population`` = √(∫ (s - average)² dt / duration); ``std_sample`` =
  ``std_population · √(n / (n - 1))``, n the usable recorded values inside (NaN if n < 2);
* ``start`` / ``end`` = the signal at ``a`` and at ``b`` (what an at-time query returns).

Event-weighted: only the recorded values inside the interval, each counting once:
numpy's mean, min, max, sum (``total``), std with ``ddof`` 0 / 1, first and last
usable value (``start`` / ``end``). Both weightings: ``count`` = usable recorded values
inside, ``duration_good`` = usable ns of the signal, ``duration_bad`` = the rest (Bad,
no data before the first value, Uncertain when treated as Bad), ``percent_good`` =
usable share of the time (time-weighted) or of the recorded values (event-weighted).

``status`` per interval: ``BadNoData`` with nothing usable, ``UncertainDataSubNormal``
when ``percent_good < 100`` or Uncertain values entered, else ``Good``; ``flags`` say why
(:class:`~historian.query.columns.ValueFlag`).

>>> from historian.query.columns import QueryColumns
>>> cols = QueryColumns.from_arrays([0, 10, 20, 30], [0.0, 10.0, 10.0, 0.0])
>>> s = summaries(cols, 0, 40, 20, stepped=False)
>>> s.average.tolist(), s.minimum.tolist(), s.maximum.tolist()
([7.5, 2.5], [0.0, 0.0], [10.0, 10.0])
>>> s.start_value.tolist(), s.end_value.tolist(), s.percent_good.tolist()
([0.0, 10.0], [10.0, 0.0], [100.0, 100.0])
>>> e = summaries(cols, 0, 40, 20, stepped=False, weighting="event")
>>> e.average.tolist(), e.total.tolist(), e.count.tolist()
([5.0, 5.0], [10.0, 10.0], [2, 2])
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND, TIME_DTYPE, Quality, TimeArray, ValueArray
from historian.query.columns import (
    FLAG_DTYPE,
    NO_TIME,
    ColumnsLike,
    FlagArray,
    PointLike,
    ValueFlag,
)
from historian.query.signal import build_signal
from historian.query.summary_parts import (
    EXTREME_TYPES,
    EventParts,
    TimeParts,
    event_parts,
    good_duration_only,
    inside_ranges,
    time_parts,
)

__all__ = [
    "NS_PER_DAY",
    "SUMMARY_TYPES",
    "Summaries",
    "Weighting",
    "interval_edges",
    "summaries",
    "summaries_for_edges",
]

NS_PER_DAY = 86_400 * NS_PER_SECOND

SUMMARY_TYPES = (
    "average", "minimum", "maximum", "range", "total", "count", "std_population",
    "std_sample", "percent_good", "duration_good", "duration_bad", "start", "end",
    "delta", "min_time", "max_time",
)  # fmt: skip


class Weighting(enum.StrEnum):
    TIME = "time"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Summaries:
    """One entry per interval in every column; NaN / ``NO_TIME`` where not computed or empty."""

    weighting: Weighting
    start: TimeArray
    end: TimeArray
    average: ValueArray
    minimum: ValueArray
    maximum: ValueArray
    range: ValueArray
    total: ValueArray
    count: NDArray[np.int64]
    std_population: ValueArray
    std_sample: ValueArray
    percent_good: ValueArray
    duration_good: NDArray[np.int64]
    duration_bad: NDArray[np.int64]
    start_value: ValueArray
    end_value: ValueArray
    delta: ValueArray
    min_time: TimeArray
    max_time: TimeArray
    status: NDArray[np.uint16]
    flags: FlagArray

    def __len__(self) -> int:
        return len(self.start)

    def column(self, summary_type: str) -> NDArray[Any]:
        """The column of one ``SUMMARY_TYPES`` name (``start``/``end`` are the values)."""
        if summary_type not in SUMMARY_TYPES:
            raise ValueError(
                f"unknown summary type {summary_type!r}; choose from {', '.join(SUMMARY_TYPES)}"
            )
        attr = {"start": "start_value", "end": "end_value"}.get(summary_type, summary_type)
        result: NDArray[Any] = getattr(self, attr)
        return result

    def field_names(self) -> list[str]:
        return [f.name for f in fields(self)]


def interval_edges(start: int, end: int, interval: int) -> TimeArray:
    """``[start, start + interval, ..., end]``: k + 1 edges of k intervals, the last cut at end."""
    if interval <= 0:
        raise ValueError(f"interval must be a positive number of nanoseconds, got {interval}")
    if end <= start:
        raise ValueError(f"summary range is empty: end {end} must be after start {start}")
    inner = np.arange(start, end, interval, dtype=TIME_DTYPE)
    return np.concatenate([inner, np.array([end], TIME_DTYPE)])


def summaries(
    cols: ColumnsLike,
    start: int,
    end: int,
    interval: int,
    *,
    stepped: bool,
    weighting: Weighting | str = Weighting.TIME,
    before: PointLike | None = None,
    after: PointLike | None = None,
    types: Iterable[str] | None = None,
    treat_uncertain_as_bad: bool = False,
    total_per_ns: int = NS_PER_DAY,
) -> Summaries:
    """Summaries of ``[start, end)`` per ``interval`` ns.

    Boundary contract: ``cols`` holds the recorded points of ``[start, end)``;
    ``before`` the last point before ``start`` and ``after`` the first point at or
    after ``end`` (the read seam's "at or before ``start - 1``" / "at or after
    ``end``"); both are needed for exact time-weighted edges. Equivalently (and
    without the copy that merging them costs) ``cols`` may itself hold those two
    points, or any points outside the range: only points inside an interval count
    as its events, the others only shape the signal. ``types`` limits the work to
    the named ``SUMMARY_TYPES`` (the others come back NaN).
    """
    return summaries_for_edges(
        cols,
        interval_edges(start, end, interval),
        stepped=stepped,
        weighting=weighting,
        before=before,
        after=after,
        types=types,
        treat_uncertain_as_bad=treat_uncertain_as_bad,
        total_per_ns=total_per_ns,
    )


def summaries_for_edges(
    cols: ColumnsLike,
    edges: TimeArray,
    *,
    stepped: bool,
    weighting: Weighting | str = Weighting.TIME,
    before: PointLike | None = None,
    after: PointLike | None = None,
    types: Iterable[str] | None = None,
    treat_uncertain_as_bad: bool = False,
    total_per_ns: int = NS_PER_DAY,
) -> Summaries:
    """As :func:`summaries`, for intervals ``[edges[k], edges[k+1])`` (edges strictly ascending)."""
    edges = check_edges(edges)
    want = parse_types(types)
    kind = weighting_of(weighting)
    sig = build_signal(
        cols, stepped=stepped, before=before, after=after,
        treat_uncertain_as_bad=treat_uncertain_as_bad,
    )  # fmt: skip
    if kind is Weighting.TIME:
        tparts, lo, hi = time_parts(sig, edges, want)
    else:
        lo, hi = inside_ranges(sig, edges)
        tparts = None
    eparts = event_parts(sig, lo, hi, want, sums=kind is Weighting.EVENT)
    good_ns = tparts.good_ns if tparts is not None else good_duration_only(sig, edges)
    return finish(
        edges, kind, want, eparts, tparts, good_ns,
        treat_uncertain_as_bad=treat_uncertain_as_bad, total_per_ns=total_per_ns,
    )  # fmt: skip


def parse_types(types: Iterable[str] | None) -> set[str]:
    want = set(SUMMARY_TYPES if types is None else types)
    unknown = want - set(SUMMARY_TYPES)
    if unknown:
        raise ValueError(
            f"unknown summary type(s) {sorted(unknown)}; choose from {', '.join(SUMMARY_TYPES)}"
        )
    return want


def check_edges(edges: TimeArray) -> TimeArray:
    edges = np.asarray(edges, TIME_DTYPE)
    if len(edges) < 2 or not bool(np.all(edges[1:] > edges[:-1])):
        raise ValueError("edges must hold at least two strictly ascending timestamps")
    return edges


def weighting_of(weighting: Weighting | str) -> Weighting:
    try:
        return Weighting(weighting)
    except ValueError:
        raise ValueError(f"unknown weighting {weighting!r}; choose time or event") from None


def finish(
    edges: TimeArray,
    kind: Weighting,
    want: set[str],
    ev: EventParts,
    tw: TimeParts | None,
    good_ns: NDArray[np.int64],
    *,
    treat_uncertain_as_bad: bool,
    total_per_ns: int,
) -> Summaries:
    """Summary types from the parts of each interval (see the module docstring)."""
    a, b = edges[:-1], edges[1:]
    k = len(a)
    nan = np.full(k, np.nan)
    length = b - a
    count = ev.count
    mn, mn_t, mx, mx_t = ev.minimum, ev.min_time, ev.maximum, ev.max_time
    if tw is not None:
        dur = good_ns.astype(np.float64)
        has = good_ns > 0
        average = np.divide(tw.area, dur, out=nan.copy(), where=has)
        total = np.where(has, tw.area / float(total_per_ns), np.nan)
        std_pop = np.sqrt(np.divide(tw.deviation, dur, out=nan.copy(), where=has).clip(0))
        ratio = np.divide(count, count - 1, out=nan.copy(), where=count > 1)
        std_smp = std_pop * np.sqrt(ratio)
        if want & EXTREME_TYPES:
            mn, mn_t = _with_edges(mn, mn_t, tw.at_start, a, tw.end_left, b, maximum=False)
            mx, mx_t = _with_edges(mx, mx_t, tw.at_start, a, tw.end_left, b, maximum=True)
        start_v, end_v = tw.at_start, tw.at_end
        percent = good_ns / length * 100.0
        no_data = ~has
        bad_time = (length - good_ns - tw.no_data_ns) > 0
        uncertain = ev.uncertain | tw.uncertain_at_start
    else:
        has = count > 0
        average = np.divide(ev.total, count, out=nan.copy(), where=has)
        total = np.where(has, ev.total, np.nan)
        std_pop = np.sqrt(np.divide(ev.m2, count, out=nan.copy(), where=has))
        std_smp = np.sqrt(np.divide(ev.m2, count - 1, out=nan.copy(), where=count > 1))
        start_v, end_v = ev.first, ev.last
        percent = np.divide(count * 100.0, ev.n_all, out=np.zeros(k), where=ev.n_all > 0)
        no_data = ~has
        bad_time = np.zeros(k, bool)
        uncertain = ev.uncertain
    flags = np.zeros(k, FLAG_DTYPE)
    flags[(ev.n_all > count) | bad_time] |= np.uint8(ValueFlag.BAD_EXCLUDED)
    flags[uncertain] |= np.uint8(
        ValueFlag.UNCERTAIN_EXCLUDED if treat_uncertain_as_bad else ValueFlag.UNCERTAIN_INCLUDED
    )
    flags[no_data] |= np.uint8(ValueFlag.NO_DATA)
    if tw is not None:
        flags[~no_data & tw.extrapolated] |= np.uint8(ValueFlag.EXTRAPOLATED)
    status = np.full(k, Quality.GOOD, np.uint16)
    sub_normal = (percent < 100.0) | ((flags & ValueFlag.UNCERTAIN_INCLUDED) != 0)
    status[sub_normal] = Quality.UNCERTAIN_SUB_NORMAL
    status[no_data] = Quality.BAD_NO_DATA

    def pick(name: str, col: NDArray[np.float64]) -> NDArray[np.float64]:
        return col if name in want else nan

    no_time = np.full(k, NO_TIME, TIME_DTYPE)
    return Summaries(
        weighting=kind, start=a.copy(), end=b.copy(),
        average=pick("average", average), minimum=pick("minimum", mn),
        maximum=pick("maximum", mx), range=pick("range", mx - mn),
        total=pick("total", total), count=count, std_population=pick("std_population", std_pop),
        std_sample=pick("std_sample", std_smp), percent_good=percent,
        duration_good=good_ns.astype(np.int64), duration_bad=(length - good_ns).astype(np.int64),
        start_value=pick("start", start_v), end_value=pick("end", end_v),
        delta=pick("delta", end_v - start_v),
        min_time=mn_t if "min_time" in want else no_time,
        max_time=mx_t if "max_time" in want else no_time,
        status=status, flags=flags,
    )  # fmt: skip


def _with_edges(
    inner: ValueArray, inner_t: TimeArray, at_a: ValueArray, a: TimeArray,
    at_b: ValueArray, b: TimeArray, *, maximum: bool,
) -> tuple[ValueArray, TimeArray]:  # fmt: skip
    """Fold the edge values (NaN = not usable) into the inside extreme; earliest wins a tie."""
    cand = np.stack([at_a, inner, at_b])
    times = np.stack([a, inner_t, b])
    fill = -np.inf if maximum else np.inf
    keyed = np.where(np.isnan(cand), fill, cand)
    pick = np.argmax(keyed, axis=0) if maximum else np.argmin(keyed, axis=0)
    cols = np.arange(cand.shape[1])
    value = cand[pick, cols]
    t = np.where(np.isnan(value), NO_TIME, times[pick, cols])
    return value, t
