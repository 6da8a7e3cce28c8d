"""Read-only views of a data directory for ``twinbench historian inspect`` and ``verify``.

Neither opens the database (no lock, no WAL replay, nothing written), so both
work on a directory another process has open, or on a copy of a broken one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from historian.crypto.cipher import BLOCK_OVERHEAD, BlockCipher
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.sstable import SegmentReader
from historian.wal import WalReader, list_segments

from . import filenames
from .manifest import FileMeta, ManifestState, read_manifest
from .quarantine import list_quarantine


class NotAStoreError(ValueError):
    """The directory holds no historian store (no MANIFEST and no wal/)."""


@dataclass
class Inventory:
    state: ManifestState
    wal_segments: list[tuple[str, int]]
    orphans: list[str]
    wal_points: int = 0
    """Points in WAL records after ``flushed_seq``: acked, not yet in a segment file."""
    wal_records: int = 0
    wal_problem: str = ""
    """Why the WAL could not be read to its end (``verify`` says more); empty when it could."""

    def level(self, level: int) -> list[FileMeta]:
        return sorted((f for f in self.state.files if f.level == level), key=lambda f: f.min_ts)


def inventory(
    root: str, fs: FileSystem | None = None, cipher: BlockCipher | None = None
) -> Inventory:
    """What the directory holds; an encrypted store needs its ``cipher`` (to count WAL points)."""
    fs = fs or FileSystem()
    if not fs.exists(root):
        raise FileNotFoundError(f"{root} does not exist")
    is_store = fs.exists(os.path.join(root, filenames.MANIFEST)) or fs.exists(
        filenames.wal_dir(root)
    )
    if not is_store:
        inner = os.path.join(root, "historian")
        hint = (
            f"; the store is probably {inner}"
            if fs.exists(os.path.join(inner, filenames.MANIFEST))
            or fs.exists(filenames.wal_dir(inner))
            else ""
        )
        raise NotAStoreError(
            f"{root} is not a historian store (no {filenames.MANIFEST} and no "
            f"{filenames.WAL_DIR}/){hint}"
        )
    state = read_manifest(fs, root) or ManifestState()
    live = {f.number for f in state.files}
    orphans = [
        n
        for n in fs.listdir(root)
        if (filenames.parse_segment_name(n) or 0) not in live | {0} or filenames.is_engine_tmp(n)
    ]
    wal = [
        (p, fs.size(p))
        for _, p in list_segments(fs, filenames.wal_dir(root), filenames.parse_wal_segment_name)
    ]
    inv = Inventory(state, wal, orphans)
    # acked points still only in the WAL (a running server's memtable holds them too)
    reader = WalReader(fs, filenames.wal_dir(root), filenames.parse_wal_segment_name, cipher)
    try:
        for _, batch in reader.replay(after_seq=state.flushed_seq):
            inv.wal_records += 1
            inv.wal_points += len(batch)
    except CorruptDataError as exc:
        inv.wal_problem = str(exc)
    return inv


@dataclass
class VerifyReport:
    files_checked: int = 0
    chunks_checked: int = 0
    wal_records: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    root: str, fs: FileSystem | None = None, cipher: BlockCipher | None = None
) -> VerifyReport:
    """Check the manifest, every segment block and every WAL record checksum.

    An encrypted store needs its ``cipher`` (every GCM tag is checked too); without it, or
    with another key, :class:`~historian.crypto.EncryptionKeyError` is raised.
    """
    fs = fs or FileSystem()
    report = VerifyReport()
    try:
        state = read_manifest(fs, root)
    except CorruptDataError as exc:
        report.problems.append(f"MANIFEST: {exc}")
        return report
    if state is None:
        report.warnings.append(f"{root}: no MANIFEST (empty or never flushed database)")
        state = ManifestState()
    for f in sorted(state.files, key=lambda f: f.number):
        path = os.path.join(root, filenames.segment_name(f.number))
        report.files_checked += 1
        if not fs.exists(path):
            report.problems.append(f"{path}: listed in MANIFEST but missing")
            continue
        try:
            reader = SegmentReader(fs, path, cipher)
        except CorruptDataError as exc:
            report.problems.append(str(exc))
            continue
        report.chunks_checked += len(reader.index)
        report.problems.extend(str(p) for p in reader.verify())
        if reader.points != f.points:
            report.problems.append(
                f"{path}: holds {reader.points} points, MANIFEST says {f.points}"
            )
    # The same checks as recovery (from flushed_seq: older segments are garbage awaiting
    # deletion), but in salvage mode so that every damaged region is listed, not just the first.
    wal = WalReader(fs, filenames.wal_dir(root), filenames.parse_wal_segment_name, cipher)
    for _ in wal.replay(after_seq=state.flushed_seq, salvage=True):
        pass
    for d in wal.report.damage:
        report.problems.append(
            f"{d.describe()}; the database refuses to open: "
            f"run `twinbench historian repair {root} --output NEWDIR`"
        )
    report.wal_records = wal.report.records
    for q in list_quarantine(fs, root):
        report.warnings.append(f"quarantined segment {q} (set aside by compaction; not live)")
    if wal.report.dropped_bytes:
        report.warnings.append(
            f"{wal.report.torn_segment}: torn tail, {wal.report.dropped_bytes} bytes after offset "
            f"{wal.report.valid_length} ({wal.report.reason}); dropped at next open "
            "(never acknowledged under fsync=always)"
        )
    return report


def chunk_bytes_by_series(
    root: str, fs: FileSystem | None = None, cipher: BlockCipher | None = None
) -> dict[int, tuple[int, int]]:
    """Per series: (encoded chunk bytes, points) over the live segment files.

    The bytes are the chunks as the codec wrote them: an encrypted store's
    per-block nonce and tag are left out, and index, stats and footer too, so
    this is the codec's own figure on exactly the chunks the store holds
    (what re-encoding every series would print, without encoding anything).
    """
    fs = fs or FileSystem()
    state = read_manifest(fs, root) or ManifestState()
    overhead = BLOCK_OVERHEAD if cipher is not None else 0
    nbytes: dict[int, int] = {}
    points: dict[int, int] = {}
    for f in state.files:
        reader = SegmentReader(fs, os.path.join(root, filenames.segment_name(f.number)), cipher)
        index = reader.index
        ids, inverse = np.unique(index["series"], return_inverse=True)
        sizes = np.bincount(inverse, index["length"].astype(np.int64) - overhead, len(ids))
        counts = np.bincount(inverse, index["count"].astype(np.int64), len(ids))
        for sid, b, n in zip(ids.tolist(), sizes.tolist(), counts.tolist(), strict=True):
            nbytes[sid] = nbytes.get(sid, 0) + int(b)
            points[sid] = points.get(sid, 0) + int(n)
    return {sid: (nbytes[sid], points[sid]) for sid in nbytes}
