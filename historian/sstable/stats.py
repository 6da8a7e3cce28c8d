"""Per-chunk summary statistics: the record stored in a segment's stats block (format v2).

One record per chunk of at least ``STATS_MIN_POINTS`` points, so aggregates
over long ranges read the index instead of decoding every chunk. Smaller
chunks (L0 flush files, sparse tags) carry none: decoding them costs about
what reading their record would save, and 136 bytes on a 100-point chunk
would be 1.4 B/point of overhead. Definitions (docs/format/segment.md):

- *usable* point: quality severity not Bad and a finite value. Only usable
  points enter arithmetic (min, max, sum, m2, integrals). Uncertain points are
  usable (OPC UA ``TreatUncertainAsBad=False``); a caller that treats them as
  Bad may use a record only when ``good_count + bad_count == count``.
- integrals and durations cover the chunk's own span ``[min_ts, max_ts]``:
  the segment from point i to point i+1 within the chunk. The stretch from a
  chunk's last point to the next chunk's first point is the caller's, from the
  records' ``last_*`` / ``first_*`` fields.
  ``tw_step`` = sum of v_i * (t_{i+1} - t_i) over usable i (value x ns);
  ``tw_linear`` = sum of (v_i + v_{i+1}) / 2 * (t_{i+1} - t_i) where both ends
  are usable; ``dur_step`` / ``dur_linear`` the matching ns, so
  ``tw_step / dur_step`` is the chunk's stepped time-weighted average.
  ``good_duration`` / ``bad_duration``: ns whose starting point is Good / Bad
  (a status holds until the next point); Uncertain is the rest of the span.

>>> import numpy as np
>>> ts = np.array([0, 10, 20, 40], np.int64)
>>> v = np.array([1.0, 3.0, 2.0, 5.0])
>>> q = np.array([0, 0, 0x8000, 0], np.uint16)
>>> r = compute_chunk_stats(ts, v, q, np.array([0]), np.array([4]))[0]
>>> int(r["count"]), int(r["n"]), float(r["min"]), float(r["max"]), int(r["max_at"])
(4, 3, 1.0, 5.0, 40)
>>> float(r["tw_step"]), int(r["dur_step"]), int(r["bad_duration"])
(40.0, 20, 20)
>>> float(r["tw_linear"]), int(r["dur_linear"])  # only the 0..10 segment has two usable ends
(20.0, 10)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

STATS_MIN_POINTS = 1024
"""Chunks with fewer points get no stats record (readers decode them instead)."""

STATS_RECORD_DTYPE = np.dtype(
    [
        ("entry", "<u4"),
        ("good_count", "<u4"),
        ("bad_count", "<u4"),
        ("n", "<u4"),
        ("first_value", "<f8"),
        ("last_value", "<f8"),
        ("first_quality", "<u2"),
        ("last_quality", "<u2"),
        ("reserved", "<u4"),
        ("min", "<f8"),
        ("max", "<f8"),
        ("min_at", "<i8"),
        ("max_at", "<i8"),
        ("sum", "<f8"),
        ("m2", "<f8"),
        ("tw_step", "<f8"),
        ("tw_linear", "<f8"),
        ("dur_step", "<i8"),
        ("dur_linear", "<i8"),
        ("good_duration", "<i8"),
        ("bad_duration", "<i8"),
    ]
)
"""On disk, 136 bytes: ``entry`` is the chunk's row in the segment index."""

_STAT_FIELDS = [n for n in STATS_RECORD_DTYPE.names or () if n not in ("entry", "reserved")]

_SUMMARY_FIELDS: list[tuple[str, Any]] = [
    ("min_ts", "<i8"),
    ("max_ts", "<i8"),
    ("count", "<u4"),
    ("has_stats", "?"),
]
CHUNK_SUMMARY_DTYPE = np.dtype(_SUMMARY_FIELDS + [(n, STATS_RECORD_DTYPE[n]) for n in _STAT_FIELDS])
"""What a source answers per chunk (the read seam): index fields + stats.

``min_ts`` / ``max_ts`` are the chunk's first and last timestamps, ``count``
its points. When ``has_stats`` is False only those three are meaningful and
the caller decodes the chunk (old files, small chunks, memtables).
"""


def compute_chunk_stats(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    starts: NDArray[np.int64],
    ends: NDArray[np.int64],
) -> NDArray[np.void]:
    """CHUNK_SUMMARY_DTYPE records for chunks ``[starts[k], ends[k])`` of one series.

    One compiled pass per chunk (plus one for ``m2``) over all chunks at once,
    writing the records directly (about 30 us for a 3,600-point chunk).
    """
    out = np.zeros(len(starts), CHUNK_SUMMARY_DTYPE)
    if len(starts):
        _run(out, ts, values, quality, starts, ends)
        out["has_stats"] = True
    return out


