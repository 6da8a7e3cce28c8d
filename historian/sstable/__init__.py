"""Immutable segment files: per-series chunks, sparse index, footer (docs/format/segment.md).

Never imports :mod:`historian.lsm`: the engine uses this layer, not the reverse.
"""

from historian.sstable.format import FORMAT_VERSION, SegmentCorruptError
from historian.sstable.reader import ChunkProblem, Columns, SegmentReader, empty_columns
from historian.sstable.writer import SegmentInfo, SegmentWriter

__all__ = [
    "FORMAT_VERSION",
    "ChunkProblem",
    "Columns",
    "SegmentCorruptError",
    "SegmentInfo",
    "SegmentReader",
    "SegmentWriter",
    "empty_columns",
]
