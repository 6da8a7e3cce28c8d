"""Batch publisher: bounded async window, ``Nats-Msg-Id`` dedup, retry with backoff.

Why a window of our own on top of nats-py's ``publish_async``: nats-py's ack
futures never time out, so one lost ack would hold a window slot forever (the
"silent stall" in the field notes). Here every publish has a deadline; on a
timeout or "no responders" it is re-sent with the *same* ``Nats-Msg-Id``, so
the stream's duplicate window turns retries into exactly-once storage. "No
responders" (no stream leader: a cluster electing one) is retried for
``election_window_s`` on top of ``publish_attempts``.

:meth:`BatchPublisher.publish` returns as soon as the batch is in flight and
blocks only while ``publish_window`` batches await their acks: that wait is the
backpressure a collector feels. The returned future resolves to the stream
sequence once acknowledged, or fails with :class:`PublishFailedError` after
``publish_attempts`` tries (the caller then spools the batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import PubAck

from historian.bus.options import BusOptions
from historian.errors import HistorianError

_RETRYABLE: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.TooManyStalledMsgsError,
    # a 503 status on an async publish: no stream leader answers (an R3 stream electing
    # one after its leader died, or the stream not created yet)
    nats.js.errors.NoStreamResponseError,
)


class PublishFailedError(HistorianError):
    """A batch was not acknowledged by JetStream after every retry; spool it and try later."""


@dataclass
class PublisherMetrics:
    published: int = 0
    acked: int = 0
    duplicates: int = 0
    retries: int = 0
    failed: int = 0
    bytes: int = 0
    ack_latency_s: list[float] = field(default_factory=list)

    def take_latencies(self) -> list[float]:
        out, self.ack_latency_s = self.ack_latency_s, []
        return out


class BatchPublisher:
    """Publishes encoded batches to one subject with a bounded in-flight window."""

    def __init__(self, nc: NATS, subject: str, opts: BusOptions) -> None:
        self._nc = nc
        self._js = nc.jetstream(publish_async_max_pending=max(4 * opts.publish_window, 256))
        self._subject = subject
        self._opts = opts
        self._window = asyncio.Semaphore(opts.publish_window)
        self._tasks: set[asyncio.Task[int]] = set()
        self.metrics = PublisherMetrics()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def publish(
        self, payload: bytes, msg_id: str, on_retry: Callable[[], None] | None = None
    ) -> asyncio.Future[int]:
        """Send one batch; waits while the window is full; returns a future of the stream seq.

        ``on_retry`` is called when an attempt fails and before it is retried: from then on
        a later batch of the same caller may reach the stream before this one (the
        forwarder uses it to keep each source's batches in sequence order).
        """
        await self._window.acquire()
        task = asyncio.ensure_future(self._send_with_retry(payload, msg_id, on_retry))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def publish_and_wait(self, payload: bytes, msg_id: str) -> int:
        return await (await self.publish(payload, msg_id))

    def _done(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        self._window.release()
        if not task.cancelled() and task.exception() is not None:
            self.metrics.failed += 1

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every in-flight publish has been acked or has failed."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _wait_ack(self, fut: asyncio.Future[PubAck], timeout_s: float) -> PubAck:
        """Wait for the ack, but give up early when the client has reconnected since:
        a publish sent on the dead connection will never be acked, so re-send it now
        (same ``Nats-Msg-Id``) instead of sitting out the whole timeout."""
        reconnects = self._nc.stats["reconnects"]
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            done, _ = await asyncio.wait([fut], timeout=min(left, 0.1))
            if done:
                return fut.result()
            if self._nc.stats["reconnects"] != reconnects:
                raise nats.errors.ConnectionReconnectingError

    async def _send_with_retry(
        self, payload: bytes, msg_id: str, on_retry: Callable[[], None] | None = None
    ) -> int:
        opts = self._opts
        delay = opts.retry_backoff_s
        last: BaseException | None = None
        headers = {"Nats-Msg-Id": msg_id}
        started = time.perf_counter()
        tries = counted = 0  # counted: the tries that use up ``publish_attempts``
        electing_since: float | None = None  # this batch's first "no responders"
        while counted < opts.publish_attempts:
            tries += 1
            counted += 1
            if tries > 1:
                self.metrics.retries += 1
                if on_retry is not None:
                    on_retry()
                await asyncio.sleep(delay)
                delay = min(delay * 2, opts.retry_backoff_max_s)
            fut: asyncio.Future[PubAck] | None = None
            try:
                fut = await asyncio.wait_for(
                    self._js.publish_async(self._subject, payload, headers=headers),
                    opts.ack_timeout_s,
                )
                self.metrics.published += 1
                self.metrics.bytes += len(payload)
                ack = await self._wait_ack(fut, opts.ack_timeout_s)
            except _RETRYABLE as exc:
                if fut is not None and not fut.done():
                    fut.cancel()  # frees nats-py's own window slot
                last = exc
                if isinstance(exc, nats.js.errors.NoStreamResponseError):
                    # no stream leader: maybe an election; retry it for election_window_s
                    electing_since = electing_since or time.monotonic()
                    if time.monotonic() - electing_since < opts.election_window_s:
                        counted -= 1
                continue
            except nats.js.errors.APIError as exc:
                # e.g. "maximum bytes exceeded" on a full stream: retrying soon may succeed
                # once the consumer catches up; the caller spools if it never does.
                last = exc
                continue
            self.metrics.acked += 1
            if ack.duplicate:
                self.metrics.duplicates += 1
            self.metrics.ack_latency_s.append(time.perf_counter() - started)
            return int(ack.seq)
        raise PublishFailedError(
            f"batch {msg_id} was not acknowledged on {self._subject!r} after "
            f"{tries} attempts (last error: {type(last).__name__}: {last}); "
            "is nats-server reachable and the stream created?"
        )
