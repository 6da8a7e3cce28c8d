"""The set of live segment files at one moment, with open readers, in read precedence.

Precedence (oldest data first): L2, then L1 by file number, then L0 by file
number. That order is an invariant kept by compaction: L0 -> L1 always takes
*every* L0 file, and L1 -> L2 takes every L1 file of a bucket, so a file at a
lower level or with a higher number never holds older data for a key.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from historian.crypto.cipher import BlockCipher
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.model import Point
from historian.query.snapshot import IndexTable
from historian.query.source import SeriesSource
from historian.sstable import CHUNK_SUMMARY_DTYPE, Columns, SegmentReader

from . import filenames
from .manifest import FileMeta, ManifestState

LEVELS = 3

TABLE_CACHE_ROWS = 1_000_000
"""Chunk summary rows a Version keeps for index queries (149 B each)."""

Ranges = tuple[NDArray[np.int64], NDArray[np.int64]]
"""Per source: (first ts, last ts) arrays."""


def precedence_key(f: FileMeta) -> tuple[int, int]:
    return (-f.level, f.number)


def open_reader(
    fs: FileSystem, root: str, number: int, cipher: BlockCipher | None = None
) -> SegmentReader | CorruptDataError:
    """Open a segment; a damaged one becomes its error, raised by reads that touch it."""
    path = os.path.join(root, filenames.segment_name(number))
    try:
        return SegmentReader(fs, path, cipher)
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
        cipher: BlockCipher | None = None,
    ) -> None:
        self.state = state
        self.files: tuple[FileMeta, ...] = tuple(sorted(state.files, key=precedence_key))
        old = previous._readers if previous is not None else {}
        self._readers: dict[int, SegmentReader | CorruptDataError] = {
            f.number: old[f.number] if f.number in old else open_reader(fs, root, f.number, cipher)
            for f in self.files
        }

        self._sources: tuple[SeriesSource, ...] | None = None
        self._tables: OrderedDict[int, IndexTable] = OrderedDict()
        self._table_rows = 0
        self._table_lock = threading.Lock()
        self._ranges = (
            np.array([f.min_ts for f in self.files], np.int64),
            np.array([f.max_ts for f in self.files], np.int64),
        )

    def sources(self) -> tuple[tuple[SeriesSource, ...], Ranges]:
        """The files as read sources in precedence order, with their (min_ts, max_ts) arrays."""
        if self._sources is None:
            self._sources = tuple(
                DamagedSegment(r, f) if isinstance(r, CorruptDataError) else r
                for f in self.files
                for r in (self._readers[f.number],)
            )
        return self._sources, self._ranges

    def index_table(self, series: int) -> IndexTable | None:
        """One series' chunk summaries across every file, in time order (cached per series).

        The first index query of a series on this Version visits each file once
        (a dict lookup each); later ones are one slice. The cache is bounded by
        rows (TABLE_CACHE_ROWS, ~150 MB), oldest series evicted first. None if a
        file is damaged, so queries touching it raise through the per-file path.
        """
        with self._table_lock:
            table = self._tables.get(series)
            if table is not None:
                self._tables.move_to_end(series)
                return table
        sources, _ = self.sources()
        if any(isinstance(r, DamagedSegment) for r in sources):
            return None
        parts = []
        owners = []
        for i, r in enumerate(sources):
            rows = r.chunk_stats(series, -(2**63), 2**63 - 1)
            if len(rows):
                parts.append(rows)
                owners.append(i)
        rows = np.frombuffer(b"".join(p.tobytes() for p in parts), CHUNK_SUMMARY_DTYPE)
        owner = np.repeat(np.array(owners, np.intp), [len(p) for p in parts])
        order = np.argsort(rows["min_ts"], kind="stable")
        table = IndexTable(rows[order], owner[order], len(sources))
        with self._table_lock:
            self._tables[series] = table
            self._table_rows += len(rows)
            while self._table_rows > TABLE_CACHE_ROWS and len(self._tables) > 1:
                _, old = self._tables.popitem(last=False)
                self._table_rows -= len(old.rows)
        return table

    def reader(self, number: int) -> SegmentReader:
        r = self._readers[number]
        if isinstance(r, CorruptDataError):
            raise r
        return r

    def level(self, level: int) -> list[FileMeta]:
        return [f for f in self.files if f.level == level]

    def overlapping(self, start_ns: int, end_ns: int) -> list[FileMeta]:
        return [f for f in self.files if f.max_ts >= start_ns and f.min_ts < end_ns]


class DamagedSegment:
    """A segment that failed to open: its time range from the manifest, every read raises.

    So a damaged file fails only the queries that touch its time range.
    """

    def __init__(self, error: CorruptDataError, meta: FileMeta) -> None:
        self.error = error
        self._range = (meta.min_ts, meta.max_ts)

    def time_range(self) -> tuple[int, int] | None:
        return self._range

    def series_time_range(self, series: int) -> tuple[int, int] | None:
        raise self.error

    def read(self, series: int, start_ns: int, end_ns: int, limit: int | None = None) -> Columns:
        raise self.error

    def at_or_before(self, series: int, t: int) -> Point | None:
        raise self.error

    def at_or_after(self, series: int, t: int) -> Point | None:
        raise self.error

    def chunk_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        raise self.error
