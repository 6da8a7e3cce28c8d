"""Pull consumer that moves batches from JetStream into the engine.

Contract: a message is acked only after the engine has made its points durable
(``sink.write`` returned; with the server's default ``--durability fsync`` that
means fsynced, see :mod:`historian.server.process`). If the historian dies
between the write and the ack, JetStream redelivers after ``ack_wait``; the
engine's last-write-wins rule on (series, timestamp) makes the second write a
no-op, so nothing is duplicated.

Each fetch round decodes every message, admits each point
(:mod:`historian.ingest.admission`: accepted-time window, known series), writes
all accepted points as *one* columnar write (one WAL record, one group commit)
and then acks. Rounds overlap (``pipeline_depth``, default 2): the next round is
fetched and decoded while this one waits for its fsync, and its append waits for
this one's append, so stream order (and last-write-wins) is kept while the two
fsyncs can be shared. What may leave the stream without being stored, always recorded
in the dead-letter stream first (reason in headers, the points TBWB-encoded):

- a message that fails to decode or whose batch fails validation (whole);
- the rejected points of a message (the rest of it is stored).

A failed write that is not the batch's own fault (disk full, fsync failure,
overload, a closed store; see :func:`historian.ingest.health.classify`) acks
nothing and dead-letters nothing: the round's messages are nak'd with a delay,
the worker stops fetching and backs off (doubling, capped), and retries; or, when
the store refuses every write until reopened (poisoned WAL), it naks and raises
:class:`~historian.ingest.health.StoreUnusableError` so the process exits and a
supervisor restarts it.

After a nats-server restart, nats-py pull subscriptions can stop delivering
(known issue). The worker therefore re-creates its subscription whenever a
fetch errors, and also when the consumer reports pending messages but several
fetches in a row return nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import crc32c
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from historian.bus.options import BusOptions
from historian.bus.stream import consumer_config, ensure_consumer, ensure_streams
from historian.bus.wire import DecodedBatch, WireFormatError, decode_batch, encode_batch
from historian.fs import FileSystem
from historian.ingest.admission import REASONS, Admission, Rejection, admit
from historian.ingest.buslag import ConsumerReading, StreamReading, read_consumer, read_stream
from historian.ingest.checkpoint import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from historian.ingest.health import StoreUnusableError, WriteHealth, classify, describe
from historian.ingest.sources import WRONG_SERIES, WRONG_SOURCE, SourceBinding
from historian.lsm.latency import StageLatency
from historian.model import PointBatch
from historian.options import Options

LAG_REFRESH_S = 1.0
"""How often a worker reads its consumer lag and stream figures (the metrics)."""


class NotProvisionedError(RuntimeError):
    """Bind-only ingest found no consumer to bind to (the operator has not provisioned it)."""


class BatchSink(Protocol):
    """What the worker writes into: ``Historian`` satisfies it."""

    def write(self, batch: PointBatch) -> int: ...


@runtime_checkable
class SplitWriteSink(BatchSink, Protocol):
    """A sink whose write splits into an ordered append and a durability wait
    (``Historian.append`` / ``wait_durable``): overlapping rounds keep stream order
    and share fsyncs."""

    def append(self, batch: PointBatch) -> int: ...

    def wait_durable(self, seq: int) -> None: ...


@dataclass
class IngestMetrics:
    batches: int = 0
    points: int = 0
    dead_lettered: int = 0
    """Whole messages sent to the dead-letter stream (undecodable or invalid)."""
    rejected_points: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    """Points rejected one by one (the rest of their message was stored), by reason."""
    naks: int = 0
    """Messages nak'd for redelivery because the store could not take them."""
    redelivered: int = 0
    resubscribes: int = 0
    last_stream_seq: int = 0
    lag_messages: int = 0
    consumer: ConsumerReading | None = None
    """The last lag reading of the partition's consumer (:mod:`historian.ingest.buslag`)."""
    stream: StreamReading | None = None
    """The last size reading of the stream."""
    write_seconds: float = 0.0
    checkpoint_failures: int = 0
    wrong_source: int = 0
    """Messages dead-lettered because their source does not belong to the partition
    (:mod:`historian.ingest.sources`; also counted in ``dead_lettered``)."""
    wrong_series: int = 0
    """Messages dead-lettered because they hold a series their source does not own
    (a version 2 ``--source-owners`` file; also counted in ``dead_lettered``)."""


