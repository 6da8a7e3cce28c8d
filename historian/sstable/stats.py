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

    Vectorised over all chunks at once (``reduceat``), no Python loop per chunk.
    Chunks must be non-empty, contiguous and in order (ends[k] == starts[k+1]).
    """
    k = len(starts)
    out = np.zeros(k, CHUNK_SUMMARY_DTYPE)
    if k == 0:
        return out
    lo, hi = int(starts[0]), int(ends[-1])
    t, v, q = ts[lo:hi], values[lo:hi], quality[lo:hi]
    st = (starts - lo).astype(np.intp)
    last = (ends - lo - 1).astype(np.intp)
    counts = (ends - starts).astype(np.int64)
    sev = q >> 14
    good = sev == 0
    bad = sev >= 2
    usable = ~bad & np.isfinite(v)
    vz = np.where(usable, v, 0.0)
    # dt[i]: from point i to i+1 inside its chunk; 0 for each chunk's last point
    dt = np.zeros(len(t), np.int64)
    dt[:-1] = np.diff(t)
    dt[last] = 0
    both = np.zeros(len(t), bool)
    both[:-1] = usable[:-1] & usable[1:]
    both[last] = False
    v_next = np.zeros(len(t))
    v_next[:-1] = vz[1:]

    def total(x: NDArray[Any]) -> NDArray[Any]:
        return np.add.reduceat(x, st)

    out["min_ts"], out["max_ts"], out["count"] = t[st], t[last], counts
    out["has_stats"] = True
    out["good_count"] = total(good.astype(np.int64))
    out["bad_count"] = total(bad.astype(np.int64))
    n = total(usable.astype(np.int64))
    out["n"] = n
    out["first_value"], out["last_value"] = v[st], v[last]
    out["first_quality"], out["last_quality"] = q[st], q[last]
    vmin = np.minimum.reduceat(np.where(usable, v, np.inf), st)
    vmax = np.maximum.reduceat(np.where(usable, v, -np.inf), st)
    some = n > 0
    out["min"] = np.where(some, vmin, np.nan)
    out["max"] = np.where(some, vmax, np.nan)
    chunk_of = np.repeat(np.arange(k), counts)
    out["min_at"] = _first_ts_where(usable & (v == vmin[chunk_of]), chunk_of, t, k)
    out["max_at"] = _first_ts_where(usable & (v == vmax[chunk_of]), chunk_of, t, k)
    s = total(vz)
    out["sum"] = s
    mean = np.divide(s, n, out=np.zeros(k), where=some)
    dev = np.where(usable, v - mean[chunk_of], 0.0)
    out["m2"] = total(dev * dev)
    dtf = dt.astype(np.float64)
    out["tw_step"] = total(vz * dtf)
    out["tw_linear"] = total(np.where(both, (vz + v_next) * 0.5 * dtf, 0.0))
    out["dur_step"] = total(np.where(usable, dt, 0))
    out["dur_linear"] = total(np.where(both, dt, 0))
    out["good_duration"] = total(np.where(good, dt, 0))
    out["bad_duration"] = total(np.where(bad, dt, 0))
    return out


def _first_ts_where(
    mask: NDArray[np.bool_], chunk_of: NDArray[np.int64], t: NDArray[np.int64], k: int
) -> NDArray[np.int64]:
    """Per chunk, the timestamp of the first point where ``mask`` holds (0 if none)."""
    out = np.zeros(k, np.int64)
    idx = np.flatnonzero(mask)
    chunks, first = np.unique(chunk_of[idx], return_index=True)
    out[chunks] = t[idx[first]]
    return out


def to_records(summaries: NDArray[np.void], entries: NDArray[np.int64]) -> NDArray[np.void]:
    """The on-disk STATS_RECORD_DTYPE rows for ``summaries`` (index rows ``entries``)."""
    rec = np.zeros(len(summaries), STATS_RECORD_DTYPE)
    rec["entry"] = entries
    for name in _STAT_FIELDS:
        rec[name] = summaries[name]
    return rec


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
