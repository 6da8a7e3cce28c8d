"""A pull-consumer fetch that takes the delivered messages off the queue in bulk.

nats-py's ``PullSubscription.fetch`` waits for every message of a batch with its own
``next_msg`` call, and each call makes a ``uuid4`` (an ``os.urandom`` read), a task
and a ``wait_for`` timer: 95 µs of client CPU per message measured on the CPU-capped
bench machine, the largest per-message cost of the ingest (bench_bus, 1,000-point
messages: 0.4 µs per point in all). :func:`fetch` sends the same JetStream pull
requests (``$JS.API.CONSUMER.MSG.NEXT``) on the same subscription, but waits once per
wake-up and then drains everything the read loop has queued.

Protocol, as nats-py's fetch: a ``no_wait`` request first, answered with up to
``batch`` messages and, when fewer were available, a ``404`` status; when it found
nothing, one lingering request with ``expires``, and the fetch returns as soon as
anything has arrived (later deliveries of that request stay queued for the next
fetch, which takes them first). Status messages found at the start belong to earlier
requests and are dropped. ``408`` (request expired) and ``409`` (e.g. a leader change)
end a fetch like ``404``; any other status raises ``APIError``.

It reads nats-py's subscription internals (``_sub``, ``_nms``, ``_deliver``), which is
why the nats-py version is pinned (constraints.txt); tests/historian/bus/test_pull.py
checks the behaviour against a real nats-server.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats.js.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

_STATUS = "Status"
_HEARTBEAT = "100"
_END = frozenset({"404", "408", "409"})
"""Statuses that end a pull request's deliveries without being an error."""
_EXPIRES_MARGIN_NS = 100_000
"""The request expires this much before the client stops waiting (as nats-py does)."""


def _status(msg: Msg) -> str | None:
    headers = msg.headers
    return None if headers is None else headers.get(_STATUS)


def _take(sub: Subscription, msgs: list[Msg], batch: int, *, stale: bool) -> bool:
    """Move queued messages into ``msgs`` (up to ``batch``); True once a request has
    ended (a terminating status). ``stale``: statuses are from earlier requests."""
    queue: asyncio.Queue[Msg] = sub._pending_queue
    while len(msgs) < batch and not queue.empty():
        msg = queue.get_nowait()
        queue.task_done()  # balanced, or the subscription's drain (join) would hang
        sub._pending_size -= len(msg.data)
        status = _status(msg)
        if status is None:
            msgs.append(msg)
        elif stale or status == _HEARTBEAT:
            continue
        elif status in _END:
            return True
        else:
            raise nats.js.errors.APIError.from_msg(msg)
    return False


async def _wait(sub: Subscription, deadline: float) -> bool:
    """Wait until something is queued; False when ``deadline`` passed first."""
    queue: asyncio.Queue[Msg] = sub._pending_queue
    if not queue.empty():
        return True
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    try:
        msg = await asyncio.wait_for(queue.get(), remaining)
    except TimeoutError:
        return False
    # back in front, uncounted: _take takes it (and counts it) like every other message
    queue._queue.appendleft(msg)  # type: ignore[attr-defined]
    return True


async def fetch(psub: JetStreamContext.PullSubscription, batch: int, timeout: float) -> list[Msg]:
    """Up to ``batch`` messages of the pull consumer; ``[]`` when none came in ``timeout``."""
    if batch < 1 or timeout <= 0:
        raise ValueError(f"fetch needs batch >= 1 and timeout > 0, got {batch}, {timeout}")
    sub: Subscription = psub._sub
    nc = psub._nc
    start = time.monotonic()
    deadline = start + timeout
    msgs: list[Msg] = []
    _take(sub, msgs, batch, stale=True)  # left over from an earlier lingering request
    if len(msgs) >= batch:
        return msgs
    request = {"batch": batch - len(msgs), "no_wait": True}
    await nc.publish(psub._nms, json.dumps(request).encode(), psub._deliver)
    while len(msgs) < batch:
        if not await _wait(sub, deadline) or _take(sub, msgs, batch, stale=False):
            break
    if msgs:
        return msgs
    expires = int((deadline - time.monotonic()) * 1e9) - _EXPIRES_MARGIN_NS
    if expires <= 0:
        return msgs
    request = {"batch": batch, "expires": expires}
    await nc.publish(psub._nms, json.dumps(request).encode(), psub._deliver)
    while not msgs:
        if not await _wait(sub, deadline) or _take(sub, msgs, batch, stale=False):
            break
    return msgs
