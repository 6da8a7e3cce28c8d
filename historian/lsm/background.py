"""Background work: flushing immutable memtables to L0 and compacting L0 -> L1 -> L2.

Two daemon threads (started at open when ``Options.background``): the flush loop
drains the queue of immutable memtables oldest first; the compaction loop wakes
after each flush (or every 0.5 s), merges, applies retention, and backs off after
a failure. Without ``background`` both run inline in the writer's thread.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence

from historian.cpu_priority import idle_this_thread, lower_this_thread
from historian.errors import HistorianError
from historian.wal import list_segments

from . import filenames
from .compaction import (
    CorruptInputError,
    expired,
    merge_files,
    pick_l0,
    pick_l2_buckets,
    write_segments,
)
from .core import EngineCore
from .manifest import FileMeta, write_manifest
from .quarantine import quarantine_segment
from .version import Version


class Background(EngineCore):
    """Flush and compaction (and the cold tier's hooks that hold compaction off)."""

    # ---------------------------------------------------------------- flush
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
        lower_this_thread(self._opt.background_nice)
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
        lower_this_thread(self._opt.background_nice)
        if self._opt.compaction_idle:
            idle_this_thread()
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
            # buckets being exported (files_held) are not touched; holds begin under this
            # lock (files_held) or apply from the next pass on (hold_buckets)
            held = self._held()
            l0 = pick_l0(self._version, opt.l0_compaction_trigger, force)
            if l0:
                for bucket in sorted({f.bucket_start for f in l0} - held):
                    self._merge([f for f in l0 if f.bucket_start == bucket], 1, opt.l1_codec)
            settle = self._newest_ts - opt.l2_settle_buckets * opt.bucket_ns
            settled_before = (settle // opt.bucket_ns) * opt.bucket_ns
            for bucket in pick_l2_buckets(self._version, settled_before, force):
                if bucket in held:
                    continue
                inputs = [
                    f for f in self._version.files if f.level >= 1 and f.bucket_start == bucket
                ]
                self._merge(inputs, 2, opt.codec)
            if opt.retention_ns is not None:
                # the wall clock, never the newest data: one point dated 2100 must not
                # make every real point "older than the retention"
                cutoff = time.time_ns() - opt.retention_ns
                old = [
                    f
                    for f in expired(self._version, cutoff, opt.bucket_ns)
                    if f.bucket_start not in held
                ]
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

    # ------------------------------------------------- tiers (historian/tier)
    @contextlib.contextmanager
    def compaction_paused(self) -> Iterator[Version]:
        """Hold compaction and retention off; yield the live files. Flushes and writes go on.

        Waits for a running compaction to finish. Hold it briefly (every L0 file flushed
        meanwhile waits unmerged): for long work on files use :meth:`files_held`."""
        with self._compaction_lock:
            yield self._version

    @contextlib.contextmanager
    def compaction_paused_nowait(self) -> Iterator[Version | None]:
        """:meth:`compaction_paused` if no compaction runs now; else yield None at once.

        For work that may be put off but must not wait for a merge (a restarting
        server's cold-tier recovery: a merge of a big backlog can run for half a minute)."""
        if not self._compaction_lock.acquire(blocking=False):
            yield None
            return
        try:
            yield self._version
        finally:
            self._compaction_lock.release()

    def hold_buckets(self, buckets: frozenset[int]) -> Callable[[], None]:
        """Keep compaction and retention off ``buckets`` from their next pass; never waits.

        Returns the function that ends the hold. Unlike :meth:`files_held` it does not
        wait for a running compaction, which may still merge files of these buckets: a
        caller that needs the files unchanged checks they are live (inside
        :meth:`compaction_paused_nowait`) before it acts on them."""
        with self._state_lock:
            self._held_buckets.append(buckets)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with self._state_lock:
                    self._held_buckets.remove(buckets)

        return release

    @contextlib.contextmanager
    def files_held(
        self, pick: Callable[[Version], Sequence[FileMeta]]
    ) -> Iterator[tuple[Version, tuple[FileMeta, ...]]]:
        """Pick files with compaction paused; then, unpaused, keep compaction off their buckets.

        ``pick`` runs under the compaction lock (after a running compaction ends, so no file
        it returns is being rewritten). Until the block ends, compaction and retention skip
        every bucket of a picked file: merging a newer file of such a bucket without it would
        let the older picked file shadow the merged one (level precedence), and a merge or
        expiry of it would make :meth:`drop_files` fail. Other buckets compact as usual.
        For the cold-tier export: read the files in the block, then drop exactly them with
        :meth:`drop_files` (inside :meth:`compaction_paused`).
        """
        with self._compaction_lock:
            version = self._version
            files = tuple(pick(version))
            buckets = frozenset(f.bucket_start for f in files)
            with self._state_lock:
                self._held_buckets.append(buckets)
        try:
            yield version, files
        finally:
            with self._state_lock:
                self._held_buckets.remove(buckets)

    def _held(self) -> frozenset[int]:
        with self._state_lock:
            return frozenset().union(*self._held_buckets)

    def live_files(self) -> tuple[FileMeta, ...]:
        """The live segment files of this moment, without waiting for a compaction.

        For status figures (the cold tier's export lag); the files may be merged away
        right after: use :meth:`compaction_paused` to act on them."""
        with self._state_lock:
            return tuple(self._version.files)

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
