"""The legacy writer's own durable pull consumer on twinbench's JetStream stream.

The seed's shadow-mode pattern: one feed, two historians. twinbench's ingest
workers consume ``historian-p<N>``; this consumer is a second durable,
``legacy-scada-p<N>`` by default, on the same stream and subject, so it sees
exactly the same batches and keeps its own position: it can be stopped, fall
behind and catch up without touching twinbench's ack floor.

A message is acked only once every tenant buffer holding its rows has been
written by the aggregator (so a crash of the legacy writer redelivers, the
legacy way: COPY has no dedup, a redelivered batch becomes duplicate rows,
which the shadow diff reports). ``ack_wait`` is above the aggregator's 5 s
buffering age for that reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from historian.bus.options import BusOptions
from historian.bus.wire import decode_batch
from historian.model import PointBatch

__all__ = ["LegacyConsumer", "LegacyConsumerStats", "LegacySink"]

Distort = Callable[[PointBatch], PointBatch]
"""What the legacy side does to a batch before buffering it (seeded discrepancies)."""


class LegacySink(Protocol):
    """Where a legacy consumer puts batches (``ScadaAggregator``, ``PiLegacyArchive``)."""

    def add(self, batch: PointBatch) -> dict[int, int]: ...

    def flush_due(self, *, force: bool = False) -> int: ...

    def written(self, tenant: int, generation: int) -> bool: ...


@dataclass
class LegacyConsumerStats:
    batches: int = 0
    points: int = 0
    lag_messages: int = 0
    max_lag_messages: int = 0
    lag_samples: list[tuple[float, int]] = field(default_factory=list)


class LegacyConsumer:
    """Feed a legacy sink from a durable pull consumer of its own."""

    def __init__(
        self,
        nc: NATS,
        opts: BusOptions,
        aggregator: LegacySink,
        *,
        partition: int = 0,
        durable: str | None = None,
        ack_wait_s: float = 30.0,
        distort: Distort | None = None,
    ) -> None:
        self._js = nc.jetstream()
        self._opts = opts
        self.aggregator = aggregator
        self.partition = partition
        self.durable = durable or f"legacy-scada-p{partition}"
        self._ack_wait_s = ack_wait_s
        self._distort = distort
        self._held: list[tuple[Msg, dict[int, int]]] = []
        self.stats = LegacyConsumerStats()

    async def ensure(self) -> None:
        try:
            await self._js.consumer_info(self._opts.stream, self.durable)
        except NotFoundError:
            await self._js.add_consumer(
                self._opts.stream,
                ConsumerConfig(
                    durable_name=self.durable,
                    filter_subject=self._opts.batch_subject(self.partition),
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=self._ack_wait_s,
                    max_ack_pending=self._opts.max_ack_pending,
                    max_deliver=-1,
                ),
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch, decode, buffer and write until ``stop``; then write what is buffered."""
        await self.ensure()
        sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self._opts.stream)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self._opts.fetch_batch, timeout=0.5)
                except (NatsTimeoutError, TimeoutError):  # nats-py raises either
                    msgs = []
                for msg in msgs:
                    decoded = decode_batch(msg.data)
                    batch = decoded.batch
                    if self._distort is not None:
                        batch = self._distort(batch)
                    self._held.append((msg, self.aggregator.add(batch)))
                    self.stats.batches += 1
                    self.stats.points += len(decoded.batch)
                await self._flush(force=False)
                await self._sample_lag()
            await self._flush(force=True)
        finally:
            await sub.unsubscribe()

    async def _flush(self, *, force: bool) -> None:
        await asyncio.to_thread(self.aggregator.flush_due, force=force)
        if self._held:
            still: list[tuple[Msg, dict[int, int]]] = []
            for msg, waits in self._held:
                if all(self.aggregator.written(t, g) for t, g in waits.items()):
                    await msg.ack()
                else:
                    still.append((msg, waits))
            self._held = still

    async def _sample_lag(self) -> None:
        info = await self._js.consumer_info(self._opts.stream, self.durable)
        lag = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        self.stats.lag_messages = lag
        self.stats.max_lag_messages = max(self.stats.max_lag_messages, lag)
        self.stats.lag_samples.append((time.monotonic(), lag))
