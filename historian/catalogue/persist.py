"""The store's own copy of the tag catalogue: the file ``CATALOGUE`` in the data directory.

Layout (``historian/docs/format/catalogue.md``), integers little-endian::

    magic "TBCATLG\\0" (8) | version u32 | crc32c(body) u32 | body_length u64 | body (JSON)

The body is ``{"revision": N, "tags": [{...TagInfo fields...}, ...]}`` in id order.
``revision`` counts the catalogue's changes, so a reader can tell which edit it has.
Written with :meth:`historian.fs.FileSystem.write_atomic`: a crash leaves the old or
the new file, never a mix.

>>> import tempfile
>>> from historian.catalogue.tag import TagInfo
>>> d = tempfile.mkdtemp()
>>> write_catalogue_file(d, 1, [TagInfo(1, "a.b"), TagInfo(5, "a.c", dtype="int16")])
>>> rev, tags = read_catalogue_file(d)
>>> rev, [(t.id, t.name, t.stepped) for t in tags]
(1, [(1, 'a.b', False), (5, 'a.c', True)])
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from typing import Any

import crc32c

from historian.errors import CatalogueError, CorruptDataError
from historian.fs import FileSystem

from .tag import TagInfo

__all__ = [
    "CATALOGUE_FILE",
    "CatalogueCorruptError",
    "decode",
    "encode",
    "read_catalogue_file",
    "write_catalogue_file",
]

CATALOGUE_FILE = "CATALOGUE"
MAGIC = b"TBCATLG\x00"
VERSION = 2
"""Version 2 adds the ``tenant`` key; version 1 (no tenants) is still written and read."""
HEADER = struct.Struct("<8sIIQ")
_FIELDS = frozenset(
    {"id", "name", "unit", "low", "high", "stepped", "excdev", "compdev"}
    | {"legacy_name", "description", "dtype"}
)


class CatalogueCorruptError(CorruptDataError):
    """The store's CATALOGUE failed its checksum or structure check."""


def encode(revision: int, tags: Sequence[TagInfo]) -> bytes:
    entries = [t.to_dict() for t in tags]
    version = VERSION if any(t.tenant for t in tags) else 1
    if version == 1:  # no tenants: the version 1 bytes, readable by builds before tenants
        for e in entries:
            del e["tenant"]
    body = json.dumps(
        {"revision": revision, "tags": entries},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,  # TagInfo already refuses non-finite numbers; never write invalid JSON
    ).encode("utf-8")
    return HEADER.pack(MAGIC, version, crc32c.crc32c(body), len(body)) + body


def decode(data: bytes, path: str) -> tuple[int, list[TagInfo]]:
    """(revision, tags) from the file's bytes; every defect raises with the path named."""
    if len(data) < HEADER.size:
        raise CatalogueCorruptError(f"{path}: {len(data)} bytes is too short for a catalogue")
    magic, version, crc, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CatalogueCorruptError(f"{path}: bad magic {magic!r}; this is not a catalogue file")
    if version not in (1, VERSION):
        # a newer writer may have added meaning we cannot see: refuse rather than drop it
        raise CatalogueCorruptError(
            f"{path}: catalogue file version {version} is not supported (this build reads "
            f"1 to {VERSION}); use the twinbench version that wrote the store"
        )
    body = data[HEADER.size : HEADER.size + length]
    if len(body) != length or crc32c.crc32c(body) != crc:
        raise CatalogueCorruptError(
            f"{path}: checksum mismatch; re-create it with "
            "`twinbench historian import --catalogue FILE` or restore it from a backup"
        )
    try:
        obj = json.loads(body)
        revision = int(obj["revision"])
        fields = _FIELDS | {"tenant"} if version >= 2 else _FIELDS
        tags = [_tag(t, fields) for t in obj["tags"]]
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        # Overflow: int(Infinity); Recursion: deeply nested JSON (both found by fuzzing)
        raise CatalogueCorruptError(f"{path}: malformed catalogue body: {exc}") from exc
    return revision, tags


def _tag(obj: dict[str, Any], fields: frozenset[str]) -> TagInfo:
    if not isinstance(obj, dict) or set(obj) != fields:
        raise ValueError(f"tag entry is not an object of the fields {sorted(fields)}")
    try:
        return TagInfo(**obj)
    except CatalogueError as exc:
        raise ValueError(str(exc)) from exc


def read_catalogue_file(
    data_dir: str, fs: FileSystem | None = None
) -> tuple[int, list[TagInfo]] | None:
    """The persisted (revision, tags), or None when the store has no catalogue yet."""
    fs = fs or FileSystem()
    path = os.path.join(data_dir, CATALOGUE_FILE)
    if not fs.exists(path):
        return None
    return decode(fs.read_bytes(path), path)


def write_catalogue_file(
    data_dir: str, revision: int, tags: Sequence[TagInfo], fs: FileSystem | None = None
) -> None:
    fs = fs or FileSystem()
    fs.write_atomic(os.path.join(data_dir, CATALOGUE_FILE), encode(revision, tags))
