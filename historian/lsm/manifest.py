"""The manifest: which segment files are live, and how far the WAL has been flushed.

Every edit rewrites the whole (small) manifest atomically: write
``MANIFEST.tmp``, fsync it, rename it over ``MANIFEST``, fsync the directory.
A crash at any point leaves either the old or the new manifest, never a mix.
Layout (docs/format/manifest.md)::

    magic "TBMANIF\\0" (8) | version u32 | crc32c(body) u32 | body_length u64 | body (JSON, UTF-8)
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass, field, replace

import crc32c

from historian.errors import CorruptDataError
from historian.fs import FileSystem

from . import filenames

MAGIC = b"TBMANIF\x00"
VERSION = 1
HEADER = struct.Struct("<8sIIQ")


class ManifestCorruptError(CorruptDataError):
    """The MANIFEST failed its checksum: the set of live files is unknown."""


@dataclass(frozen=True)
class FileMeta:
    """One live segment file."""

    number: int
    level: int
    bucket_start: int
    min_ts: int
    max_ts: int
    points: int
    series_count: int
    file_bytes: int


@dataclass(frozen=True)
class ManifestState:
    next_file_number: int = 1
    flushed_seq: int = 0
    """Every WAL record with seq <= this is in a live segment file."""
    files: tuple[FileMeta, ...] = field(default_factory=tuple)

    def apply(
        self,
        *,
        add: tuple[FileMeta, ...] = (),
        remove: frozenset[int] = frozenset(),
        flushed_seq: int | None = None,
        next_file_number: int | None = None,
    ) -> ManifestState:
        kept = tuple(f for f in self.files if f.number not in remove)
        return replace(
            self,
            files=kept + add,
            flushed_seq=self.flushed_seq
            if flushed_seq is None
            else max(flushed_seq, self.flushed_seq),
            next_file_number=max(self.next_file_number, next_file_number or 0),
        )


def encode(state: ManifestState) -> bytes:
    body = json.dumps(
        {
            "next_file_number": state.next_file_number,
            "flushed_seq": state.flushed_seq,
            "files": [asdict(f) for f in state.files],
        },
        separators=(",", ":"),
    ).encode()
    return HEADER.pack(MAGIC, VERSION, crc32c.crc32c(body), len(body)) + body


def decode(data: bytes, path: str) -> ManifestState:
    if len(data) < HEADER.size:
        raise ManifestCorruptError(f"{path}: {len(data)} bytes is too short for a manifest")
    magic, version, crc, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ManifestCorruptError(f"{path}: bad magic {magic!r}")
    if version != VERSION:
        raise ManifestCorruptError(
            f"{path}: manifest version {version} unsupported (reads {VERSION})"
        )
    body = data[HEADER.size : HEADER.size + length]
    if len(body) != length or crc32c.crc32c(body) != crc:
        raise ManifestCorruptError(
            f"{path}: checksum mismatch; the list of live files is unknown. "
            "Restore the directory from a backup (`verify` checks the segment files)"
        )
    obj = json.loads(body)
    return ManifestState(
        next_file_number=int(obj["next_file_number"]),
        flushed_seq=int(obj["flushed_seq"]),
        files=tuple(FileMeta(**f) for f in obj["files"]),
    )


def read_manifest(fs: FileSystem, root: str) -> ManifestState | None:
    path = os.path.join(root, filenames.MANIFEST)
    if not fs.exists(path):
        return None
    return decode(fs.read_bytes(path), path)


def write_manifest(fs: FileSystem, root: str, state: ManifestState) -> None:
    """Atomically replace the manifest (write tmp, fsync, rename, fsync directory)."""
    tmp = os.path.join(root, filenames.MANIFEST_TMP)
    f = fs.create(tmp)
    try:
        f.append(encode(state))
        f.sync()
    except BaseException:
        f.close()
        fs.remove(tmp)
        raise
    f.close()
    fs.crash_point("manifest.before_rename")
    fs.rename(tmp, os.path.join(root, filenames.MANIFEST))
    fs.crash_point("manifest.before_dir_sync")
    fs.sync_dir(root)
