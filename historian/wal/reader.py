"""WAL reader: replays records in order and stops cleanly at a torn or corrupt tail.

Only the newest segment may end badly (a crash mid-append, or bytes that were
never fsynced). A bad record there ends the replay and is reported in
:class:`ReplayReport` (``dropped_bytes``); a bad record in an older segment,
which was fsynced at rotation, is real corruption and raises
:class:`~historian.wal.format.WalCorruptError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from historian.fs import FileSystem
from historian.model import PointBatch
from historian.wal.format import (
    FILE_HEADER,
    MAX_RECORD_BYTES,
    RECORD_HEADER,
    WalCorruptError,
    checksum_ok,
    decode_header,
    decode_payload,
)

ParseSegmentName = Callable[[str], int | None]
"""file name -> first sequence number, or None when the name is not a WAL segment."""


@dataclass
class ReplayReport:
    records: int = 0
    points: int = 0
    last_seq: int = 0
    dropped_bytes: int = 0
    """Bytes after the last good record of the newest segment (torn or corrupt tail)."""
    torn_segment: str | None = None
    valid_length: int = 0
    """Length of ``torn_segment`` up to its last good record (truncate to this)."""
    segments: list[str] = field(default_factory=list)
    reason: str = ""


def list_segments(fs: FileSystem, directory: str, parse: ParseSegmentName) -> list[tuple[int, str]]:
    """(first_seq, path) of every WAL segment, oldest first."""
    found = []
    for name in fs.listdir(directory):
        first = parse(name)
        if first is not None:
            found.append((first, os.path.join(directory, name)))
    return sorted(found)


class WalReader:
    def __init__(self, fs: FileSystem, directory: str, parse: ParseSegmentName) -> None:
        self._fs = fs
        self._dir = directory
        self._parse = parse
        self.report = ReplayReport()

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, PointBatch]]:
        """Yield (seq, batch) for every intact record with seq > ``after_seq``."""
        segments = list_segments(self._fs, self._dir, self._parse)
        expected: int | None = None
        for i, (first, path) in enumerate(segments):
            is_last = i == len(segments) - 1
            self.report.segments.append(path)
            data = memoryview(self._fs.read_bytes(path))
            try:
                header_first = decode_header(data)
            except WalCorruptError as exc:
                if is_last:
                    self._torn(path, 0, len(data), f"bad segment header: {exc}")
                    return
                raise WalCorruptError(f"{path}: {exc}") from exc
            if header_first != first:
                raise WalCorruptError(
                    f"{path}: header says first seq {header_first}, file name says {first}"
                )
            if expected is not None and first != expected:
                raise WalCorruptError(
                    f"{path}: starts at seq {first}, the previous segment ended at {expected - 1}"
                )
            expected = first
            pos = FILE_HEADER.size
            while pos < len(data):
                problem = self._check_record(data, pos, expected)
                if problem:
                    if is_last:
                        self._torn(path, pos, len(data), problem)
                        return
                    raise WalCorruptError(f"{path} at offset {pos}: {problem}")
                length, _ = RECORD_HEADER.unpack_from(data, pos)
                payload = data[pos + RECORD_HEADER.size : pos + RECORD_HEADER.size + length]
                pos += RECORD_HEADER.size + length
                seq, batch = decode_payload(payload)
                expected = seq + 1
                self.report.records += 1
                self.report.last_seq = seq
                if seq > after_seq:
                    self.report.points += len(batch)
                    yield seq, batch

    @staticmethod
    def _check_record(data: memoryview, pos: int, expected_seq: int) -> str:
        """'' when the record at ``pos`` is intact, else what is wrong with it."""
        if len(data) - pos < RECORD_HEADER.size:
            return f"torn record header ({len(data) - pos} bytes)"
        length, crc = RECORD_HEADER.unpack_from(data, pos)
        if length == 0 or length > MAX_RECORD_BYTES:
            return f"implausible record length {length}"
        end = pos + RECORD_HEADER.size + length
        if end > len(data):
            return f"torn record: needs {length} payload bytes, {len(data) - pos - 8} present"
        if not checksum_ok(data[pos + RECORD_HEADER.size : end], crc):
            return "record checksum mismatch"
        seq = int.from_bytes(data[pos + 9 : pos + 17], "little")
        if seq != expected_seq:
            return f"record seq {seq} where {expected_seq} was expected"
        return ""

    def _torn(self, path: str, valid: int, total: int, reason: str) -> None:
        self.report.torn_segment = path
        self.report.valid_length = valid
        self.report.dropped_bytes = total - valid
        self.report.reason = reason
