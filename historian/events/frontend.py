"""Events in the historian server: the store in ``<data_dir>/events`` and, with
``--nats``, the consumer of the events stream (a :class:`historian.server.process.FrontEnd`).

The HTTP API queries the store itself (``GET /api/v1/events``; :meth:`EventStore.query`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from historian.bus.options import BusOptions
from historian.events.ingest import EventIngest
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
        self._states: list[Any] = []  # the API states answering from the store

    async def start(self, server: HistorianServer) -> dict[str, str]:
        self.store = await asyncio.to_thread(EventStore, self.directory, self._fs)
        torn = self.store.open_report["torn_tails"]
        if torn:
            print(f"historian: event store cut torn tails {torn}", file=sys.stderr, flush=True)
        if self._url is not None:
            self.ingest = EventIngest(self.store, self._url, self._opts)
            await self.ingest.start()
            self._task = asyncio.create_task(self.ingest.run(self._stop))
        for fe in server.front_ends:  # the HTTP API answers GET /api/v1/events from the store
            state = getattr(fe, "state", None)
            if state is not None and hasattr(state, "events"):
                state.events = self.store
                self._states.append(state)
        return {}

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        if self.ingest is not None:
            await self.ingest.close()
            self.ingest = None
        for state in self._states:  # the API answers 503 from here on, not a closed store
            state.events = None
        self._states.clear()
        if self.store is not None:
            self.store.close()
