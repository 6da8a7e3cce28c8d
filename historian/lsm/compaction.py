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
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from historian.codec.chunk import decode_chunk, encode_chunk
from historian.codec.registry import VALUE_CODEC_NAMES
from historian.crypto.cipher import BlockCipher
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.model import PointBatch
from historian.sstable import SegmentReader, SegmentWriter
from historian.sstable.stats import stats_records

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


def warm_up_kernels(codecs: Iterable[str | None]) -> None:
    """Load (or compile) the numba kernels a flush and a compaction use, now.

    The first call of an ``njit(cache=True)`` function loads it from the cache or
    compiles it while holding the GIL: 0.25 s measured at the first flush of a serve
    process (bench_ingest_stages: an event-loop stall of that size in the ingest).
    Paid at open instead, before the ingest starts.
    """
    ts = np.arange(64, dtype=np.int64)
    values = np.linspace(0.0, 1.0, 64)
    quality = np.zeros(64, np.uint16)
    starts, ends = np.array([0], np.int64), np.array([64], np.int64)
    stats_records(ts, values, quality, starts, ends, np.array([0], np.int64))
    for codec in codecs:
        encode_chunk(ts, values, quality, codec)
    # and every value codec's decoder, which the first query or compaction input would
    # otherwise load under the GIL (the 2-decimal values take the scaled/decimal paths)
    decimals = np.round(np.linspace(20.0, 80.0, 64), 2)
    for name in VALUE_CODEC_NAMES:
        try:
            decode_chunk(encode_chunk(ts, decimals, quality, name))
        except ValueError:  # a codec that cannot take this sample: nothing to load
            continue


def write_segments(
    fs: FileSystem,
    root: str,
    groups: Iterable[PointBatch],
    level: int,
    new_number: Callable[[], int],
    bucket_ns: int,
    codec: str | None,
    chunk_max_points: int,
    crash_point: str,
    cipher: BlockCipher | None = None,
) -> list[FileMeta]:
    """Write groups of sorted, deduplicated points as one file per bucket; all or nothing.

    Groups come in ascending series order (each group covers a series range
    after the previous one), so memory holds one group, never a whole file.
    """
    writers: dict[int, tuple[int, SegmentWriter]] = {}
    try:
        for group in groups:
            for bucket_start, part in split_by_bucket(group, bucket_ns):
                if bucket_start not in writers:
                    number = new_number()
                    path = os.path.join(root, filenames.segment_name(number))
                    writers[bucket_start] = (
                        number,
                        SegmentWriter(fs, path, codec, chunk_max_points, cipher=cipher),
                    )
                writers[bucket_start][1].add_batch(part)
        metas = []
        for bucket_start, (number, w) in sorted(writers.items()):
            info = w.finish()
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
        # The new names must be durable before a manifest names them (POSIX orders nothing
        # between two entries of one directory; the manifest's own dir fsync comes later).
        if metas:
            fs.sync_dir(root)
    except BaseException:
        for _, w in writers.values():
            w.abandon()
        raise
    return metas


class CorruptInputError(CorruptDataError):
    """A compaction input segment is damaged; ``number`` names it (for quarantine)."""

    def __init__(self, number: int, cause: CorruptDataError) -> None:
        super().__init__(f"compaction input {filenames.segment_name(number)}: {cause}")
        self.number = number


def merge_files(
    version: Version,
    inputs: Iterable[FileMeta],
    group_points: int = 262_144,
    pause: Callable[[], None] | None = None,
) -> Iterator[PointBatch]:
    """Inputs in precedence order (oldest first) -> sorted, deduplicated groups of series.

    Each group spans a range of series ids holding about ``group_points``
    points over all inputs, so a merge needs memory for one group only.
    """
    inputs = list(inputs)
    readers = [_input_reader(version, f.number) for f in inputs]
    if not readers:
        return
    ids = np.concatenate([r.index["series"] for r in readers])
    counts = np.concatenate([r.index["count"] for r in readers]).astype(np.int64)
    uniq, inv = np.unique(ids, return_inverse=True)
    per_series = np.bincount(inv, weights=counts).astype(np.int64)
    group_of = np.cumsum(per_series) // group_points
    cuts = np.flatnonzero(np.diff(group_of)) + 1
    for part in np.split(uniq, cuts):
        if pause is not None:
            pause()  # let a pending flush run first: writers wait on flushes, not on compaction
        first, end = int(part[0]), int(part[-1]) + 1
        parts = []
        for f, r in zip(inputs, readers, strict=True):
            try:
                parts.append(r.read_series_range(first, end))
            except CorruptDataError as exc:
                raise CorruptInputError(f.number, exc) from exc
        yield sort_dedup(PointBatch.concat(parts))


def _input_reader(version: Version, number: int) -> SegmentReader:
    try:
        return version.reader(number)
    except CorruptDataError as exc:  # footer or index unreadable since open
        raise CorruptInputError(number, exc) from exc


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
