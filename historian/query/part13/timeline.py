"""The time axis cut into elementary segments, and sums of them per interval.

Every raw timestamp and every interval edge is a breakpoint; between two
neighbouring breakpoints the series is one straight (or flat) piece with one
quality, so every time-weighted aggregate is a sum over segments. Each segment
lies in exactly one interval, so the sums are ``np.bincount`` calls: no Python
loop over intervals or points.

Two readings of the same axis:

* **simple** (Part 13 simple bounds): a segment takes the quality of the point
  that starts it — the raw value at its left end, or the simple bound there.
  Its kind is Good, Uncertain or Bad, or *outside* the data: before the first
  raw value, or after the last one (the "end of data": nothing is known yet).
* **interpolated** (Part 13 interpolated bounds): Bad raw values are stepped
  over; a segment is Good when it lies between Good values with no Bad value
  between them, Uncertain otherwise (and after the last non-Bad value, where
  it is extrapolated); before the first non-Bad value it is outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.query.part13.bounds import lerp, simple_bounds
from historian.query.part13.config import Intervals
from historian.query.part13.raw import BAD_CLASS, GOOD_CLASS, RawSeries

GOOD_KIND = 0
UNCERTAIN_KIND = 1
BAD_KIND = 2
BEFORE_KIND = 3
AFTER_KIND = 4


@dataclass(frozen=True, slots=True)
class Timeline:
    """Segments ``[a, b)`` with their interval, kind and end values."""

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    interval: NDArray[np.intp]
    kind: NDArray[np.uint8]
    va: NDArray[np.float64]  # value just after a (NaN when Bad/outside)
    vb: NDArray[np.float64]  # value just before b
    no_data_marker: NDArray[np.bool_]  # the segment is covered by a Bad_NoData marker
    n_intervals: int

    @property
    def duration(self) -> NDArray[np.float64]:
        return (self.b - self.a).astype(np.float64)

    def per_interval(self, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        """Sum ``weights`` (one per segment) into their intervals."""
        summed = np.bincount(self.interval, weights=weights, minlength=self.n_intervals)
        out: NDArray[np.float64] = summed.astype(np.float64)
        return out

    def durations_by_kind(self) -> NDArray[np.float64]:
        """(5, n_intervals): time of each kind (GOOD..AFTER) per interval, in one pass."""
        n = self.n_intervals
        key = self.kind.astype(np.intp) * n + self.interval
        summed = np.bincount(key, weights=self.duration, minlength=5 * n)
        out: NDArray[np.float64] = summed.astype(np.float64).reshape(5, n)
        return out

    def integral(self, *, include_uncertain: bool = True) -> NDArray[np.float64]:
        """Per interval, the integral of the value over non-Bad segments (value x ns)."""
        ok = (self.kind == GOOD_KIND) | ((self.kind == UNCERTAIN_KIND) & include_uncertain)
        area = np.where(ok, 0.5 * (self.va + self.vb) * self.duration, 0.0)
        return self.per_interval(area)


def _breakpoints(raw: RawSeries, iv: Intervals) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    edges = np.concatenate([iv.lo, iv.hi[-1:]])
    a = np.searchsorted(raw.ts, iv.lo[0], side="right")
    b = np.searchsorted(raw.ts, iv.hi[-1], side="left")
    # Two sorted runs: a stable sort merges them in linear time; then drop repeats.
    pts = np.concatenate([edges, raw.ts[a:b]])
    pts.sort(kind="stable")
    keep = np.ones(pts.size, np.bool_)
    keep[1:] = pts[1:] != pts[:-1]
    pts = pts[keep]
    seg_iv = (np.searchsorted(iv.lo, pts[:-1], side="right") - 1).astype(np.intp)
    return pts, seg_iv


def simple_timeline(raw: RawSeries, iv: Intervals) -> Timeline:
    """Segments read with simple-bound semantics (see the module docstring)."""
    pts, seg_iv = _breakpoints(raw, iv)
    a, b = pts[:-1], pts[1:]
    n = raw.n
    kind = np.full(a.shape, BEFORE_KIND, np.uint8)
    va = np.full(a.shape, np.nan)
    vb = np.full(a.shape, np.nan)
    marker = np.zeros(a.shape, np.bool_)
    if n:
        k = (np.searchsorted(raw.ts, a, side="right") - 1).astype(np.intp)
        kc = np.clip(k, 0, n - 1)
        nxt = np.clip(k + 1, 0, n - 1)
        has_p, has_n = k >= 0, k + 1 < n
        at_raw = has_p & (raw.ts[kc] == a)
        # Only an interval edge can start a segment without a raw value there.
        cls = raw.cls[kc].copy()
        edge = np.flatnonzero(~at_raw)
        cls[edge] = simple_bounds(raw, a[edge]).cls
        kind = np.where(
            ~has_p, BEFORE_KIND, np.where(~has_n, AFTER_KIND, cls.astype(np.uint8))
        ).astype(np.uint8)
        marker = has_p & raw.no_data_marker[kc]
        vp = raw.values[kc]
        if raw.config.stepped:
            va, vb = vp.copy(), vp.copy()
        else:
            slope_ok = raw.cls[nxt] != BAD_CLASS
            t0, t1, v1 = raw.ts[kc], raw.ts[nxt], raw.values[nxt]
            va = np.where(slope_ok, lerp(t0, vp, t1, v1, a), vp)
            vb = np.where(slope_ok, lerp(t0, vp, t1, v1, b), vp)
        live = (kind == GOOD_KIND) | (kind == UNCERTAIN_KIND)
        va = np.where(live, va, np.nan)
        vb = np.where(live, vb, np.nan)
    return Timeline(a, b, seg_iv, kind, va, vb, marker, len(iv))


def interpolated_timeline(raw: RawSeries, iv: Intervals) -> Timeline:
    """Segments read with interpolated-bound semantics (see the module docstring)."""
    pts, seg_iv = _breakpoints(raw, iv)
    a, b = pts[:-1], pts[1:]
    u = raw.usable_index
    m = int(u.size)
    kind = np.full(a.shape, BEFORE_KIND, np.uint8)
    va = np.full(a.shape, np.nan)
    vb = np.full(a.shape, np.nan)
    marker = np.zeros(a.shape, np.bool_)
    if raw.n:
        k = (np.searchsorted(raw.ts, a, side="right") - 1).astype(np.intp)
        marker = (k >= 0) & raw.no_data_marker[np.clip(k, 0, raw.n - 1)]
    if m:
        cfg = raw.config
        uts = raw.ts[u]
        j = (np.searchsorted(uts, a, side="right") - 1).astype(np.intp)
        has_p = j >= 0
        jc = np.clip(j, 0, m - 1)
        p, q = u[jc], u[np.clip(j + 1, 0, m - 1)]
        has_next = j + 1 < m
        vp = raw.values[p]
        if cfg.stepped:
            va_in = vb_in = vp
            bad_since = (
                raw.bad_before[np.searchsorted(raw.ts, a, side="right")] - raw.bad_before[p + 1]
            ) > 0
            good = (raw.cls[p] == GOOD_CLASS) & ~bad_since
        else:
            t0, t1, v1 = raw.ts[p], raw.ts[q], raw.values[q]
            va_in, vb_in = lerp(t0, vp, t1, v1, a), lerp(t0, vp, t1, v1, b)
            good = (raw.cls[p] == GOOD_CLASS) & (raw.cls[q] == GOOD_CLASS) & ~raw.bad_between(p, q)
        if cfg.use_sloped_extrapolation and not cfg.stepped and m >= 2:
            p0, p1 = u[m - 2], u[m - 1]
            t0e, v0e, t1e, v1e = raw.ts[p0], raw.values[p0], raw.ts[p1], raw.values[p1]
            va_ex = lerp(
                np.full(a.shape, t0e),
                np.full(a.shape, v0e),
                np.full(a.shape, t1e),
                np.full(a.shape, v1e),
                a,
            )
            vb_ex = lerp(
                np.full(a.shape, t0e),
                np.full(a.shape, v0e),
                np.full(a.shape, t1e),
                np.full(a.shape, v1e),
                b,
            )
        else:
            va_ex = vb_ex = vp
        va = np.where(has_p, np.where(has_next, va_in, va_ex), np.nan)
        vb = np.where(has_p, np.where(has_next, vb_in, vb_ex), np.nan)
        kind = np.where(
            ~has_p, BEFORE_KIND, np.where(has_next & good, GOOD_KIND, UNCERTAIN_KIND)
        ).astype(np.uint8)
    return Timeline(a, b, seg_iv, kind, va, vb, marker, len(iv))


__all__ = [
    "AFTER_KIND",
    "BAD_KIND",
    "BEFORE_KIND",
    "GOOD_KIND",
    "UNCERTAIN_KIND",
    "Timeline",
    "interpolated_timeline",
    "simple_timeline",
]
