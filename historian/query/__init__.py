"""Reading the historian: the read seam, snapshots, and query semantics over columns.

- :mod:`historian.query.source`: the ``SeriesSource`` protocol every store of
  points answers (segment files, memtables, later the cold tier);
- :mod:`historian.query.snapshot`: ``Snapshot``, the sources of one moment in
  precedence order (``Historian.snapshot()``), with last-write-wins reads,
  value before/after a time, multi-series paged reads and index statistics;
- the query families (recorded, interpolated, plot, summaries, OPC UA Part 13)
  are pure functions over columns in their own modules (docs/query/).

Bounds everywhere: start inclusive, end exclusive (docs/query/README.md).

Submodules are imported on first use, so importing this package never pulls
in the engine (``historian.lsm`` imports ``historian.query``, not the reverse).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from historian.query.snapshot import IndexParts, IndexTable, ReadPage, Snapshot
    from historian.query.source import SeriesSource

__all__ = ["IndexParts", "IndexTable", "ReadPage", "SeriesSource", "Snapshot"]

_HOME = {
    "IndexParts": "historian.query.snapshot",
    "IndexTable": "historian.query.snapshot",
    "ReadPage": "historian.query.snapshot",
    "Snapshot": "historian.query.snapshot",
    "SeriesSource": "historian.query.source",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'historian.query' has no attribute {name!r}")
