"""Every file name the engine makes, in one place (like LevelDB's filename.h).

A data directory holds::

    MANIFEST                  live segment files, flushed sequence (docs/format/manifest.md)
    MANIFEST.tmp              a manifest being written (renamed over MANIFEST)
    LOCK                      held while a process has the database open
    wal/wal-<first_seq:020>.log    WAL segments (docs/format/wal.md)
    seg-<number:08>.tbs       segment files (docs/format/segment.md)
    seg-<number:08>.tbs.tmp   a segment being built

>>> segment_name(12), parse_segment_name("seg-00000012.tbs")
('seg-00000012.tbs', 12)
>>> wal_segment_name(5), parse_wal_segment_name("wal-00000000000000000005.log")
('wal-00000000000000000005.log', 5)
>>> parse_segment_name("seg-00000012.tbs.tmp") is None
True
"""

from __future__ import annotations

import os
import re

MANIFEST = "MANIFEST"
MANIFEST_TMP = "MANIFEST.tmp"
LOCK = "LOCK"
WAL_DIR = "wal"
TMP_SUFFIX = ".tmp"

_SEGMENT = re.compile(r"^seg-(\d{8,})\.tbs$")
_WAL = re.compile(r"^wal-(\d{20})\.log$")


def segment_name(number: int) -> str:
    return f"seg-{number:08d}.tbs"


def parse_segment_name(name: str) -> int | None:
    m = _SEGMENT.match(name)
    return int(m.group(1)) if m else None


def segment_tmp_name(number: int) -> str:
    return segment_name(number) + TMP_SUFFIX


def wal_segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def parse_wal_segment_name(name: str) -> int | None:
    m = _WAL.match(name)
    return int(m.group(1)) if m else None


def segment_path(root: str, number: int) -> str:
    return os.path.join(root, segment_name(number))


def wal_dir(root: str) -> str:
    return os.path.join(root, WAL_DIR)


def is_engine_tmp(name: str) -> bool:
    """Leftovers of an interrupted write; safe to delete at startup."""
    return name.endswith(TMP_SUFFIX)
