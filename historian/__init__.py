"""twinbench historian: a time-series store (WAL, memtable, compressed segments, compaction).

Open a directory, write columnar batches, read them back::

>>> import tempfile
>>> import numpy as np
>>> from historian import FsyncPolicy, Historian, Options
>>> db = Historian.open(tempfile.mkdtemp(), Options(fsync=FsyncPolicy.always()))
>>> seq = db.write_arrays(
...     series=[1, 1, 2, 1],
...     ts_ns=[2_000, 1_000, 1_000, 2_000],       # out of order and a duplicate
...     values=[20.0, 10.0, 7.5, 21.0],
... )
>>> seq                                           # WAL sequence number, durable
1
>>> ts, values, quality = db.read(1, 0, 3_000)    # start inclusive, end exclusive
>>> ts.tolist(), values.tolist()                  # sorted; last write wins on (1, 2000)
([1000, 2000], [10.0, 21.0])
>>> db.last(1)
Point(ts=2000, value=21.0, quality=0)
>>> db.flush(); db.compact()
>>> db.read(1, 1_000, 2_000)[1].tolist()          # now served from an L2 segment file
[10.0]
>>> db.stats().levels[2].points
3
>>> db.close()

Durability: ``write`` returns once the batch is durable under ``Options.fsync``
(see :class:`FsyncPolicy`): ``always`` = fsynced; ``interval_ms=N`` = in the OS
(survives SIGKILL), fsynced within N ms (``db.durable_seq`` tells how far).

Thread safety: one writer thread and any number of reader threads.
Duplicates: for one (series, timestamp) the last write wins, everywhere.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# numba writes its cache beside the sources (it ignores PYTHONDONTWRITEBYTECODE), which
# would put files into a checkout or a read-only site-packages. Every historian module
# is imported after this package, so this runs before the first @njit(cache=True).
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "twinbench",
        "numba",
    ),
)

if TYPE_CHECKING:
    from historian.catalogue import TagCatalogue, TagInfo
    from historian.errors import (
        BatchValidationError,
        CatalogueError,
        ClosedError,
        CorruptDataError,
        DiskFullError,
        HistorianError,
        OverloadedError,
        TimestampOutOfWindowError,
        UnknownSeriesError,
    )
    from historian.lsm.engine import Historian, LevelStats, Point, Stats
    from historian.model import PointBatch, Quality, SeriesColumns, SeriesIndex
    from historian.options import FsyncPolicy, Options

__all__ = [
    "BatchValidationError",
    "CatalogueError",
    "ClosedError",
    "CorruptDataError",
    "DiskFullError",
    "FsyncPolicy",
    "Historian",
    "HistorianError",
    "LevelStats",
    "Options",
    "OverloadedError",
    "Point",
    "PointBatch",
    "Quality",
    "SeriesColumns",
    "SeriesIndex",
    "Stats",
    "TagCatalogue",
    "TagInfo",
    "TimestampOutOfWindowError",
    "UnknownSeriesError",
]

# Imported on first use, so `import historian.model` stays light and cycle-free.
_HOME = {
    "Historian": "historian.lsm.engine",
    "LevelStats": "historian.lsm.engine",
    "Point": "historian.lsm.engine",
    "Stats": "historian.lsm.engine",
    "FsyncPolicy": "historian.options",
    "Options": "historian.options",
    "PointBatch": "historian.model",
    "Quality": "historian.model",
    "SeriesColumns": "historian.model",
    "SeriesIndex": "historian.model",
    "TagCatalogue": "historian.catalogue",
    "TagInfo": "historian.catalogue",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    if name in __all__:
        return getattr(importlib.import_module("historian.errors"), name)
    raise AttributeError(f"module 'historian' has no attribute {name!r}")
