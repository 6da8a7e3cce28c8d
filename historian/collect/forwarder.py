"""From readings to acknowledged batches: batching, publishing, store-and-forward.

A collector hands its admitted readings to :meth:`BatchForwarder.add` (columnar
chunks). :meth:`BatchForwarder.run` cuts them into batches of ``batch_points``
(or whatever arrived within ``linger_s``), gives each a sequence number, encodes
it (TBWB) and publishes it with ``Nats-Msg-Id = <source>/<sequence>``.

A batch goes to the disk spool instead when the bus is not connected, when the
publish window is full (the bus is slower than the plant), when its publish
fails after retries, or when older batches are still spooled (so the stream
receives each source's batches in sequence order). The drain loop re-publishes
the spool oldest-first, deleting a file only after its ack.

Sequences are ``max(time.time_ns(), last + 1)`` seeded from the spool's high
water mark, so they keep growing across collector restarts without a separate
state file (clocks stepping back by more than the restart gap would break this;
the stream's duplicate window would then drop a colliding batch, and the
harness accounting would report it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from nats.aio.client import Client as NATS

from historian.bus.options import BusOptions
from historian.bus.publisher import BatchPublisher
from historian.bus.subjects import partition_of
from historian.bus.wire import batch_id, decode_batch, encode_batch
from historian.collect.spool import DiskSpool, SpoolFullError
from historian.model import PointBatch

AckCallback = Callable[[str, PointBatch], None]


@dataclass
class ForwarderMetrics:
    batches_built: int = 0
    points_built: int = 0
    batches_acked: int = 0
    points_acked: int = 0
    batches_spooled: int = 0
    batches_drained: int = 0
    points_refused: int = 0
    publish_errors: list[str] = field(default_factory=list)


class BatchForwarder:
    def __init__(
        self,
        nc: NATS,
        opts: BusOptions,
        source_id: str,
        spool: DiskSpool,
        *,
        batch_points: int = 1000,
        linger_s: float = 0.1,
        on_ack: AckCallback | None = None,
    ) -> None:
        self._nc = nc
        self._opts = opts
        self.source_id = source_id
        self.spool = spool
        self.subject = opts.batch_subject(partition_of(source_id, opts.partitions))
        self.publisher = BatchPublisher(nc, self.subject, opts)
        self._batch_points = batch_points
        self._linger_s = linger_s
        self._on_ack = on_ack
        self._pending: list[PointBatch] = []
        self._pending_points = 0
        self._last_seq = max(spool.high_water_sequence(), 0)
        self._wake = asyncio.Event()
        self._aborted = False
        self.metrics = ForwarderMetrics()

    def add(self, batch: PointBatch) -> None:
        if len(batch) == 0:
            return
        self._pending.append(batch)
        self._pending_points += len(batch)
        if self._pending_points >= self._batch_points:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        drain = asyncio.create_task(self._drain_loop(stop))
        try:
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._linger_s)
                self._wake.clear()
                await self._cut_and_send()
            await self._cut_and_send()
            await self.publisher.drain(timeout=self._opts.ack_timeout_s)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def flush(self, timeout: float = 30.0) -> None:
        """Send everything pending and wait until the spool is empty (or ``timeout``)."""
        await self._cut_and_send()
        deadline = time.monotonic() + timeout
        await self.publisher.drain(timeout=timeout)
        while len(self.spool) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def reserve(self) -> tuple[int, str]:
        """A sequence and its batch id for :meth:`send_batch`, known before sending
        (so a load generator can record the batch in its ledger first)."""
        seq = self._next_seq()
        return seq, batch_id(self.source_id, seq)

    async def send_batch(self, batch: PointBatch, sequence: int) -> None:
        """Send one batch as-is (no re-batching) under a sequence from :meth:`reserve`."""
        await self._send(batch, sequence)

    def abort(self) -> None:
        """Simulate a crash: forget pending readings and in-flight publishes.

        Spooled batches stay on disk for the next forwarder on the same spool; in-flight
        ones were never acknowledged to anybody, exactly as after a SIGKILL.
        """
        self._aborted = True
        self._pending = []
        self._pending_points = 0
        self._on_ack = None
        for task in list(self.publisher._tasks):
            task.cancel()

    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq

    async def _cut_and_send(self) -> None:
        if not self._pending:
            return
        merged = PointBatch.concat(self._pending)
        self._pending = []
        self._pending_points = 0
        limit = min(self._batch_points, self._opts.max_points_per_message)
        for start in range(0, len(merged), limit):
            part = merged.take(np.arange(start, min(start + limit, len(merged))))
            await self._send(part)

    async def _send(self, batch: PointBatch, seq: int | None = None) -> None:
        if seq is None:
            seq = self._next_seq()
        msg_id = batch_id(self.source_id, seq)
        payload = encode_batch(
            batch, source_id=self.source_id, sequence=seq, created_ns=time.time_ns()
        )
        self.metrics.batches_built += 1
        self.metrics.points_built += len(batch)
        if (
            len(self.spool)
            or not self._nc.is_connected
            or self.publisher.in_flight >= self._opts.publish_window
        ):
            self._to_spool(seq, msg_id, payload, batch)
            return
        fut = await self.publisher.publish(payload, msg_id)
        fut.add_done_callback(lambda f: self._after_publish(f, seq, msg_id, payload, batch))

    def _after_publish(
        self, fut: asyncio.Future[int], seq: int, msg_id: str, payload: bytes, batch: PointBatch
    ) -> None:
        if self._aborted:
            return
        # Anything but a clean ack (retries exhausted, an unexpected client error,
        # cancellation at shutdown) sends the batch to the spool: never dropped.
        if fut.cancelled() or fut.exception() is not None:
            self.metrics.publish_errors.append(
                "cancelled" if fut.cancelled() else repr(fut.exception())
            )
            self._to_spool(seq, msg_id, payload, batch)
        else:
            self._acked(msg_id, batch)

    def _to_spool(self, seq: int, msg_id: str, payload: bytes, batch: PointBatch) -> None:
        try:
            self.spool.put(seq, msg_id, payload)
        except SpoolFullError:
            self.metrics.points_refused += len(batch)
            return
        self.metrics.batches_spooled += 1

    def _acked(self, msg_id: str, batch: PointBatch) -> None:
        self.metrics.batches_acked += 1
        self.metrics.points_acked += len(batch)
        if self._on_ack is not None:
            self._on_ack(msg_id, batch)

    async def _drain_loop(self, stop: asyncio.Event) -> None:
        backoff = self._opts.retry_backoff_s
        while True:
            if not len(self.spool) or not self._nc.is_connected:
                await asyncio.sleep(0.05)
                continue
            items = self.spool.oldest(self._opts.publish_window)
            futs = [await self.publisher.publish(it.payload, it.msg_id) for it in items]
            results = await asyncio.gather(*futs, return_exceptions=True)
            failed = False
            for it, res in zip(items, results, strict=True):
                if isinstance(res, BaseException):
                    failed = True
                    continue
                self.spool.remove(it.sequence)
                self.metrics.batches_drained += 1
                # the file holds the points (also when an earlier collector life
                # spooled it): decoding is a checksum and four array views
                self._acked(it.msg_id, decode_batch(it.payload).batch)
            if failed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._opts.retry_backoff_max_s)
            else:
                backoff = self._opts.retry_backoff_s
