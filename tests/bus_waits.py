"""Waiting on a real JetStream consumer, shared by the bus/ingest/collector tests."""

from __future__ import annotations

import asyncio

import nats.js.errors
from nats.js import JetStreamContext

from historian.bus.options import BusOptions


async def wait_consumed(
    js: JetStreamContext, opts: BusOptions, partition: int = 0, timeout_s: float = 30.0
) -> None:
    """Until the partition's consumer has nothing pending or unacked; fails on timeout.

    A consumer that does not exist yet (the worker has not subscribed) counts as
    not caught up.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        try:
            info = await js.consumer_info(opts.stream, opts.consumer_name(partition))
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None and not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"consumer of partition {partition} did not catch up in {timeout_s} s")
