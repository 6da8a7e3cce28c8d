"""Async open-model drivers: send each batch (or query) at its intended time, measure from it.

Why from the intended time: a closed-loop driver waits for a slow send before
it issues the next one, so the queueing the system caused never shows in the
numbers (coordinated omission). Here the schedule is fixed before the run;
when the sender falls behind, later batches start late, and both their
lateness and their latency *from the intended time* are recorded.

Concurrency is bounded (``max_in_flight``) and every loop is bounded by the
schedule length and by ``max_overrun_s``: batches that could not even start
within the overrun are counted as not sent instead of running on forever.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from harness.load.schedule import Schedule
from harness.load.synthetic import SyntheticSource
from harness.metrics import LatencyHistogram
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch

__all__ = [
    "NOT_SENT",
    "Clock",
    "DriveResult",
    "MonotonicClock",
    "QueryLoadResult",
    "drive",
    "drive_queries",
]

NOT_SENT = -1  # started_ns/completed_ns of a batch that never started / finished


class Clock(Protocol):
    """Time source of a driver; tests pass a fake one to make lateness deterministic."""

    def now_ns(self) -> int: ...

    async def sleep_until(self, t_ns: int) -> None: ...


class MonotonicClock:
    """``time.monotonic_ns`` and ``asyncio.sleep``: the real clock."""

    def now_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep_until(self, t_ns: int) -> None:
        delay = (t_ns - time.monotonic_ns()) / NS
        # always yield: a driver running behind schedule must not starve the other
        # tasks of the loop (acks, fault schedule, the ramp watcher)
        await asyncio.sleep(max(delay, 0.0))


@dataclass
class DriveResult:
    """Per batch, offsets in ns from ``origin_ns``: intended, actual start, completion.

    ``started_ns``/``completed_ns`` hold ``NOT_SENT`` (-1) for batches that never
    started or never completed; ``failed`` marks sends that raised.
    """

    origin_ns: int
    intended_ns: NDArray[np.int64]
    started_ns: NDArray[np.int64]
    completed_ns: NDArray[np.int64]
    failed: NDArray[np.bool_]
    lateness: LatencyHistogram
    latency: LatencyHistogram
    errors: list[str]

    @property
    def sent(self) -> int:
        return int(np.count_nonzero(self.started_ns != NOT_SENT))

    @property
    def completed(self) -> int:
        return int(np.count_nonzero((self.completed_ns != NOT_SENT) & ~self.failed))

    def latency_from_intended_ns(self) -> NDArray[np.int64]:
        """Completion minus intended time for every batch that completed without error."""
        ok = (self.completed_ns != NOT_SENT) & ~self.failed
        out: NDArray[np.int64] = (self.completed_ns[ok] - self.intended_ns[ok]).astype(np.int64)
        return out


async def drive(
    schedule: Schedule,
    send: Callable[[int, PointBatch], Awaitable[None]],
    clock: Clock | None = None,
    *,
    source: SyntheticSource,
    origin_ns: int | None = None,
    max_in_flight: int = 1,
    max_overrun_s: float = 30.0,
    on_batch: Callable[[int, PointBatch], None] | None = None,
    stop: asyncio.Event | None = None,
) -> DriveResult:
    """Send batch ``i`` of ``schedule`` at ``origin + schedule.send_ns[i]``.

    ``send(i, batch)`` is awaited with at most ``max_in_flight`` sends running at
    once (1 = strictly sequential). ``on_batch`` sees every batch as it is built,
    before it is sent (the place to record it in the accounting ledger). The
    runner knows the absolute intended time of batch ``i`` as
    ``origin_ns + schedule.send_ns[i]`` (pass ``origin_ns`` to fix it up front).
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    clock = clock or MonotonicClock()
    origin = clock.now_ns() if origin_ns is None else int(origin_ns)
    n = len(schedule)
    started = np.full(n, NOT_SENT, dtype=np.int64)
    completed = np.full(n, NOT_SENT, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    errors: list[str] = []
    lateness, latency = LatencyHistogram(), LatencyHistogram()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    give_up_ns = schedule.duration_ns + round(max_overrun_s * NS)

    async def one(i: int, batch: PointBatch) -> None:
        try:
            await send(i, batch)
        except asyncio.CancelledError:  # abandoned at the overrun: neither completed nor failed
            raise
        except Exception as exc:  # recorded, not raised: the run goes on and is scored
            failed[i] = True
            completed[i] = clock.now_ns() - origin
            if len(errors) < 100:
                errors.append(f"batch {i}: {type(exc).__name__}: {exc}")
        else:
            done = clock.now_ns() - origin
            completed[i] = done
            latency.record_ns(done - int(schedule.send_ns[i]))
        finally:
            slots.release()

    try:
        for i in range(n):
            # a stop flag, not task cancellation: on Python 3.11 wait_for() below can
            # swallow a cancel that lands as the semaphore is acquired (gh-86296)
            if stop is not None and stop.is_set():
                break
            intended = int(schedule.send_ns[i])
            await clock.sleep_until(origin + intended)
            budget_s = (origin + give_up_ns - clock.now_ns()) / NS
            try:
                await asyncio.wait_for(slots.acquire(), timeout=max(budget_s, 0.0))
            except TimeoutError:
                break  # every slot still busy at the overrun: the rest is "not sent"
            if clock.now_ns() - origin > give_up_ns:
                slots.release()
                break
            batch = source.batch(intended, int(schedule.points[i]))
            if on_batch is not None:
                on_batch(i, batch)
            started[i] = clock.now_ns() - origin
            lateness.record_ns(max(0, int(started[i]) - intended))
            task = asyncio.ensure_future(one(i, batch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            remaining = max(0.0, (origin + give_up_ns - clock.now_ns()) / NS)
            await asyncio.wait(list(tasks), timeout=remaining)
    finally:
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return DriveResult(
        origin, schedule.send_ns.copy(), started, completed, failed, lateness, latency, errors
    )


@dataclass
class QueryLoadResult:
    """Latency from intended time per query kind, plus counts of issued/failed/skipped queries."""

    latency: dict[str, LatencyHistogram]
    issued: dict[str, int]
    failed: dict[str, int]
    skipped: int
    errors: list[str]


async def drive_queries(
    queries: Mapping[str, Callable[[], Any]],
    *,
    rate_qps: float,
    duration_s: float,
    seed: int,
    clock: Clock | None = None,
    max_in_flight: int = 4,
) -> QueryLoadResult:
    """Issue queries at a fixed rate for ``duration_s``, kinds chosen round-robin-shuffled.

    Each callable may be sync (run in a worker thread, so a blocking read does
    not stall the event loop) or return an awaitable. Latency is measured from
    the query's intended time; when all ``max_in_flight`` slots are busy past
    the end of the run, the remaining queries are counted as skipped.
    """
    if rate_qps <= 0 or duration_s <= 0:
        raise ValueError("rate_qps and duration_s must be > 0")
    if not queries:
        raise ValueError("drive_queries needs at least one query callable")
    clock = clock or MonotonicClock()
    kinds = sorted(queries)
    n = round(rate_qps * duration_s)
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.arange(n) % len(kinds))
    intended = np.floor(np.arange(n) * (NS / rate_qps)).astype(np.int64)
    result = QueryLoadResult(
        {k: LatencyHistogram() for k in kinds},
        dict.fromkeys(kinds, 0),
        dict.fromkeys(kinds, 0),
        0,
        [],
    )
    slots = asyncio.Semaphore(max_in_flight)
    origin = clock.now_ns()
    end_ns = round(duration_s * NS)
    tasks: set[asyncio.Task[None]] = set()

    async def one(kind: str, due: int) -> None:
        try:
            fn = queries[kind]
            if inspect.iscoroutinefunction(fn):
                await fn()
            else:
                out = await asyncio.to_thread(fn)
                if inspect.isawaitable(out):
                    await out
            result.latency[kind].record_ns(clock.now_ns() - origin - due)
        except Exception as exc:
            result.failed[kind] += 1
            if len(result.errors) < 100:
                result.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        finally:
            slots.release()

    try:
        for i in range(n):
            due = int(intended[i])
            await clock.sleep_until(origin + due)
            budget_s = (origin + end_ns + NS - clock.now_ns()) / NS
            try:
                await asyncio.wait_for(slots.acquire(), timeout=max(budget_s, 0.0))
            except TimeoutError:
                result.skipped = n - i
                break
            if clock.now_ns() - origin > end_ns + NS:
                slots.release()
                result.skipped = n - i
                break
            kind = kinds[int(order[i])]
            result.issued[kind] += 1
            task = asyncio.ensure_future(one(kind, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=30.0)
    finally:
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return result
