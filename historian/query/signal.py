"""The signal a series of recorded points stands for, evaluated and integrated in columns.

Every query family reads one model of "what the value was at time t":

* Between two recorded points ``p_j`` (at ``t_j``) and ``p_{j+1}`` the signal is
  a straight line from ``v_j`` to ``v_{j+1}`` when the tag is not stepped and
  both points are *usable*; otherwise it holds ``v_j`` (with ``p_j``'s
  quality). So interpolation never crosses a Bad value: a good value holds up
  to the Bad point, and the Bad point holds until the next usable one (PI's
  rule for system digital states such as ``I/O Timeout``).
* Before the first point there is no data; after the last point the last value
  holds (flagged ``EXTRAPOLATED``).
* *Usable* means "not Bad and a finite value" (the definition the segment
  index's chunk statistics use); summaries may also count Uncertain as
  unusable (``treat_uncertain_as_bad``).

Cumulative integrals ``F(t) = ∫ (s(u) - c) du`` over usable time (``c`` a
centring constant that keeps the sums well conditioned), ``∫ (s - c)² du`` and
the usable duration are computed once per signal; any interval's integral is
then ``F(b) - F(a)``, so thousands of intervals cost one ``searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import (
    QUALITY_DTYPE,
    TIME_DTYPE,
    VALUE_DTYPE,
    Quality,
    QualityArray,
    TimeArray,
    ValueArray,
    severity_of,
)
from historian.query.columns import FLAG_DTYPE, ColumnsLike, FlagArray, PointLike, ValueFlag

NS = 1e-9


@dataclass(frozen=True, slots=True)
class Signal:
    """One series with its boundary points merged in, plus the per-point masks queries need."""

    ts: TimeArray
    values: ValueArray
    quality: QualityArray
    severity: NDArray[np.uint8]
    usable: NDArray[np.bool_]
    all_usable: bool
    stepped: bool
    inside: slice
    """Indices of the caller's in-range points inside the merged arrays."""


def build_signal(
    cols: ColumnsLike,
    *,
    stepped: bool,
    before: PointLike | None = None,
    after: PointLike | None = None,
    treat_uncertain_as_bad: bool = False,
) -> Signal:
    """Merge ``before`` + ``cols`` + ``after`` (no copy when both are None).

    ``before`` must be earlier than every point of ``cols`` and ``after`` later;
    one that equals the first (last) point's timestamp is the same point seen
    twice by the read seam and is dropped.
    """
    ts, values, quality = cols.ts, cols.values, cols.quality
    n = len(ts)
    if before is not None:
        if n and before.ts > ts[0]:
            raise ValueError(f"before point at {before.ts} is not earlier than the first point")
        if n and before.ts == ts[0]:
            before = None
    if after is not None:
        last = ts[-1] if n else (before.ts if before is not None else None)
        if last is not None and after.ts < last:
            raise ValueError(f"after point at {after.ts} is not later than the last point")
        if last is not None and after.ts == last:
            after = None
    if before is not None or after is not None:
        head = [before] if before is not None else []
        tail = [after] if after is not None else []
        ts = np.concatenate(
            [
                np.array([p.ts for p in head], TIME_DTYPE),
                ts,
                np.array([p.ts for p in tail], TIME_DTYPE),
            ]
        )
        values = np.concatenate(
            [
                np.array([p.value for p in head], VALUE_DTYPE),
                values,
                np.array([p.value for p in tail], VALUE_DTYPE),
            ]
        )
        quality = np.concatenate(
            [
                np.array([p.quality for p in head], QUALITY_DTYPE),
                quality,
                np.array([p.quality for p in tail], QUALITY_DTYPE),
            ]
        )
    severity = severity_of(quality)
    usable = (severity < (1 if treat_uncertain_as_bad else 2)) & np.isfinite(values)
    lo = 1 if before is not None else 0
    return Signal(
        ts=np.asarray(ts, TIME_DTYPE),
        values=np.asarray(values, VALUE_DTYPE),
        quality=np.asarray(quality, QUALITY_DTYPE),
        severity=severity,
        usable=usable,
        all_usable=bool(usable.all()),
        stepped=stepped,
        inside=slice(lo, lo + n),
    )


