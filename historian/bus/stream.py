"""Create or update the JetStream stream and the per-partition durable pull consumers.

Idempotent: calling :func:`ensure_stream` on an existing stream updates its
limits to the configured ones; consumers are durable so a restarted historian
resumes where its last ack left off.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import NotFoundError

from historian.bus.options import BusOptions


def stream_config(opts: BusOptions) -> StreamConfig:
    return StreamConfig(
        name=opts.stream,
        subjects=[opts.all_batch_subjects()],
        storage=StorageType.FILE,
        num_replicas=opts.replicas,
        max_bytes=opts.max_bytes,
        max_age=opts.max_age_s,
        max_msg_size=opts.max_msg_bytes,
        duplicate_window=opts.duplicate_window_s,
        # A full stream must refuse new batches (collectors spool them) rather than
        # silently discard the oldest, which may not be ingested yet.
        discard=DiscardPolicy.NEW,
    )


async def ensure_stream(js: JetStreamContext, opts: BusOptions) -> StreamInfo:
    cfg = stream_config(opts)
    try:
        info = await js.stream_info(opts.stream)
    except NotFoundError:
        return await js.add_stream(cfg)
    # sources belong to the deployment (edge leaf nodes, historian.bus.edge): an update
    # without them would unhook every site
    cfg.sources = info.config.sources
    return await js.update_stream(cfg)


def consumer_config(opts: BusOptions, partition: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=opts.consumer_name(partition),
        filter_subject=opts.batch_subject(partition),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=opts.ack_wait_s,
        max_ack_pending=opts.max_ack_pending,
        max_deliver=-1,
    )


async def ensure_consumer(js: JetStreamContext, opts: BusOptions, partition: int) -> None:
    cfg = consumer_config(opts, partition)
    try:
        await js.consumer_info(opts.stream, cfg.durable_name or "")
    except NotFoundError:
        await js.add_consumer(opts.stream, cfg)


def dead_letter_stream_config(opts: BusOptions) -> StreamConfig:
    return StreamConfig(
        name=f"{opts.stream}_DLQ",
        subjects=[opts.dead_letter_subject],
        storage=StorageType.FILE,
        num_replicas=opts.replicas,
        max_age=opts.max_age_s,
        max_msg_size=opts.max_msg_bytes + 4096,
    )


async def ensure_streams(js: JetStreamContext, opts: BusOptions) -> StreamInfo:
    """The batch stream plus its dead-letter stream (rejected messages are kept, never dropped)."""
    cfg = dead_letter_stream_config(opts)
    try:
        await js.stream_info(cfg.name or "")
    except NotFoundError:
        await js.add_stream(cfg)
    return await ensure_stream(js, opts)


def events_stream_config(opts: BusOptions) -> StreamConfig:
    """The plant events stream (historian.events): low-rate JSON, deduplicated by event id."""
    return StreamConfig(
        name=opts.events_stream,
        subjects=[f"{opts.events_subject_prefix}.>"],
        storage=StorageType.FILE,
        num_replicas=opts.replicas,
        max_age=opts.max_age_s,
        max_msg_size=64 * 1024,
        duplicate_window=opts.duplicate_window_s,
        discard=DiscardPolicy.NEW,
    )


async def ensure_events_stream(js: JetStreamContext, opts: BusOptions) -> StreamInfo:
    """Create the events stream if absent (publishers and the historian both call this)."""
    try:
        return await js.stream_info(opts.events_stream)
    except NotFoundError:
        return await js.add_stream(events_stream_config(opts))


def events_consumer_config(opts: BusOptions) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=opts.events_consumer,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=opts.ack_wait_s,
        max_ack_pending=opts.max_ack_pending,
        max_deliver=-1,
    )
