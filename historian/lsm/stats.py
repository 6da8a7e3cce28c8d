"""What a store holds and how it is doing: :class:`Stats` per level, WAL, memtables, health.

Read without the write lock: the version and memtables are taken together under
``_state_lock``; WAL segments deleted by a concurrent flush are skipped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from historian.wal import list_segments

from . import filenames
from .core import EngineCore
from .quarantine import list_quarantine
from .version import LEVELS


@dataclass(frozen=True)
class LevelStats:
    files: int
    bytes: int
    points: int


@dataclass(frozen=True)
class Stats:
    """``points`` counts stored points (memtable + files, before cross-file deduplication)."""

    points: int
    segment_points: int
    levels: tuple[LevelStats, ...]
    bytes_on_disk: int
    bytes_per_point: float
    """Segment bytes / segment points (0.0 when nothing is flushed)."""
    wal_bytes: int
    memtable_bytes: int
    memtable_points: int
    last_seq: int
    durable_seq: int
    flushed_seq: int
    recovery: dict[str, Any] = field(default_factory=dict)
    compaction_error: str = ""
    """Last background compaction failure ("" when the last attempt succeeded)."""
    compaction_failures: int = 0
    quarantined: tuple[str, ...] = ()
    """Damaged segments set aside in quarantine/ (one line each: file, points lost, why)."""


class StatsReport(EngineCore):
    """``stats()``: one consistent reading of levels, WAL, memtables and health."""

    def stats(self) -> Stats:
        version, mems = self._sources()
        levels = []
        for lv in range(LEVELS):
            files = version.level(lv)
            levels.append(
                LevelStats(
                    len(files), sum(f.file_bytes for f in files), sum(f.points for f in files)
                )
            )
        seg_points = sum(lv.points for lv in levels)
        seg_bytes = sum(lv.bytes for lv in levels)
        wal_dir = filenames.wal_dir(self._root)
        wal_bytes = 0
        for _, p in list_segments(self._fs, wal_dir, filenames.parse_wal_segment_name):
            with contextlib.suppress(FileNotFoundError):  # deleted by a concurrent flush
                wal_bytes += self._fs.size(p)
        mem_points = sum(len(m) for m in mems)
        return Stats(
            points=seg_points + mem_points,
            segment_points=seg_points,
            levels=tuple(levels),
            bytes_on_disk=seg_bytes,
            bytes_per_point=seg_bytes / seg_points if seg_points else 0.0,
            wal_bytes=wal_bytes,
            memtable_bytes=sum(m.nbytes for m in mems),
            memtable_points=mem_points,
            last_seq=self._wal.last_seq,
            durable_seq=self._wal.synced_seq,
            flushed_seq=version.state.flushed_seq,
            recovery=dict(self.recovery_report),
            compaction_error=str(self.compaction_error or ""),
            compaction_failures=self.compaction_failures,
            quarantined=tuple(str(q) for q in list_quarantine(self._fs, self._root)),
        )
