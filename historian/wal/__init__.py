"""Write-ahead log: append-only columnar batch records (format: docs/format/wal.md)."""

from historian.wal.format import WalCorruptError
from historian.wal.reader import ReplayReport, WalReader, list_segments
from historian.wal.writer import WalWriteError, WalWriter

__all__ = [
    "ReplayReport",
    "WalCorruptError",
    "WalReader",
    "WalWriteError",
    "WalWriter",
    "list_segments",
]
