"""Time-weighted integrals of the signal over many intervals at once.

The integral of the signal (:mod:`historian.query.signal`) over ``[a, b)`` is
split at the recorded points inside the interval (indices ``lo .. hi-1``):

* the *middle*: whole segments between two inside points, summed with one
  ``reduceat`` over a per-segment array for all intervals together;
* the *head* ``[a, t_lo)`` and *tail* ``[t_{hi-1}, b)``: parts of the segments
  that straddle the edges, from the values at the edges (interpolated for a
  linear tag, held for a stepped one), ``O(intervals)`` work;
* an interval with no point inside lies in one segment: ``(b - a)`` times the
  mean of the edge values.

Only usable time counts (a segment starting at an unusable point contributes
neither area nor duration). Linear segments are trapezoids, held ones
rectangles, so every piece is exact. For the common all-usable linear series
the middle sums use ``Σ v_i (t_{i+1} - t_{i-1})``, one product per point
instead of two (the telescoped trapezoid rule; the two end terms are corrected
per interval).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.model import TimeArray, ValueArray
from historian.query.signal import (
    Signal,
    blocked_range_sums,
    evaluate,
    range_sums,
    usable_result,
)


@dataclass(frozen=True, slots=True)
class EdgeValues:
    """The signal at each interval's edges: ``start`` at ``a``, ``end_left`` just before ``b``."""

    start: ValueArray
    start_ok: NDArray[np.bool_]
    end_left: ValueArray
    end_left_ok: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class IntervalIntegrals:
    lo: NDArray[np.intp]
    hi: NDArray[np.intp]
    """Recorded points inside interval k: indices ``lo[k] .. hi[k]-1`` of the signal."""
    area: NDArray[np.float64]
    """∫ s dt over the interval's usable time, in value·ns."""
    good_ns: NDArray[np.int64]
    """Usable nanoseconds in the interval."""
    edges: EdgeValues


@dataclass(frozen=True, slots=True)
class SegmentOverrides:
    """Known integrals for some segments ``i -> i+1`` (a chunk summarised by its statistics:
    its first and last point stand in the signal, the segment between them is the chunk)."""

    segment: NDArray[np.intp]
    area: NDArray[np.float64]
    """∫ s dt over the segment's usable time, value·ns."""
    good_ns: NDArray[np.int64]


