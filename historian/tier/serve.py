"""The cold tier inside a running server: ``twinbench historian serve --tier FILE``.

:class:`TierFrontEnd` attaches the tier to the server's open store (so every
query reads hot and cold through one snapshot) and runs one maintenance round
every ``export_every`` (default 60 s) on a worker thread: export the store
buckets older than the hot window, apply retention, merge a day's small parts
once a partition holds ``compact_parts`` of them. After each round it writes
``tier-status.json`` in the data directory (atomically): what
``twinbench historian tier status`` prints, plus the round's export report,
so a harness or an operator can read the tier's state while the server holds
the store's lock.

A round that fails (the object store unreachable, a verify mismatch) is logged
with what to do and retried next round; nothing is dropped from the hot tier
before its parts are listed (historian.tier.exporter), so a failed round
loses nothing. The front end never stops the ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from historian.lsm.engine import Historian
from historian.options import Options

from .config import TierConfig
from .tier import ColdTier
from .worker import ExportWorker

__all__ = ["STATUS_FILE", "TierFrontEnd", "read_status"]

STATUS_FILE = "tier-status.json"


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The last ``tier-status.json`` a server wrote in ``data_dir`` (None: none yet)."""
    try:
        return dict(json.loads((data_dir / STATUS_FILE).read_text()))
    except FileNotFoundError:
        return None


class _Server(Protocol):
    """What the front end needs of ``historian.server.HistorianServer`` (its open store)."""

    db: Historian
    options: Options


class TierFrontEnd:
    """Runs the cold tier's export, retention and compaction beside the ingest."""

    name = "tier"

    def __init__(self, config: TierConfig, log: Callable[[str], None]) -> None:
        self.config = config
        self.tier: ColdTier | None = None
        self.worker: ExportWorker | None = None
        self.rounds = 0
        self.failures = 0
        self.exported_points = 0
        self.export_seconds = 0.0
        self._log = log
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._data_dir: Path | None = None

    async def start(self, server: _Server) -> dict[str, str]:
        self._data_dir = Path(server.db.directory)
        # nothing here waits for a compaction or the object store: the server is READY
        # as soon as without the tier; the first round recovers an interrupted export
        # (it takes the compaction lock and lists the bucket)
        # the heavy half of each export runs in a child process at a lower priority
        self.worker = ExportWorker(
            server.db.directory,
            self.config,
            server.options.encryption_key_file,
        )  # not idle=True yet: an idle child gets no CPU while the machine is saturated
        self.tier = await asyncio.to_thread(
            ColdTier.attach, server.db, self.config, recover_now=False, worker=self.worker
        )
        self._log(
            f"historian: cold tier {self.config.endpoint}/{self.config.bucket}/"
            f"{self.config.prefix}, hot window {self.config.hot_window_ns / 1e9:g} s, "
            f"export every {self.config.export_every_ns / 1e9:g} s"
        )
        self._task = asyncio.create_task(self._loop())
        return {"tier": f"{self.config.endpoint}/{self.config.bucket}/{self.config.prefix}"}

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        if self.worker is not None:
            await asyncio.to_thread(self.worker.close)

    async def _loop(self) -> None:
        every = self.config.export_every_ns / 1e9
        # the first status (lag, bytes) after READY: stats() waits for no compaction
        await asyncio.to_thread(self._write_status, None)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every)
            if self._stop.is_set():
                return
            await asyncio.to_thread(self.run_round)

    def run_round(self) -> dict[str, Any] | None:
        """One maintenance round (worker thread); returns the export report, None on failure."""
        assert self.tier is not None
        self.rounds += 1
        try:
            report = self.tier.export_due(flush=True)
            for line in report.recovered:
                self._log(f"historian: tier recovery: {line}")
            if report.parts or report.flushes:
                self._log(f"historian: tier round {self.rounds}: {report.summary()}")
            self.tier.apply_retention()
            if self._partition_crowded():
                self.tier.compact_small()
        except Exception as exc:  # the object store is a remote service: keep serving
            self.failures += 1
            self._log(
                f"historian: tier round {self.rounds} failed ({type(exc).__name__}: {exc}); "
                f"nothing left the hot tier; retrying in {self.config.export_every_ns / 1e9:g} s "
                "(check the [tier] endpoint and credentials)"
            )
            return None
        self.exported_points += report.points
        self.export_seconds += report.seconds
        exported = dataclasses.asdict(report)
        self._write_status(exported)
        return exported

    def _partition_crowded(self) -> bool:
        assert self.tier is not None
        counts: dict[tuple[str, int], int] = {}
        for p in self.tier.catalogue.parts:
            key = (p.tag_prefix, p.day_start)
            counts[key] = counts.get(key, 0) + 1
        return max(counts.values(), default=0) >= self.config.compact_parts

    def _write_status(self, last_export: dict[str, Any] | None) -> None:
        assert self.tier is not None and self._data_dir is not None
        status = self.tier.stats()
        status.update(
            written_at=time.time(),
            rounds=self.rounds,
            failures=self.failures,
            exported_points_total=self.exported_points,
            export_seconds_total=self.export_seconds,
            last_export=last_export,
        )
        tmp = self._data_dir / f".{STATUS_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(status, default=str, sort_keys=True))
        os.replace(tmp, self._data_dir / STATUS_FILE)
