"""Object keys of the cold tier: Hive-partitioned by tag prefix and UTC day (format/parquet.md).

::

    PREFIX/raw/tag_prefix=<P>/date=YYYY-MM-DD/part-<seq:010d>.parquet
    PREFIX/rollup/level=<1m|1h|1d>/tag_prefix=<P>/date=YYYY-MM-DD/part-<seq:010d>.parquet
    PREFIX/tags.parquet

``<P>`` is the first ``tag_prefix_depth`` dot-separated parts of the tag's
name (``acme.north`` for ``acme.north.area1.tank.level``) or ``id-<N>`` (the
series id rounded down to a multiple of ``series_bucket``) for a series the
catalogue does not name. ``seq`` is the catalogue's part number: unique, and
higher = exported later = newer data wins.

>>> raw_key("h", "acme.north", 0, 7)
'h/raw/tag_prefix=acme.north/date=1970-01-01/part-0000000007.parquet'
>>> parse_key("h/raw/tag_prefix=acme.north/date=1970-01-01/part-0000000007.parquet")
('raw', 7)
>>> tag_prefix_of("acme.north.area1.tank.level", 42, 2, 1000), tag_prefix_of(None, 4242, 2, 1000)
('acme.north', 'id-4000')
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "date_of",
    "parse_key",
    "partition_prefix",
    "raw_key",
    "rollup_key",
    "tag_prefix_of",
    "tags_key",
]

NS_PER_DAY = 86_400 * 1_000_000_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PART = re.compile(r".*/part-(\d{10})\.parquet$")


def tag_prefix_of(name: str | None, series: int, depth: int, bucket: int) -> str:
    if name:
        return _UNSAFE.sub("_", ".".join(name.split(".")[:depth]))
    return f"id-{series // bucket * bucket}"


def date_of(day_start_ns: int) -> str:
    return datetime.fromtimestamp(day_start_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")


def day_start_of(date: str) -> int:
    d = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(d.timestamp()) * 1_000_000_000


def partition_prefix(prefix: str, kind: str, tag_prefix: str, day_start_ns: int) -> str:
    """``PREFIX/raw/tag_prefix=P/date=D/`` (kind "raw") or ``PREFIX/rollup/level=L/...``."""
    head = f"{prefix}/raw" if kind == "raw" else f"{prefix}/rollup/level={kind}"
    return f"{head}/tag_prefix={tag_prefix}/date={date_of(day_start_ns)}/"


def raw_key(prefix: str, tag_prefix: str, day_start_ns: int, seq: int) -> str:
    return partition_prefix(prefix, "raw", tag_prefix, day_start_ns) + f"part-{seq:010d}.parquet"


def rollup_key(prefix: str, level: str, tag_prefix: str, day_start_ns: int, seq: int) -> str:
    return partition_prefix(prefix, level, tag_prefix, day_start_ns) + f"part-{seq:010d}.parquet"


def tags_key(prefix: str) -> str:
    return f"{prefix}/tags.parquet"


def parse_key(key: str) -> tuple[str, int] | None:
    """("raw" | level, seq) of a part key; None for any other key."""
    m = _PART.match(key)
    if m is None:
        return None
    level = re.search(r"/rollup/level=([^/]+)/", key)
    return (level.group(1) if level else "raw"), int(m.group(1))


def split_runs(keys: NDArray[np.int64]) -> list[tuple[int, int]]:
    """[lo, hi) index runs of equal values in a sorted key array."""
    if not len(keys):
        return []
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = np.concatenate([[0], cut, [len(keys)]]).tolist()
    return list(itertools.pairwise(bounds))
