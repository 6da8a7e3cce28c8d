"""Write-ahead log: append-only columnar batch records (format: docs/format/wal.md)."""

from historian.wal.format import WalCorruptError, WalDamage
from historian.wal.reader import ReplayReport, WalReader, discard_torn_tail, list_segments
from historian.wal.writer import WalWriteError, WalWriter

__all__ = [
    "ReplayReport",
    "WalCorruptError",
    "WalDamage",
    "WalReader",
    "WalWriteError",
    "WalWriter",
    "discard_torn_tail",
    "list_segments",
]
