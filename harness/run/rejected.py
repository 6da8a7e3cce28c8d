"""Count what the ingest dead-lettered, by reason: rejected points are accounted, not lost.

The ingest sends a message it cannot store (undecodable, invalid) or the points of a
batch it rejected one by one (out of the accepted time window, unknown series) to
the dead-letter subject with a ``Twinbench-Reason`` header. A scenario reads that
stream back at the end and reports messages and points per reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from historian.bus.options import BusOptions
from historian.bus.wire import WireFormatError, decode_batch

__all__ = ["Rejected", "count_dead_letters"]

REASON_HEADER = "Twinbench-Reason"


@dataclass
class Rejected:
    messages: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    """Points per reason; a message whose payload does not decode counts 0 points."""


async def count_dead_letters(nc: NATS, bus: BusOptions, timeout_s: float = 10.0) -> Rejected:
    """Read every message on the dead-letter subject once (ordered, ephemeral)."""
    out = Rejected()
    js = nc.jetstream()
    try:
        stream = await js.find_stream_name_by_subject(bus.dead_letter_subject)
        info = await js.stream_info(stream, subjects_filter=bus.dead_letter_subject)
    except NotFoundError:
        return out
    total = int(info.state.messages or 0)
    if not total:
        return out
    sub = await js.subscribe(bus.dead_letter_subject, ordered_consumer=True, stream=stream)
    try:
        for _ in range(total):
            msg = await asyncio.wait_for(sub.next_msg(), timeout_s)
            reason = (msg.headers or {}).get(REASON_HEADER, "unknown")
            out.messages[reason] = out.messages.get(reason, 0) + 1
            try:
                n = len(decode_batch(msg.data).batch)
            except WireFormatError:
                n = 0
            out.points[reason] = out.points.get(reason, 0) + n
    finally:
        await sub.unsubscribe()
    return out
