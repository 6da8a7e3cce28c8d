"""The write path: validate, WAL append, memtable append, memtable switch, durability wait.

Writers never wait on a flush while the queue of immutable memtables is under its
count and byte budget; past it they wait (``backpressure="block"``, bounded by
``write_timeout_s``) or get :class:`~historian.errors.OverloadedError`.
"""

from __future__ import annotations

import time

from numpy.typing import ArrayLike

from historian.errors import OverloadedError, TimestampOutOfWindowError
from historian.model import PointBatch

from .background import Background
from .memtable import Memtable


class WritePath(Background):
    """``write`` / ``append`` / ``wait_durable`` and the memtable switch they trigger."""

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
