"""The engine's shared state and the few primitives every part of it uses.

:class:`~historian.lsm.engine.Historian` is assembled from one class per concern
(recovery, write path, background flush/compaction, reads, stats), each a subclass
of :class:`EngineCore`, so they share one set of attributes and locks without
passing them around. Threads: the caller's writer thread (validate, WAL append,
memtable append), any number of reader threads, a flush thread and a compaction
thread. ``_state_lock`` guards the tuple (version, immutable memtables, active
memtable); it is held only to swap references, never during I/O.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from historian.crypto.cipher import BlockCipher
from historian.errors import ClosedError
from historian.fs import FileSystem
from historian.options import Options
from historian.query.source import SeriesSource
from historian.wal import WalWriter

from . import filenames
from .latency import StageLatency
from .manifest import FileMeta, write_manifest
from .memtable import Memtable
from .quarantine import Quarantined
from .version import Version

WRITE_STAGES = (
    "validate",
    "write_lock",
    "wait_for_room",
    "wal_append",
    "memtable_add",
    "memtable_switch",
    "fsync_wait",
    "total",
    "wal_rotate",
)
"""Stages of :meth:`Historian.write` timed in ``Historian.write_latency`` (``wal_rotate``
is the WAL's own rotation, inside ``wal_append`` or ``memtable_switch``; ``total`` only
for :meth:`Historian.write`: the ingest calls ``append`` + ``wait_durable``, and its
worker times the whole as its ``write`` stage)."""


class EngineCore:
    """Attributes and locks of one open store; set in full by recovery at open."""

    _version: Version
    _next_number: int
    _imm: list[Memtable]
    _active: Memtable
    _wal: WalWriter

    def __init__(self, root: str, options: Options, fs: FileSystem) -> None:
        self._root = root
        self._opt = options
        self._fs = fs
        self._cipher: BlockCipher | None = None
        if options.encryption_key_file is not None:  # a bad key file: refused before any I/O
            from historian.crypto.keyfile import load_cipher

            self._cipher = load_cipher(options.encryption_key_file)
        self._closed = False
        self._state_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._manifest_lock = threading.Lock()
        self._compaction_lock = threading.Lock()
        self._room = threading.Condition(self._state_lock)
        self._work = threading.Condition()
        self._flush_error: BaseException | None = None
        self._flush_failures = 0
        self.compaction_error: BaseException | None = None
        """Last background compaction failure (None once one succeeds); retried with backoff."""
        self.compaction_failures = 0
        self.quarantined: list[Quarantined] = []
        """Segments set aside by this process (``stats()`` lists all of quarantine/)."""
        self._newest_ts = -(2**63)
        self._held_buckets: list[frozenset[int]] = []
        """Buckets compaction and retention leave alone: one entry per ``files_held`` block."""
        self._threads: list[threading.Thread] = []
        self.recovery_report: dict[str, Any] = {}
        self._lock_fd = -1
        self._source_providers: list[Callable[[], Sequence[SeriesSource]]] = []
        self.write_latency = StageLatency(WRITE_STAGES)
        """Where :meth:`write` spends its time, per stage (exported by the ingest's metrics)."""

    def _sources(self) -> tuple[Version, list[Memtable]]:
        """The live version and memtables (immutable ones oldest first, then the active)."""
        with self._state_lock:
            return self._version, [*self._imm, self._active]

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the database is closed; open it again with Historian.open")

    def _new_file_number(self) -> int:
        with self._manifest_lock:
            n = self._next_number
            self._next_number += 1
            return n

    def _edit(
        self,
        add: tuple[FileMeta, ...] = (),
        remove: frozenset[int] = frozenset(),
        flushed_seq: int | None = None,
    ) -> None:
        """Apply one manifest edit (written before the new version is published)."""
        with self._manifest_lock:
            state = self._version.state.apply(
                add=add, remove=remove, flushed_seq=flushed_seq, next_file_number=self._next_number
            )
            write_manifest(self._fs, self._root, state)
            version = Version(state, self._fs, self._root, self._version, self._cipher)
            with self._state_lock:
                self._version = version

    def _remove_files(self, files: list[FileMeta]) -> None:
        for f in files:
            self._fs.remove(os.path.join(self._root, filenames.segment_name(f.number)))
