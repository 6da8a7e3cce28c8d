"""Part 13 bounding values: the value of a series *at* an interval edge.

Two kinds (Part 13, 3.1.8 and 3.1.9), both vectorised over many edge times:

* **Interpolated bounds** (Interpolative, TimeAverage, Total): from the nearest
  *non-Bad* raw values before and after the edge, skipping Bad ones. Sloped
  (``stepped=False``) joins them with a line; stepped holds the earlier value.
  The bound is Good only when it is a Good raw value at the edge, or when it
  is drawn between Good values with no Bad value in between (stepped: no Bad
  value between the held value and the edge); otherwise it is
  Uncertain_DataSubNormal. After the last non-Bad value the bound is
  *extrapolated* — stepped (the last value) unless ``UseSlopedExtrapolation``
  (the line through the last two non-Bad values) — and is always
  Uncertain_DataSubNormal. Before the first non-Bad value there is no bound.

* **Simple bounds** (the "2" aggregates, StartBound/EndBound, the durations):
  from the raw values immediately before and after the edge *even if Bad*.
  A Bad value before the edge makes the bound Bad. Sloped: a line to the
  value after when that one is non-Bad (Good only if both ends are Good,
  else Uncertain); when the value after is Bad the earlier value is held and
  the bound is Uncertain. Stepped: the earlier value with its own status.
  Simple bounds are never extrapolated: after the end of data there is none.
  For an *end* bound of stepped data the value is the one holding just before
  the edge, so a raw value exactly at the edge belongs to the next interval.

A raw value exactly at the edge is the bound itself (Raw, not Interpolated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from historian.query.part13.raw import BAD_CLASS, GOOD_CLASS, UNCERTAIN_CLASS, RawSeries
from historian.query.part13.status import (
    BAD_NO_DATA,
    GOOD,
    UNCERTAIN_DATA_SUB_NORMAL,
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Bounding values at edge times ``t`` (all arrays the length of ``t``)."""

    t: NDArray[np.int64]
    exists: NDArray[np.bool_]  # False: no bound (before/after data); value is NaN
    value: NDArray[np.float64]  # NaN when the bound is Bad or missing
    cls: NDArray[np.uint8]  # GOOD/UNCERTAIN/BAD class of the bound
    is_raw: NDArray[np.bool_]  # a raw value sits exactly at t
    code: NDArray[np.uint32]  # StatusCode (top 16 bits) of the bound


def lerp(
    t0: NDArray[np.int64],
    v0: NDArray[np.float64],
    t1: NDArray[np.int64],
    v1: NDArray[np.float64],
    t: NDArray[np.int64],
) -> NDArray[np.float64]:
    span = (t1 - t0).astype(np.float64)
    frac = np.divide((t - t0).astype(np.float64), span, out=np.zeros(t.shape), where=span != 0)
    out: NDArray[np.float64] = v0 + (v1 - v0) * frac
    return out


def simple_bounds(raw: RawSeries, t: NDArray[np.int64], *, end: bool = False) -> Bounds:
    """Simple bounding values at ``t`` (see the module docstring)."""
    n, cfg = raw.n, raw.config
    t = np.asarray(t, np.int64)
    strict_before = end and cfg.stepped
    k = (np.searchsorted(raw.ts, t, side="left" if strict_before else "right") - 1).astype(np.intp)
    kc = np.clip(k, 0, max(n - 1, 0))
    has_p = (k >= 0) & (n > 0)
    exact = has_p & (raw.ts[kc] == t) if n else np.zeros(t.shape, np.bool_)
    nxt = np.clip(k + 1, 0, max(n - 1, 0))
    has_n = (k + 1 < n) & (n > 0)
    value = np.full(t.shape, np.nan)
    cls = np.full(t.shape, BAD_CLASS, np.uint8)
    if n:
        cp, cn = raw.cls[kc], raw.cls[nxt]
        vp, vn = raw.values[kc], raw.values[nxt]
        if cfg.stepped:
            v_between, c_between = vp, cp
        else:
            slope_ok = cn != BAD_CLASS
            v_between = np.where(slope_ok, lerp(raw.ts[kc], vp, raw.ts[nxt], vn, t), vp)
            c_between = np.where(slope_ok, np.maximum(cp, cn), np.maximum(cp, UNCERTAIN_CLASS))
        c_between = np.where(cp == BAD_CLASS, BAD_CLASS, c_between).astype(np.uint8)
        value = np.where(exact, vp, v_between)
        cls = np.where(exact, cp, c_between).astype(np.uint8)
    exists = exact | (has_p & has_n)
    cls = np.where(exists, cls, BAD_CLASS).astype(np.uint8)
    value = np.where(exists & (cls != BAD_CLASS), value, np.nan)
    code = _code_for(cls, exists, exact, raw, kc)
    return Bounds(t, exists, value, cls, exact, code)


