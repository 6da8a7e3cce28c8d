"""Duplicate resolution for whole batches; the column rule lives in :mod:`historian.query.lww`.

Rule: for the same (series, timestamp), the point written last wins (the
highest WAL sequence number). Sources are always ordered oldest first, and
every sort is stable, so "last in arrival order" means "last written".

>>> b = sort_dedup(PointBatch.from_arrays([2, 1, 2], [5, 9, 5], [1.0, 2.0, 3.0]))
>>> b.series.tolist(), b.ts.tolist(), b.values.tolist()
([1, 2], [9, 5], [2.0, 3.0])
"""

from __future__ import annotations

from historian.model import PointBatch
from historian.query.lww import last_of_runs, merge_columns

__all__ = ["last_of_runs", "merge_columns", "sort_dedup"]


def sort_dedup(batch: PointBatch) -> PointBatch:
    """Sort by (series, ts) in arrival order and keep the last write of each key."""
    s = batch.sorted()
    keep = last_of_runs(s.series, s.ts)
    if keep.all():
        return PointBatch(s.series, s.ts, s.values, s.quality, True)
    return PointBatch(s.series[keep], s.ts[keep], s.values[keep], s.quality[keep], True)
