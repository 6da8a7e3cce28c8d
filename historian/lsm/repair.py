"""Salvage a damaged data directory into a new one (like LevelDB's ``RepairDB``).

``repair(source, output)`` only reads ``source``: no lock file is created, no
byte is changed, so the evidence stays for a post-mortem. Into ``output`` it
writes:

* every live segment file whose checksums all pass, copied byte for byte
  under its own number (same level, so read precedence is unchanged);
* a damaged segment rewritten from its intact chunks (same number and level);
  a segment whose footer or index is unreadable is dropped whole;
* a manifest with the kept files and the source's ``flushed_seq``;
* a fresh WAL holding every intact record after ``flushed_seq`` -- the ones
  before the damage *and* the ones after it -- renumbered from
  ``flushed_seq + 1`` (``salvage`` replay of :class:`~historian.wal.WalReader`).

Everything left behind is listed in :attr:`RepairReport.dropped` with file,
offset, sequence range (WAL) or series and time range (segment), and points.
If the MANIFEST itself is unreadable, every segment file found is kept as L0
in file-number order and the whole WAL is replayed over it; that can let an
older value win over a newer one for the same (series, timestamp), and the
report says so.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace

import numpy as np

from historian.crypto.cipher import BLOCK_OVERHEAD, BlockCipher
from historian.crypto.keyfile import require_same_key
from historian.errors import CorruptDataError, HistorianError
from historian.fs import FileSystem
from historian.model import PointBatch
from historian.options import FsyncPolicy
from historian.sstable import SegmentReader, SegmentWriter
from historian.sstable.writer import SegmentInfo
from historian.wal import WalReader, WalWriter, list_segments
from historian.wal.format import ENCRYPTED_HEADER, decode_header_info

from . import filenames
from .manifest import FileMeta, ManifestState, read_manifest, write_manifest


class RepairUsageError(HistorianError):
    """The repair cannot start: the source is not a store, or the output already exists."""


@dataclass(frozen=True)
class Dropped:
    """One piece of data the repair could not carry over."""

    file: str
    offset: int
    what: str
    """The WAL sequence range, or the segment chunk's series and time range."""
    points: int | None
    """Points lost (None: unknown, e.g. a torn tail that was never acknowledged)."""
    reason: str

    def __str__(self) -> str:
        pts = "unknown number of" if self.points is None else str(self.points)
        return f"{self.file} at offset {self.offset}: {self.what}, {pts} points: {self.reason}"


@dataclass
class RepairReport:
    source: str
    output: str
    segments_copied: int = 0
    segments_rewritten: int = 0
    segment_points: int = 0
    wal_records: int = 0
    wal_points: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def points_dropped(self) -> int:
        return sum(d.points or 0 for d in self.dropped)


def looks_like_store(fs: FileSystem, root: str) -> bool:
    names = fs.listdir(root)
    return (
        filenames.MANIFEST in names
        or filenames.WAL_DIR in names
        or any(filenames.parse_segment_name(n) is not None for n in names)
    )


def repair(
    source: str, output: str, fs: FileSystem | None = None, cipher: BlockCipher | None = None
) -> RepairReport:
    """Copy everything readable from ``source`` into the new directory ``output``.

    An encrypted store needs its ``cipher``; the output is encrypted with the same key.
    """
    fs = fs or FileSystem()
    source, output = os.path.abspath(source), os.path.abspath(output)
    if not os.path.isdir(source) or not looks_like_store(fs, source):
        raise RepairUsageError(
            f"{source} is not a historian data directory (no MANIFEST, wal/ or segment files)"
        )
    if fs.exists(output):
        raise RepairUsageError(f"{output} already exists; name a new directory for --output")
    _refuse_if_open(fs, source)
    _refuse_other_key(fs, source, cipher)  # before ``output`` exists: nothing to clean up
    report = RepairReport(source, output)
    state = _read_state(fs, source, report, cipher)
    fs.makedirs(filenames.wal_dir(output))
    kept = [m for f in state.files if (m := _carry_segment(fs, source, output, f, report, cipher))]
    fs.sync_dir(output)
    numbers = [f.number for f in kept] + [state.next_file_number - 1]
    write_manifest(
        fs,
        output,
        ManifestState(
            next_file_number=max(numbers) + 1, flushed_seq=state.flushed_seq, files=tuple(kept)
        ),
    )
    _carry_wal(fs, source, output, state.flushed_seq, report, cipher)
    live = {f.number for f in state.files}
    for name in fs.listdir(source):
        number = filenames.parse_segment_name(name)
        if (number is not None and number not in live) or filenames.is_engine_tmp(name):
            report.notes.append(f"ignored {name}: not live in the MANIFEST (engine leftover)")
    return report


