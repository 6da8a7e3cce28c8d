"""The LSM engine: memtable, flush to L0, time-window compaction, manifest, recovery."""

from historian.lsm.engine import Historian, LevelStats, Point, Stats

__all__ = ["Historian", "LevelStats", "Point", "Stats"]
