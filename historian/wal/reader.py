"""WAL reader: replays records in order; tells a torn tail from corruption.

Rules (docs/format/wal.md, "Recovery rules"):

* The sequence chain must be unbroken from ``after_seq + 1`` (the manifest's
  ``flushed_seq``) through every segment: a missing segment is corruption.
* A torn tail can only be at the end of the *newest* segment, and only when no
  valid record follows the bad one (those bytes were being appended when the
  process or the power died, so they were never acknowledged under
  ``fsync=always``). It ends the replay and is reported in :class:`ReplayReport`.
* Anything else (a bad record followed by a valid one, damage inside an older
  segment, which was fsynced at rotation, a bad header, a checksum-valid record
  with the wrong sequence number) is corruption: the strict replay raises
  :class:`~historian.wal.format.WalCorruptError` naming file, offset and the
  sequence range that is unreadable, and changes nothing on disk.

``replay(..., salvage=True)`` (used by ``twinbench historian repair``) never
raises for damage: it skips to the next valid frame and lists each skipped
region in ``report.damage``.

Encrypted segments (a ``cipher`` given): each segment's key id must be the
cipher's, and an unencrypted segment is refused (both raise
:class:`~historian.crypto.EncryptionKeyError`, salvage or not). A record whose
framing and CRC are intact but whose GCM tag fails is corruption wherever it is,
the newest segment's tail included: a torn append cannot produce it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from historian.crypto.cipher import BlockAuthenticationError, BlockCipher
from historian.crypto.keyfile import require_same_key
from historian.fs import FileSystem
from historian.model import PointBatch
from historian.wal.format import (
    BYTES_PER_POINT,
    FILE_HEADER,
    PAYLOAD_PREFIX,
    RECORD_TYPE_SEAL,
    RecordCrypto,
    WalCorruptError,
    WalDamage,
    check_record,
    decode_header_info,
    decode_payload,
    find_next_frame,
    header_size,
    record_overhead,
    record_seq,
    record_size,
    record_type,
)

ParseSegmentName = Callable[[str], int | None]
"""file name -> first sequence number, or None when the name is not a WAL segment."""


@dataclass
class ReplayReport:
    records: int = 0
    points: int = 0
    last_seq: int = 0
    dropped_bytes: int = 0
    """Bytes after the last good record of the newest segment (torn tail)."""
    torn_segment: str | None = None
    valid_length: int = 0
    """Length of ``torn_segment`` up to its last good record (truncate to this)."""
    segments: list[str] = field(default_factory=list)
    reason: str = ""
    damage: list[WalDamage] = field(default_factory=list)
    """Regions skipped by a salvage replay (empty after a strict replay)."""
    header_length: int = FILE_HEADER.size
    """Header bytes of ``torn_segment`` (48 when encrypted): no record survived at or below."""


def list_segments(fs: FileSystem, directory: str, parse: ParseSegmentName) -> list[tuple[int, str]]:
    """(first_seq, path) of every WAL segment, oldest first."""
    found = []
    for name in fs.listdir(directory):
        first = parse(name)
        if first is not None:
            found.append((first, os.path.join(directory, name)))
    return sorted(found)


def unflushed_segments(segments: list[tuple[int, str]], after_seq: int) -> list[tuple[int, str]]:
    """Drop segments whose every record is ``<= after_seq`` (the next one starts by then).

    Such segments are garbage awaiting deletion (their removal may not have
    been made durable before a crash); gaps among them lose nothing.
    """
    keep = [seg for seg, nxt in itertools.pairwise(segments) if nxt[0] - 1 > after_seq]
    return keep + segments[-1:]


class WalReader:
    def __init__(
        self,
        fs: FileSystem,
        directory: str,
        parse: ParseSegmentName,
        cipher: BlockCipher | None = None,
    ) -> None:
        self._fs = fs
        self._dir = directory
        self._parse = parse
        self._cipher = cipher
        self.report = ReplayReport()

    def replay(self, after_seq: int = 0, salvage: bool = False) -> Iterator[tuple[int, PointBatch]]:
        """Yield (seq, batch) for every intact record with seq > ``after_seq``."""
        for _, payload in self._walk(after_seq, salvage):
            yield decode_payload(payload)

    def check(self, after_seq: int = 0) -> ReplayReport:
        """Run every check of a strict replay without decoding; raise on corruption.

        Recovery calls this first, so a corrupt WAL is refused before anything
        is flushed or truncated.
        """
        for _ in self._walk(after_seq, salvage=False):
            pass
        return self.report

    def _walk(self, after_seq: int, salvage: bool) -> Iterator[tuple[int, memoryview]]:
        segments = unflushed_segments(list_segments(self._fs, self._dir, self._parse), after_seq)
        expected = after_seq + 1
        for i, (first, path) in enumerate(segments):
            is_last = i == len(segments) - 1
            next_first = None if is_last else segments[i + 1][0]
            self.report.segments.append(path)
            data = memoryview(self._fs.read_bytes(path))
            if first > expected:
                prev = segments[i - 1][1] if i else None
                self._damage(
                    WalDamage(
                        path,
                        0,
                        0,
                        expected,
                        first - 1,
                        "WAL segment(s) missing"
                        + (f" between {os.path.basename(prev)} and this one" if prev else "")
                        + " (deleted or lost)",
                        0,
                    ),
                    salvage,
                )
            elif first < expected and i > 0:
                self._damage(
                    WalDamage(
                        path,
                        0,
                        0,
                        first,
                        expected - 1,
                        f"segment starts at seq {first}, but the previous one already "
                        f"ends at {expected - 1} (overlapping segments)",
                        0,
                    ),
                    salvage,
                )
            if i == 0 or first > expected:
                expected = first
            if is_last and (len(data) < header_size(data) or not any(data)):
                # created but its header never reached the disk: a crash at creation
                self._torn(path, 0, len(data), f"segment header torn ({len(data)} bytes)")
                return
            try:
                header = decode_header_info(data)
                header_first = header.first_seq
            except WalCorruptError as exc:
                self._damage(
                    WalDamage(path, 0, len(data), first, _last(next_first), str(exc), 0), salvage
                )
                expected = next_first or first
                continue
            if header_first != first:
                self._damage(
                    WalDamage(
                        path,
                        0,
                        len(data),
                        first,
                        _last(next_first),
                        f"header says first seq {header_first}, the file name says {first}",
                        0,
                    ),
                    salvage,
                )
                expected = next_first or first
                continue
            require_same_key(path, header.key_id, self._cipher)
            crypto = None
            if self._cipher is not None:
                crypto = RecordCrypto(self._cipher, header.file_id, header.first_seq)
            overhead = record_overhead(header)
            self.report.header_length = header.size
            pos = header.size
            sealed = False
            while pos < len(data):
                problem = check_record(data, pos, overhead)
                if not problem:
                    seq = record_seq(data, pos)
                    size = record_size(data, pos)
                    plain: memoryview | None = None
                    if crypto is not None:
                        try:
                            plain = crypto.open(data[pos + 8 : pos + size])
                        except BlockAuthenticationError:
                            reason = (
                                "record failed AES-GCM authentication (tampered, or moved from "
                                "another file or position; its checksum is intact, so not a "
                                "torn write)"
                            )
                            after = pos + size if pos + size < len(data) else 0
                            lost = WalDamage(path, pos, size, expected, expected, reason, after)
                            self._damage(lost, salvage)
                            if seq == expected:
                                expected += 1
                            pos += size
                            continue
                    if record_type(data, pos) == RECORD_TYPE_SEAL:
                        if seq == expected - 1 and not sealed:
                            sealed = True  # clean close: all before it was fsynced
                        else:
                            reason = f"clean-close seal for seq {seq} where {expected - 1} ended"
                            self._damage(WalDamage(path, pos, size, seq, seq, reason, 0), salvage)
                        pos += size
                        continue
                    if sealed:  # nothing is ever appended after a seal
                        reason = "a record follows the segment's clean-close seal (repair keeps it)"
                        self._damage(WalDamage(path, pos, 0, seq, seq, reason, 0), salvage)
                        sealed = False
                    if seq == expected:
                        payload = data[pos + 8 : pos + size] if plain is None else plain
                        pos += size
                        expected = seq + 1
                        self.report.records += 1
                        self.report.last_seq = seq
                        if seq > after_seq:
                            self.report.points += (
                                len(payload) - PAYLOAD_PREFIX.size
                            ) // BYTES_PER_POINT
                            yield seq, payload
                        continue
                    reason = f"valid record carries seq {seq} where {expected} was expected"
                    if seq > expected:  # records expected..seq-1 are missing; keep this one
                        self._damage(WalDamage(path, pos, 0, expected, seq - 1, reason, 0), salvage)
                        expected = seq
                        continue
                    # an old record where a newer one belongs: drop it
                    self._damage(WalDamage(path, pos, size, seq, seq, reason, 0), salvage)
                    pos += size
                    continue
                nxt = find_next_frame(data, pos + 1, overhead)
                if nxt is None and is_last and not sealed:
                    self._torn(path, pos, len(data), problem)
                    return
                if nxt is None:
                    end, last = len(data), _last(next_first)
                else:  # a seal carries the seq of the batch before it: that one is lost too
                    seal = record_type(data, nxt) == RECORD_TYPE_SEAL
                    end, last = nxt, record_seq(data, nxt) - (0 if seal else 1)
                self._damage(
                    WalDamage(path, pos, end - pos, expected, last, problem, nxt or 0), salvage
                )
                pos = end
                if last is not None:
                    expected = last + 1  # the damage is reported once, not again as a gap

    def _damage(self, damage: WalDamage, salvage: bool) -> None:
        if not salvage:
            root = os.path.dirname(os.path.abspath(self._dir))
            raise WalCorruptError(
                f"{damage.describe()}. The database was not opened and nothing was changed; "
                f"salvage what is readable with `twinbench historian repair {root} "
                "--output NEWDIR`",
                damage,
            )
        self.report.damage.append(damage)

    def _torn(self, path: str, valid: int, total: int, reason: str) -> None:
        self.report.torn_segment = path
        self.report.valid_length = valid
        self.report.dropped_bytes = total - valid
        self.report.reason = reason


def _last(next_first: int | None) -> int | None:
    return None if next_first is None else next_first - 1


def discard_torn_tail(fs: FileSystem, report: ReplayReport) -> None:
    """Cut the torn tail off the newest segment, durably, before new records follow it.

    Durability matters: once a newer segment holds acknowledged records, this
    one is an *older* segment, where leftover garbage would be corruption. So
    the truncation is fsynced (file and directory) before the writer starts.
    """
    path = report.torn_segment
    if path is None:
        return
    if report.valid_length <= report.header_length:
        fs.remove(path)  # no record survived: the writer recreates the segment
    else:
        fs.truncate(path, report.valid_length)
        f = fs.open_append(path)
        try:
            f.sync()
        finally:
            f.close()
    fs.sync_dir(os.path.dirname(path))