def evaluate(
    sig: Signal, x: TimeArray, *, left_limit: bool = False
) -> tuple[ValueArray, QualityArray, FlagArray]:
    """The signal's value, quality and flags at each time in ``x`` (any order).

    ``left_limit=True`` gives the limit from the left (the value just before
    ``x``, as a time-weighted interval ending at ``x`` sees it); a recorded
    point exactly at ``x`` is then not used.
    """
    x = np.asarray(x, TIME_DTYPE)
    m = len(sig.ts)
    out_v = np.full(len(x), np.nan, VALUE_DTYPE)
    out_q = np.full(len(x), Quality.BAD_NO_DATA, QUALITY_DTYPE)
    out_f = np.full(len(x), ValueFlag.NO_DATA, FLAG_DTYPE)
    if m == 0 or len(x) == 0:
        return out_v, out_q, out_f
    j = np.searchsorted(sig.ts, x, "left" if left_limit else "right") - 1
    has = j >= 0
    jc = np.maximum(j, 0)
    jn = np.minimum(jc + 1, m - 1)
    exact = has & (sig.ts[jc] == x)
    has_next = has & (j < m - 1)
    out_v[has] = sig.values[jc[has]]
    out_q[has] = sig.quality[jc[has]]
    out_f[has] = ValueFlag.NONE
    out_f[has & ~exact & has_next] = ValueFlag.INTERPOLATED
    out_f[has & ~exact & ~has_next] = ValueFlag.EXTRAPOLATED
    if not sig.stepped:
        lin = has_next & ~exact & sig.usable[jc] & sig.usable[jn]
        if lin.any():
            j0, j1 = jc[lin], jn[lin]
            frac = (x[lin] - sig.ts[j0]) / (sig.ts[j1] - sig.ts[j0])
            v0 = sig.values[j0]
            out_v[lin] = v0 + (sig.values[j1] - v0) * frac
            worse = sig.severity[j1] > sig.severity[j0]
            out_q[np.flatnonzero(lin)[worse]] = sig.quality[j1[worse]]
    return out_v, out_q, out_f


@dataclass(frozen=True, slots=True)
class CumulativeIntegrals:
    """Integrals of the signal from its first point up to each point (usable time only)."""

    center: float
    area: NDArray[np.float64]
    """``area[k]`` = ∫ (s - center) dt, in value·seconds, from ``ts[0]`` to ``ts[k]``."""
    area_sq: NDArray[np.float64]
    """``area_sq[k]`` = ∫ (s - center)² dt (value²·seconds)."""
    good_ns: NDArray[np.int64]
    """``good_ns[k]`` = usable nanoseconds from ``ts[0]`` to ``ts[k]``."""
    seg_end: NDArray[np.float64]
    """Centred value at the end of the segment starting at point ``k`` (held or next)."""
    start: NDArray[np.float64]
    """Centred value at each point, 0 where not usable (so Bad NaNs never enter sums)."""


