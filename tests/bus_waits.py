"""Waiting on a real JetStream consumer, shared by the bus/ingest/collector tests."""

from __future__ import annotations

import asyncio

import nats.js.errors
from nats.js import JetStreamContext

from historian.bus.options import BusOptions


async def _last_seq(js: JetStreamContext, opts: BusOptions, partition: int) -> int:
    """Stream sequence of the partition subject's newest message (0: none)."""
    try:
        msg = await js.get_last_msg(opts.stream, opts.batch_subject(partition))
    except nats.js.errors.NotFoundError:
        return 0
    return int(msg.seq or 0)


async def wait_consumed(
    js: JetStreamContext, opts: BusOptions, partition: int = 0, timeout_s: float = 30.0
) -> None:
    """Until the partition's consumer has acked the subject's newest message; fails on timeout.

    ``num_pending`` alone is not enough: nats-server computes it racily while
    messages arrive (nats-server#6297), and a clean-clone CI run saw it read 0
    with five unfetched messages in the stream. The ack floor reaching the
    subject's last stream sequence is the server's own record that every
    message before it was acked. A consumer that does not exist yet (the worker
    has not subscribed) counts as not caught up.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        try:
            info = await js.consumer_info(opts.stream, opts.consumer_name(partition))
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None and not info.num_pending and not info.num_ack_pending:
            acked = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            if acked >= await _last_seq(js, opts, partition):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"consumer of partition {partition} did not catch up in {timeout_s} s")