def stats_records(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    starts: NDArray[np.int64],
    ends: NDArray[np.int64],
    entries: NDArray[np.int64],
) -> NDArray[np.void]:
    """On-disk STATS_RECORD_DTYPE rows for the same chunks (index rows ``entries``)."""
    out = np.zeros(len(starts), STATS_RECORD_DTYPE)
    if len(starts):
        _run(out, ts, values, quality, starts, ends)
        out["entry"] = entries
    return out


def _run(
    out: NDArray[np.void],
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    starts: NDArray[np.int64],
    ends: NDArray[np.int64],
) -> None:
    st = np.ascontiguousarray(starts, np.int64)
    en = np.ascontiguousarray(ends, np.int64)
    t = np.ascontiguousarray(ts, np.int64)
    v = np.ascontiguousarray(values, np.float64)
    q = np.ascontiguousarray(quality, np.uint16)
    if out.dtype == CHUNK_SUMMARY_DTYPE:
        _summary_kernel(t, v, q, st, en, out)
    else:
        _record_kernel(t, v, q, st, en, out)


@njit(cache=True, nogil=True, inline="always")
def _one_chunk(  # type: ignore[no-untyped-def]
    ts: NDArray[np.int64],
    v: NDArray[np.float64],
    q: NDArray[np.uint16],
    a: int,
    b: int,
    r,
) -> None:  # pragma: no cover - compiled; tested through compute_chunk_stats
    good = bad = n = 0
    min_at = max_at = 0
    vmin, vmax, total = np.inf, -np.inf, 0.0
    tw_step = tw_linear = 0.0
    dur_step = dur_linear = good_dur = bad_dur = 0
    x = v[a]
    sev = q[a] >> 14
    ok = sev < 2 and x - x == 0.0  # x - x is 0 exactly when x is finite
    for i in range(a, b):
        if sev == 0:
            good += 1
        elif sev >= 2:
            bad += 1
        if ok:
            n += 1
            total += x
            if x < vmin:
                vmin, min_at = x, ts[i]
            if x > vmax:
                vmax, max_at = x, ts[i]
        if i + 1 < b:
            nxt = v[i + 1]
            sev_next = q[i + 1] >> 14
            ok_next = sev_next < 2 and nxt - nxt == 0.0
            dt = ts[i + 1] - ts[i]
            if ok:
                tw_step += x * dt
                dur_step += dt
                if ok_next:
                    tw_linear += (x + nxt) * 0.5 * dt
                    dur_linear += dt
            if sev == 0:
                good_dur += dt
            elif sev >= 2:
                bad_dur += dt
            x, sev, ok = nxt, sev_next, ok_next
    m2 = 0.0
    if n:
        mean = total / n
        for i in range(a, b):
            d = v[i] - mean
            if (q[i] >> 14) < 2 and d - d == 0.0:
                m2 += d * d
    else:
        vmin = vmax = np.nan
    r.good_count, r.bad_count, r.n = good, bad, n
    r.first_value, r.last_value = v[a], v[b - 1]
    r.first_quality, r.last_quality = q[a], q[b - 1]
    r.min, r.max, r.min_at, r.max_at = vmin, vmax, min_at, max_at
    r.sum, r.m2, r.tw_step, r.tw_linear = total, m2, tw_step, tw_linear
    r.dur_step, r.dur_linear = dur_step, dur_linear
    r.good_duration, r.bad_duration = good_dur, bad_dur


@njit(cache=True, nogil=True)
def _summary_kernel(ts, v, q, starts, ends, out):  # type: ignore[no-untyped-def]
    for c in range(len(starts)):  # pragma: no cover - compiled
        a, b = starts[c], ends[c]
        r = out[c]
        r.min_ts, r.max_ts, r.count = ts[a], ts[b - 1], b - a
        _one_chunk(ts, v, q, a, b, r)


@njit(cache=True, nogil=True)
def _record_kernel(ts, v, q, starts, ends, out):  # type: ignore[no-untyped-def]
    for c in range(len(starts)):  # pragma: no cover - compiled
        _one_chunk(ts, v, q, starts[c], ends[c], out[c])


def summaries_from_index(index: NDArray[np.void], records: NDArray[np.void]) -> NDArray[np.void]:
    """One CHUNK_SUMMARY_DTYPE row per index entry, stats filled where a record exists."""
    out = np.zeros(len(index), CHUNK_SUMMARY_DTYPE)
    out["min_ts"], out["max_ts"], out["count"] = index["min_ts"], index["max_ts"], index["count"]
    if len(records):
        rows = records["entry"].astype(np.intp)
        out["has_stats"][rows] = True
        for name in _STAT_FIELDS:
            out[name][rows] = records[name]
    return out
