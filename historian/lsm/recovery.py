"""Opening a store: lock, manifest, orphan cleanup, WAL check and replay, background start.

The WAL is replayed into memtables; full ones queue for the background flush
(which starts once the store is open), and only what exceeds the memory budget
is flushed during open.
"""

from __future__ import annotations

import os
import threading
import time

from historian.wal import WalReader, WalWriter, discard_torn_tail

from . import filenames
from .background import Background
from .manifest import ManifestState, read_manifest
from .memtable import Memtable
from .version import Version


class Recovery(Background):
    """``_recover``: bring a store directory to an open, consistent state."""

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
        self._imm = []
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

    def _imm_over_budget(self) -> bool:
        """Is the queue of immutable memtables past its count or byte budget (at open)?"""
        imm = self._imm
        return len(imm) > self._opt.max_immutable_memtables or (
            sum(m.nbytes for m in imm) > self._opt.immutable_budget
        )
