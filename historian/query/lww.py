"""Duplicate resolution: the one rule, applied everywhere points meet.

Rule: for the same (series, timestamp), the point written last wins (the
highest WAL sequence number). Sources are always ordered oldest first, and
every sort is stable, so "last in arrival order" means "last written".
(Here, below both the engine and the query layer, so both can use it.)

>>> import numpy as np
>>> t, v, q = merge_columns([
...     (np.array([1, 2]), np.array([1.0, 2.0]), np.array([0, 0], np.uint16)),
...     (np.array([2, 3]), np.array([9.0, 3.0]), np.array([0, 0], np.uint16)),
... ])
>>> t.tolist(), v.tolist()
([1, 2, 3], [1.0, 9.0, 3.0])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from historian.sstable import Columns, empty_columns


def last_of_runs(*keys: NDArray[np.int64] | NDArray[np.uint32]) -> NDArray[np.bool_]:
    """Mask keeping the last element of each run of equal keys (arrays already sorted)."""
    n = len(keys[0])
    keep = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for k in keys:
            same &= k[1:] == k[:-1]
        keep[:-1] = ~same
    return keep


def merge_columns(parts: Sequence[Columns]) -> Columns:
    """One series' columns from several sources (oldest first) -> sorted, deduplicated.

    With more than one part, each must be strictly ascending (as every source
    returns them); a single part may be in arrival order (a memtable's rows).
    """
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return empty_columns()
    if len(parts) == 1:
        ts, v, q = parts[0]
        if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):
            return ts, v, q
    else:
        # time-disjoint parts (hourly files of a long range): each part from a source is
        # strictly ascending already (the SeriesSource contract), so ordering them is enough
        by_start = sorted(parts, key=lambda p: int(p[0][0]))
        if all(int(a[0][-1]) < int(b[0][0]) for a, b in itertools.pairwise(by_start)):
            return (
                np.concatenate([p[0] for p in by_start]),
                np.concatenate([p[1] for p in by_start]),
                np.concatenate([p[2] for p in by_start]),
            )
    ts = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    q = np.concatenate([p[2] for p in parts])
    order = np.argsort(ts, kind="stable")
    ts, v, q = ts[order], v[order], q[order]
    keep = last_of_runs(ts)
    return ts[keep], v[keep], q[keep]
