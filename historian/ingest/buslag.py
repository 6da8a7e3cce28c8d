"""What JetStream says about one partition's consumer and the stream: lag and storage.

Read by each ingest worker about once a second (``IngestWorker._refresh_lag``) and
exported on ``/metrics`` (:mod:`historian.ingest.metrics`), because no Prometheus
exporter for nats-server runs beside the historian: the historian already talks to
JetStream, so it reports the figures the alerts need (``deploy/prometheus/alerts.yml``).

- **lag in messages**: ``num_pending + num_ack_pending`` of the durable consumer;
- **lag in seconds**: the age (stream time) of the oldest message of the partition's
  subject not yet acked, i.e. the first message after the consumer's ack floor
  (``get_msg(next_by_subj)``); 0 when there is none. It does not rely on
  ``num_pending``, which nats-server computes racily while messages arrive;
- **stream bytes / messages / max_bytes** (``stream_info``), so "the stream is 80 %
  full" is one division; ``max_bytes`` is 0 when the stream has no limit.

A failed read leaves the previous figures and does not move ``read_at_s``: an
alert on the age of ``read_at_s`` catches a historian that can no longer see
its consumer (bus unreachable), when the lag figures themselves go stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext

__all__ = ["ConsumerReading", "StreamReading", "read_consumer", "read_stream"]


@dataclass(frozen=True, slots=True)
class ConsumerReading:
    lag_messages: int
    lag_seconds: float
    redelivered: int
    """Messages delivered more than once and not yet acked (``num_redelivered``)."""
    read_at_s: float
    """Wall-clock time of the reading (seconds since 1970)."""


@dataclass(frozen=True, slots=True)
class StreamReading:
    stream: str
    bytes: int
    messages: int
    max_bytes: int
    """The stream's ``max_bytes`` limit; 0 = unlimited."""
    read_at_s: float


async def read_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    subject: str,
    *,
    clock_s: Callable[[], float] = time.time,
) -> ConsumerReading:
    """One consumer's lag; raises what nats-py raises when the server cannot answer."""
    info = await js.consumer_info(stream, durable)
    floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
    lag_s = 0.0
    now = clock_s()
    try:
        oldest = await js.get_msg(stream, seq=floor + 1, subject=subject, next=True)
    except nats.js.errors.NotFoundError:
        oldest = None
    if oldest is not None and oldest.time is not None:
        lag_s = max(0.0, now - oldest.time.timestamp())
    return ConsumerReading(
        lag_messages=int(info.num_pending or 0) + int(info.num_ack_pending or 0),
        lag_seconds=lag_s,
        redelivered=int(info.num_redelivered or 0),
        read_at_s=now,
    )


async def read_stream(
    js: JetStreamContext, stream: str, *, clock_s: Callable[[], float] = time.time
) -> StreamReading:
    info = await js.stream_info(stream)
    limit = int(info.config.max_bytes or 0)
    return StreamReading(
        stream=stream,
        bytes=int(info.state.bytes),
        messages=int(info.state.messages),
        max_bytes=max(0, limit),
        read_at_s=clock_s(),
    )
