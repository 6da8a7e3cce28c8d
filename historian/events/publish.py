"""Publishing plant events to the events stream: an in-memory outbox and one sender task.

:meth:`EventPublisher.submit` never blocks the caller (the plant's tick loop): events
go into a bounded outbox and a background task publishes them in order, each with
``Nats-Msg-Id`` = the event id, so a retry after a lost ack is dropped by the
stream's duplicate window and stored once. While NATS is unreachable the outbox
holds up to ``max_outbox`` events (the oldest are dropped beyond it, counted in
``dropped``); events are not spooled to disk (docs/events.md, Limits).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys

import nats
from nats.aio.client import Client as NATS

from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.bus.publisher import BatchPublisher, PublishFailedError
from historian.bus.stream import ensure_events_stream
from historian.events.model import Event

__all__ = ["EventPublisher"]


class EventPublisher:
    """Connects to ``nats_url`` and publishes events on ``<events prefix>.<source_id>``."""

    def __init__(
        self,
        nats_url: str,
        source_id: str,
        opts: BusOptions | None = None,
        *,
        max_outbox: int = 100_000,
    ) -> None:
        self.opts = opts or BusOptions()
        self.subject = self.opts.events_subject(source_id)
        self._url = nats_url
        self._outbox: collections.deque[Event] = collections.deque()
        self._max = max_outbox
        self._wake = asyncio.Event()
        self._nc: NATS | None = None
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._outbox)

    def submit(self, events: list[Event]) -> None:
        for e in events:
            if len(self._outbox) >= self._max:
                self._outbox.popleft()
                self.dropped += 1
            self._outbox.append(e)
        if events:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _connect(self) -> BatchPublisher:
        while True:
            try:
                self._nc = await nats.connect(
                    server_list(self._url),
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.2,
                    connect_timeout=2,
                    error_cb=_quiet,
                )
                await ensure_events_stream(self._nc.jetstream(), self.opts)
                return BatchPublisher(self._nc, self.subject, self.opts)
            except Exception as exc:  # the bus may come up after the plant: keep trying
                print(f"events: NATS not ready ({type(exc).__name__}: {exc})", file=sys.stderr)
                if self._nc is not None:
                    with contextlib.suppress(Exception):
                        await self._nc.close()
                    self._nc = None
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        pub = await self._connect()
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            event = self._outbox[0]
            try:
                await pub.publish_and_wait(event.to_json(), event.id)
            except PublishFailedError as exc:
                print(f"events: {exc}; retrying", file=sys.stderr, flush=True)
                await asyncio.sleep(1.0)
                continue
            if self._outbox and self._outbox[0] is event:
                self._outbox.popleft()
            self.published += 1

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait (bounded) until the outbox is empty; True if it is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._outbox and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return not self._outbox

    async def close(self, flush_s: float = 2.0) -> None:
        if self._task is not None:
            if self._nc is not None:
                await self.flush(flush_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 5.0)


async def _quiet(exc: Exception) -> None:
    print(f"events nats: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
