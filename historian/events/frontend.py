"""Events in the historian server: the store in ``<data_dir>/events`` and, with
``--nats``, the consumer of the events stream (a :class:`historian.server.process.FrontEnd`).

The HTTP API queries it through :meth:`EventsFrontEnd.query` (``GET /api/v1/events``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from historian.bus.options import BusOptions
from historian.events.ingest import EventIngest
from historian.events.model import Event
from historian.events.store import EventStore
from historian.fs import FileSystem

if TYPE_CHECKING:
    from historian.server.process import HistorianServer

__all__ = ["EventsFrontEnd"]


class EventsFrontEnd:
    name = "events"

    def __init__(
        self,
        directory: Path,
        nats_url: str | None,
        opts: BusOptions | None = None,
        fs: FileSystem | None = None,
    ) -> None:
        self.directory = directory
        self._url = nats_url
        self._opts = opts or BusOptions()
        self._fs = fs
        self.store: EventStore | None = None
        self.ingest: EventIngest | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, server: HistorianServer) -> dict[str, str]:
        self.store = await asyncio.to_thread(EventStore, self.directory, self._fs)
        torn = self.store.open_report["torn_tails"]
        if torn:
            print(f"historian: event store cut torn tails {torn}", file=sys.stderr, flush=True)
        if self._url is not None:
            self.ingest = EventIngest(self.store, self._url, self._opts)
            await self.ingest.start()
            self._task = asyncio.create_task(self.ingest.run(self._stop))
        for fe in server.front_ends:  # the HTTP API answers GET /api/v1/events from here
            state = getattr(fe, "state", None)
            if state is not None and hasattr(state, "events"):
                state.events = self
        return {}

    def query(
        self,
        start_ns: int,
        end_ns: int,
        *,
        source: str = "*",
        kinds: Sequence[str] = (),
        min_severity: int = 1,
        after: tuple[int, str] | None = None,
        max_count: int = 1000,
        visible: Callable[[str], bool] | None = None,
    ) -> tuple[list[Event], bool]:
        if self.store is None:
            return [], False
        return self.store.query(
            start_ns, end_ns, source=source, kinds=kinds, min_severity=min_severity,
            after=after, max_count=max_count, visible=visible,
        )  # fmt: skip

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        if self.ingest is not None:
            await self.ingest.close()
            self.ingest = None
        if self.store is not None:
            self.store.close()
