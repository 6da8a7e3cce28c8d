"""Vectorised alignment primitives of the shadow diff (numpy only, no per-point Python).

- :func:`signal_at`: a recorded signal's value at arbitrary times (linear or stepped),
  NaN outside its recorded span: the legacy's reconstruction at twinbench's
  timestamps, and twinbench's own signal during the offset search;
- :func:`skew_residual`: how far a legacy value lies from the range twinbench's
  signal covers within +-skew of its timestamp (0 inside it);
- :func:`estimate_offset`: a constant time offset between the two, by trying
  shifts on the sample grid and keeping one that explains the legacy values;
- :func:`estimate_scale`: a constant ratio (unit/scale error) between the two;
- :func:`runs`: contiguous stretches of a boolean mask.

>>> import numpy as np
>>> signal_at(np.array([0, 10]), np.array([0.0, 1.0]), np.array([5, 20]), stepped=False).tolist()
[0.5, nan]
>>> runs(np.array([0, 1, 1, 0, 1], bool))
(array([1, 4]), array([2, 4]))
"""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_offset", "estimate_scale", "runs", "signal_at", "skew_residual"]

OFFSET_SAMPLE = 4096
"""Legacy points the offset search scores each candidate shift on."""
EXPLAINED = 0.9
"""Share of compared points a shift or ratio must bring within tolerance to be reported."""


def signal_at(ts: np.ndarray, v: np.ndarray, at: np.ndarray, *, stepped: bool) -> np.ndarray:
    """Values of the recorded signal ``(ts, v)`` at ``at``;
    NaN before the first or after the last."""
    out = np.full(len(at), np.nan)
    if len(ts) == 0:
        return out
    inside = (at >= ts[0]) & (at <= ts[-1])
    if stepped:
        idx = np.searchsorted(ts, at[inside], side="right") - 1
        out[inside] = v[idx]
    else:
        out[inside] = np.interp(at[inside].astype(np.float64), ts.astype(np.float64), v)
    return out


def skew_residual(legacy: np.ndarray, *around: np.ndarray) -> np.ndarray:
    """Distance of ``legacy`` from [min, max] of twinbench's values ``around`` its time."""
    stack = np.vstack(around)
    lo = np.fmin.reduce(stack, axis=0)  # NaN-ignoring, and silent on an all-NaN column
    hi = np.fmax.reduce(stack, axis=0)
    out: np.ndarray = np.maximum(np.maximum(lo - legacy, legacy - hi), 0.0)
    return out


def _explained(
    l_ts: np.ndarray, l_v: np.ndarray, t_ts: np.ndarray, t_v: np.ndarray, shift: int,
    tol: np.ndarray, stepped: bool,
) -> float:  # fmt: skip
    at = signal_at(t_ts, t_v, l_ts - shift, stepped=stepped)
    ok = np.isfinite(at)
    if not ok.any():
        return 0.0
    return float(np.mean(np.abs(l_v[ok] - at[ok]) <= tol[ok]))


def estimate_offset(
    l_ts: np.ndarray,
    l_v: np.ndarray,
    t_ts: np.ndarray,
    t_v: np.ndarray,
    tol: np.ndarray,
    *,
    stepped: bool,
    max_offset_ns: int,
    min_offset_ns: int,
) -> tuple[int, float, float]:
    """``(offset_ns, explained_at_0, explained_at_offset)``; offset 0 when no shift explains better.

    Candidates: the shifts ``m + k * period`` within ``max_offset_ns``, where
    ``period`` is twinbench's median sampling interval and ``m`` the median
    distance of the legacy stamps from the nearest twinbench stamp (so offsets
    off the sample grid are found too). A shift is reported only if it brings
    at least ``EXPLAINED`` of the legacy points within tolerance while no shift
    does, and it is larger than ``min_offset_ns`` (the skew tolerance).
    """
    if len(l_ts) < 3 or len(t_ts) < 3:
        return 0, 1.0, 1.0
    step = max(1, len(l_ts) // OFFSET_SAMPLE)
    ls, lv, lt = l_ts[::step], l_v[::step], tol[::step]
    at0 = _explained(ls, lv, t_ts, t_v, 0, lt, stepped)
    if at0 >= EXPLAINED:
        return 0, at0, at0
    period = int(np.median(np.diff(t_ts)))
    if period <= 0:
        return 0, at0, at0
    near = np.clip(np.searchsorted(t_ts, ls), 1, len(t_ts) - 1)
    left_closer = (ls - t_ts[near - 1]) < (t_ts[near] - ls)
    nearest = np.where(left_closer, t_ts[near - 1], t_ts[near])
    frac = int(np.median(ls - nearest))
    k = max_offset_ns // period
    if k > 200:  # a fine grid is useless at this range: search on a coarser one
        period, k = max_offset_ns // 200, 200
    best, best_score = 0, at0
    for shift in sorted({frac + i * period for i in range(-k, k + 1)} - {0}, key=abs):
        if abs(shift) > max_offset_ns:
            continue
        score = _explained(ls, lv, t_ts, t_v, shift, lt, stepped)
        if score > best_score + 1e-12:
            best, best_score = shift, score
    if best_score >= EXPLAINED and abs(best) > min_offset_ns:
        return best, at0, best_score
    return 0, at0, best_score


def estimate_scale(legacy: np.ndarray, twin: np.ndarray, tol: np.ndarray) -> float | None:
    """A constant ratio legacy/twinbench explaining the values, or None (ratio ~1 or none)."""
    big = np.abs(twin) > np.maximum(tol * 10, 1e-12)
    if big.sum() < 3:
        return None
    ratio = float(np.median(legacy[big] / twin[big]))
    if not np.isfinite(ratio) or ratio == 0 or abs(ratio - 1.0) < 1e-6:
        return None
    fits = np.abs(legacy[big] - ratio * twin[big]) <= tol[big] * max(1.0, abs(ratio))
    plain = np.abs(legacy[big] - twin[big]) <= tol[big]
    if not (fits.mean() >= EXPLAINED and plain.mean() < EXPLAINED):
        return None
    # a constant bias (calibration offset) also looks like a ratio over a narrow value range:
    # the ratio is the finding only if it explains the values better than a bias does
    l_big, t_big = legacy[big], twin[big]
    bias = float(np.median(l_big - t_big))
    by_ratio = float(np.median(np.abs(l_big - ratio * t_big)))
    by_bias = float(np.median(np.abs(l_big - t_big - bias)))
    return ratio if by_ratio < by_bias else None


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and the last element of every run of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
