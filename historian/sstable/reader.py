"""SegmentReader: reads one segment file through mmap, checking every block it touches."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.codec import decode_chunk
from historian.crypto.cipher import BLOCK_OVERHEAD, BlockAuthenticationError, BlockCipher
from historian.crypto.keyfile import require_same_key
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.model import Point, PointBatch
from historian.sstable.format import (
    CRYPTO_HEADER,
    HEADER,
    INDEX_DTYPE,
    Footer,
    SegmentCorruptError,
    chunk_aad,
    footer_aad,
    unpack_footer,
)
from historian.sstable.stats import STATS_RECORD_DTYPE, summaries_from_index

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
    """Opens and validates footer + index at construction; chunks are checked when read.

    An encrypted file (version 3) needs the ``cipher`` of its key, and a plain file is
    refused when a cipher is given (:func:`~historian.crypto.require_same_key`).
    Decryption happens at the one block-read seam, :meth:`_chunk` (and at open for the
    index and stats blocks).
    """

    def __init__(self, fs: FileSystem, path: str, cipher: BlockCipher | None = None) -> None:
        self.path = path
        self._data = fs.mmap(path)
        self.footer: Footer = unpack_footer(self._data, path)
        f = self.footer
        self._cipher = cipher
        self._file_id = b""
        file_key_id = None
        overhead = 0
        if f.encrypted:
            _, _, _, _, key, self._file_id = CRYPTO_HEADER.unpack_from(self._data, HEADER.size)
            file_key_id = bytes(key)
            overhead = BLOCK_OVERHEAD
        require_same_key(path, file_key_id, cipher)
        end = f.index_offset + f.index_entries * INDEX_DTYPE.itemsize + overhead
        stats_end = end
        if f.version >= 2:
            if f.stats_offset != end:
                raise SegmentCorruptError(
                    f"{path}: stats block at {f.stats_offset}, index ends at {end}"
                )
            stats_end = end + f.stats_entries * STATS_RECORD_DTYPE.itemsize + overhead
        if stats_end != len(self._data) - f.size:
            raise SegmentCorruptError(f"{path}: index end {stats_end} does not meet the footer")
        raw = self._data[f.index_offset : end]
        if crc32c.crc32c(raw) != f.index_crc:
            raise SegmentCorruptError(f"{path}: index checksum mismatch at offset {f.index_offset}")
        raw = self._open_block(raw, b"idx", f.index_offset)
        self.index = np.frombuffer(raw, dtype=INDEX_DTYPE).copy()
        self._series = self.index["series"]
        records = np.empty(0, STATS_RECORD_DTYPE)
        if f.version >= 2 and f.stats_entries:
            raw = self._data[end:stats_end]
            if crc32c.crc32c(raw) != f.stats_crc:
                raise SegmentCorruptError(f"{path}: stats checksum mismatch at offset {end}")
            raw = self._open_block(raw, b"sta", end)
            records = np.frombuffer(raw, dtype=STATS_RECORD_DTYPE)
            if int(records["entry"].max()) >= len(self.index):
                raise SegmentCorruptError(f"{path}: stats record names a chunk past the index")
        self._rows: dict[int, tuple[int, int]] | None = None  # built on first lookup
        self._min_list: list[int] = []
        self._max_list: list[int] = []
        self._records = records
        self._summaries: NDArray[np.void] | None = None

    def _open_block(self, raw: memoryview, kind: bytes, offset: int) -> memoryview:
        """The index or stats block in the clear (decrypted and authenticated when encrypted)."""
        if self._cipher is None:
            return raw
        try:
            return memoryview(
                self._cipher.decrypt(raw, footer_aad(kind, self._file_id, self.footer))
            )
        except BlockAuthenticationError:
            what = "index" if kind == b"idx" else "stats"
            raise SegmentCorruptError(
                f"{self.path}: {what} block at offset {offset} failed AES-GCM authentication "
                "(the block or the footer was altered); the file is refused"
            ) from None

    @property
    def summaries(self) -> NDArray[np.void]:
        """CHUNK_SUMMARY_DTYPE, one row per index entry (has_stats False in version 1 files).

        Built on first use (149 B per chunk): a store opened only to write or to
        read raw ranges never holds them.
        """
        if self._summaries is None:
            self._summaries = summaries_from_index(self.index, self._records)
        return self._summaries

    @property
    def file_bytes(self) -> int:
        return len(self._data)

    @property
    def points(self) -> int:
        return self.footer.points

    def series_ids(self) -> NDArray[np.uint32]:
        return np.unique(self._series)

    def _entries_of(self, series: int) -> tuple[int, int]:
        """Index rows [lo, hi) of ``series`` (a dict lookup: queries touch many files)."""
        rows = self._rows
        if rows is None:
            ids, first, counts = np.unique(self._series, return_index=True, return_counts=True)
            spans = zip(first.tolist(), (first + counts).tolist(), strict=True)
            rows = dict(zip(ids.tolist(), spans, strict=True))
            self._min_list = self.index["min_ts"].tolist()
            self._max_list = self.index["max_ts"].tolist()
            self._rows = rows
        return rows.get(series, (0, 0))

    def _meeting(self, series: int, start_ns: int, end_ns: int) -> tuple[int, int]:
        """Index rows [a, b) of ``series`` whose chunks meet [start_ns, end_ns)."""
        lo, hi = self._entries_of(series)
        if lo == hi:
            return lo, lo
        a = bisect.bisect_left(self._max_list, start_ns, lo, hi)
        b = bisect.bisect_left(self._min_list, end_ns, a, hi)
        return a, b

    def _chunk(self, i: int) -> Columns:
        e = self.index[i]
        off, length = int(e["offset"]), int(e["length"])
        block = self._data[off : off + length]
        if self._cipher is not None:
            return self._decrypt_chunk(i, block)
        if len(block) != length or crc32c.crc32c(block) != int(e["crc"]):
            raise SegmentCorruptError(
                f"{self.path}: block checksum mismatch in chunk of series {int(e['series'])} "
                f"at offset {off}; the file is damaged, restore it or run verify"
            )
        try:
            return decode_chunk(block)
        except CorruptDataError as exc:
            raise SegmentCorruptError(f"{self.path}: chunk at offset {off}: {exc}") from exc

    def _decrypt_chunk(self, i: int, block: memoryview) -> Columns:
        """The GCM tag is the block checksum of an encrypted file (it subsumes the CRC)."""
        assert self._cipher is not None
        e = self.index[i]
        off, series = int(e["offset"]), int(e["series"])
        aad = chunk_aad(
            self._file_id, i, off, series, int(e["count"]), int(e["min_ts"]), int(e["max_ts"])
        )
        try:
            plain = self._cipher.decrypt(block, aad)
        except BlockAuthenticationError:
            raise SegmentCorruptError(
                f"{self.path}: chunk of series {series} at offset {off} failed AES-GCM "
                "authentication (damaged, tampered with, or moved); the file is damaged, "
                "restore it or run verify"
            ) from None
        try:
            return decode_chunk(plain)
        except CorruptDataError as exc:
            raise SegmentCorruptError(f"{self.path}: chunk at offset {off}: {exc}") from exc

    # ------------------------------------------------ the SeriesSource seam
    def time_range(self) -> tuple[int, int] | None:
        """(first, last) timestamp over every series, None for an empty file."""
        return (self.footer.min_ts, self.footer.max_ts) if self.footer.points else None

    def series_time_range(self, series: int) -> tuple[int, int] | None:
        lo, hi = self._entries_of(series)
        if lo == hi:
            return None
        return self._min_list[lo], self._max_list[hi - 1]

    def read(self, series: int, start_ns: int, end_ns: int, limit: int | None = None) -> Columns:
        """Points of ``series`` with start_ns <= ts < end_ns, ascending (the first ``limit``)."""
        a, b = self._meeting(series, start_ns, end_ns)
        parts = []
        got = 0
        for k in range(a, b):
            if limit is not None and got >= limit:
                break
            ts, v, q = self._chunk(k)
            if self._min_list[k] < start_ns or self._max_list[k] >= end_ns:
                lo = int(np.searchsorted(ts, start_ns, "left"))
                hi = int(np.searchsorted(ts, end_ns, "left"))
                ts, v, q = ts[lo:hi], v[lo:hi], q[lo:hi]
            parts.append((ts, v, q))
            got += len(ts)
        if not parts:
            return empty_columns()
        if len(parts) == 1:
            ts, v, q = parts[0]
        else:
            ts = np.concatenate([p[0] for p in parts])
            v = np.concatenate([p[1] for p in parts])
            q = np.concatenate([p[2] for p in parts])
        if limit is not None and len(ts) > limit:
            ts, v, q = ts[:limit], v[:limit], q[:limit]
        return ts, v, q

    def at_or_before(self, series: int, t: int) -> Point | None:
        """The point of ``series`` with the greatest ts <= t (decodes one chunk)."""
        lo, hi = self._entries_of(series)
        k = bisect.bisect_right(self._min_list, t, lo, hi) - 1
        if k < lo:
            return None
        ts, v, q = self._chunk(k)
        i = int(np.searchsorted(ts, t, "right")) - 1
        return Point(int(ts[i]), float(v[i]), int(q[i]))

    def at_or_after(self, series: int, t: int) -> Point | None:
        """The point of ``series`` with the smallest ts >= t (decodes one chunk)."""
        lo, hi = self._entries_of(series)
        k = bisect.bisect_left(self._max_list, t, lo, hi)
        if k >= hi:
            return None
        ts, v, q = self._chunk(k)
        i = int(np.searchsorted(ts, t, "left"))
        return Point(int(ts[i]), float(v[i]), int(q[i]))

    def chunk_stats(self, series: int, start_ns: int, end_ns: int) -> NDArray[np.void]:
        """CHUNK_SUMMARY_DTYPE rows of the chunks of ``series`` meeting [start_ns, end_ns)."""
        a, b = self._meeting(series, start_ns, end_ns)
        return self.summaries[a:b]

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
