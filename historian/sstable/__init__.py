"""Immutable segment files: per-series chunks, sparse index, footer (docs/format/segment.md).

Never imports :mod:`historian.lsm`: the engine uses this layer, not the reverse.
"""

from historian.sstable.format import FORMAT_VERSION, SegmentCorruptError
from historian.sstable.reader import ChunkProblem, Columns, SegmentReader, empty_columns
from historian.sstable.stats import CHUNK_SUMMARY_DTYPE, STATS_MIN_POINTS, STATS_RECORD_DTYPE
from historian.sstable.writer import SegmentInfo, SegmentWriter

__all__ = [
    "CHUNK_SUMMARY_DTYPE",
    "FORMAT_VERSION",
    "STATS_MIN_POINTS",
    "STATS_RECORD_DTYPE",
    "ChunkProblem",
    "Columns",
    "SegmentCorruptError",
    "SegmentInfo",
    "SegmentReader",
    "SegmentWriter",
    "empty_columns",
]
