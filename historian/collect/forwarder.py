"""From readings to acknowledged batches: batching, publishing, store-and-forward.

A collector hands its admitted readings to :meth:`BatchForwarder.add` (columnar
chunks). :meth:`BatchForwarder.run` cuts them into batches of ``batch_points``
(or whatever arrived within ``linger_s``), never larger than one message may be
(:meth:`BatchForwarder.points_per_message`: the ``max_payload`` the server
announced on connect and the 50,000-point wire limit), gives each a sequence
number, encodes it (TBWB) and publishes it with ``Nats-Msg-Id = <source>/<sequence>``.

A batch goes to the disk spool instead when the bus is not connected, when the
publish window is full (the bus is slower than the plant), when its publish
fails after retries, or when older batches are still spooled. The drain loop
(:mod:`historian.collect.drain`) re-publishes the spool oldest-first, deleting a
file only after its ack.

Ordering rule (``historian/docs/format/spool.md``): for every source, the *last*
copy of each batch in the stream is in sequence order, so when two batches carry
the same (series, timestamp) the newer batch's value is the one the historian
keeps. Publishes are pipelined, so a batch whose attempt fails may be stored after
later batches; when that happens (:class:`_Live` ledger below) every later batch
already handed to the bus is re-sent after it, under a re-send id
``<source>/<sequence>~<n>`` (the stream's duplicate window would drop the old id).
A re-send is an idempotent rewrite of the same points; ``on_ack`` fires once.

With ``create_stream`` the forwarder also creates the stream when it is missing
(:func:`historian.bus.cluster.create_stream_if_missing`: retried through leader
elections, never updating an existing stream), so a collector can start before
the historian. A publish that meets an election ("no responders", a timeout,
503) is retried by :class:`~historian.bus.publisher.BatchPublisher` under the
same ``Nats-Msg-Id`` (the stream's duplicate window keeps it exactly-once), and
spooled when its attempts run out: never dropped.

Sequences are ``max(time.time_ns(), last + 1)`` seeded from the spool's high
water mark, so they keep growing across collector restarts without a separate
state file (clocks stepping back by more than the restart gap would break this;
the stream's duplicate window would then drop a colliding batch, and the
harness accounting would report it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS

from historian.bus.cluster import create_stream_if_missing
from historian.bus.options import BusOptions
from historian.bus.publisher import BatchPublisher
from historian.bus.subjects import partition_of
from historian.bus.wire import (
    BYTES_PER_POINT,
    DEFAULT_MAX_POINTS,
    OversizedMessageError,
    batch_id,
    encode_batch,
    encoded_size,
)
from historian.collect.drain import drain_loop
from historian.collect.spool import DiskSpool, SpoolFullError
from historian.model import PointBatch

AckCallback = Callable[[str, PointBatch], None]

HEADER_ROOM = 512
"""Bytes of a message's payload budget kept for its NATS headers (``Nats-Msg-Id``):
the server counts headers against ``max_payload`` and closes the connection on excess."""

log = logging.getLogger("historian.collect")


@dataclass
class ForwarderMetrics:
    batches_built: int = 0
    points_built: int = 0
    batches_acked: int = 0
    points_acked: int = 0
    batches_spooled: int = 0
    batches_drained: int = 0
    points_refused: int = 0
    """Points of batches neither published nor spooled (spool full or a failed spool write)."""
    spool_write_errors: int = 0
    batches_quarantined: int = 0
    """Spool files the drain could not use, moved to ``spool/quarantine/``."""
    batches_split: int = 0
    """Cut batches (or spool files) that had to be split to fit one message."""
    batches_resent: int = 0
    """Batches re-sent after an earlier one to keep the stream in sequence order."""
    publish_errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Live:
    """A batch published from memory whose order relative to its neighbours is not settled."""

    seq: int
    msg_id: str
    payload: bytes
    batch: PointBatch
    done: bool = False
    acked: bool = False
    spooled_as: str = ""  # the id it was spooled under ("" = not spooled)


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
        create_stream: bool = False,
    ) -> None:
        self._nc = nc
        self._create_stream = create_stream
        self.stream_ready = asyncio.Event()
        """Set once the stream is known to exist (at once unless ``create_stream``)."""
        if not create_stream:
            self.stream_ready.set()
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
        self._last_resend = 0
        self._wake = asyncio.Event()
        self._aborted = False
        # in sequence order (dict insertion order); see the ordering rule above
        self._live: dict[int, _Live] = {}
        self._fence: int | None = None  # lowest live sequence with a failed attempt
        self._resent_after_ack: set[int] = set()  # re-sends of batches on_ack already saw
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = ForwarderMetrics()

    # -- public API --------------------------------------------------------------
    def add(self, batch: PointBatch) -> None:
        if len(batch) == 0:
            return
        self._pending.append(batch)
        self._pending_points += len(batch)
        if self._pending_points >= self._batch_points:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        drain = asyncio.create_task(drain_loop(self))
        if self._create_stream:
            self._background(self._ensure_stream(stop))
        try:
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._linger_s)
                self._wake.clear()
                await self._cut_and_send()
            await self._cut_and_send()
            await self.publisher.drain(timeout=self._opts.ack_timeout_s)
        finally:
            for task in (drain, *self._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def flush(self, timeout: float = 30.0) -> None:
        """Send everything pending and wait until the spool is empty (or ``timeout``)."""
        await self._cut_and_send()
        deadline = time.monotonic() + timeout
        await self.publisher.drain(timeout=timeout)
        while (len(self.spool) or self._live) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def reserve(self) -> tuple[int, str]:
        """A sequence and its batch id for :meth:`send_batch`, known before sending
        (so a load generator can record the batch in its ledger first)."""
        seq = self._next_seq()
        return seq, batch_id(self.source_id, seq)

    async def send_batch(self, batch: PointBatch, sequence: int) -> None:
        """Send one batch as-is (no re-batching) under a sequence from :meth:`reserve`.

        Raises :class:`OversizedMessageError` when it does not fit one message
        (:meth:`points_per_message`): the caller chose not to have it split.
        """
        limit = self.points_per_message()
        if len(batch) > limit:
            raise OversizedMessageError(
                f"batch of {len(batch)} points does not fit one message ({limit} points at "
                f"max_payload {self.payload_limit()} bytes); send fewer points or use add()"
            )
        await self._send(batch, sequence)

    def payload_limit(self) -> int:
        """Largest message the bus takes: the server's ``max_payload`` (announced on
        connect; nats-py's 1 MiB default before that) and the stream's message limit."""
        return min(int(self._nc.max_payload), self._opts.max_msg_bytes)

    def fits(self, payload_bytes: int) -> bool:
        return payload_bytes + HEADER_ROOM <= self.payload_limit()

    def split_to_fit(self, batch: PointBatch) -> list[PointBatch]:
        return list(slices(batch, self.points_per_message()))

    @property
    def opts(self) -> BusOptions:
        return self._opts

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    def points_per_message(self) -> int:
        budget = self.payload_limit() - HEADER_ROOM - encoded_size(0, self.source_id)
        fit = max(1, budget // BYTES_PER_POINT)
        return min(fit, self._opts.max_points_per_message, DEFAULT_MAX_POINTS)

    def abort(self) -> None:
        """Simulate a crash: forget pending readings and in-flight publishes.

        Spooled batches stay on disk for the next forwarder on the same spool; in-flight
        ones were never acknowledged to anybody, exactly as after a SIGKILL.
        """
        self._aborted = True
        self._pending = []
        self._pending_points = 0
        self._on_ack = None
        self._live.clear()
        for task in list(self.publisher._tasks):
            task.cancel()

    def _background(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ensure_stream(self, stop: asyncio.Event) -> None:
        """Create the stream if it is missing, retrying through elections and outages.

        Batches published meanwhile fail with "no responders" and spool; the drain
        sends them once the stream exists. Never updates an existing stream.
        """
        delay = self._opts.retry_backoff_s
        while not stop.is_set() and not self._aborted:
            if self._nc.is_connected:
                try:
                    await create_stream_if_missing(self._nc.jetstream(), self._opts, timeout_s=10)
                    self.stream_ready.set()
                    return
                except Exception as exc:  # an election outlasting the call, or refused
                    log.warning("creating stream %s: %r; retrying", self._opts.stream, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self._opts.retry_backoff_max_s)

    @property
    def settling(self) -> bool:
        """True while batches published from memory are unresolved (the drain waits)."""
        return bool(self._live)

    # -- batching ----------------------------------------------------------------
    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq

    def resend_id(self, sequence: int) -> str:
        self._last_resend = max(time.time_ns(), self._last_resend + 1)
        return f"{batch_id(self.source_id, sequence)}~{self._last_resend}"

    async def _cut_and_send(self) -> None:
        if not self._pending:
            return
        merged = PointBatch.concat(self._pending)
        self._pending = []
        self._pending_points = 0
        limit = min(self._batch_points, self.points_per_message())
        if len(merged) > self._batch_points and limit < self._batch_points:
            self.metrics.batches_split += 1
        for part in slices(merged, limit):
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
            self._fence is not None
            or len(self.spool)
            or not self._nc.is_connected
            or self.publisher.in_flight >= self._opts.publish_window
        ):
            self.to_spool(seq, msg_id, payload, len(batch))
            return
        entry = _Live(seq, msg_id, payload, batch)
        self._live[seq] = entry
        fut = await self.publisher.publish(payload, msg_id, on_retry=lambda: self._fence_at(seq))
        fut.add_done_callback(lambda f: self._after_publish(f, entry))

    # -- ordering ledger of live publishes ------------------------------------------
    def _after_publish(self, fut: asyncio.Future[int], entry: _Live) -> None:
        if self._aborted or self._live.get(entry.seq) is not entry:
            return
        entry.done = True
        # Anything but a clean ack (retries exhausted, an unexpected client error,
        # cancellation at shutdown) sends the batch to the spool: never dropped.
        if fut.cancelled() or fut.exception() is not None:
            self.metrics.publish_errors.append(
                "cancelled" if fut.cancelled() else repr(fut.exception())
            )
            self._fence_at(entry.seq)
        else:
            entry.acked = True
            self.acked(entry.seq, entry.batch)
        self._settle()

    def _fence_at(self, seq: int) -> None:
        if self._fence is None or seq < self._fence:
            self._fence = seq
            self._settle()

    def _settle(self) -> None:
        """Spool what the ordering rule needs re-sent; forget what is settled."""
        fence = self._fence
        for e in self._live.values():
            if not e.done or fence is None or e.seq < fence:
                continue
            if e.seq == fence:
                if not e.acked and not e.spooled_as:
                    e.spooled_as = e.msg_id
                    self.to_spool(e.seq, e.msg_id, e.payload, len(e.batch))
            elif not e.spooled_as.startswith(f"{e.msg_id}~"):
                # may be in the stream ahead of the fenced batch: re-send it after that one
                e.spooled_as = self.resending(e.seq, e.acked)
                self.to_spool(e.seq, e.spooled_as, e.payload, len(e.batch))
        if all(e.done for e in self._live.values()):
            self._live.clear()
            self._fence = None
        elif fence is None:
            while self._live:
                first = next(iter(self._live.values()))
                if not (first.done and first.acked):
                    break
                del self._live[first.seq]

    # -- shared with the drain loop -------------------------------------------------
    def to_spool(self, seq: int, msg_id: str, payload: bytes, points: int) -> bool:
        """Store a batch in the spool; a refusal or a failed write is counted and alarmed."""
        try:
            self.spool.put(seq, msg_id, payload)
        except SpoolFullError as exc:
            self.metrics.points_refused += points
            log.error("ALARM %s", exc)
            return False
        except OSError as exc:  # EIO, ENOSPC, a failed fsync: the batch is not spooled
            self.metrics.points_refused += points
            self.metrics.spool_write_errors += 1
            log.error("ALARM spool write of batch %s failed (%s); its %d points are lost",
                      msg_id, exc, points)  # fmt: skip
            return False
        self.metrics.batches_spooled += 1
        return True

    def acked(self, seq: int, batch: PointBatch) -> None:
        """Report a batch's first ack (the ack of a re-send of a reported batch is silent)."""
        if seq in self._resent_after_ack:
            self._resent_after_ack.discard(seq)
            return
        self.metrics.batches_acked += 1
        self.metrics.points_acked += len(batch)
        if self._on_ack is not None:
            self._on_ack(batch_id(self.source_id, seq), batch)

    def resending(self, seq: int, was_acked: bool) -> str:
        """A fresh re-send id for ``seq``; remembers not to report its ack twice."""
        if was_acked:
            self._resent_after_ack.add(seq)
        self.metrics.batches_resent += 1
        return self.resend_id(seq)


def slices(batch: PointBatch, limit: int) -> Iterator[PointBatch]:
    """Consecutive parts of at most ``limit`` points (views, no copies)."""
    n = len(batch)
    if n <= limit:
        yield batch
        return
    for a in range(0, n, limit):
        b = min(a + limit, n)
        yield PointBatch(
            batch.series[a:b], batch.ts[a:b], batch.values[a:b], batch.quality[a:b], batch.is_sorted
        )
