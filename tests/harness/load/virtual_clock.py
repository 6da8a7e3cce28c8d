"""A discrete-event clock for driver tests: time moves only when every task waits on it.

``drive()`` takes a :class:`harness.load.driver.Clock`; with this one, a test's sends
"take" 50 ms by sleeping on the clock, and the measured latencies are exact
numbers instead of whatever a loaded 2-core machine made of real time. The
advancer wakes the earliest sleeper once the event loop has nothing else to
run (it yields a few times first, so tasks woken by one sleeper can register
their own sleeps before time moves on).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def now_ns(self) -> int:
        return self._now

    async def sleep_until(self, t_ns: int) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._advance())
        if t_ns <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (t_ns, next(self._order), fut))
        await fut

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + int(seconds * 1e9))

    async def _advance(self) -> None:
        while True:
            for _ in range(20):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if not self._sleepers:
                continue
            t, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, t)
            if not fut.done():
                fut.set_result(None)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