def _refuse_if_open(fs: FileSystem, source: str) -> None:
    lock = os.path.join(source, filenames.LOCK)
    if not fs.exists(lock):
        return  # do not create one: the source is not written to at all
    try:
        fd = fs.lock(lock)
    except HistorianError as exc:
        raise RepairUsageError(f"{exc}; stop the process before repairing") from exc
    fs.unlock(fd)


def _refuse_other_key(fs: FileSystem, source: str, cipher: BlockCipher | None) -> None:
    """Raise EncryptionKeyError when a segment or WAL file needs another key (or none)."""
    wal = filenames.wal_dir(source)
    for path in [os.path.join(wal, n) for n in fs.listdir(wal)] if fs.exists(wal) else []:
        if filenames.parse_wal_segment_name(os.path.basename(path)) is None:
            continue
        try:
            header = decode_header_info(fs.read_bytes(path)[: ENCRYPTED_HEADER.size])
        except CorruptDataError:
            continue  # damaged: the salvage replay reports it
        require_same_key(path, header.key_id, cipher)
    for name in fs.listdir(source):
        if filenames.parse_segment_name(name) is not None:
            with contextlib.suppress(CorruptDataError):  # damaged: reported per file later
                SegmentReader(fs, os.path.join(source, name), cipher)


def _read_state(
    fs: FileSystem, source: str, report: RepairReport, cipher: BlockCipher | None = None
) -> ManifestState:
    try:
        state = read_manifest(fs, source)
    except CorruptDataError as exc:
        report.dropped.append(
            Dropped(os.path.join(source, filenames.MANIFEST), 0, "MANIFEST", 0, str(exc))
        )
        report.notes.append(
            "the MANIFEST is unreadable: every segment file found is kept as L0 in file-number "
            "order and the whole WAL is replayed over it; where one (series, timestamp) was "
            "written more than once, an older value may now win"
        )
        return _state_from_files(fs, source, cipher)
    return state or ManifestState()


def _state_from_files(
    fs: FileSystem, source: str, cipher: BlockCipher | None = None
) -> ManifestState:
    files = []
    for name in fs.listdir(source):
        number = filenames.parse_segment_name(name)
        if number is None:
            continue
        try:
            r = SegmentReader(fs, os.path.join(source, name), cipher)
        except CorruptDataError:
            files.append(FileMeta(number, 0, 0, 0, 0, 0, 0, 0))  # dropped (and listed) later
            continue
        f = r.footer
        files.append(
            FileMeta(number, 0, 0, f.min_ts, f.max_ts, r.points, f.series_count, r.file_bytes)
        )
    segs = list_segments(fs, filenames.wal_dir(source), filenames.parse_wal_segment_name)
    flushed = segs[0][0] - 1 if segs else 0  # replay all of it, without a bogus gap at 1
    numbers = [f.number for f in files]
    return ManifestState(max(numbers, default=0) + 1, flushed, tuple(files))