def cumulative_integrals(sig: Signal) -> CumulativeIntegrals:
    m = len(sig.ts)
    usable = sig.usable
    if m == 0:
        z = np.zeros(0, VALUE_DTYPE)
        return CumulativeIntegrals(0.0, z, z, np.zeros(0, np.int64), z, z)
    first = int(np.argmax(usable)) if not sig.all_usable else 0
    center = float(sig.values[first]) if usable[first] else 0.0
    a = sig.values - center
    if not sig.all_usable:
        a[~usable] = 0.0
    if sig.stepped:
        w = a
    else:
        w = np.empty_like(a)
        w[-1] = a[-1]
        w[:-1] = a[1:]
        if not sig.all_usable:
            held = ~(usable[:-1] & usable[1:])
            w[:-1][held] = a[:-1][held]
    dt_ns = np.diff(sig.ts)
    dt = dt_ns * NS
    seg = (a[:-1] + w[:-1]) * dt
    seg *= 0.5
    area = np.empty(m, VALUE_DTYPE)
    area[0] = 0.0
    np.cumsum(seg, out=area[1:])
    if sig.stepped:
        seg_sq = a[:-1] * a[:-1]
    else:
        seg_sq = a[:-1] * a[:-1] + a[:-1] * w[:-1] + w[:-1] * w[:-1]
        seg_sq /= 3.0
    seg_sq *= dt
    area_sq = np.empty(m, VALUE_DTYPE)
    area_sq[0] = 0.0
    np.cumsum(seg_sq, out=area_sq[1:])
    good = np.empty(m, np.int64)
    good[0] = 0
    if not sig.all_usable:
        dt_ns[~usable[:-1]] = 0
    np.cumsum(dt_ns, out=good[1:])
    return CumulativeIntegrals(center, area, area_sq, good, w, a)


def integrals_at(
    sig: Signal, ci: CumulativeIntegrals, x: TimeArray
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """``(F(x), F2(x), G(x))``: centred area, centred squared area and usable ns up to ``x``."""
    x = np.asarray(x, TIME_DTYPE)
    m = len(sig.ts)
    if m == 0:
        return np.zeros(len(x)), np.zeros(len(x)), np.zeros(len(x), np.int64)
    j = np.searchsorted(sig.ts, x, "right") - 1
    has = j >= 0
    jc = np.maximum(j, 0)
    jn = np.minimum(jc + 1, m - 1)
    u_ns = np.where(has, x - sig.ts[jc], 0)
    span = sig.ts[jn] - sig.ts[jc]
    frac = np.divide(u_ns, span, out=np.zeros(len(x)), where=span > 0)
    a = ci.start[jc]
    sx = a + (ci.seg_end[jc] - a) * frac
    u = u_ns * NS
    ok = has & sig.usable[jc]
    area = np.where(has, ci.area[jc], 0.0) + np.where(ok, u * (a + sx) * 0.5, 0.0)
    area_sq = np.where(has, ci.area_sq[jc], 0.0) + np.where(
        ok, u * (a * a + a * sx + sx * sx) / 3.0, 0.0
    )
    good = np.where(has, ci.good_ns[jc], 0) + np.where(ok, u_ns, 0)
    return area, area_sq, good.astype(np.int64)


def first_index_of_extreme(
    values: NDArray[np.float64], lo: NDArray[np.intp], hi: NDArray[np.intp], *, maximum: bool
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Per index range ``[lo, hi)`` the minimum (or maximum) and the first index holding it.

    The ranges must be contiguous and ascending (``lo[k+1] == hi[k]``), as interval
    edges give them. NaN marks a point that must not count (``fmin``/``fmax`` skip
    it); an empty or all-NaN range gives NaN and index -1. Cost: one ``reduceat``
    plus one comparison pass, whatever the number of ranges.
    """
    k = len(lo)
    best = np.full(k, np.nan, VALUE_DTYPE)
    where = np.full(k, -1, np.intp)
    nonempty = hi > lo
    if not nonempty.any():
        return best, where
    starts = lo[nonempty]
    reducer = np.fmax if maximum else np.fmin
    first, top = int(starts[0]), int(hi[nonempty][-1])
    best_ne = reducer.reduceat(values[:top], starts)
    best[nonempty] = best_ne
    hit = np.flatnonzero(values[first:top] == np.repeat(best_ne, (hi - lo)[nonempty])) + first
    pos = np.searchsorted(hit, starts)
    idx = np.full(len(starts), -1, np.intp)
    found = pos < len(hit)
    idx[found] = hit[pos[found]]
    idx[(idx >= hi[nonempty]) | np.isnan(best_ne)] = -1
    where[nonempty] = idx
    return best, where
