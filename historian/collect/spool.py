"""Store-and-forward spool: encoded batches on local disk while the bus is unreachable.

One file per batch, ``<sequence:020d>.tbwb``, written through the file-system
seam (:meth:`historian.fs.FileSystem.write_atomic`: temp name, fsync, rename,
directory fsync), so a crash leaves whole batches only and tests can inject
disk faults. Files are drained in sequence order (= the order the collector
produced them) and deleted only after JetStream acknowledged them; a batch
re-sent after a crash carries the same ``Nats-Msg-Id`` and is dropped by the
stream's duplicate window, so the spool never causes duplicates in storage.

A file the drain cannot decode (bit rot, a truncated copy, a foreign file) is
moved, bytes intact, to ``quarantine/`` (:meth:`DiskSpool.quarantine`) so it
cannot block the batches behind it.

The spool is bounded by ``max_bytes``. When full, :meth:`DiskSpool.put`
raises :class:`SpoolFullError` and ``alarm`` turns on: the collector counts
and logs the refused points (they were never acknowledged by anybody, so this
is visible loss, not silent loss). A failed write (EIO, ENOSPC, a failed
fsync) raises and leaves no file behind: the batch is not spooled.

Format page: ``historian/docs/format/spool.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from historian.errors import HistorianError
from historian.fs import FileSystem

SUFFIX = ".tbwb"
QUARANTINE_DIR = "quarantine"


class SpoolFullError(HistorianError):
    """The spool reached its byte limit; raise ``max_bytes`` or restore the bus link."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    sequence: int
    msg_id: str
    """The ``Nats-Msg-Id`` to publish under ("" when the id line is not UTF-8)."""
    payload: bytes
    path: Path


class DiskSpool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1024**3,
        fsync: bool = True,
        fs: FileSystem | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.fs = fs or FileSystem()
        self.fs.makedirs(str(self.directory))
        self.max_bytes = max_bytes
        self._fsync = fsync
        self.alarm = False
        self.refused_batches = 0
        # files an earlier life quarantined are still waiting for an operator: count them
        self.quarantined = len(self.fs.listdir(str(self.directory / QUARANTINE_DIR)))
        self._sizes: dict[int, int] = {}
        for name in self.fs.listdir(str(self.directory)):
            path = str(self.directory / name)
            if name.endswith(".tmp"):
                self.fs.remove(path)  # a crash mid-write: never acknowledged as spooled
            elif name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
                self._sizes[int(name[: -len(SUFFIX)])] = self.fs.size(path)
        self._bytes = sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def quarantine_dir(self) -> Path:
        return self.directory / QUARANTINE_DIR

    def sequences(self) -> list[int]:
        return sorted(self._sizes)

    def high_water_sequence(self) -> int:
        return max(self._sizes, default=-1)

    def path_of(self, sequence: int) -> Path:
        return self.directory / f"{sequence:020d}{SUFFIX}"

    def put(self, sequence: int, msg_id: str, payload: bytes) -> None:
        """Durably store one batch (replacing a file of the same sequence); the id rides in
        the file so a drain re-sends it unchanged. Raises on a full spool or a failed write;
        the batch then counts as not spooled."""
        record = msg_id.encode() + b"\n" + payload
        old = self._sizes.get(sequence, 0)
        if self._bytes - old + len(record) > self.max_bytes:
            self.alarm = True
            self.refused_batches += 1
            raise SpoolFullError(
                f"spool {self.directory} is full ({self._bytes} of {self.max_bytes} bytes); "
                f"batch {msg_id} was refused"
            )
        final = str(self.path_of(sequence))
        try:
            self._write(final, record)
        except OSError:
            if sequence not in self._sizes:
                # e.g. the directory fsync failed after the rename: a file we report as not
                # spooled must not be drained later behind the caller's back
                self.fs.remove(final)
            raise
        self._sizes[sequence] = len(record)
        self._bytes += len(record) - old

    def _write(self, final: str, record: bytes) -> None:
        if self._fsync:
            self.fs.write_atomic(final, record)
            return
        tmp = final + ".tmp"  # benchmarks: survives a process kill, not a power cut
        f = self.fs.create(tmp)
        try:
            f.append(record)
        except BaseException:
            f.close()
            self.fs.remove(tmp)
            raise
        f.close()
        self.fs.rename(tmp, final)

    def oldest(self, limit: int) -> list[SpooledBatch]:
        out = []
        for seq in sorted(self._sizes)[:limit]:
            path = self.path_of(seq)
            raw = self.fs.read_bytes(str(path))
            head, _, payload = raw.partition(b"\n")
            try:
                msg_id = head.decode()
            except UnicodeDecodeError:
                msg_id = ""
            out.append(SpooledBatch(seq, msg_id, payload, path))
        return out

    def remove(self, sequence: int) -> None:
        size = self._sizes.pop(sequence, None)
        if size is None:
            return
        self.fs.remove(str(self.path_of(sequence)))
        self._bytes -= size
        if self._bytes < self.max_bytes * 0.9:
            self.alarm = False

    def quarantine(self, sequence: int) -> Path:
        """Move a file the drain cannot use to ``quarantine/``, bytes intact; returns its path.

        Quarantined files no longer count against ``max_bytes`` nor block the drain;
        an operator inspects them (``historian/docs/format/spool.md``).
        """
        src = self.path_of(sequence)
        self.fs.makedirs(str(self.quarantine_dir))
        dst = self.quarantine_dir / src.name
        self.fs.rename(str(src), str(dst))
        if self._fsync:
            self.fs.sync_dir(str(self.quarantine_dir))
            self.fs.sync_dir(str(self.directory))
        size = self._sizes.pop(sequence, 0)
        self._bytes -= size
        self.quarantined += 1
        return dst