INGEST_STAGES = (
    "decode",
    "admission",
    "concat",
    "write",
    "ack",
    "round",
    "publish_to_ack",
    "loop_lag",
)
"""Stages timed per worker (``IngestWorker.latency``): ``decode`` and ``admission`` per
message; ``concat``, ``write`` (the engine write seen from the event loop, thread hand-off
included), ``ack`` (all acks of the round) and ``round`` per fetch round;
``publish_to_ack`` per message from its ``created_ns`` to its ack; ``loop_lag``: how late
a 10 ms timer of the event loop fires (GIL starvation by other threads shows here)."""

LOOP_PROBE_S = 0.01


@dataclass
class _Item:
    msg: Msg
    decoded: DecodedBatch
    admission: Admission


class IngestWorker:
    """One partition's consumer; run several (one per partition) to share the work.

    ``admission``: the store's options; when given, each point is admitted by its
    accepted-time window and series index before the write (rejected points are
    dead-lettered individually). None writes every decoded point as it is.

    ``bind_only``: the streams and this partition's consumer were provisioned by an
    operator; the worker only checks that its consumer exists and binds to it, and
    never sends ``STREAM.CREATE/UPDATE`` or ``CONSUMER.CREATE`` (a least-privilege
    ingest identity may not: docs/security.md). Default: create or update them.

    ``sources``: refuse (dead-letter, reason ``wrong-source``) a batch whose source does
    not belong to this partition, and (``wrong-series``) one holding a series its source
    does not own (:mod:`historian.ingest.sources`). None: no check.
    """

    def __init__(
        self,
        nc: NATS,
        sink: BatchSink,
        opts: BusOptions,
        *,
        partition: int = 0,
        checkpoint_dir: Path | None = None,
        on_applied: Callable[[list[DecodedBatch]], None] | None = None,
        admission: Options | None = None,
        health: WriteHealth | None = None,
        fs: FileSystem | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        checkpoint_interval_s: float = 1.0,
        pipeline_depth: int = 2,
        bind_only: bool = False,
        sources: SourceBinding | None = None,
    ) -> None:
        if sources is not None and sources.partitions != opts.partitions:
            raise ValueError(
                f"source owners are for {sources.partitions} partitions, "
                f"the bus has {opts.partitions}"
            )
        self._nc = nc
        self._bind_only = bind_only
        self._sources = sources
        self._js: JetStreamContext = nc.jetstream()
        self._sink = sink
        self._opts = opts
        self._partition = partition
        self._cp_path = checkpoint_path(checkpoint_dir, partition) if checkpoint_dir else None
        self._on_applied = on_applied
        self._admission = admission
        self._fs = fs or FileSystem()
        self._clock_ns = clock_ns
        self._cp_interval_s = checkpoint_interval_s
        if pipeline_depth < 1:
            raise ValueError(f"pipeline_depth must be >= 1, got {pipeline_depth}")
        self._pipeline_depth = pipeline_depth
        self._appended: asyncio.Future[None] | None = None
        """Resolved once the latest round's batch is appended (the next may append)."""
        self._cp_saved = -float("inf")
        self._cp_dirty = False
        self._sub: JetStreamContext.PullSubscription | None = None
        self.metrics = IngestMetrics()
        self.latency = StageLatency(INGEST_STAGES)
        self.health = health or WriteHealth(name=f"ingest p{partition}")
        if self._cp_path is not None:
            cp = load_checkpoint(self._cp_path, self._fs)
            if cp is not None:
                self.metrics.last_stream_seq = cp.stream_seq
                self.metrics.batches = cp.batches
                self.metrics.points = cp.points

    @property
    def partition(self) -> int:
        return self._partition

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
            self.metrics.resubscribes += 1
        cfg = consumer_config(self._opts, self._partition)
        if self._bind_only:
            await self._check_provisioned(cfg.durable_name or "")
        else:
            await ensure_streams(self._js, self._opts)
            await ensure_consumer(self._js, self._opts, self._partition)
        self._sub = await self._js.pull_subscribe_bind(
            durable=cfg.durable_name or "", stream=self._opts.stream
        )
        return self._sub

    async def _check_provisioned(self, durable: str) -> None:
        """Bind-only: the consumer must exist (``CONSUMER.INFO`` is all it asks for)."""
        try:
            await self._js.consumer_info(self._opts.stream, durable)
        except NotFoundError:
            raise NotProvisionedError(
                f"consumer {durable!r} of stream {self._opts.stream!r} does not exist; with "
                "bind-only ingest an operator creates the streams and consumers first"
            ) from None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; survives server restarts by re-subscribing.

        Raises :class:`StoreUnusableError` when the store refuses every write.
        """
        probes = [
            asyncio.create_task(self._probe_loop_lag(stop)),
            asyncio.create_task(self._refresh_lag_loop(stop)),
        ]
        try:
            await self._consume(stop)
        finally:
            for probe in probes:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe

    async def _probe_loop_lag(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(LOOP_PROBE_S)
            self.latency.record("loop_lag", max(0.0, time.perf_counter() - t0 - LOOP_PROBE_S))

    async def _refresh_lag_loop(self, stop: asyncio.Event) -> None:
        """The lag and stream figures every second, beside the consume loop: awaited inside
        it, each reading (1-5 ms, seconds when JetStream is slow or a right is missing)
        held up the next fetch of a busy worker."""
        while not stop.is_set():
            await self._refresh_lag()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LAG_REFRESH_S)

    async def _consume(self, stop: asyncio.Event) -> None:
        inflight: deque[asyncio.Task[float]] = deque()
        try:
            await self._consume_rounds(stop, inflight)
        finally:
            # every fetched round is written and acked (or nak'd) before the worker stops
            first_error: BaseException | None = None
            while inflight:
                try:
                    await inflight.popleft()
                except Exception as exc:
                    first_error = first_error or exc
            if first_error is not None:
                raise first_error

    async def _consume_rounds(
        self, stop: asyncio.Event, inflight: deque[asyncio.Task[float]]
    ) -> None:
        empty_with_pending = 0
        reconnects = self._nc.stats["reconnects"]
        while not stop.is_set():
            if self._nc.stats["reconnects"] != reconnects:
                # a fetch request sent on the old connection will never be answered
                reconnects = self._nc.stats["reconnects"]
                self._sub = None
            try:
                sub = self._sub or await self._subscribe()
                msgs = await sub.fetch(self._opts.fetch_batch, timeout=self._opts.fetch_timeout_s)
            except (TimeoutError, nats.errors.TimeoutError):
                msgs = []
            except (
                nats.errors.Error,
                nats.js.errors.Error,
                OSError,
                NotProvisionedError,  # mid-run: a restarted server still recovering its store
            ):
                self._sub = None
                self.metrics.resubscribes += 1
                await asyncio.sleep(0.2)
                continue
            backoff = _settle_done(inflight)
            if msgs:
                empty_with_pending = 0
                # the next fetch and decode overlap this round's write and fsync wait
                inflight.append(asyncio.create_task(self._apply(msgs)))
                backoff = max(backoff, await _settle(inflight, keep=self._pipeline_depth - 1))
            if backoff > 0:
                backoff = max(backoff, await _settle(inflight, keep=0))
                await self._pause(backoff, stop)
            if not msgs:  # idle: a fresh reading costs the ingest nothing here
                await self._refresh_lag()
                if self.metrics.lag_messages > 0:
                    empty_with_pending += 1
                    if empty_with_pending >= 3:
                        # Connected, messages pending, nothing delivered: treat as broken.
                        empty_with_pending = 0
                        self._sub = None

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        """Stop fetching for a while: a pull consumer delivers nothing it is not asked for."""
        t0 = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        self.health.backoff_seconds += time.monotonic() - t0

    async def _refresh_lag(self) -> None:
        cfg = consumer_config(self._opts, self._partition)
        with contextlib.suppress(Exception):
            reading = await read_consumer(
                self._js, self._opts.stream, cfg.durable_name or "", cfg.filter_subject or ""
            )
            self.metrics.consumer = reading
            self.metrics.lag_messages = reading.lag_messages
        with contextlib.suppress(Exception):
            self.metrics.stream = await read_stream(self._js, self._opts.stream)

    # ------------------------------------------------------------- one round
    async def _apply(self, msgs: list[Msg]) -> float:
        """Apply one fetch round; return how long to back off (0.0: carry on)."""
        lat = self.latency
        t_round = time.perf_counter()
        items: list[_Item] = []
        backoff = 0.0
        for msg in msgs:
            if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
                self.metrics.redelivered += 1
            t0 = time.perf_counter()
            try:
                decoded = decode_batch(msg.data, max_points=self._opts.max_points_per_message)
            except WireFormatError as exc:
                backoff = max(backoff, await self._dead_letter(msg, exc.reason, str(exc)))
                continue
            if self._sources is not None:
                refused = self._sources.check(
                    decoded.source_id, self._partition, decoded.batch.series
                )
                if refused is not None:  # forged source or series: never stored; recorded, acked
                    reason, why = refused
                    delay = await self._dead_letter(msg, reason, why)
                    if delay == 0.0:  # recorded and acked (else nak'd: counted on redelivery)
                        if reason == WRONG_SOURCE:
                            self.metrics.wrong_source += 1
                        elif reason == WRONG_SERIES:
                            self.metrics.wrong_series += 1
                    backoff = max(backoff, delay)
                    continue
            t1 = time.perf_counter()
            lat.record("decode", t1 - t0)
            items.append(_Item(msg, decoded, self._admit(decoded.batch)))
            lat.record("admission", time.perf_counter() - t1)
        if not items:
            return backoff
        t0 = time.perf_counter()
        batch = PointBatch.concat([it.admission.accepted for it in items])
        lat.record("concat", time.perf_counter() - t0)
        try:
            await self._write(batch)
        except Exception as exc:
            verdict = classify(exc)
            if verdict != "invalid":
                return await self._write_failed(items, exc)
            if len(items) > 1:
                # one message's batch is invalid in itself: find it, store the others
                return max(backoff, await self._apply_one_by_one(items))
            return max(backoff, await self._dead_letter(items[0].msg, "rejected", describe(exc)))
        backoff = max(backoff, await self._applied(items))
        lat.record("round", time.perf_counter() - t_round)
        return backoff

    def _admit(self, batch: PointBatch) -> Admission:
        if self._admission is None:
            return Admission(batch, ())
        return admit(batch, self._admission, self._clock_ns())

    async def _write(self, batch: PointBatch) -> None:
        if len(batch) == 0:
            return
        t0 = time.perf_counter()
        # Rounds overlap (pipeline_depth), but their appends stay in stream order, so
        # last-write-wins follows the stream: this append starts after the previous one.
        loop = asyncio.get_running_loop()
        prev, mine = self._appended, loop.create_future()
        self._appended = mine
        try:
            if prev is not None:
                await prev
            await asyncio.to_thread(self._write_in_order, batch, loop, mine)
        finally:
            _resolve(mine)
        took = time.perf_counter() - t0
        self.metrics.write_seconds += took
        self.latency.record("write", took)

    def _write_in_order(
        self, batch: PointBatch, loop: asyncio.AbstractEventLoop, appended: asyncio.Future[None]
    ) -> None:
        """(worker thread) Append, let the next round append, then wait for durability."""
        sink = self._sink
        if isinstance(sink, SplitWriteSink):
            seq = sink.append(batch)
            loop.call_soon_threadsafe(_resolve, appended)
            sink.wait_durable(seq)
        else:
            sink.write(batch)

    async def _apply_one_by_one(self, items: list[_Item]) -> float:
        backoff = 0.0
        for k, it in enumerate(items):
            it.admission = self._admit(it.decoded.batch)  # a fresh clock for the window
            try:
                await self._write(it.admission.accepted)
            except Exception as exc:
                if classify(exc) != "invalid":
                    return await self._write_failed(items[k:], exc)
                backoff = max(backoff, await self._dead_letter(it.msg, "rejected", describe(exc)))
                continue
            backoff = max(backoff, await self._applied([it]))
        return backoff

    async def _write_failed(self, items: list[_Item], exc: BaseException) -> float:
        """Nothing of ``items`` is acked or dead-lettered: nak them all, back off or give up."""
        fatal = classify(exc) == "fatal"
        if fatal:
            self.health.fatal(exc)
            delay = 0.0  # the process exits; let the restarted one have them at once
        else:
            delay = self.health.transient(exc)
        for it in items:
            await self._nak(it.msg, delay)
        if fatal:
            raise StoreUnusableError(describe(exc)) from exc
        return delay

    async def _nak(self, msg: Msg, delay: float) -> None:
        # if the nak is lost (link down), JetStream redelivers after ack_wait anyway
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay or None)
        self.metrics.naks += 1
        self.health.naks += 1

    async def _applied(self, items: list[_Item]) -> float:
        """The accepted points are durable: record rejected points, then ack."""
        self.health.succeeded()
        done: list[_Item] = []
        backoff = 0.0
        for it in items:
            try:
                for rej in it.admission.rejected:
                    await self._publish_rejected(it, rej)
            except Exception as exc:  # the dead-letter stream is unreachable: redeliver
                backoff = max(backoff, self.health.transient(exc))
                await self._nak(it.msg, backoff)
                continue
            done.append(it)
        if done:
            await self._ack_applied(done)
        return backoff

    async def _publish_rejected(self, it: _Item, rej: Rejection) -> None:
        d = it.decoded
        payload = encode_batch(
            rej.points,
            source_id=d.source_id,
            sequence=d.sequence,
            created_ns=d.created_ns,
            max_points=max(len(rej.points), 1),
        )
        seq = it.msg.metadata.sequence.stream
        headers = {
            "Twinbench-Reason": rej.reason,
            "Twinbench-Detail": rej.detail[:1000],
            "Twinbench-Points": str(len(rej.points)),
            "Twinbench-Subject": it.msg.subject,
            "Twinbench-Stream-Seq": str(seq),
            "Twinbench-Batch-Id": d.batch_id,
            # a redelivered message (ack lost) must not dead-letter its points twice
            "Nats-Msg-Id": _dead_letter_id(self._opts.stream, it.msg, rej.reason),
        }
        await self._js.publish(self._opts.dead_letter_subject, payload, headers=headers)
        self.metrics.rejected_points[rej.reason] += len(rej.points)

    async def _ack_applied(self, items: list[_Item]) -> None:
        msgs = [it.msg for it in items]
        t0 = time.perf_counter()
        for msg in msgs:
            await msg.ack()
        self.latency.record("ack", time.perf_counter() - t0)
        now_ns = time.time_ns()
        for it in items:
            if it.decoded.created_ns > 0:
                self.latency.record("publish_to_ack", max(0, now_ns - it.decoded.created_ns) / 1e9)
        seq = max(int(m.metadata.sequence.stream) for m in msgs)
        self.metrics.batches += len(msgs)
        self.metrics.points += sum(len(it.admission.accepted) for it in items)
        self.metrics.last_stream_seq = max(self.metrics.last_stream_seq, seq)
        self._cp_dirty = True
        if time.monotonic() - self._cp_saved >= self._cp_interval_s:
            await self._save_checkpoint()
        if self._on_applied is not None:
            self._on_applied([it.decoded for it in items])

    async def _save_checkpoint(self) -> None:
        """At most every ``checkpoint_interval_s`` (two fsyncs each) and at close."""
        if self._cp_path is None or not self._cp_dirty:
            return
        cp = Checkpoint(
            self._opts.stream,
            self._partition,
            self.metrics.last_stream_seq,
            self.metrics.batches,
            self.metrics.points,
        )
        self._cp_saved = time.monotonic()
        self._cp_dirty = False
        try:
            await asyncio.to_thread(save_checkpoint, self._cp_path, cp, self._fs)
        except OSError as exc:  # advisory (writes are idempotent): never stop ingesting for it
            self.metrics.checkpoint_failures += 1
            if self.metrics.checkpoint_failures == 1:
                print(f"ingest: checkpoint not saved ({describe(exc)})", file=sys.stderr)

    async def _dead_letter(self, msg: Msg, reason: str, detail: str) -> float:
        """Record a whole message in the dead-letter stream, then ack it; on failure nak it."""
        seq = msg.metadata.sequence.stream
        headers = {
            "Twinbench-Reason": reason,
            "Twinbench-Detail": detail[:1000],
            "Twinbench-Subject": msg.subject,
            "Twinbench-Stream-Seq": str(seq),
            "Nats-Msg-Id": _dead_letter_id(self._opts.stream, msg, "message"),
        }
        try:
            await self._js.publish(self._opts.dead_letter_subject, msg.data, headers=headers)
        except Exception as exc:  # never ack what is not recorded anywhere
            delay = self.health.transient(exc)
            await self._nak(msg, delay)
            return delay
        self.metrics.dead_lettered += 1
        await msg.ack()
        return 0.0

    async def close(self) -> None:
        await self._save_checkpoint()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


def _resolve(f: asyncio.Future[None]) -> None:
    if not f.done():
        f.set_result(None)


def _settle_done(inflight: deque[asyncio.Task[float]]) -> float:
    """Collect the rounds that have finished, oldest first; return the longest backoff."""
    backoff = 0.0
    while inflight and inflight[0].done():
        backoff = max(backoff, inflight.popleft().result())
    return backoff


async def _settle(inflight: deque[asyncio.Task[float]], keep: int) -> float:
    """Wait for the oldest rounds until at most ``keep`` run; return the longest backoff."""
    backoff = 0.0
    while len(inflight) > keep:
        backoff = max(backoff, await inflight.popleft())
    return backoff


def _dead_letter_id(stream: str, msg: Msg, what: str) -> str:
    """Dedup id of a dead-letter record: the same message (stream, sequence *and* bytes,
    since a re-created stream reuses sequences) and the same part of it."""
    crc = crc32c.crc32c(msg.data)
    return f"{stream}/{msg.metadata.sequence.stream}/{crc:08x}/{what}"
