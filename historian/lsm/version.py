"""The set of live segment files at one moment, with open readers, in read precedence.

Precedence (oldest data first): L2, then L1 by file number, then L0 by file
number. That order is an invariant kept by compaction: L0 -> L1 always takes
*every* L0 file, and L1 -> L2 takes every L1 file of a bucket, so a file at a
lower level or with a higher number never holds older data for a key.
"""

from __future__ import annotations

import os

from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.sstable import SegmentReader

from . import filenames
from .manifest import FileMeta, ManifestState

LEVELS = 3


def precedence_key(f: FileMeta) -> tuple[int, int]:
    return (-f.level, f.number)


def open_reader(fs: FileSystem, root: str, number: int) -> SegmentReader | CorruptDataError:
    """Open a segment; a damaged one becomes its error, raised by reads that touch it."""
    path = os.path.join(root, filenames.segment_name(number))
    try:
        return SegmentReader(fs, path)
    except CorruptDataError as exc:
        return exc


class Version:
    """Immutable snapshot of the live files and their open readers, oldest data first.

    A reader holding a Version can keep reading files that compaction has since
    deleted: the mmaps stay valid until the last reference goes away.
    """

    def __init__(
        self,
        state: ManifestState,
        fs: FileSystem,
        root: str,
        previous: Version | None = None,
    ) -> None:
        self.state = state
        self.files: tuple[FileMeta, ...] = tuple(sorted(state.files, key=precedence_key))
        old = previous._readers if previous is not None else {}
        self._readers: dict[int, SegmentReader | CorruptDataError] = {
            f.number: old[f.number] if f.number in old else open_reader(fs, root, f.number)
            for f in self.files
        }

    def reader(self, number: int) -> SegmentReader:
        r = self._readers[number]
        if isinstance(r, CorruptDataError):
            raise r
        return r

    def level(self, level: int) -> list[FileMeta]:
        return [f for f in self.files if f.level == level]

    def overlapping(self, start_ns: int, end_ns: int) -> list[FileMeta]:
        return [f for f in self.files if f.max_ts >= start_ns and f.min_ts < end_ns]
