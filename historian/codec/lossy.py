"""Lossy filters in the PI style, kept apart from the lossless codecs.

Both filters return a boolean mask of the points to keep; the kept points are
then stored losslessly (``encode_chunk``). Readers reconstruct the signal by
linear interpolation between kept points, and :func:`fidelity` scores that
reconstruction against the original.

- Exception (deadband) reporting: a point is kept when it differs from the
  last kept value by more than ``exc_dev``, or ``exc_max`` has passed since the
  last kept point; points less than ``exc_min`` after the last kept point are
  dropped. As in PI, the point *before* an exception is kept too, so the
  interpolated slope into the change is right. Every dropped point is within
  ExcDev of the last kept *value*; the interpolated reconstruction can be up
  to 2 x ExcDev away (``fidelity`` reports what it really is).
- Swinging-door compression (CompDev, CompMax, CompMin): from the last
  archived point, every new point narrows a "door" of slopes that keeps all
  held points within ``comp_dev``; when the line from the pivot to a new
  point leaves the door (or CompMax has passed) the previous point is
  archived and becomes the new pivot. Because the *line to the archived
  point* (not just some line) must pass the door, every dropped point lies
  within CompDev of the interpolated reconstruction (unless CompMin held
  it back). The first and last points are always kept.

Non-finite values (NaN = bad reading, +-inf) are always kept with their
neighbours and never used as a pivot slope. Timestamps are int64 ns; the
time limits are in ns too. Equal timestamps are kept (no slope exists).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

NO_LIMIT = np.iinfo(np.int64).max


@njit(cache=True, nogil=True)
def _swinging_door(
    ts: NDArray[np.int64], v: NDArray[np.float64], dev: float, comp_max: int, comp_min: int
) -> NDArray[np.bool_]:
    n = ts.size
    keep = np.zeros(n, np.bool_)
    if n == 0:
        return keep
    keep[0] = True
    keep[n - 1] = True
    a = 0  # the pivot: the last archived point
    upper = math.inf  # slopes from the pivot that keep every held point within dev
    lower = -math.inf
    for i in range(1, n):
        if not (math.isfinite(v[i]) and math.isfinite(v[a])) or ts[i] == ts[a]:
            keep[i - 1] = True
            keep[i] = True
            a = i
            upper, lower = math.inf, -math.inf
            continue
        slope = (v[i] - v[a]) / float(ts[i] - ts[a])
        fits = lower <= slope <= upper and ts[i] - ts[a] <= comp_max
        if not fits and i - 1 > a and ts[i - 1] - ts[a] >= comp_min:
            keep[i - 1] = True
            a = i - 1
            upper, lower = math.inf, -math.inf
            if ts[i] == ts[a]:
                keep[i] = True
                a = i
                continue
        dt = float(ts[i] - ts[a])
        upper = min(upper, (v[i] + dev - v[a]) / dt)
        lower = max(lower, (v[i] - dev - v[a]) / dt)
    return keep


@njit(cache=True, nogil=True)
def _exception_filter(
    ts: NDArray[np.int64], v: NDArray[np.float64], dev: float, exc_max: int, exc_min: int
) -> NDArray[np.bool_]:
    n = ts.size
    keep = np.zeros(n, np.bool_)
    if n == 0:
        return keep
    keep[0] = True
    keep[n - 1] = True
    last = 0
    for i in range(1, n):
        if ts[i] == ts[i - 1]:
            keep[i] = keep[i - 1] = True  # equal timestamps: no interpolation exists
            last = i
            continue
        if ts[i] - ts[last] < exc_min:
            continue
        changed = abs(v[i] - v[last]) > dev or not (math.isfinite(v[i]) and math.isfinite(v[last]))
        if changed or ts[i] - ts[last] >= exc_max:
            keep[i] = True
            keep[i - 1] = True  # PI sends the previous value with an exception
            last = i
    return keep


def swinging_door(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    comp_dev: float,
    comp_max_ns: int = NO_LIMIT,
    comp_min_ns: int = 0,
) -> NDArray[np.bool_]:
    """Mask of points a PI-style swinging-door archive keeps (first and last always)."""
    if comp_dev < 0:
        raise ValueError(f"comp_dev must be >= 0, got {comp_dev}")
    t = np.ascontiguousarray(ts, np.int64)
    return _swinging_door(
        t, np.ascontiguousarray(values, np.float64), comp_dev, comp_max_ns, comp_min_ns
    )


def exception_filter(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    exc_dev: float,
    exc_max_ns: int = NO_LIMIT,
    exc_min_ns: int = 0,
) -> NDArray[np.bool_]:
    """Mask of points PI-style exception (deadband) reporting passes on."""
    if exc_dev < 0:
        raise ValueError(f"exc_dev must be >= 0, got {exc_dev}")
    t = np.ascontiguousarray(ts, np.int64)
    return _exception_filter(
        t, np.ascontiguousarray(values, np.float64), exc_dev, exc_max_ns, exc_min_ns
    )


def dev_from_span_percent(values: NDArray[np.float64], percent: float) -> float:
    """CompDev/ExcDev as a percentage of the finite value span (how PI configures it)."""
    finite = values[np.isfinite(values)]
    return float(np.ptp(finite)) * percent / 100.0 if finite.size else 0.0


@dataclass(frozen=True, slots=True)
class Fidelity:
    """How far the linearly interpolated kept points are from the original samples."""

    points: int
    kept: int
    max_abs_error: float
    """Largest |original - reconstruction| at any original sample (value units)."""
    twa_abs_error: float
    """Time-weighted average of |original - reconstruction| over the span (value units)."""
    integral_error: float
    """|integral of original - integral of reconstruction| (value x seconds)."""
    twa_error: float
    """|time-weighted average of original - of reconstruction| = integral_error / duration."""


def _trapezoid(y: NDArray[np.float64], t_s: NDArray[np.float64]) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(t_s)) / 2.0) if y.size > 1 else 0.0


def fidelity(
    ts: NDArray[np.int64], values: NDArray[np.float64], keep: NDArray[np.bool_]
) -> Fidelity:
    """Score the reconstruction from ``keep``; non-finite samples are left out of the math."""
    finite = np.isfinite(values)
    t_s = (ts - (ts[0] if ts.size else 0)).astype(np.float64) / 1e9
    kept = keep & finite
    t, v = t_s[finite], values[finite]
    if v.size == 0 or not kept.any():
        return Fidelity(int(ts.size), int(keep.sum()), 0.0, 0.0, 0.0, 0.0)
    recon = np.interp(t, t_s[kept], values[kept])
    recon[kept[finite]] = v[kept[finite]]  # kept points are exact (also at equal timestamps)
    err = v - recon
    duration = float(t[-1] - t[0])
    integral = abs(_trapezoid(v, t) - _trapezoid(recon, t))
    twa_abs = _trapezoid(np.abs(err), t) / duration if duration > 0 else float(np.abs(err).mean())
    return Fidelity(
        points=int(ts.size),
        kept=int(keep.sum()),
        max_abs_error=float(np.abs(err).max()),
        twa_abs_error=twa_abs,
        integral_error=integral,
        twa_error=integral / duration if duration > 0 else 0.0,
    )
