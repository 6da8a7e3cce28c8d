"""Quarantine: take a damaged segment out of compaction's way without deleting a byte.

When compaction meets a segment it cannot read (a chunk or its index fails a
checksum), retrying cannot help: the bytes are bad. So the engine

1. copies the damaged file, byte for byte, to ``quarantine/seg-<n>.tbs[.k]``
   (durably, via ``write_atomic``) with a JSON note beside it
   (``....json``: reason, points listed, points salvaged, time);
2. rewrites the live file from its intact chunks under the *same* number and
   level (so read precedence is unchanged), or, when nothing is salvageable,
   drops it from the manifest;

and compaction carries on. ``verify``, ``Historian.stats().quarantined`` and
the ingest's metrics list what is in ``quarantine/``; the quarantined copy
can be inspected or fed to ``twinbench historian repair`` later.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace

from historian.crypto.cipher import BlockCipher
from historian.fs import FileSystem

from . import filenames
from .manifest import FileMeta
from .repair import salvage_segment

QUARANTINE_DIR = "quarantine"
NOTE_SUFFIX = ".json"


@dataclass(frozen=True)
class Quarantined:
    file: str
    """Path of the quarantined copy."""
    points_listed: int
    points_salvaged: int
    reason: str

    @property
    def points_lost(self) -> int:
        return self.points_listed - self.points_salvaged

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.points_lost} of {self.points_listed} points unreadable "
            f"({self.reason})"
        )


def quarantine_segment(
    fs: FileSystem, root: str, meta: FileMeta, reason: str, cipher: BlockCipher | None = None
) -> tuple[FileMeta | None, Quarantined]:
    """Copy ``meta``'s file aside and salvage it in place; the caller edits the manifest.

    Returns the live file's new metadata (None: nothing salvageable; the caller
    removes it from the manifest, then deletes the live file).
    """
    qdir = os.path.join(root, QUARANTINE_DIR)
    fs.makedirs(qdir)
    name = filenames.segment_name(meta.number)
    src = os.path.join(root, name)
    copy = os.path.join(qdir, name)
    k = 1
    while fs.exists(copy):  # the same number quarantined again: keep both copies
        copy = os.path.join(qdir, f"{name}.{k}")
        k += 1
    fs.write_atomic(copy, fs.read_bytes(src))
    tmp = src + ".salvage" + filenames.TMP_SUFFIX  # a leftover is deleted at the next open
    info, _ = salvage_segment(fs, src, tmp, meta.points, cipher)
    new_meta = None
    if info is not None:
        fs.rename(tmp, src)
        fs.sync_dir(root)
        new_meta = replace(
            meta,
            min_ts=info.min_ts,
            max_ts=info.max_ts,
            points=info.points,
            series_count=info.series_count,
            file_bytes=info.file_bytes,
        )
    record = Quarantined(copy, meta.points, info.points if info else 0, reason)
    note = {
        "segment": name,
        "level": meta.level,
        "points_listed": record.points_listed,
        "points_salvaged": record.points_salvaged,
        "reason": reason,
        "quarantined_at_ns": time.time_ns(),
    }
    fs.write_atomic(copy + NOTE_SUFFIX, json.dumps(note, indent=1).encode())
    return new_meta, record


def list_quarantine(fs: FileSystem, root: str) -> list[Quarantined]:
    """Everything in ``quarantine/``, from the notes (a copy without a note says so)."""
    qdir = os.path.join(root, QUARANTINE_DIR)
    names = fs.listdir(qdir)
    out = []
    for n in names:
        if n.endswith(NOTE_SUFFIX) or filenames.is_engine_tmp(n):
            continue
        path = os.path.join(qdir, n)
        try:
            note = json.loads(fs.read_bytes(path + NOTE_SUFFIX))
            out.append(
                Quarantined(
                    path, int(note["points_listed"]), int(note["points_salvaged"]), note["reason"]
                )
            )
        except (OSError, ValueError, KeyError):
            out.append(Quarantined(path, 0, 0, "no readable note beside it"))
    return out