def inside_ranges(sig: Signal, edges: TimeArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    idx = np.searchsorted(sig.ts, edges, "left").astype(np.intp)
    return idx[:-1], idx[1:]


def edge_values(sig: Signal, edges: TimeArray) -> EdgeValues:
    sv, sq, sf = evaluate(sig, edges[:-1])
    ev, eq, ef = evaluate(sig, edges[1:], left_limit=True)
    return EdgeValues(sv, usable_result(sig, sv, sq, sf), ev, usable_result(sig, ev, eq, ef))


def segment_end_values(sig: Signal) -> ValueArray:
    """Value at the end of each segment ``i -> i+1`` (held or the next point's), 0 if unusable."""
    v, us = sig.values, sig.usable
    if sig.stepped:
        return np.where(us[:-1], v[:-1], 0.0)
    lin = us[:-1] & us[1:]
    return np.where(lin, v[1:], np.where(us[:-1], v[:-1], 0.0))


def interval_integrals(
    sig: Signal, edges: TimeArray, overrides: SegmentOverrides | None = None
) -> IntervalIntegrals:
    """Area and usable duration of the signal over each ``[edges[k], edges[k+1])``.

    ``overrides`` replace whole segments that must lie inside one interval.
    """
    ts, v = sig.ts, sig.values
    m = len(ts)
    lo, hi = inside_ranges(sig, edges)
    ev = edge_values(sig, edges)
    a, b = edges[:-1], edges[1:]
    k = len(a)
    twice_area = np.zeros(k)
    good = np.zeros(k, np.int64)
    if m == 0:
        return IntervalIntegrals(lo, hi, twice_area, good, ev)
    has_inside = hi > lo
    # Middle: segments lo .. hi-2 (both ends inside the interval).
    mid_lo, mid_hi = lo, np.maximum(hi - 1, lo)
    sparse = len(sig.unusable) * 8 < m  # few unusable points: fast sums + corrections
    if m > 1 and (sig.all_usable or sparse):
        finite = sig.finite
        if sig.stepped:
            twice_area += 2.0 * _held_rectangles(ts, finite, mid_lo, mid_hi)
        else:
            twice_area += _telescoped_trapezoids(ts, finite, mid_lo, mid_hi)
        good += np.where(has_inside, ts[np.maximum(hi - 1, 0)] - ts[np.minimum(lo, m - 1)], 0)
        if not sig.all_usable:
            _correct_unusable_segments(sig, lo, hi, twice_area, good)
        if overrides is not None and len(overrides.segment):
            _apply_overrides(sig, hi, overrides, twice_area, good)
    elif m > 1:
        dt_ns = np.diff(ts)
        us = sig.usable
        seg = np.where(us[:-1], v[:-1], 0.0) + segment_end_values(sig)
        seg *= dt_ns
        dt_ns[~us[:-1]] = 0
        if overrides is not None:
            seg[overrides.segment] = 2.0 * overrides.area
            dt_ns[overrides.segment] = overrides.good_ns
        twice_area += range_sums(seg, mid_lo, mid_hi)
        good += range_sums(dt_ns, mid_lo, mid_hi)
    # Head [a, t_lo) inside segment lo-1, tail [t_{hi-1}, b) inside segment hi-1.
    j = np.maximum(lo - 1, 0)
    jn = np.minimum(lo, m - 1)
    us_j, us_jn = sig.usable_at(j), sig.usable_at(jn)
    head_ok = has_inside & (lo >= 1) & us_j
    lin = ~np.bool_(sig.stepped) & us_j & us_jn
    w = np.where(lin, v[jn], v[j])
    head_len = np.where(head_ok, ts[jn] - a, 0)
    twice_area += np.where(head_ok, head_len * (ev.start + w), 0.0)
    good += head_len
    t_last = np.maximum(hi - 1, 0)
    tail_ok = has_inside & sig.usable_at(t_last)
    tail_len = np.where(tail_ok, b - ts[t_last], 0)
    twice_area += np.where(tail_ok, tail_len * (v[t_last] + ev.end_left), 0.0)
    good += tail_len
    # No point inside: the interval lies within segment lo-1 (or before the first point).
    within_ok = ~has_inside & (lo >= 1) & us_j
    within_len = np.where(within_ok, b - a, 0)
    twice_area += np.where(within_ok, within_len * (ev.start + ev.end_left), 0.0)
    good += within_len
    return IntervalIntegrals(lo, hi, twice_area * 0.5, good, ev)


def _correct_unusable_segments(
    sig: Signal,
    lo: NDArray[np.intp],
    hi: NDArray[np.intp],
    twice_area: NDArray[np.float64],
    good: NDArray[np.int64],
) -> None:
    """Fix the all-usable middle sums for the few segments touching an unusable point.

    The fast sums treat segment ``i`` as usable (trapezoid, or rectangle when
    stepped, on ``sig.finite``); the model says: no area and no time when point
    ``i`` is unusable, the value held when only ``i+1`` is.
    """
    ts, v = sig.ts, sig.finite
    m = len(ts)
    bad = sig.unusable
    seg = np.unique(np.concatenate([bad, bad - 1]))
    seg = seg[(seg >= 0) & (seg < m - 1)]
    dt = (ts[seg + 1] - ts[seg]).astype(np.float64)
    fast = 2.0 * v[seg] * dt if sig.stepped else (v[seg] + v[seg + 1]) * dt
    start_ok = sig.usable_at(seg)
    right = np.where(sig.stepped | ~sig.usable_at(seg + 1), v[seg], v[seg + 1])
    correct = np.where(start_ok, (v[seg] + right) * dt, 0.0)
    # Segment i is in interval k's middle when points i and i+1 both lie inside it.
    k = np.searchsorted(hi, seg, "right")
    inside = (k < len(hi)) & (seg >= lo[np.minimum(k, len(lo) - 1)])
    inside &= seg + 1 < hi[np.minimum(k, len(hi) - 1)]
    np.add.at(twice_area, k[inside], (correct - fast)[inside])
    lost = np.where(start_ok, 0, ts[seg + 1] - ts[seg])
    np.subtract.at(good, k[inside], lost[inside])


def _apply_overrides(
    sig: Signal,
    hi: NDArray[np.intp],
    overrides: SegmentOverrides,
    twice_area: NDArray[np.float64],
    good: NDArray[np.int64],
) -> None:
    """Swap the fast sums' contribution of each overridden segment for its known integral.

    An overridden segment joins two usable points (a chunk's first and last) and lies
    in one interval's middle, so the fast sums counted it as a plain segment.
    """
    ts, v = sig.ts, sig.finite
    i = overrides.segment
    dt = ts[i + 1] - ts[i]
    fast = 2.0 * v[i] * dt if sig.stepped else (v[i] + v[i + 1]) * dt
    k = np.searchsorted(hi, i, "right")
    np.add.at(twice_area, k, 2.0 * overrides.area - fast)
    np.add.at(good, k, overrides.good_ns - dt)


def interval_good_ns(sig: Signal, edges: TimeArray) -> NDArray[np.int64]:
    """Usable ns of the signal per interval, without touching values.

    A segment's usable time runs from a usable point to the next point (or on
    past the last point); time before the first point is no data.
    """
    ts = sig.ts
    m = len(ts)
    a, b = edges[:-1], edges[1:]
    if m == 0:
        return np.zeros(len(a), np.int64)
    whole: NDArray[np.int64] = np.clip(b - np.maximum(a, ts[0]), 0, None).astype(np.int64)
    if sig.all_usable:
        return whole
    # Subtract the time that unusable points hold: segment [t_i, t_{i+1}) of each
    # unusable i (to +inf for the last point). Those segments never overlap, so
    # the lost time up to x is a running sum over them plus one partial segment.
    bad = sig.unusable
    lost_from = ts[bad]
    lost_to = np.where(bad + 1 < m, ts[np.minimum(bad + 1, m - 1)], np.iinfo(np.int64).max)
    cum = np.zeros(len(bad) + 1, np.int64)
    np.cumsum(np.where(bad + 1 < m, lost_to - lost_from, 0), out=cum[1:])

    def lost_upto(x: TimeArray) -> NDArray[np.int64]:
        j = np.searchsorted(lost_from, x, "right") - 1
        jc = np.maximum(j, 0)
        part = np.where(j >= 0, np.minimum(x, lost_to[jc]) - lost_from[jc], 0)
        return np.where(j >= 0, cum[jc], 0) + part

    out: NDArray[np.int64] = (whole - (lost_upto(b) - lost_upto(a))).astype(np.int64)
    return out


def _telescoped_trapezoids(
    ts: TimeArray, v: ValueArray, lo: NDArray[np.intp], hi: NDArray[np.intp]
) -> NDArray[np.float64]:
    """``Σ_{i=lo}^{hi-1} (v_i + v_{i+1}) (t_{i+1} - t_i)`` per range (twice the trapezoid area).

    Equals ``Σ_{i=lo}^{hi} v_i (t_{i+1} - t_{i-1})`` minus ``v_lo (t_lo - t_{lo-1})`` and
    ``v_hi (t_{hi+1} - t_hi)``, with ``t_{-1} = t_0`` and ``t_m = t_{m-1}``.
    """
    m = len(ts)

    def central_times_value(s: int, e: int, out: NDArray[np.float64]) -> None:
        # t_{i+1} - t_{i-1} for i in [s, e), clamped at both ends of the series
        a, b = max(s, 1), min(e, m - 1)
        if b > a:
            np.subtract(
                ts[a + 1 : b + 1], ts[a - 1 : b - 1], out=out[a - s : b - s], casting="unsafe"
            )
        if s == 0:
            out[0] = ts[1] - ts[0]
        if e == m:
            out[-1] = ts[m - 1] - ts[m - 2]
        out *= v[s:e]

    nonempty = hi > lo
    total = blocked_range_sums(m, lo, np.where(nonempty, hi + 1, lo), central_times_value)
    lo_c = np.minimum(lo, m - 1)
    hi_c = np.minimum(hi, m - 1)
    before_lo = (ts[lo_c] - ts[np.maximum(lo_c - 1, 0)]).astype(np.float64)
    after_hi = (ts[np.minimum(hi_c + 1, m - 1)] - ts[hi_c]).astype(np.float64)
    return np.where(nonempty, total - v[lo_c] * before_lo - v[hi_c] * after_hi, 0.0)


def _held_rectangles(
    ts: TimeArray, v: ValueArray, lo: NDArray[np.intp], hi: NDArray[np.intp]
) -> NDArray[np.float64]:
    """``Σ_{i=lo}^{hi-1} v_i (t_{i+1} - t_i)`` per range, block by block."""

    def step_area(s: int, e: int, out: NDArray[np.float64]) -> None:
        np.subtract(ts[s + 1 : e + 1], ts[s:e], out=out, casting="unsafe")
        out *= v[s:e]

    return blocked_range_sums(len(ts) - 1, lo, hi, step_area)


def deviation_integrals(
    sig: Signal, edges: TimeArray, ii: IntervalIntegrals, mean: NDArray[np.float64]
) -> NDArray[np.float64]:
    """∫ (s - mean_k)² dt over each interval's usable time (value²·ns), exact per piece."""
    ts, v, us = sig.ts, sig.values, sig.usable
    m = len(ts)
    k = len(mean)
    out = np.zeros(k)
    if m == 0:
        return out
    lo, hi = ii.lo, ii.hi
    a, b = edges[:-1], edges[1:]
    mu = np.where(np.isfinite(mean), mean, 0.0)
    has_inside = hi > lo
    if m > 1:
        out += (
            blocked_range_sums(
                m - 1, lo, np.maximum(hi - 1, lo), _squared_deviation_fill(sig, lo, hi, mu)
            )
            / 3.0
        )

    def piece(
        length: NDArray[np.int64], x: ValueArray, y: ValueArray, ok: NDArray[np.bool_]
    ) -> None:
        p, q = x - mu, y - mu
        out[:] += np.where(ok, length * (p * p + p * q + q * q) / 3.0, 0.0)

    j = np.maximum(lo - 1, 0)
    jn = np.minimum(lo, m - 1)
    head_ok = has_inside & (lo >= 1) & us[j]
    lin = ~np.bool_(sig.stepped) & us[j] & us[jn]
    piece(ts[jn] - a, ii.edges.start, np.where(lin, v[jn], v[j]), head_ok)
    t_last = np.maximum(hi - 1, 0)
    piece(b - ts[t_last], v[t_last], ii.edges.end_left, has_inside & us[t_last])
    within_ok = ~has_inside & (lo >= 1) & us[j]
    piece(b - a, ii.edges.start, ii.edges.end_left, within_ok)
    return out


def _squared_deviation_fill(
    sig: Signal, lo: NDArray[np.intp], hi: NDArray[np.intp], mu: NDArray[np.float64]
) -> Callable[[int, int, NDArray[np.float64]], None]:
    """Block filler: ``(p² + p q + q²) dt`` per segment, p and q its ends minus its
    interval's mean (3x the exact ∫ (s - mean)² dt of a linear or held segment)."""
    ts, v, us = sig.ts, sig.values, sig.usable
    all_usable, stepped = sig.all_usable, sig.stepped

    def fill(s: int, e: int, out: NDArray[np.float64]) -> None:
        # the mean of the interval holding point i, for i in [s, e) (0 outside every interval)
        k0 = int(np.searchsorted(hi, s, "right"))
        k1 = int(np.searchsorted(lo, e, "left"))
        mean_at = np.zeros(e - s)
        if k1 > k0:
            first = max(int(lo[k0]), s)
            spans = np.minimum(hi[k0:k1], e) - np.maximum(lo[k0:k1], s)
            mean_at[first - s : first - s + int(spans.sum())] = np.repeat(mu[k0:k1], spans)
        if all_usable:
            p = v[s:e] - mean_at
            q = p if stepped else v[s + 1 : e + 1] - mean_at
        else:
            u0 = us[s:e]
            p = np.where(u0, v[s:e], 0.0) - mean_at
            q = p if stepped else np.where(u0 & us[s + 1 : e + 1], v[s + 1 : e + 1] - mean_at, p)
        np.multiply(p, p, out=out)
        out += p * q
        out += q * q
        out *= ts[s + 1 : e + 1] - ts[s:e]
        if not all_usable:
            out[~us[s:e]] = 0.0

    return fill
