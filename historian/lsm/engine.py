"""The storage engine: WAL -> memtable -> L0 segments -> time-window compaction.

:class:`Historian` is the facade: opening, maintenance (flush, compact, close) and
the store's identity. Its behaviour lives in one module per concern, joined here
by inheritance so they share the state of :class:`~historian.lsm.core.EngineCore`:

- :mod:`historian.lsm.recovery`: open, WAL check and replay, background start;
- :mod:`historian.lsm.write_path`: validate, WAL append, memtable add and switch;
- :mod:`historian.lsm.background`: flush and compaction threads, tier hooks;
- :mod:`historian.lsm.reads`: snapshots, point reads, read-source providers;
- :mod:`historian.lsm.stats`: :class:`Stats`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from historian.crypto.cipher import BlockCipher
from historian.errors import DiskFullError, HistorianError
from historian.fs import FileSystem
from historian.model import Point as Point  # re-exported: historian.Point's old home
from historian.options import Options

from .compaction import warm_up_kernels
from .core import WRITE_STAGES as WRITE_STAGES
from .reads import Reads
from .recovery import Recovery
from .stats import LevelStats as LevelStats
from .stats import Stats as Stats
from .stats import StatsReport
from .write_path import WritePath

__all__ = ["WRITE_STAGES", "Historian", "LevelStats", "Point", "Stats"]


class Historian(Recovery, WritePath, Reads, StatsReport):
    """A time-series store in one directory. Open with :meth:`open`."""

    @classmethod
    def open(
        cls, path: str, options: Options | None = None, fs: FileSystem | None = None
    ) -> Historian:
        """Create or recover the database in ``path``."""
        db = cls(os.path.abspath(path), options or Options(), fs or FileSystem())
        try:
            db._recover()
        except BaseException:
            db._fs.unlock(db._lock_fd)  # a failed open must not leave the directory locked
            raise
        return db

    def warm_up(self, on_done: Callable[[float], None] | None = None) -> None:
        """Start loading the numba kernels of a flush and an L1 compaction, on a thread.

        The first call of the stats kernel in a process costs 1.5-3 s (numba's
        initialisation and cache load). llvmlite's ctypes calls release the GIL, so on
        a thread beside the ingest it barely stalls the event loop; done synchronously
        at open it delayed the server's READY from 2.5 to 5.7 s (a longer backlog after
        every restart), and left to the first flush it lands inside the flush. A
        server calls this once after open; short-lived tools need not.

        ``on_done(seconds)`` is called on that thread once every kernel is loaded: until
        then the process spends 1.5-3 CPU-s on it, which a throughput measurement started
        at READY would charge to the ingest (bench_bus waits for it).
        """
        codecs = {self._opt.flush_codec, self._opt.l1_codec}  # L2 (opt.codec) runs much later

        def run() -> None:
            t0 = time.perf_counter()
            warm_up_kernels(codecs)
            if on_done is not None:
                on_done(time.perf_counter() - t0)

        threading.Thread(target=run, name="historian-warm-up", daemon=True).start()

    @property
    def directory(self) -> str:
        """The store's directory (absolute)."""
        return self._root

    @property
    def cipher(self) -> BlockCipher | None:
        """The store's at-rest cipher (``Options.encryption_key_file``), for files of its
        tiers that hold data (the cold catalogue); None for a plain store."""
        return self._cipher

    @property
    def fs(self) -> FileSystem:
        """The file system the store writes through (fault injection and crash points)."""
        return self._fs

    @property
    def bucket_ns(self) -> int:
        """Width of the time buckets segment files never span (the tier exports whole ones)."""
        return self._opt.bucket_ns

    # ---------------------------------------------------------- maintenance
    def flush(self) -> None:
        """Flush the memtables of this moment to L0 segment files and wait until done.

        Waits only for the memtables that held data when it was called (the active one,
        switched out, and those already queued), not for an empty flush queue: under
        sustained overload writers queue new memtables as fast as the flush thread
        drains them, and the queue may never be empty (LevelDB's ``CompactMemTable``
        waits for its one immutable memtable the same way). Every point written
        before the call is in a segment file when it returns."""
        self._check_open()
        with self._write_lock:
            self._switch_memtable()
            with self._state_lock:
                # the queue is flushed oldest first: once its newest is gone, all of them are
                last = self._imm[-1] if self._imm else None
        if self._opt.background:
            with self._room:
                failures = self._flush_failures
                while last is not None and any(m is last for m in self._imm):
                    if self._flush_failures > failures and self._flush_error is not None:
                        err = self._flush_error
                        if isinstance(err, DiskFullError):
                            raise DiskFullError(err.errno, f"flush failed: {err}") from err
                        raise HistorianError(
                            f"flush failed: {err}; the data stays in the WAL and memtable, "
                            "and the flush is retried in the background"
                        ) from err
                    self._room.wait(0.05)
        else:
            self._flush_all_immutable()

    def compact(self) -> None:
        """Flush, then compact everything: L0 -> L1 -> L2, retention applied."""
        self.flush()
        self._compact(force=True)

    def close(self) -> None:
        """Stop background work and sync the WAL. Unflushed data is replayed at next open."""
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
        with self._work:
            self._work.notify_all()
        for t in self._threads:
            t.join()
        try:
            self._wal.close()
        finally:
            self._fs.unlock(self._lock_fd)

    def __enter__(self) -> Historian:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