def _carry_segment(
    fs: FileSystem,
    source: str,
    output: str,
    f: FileMeta,
    report: RepairReport,
    cipher: BlockCipher | None = None,
) -> FileMeta | None:
    name = filenames.segment_name(f.number)
    src, dst = os.path.join(source, name), os.path.join(output, name)
    if not fs.exists(src):
        report.dropped.append(Dropped(src, 0, "whole segment", f.points, "listed but missing"))
        return None
    try:
        reader = SegmentReader(fs, src, cipher)
        sound = not reader.verify() and reader.points == f.points
    except CorruptDataError:
        sound = False
    if sound:
        out = fs.create(dst)
        try:
            out.append(fs.read_bytes(src))
            out.sync()
        finally:
            out.close()
        report.segments_copied += 1
        report.segment_points += f.points
        return f
    info, dropped = salvage_segment(fs, src, dst, f.points, cipher)
    report.dropped.extend(dropped)
    if info is None:
        return None
    report.segments_rewritten += 1
    report.segment_points += info.points
    return replace(
        f,
        min_ts=info.min_ts,
        max_ts=info.max_ts,
        points=info.points,
        series_count=info.series_count,
        file_bytes=info.file_bytes,
    )


def salvage_segment(
    fs: FileSystem, src: str, dst: str, listed_points: int, cipher: BlockCipher | None = None
) -> tuple[SegmentInfo | None, list[Dropped]]:
    """Write the intact chunks of segment ``src`` into a new segment ``dst``.

    Returns (None, ...) and writes nothing when no chunk survives (footer or
    index unreadable, or every chunk damaged); the list names what was lost.
    """
    try:
        reader = SegmentReader(fs, src, cipher)
    except CorruptDataError as exc:
        return None, [Dropped(src, 0, "whole segment", listed_points, str(exc))]
    bad = {p.offset: p for p in reader.verify()}
    index = reader.index
    dropped = []
    for i in range(len(index)):
        e = index[i]
        off = int(e["offset"])
        if off in bad:
            what = f"series {int(e['series'])} ts {int(e['min_ts'])}..{int(e['max_ts'])}"
            dropped.append(Dropped(src, off, what, int(e["count"]), bad[off].reason))
    if len(bad) == len(index):
        return None, dropped
    writer = SegmentWriter(fs, dst, cipher=cipher)
    try:
        for series in np.unique(index["series"]).tolist():
            parts = [
                reader._chunk(i)  # checked by verify() above
                for i in np.flatnonzero(index["series"] == series).tolist()
                if int(index[i]["offset"]) not in bad
            ]
            if parts:
                writer.add(
                    series,
                    np.concatenate([p[0] for p in parts]),
                    np.concatenate([p[1] for p in parts]),
                    np.concatenate([p[2] for p in parts]),
                )
        info = writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return info, dropped


def _carry_wal(
    fs: FileSystem,
    source: str,
    output: str,
    flushed_seq: int,
    report: RepairReport,
    cipher: BlockCipher | None = None,
) -> None:
    reader = WalReader(fs, filenames.wal_dir(source), filenames.parse_wal_segment_name, cipher)
    writer = WalWriter(
        fs,
        filenames.wal_dir(output),
        filenames.wal_segment_name,
        FsyncPolicy.never(),
        64 << 20,
        flushed_seq + 1,
        cipher=cipher,
    )
    try:
        batch: PointBatch
        for _, batch in reader.replay(after_seq=flushed_seq, salvage=True):
            writer.append(batch)
            report.wal_records += 1
            report.wal_points += len(batch)
    finally:
        writer.close()  # fsyncs (policy never: at close)
    for d in reader.report.damage:
        records = None if d.last_seq is None else d.last_seq - d.first_seq + 1
        points = None
        framing = 21 + (BLOCK_OVERHEAD if cipher is not None else 0)  # + GCM nonce and tag
        if records and d.length and (d.length - framing * records) % 22 == 0:
            points = (d.length - framing * records) // 22  # whole records: framing + 22 B/point
        report.dropped.append(Dropped(d.path, d.offset, d.seq_range, points, d.reason))
    rep = reader.report
    if rep.torn_segment is not None:
        report.dropped.append(
            Dropped(
                rep.torn_segment,
                rep.valid_length,
                f"seq {rep.last_seq + 1}.. ({rep.dropped_bytes} bytes)",
                None,
                f"torn tail ({rep.reason}); never acknowledged under fsync=always",
            )
        )
