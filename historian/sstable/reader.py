"""SegmentReader: reads one segment file through mmap, checking every block it touches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.codec import decode_chunk
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.model import PointBatch
from historian.sstable.format import FOOTER, INDEX_DTYPE, Footer, SegmentCorruptError, unpack_footer

Columns = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]


def empty_columns() -> Columns:
    return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.uint16)


@dataclass(frozen=True)
class ChunkProblem:
    path: str
    offset: int
    series: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: chunk of series {self.series} at offset {self.offset}: {self.reason}"


class SegmentReader:
    """Opens and validates footer + index at construction; chunks are checked when read."""

    def __init__(self, fs: FileSystem, path: str) -> None:
        self.path = path
        self._data = fs.mmap(path)
        self.footer: Footer = unpack_footer(self._data, path)
        f = self.footer
        end = f.index_offset + f.index_entries * INDEX_DTYPE.itemsize
        if end != len(self._data) - FOOTER.size:
            raise SegmentCorruptError(f"{path}: index end {end} does not meet the footer")
        raw = self._data[f.index_offset : end]
        if crc32c.crc32c(raw) != f.index_crc:
            raise SegmentCorruptError(f"{path}: index checksum mismatch at offset {f.index_offset}")
        self.index = np.frombuffer(raw, dtype=INDEX_DTYPE).copy()
        self._series = self.index["series"]

    @property
    def file_bytes(self) -> int:
        return len(self._data)

    @property
    def points(self) -> int:
        return self.footer.points

    def series_ids(self) -> NDArray[np.uint32]:
        return np.unique(self._series)

    def _entries_of(self, series: int) -> tuple[int, int]:
        lo = int(np.searchsorted(self._series, series, "left"))
        hi = int(np.searchsorted(self._series, series, "right"))
        return lo, hi

    def _chunk(self, i: int) -> Columns:
        e = self.index[i]
        off, length = int(e["offset"]), int(e["length"])
        block = self._data[off : off + length]
        if len(block) != length or crc32c.crc32c(block) != int(e["crc"]):
            raise SegmentCorruptError(
                f"{self.path}: block checksum mismatch in chunk of series {int(e['series'])} "
                f"at offset {off}; the file is damaged, restore it or run verify"
            )
        try:
            return decode_chunk(block)
        except CorruptDataError as exc:
            raise SegmentCorruptError(f"{self.path}: chunk at offset {off}: {exc}") from exc

    def read(self, series: int, start_ns: int, end_ns: int) -> Columns:
        """Points of ``series`` with start_ns <= ts < end_ns, ascending."""
        lo, hi = self._entries_of(series)
        if lo == hi:
            return empty_columns()
        sel = self.index[lo:hi]
        keep = np.flatnonzero((sel["max_ts"] >= start_ns) & (sel["min_ts"] < end_ns))
        parts = []
        for k in keep:
            ts, v, q = self._chunk(lo + int(k))
            if ts[0] < start_ns or ts[-1] >= end_ns:
                a = int(np.searchsorted(ts, start_ns, "left"))
                b = int(np.searchsorted(ts, end_ns, "left"))
                ts, v, q = ts[a:b], v[a:b], q[a:b]
            parts.append((ts, v, q))
        if not parts:
            return empty_columns()
        if len(parts) == 1:
            return parts[0]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def last(self, series: int) -> tuple[int, float, int] | None:
        lo, hi = self._entries_of(series)
        if lo == hi:
            return None
        i = lo + int(np.argmax(self.index[lo:hi]["max_ts"]))
        ts, v, q = self._chunk(i)
        return int(ts[-1]), float(v[-1]), int(q[-1])

    def scan(self) -> Iterator[tuple[int, Columns]]:
        """(series, columns) for every chunk, in file order."""
        for i in range(len(self.index)):
            yield int(self._series[i]), self._chunk(i)

    def read_all(self) -> PointBatch:
        """Every point as one batch, sorted by (series, ts)."""
        return self.read_series_range(0, 2**32)

    def read_series_range(self, first: int, end: int) -> PointBatch:
        """Every point of series ``first <= id < end``, sorted by (series, ts) (for compaction)."""
        lo = int(np.searchsorted(self._series, first, "left"))
        hi = int(np.searchsorted(self._series, end, "left"))
        if lo == hi:
            return PointBatch.empty()
        cols = [self._chunk(i) for i in range(lo, hi)]
        counts = self.index["count"][lo:hi].astype(np.int64)
        return PointBatch(
            np.repeat(self._series[lo:hi], counts),
            np.concatenate([c[0] for c in cols]),
            np.concatenate([c[1] for c in cols]),
            np.concatenate([c[2] for c in cols]),
            True,
        )

    def verify(self) -> list[ChunkProblem]:
        """Check every block checksum and decode every chunk; [] when the file is sound."""
        problems = []
        for i in range(len(self.index)):
            e = self.index[i]
            try:
                ts, _, _ = self._chunk(i)
            except CorruptDataError as exc:
                problems.append(
                    ChunkProblem(self.path, int(e["offset"]), int(e["series"]), str(exc))
                )
                continue
            if len(ts) != int(e["count"]) or (len(ts) and int(ts[0]) != int(e["min_ts"])):
                problems.append(
                    ChunkProblem(
                        self.path, int(e["offset"]), int(e["series"]), "chunk disagrees with index"
                    )
                )
        return problems
