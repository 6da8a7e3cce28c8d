"""The storage engine: WAL -> memtable -> L0 segments -> time-window compaction.

Threads: the caller's writer thread (validate, WAL append, memtable append),
any number of reader threads, a flush thread and a compaction thread.
``_state_lock`` guards the tuple (version, immutable memtables, active
memtable); it is held only to swap references, never during I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from historian.crypto.cipher import BlockCipher
from historian.errors import (
    ClosedError,
    DiskFullError,
    HistorianError,
    OverloadedError,
    TimestampOutOfWindowError,
)
from historian.fs import FileSystem
from historian.model import Point as Point  # re-exported: historian.Point's old home
from historian.model import PointBatch
from historian.options import Options
from historian.query.snapshot import IndexTable, Snapshot
from historian.query.source import SeriesSource
from historian.sstable import Columns
from historian.wal import WalReader, WalWriter, discard_torn_tail, list_segments

from . import filenames
from .compaction import (
    CorruptInputError,
    expired,
    merge_files,
    pick_l0,
    pick_l2_buckets,
    warm_up_kernels,
    write_segments,
)
from .latency import StageLatency
from .manifest import FileMeta, ManifestState, read_manifest, write_manifest
from .memtable import Memtable
from .quarantine import Quarantined, list_quarantine, quarantine_segment
from .version import LEVELS, Version

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


@dataclass(frozen=True)
class LevelStats:
    files: int
    bytes: int
    points: int


@dataclass(frozen=True)
class Stats:
    """``points`` counts stored points (memtable + files, before cross-file deduplication)."""

    points: int
    segment_points: int
    levels: tuple[LevelStats, ...]
    bytes_on_disk: int
    bytes_per_point: float
    """Segment bytes / segment points (0.0 when nothing is flushed)."""
    wal_bytes: int
    memtable_bytes: int
    memtable_points: int
    last_seq: int
    durable_seq: int
    flushed_seq: int
    recovery: dict[str, Any] = field(default_factory=dict)
    compaction_error: str = ""
    """Last background compaction failure ("" when the last attempt succeeded)."""
    compaction_failures: int = 0
    quarantined: tuple[str, ...] = ()
    """Damaged segments set aside in quarantine/ (one line each: file, points lost, why)."""


class Historian:
    """A time-series store in one directory. Open with :meth:`open`."""

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
        self._threads: list[threading.Thread] = []
        self.recovery_report: dict[str, Any] = {}
        self._lock_fd = -1
        self._source_providers: list[Callable[[], Sequence[SeriesSource]]] = []
        self.write_latency = StageLatency(WRITE_STAGES)
        """Where :meth:`write` spends its time, per stage (exported by the ingest's metrics)."""

    # ----------------------------------------------------------------- open
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

    def _recover(self) -> None:
        fs, root = self._fs, self._root
        fs.makedirs(filenames.wal_dir(root))
        self._lock_fd = fs.lock(os.path.join(root, filenames.LOCK))
        state = read_manifest(fs, root) or ManifestState()
        live = {f.number for f in state.files}
        orphans = 0
        for name in fs.listdir(root):
            number = filenames.parse_segment_name(name)
            if (number is not None and number not in live) or filenames.is_engine_tmp(name):
                fs.remove(os.path.join(root, name))
                orphans += 1
        self._version = Version(state, fs, root, cipher=self._cipher)
        self._next_number = state.next_file_number
        self._imm: list[Memtable] = []
        started = time.perf_counter()
        wal_dir = filenames.wal_dir(root)
        # Check the whole WAL before changing anything: a corrupt one is refused untouched.
        parse = filenames.parse_wal_segment_name
        WalReader(fs, wal_dir, parse, self._cipher).check(state.flushed_seq)
        reader = WalReader(fs, wal_dir, parse, self._cipher)
        replay_bytes = self._opt.recovery_memtable_bytes or self._opt.memtable_bytes
        self._active = Memtable(replay_bytes, state.flushed_seq + 1)
        flushed_at_open = 0
        for seq, batch in reader.replay(after_seq=state.flushed_seq):
            if self._active.full:
                # Lazy: full memtables queue for the background flush (it starts once the
                # store is open); only what exceeds the memory budget is flushed now.
                self._imm.append(self._active)
                self._active = Memtable(replay_bytes, seq)
                while self._imm_over_budget():
                    flushed_at_open += len(self._imm[0])
                    self._flush_immutable(delete_wal=False)
            self._active.add(seq, batch)
            if len(batch):
                self._newest_ts = max(self._newest_ts, int(batch.ts.max()))
        rep = reader.report  # replay raised WalCorruptError (nothing changed) unless only torn
        discard_torn_tail(fs, rep)
        for f in state.files:
            self._newest_ts = max(self._newest_ts, f.max_ts)
        next_seq = max(rep.last_seq, self._version.state.flushed_seq, self._active.last_seq) + 1
        self.recovery_report = {
            "replayed_records": rep.records,
            "replayed_points": rep.points,
            "dropped_bytes": rep.dropped_bytes,
            "torn_segment": rep.torn_segment,
            "reason": rep.reason,
            "orphans_deleted": orphans,
            "flushed_at_open_points": flushed_at_open,
            "queued_for_flush_points": sum(len(m) for m in self._imm),
            "seconds": time.perf_counter() - started,
        }
        self._wal = WalWriter(
            fs,
            wal_dir,
            filenames.wal_segment_name,
            self._opt.fsync,
            self._opt.wal_segment_bytes,
            next_seq,
            on_rotate=lambda s: self.write_latency.record("wal_rotate", s),
            cipher=self._cipher,
        )
        self._delete_flushed_wal()
        if self._opt.background:
            for name, target in (("flush", self._flush_loop), ("compact", self._compact_loop)):
                t = threading.Thread(target=target, name=f"historian-{name}", daemon=True)
                t.start()
                self._threads.append(t)
        else:
            self._flush_all_immutable()  # compacts too

    def warm_up(self) -> None:
        """Start loading the numba kernels of a flush and an L1 compaction, on a thread.

        The first call of the stats kernel in a process costs 1.5-3 s (numba's
        initialisation and cache load). llvmlite's ctypes calls release the GIL, so on
        a thread beside the ingest it barely stalls the event loop; done synchronously
        at open it delayed the server's READY from 2.5 to 5.7 s (a longer backlog after
        every restart), and left to the first flush it lands inside the flush. A
        server calls this once after open; short-lived tools need not.
        """
        codecs = {self._opt.flush_codec, self._opt.l1_codec}  # L2 (opt.codec) runs much later
        threading.Thread(
            target=warm_up_kernels, args=(codecs,), name="historian-warm-up", daemon=True
        ).start()

    # ---------------------------------------------------------------- write
    def write(self, batch: PointBatch) -> int:
        """Validate, log and apply a batch; return its WAL sequence number once durable.

        Raises a :class:`~historian.errors.BatchValidationError` subclass (nothing
        applied), :class:`~historian.errors.DiskFullError`, or
        :class:`~historian.errors.OverloadedError` under backpressure.
        """
        t0 = time.perf_counter()
        seq = self.append(batch)
        if len(batch):  # an empty batch waits for nothing (it has no record)
            self.wait_durable(seq)
            self.write_latency.record("total", time.perf_counter() - t0)
        return seq

    def append(self, batch: PointBatch) -> int:
        """:meth:`write` without the durability wait: logged and applied, not yet durable.

        Call :meth:`wait_durable` with the returned sequence number before
        acknowledging the batch to anyone. Lets a caller keep its writes in order
        (the next append after this one returns) while their fsyncs overlap.
        Readers may see the batch before it is durable.
        """
        self._check_open()
        opt = self._opt
        lat = self.write_latency
        t0 = time.perf_counter()
        batch.validate(
            nan_policy=opt.nan_policy,
            known_series=opt.series_index,
            min_ts=opt.min_ts,
            max_ts=opt.max_ts,
        )
        t1 = time.perf_counter()
        lat.record("validate", t1 - t0)
        with self._write_lock:
            t2 = time.perf_counter()
            lat.record("write_lock", t2 - t1)
            self._check_open()
            if len(batch) == 0:
                return self._wal.last_seq
            lo, hi = int(batch.ts.min()), int(batch.ts.max())
            if opt.late_window_ns is not None and lo < self._newest_ts - opt.late_window_ns:
                raise TimestampOutOfWindowError(
                    f"timestamp {lo} ns is older than the late-data window "
                    f"({opt.late_window_ns} ns before the newest point {self._newest_ts})"
                )
            if opt.future_window_ns is not None or opt.past_window_ns is not None:
                # whole-batch here; the ingest splits batches per point before writing
                # (historian.ingest.admission), so only a direct caller sees this raise
                win_lo, win_hi = opt.accepted_window(time.time_ns())
                if hi > win_hi:
                    raise TimestampOutOfWindowError(
                        f"timestamp {hi} ns is more than {opt.future_window_ns} ns in the future"
                    )
                if lo < win_lo:
                    raise TimestampOutOfWindowError(
                        f"timestamp {lo} ns is more than {opt.past_window_ns} ns in the past"
                    )
            self._wait_for_room()
            t3 = time.perf_counter()
            lat.record("wait_for_room", t3 - t2)
            seq = self._wal.append(batch, wait_durable=False)
            t4 = time.perf_counter()
            lat.record("wal_append", t4 - t3)
            self._active.add(seq, batch)
            self._newest_ts = max(self._newest_ts, hi)
            t5 = time.perf_counter()
            lat.record("memtable_add", t5 - t4)
            if self._active.full and self._imm_has_room():
                self._switch_memtable()
                lat.record("memtable_switch", time.perf_counter() - t5)
        return seq

    def wait_durable(self, seq: int) -> None:
        """Return once WAL record ``seq`` is durable under the fsync policy.

        Outside every engine lock, so concurrent writers share one fsync (group commit).
        """
        t0 = time.perf_counter()
        self._wal.wait_durable(seq)
        self.write_latency.record("fsync_wait", time.perf_counter() - t0)

    def write_arrays(
        self,
        series: ArrayLike,
        ts_ns: ArrayLike,
        values: ArrayLike,
        quality: ArrayLike | None = None,
    ) -> int:
        return self.write(PointBatch.from_arrays(series, ts_ns, values, quality))

    def _wait_for_room(self) -> None:
        if not self._active.full:
            return
        deadline = time.monotonic() + self._opt.write_timeout_s
        with self._room:
            while not self._imm_has_room():
                remaining = deadline - time.monotonic()
                if self._opt.backpressure == "error" or remaining <= 0 or self._closed:
                    err = self._flush_error
                    cause = f"; flush is failing: {err}" if err else ""
                    raise OverloadedError(
                        f"memtable full and {len(self._imm)} memtable(s) waiting for flush{cause}; "
                        "slow down or retry later"
                    )
                self._room.wait(min(remaining, 0.1))
        self._switch_memtable()

    def _imm_has_room(self) -> bool:
        """May one more full memtable join the flush queue (count and byte budget)?"""
        imm = self._imm
        if len(imm) >= self._opt.max_immutable_memtables:
            return False
        return not imm or sum(m.nbytes for m in imm) < self._opt.immutable_budget

    def _imm_over_budget(self) -> bool:
        """Is the queue of immutable memtables past its count or byte budget (at open)?"""
        imm = self._imm
        return len(imm) > self._opt.max_immutable_memtables or (
            sum(m.nbytes for m in imm) > self._opt.immutable_budget
        )

    def _switch_memtable(self) -> None:
        if len(self._active) == 0:
            return
        self._wal.rotate()
        with self._state_lock:
            self._imm.append(self._active)
            self._active = Memtable(self._opt.memtable_bytes, self._wal.last_seq + 1)
        if self._opt.background:
            with self._work:
                self._work.notify_all()
        else:
            self._flush_all_immutable()

    # ---------------------------------------------------------------- flush
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
        with self._manifest_lock:
            state = self._version.state.apply(
                add=add, remove=remove, flushed_seq=flushed_seq, next_file_number=self._next_number
            )
            write_manifest(self._fs, self._root, state)
            version = Version(state, self._fs, self._root, self._version, self._cipher)
            with self._state_lock:
                self._version = version

    def _flush_immutable(self, delete_wal: bool = True) -> None:
        """Flush the oldest immutable memtable to L0 files and record it in the manifest."""
        mem = self._imm[0]
        metas = write_segments(
            self._fs,
            self._root,
            mem.sorted_groups(),
            0,
            self._new_file_number,
            self._opt.bucket_ns,
            self._opt.flush_codec,
            self._opt.chunk_max_points,
            "flush.after_segment",
            cipher=self._cipher,
        )
        self._edit(add=tuple(metas), flushed_seq=mem.last_seq)
        self._fs.crash_point("flush.after_manifest")
        with self._room:
            self._imm.pop(0)
            self._room.notify_all()
        if delete_wal:
            self._delete_flushed_wal()

    def _flush_all_immutable(self) -> None:
        while self._imm:
            self._flush_immutable()
        if not self._opt.background:
            self._compact(force=False)

    def _delete_flushed_wal(self) -> None:
        flushed = self._version.state.flushed_seq
        segs = list_segments(
            self._fs, filenames.wal_dir(self._root), filenames.parse_wal_segment_name
        )
        current = self._wal.current_path
        for (_, path), (next_first, _) in itertools.pairwise(segs):
            if path != current and next_first - 1 <= flushed:
                self._fs.remove(path)

    def _flush_loop(self) -> None:
        while True:
            with self._work:
                while not self._imm and not self._closed:
                    self._work.wait(0.5)
                if self._closed and not self._imm:
                    return
            try:
                self._flush_immutable()
                self._flush_error = None
                with self._work:
                    self._work.notify_all()
            except Exception as exc:  # retried: e.g. disk full, space may come back
                with self._room:
                    self._flush_error = exc
                    self._flush_failures += 1
                    self._room.notify_all()
                if self._closed:
                    return
                time.sleep(0.2)

    # ------------------------------------------------------------ compaction
    def _compact_loop(self) -> None:
        backoff = 0.0
        while not self._closed:
            with self._work:
                self._work.wait(0.5)
                # after a failure, flush notifications must not cut the backoff short
                resume = time.monotonic() + backoff
                while not self._closed and time.monotonic() < resume:
                    self._work.wait(resume - time.monotonic())
            if self._closed:
                return
            try:
                self._compact(force=False)
                self.compaction_error = None
                backoff = 0.0
            except Exception as exc:  # e.g. disk full: retried, backing off to 30 s
                # (a corrupt input never gets here: _merge quarantines it and carries on)
                self.compaction_error = exc
                self.compaction_failures += 1
                backoff = min(30.0, max(0.2, 2 * backoff))

    def _compact(self, force: bool) -> None:
        opt = self._opt
        with self._compaction_lock:
            l0 = pick_l0(self._version, opt.l0_compaction_trigger, force)
            if l0:
                for bucket in sorted({f.bucket_start for f in l0}):
                    self._merge([f for f in l0 if f.bucket_start == bucket], 1, opt.l1_codec)
            settle = self._newest_ts - opt.l2_settle_buckets * opt.bucket_ns
            settled_before = (settle // opt.bucket_ns) * opt.bucket_ns
            for bucket in pick_l2_buckets(self._version, settled_before, force):
                inputs = [
                    f for f in self._version.files if f.level >= 1 and f.bucket_start == bucket
                ]
                self._merge(inputs, 2, opt.codec)
            if opt.retention_ns is not None:
                # the wall clock, never the newest data: one point dated 2100 must not
                # make every real point "older than the retention"
                old = expired(self._version, time.time_ns() - opt.retention_ns, opt.bucket_ns)
                if old:
                    self._edit(remove=frozenset(f.number for f in old))
                    self._remove_files(old)

    def _merge(self, inputs: list[FileMeta], level: int, codec: str | None) -> None:
        try:
            metas = write_segments(
                self._fs,
                self._root,
                merge_files(self._version, inputs, pause=self._yield_to_flush),
                level,
                self._new_file_number,
                self._opt.bucket_ns,
                codec,
                self._opt.chunk_max_points,
                "compaction.after_segment",
                cipher=self._cipher,
            )
        except CorruptInputError as exc:
            # retrying cannot fix bad bytes: set the file aside, salvage it, merge again
            fixed = self._quarantine(exc)
            rest = [fixed if f.number == exc.number else f for f in inputs]
            inputs = [f for f in rest if f is not None]
            if inputs:
                self._merge(inputs, level, codec)  # each input is quarantined at most once
            return
        self._edit(add=tuple(metas), remove=frozenset(f.number for f in inputs))
        self._fs.crash_point("compaction.after_manifest")
        self._remove_files(inputs)

    def _quarantine(self, exc: CorruptInputError) -> FileMeta | None:
        """Copy the damaged input to quarantine/, replace it by its intact chunks."""
        meta = next(f for f in self._version.files if f.number == exc.number)
        why = str(exc.__cause__ or exc)
        fixed, record = quarantine_segment(self._fs, self._root, meta, why, self._cipher)
        with self._manifest_lock:
            state = self._version.state.apply(
                add=(fixed,) if fixed else (),
                remove=frozenset({meta.number}),
                next_file_number=self._next_number,
            )
            write_manifest(self._fs, self._root, state)
            # reopen all: file N was replaced
            version = Version(state, self._fs, self._root, cipher=self._cipher)
            with self._state_lock:
                self._version = version
        if fixed is None:
            self._remove_files([meta])
        self.quarantined.append(record)
        return fixed

    def _yield_to_flush(self) -> None:
        """Compaction steps aside while a memtable waits for flush (bounded: 2 s)."""
        if not self._opt.background:
            return
        deadline = time.monotonic() + 2.0
        with self._room:
            while self._imm and not self._closed and time.monotonic() < deadline:
                self._room.wait(0.05)

    def _remove_files(self, files: list[FileMeta]) -> None:
        for f in files:
            self._fs.remove(os.path.join(self._root, filenames.segment_name(f.number)))

    # ------------------------------------------------- tiers (historian/tier)
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

    def oldest_in_memory_ns(self) -> int | None:
        """The oldest timestamp not yet in a segment file (memtables), None when empty.

        The cold tier exports segment files only; a server with a short hot window
        flushes when this is older than its cutoff, so old data does not wait for
        the memtable to fill."""
        with self._write_lock:
            mems = [*self._imm, self._active]
        return min((m.min_ts for m in mems if len(m)), default=None)

    def add_source_provider(self, provider: Callable[[], Sequence[SeriesSource]]) -> None:
        """Let ``provider`` add read sources OLDER than every segment to each snapshot.

        The cold tier registers here (historian/tier), so the engine never imports it:
        its sources come first in :meth:`snapshot`, and any hot point wins over them.
        """
        self._source_providers.append(provider)

    @contextlib.contextmanager
    def compaction_paused(self) -> Iterator[Version]:
        """Hold compaction and retention off; yield the live files (for the cold-tier export).

        The exporter reads files and later drops exactly them with :meth:`drop_files`;
        a compaction in between would merge them into a file it does not know about.
        Flushes and writes go on.
        """
        with self._compaction_lock:
            yield self._version

    def drop_files(self, numbers: frozenset[int]) -> None:
        """Remove live segment files by one manifest edit, then delete them.

        Call inside :meth:`compaction_paused`. Raises HistorianError (nothing changed)
        when a file is no longer live.
        """
        files = [f for f in self._version.files if f.number in numbers]
        if len(files) != len(numbers):
            raise HistorianError(f"files {sorted(numbers)} are not all live; nothing dropped")
        self._edit(remove=numbers)
        self._fs.crash_point("tier.drop.after_manifest")
        self._remove_files(files)

    # ----------------------------------------------------------------- read
    def _sources(self) -> tuple[Version, list[Memtable]]:
        with self._state_lock:
            return self._version, [*self._imm, self._active]

    def snapshot(self) -> Snapshot:
        """The read sources of this moment, oldest first, for any number of queries.

        Segment files in precedence order (L2, L1, L0 by file number), then
        frozen views of the immutable memtables and of the active one; writes
        made after this call are not seen. Last-write-wins holds for every
        query on it (a later source wins on equal (series, ts)). Files that
        compaction deletes meanwhile stay readable through their mmaps (see
        :mod:`historian.query.snapshot`). Bounds: start inclusive, end exclusive.
        """
        self._check_open()
        with self._state_lock:  # one moment: version and memtable lengths together
            version = self._version
            views = [m.view() for m in (*self._imm, self._active)]
        files, (lo, hi) = version.sources()
        # provider sources (the cold tier) are older than every segment: first in line
        cold = [s for provider in self._source_providers for s in provider()]
        spans = [v.time_range() or (2**63 - 1, -(2**63)) for v in views]
        cold_spans = [c.time_range() or (2**63 - 1, -(2**63)) for c in cold]
        cold_lo = np.array([a for a, _ in cold_spans], np.int64)
        cold_hi = np.array([b for _, b in cold_spans], np.int64)
        ranges = (
            np.concatenate([cold_lo, lo, np.array([a for a, _ in spans], np.int64)]),
            np.concatenate([cold_hi, hi, np.array([b for _, b in spans], np.int64)]),
        )
        first = len(cold)

        def index_table(series: int) -> IndexTable | None:  # cached per Version and series
            table = version.index_table(series)
            return None if table is None else dataclasses.replace(table, first=first)

        return Snapshot([*cold, *files, *views], ranges, index_table=index_table)

    def read(self, series: int, start_ns: int, end_ns: int) -> Columns:
        """Points of one series with ``start_ns <= ts < end_ns`` (end exclusive).

        Returns (ts int64, values float64, quality uint16), ascending by time,
        one point per timestamp (the last written). Raises
        :class:`~historian.sstable.SegmentCorruptError` if a file holding data
        in the range is damaged. (``snapshot().read`` gives the same as
        :class:`~historian.model.SeriesColumns`; ``snapshot().read_many`` pages.)
        """
        return self.snapshot().read(series, start_ns, end_ns).columns

    def last(self, series: int) -> Point | None:
        """The latest point of a series (by timestamp), or None if it has none."""
        return self.snapshot().last(series)

    # ---------------------------------------------------------- maintenance
    def flush(self) -> None:
        """Flush the memtable(s) to L0 segment files and wait until done."""
        self._check_open()
        with self._write_lock:
            self._switch_memtable()
        if self._opt.background:
            with self._room:
                failures = self._flush_failures
                while self._imm:
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

    def sync(self) -> int:
        """fsync the WAL now; return the durable sequence number."""
        self._check_open()
        self._wal.sync()
        return self._wal.synced_seq

    @property
    def durable_seq(self) -> int:
        """Highest sequence number that is fsynced (survives power loss)."""
        return self._wal.synced_seq

    @property
    def last_seq(self) -> int:
        return self._wal.last_seq

    def stats(self) -> Stats:
        version, mems = self._sources()
        levels = []
        for lv in range(LEVELS):
            files = version.level(lv)
            levels.append(
                LevelStats(
                    len(files), sum(f.file_bytes for f in files), sum(f.points for f in files)
                )
            )
        seg_points = sum(lv.points for lv in levels)
        seg_bytes = sum(lv.bytes for lv in levels)
        wal_dir = filenames.wal_dir(self._root)
        wal_bytes = 0
        for _, p in list_segments(self._fs, wal_dir, filenames.parse_wal_segment_name):
            with contextlib.suppress(FileNotFoundError):  # deleted by a concurrent flush
                wal_bytes += self._fs.size(p)
        mem_points = sum(len(m) for m in mems)
        return Stats(
            points=seg_points + mem_points,
            segment_points=seg_points,
            levels=tuple(levels),
            bytes_on_disk=seg_bytes,
            bytes_per_point=seg_bytes / seg_points if seg_points else 0.0,
            wal_bytes=wal_bytes,
            memtable_bytes=sum(m.nbytes for m in mems),
            memtable_points=mem_points,
            last_seq=self._wal.last_seq,
            durable_seq=self._wal.synced_seq,
            flushed_seq=version.state.flushed_seq,
            recovery=dict(self.recovery_report),
            compaction_error=str(self.compaction_error or ""),
            compaction_failures=self.compaction_failures,
            quarantined=tuple(str(q) for q in list_quarantine(self._fs, self._root)),
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the database is closed; open it again with Historian.open")

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