def interpolated_bounds(raw: RawSeries, t: NDArray[np.int64]) -> Bounds:
    """Interpolated bounding values at ``t`` (see the module docstring)."""
    cfg = raw.config
    t = np.asarray(t, np.int64)
    u = raw.usable_index
    m = int(u.size)
    value = np.full(t.shape, np.nan)
    cls = np.full(t.shape, BAD_CLASS, np.uint8)
    exists = np.zeros(t.shape, np.bool_)
    exact = np.zeros(t.shape, np.bool_)
    if m == 0:
        return Bounds(t, exists, value, cls, exact, np.full(t.shape, BAD_NO_DATA, np.uint32))
    uts = raw.ts[u]
    j = (np.searchsorted(uts, t, side="right") - 1).astype(np.intp)
    exists = j >= 0
    jc = np.clip(j, 0, m - 1)
    p = u[jc]
    exact = exists & (uts[jc] == t)
    has_next = j + 1 < m
    q = u[np.clip(j + 1, 0, m - 1)]
    vp, cp = raw.values[p], raw.cls[p]
    if cfg.stepped:
        v_in = vp
        # Good only if the held value is Good and no Bad value arrived since.
        bad_since = (
            raw.bad_before[np.searchsorted(raw.ts, t, side="right")] - raw.bad_before[p + 1]
        ) > 0
        good_in = (cp == GOOD_CLASS) & ~bad_since
    else:
        v_in = lerp(raw.ts[p], vp, raw.ts[q], raw.values[q], t)
        good_in = (cp == GOOD_CLASS) & (raw.cls[q] == GOOD_CLASS) & ~raw.bad_between(p, q)
    # Extrapolation past the last non-Bad value.
    if cfg.use_sloped_extrapolation and not cfg.stepped and m >= 2:
        p0 = u[m - 2]
        v_ex = lerp(raw.ts[p0], raw.values[p0], raw.ts[u[m - 1]], raw.values[u[m - 1]], t)
    else:
        v_ex = vp
    value = np.where(exact, vp, np.where(has_next, v_in, v_ex))
    cls = np.where(exact, cp, np.where(has_next & good_in, GOOD_CLASS, UNCERTAIN_CLASS)).astype(
        np.uint8
    )
    value = np.where(exists, value, np.nan)
    cls = np.where(exists, cls, BAD_CLASS).astype(np.uint8)
    code = np.where(
        exact,
        (raw.quality[p].astype(np.uint32) << np.uint32(16)),
        np.where(cls == GOOD_CLASS, np.uint32(GOOD), np.uint32(UNCERTAIN_DATA_SUB_NORMAL)),
    ).astype(np.uint32)
    code = np.where(exists, code, np.uint32(BAD_NO_DATA)).astype(np.uint32)
    return Bounds(t, exists, value, cls, exact, code)


def _code_for(
    cls: NDArray[np.uint8],
    exists: NDArray[np.bool_],
    exact: NDArray[np.bool_],
    raw: RawSeries,
    k: NDArray[np.intp],
) -> NDArray[np.uint32]:
    """StatusCode of a simple bound: the raw code at the edge, else by class."""
    by_class = np.where(
        cls == GOOD_CLASS,
        np.uint32(GOOD),
        np.where(
            cls == UNCERTAIN_CLASS, np.uint32(UNCERTAIN_DATA_SUB_NORMAL), np.uint32(BAD_NO_DATA)
        ),
    ).astype(np.uint32)
    if raw.n:
        raw_code = raw.quality[k].astype(np.uint32) << np.uint32(16)
        by_class = np.where(exact & (cls != BAD_CLASS), raw_code, by_class).astype(np.uint32)
    out: NDArray[np.uint32] = np.where(exists, by_class, np.uint32(BAD_NO_DATA)).astype(np.uint32)
    return out
