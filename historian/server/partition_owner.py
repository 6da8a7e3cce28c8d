"""Dynamic partition ownership: a historian process joins the assignment table as a node.

``twinbench historian serve DIR --nats URL --partitions N --node NAME`` starts
with no partition and lets this front end decide, every :data:`TICK_S`, from
the table in the KV bucket (:mod:`historian.server.assignment`):

- claim an unowned partition whose target owner it is, and consume it;
- hand over a partition it owns whose target is another live member (a process
  joined): mark it ``handover``, stop its worker at a clean point, wait until the
  durable consumer's ack floor covers everything it applied, then write the new
  owner. The new owner binds the same durable consumer (``historian-p<N>``) and
  continues from the ack floor;
- take over a partition whose owner stopped heartbeating (crashed);
- at a clean stop, hand its partitions to the remaining members.

Why this loses and duplicates nothing: a partition is consumed by one process
at a time (every ownership change is a compare-and-set, and the old owner
stops before it writes the new one). The old owner's worker stops only after
every round it fetched is written and acked (``IngestWorker.run``); the wait on
the ack floor makes sure the server has those acks before the new owner
fetches, so the new owner is never redelivered a batch the old one stored.
Messages fetched but never applied (a pull that was answered after the stop)
are not in the old store and are redelivered to the new owner after
``ack_wait``. Each store keeps what it ingested: the partition's series live in
the old store up to the handover and in the new one after it; ``holders``
records both and a query merges them (:mod:`historian.api.routing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from historian.ingest.health import StoreUnusableError
from historian.server.assignment import (
    DEFAULT_BUCKET,
    HEARTBEAT_S,
    AssignmentTable,
    Ownership,
    Table,
    target_owner,
)

if TYPE_CHECKING:
    from historian.ingest.service import IngestHost
    from historian.ingest.worker import IngestWorker
    from historian.server.process import HistorianServer

TICK_S = 0.2


@dataclass
class _Running:
    worker: IngestWorker
    stop: asyncio.Event
    task: asyncio.Task[None]


class PartitionOwner:
    """The front end that runs this node's share of the partitions (module docstring)."""

    name = "partitions"

    def __init__(self, node: str, bucket: str = DEFAULT_BUCKET, log: Callable[[str], None] = print):
        self.node = node
        self.bucket = bucket
        self._log = log
        self._host: IngestHost | None = None
        self._table: AssignmentTable | None = None
        self._http: str | None = None
        self._running: dict[int, _Running] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_beat = -float("inf")
        self._failed = False
        self.table = Table()
        """The latest snapshot of the bucket (the router reads members' URLs from it)."""

    @property
    def owned(self) -> list[int]:
        return sorted(self._running)

    def table_holders(self) -> dict[str, str | None]:
        """The query routing table: holder node -> HTTP URL (historian.api.routing)."""
        return self.table.holders_urls()

    async def start(self, server: HistorianServer) -> dict[str, str]:
        host = server.ingest
        if host is None:
            raise RuntimeError("--node needs --nats (the assignment table is on the bus)")
        self._host = host
        self._http = str(server.ready["http"]) if "http" in server.ready else None
        self._table = await AssignmentTable.open(
            host.nc.jetstream(), host.bus.partitions, self.bucket, host.bus.replicas
        )
        await self._beat()
        self._task = asyncio.create_task(self._loop())
        return {"node": self.node}

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await self._leave()

    # ------------------------------------------------------------------ loop
    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._tick()
            except Exception as exc:  # the bus is reconnecting: try again next tick
                self._log(f"partitions: {type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)

    async def _beat(self) -> None:
        assert self._table is not None
        await self._table.heartbeat(self.node, self._http)
        self._last_beat = time.monotonic()

    async def _tick(self) -> None:
        assert self._table is not None
        if time.monotonic() - self._last_beat >= HEARTBEAT_S:
            await self._beat()
        self._reap()
        if self._failed:
            return  # the server is stopping (exit 3); its stop hands the partitions over
        self.table = table = await self._table.read()
        live = table.live_members()
        members = sorted({*live, self.node})
        for p in range(self._table.partitions):
            if self._stop.is_set():
                return
            entry = table.partitions.get(p)
            target = target_owner(p, members)
            if entry is None:
                if target == self.node and await self._table.claim(p, self.node):
                    self._log(f"partitions: {self.node} claimed p{p}")
                    self._acquire(p)
            elif entry.owner == self.node:
                if entry.state == "handover" and entry.to is not None:
                    await self._hand_over(entry, entry.to)  # resume an interrupted handover
                elif target is not None and target != self.node:
                    await self._hand_over(entry, target)
                else:
                    self._acquire(p)
            else:
                if p in self._running:  # we were presumed dead and it was taken over
                    await self._release(p)
                if entry.owner not in live and target == self.node:
                    taken = await self._table.replace(entry, entry.handed_to(self.node))
                    if taken is not None:
                        self._log(f"partitions: {self.node} took over p{p} from {entry.owner}")
                        self._acquire(p)

    def _reap(self) -> None:
        """A worker that ended by itself. The store refusing every write (poisoned WAL) ends
        the process with exit 3, as with static partitions, and the clean stop hands its
        partitions to the other nodes; anything else restarts the worker next tick."""
        for p, r in list(self._running.items()):
            if r.task.done() and not r.stop.is_set():
                exc = r.task.exception()
                del self._running[p]
                assert self._host is not None
                self._host.workers.remove(r.worker)
                if isinstance(exc, StoreUnusableError):
                    self._log(f"partitions: worker p{p}: {exc}; stopping the server")
                    self._failed = True
                    self._host.fail(exc)
                else:
                    self._log(f"partitions: worker p{p} stopped: {exc!r}; restarting it")

    # ------------------------------------------------------------ ownership
    def _acquire(self, p: int) -> None:
        if p in self._running or self._failed:
            return
        assert self._host is not None
        worker = self._host.make_worker(p)
        self._host.workers.append(worker)  # the metrics and /health read this list
        stop = asyncio.Event()
        self._running[p] = _Running(worker, stop, asyncio.create_task(worker.run(stop)))

    async def _release(self, p: int) -> None:
        """Stop consuming ``p`` at a clean point: applied rounds acked, acks at the server."""
        r = self._running.pop(p, None)
        if r is None:
            return
        assert self._host is not None
        r.stop.set()
        try:
            await r.task
        except Exception as exc:
            self._log(f"partitions: worker p{p} ended with {exc!r}")
        await r.worker.close()
        with contextlib.suppress(ValueError):
            self._host.workers.remove(r.worker)
        await self._wait_acked(p, r.worker.metrics.last_stream_seq)

    async def _wait_acked(self, p: int, last_applied_seq: int) -> None:
        assert self._host is not None
        nc, bus = self._host.nc, self._host.bus
        await nc.flush(timeout=5)
        js = nc.jetstream()
        deadline = time.monotonic() + 2 * bus.ack_wait_s + 1.0
        while True:
            with contextlib.suppress(Exception):
                ci = await js.consumer_info(bus.stream, bus.consumer_name(p))
                floor = ci.ack_floor.stream_seq if ci.ack_floor is not None else 0
                if (floor or 0) >= last_applied_seq or not ci.num_ack_pending:
                    return
            if time.monotonic() - self._last_beat >= HEARTBEAT_S:
                await self._beat()  # a long wait must not make the others think we died
            if time.monotonic() > deadline:
                # only nak'd rounds (not stored here) can hold the floor back this long
                self._log(f"partitions: p{p} ack floor below {last_applied_seq} at handover")
                return
            await asyncio.sleep(0.05)

    async def _hand_over(self, entry: Ownership, to: str) -> None:
        assert self._table is not None
        p = entry.partition
        marked = entry
        if entry.state != "handover" or entry.to != to:
            handing = Ownership(p, self.node, "handover", to, entry.holders)
            got = await self._table.replace(entry, handing)
            if got is None:
                return  # the entry changed under us: look again next tick
            marked = got
        await self._release(p)
        if await self._table.replace(marked, marked.handed_to(to)) is not None:
            self._log(f"partitions: {self.node} handed p{p} to {to}")

    async def _leave(self) -> None:
        """Clean stop: hand every partition to the remaining members, then leave."""
        if self._table is None:
            return
        try:
            table = await self._table.read()
            others = [m for m in table.live_members() if m != self.node]
            mine = {p for p, e in table.partitions.items() if e.owner == self.node}
            for p in sorted(mine | set(self._running)):
                entry = table.partitions.get(p)
                target = target_owner(p, others)
                if entry is not None and entry.owner == self.node and target is not None:
                    await self._hand_over(entry, target)
                else:
                    await self._release(p)  # stays ours: resumed when this node restarts
            await self._table.leave(self.node)
        except Exception as exc:
            self._log(f"partitions: leaving: {type(exc).__name__}: {exc}")
            for p in list(self._running):
                await self._release(p)
