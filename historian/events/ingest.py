"""The historian's consumer of the events stream: fetch, store durably, then ack.

One durable pull consumer (``BusOptions.events_consumer``) on the events stream.
Each fetched round is decoded, appended to the :class:`~historian.events.store.EventStore`
(which returns only once the records are fsynced) and only then acked. A crash
between the fsync and the ack makes JetStream redeliver after ``ack_wait_s``; the
store drops the redelivered event by its id, so it is stored once. A message that
is not an event is terminated (never redelivered) and counted in ``rejected``; a
failed append is not acked (redelivered later) and counted in ``append_errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_events_stream, events_consumer_config
from historian.events.model import Event, EventFormatError
from historian.events.store import EventStore

__all__ = ["EventIngest", "EventIngestMetrics"]


@dataclass
class EventIngestMetrics:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    append_errors: int = 0
    redelivered: int = 0
    last_error: str = ""


class EventIngest:
    """Consume the events stream into ``store`` until :meth:`run`'s ``stop`` is set."""

    def __init__(
        self,
        store: EventStore,
        nats_url: str,
        opts: BusOptions | None = None,
        *,
        after_durable: Callable[[list[Msg]], None] | None = None,
    ) -> None:
        self.store = store
        self.opts = opts or BusOptions()
        self._url = nats_url
        self._after_durable = after_durable
        """Test hook between the durable append and the acks (a crash there is the case
        that makes JetStream redeliver an event already stored)."""
        self._nc: NATS | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self.metrics = EventIngestMetrics()

    async def start(self) -> None:
        self._nc = await nats.connect(
            server_list(self._url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            connect_timeout=2,
            error_cb=_quiet,
        )

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        assert self._nc is not None
        js = self._nc.jetstream()
        await ensure_events_stream(js, self.opts)
        cfg = events_consumer_config(self.opts)
        self._sub = await js.pull_subscribe(
            f"{self.opts.events_subject_prefix}.>",
            durable=cfg.durable_name,
            stream=self.opts.events_stream,
            config=cfg,
        )
        return self._sub

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sub = self._sub or await self._subscribe()
                msgs = await sub.fetch(self.opts.fetch_batch, timeout=self.opts.fetch_timeout_s)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                self._sub = None
                await _pause(stop, 0.5)
                continue
            if not await self._apply(msgs):
                await _pause(stop, 1.0)

    async def _apply(self, msgs: list[Msg]) -> bool:
        """Store one round; False if the append failed (nothing acked: redelivered later)."""
        events: list[Event] = []
        keep: list[Msg] = []
        for msg in msgs:
            self.metrics.received += 1
            if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
                self.metrics.redelivered += 1
            try:
                events.append(Event.from_json(msg.data))
                keep.append(msg)
            except EventFormatError as exc:
                self.metrics.rejected += 1
                print(f"events: rejected message {msg.metadata.sequence.stream}: {exc}",
                      file=sys.stderr, flush=True)  # fmt: skip
                with contextlib.suppress(Exception):
                    await msg.term()
        if not events:
            return True
        try:
            new = await asyncio.to_thread(self.store.append, events)
        except Exception as exc:
            self.metrics.append_errors += 1
            self.metrics.last_error = f"{type(exc).__name__}: {exc}"
            print(f"events: append failed, not acked: {exc}", file=sys.stderr, flush=True)
            return False
        self.metrics.stored += new
        self.metrics.duplicates += len(events) - new
        if self._after_durable is not None:
            self._after_durable(keep)
        for msg in keep:
            with contextlib.suppress(Exception):  # unacked: redelivered, then deduplicated
                await msg.ack()
        return True

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):  # acks are out before the close (not drain:
                await self._nc.flush(2)  # it waits out the pull subscription's pending fetch)
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _quiet(exc: Exception) -> None:
    print(f"events nats: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
