"""Subject layout: ISA-95 unified-namespace subjects and partitioned batch subjects.

* Live values: ``[<uns_prefix>.]<enterprise>.<site>.<area>.<line>.<cell>.<equipment>.<sensor>``,
  one small message per value change, for viewers and other UNS consumers (core NATS,
  not stored in the stream).
* Bulk ingest: ``<subject_prefix>.p<N>``; a source (collector) always publishes to the
  same partition, ``crc32c(source_id) % partitions``, so one historian consumer sees
  each source's batches in order.

>>> uns_subject("acme.permian.north.pad01.well0001.pump.current")
'acme.permian.north.pad01.well0001.pump.current'
>>> partition_of("collector-3", 4) in range(4)
True
"""

from __future__ import annotations

import re

import crc32c

ISA95_LEVELS = ("enterprise", "site", "area", "line", "cell", "equipment", "sensor")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class SubjectError(ValueError):
    """A tag path or prefix cannot be used as a NATS subject."""


def validate_isa95_path(path: str) -> None:
    parts = path.split(".")
    if len(parts) != len(ISA95_LEVELS):
        raise SubjectError(
            f"ISA-95 path {path!r} has {len(parts)} levels; expected {len(ISA95_LEVELS)} "
            f"({'.'.join(ISA95_LEVELS)})"
        )
    for level, token in zip(ISA95_LEVELS, parts, strict=True):
        if not _TOKEN.match(token):
            raise SubjectError(
                f"ISA-95 path {path!r}: {level} {token!r} may only use letters, digits, '_' and '-'"
            )


def uns_subject(path: str, prefix: str = "") -> str:
    validate_isa95_path(path)
    return f"{prefix}.{path}" if prefix else path


def partition_of(source_id: str, partitions: int) -> int:
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return int(crc32c.crc32c(source_id.encode()) % partitions)
