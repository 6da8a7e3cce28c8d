"""Writing bucketed segment files, and time-window compaction L0 -> L1 -> L2.

Cost arithmetic (per point): a flush writes it once (L0); L0 -> L1 rewrites
it once, merged per 1-hour bucket with every other L0 file of that bucket;
L1 -> L2 rewrites it once more when its bucket has settled (it ends at least
``l2_settle_buckets`` before the newest data), merging the bucket's L1 files
into its single L2 file. Late data for an old bucket costs a rewrite of that
bucket's L2 file (<= one hour of that bucket's data), never of anything else.
So write amplification is 3 for in-order data, and every file stays inside
one bucket: retention deletes whole files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from historian.fs import FileSystem
from historian.model import PointBatch
from historian.sstable import SegmentWriter

from . import filenames
from .manifest import FileMeta
from .merge import sort_dedup
from .version import Version


def split_by_bucket(points: PointBatch, bucket_ns: int) -> list[tuple[int, PointBatch]]:
    """(bucket_start, points) per bucket; each part stays sorted by (series, ts)."""
    if len(points) == 0:
        return []
    bucket = points.ts // bucket_ns
    lo, hi = int(bucket.min()), int(bucket.max())
    if lo == hi:
        return [(lo * bucket_ns, points)]
    order = np.argsort(bucket, kind="stable")
    b = bucket[order]
    cuts = np.flatnonzero(np.diff(b)) + 1
    out = []
    for idx in np.split(order, cuts):
        part = points.take(idx)
        out.append(
            (
                int(bucket[idx[0]]) * bucket_ns,
                PointBatch(part.series, part.ts, part.values, part.quality, True),
            )
        )
    return out


def write_segments(
    fs: FileSystem,
    root: str,
    points: PointBatch,
    level: int,
    new_number: Callable[[], int],
    bucket_ns: int,
    codec: str | None,
    chunk_max_points: int,
    crash_point: str,
) -> list[FileMeta]:
    """Write sorted, deduplicated points as one file per bucket; all or nothing."""
    metas: list[FileMeta] = []
    written: list[str] = []
    try:
        for bucket_start, part in split_by_bucket(points, bucket_ns):
            number = new_number()
            path = os.path.join(root, filenames.segment_name(number))
            w = SegmentWriter(fs, path, codec, chunk_max_points)
            written.append(path)
            try:
                w.add_batch(part)
                info = w.finish()
            except BaseException:
                w.abandon()
                raise
            metas.append(
                FileMeta(
                    number,
                    level,
                    bucket_start,
                    info.min_ts,
                    info.max_ts,
                    info.points,
                    info.series_count,
                    info.file_bytes,
                )
            )
            fs.crash_point(crash_point)
    except Exception:
        for path in written:
            fs.remove(path)
        raise
    return metas


def merge_files(version: Version, inputs: Iterable[FileMeta]) -> PointBatch:
    """Inputs in precedence order (oldest first) -> one sorted, deduplicated batch."""
    batches = [version.reader(f.number).read_all() for f in inputs]
    return sort_dedup(PointBatch.concat(batches))


def pick_l0(version: Version, trigger: int, force: bool) -> list[FileMeta]:
    l0 = version.level(0)
    return l0 if l0 and (force or len(l0) >= trigger) else []


def pick_l2_buckets(version: Version, settled_before: int | None, force: bool) -> list[int]:
    """Buckets with L1 files that have settled (or all of them when forced)."""
    buckets = sorted({f.bucket_start for f in version.level(1)})
    if force:
        return buckets
    if settled_before is None:
        return []
    return [b for b in buckets if b < settled_before]


def expired(version: Version, cutoff_ns: int | None, bucket_ns: int) -> list[FileMeta]:
    if cutoff_ns is None:
        return []
    return [f for f in version.files if f.bucket_start + bucket_ns <= cutoff_ns]
