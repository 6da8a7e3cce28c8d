"""Store-and-forward spool: encoded batches on local disk while the bus is unreachable.

One file per batch, ``<sequence:020d>.tbwb``, written to a temp name, fsynced
and renamed, so a crash leaves whole batches only. Files are drained in
sequence order (= the order the collector produced them) and deleted only
after JetStream acknowledged them; a batch re-sent after a crash carries the
same ``Nats-Msg-Id`` and is dropped by the stream's duplicate window, so the
spool never causes duplicates in storage.

The spool is bounded by ``max_bytes``. When full, :meth:`DiskSpool.put`
raises :class:`SpoolFullError` and ``alarm`` turns on: the collector counts
and logs the refused points (they were never acknowledged by anybody, so this
is visible loss, not silent loss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from historian.errors import HistorianError

SUFFIX = ".tbwb"


class SpoolFullError(HistorianError):
    """The spool reached its byte limit; raise ``max_bytes`` or restore the bus link."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    sequence: int
    msg_id: str
    payload: bytes
    path: Path


class DiskSpool:
    def __init__(self, directory: Path, *, max_bytes: int = 1024**3, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._fsync = fsync
        self.alarm = False
        self.refused_batches = 0
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()  # a crash mid-write: that batch was never acknowledged as spooled
        self._sizes: dict[int, int] = {
            _seq(p): p.stat().st_size for p in self.directory.glob(f"*{SUFFIX}")
        }
        self._bytes = sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def high_water_sequence(self) -> int:
        return max(self._sizes, default=-1)

    def put(self, sequence: int, msg_id: str, payload: bytes) -> None:
        """Durably store one batch; the id rides in the file so a drain re-sends it unchanged."""
        record = msg_id.encode() + b"\n" + payload
        if self._bytes + len(record) > self.max_bytes:
            self.alarm = True
            self.refused_batches += 1
            raise SpoolFullError(
                f"spool {self.directory} is full ({self._bytes} of {self.max_bytes} bytes); "
                f"batch {msg_id} was refused"
            )
        final = self.directory / f"{sequence:020d}{SUFFIX}"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(record)
            if self._fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, final)
        if self._fsync:
            _fsync_dir(self.directory)
        self._sizes[sequence] = len(record)
        self._bytes += len(record)

    def oldest(self, limit: int) -> list[SpooledBatch]:
        out = []
        for seq in sorted(self._sizes)[:limit]:
            path = self.directory / f"{seq:020d}{SUFFIX}"
            raw = path.read_bytes()
            msg_id, _, payload = raw.partition(b"\n")
            out.append(SpooledBatch(seq, msg_id.decode(), payload, path))
        return out

    def remove(self, sequence: int) -> None:
        size = self._sizes.pop(sequence, None)
        if size is None:
            return
        (self.directory / f"{sequence:020d}{SUFFIX}").unlink(missing_ok=True)
        self._bytes -= size
        if self._bytes < self.max_bytes * 0.9:
            self.alarm = False


def _seq(path: Path) -> int:
    return int(path.name[: -len(SUFFIX)])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
