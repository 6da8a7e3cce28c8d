"""Pull consumer that moves batches from JetStream into the engine.

Contract: a message is acked only after the engine has made its points durable
(``sink.write`` returned). If the historian dies between the write and the ack,
JetStream redelivers after ``ack_wait``; the engine's last-write-wins rule on
(series, timestamp) makes the second write a no-op, so nothing is duplicated.

Each fetch round decodes every message, writes all good batches as *one*
columnar write (one WAL record, one group commit) and then acks. Messages that
fail to decode go to the dead-letter subject with the reason in headers and are
acked, so one bad message never blocks or crashes the consumer.

After a nats-server restart, nats-py pull subscriptions can stop delivering
(known issue). The worker therefore re-creates its subscription whenever a
fetch errors, and also when the consumer reports pending messages but several
fetches in a row return nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from historian.bus.options import BusOptions
from historian.bus.stream import consumer_config, ensure_consumer, ensure_streams
from historian.bus.wire import DecodedBatch, WireFormatError, decode_batch
from historian.ingest.checkpoint import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from historian.model import PointBatch


class BatchSink(Protocol):
    """What the worker writes into: ``Historian`` satisfies it."""

    def write(self, batch: PointBatch) -> int: ...


@dataclass
class IngestMetrics:
    batches: int = 0
    points: int = 0
    dead_lettered: int = 0
    redelivered: int = 0
    resubscribes: int = 0
    last_stream_seq: int = 0
    lag_messages: int = 0
    write_seconds: float = 0.0


class IngestWorker:
    """One partition's consumer; run several (one per partition) to share the work."""

    def __init__(
        self,
        nc: NATS,
        sink: BatchSink,
        opts: BusOptions,
        *,
        partition: int = 0,
        checkpoint_dir: Path | None = None,
        on_applied: Callable[[list[DecodedBatch]], None] | None = None,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._sink = sink
        self._opts = opts
        self._partition = partition
        self._cp_path = checkpoint_path(checkpoint_dir, partition) if checkpoint_dir else None
        self._on_applied = on_applied
        self._sub: JetStreamContext.PullSubscription | None = None
        self.metrics = IngestMetrics()
        if self._cp_path is not None:
            cp = load_checkpoint(self._cp_path)
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
        await ensure_streams(self._js, self._opts)
        await ensure_consumer(self._js, self._opts, self._partition)
        cfg = consumer_config(self._opts, self._partition)
        self._sub = await self._js.pull_subscribe_bind(
            durable=cfg.durable_name or "", stream=self._opts.stream
        )
        return self._sub

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; survives server restarts by re-subscribing."""
        empty_with_pending = 0
        last_lag_check = 0.0
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
            ):
                self._sub = None
                self.metrics.resubscribes += 1
                await asyncio.sleep(0.2)
                continue
            if msgs:
                empty_with_pending = 0
                await self._apply(msgs)
            now = time.monotonic()
            if now - last_lag_check > 1.0 or not msgs:
                last_lag_check = now
                await self._refresh_lag()
                if not msgs and self.metrics.lag_messages > 0:
                    empty_with_pending += 1
                    if empty_with_pending >= 3:
                        # Connected, messages pending, nothing delivered: treat as broken.
                        empty_with_pending = 0
                        self._sub = None

    async def _refresh_lag(self) -> None:
        with contextlib.suppress(Exception):
            cfg = consumer_config(self._opts, self._partition)
            info = await self._js.consumer_info(self._opts.stream, cfg.durable_name or "")
            self.metrics.lag_messages = int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _apply(self, msgs: list[Msg]) -> None:
        good: list[PointBatch] = []
        good_msgs: list[Msg] = []
        decoded_all: list[DecodedBatch] = []
        for msg in msgs:
            if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
                self.metrics.redelivered += 1
            try:
                decoded = decode_batch(msg.data, max_points=self._opts.max_points_per_message)
            except WireFormatError as exc:
                await self._dead_letter(msg, exc.reason, str(exc))
                continue
            good.append(decoded.batch)
            good_msgs.append(msg)
            decoded_all.append(decoded)
        if good:
            batch = PointBatch.concat(good)
            t0 = time.perf_counter()
            try:
                await asyncio.to_thread(self._sink.write, batch)
            except Exception as exc:
                # Engine refused the data (bad series, out of window, ...): dead-letter the
                # messages one by one so the good ones still land.
                if len(good) == 1:
                    await self._dead_letter(
                        good_msgs[0], "rejected", f"{type(exc).__name__}: {exc}"
                    )
                    return
                for one, msg in zip(good, good_msgs, strict=True):
                    try:
                        await asyncio.to_thread(self._sink.write, one)
                    except Exception as one_exc:
                        await self._dead_letter(
                            msg, "rejected", f"{type(one_exc).__name__}: {one_exc}"
                        )
                        continue
                    await self._ack_applied([msg], one, [d for d in decoded_all if d.batch is one])
                return
            self.metrics.write_seconds += time.perf_counter() - t0
            await self._ack_applied(good_msgs, batch, decoded_all)

    async def _ack_applied(
        self, msgs: list[Msg], batch: PointBatch, decoded: list[DecodedBatch]
    ) -> None:
        for msg in msgs:
            await msg.ack()
        seq = max(int(m.metadata.sequence.stream) for m in msgs)
        self.metrics.batches += len(msgs)
        self.metrics.points += len(batch)
        self.metrics.last_stream_seq = max(self.metrics.last_stream_seq, seq)
        if self._cp_path is not None:
            await asyncio.to_thread(
                save_checkpoint,
                self._cp_path,
                Checkpoint(
                    self._opts.stream,
                    self._partition,
                    self.metrics.last_stream_seq,
                    self.metrics.batches,
                    self.metrics.points,
                ),
            )
        if self._on_applied is not None:
            self._on_applied(decoded)

    async def _dead_letter(self, msg: Msg, reason: str, detail: str) -> None:
        headers = {
            "Twinbench-Reason": reason,
            "Twinbench-Detail": detail[:1000],
            "Twinbench-Subject": msg.subject,
            "Twinbench-Stream-Seq": str(msg.metadata.sequence.stream),
        }
        await self._js.publish(self._opts.dead_letter_subject, msg.data, headers=headers)
        self.metrics.dead_lettered += 1
        await msg.ack()

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
