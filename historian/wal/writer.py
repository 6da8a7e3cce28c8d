"""WAL writer: framing, group commit, fsync policy and segment rotation.

Acknowledgement rule (see :class:`historian.options.FsyncPolicy`): ``append``
returns only when the record is durable under the policy: fsynced for
``always`` (concurrent appenders share one fsync), handed to the OS for
``interval_ms`` and ``never``. A failed append is rolled back (the file is
truncated to where the record started) so a later record never follows garbage.
A failed fsync poisons the writer: the kernel may have dropped the dirty pages,
so nothing more is acknowledged until the database is reopened and the WAL is
re-read from disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

from historian.crypto.cipher import BlockCipher
from historian.errors import DiskFullError, HistorianError
from historian.fs import FileSystem, WritableFile
from historian.model import PointBatch
from historian.options import FsyncPolicy
from historian.wal.format import (
    FILE_ID_BYTES,
    RecordCrypto,
    encode_encrypted_header,
    encode_header,
    encode_record,
    encode_seal,
)

SegmentName = Callable[[int], str]
"""first sequence number -> file name of the WAL segment that starts there."""


class WalWriteError(HistorianError):
    """The WAL could not make a record durable; the write was not acknowledged."""


class WalWriter:
    """Appends batches to numbered WAL segments in ``directory``."""

    def __init__(
        self,
        fs: FileSystem,
        directory: str,
        segment_name: SegmentName,
        policy: FsyncPolicy,
        segment_bytes: int,
        next_seq: int,
        on_rotate: Callable[[float], None] | None = None,
        cipher: BlockCipher | None = None,
    ) -> None:
        self._fs = fs
        self._cipher = cipher
        """Encrypts every record when given (docs/format/wal.md, "Encrypted segments")."""
        self._crypto: RecordCrypto | None = None
        self._on_rotate = on_rotate
        """Told how long each rotation took (seconds), e.g. for a latency histogram."""
        self._dir = directory
        self._segment_name = segment_name
        self._policy = policy
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()  # file, last_seq
        self._sync_lock = threading.Lock()  # one fsync at a time; taken before _lock
        self._poisoned: str | None = None
        self.fsyncs = 0
        """fsyncs issued by sync_through (group commit makes this < appends under load)."""
        self.last_seq = next_seq - 1
        self.synced_seq = next_seq - 1
        self._file = self._new_segment(next_seq)
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if policy.mode == "interval":
            self._syncer = threading.Thread(target=self._sync_loop, name="wal-syncer", daemon=True)
            self._syncer.start()

    def _new_segment(self, first_seq: int) -> WritableFile:
        path = os.path.join(self._dir, self._segment_name(first_seq))
        f = self._fs.create(path)
        crypto = None
        header = encode_header(first_seq)
        if self._cipher is not None:
            crypto = RecordCrypto(self._cipher, os.urandom(FILE_ID_BYTES), first_seq)
            header = encode_encrypted_header(first_seq, self._cipher.key_id, crypto.file_id)
        try:
            f.append(header)
            f.sync()
            self._fs.sync_dir(self._dir)
        except BaseException:
            f.close()
            self._fs.remove(path)
            raise
        self._current_first = first_seq
        self._crypto = crypto  # callers hold _lock or are the constructor
        return f

    @property
    def current_path(self) -> str:
        return self._file.path

    def append(self, batch: PointBatch, wait_durable: bool = True) -> int:
        """Write one batch; return its sequence number once durable under the policy.

        With ``wait_durable=False`` the record is written but not yet waited for:
        call :meth:`wait_durable` before acknowledging it. That lets a caller
        release its own lock first, so concurrent writers share one fsync.
        """
        if self._file.size >= self._segment_bytes:
            self.rotate()
        with self._lock:
            self._check_usable()
            record_seq = self.last_seq + 1
            record = encode_record(record_seq, batch, self._crypto)
            start = self._file.size
            try:
                self._file.append(record)
            except OSError as exc:
                self._roll_back(start)
                if isinstance(exc, DiskFullError):
                    raise
                raise WalWriteError(
                    f"WAL append failed ({exc}); the write was not applied"
                ) from exc
            self.last_seq = record_seq
        self._fs.crash_point("wal.after_append")
        if wait_durable:
            self.wait_durable(record_seq)
        return record_seq

    def wait_durable(self, seq: int) -> None:
        """Return once record ``seq`` is durable under the policy (fsynced for ``always``)."""
        if self._policy.mode == "always":
            self.sync_through(seq)
            self._fs.crash_point("wal.after_sync")

    def _roll_back(self, start: int) -> None:
        try:
            self._fs.truncate(self._file.path, start)
            self._file.size = start
        except OSError as exc:
            self._poisoned = f"could not roll back a failed WAL append ({exc})"

    def _check_usable(self) -> None:
        if self._poisoned is not None:
            raise WalWriteError(
                f"WAL is unusable: {self._poisoned}; close and reopen the database to recover"
            )

    def sync_through(self, seq: int) -> None:
        """Return once every record up to ``seq`` is fsynced (group commit)."""
        with self._sync_lock:
            if self.synced_seq >= seq:
                return
            with self._lock:
                self._check_usable()
                target = self.last_seq
                f = self._file
            try:
                f.sync()
                self.fsyncs += 1
            except OSError as exc:
                self._poisoned = f"fsync of {f.path} failed ({exc})"
                raise WalWriteError(
                    f"WAL fsync failed ({exc}); the write is not durable and was not acknowledged"
                ) from exc
            self.synced_seq = max(self.synced_seq, target)

    def sync(self) -> None:
        self.sync_through(self.last_seq)

    def rotate(self) -> None:
        """Start a new segment at the next sequence number (no-op when the current one is empty)."""
        t0 = time.perf_counter()
        with self._sync_lock, self._lock:
            self._check_usable()
            if self._current_first == self.last_seq + 1:
                return  # current segment holds no record yet
            try:
                self._file.sync()
            except OSError as exc:
                self._poisoned = f"fsync of {self._file.path} failed ({exc})"
                raise WalWriteError(f"WAL fsync failed at rotation ({exc})") from exc
            self.synced_seq = self.last_seq
            new = self._new_segment(self.last_seq + 1)
            self._file.close()
            self._file = new
        if self._on_rotate is not None:
            self._on_rotate(time.perf_counter() - t0)

    def _sync_loop(self) -> None:
        interval = self._policy.interval_ms / 1000.0
        while not self._stop.wait(interval):
            if self.last_seq > self.synced_seq and self._poisoned is None:
                # poisoned on failure: the next append reports it
                with contextlib.suppress(HistorianError):
                    self.sync_through(self.last_seq)

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        try:
            if self._poisoned is None:
                self._seal()
        finally:
            with self._lock:
                self._file.close()

    def _seal(self) -> None:
        """Append the clean-close marker and fsync: from now on, any damage before it in
        this segment is corruption, never a torn tail (docs/format/wal.md)."""
        with self._sync_lock, self._lock:
            start = self._file.size
            try:
                self._file.append(encode_seal(self.last_seq, self._crypto))
            except OSError:
                self._roll_back(start)  # unsealed: read with the torn-tail rule, as after a crash
            try:
                self._file.sync()
            except OSError as exc:
                self._poisoned = f"fsync of {self._file.path} failed at close ({exc})"
                raise WalWriteError(
                    f"WAL fsync failed at close ({exc}); records not yet fsynced may be lost"
                ) from exc
            self.synced_seq = self.last_seq
