"""The cold-tier catalogue: which Parquet parts hold which data (file ``TIER`` in the store).

Layout (``historian/docs/format/cold-catalogue.md``), integers little-endian::

    magic "TBCOLDC\\0" (8) | version u32 | crc32c(body) u32 | body_length u64 | body (JSON)

A part is listed here only after its objects were uploaded and read back
(size + CRC32C), and its hot files are dropped only after it is listed: the
catalogue is the tier's commit point. Every change rewrites the file with
:meth:`historian.fs.FileSystem.write_atomic` and bumps ``revision``.

>>> import tempfile
>>> from historian.fs import FileSystem
>>> d = tempfile.mkdtemp()
>>> cat = ColdCatalogue()
>>> p = ColdPart(1, "acme.north", 0, {"raw": ObjectInfo("k", 10, 99)}, 1, 2, 0, 5, 100, (3,))
>>> cat = cat.with_part(p)
>>> write_cold_catalogue(FileSystem(), d, cat)
>>> back = read_cold_catalogue(FileSystem(), d)
>>> back.revision, back.next_seq, back.parts[0].objects["raw"].crc, back.parts[0].source_files
(1, 2, 99, (3,))
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import crc32c

from historian.crypto.cipher import BlockAuthenticationError, BlockCipher
from historian.errors import CorruptDataError
from historian.fs import FileSystem

__all__ = [
    "TIER_FILE",
    "ColdCatalogue",
    "ColdCatalogueCorruptError",
    "ColdPart",
    "ObjectInfo",
    "read_cold_catalogue",
    "write_cold_catalogue",
]

TIER_FILE = "TIER"
MAGIC = b"TBCOLDC\x00"
VERSION = 1
VERSION_ENCRYPTED = 2
"""The body sealed with the store's AES-256-GCM key (a store opened with a key file)."""
HEADER = struct.Struct("<8sIIQ")
MAX_LOG = 200
"""Retention log lines kept in the catalogue (oldest dropped first)."""


class ColdCatalogueCorruptError(CorruptDataError):
    """The store's TIER file failed its checksum: which cold parts exist is unknown."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    crc: int
    """CRC32C of the whole object."""


@dataclass(frozen=True)
class ColdPart:
    """One exported (tag prefix, day): its raw object and its rollup objects."""

    seq: int
    tag_prefix: str
    day_start: int
    objects: dict[str, ObjectInfo]
    """"raw" and each rollup level still kept ("1m", "1h", "1d"); retention removes entries."""
    series_min: int
    series_max: int
    min_ts: int
    max_ts: int
    rows: int
    source_files: tuple[int, ...]
    """Hot segment numbers it came from (dropped after the part is listed)."""
    row_groups: int = 0


@dataclass(frozen=True)
class ColdCatalogue:
    revision: int = 0
    next_seq: int = 1
    parts: tuple[ColdPart, ...] = ()
    exported_points: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    """Per kind ("raw", "1m", ...): objects deleted by retention so far."""
    log: tuple[str, ...] = ()
    """Retention deletions, one line each, newest last (at most MAX_LOG)."""

    def with_part(self, part: ColdPart) -> ColdCatalogue:
        return dataclasses.replace(
            self,
            revision=self.revision + 1,
            next_seq=max(self.next_seq, part.seq + 1),
            parts=(*self.parts, part),
            exported_points=self.exported_points + part.rows,
        )

    def with_parts(
        self, parts: tuple[ColdPart, ...], log: list[str], deleted: dict[str, int]
    ) -> ColdCatalogue:
        counts = dict(self.deleted)
        for k, n in deleted.items():
            counts[k] = counts.get(k, 0) + n
        return dataclasses.replace(
            self,
            revision=self.revision + 1,
            parts=parts,
            deleted=counts,
            log=(*self.log, *log)[-MAX_LOG:],
        )


def _aad(cipher: BlockCipher) -> bytes:
    return MAGIC + struct.pack("<I", VERSION_ENCRYPTED) + cipher.key_id


def encode(cat: ColdCatalogue, cipher: BlockCipher | None = None) -> bytes:
    """The file's bytes; with ``cipher`` the JSON body is sealed (version 2): it names
    every cold part's series ids and time ranges, which are data like a segment index."""
    obj: dict[str, Any] = dataclasses.asdict(cat)
    body = json.dumps(obj, separators=(",", ":")).encode()
    version = VERSION
    if cipher is not None:
        body, version = cipher.encrypt(body, _aad(cipher)), VERSION_ENCRYPTED
    return HEADER.pack(MAGIC, version, crc32c.crc32c(body), len(body)) + body


def decode(data: bytes, path: str, cipher: BlockCipher | None = None) -> ColdCatalogue:
    if len(data) < HEADER.size:
        raise ColdCatalogueCorruptError(f"{path}: {len(data)} bytes is too short")
    magic, version, crc, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ColdCatalogueCorruptError(f"{path}: bad magic {magic!r}")
    if version not in (VERSION, VERSION_ENCRYPTED):
        raise ColdCatalogueCorruptError(
            f"{path}: version {version} unsupported (reads {VERSION}, {VERSION_ENCRYPTED})"
        )
    if version == VERSION_ENCRYPTED and cipher is None:
        raise ColdCatalogueCorruptError(
            f"{path}: the cold catalogue is encrypted; open the store with its key file"
        )
    if version == VERSION and cipher is not None:  # a plain file could be a substitute
        raise ColdCatalogueCorruptError(
            f"{path}: the cold catalogue is not encrypted but the store has a key; "
            "it was not written by this store (restore it from a backup)"
        )
    body = data[HEADER.size : HEADER.size + length]
    if len(body) != length or crc32c.crc32c(body) != crc:
        raise ColdCatalogueCorruptError(
            f"{path}: checksum mismatch; which cold parts exist is unknown. Restore the file "
            "from a backup (the objects themselves are intact; `tier verify` checks them)"
        )
    if version == VERSION_ENCRYPTED:
        assert cipher is not None
        try:
            body = cipher.decrypt(body, _aad(cipher))
        except BlockAuthenticationError:
            raise ColdCatalogueCorruptError(
                f"{path}: failed AES-GCM authentication (another key, or the file was altered)"
            ) from None
    obj = json.loads(body)
    parts = tuple(
        ColdPart(
            **{
                **p,
                "objects": {k: ObjectInfo(**o) for k, o in p["objects"].items()},
                "source_files": tuple(p["source_files"]),
            }
        )
        for p in obj["parts"]
    )
    return ColdCatalogue(
        revision=int(obj["revision"]),
        next_seq=int(obj["next_seq"]),
        parts=parts,
        exported_points=int(obj["exported_points"]),
        deleted={str(k): int(v) for k, v in obj["deleted"].items()},
        log=tuple(obj["log"]),
    )


def read_cold_catalogue(
    fs: FileSystem, root: str, cipher: BlockCipher | None = None
) -> ColdCatalogue:
    """The store's cold catalogue (an empty one when the store has never exported);
    ``cipher``: the store's key (``Historian.cipher``), needed for an encrypted file."""
    path = os.path.join(root, TIER_FILE)
    if not fs.exists(path):
        return ColdCatalogue()
    return decode(fs.read_bytes(path), path, cipher)


def write_cold_catalogue(
    fs: FileSystem, root: str, cat: ColdCatalogue, cipher: BlockCipher | None = None
) -> None:
    """Replace the TIER file atomically (crash points TIER.before_rename, TIER.before_dir_sync);
    sealed with ``cipher`` when the store has one."""
    fs.write_atomic(os.path.join(root, TIER_FILE), encode(cat, cipher))
