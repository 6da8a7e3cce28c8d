"""Rebuild a store from the stream (event sourcing): replay every batch into a fresh engine.

The stream is the durable, replayable log; the store is a projection of it. This
reads the stream from its first retained message to the last one present when
the rebuild starts, with an ephemeral consumer that does not disturb the live
ingest's durable consumer, and writes every decodable batch into ``target``.
Messages that do not decode are counted and skipped (the live path dead-letters
them the same way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from historian.bus.options import BusOptions
from historian.bus.wire import WireFormatError, decode_batch
from historian.errors import HistorianError
from historian.model import PointBatch


class RebuildError(HistorianError):
    """The rebuild cannot start (target not empty, stream missing, ...)."""


@dataclass
class RebuildResult:
    messages: int = 0
    points: int = 0
    undecodable: int = 0
    first_seq: int = 0
    last_seq: int = 0
    seconds: float = 0.0


async def rebuild(
    nats_url: str,
    target: Path,
    opts: BusOptions | None = None,
    *,
    progress: Callable[[RebuildResult], None] | None = None,
    fetch_batch: int = 256,
) -> RebuildResult:
    from historian import Historian, Options

    opts = opts or BusOptions()
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise RebuildError(f"{target} is not empty; rebuild into a new directory")
    nc = await nats.connect(nats_url, connect_timeout=5)
    js = nc.jetstream()
    result = RebuildResult()
    t0 = time.monotonic()
    try:
        try:
            info = await js.stream_info(opts.stream)
        except nats.js.errors.NotFoundError:
            raise RebuildError(f"stream {opts.stream!r} does not exist on {nats_url}") from None
        result.first_seq, result.last_seq = int(info.state.first_seq), int(info.state.last_seq)
        db = Historian.open(str(target), Options())
        try:
            if info.state.messages:
                sub = await js.pull_subscribe(
                    opts.all_batch_subjects(),
                    stream=opts.stream,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.NONE,
                        deliver_policy=DeliverPolicy.ALL,
                        inactive_threshold=60.0,
                    ),
                )
                seq = 0
                while seq < result.last_seq:
                    msgs = await sub.fetch(fetch_batch, timeout=5)
                    good: list[PointBatch] = []
                    for m in msgs:
                        seq = max(seq, int(m.metadata.sequence.stream))
                        if seq > result.last_seq:
                            break  # arrived after the rebuild started
                        result.messages += 1
                        try:
                            good.append(decode_batch(m.data).batch)
                        except WireFormatError:
                            result.undecodable += 1
                    if good:
                        batch = PointBatch.concat(good)
                        await asyncio.to_thread(db.write, batch)
                        result.points += len(batch)
                    if progress is not None:
                        progress(result)
                await sub.unsubscribe()
            db.flush()
        finally:
            db.close()
    finally:
        await nc.close()
    result.seconds = time.monotonic() - t0
    return result
