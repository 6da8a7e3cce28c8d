"""The event store: append-only, checksummed segment files, one per UTC day of event time.

``<data_dir>/events/events-YYYYMMDD.log``: an 8-byte header, then records
``length u32 | crc32c(payload) u32 | payload`` where the payload is the event's
JSON (historian/docs/format/events.md). :meth:`EventStore.append` returns only
after every new record is fsynced (and a new segment's name, by an fsync of the
directory), so the ingest acks an event only once it survives a power cut.

Opening scans every segment and builds the in-memory index (time, offset, length
per record, and the set of event ids for dedupe). A damaged *final* record is a
torn tail (the crash hit mid-append, before the fsync, so it was never acked):
it is cut off and reported in :attr:`EventStore.open_report`. Damage anywhere
else is refused with :class:`EventStoreCorruptError`: acked events are never
dropped silently.
"""

from __future__ import annotations

import fnmatch
import os
import re
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import crc32c

from historian.errors import CorruptDataError, HistorianError
from historian.events.model import MAX_EVENT_BYTES, Event, EventFormatError
from historian.fs import FileSystem, WritableFile

__all__ = ["EventStore", "EventStoreCorruptError", "EventStoreUnusableError", "segment_name"]

MAGIC = b"TBEVT\x00"
VERSION = 1
HEADER = struct.Struct("<6sH")
RECORD = struct.Struct("<II")
NS_PER_DAY = 86_400 * 10**9
_NAME = re.compile(r"^events-(-?\d{8})\.log$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC).toordinal()


class EventStoreCorruptError(CorruptDataError):
    """An event segment failed its checksum or structure check before its tail."""


class EventStoreUnusableError(HistorianError):
    """An append failed and could not be undone; reopen the store (restart the server)."""


def day_of(time_ns: int) -> int:
    return time_ns // NS_PER_DAY


def segment_name(day: int) -> str:
    return f"events-{datetime.fromordinal(_EPOCH + day).strftime('%Y%m%d')}.log"


def _day_of_name(name: str) -> int | None:
    m = _NAME.match(name)
    if m is None:
        return None
    d = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC)
    return d.toordinal() - _EPOCH


def frame(event: Event) -> bytes:
    payload = event.to_json()
    return RECORD.pack(len(payload), crc32c.crc32c(payload)) + payload


@dataclass
class _Segment:
    day: int
    path: str
    size: int = HEADER.size
    times: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


