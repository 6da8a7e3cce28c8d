"""SegmentWriter: builds one immutable segment file from per-series sorted points."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import crc32c
import numpy as np
from numpy.typing import NDArray

from historian.codec import encode_chunk
from historian.crypto.cipher import BLOCK_OVERHEAD, CIPHER_AES_256_GCM, BlockCipher
from historian.fs import FileSystem
from historian.model import PointBatch
from historian.sstable.format import (
    CRYPTO_HEADER,
    FILE_ID_BYTES,
    FLAG_ENCRYPTED,
    FORMAT_VERSION,
    FORMAT_VERSION_ENCRYPTED,
    HEADER,
    HEADER_MAGIC,
    INDEX_DTYPE,
    Footer,
    chunk_aad,
    footer_aad,
    pack_footer,
)
from historian.sstable.stats import (
    STATS_MIN_POINTS,
    STATS_RECORD_DTYPE,
    stats_records,
)

_FLUSH_BYTES = 1 << 20


@dataclass(frozen=True)
class SegmentInfo:
    path: str
    points: int
    series_count: int
    min_ts: int
    max_ts: int
    file_bytes: int
    chunk_bytes: int


class SegmentWriter:
    """Add series in ascending id order, each with ascending, duplicate-free timestamps.

    >>> import tempfile, os, numpy as np
    >>> from historian.fs import FileSystem
    >>> from historian.sstable.reader import SegmentReader
    >>> path = os.path.join(tempfile.mkdtemp(), "s.tbs")
    >>> w = SegmentWriter(FileSystem(), path)
    >>> w.add(7, np.array([1, 2], np.int64), np.array([0.5, 0.25]), np.zeros(2, np.uint16))
    >>> w.finish().points
    2
    >>> SegmentReader(FileSystem(), path).read(7, 0, 2)[1].tolist()
    [0.5]
    """

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        codec: str | None = None,
        chunk_max_points: int = 4096,
        stats_min_points: int = STATS_MIN_POINTS,
        cipher: BlockCipher | None = None,
    ) -> None:
        """With ``cipher``, writes the encrypted variant (version 3, docs/format/segment.md)."""
        self._fs = fs
        self._cipher = cipher
        self._file_id = os.urandom(FILE_ID_BYTES) if cipher is not None else b""
        self.path = path
        self._codec = codec
        self._chunk_max = chunk_max_points
        self._stats_min = max(1, stats_min_points)
        self._stats: list[NDArray[np.void]] = []
        self._file = fs.create(path)
        header = HEADER.pack(HEADER_MAGIC, FORMAT_VERSION)
        if cipher is not None:
            header = HEADER.pack(HEADER_MAGIC, FORMAT_VERSION_ENCRYPTED) + CRYPTO_HEADER.pack(
                CIPHER_AES_256_GCM, 0, 0, 0, cipher.key_id, self._file_id
            )
        self._pending: list[bytes] = [header]
        self._pending_bytes = len(header)
        self._offset = len(header)
        self._entries: list[tuple[int, int, int, int, int, int, int]] = []
        self._last_series = -1
        self._points = 0
        self._series = 0
        self._min_ts = 2**63 - 1
        self._max_ts = -(2**63)
        self._chunk_bytes = 0

    def add(
        self,
        series: int,
        ts: NDArray[np.int64],
        values: NDArray[np.float64],
        quality: NDArray[np.uint16],
    ) -> None:
        if series <= self._last_series:
            raise ValueError(
                f"series {series} added after {self._last_series}; add in ascending order"
            )
        if len(ts) == 0:
            return
        self._last_series = series
        self._series += 1
        if len(ts) >= self._stats_min:
            starts = np.arange(0, len(ts), self._chunk_max, dtype=np.int64)
            ends = np.minimum(starts + self._chunk_max, len(ts))
            big = np.flatnonzero(ends - starts >= self._stats_min)
            if len(big):
                entries = len(self._entries) + big
                self._stats.append(
                    stats_records(ts, values, quality, starts[big], ends[big], entries)
                )
        for lo in range(0, len(ts), self._chunk_max):
            hi = min(lo + self._chunk_max, len(ts))
            chunk = encode_chunk(ts[lo:hi], values[lo:hi], quality[lo:hi], self._codec)
            t0, t1 = int(ts[lo]), int(ts[hi - 1])
            if self._cipher is not None:
                entry = len(self._entries)
                aad = chunk_aad(self._file_id, entry, self._offset, series, hi - lo, t0, t1)
                chunk = self._cipher.encrypt(chunk, aad)
            crc = crc32c.crc32c(chunk)
            self._entries.append((series, hi - lo, self._offset, len(chunk), crc, t0, t1))
            self._write(chunk)
            self._chunk_bytes += len(chunk)
            self._min_ts = min(self._min_ts, t0)
            self._max_ts = max(self._max_ts, t1)
        self._points += len(ts)

    def add_batch(self, batch: PointBatch) -> None:
        """A batch sorted by (series, ts) without duplicate keys (e.g. a flushed memtable)."""
        if len(batch) == 0:
            return
        starts = np.flatnonzero(np.diff(batch.series)) + 1
        bounds = np.concatenate(([0], starts, [len(batch)]))
        ids = batch.series[bounds[:-1]]
        for i in range(len(ids)):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            self.add(int(ids[i]), batch.ts[lo:hi], batch.values[lo:hi], batch.quality[lo:hi])

    def _write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._offset += len(data)
        if self._pending_bytes >= _FLUSH_BYTES:
            self._file.append(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def finish(self) -> SegmentInfo:
        """Write index and footer, fsync, close. The file is complete only after this."""
        index = np.array(self._entries, dtype=INDEX_DTYPE)
        index_bytes = index.tobytes()
        index_offset = self._offset
        stats = (
            np.frombuffer(b"".join(r.tobytes() for r in self._stats), STATS_RECORD_DTYPE)
            if self._stats
            else np.empty(0, STATS_RECORD_DTYPE)
        )
        stats_bytes = stats.tobytes()
        overhead = BLOCK_OVERHEAD if self._cipher is not None else 0
        footer = Footer(
            index_offset=index_offset,
            index_entries=len(index),
            points=self._points,
            min_ts=self._min_ts if self._points else 0,
            max_ts=self._max_ts if self._points else 0,
            series_count=self._series,
            index_crc=0,
            stats_offset=index_offset + len(index_bytes) + overhead,
            stats_entries=len(stats),
        )
        if self._cipher is not None:
            footer = replace(footer, version=FORMAT_VERSION_ENCRYPTED, flags=FLAG_ENCRYPTED)
            # the footer is the AAD of both blocks: it stays readable but cannot be altered
            index_bytes = self._cipher.encrypt(
                index_bytes, footer_aad(b"idx", self._file_id, footer)
            )
            stats_bytes = self._cipher.encrypt(
                stats_bytes, footer_aad(b"sta", self._file_id, footer)
            )
        footer = replace(
            footer, index_crc=crc32c.crc32c(index_bytes), stats_crc=crc32c.crc32c(stats_bytes)
        )
        self._write(index_bytes)
        self._write(stats_bytes)
        self._write(pack_footer(footer))
        try:
            if self._pending:
                self._file.append(b"".join(self._pending))
                self._pending.clear()
            self._file.sync()
        finally:
            self._file.close()
        return SegmentInfo(
            self.path,
            self._points,
            self._series,
            footer.min_ts,
            footer.max_ts,
            self._offset,
            self._chunk_bytes,
        )

    def abandon(self) -> None:
        """Close and delete a half-built file (e.g. after ENOSPC)."""
        self._file.close()
        self._fs.remove(self.path)