class EventStore:
    """Open (scan, index) the event segments under ``directory``; see the module docstring."""

    def __init__(self, directory: str | os.PathLike[str], fs: FileSystem | None = None) -> None:
        self.directory = os.fspath(directory)
        self._fs = fs or FileSystem()
        self._lock = threading.Lock()
        self._segments: dict[int, _Segment] = {}
        self._ids: set[str] = set()
        self._open: dict[int, WritableFile] = {}
        self._failed: str | None = None
        self.open_report: dict[str, object] = {"segments": 0, "events": 0, "torn_tails": []}
        for name in self._fs.listdir(self.directory):
            day = _day_of_name(name)
            if day is not None:
                self._load(day, os.path.join(self.directory, name))
        self.open_report["segments"] = len(self._segments)
        self.open_report["events"] = len(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    # --------------------------------------------------------------- open
    def _load(self, day: int, path: str) -> None:
        data = self._fs.read_bytes(path)
        seg = _Segment(day, path)
        if len(data) < HEADER.size:  # a crash right after the create: nothing was acked
            self._cut(seg, 0, len(data), "incomplete header")
            self._segments[day] = seg
            return
        magic, version = HEADER.unpack_from(data)
        if magic != MAGIC or version != VERSION:
            raise EventStoreCorruptError(
                f"{path}: not a twinbench event segment (magic {magic!r}, version {version})"
            )
        off = HEADER.size
        while off < len(data):
            damage = self._damage(data, off)
            if damage is not None:
                if not self._is_tail(data, off):
                    raise EventStoreCorruptError(
                        f"{path}: record at byte {off} is damaged ({damage}) and is not the "
                        "file's last: acked events would be lost; restore the file from a backup"
                    )
                self._cut(seg, off, len(data), damage)
                break
            length = RECORD.unpack_from(data, off)[0]
            event = Event.from_json(data[off + RECORD.size : off + RECORD.size + length])
            seg.times.append(event.time_ns)
            seg.offsets.append(off)
            self._ids.add(event.id)
            off += RECORD.size + length
        seg.size = min(off, len(data))
        self._segments[day] = seg

    @staticmethod
    def _damage(data: bytes, off: int) -> str | None:
        if len(data) - off < RECORD.size:
            return "incomplete record header"
        length, crc = RECORD.unpack_from(data, off)
        if not 0 < length <= MAX_EVENT_BYTES:
            return f"invalid length {length}"
        end = off + RECORD.size + length
        if end > len(data):
            return "incomplete record"
        payload = data[off + RECORD.size : end]
        if crc32c.crc32c(payload) != crc:
            return "checksum mismatch"
        try:
            Event.from_json(payload)
        except EventFormatError as exc:
            return f"not an event: {exc}"
        return None

    @staticmethod
    def _is_tail(data: bytes, off: int) -> bool:
        """The damaged record is the last thing in the file (or all zeros follow it)."""
        if len(data) - off < RECORD.size:
            return True
        length = RECORD.unpack_from(data, off)[0]
        if 0 < length <= MAX_EVENT_BYTES and off + RECORD.size + length >= len(data):
            return True
        return not any(data[off:])  # a zero-filled tail: the length itself was never written

    def _cut(self, seg: _Segment, off: int, size: int, why: str) -> None:
        self._fs.truncate(seg.path, max(off, 0))
        seg.size = off
        torn = self.open_report["torn_tails"]
        assert isinstance(torn, list)
        torn.append({"segment": os.path.basename(seg.path), "offset": off, "bytes": size - off,
                     "why": why})  # fmt: skip

    # --------------------------------------------------------------- append
    def append(self, events: Iterable[Event]) -> int:
        """Store the events not stored yet (by id); returns how many were new, once durable."""
        with self._lock:
            if self._failed is not None:
                raise EventStoreUnusableError(f"the event store refuses appends: {self._failed}")
            new: dict[str, Event] = {}
            for e in events:
                if e.id not in self._ids and e.id not in new:
                    new[e.id] = e
            if not new:
                return 0
            by_day: dict[int, list[Event]] = {}
            for e in new.values():
                by_day.setdefault(day_of(e.time_ns), []).append(e)
            before = {d: self._segments[d].size for d in by_day if d in self._segments}
            try:
                placed = self._write(by_day)
            except BaseException as exc:
                self._undo(by_day, before, exc)
                raise
            for day, rows in placed.items():
                seg = self._segments[day]
                for t, off in rows:
                    seg.times.append(t)
                    seg.offsets.append(off)
                    seg.size = max(seg.size, off)
            self._ids.update(new)
            return len(new)

    def _write(self, by_day: dict[int, list[Event]]) -> dict[int, list[tuple[int, int]]]:
        created = False
        placed: dict[int, list[tuple[int, int]]] = {}
        handles: list[WritableFile] = []
        for day, events in sorted(by_day.items()):
            f = self._open.get(day)
            if f is None:
                if day not in self._segments:
                    self._fs.makedirs(self.directory)
                    path = os.path.join(self.directory, segment_name(day))
                    self._segments[day] = _Segment(day, path, size=0)
                    created = True
                seg = self._segments[day]
                f = self._fs.open_append(seg.path)
                if f.size == 0:
                    f.append(HEADER.pack(MAGIC, VERSION))
                self._open[day] = f
            rows = placed.setdefault(day, [])
            buf = bytearray()
            for e in events:
                rows.append((e.time_ns, f.size + len(buf)))
                buf += frame(e)
            f.append(buf)
            handles.append(f)
        for f in handles:
            f.sync()
        if created:
            self._fs.sync_dir(self.directory)
        for day in placed:
            self._segments[day].size = self._open[day].size
        self._close_spare()
        return placed

    def _undo(
        self, by_day: dict[int, list[Event]], before: dict[int, int], exc: BaseException
    ) -> None:
        """Cut what the failed append left, so the file still ends on a whole synced record."""
        try:
            for day in by_day:
                f = self._open.pop(day, None)
                if f is not None:
                    f.close()
                seg = self._segments.get(day)
                if seg is None:
                    continue
                if day in before:
                    self._fs.truncate(seg.path, before[day])
                    seg.size = before[day]
                else:  # a segment this append created: it holds nothing acked
                    self._fs.remove(seg.path)
                    del self._segments[day]
        except OSError as undo_exc:
            self._failed = f"{exc}; undoing it failed too: {undo_exc}"

    def _close_spare(self, keep: int = 4) -> None:
        """At most ``keep`` segments stay open (events arrive for today, rarely for old days)."""
        while len(self._open) > keep:
            self._open.pop(min(self._open)).close()

    def close(self) -> None:
        with self._lock:
            for f in self._open.values():
                f.close()
            self._open.clear()

    # --------------------------------------------------------------- query
    def query(
        self,
        start_ns: int,
        end_ns: int,
        *,
        source: str = "*",
        kinds: Sequence[str] = (),
        min_severity: int = 1,
        after: tuple[int, str] | None = None,
        max_count: int = 1000,
        visible: Callable[[str], bool] | None = None,
    ) -> tuple[list[Event], bool]:
        """Events with ``start_ns <= time_ns < end_ns`` matching the filters, by (time, id).

        ``after`` continues a page: only events ordered after that (time, id). Returns
        up to ``max_count`` events and whether more match. ``visible(source)`` hides
        events (an API token's read scope) before the count.
        """
        rx = re.compile(fnmatch.translate(source))
        out: list[Event] = []
        with self._lock:
            lo = start_ns if after is None else max(start_ns, after[0])
            days = sorted(d for d in self._segments if day_of(lo) <= d <= day_of(end_ns - 1))
            picks = [(self._segments[d], self._in_range(self._segments[d], lo, end_ns))
                     for d in days]  # fmt: skip
        for seg, rows in picks:
            if not rows:
                continue
            data = self._fs.read_bytes(seg.path)
            found: list[Event] = []
            for t, off in rows:  # in time order: stop once a page is sure
                if len(found) > max_count - len(out) and t > found[max_count - len(out)].time_ns:
                    break
                e = self._read(seg, data, off)
                if after is not None and (e.time_ns, e.id) <= after:
                    continue
                if e.severity < min_severity or (kinds and e.kind not in kinds):
                    continue
                if rx.match(e.source) and (visible is None or visible(e.source)):
                    found.append(e)
            found.sort(key=lambda e: (e.time_ns, e.id))
            out += found
            if len(out) > max_count:
                break
        return out[:max_count], len(out) > max_count

    @staticmethod
    def _in_range(seg: _Segment, start_ns: int, end_ns: int) -> list[tuple[int, int]]:
        """(time, offset) of the segment's records in the range, by time."""
        rows = zip(seg.times, seg.offsets, strict=True)
        return sorted((t, o) for t, o in rows if start_ns <= t < end_ns)

    def _read(self, seg: _Segment, data: bytes, off: int) -> Event:
        damage = self._damage(data, off)
        if damage is not None:
            raise EventStoreCorruptError(f"{seg.path}: record at byte {off} is damaged ({damage})")
        length = RECORD.unpack_from(data, off)[0]
        return Event.from_json(data[off + RECORD.size : off + RECORD.size + length])
