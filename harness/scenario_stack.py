"""The services one scenario run needs, with the fault hooks the scenario schedule drives.

    nats-server <- FaultProxy "collector" <- load generator / collectors (in the runner)
    nats-server <- FaultProxy "historian" <- ingest process (python -m historian.ingest)

Proxies are created only for the links a scenario cuts, because every byte
through an asyncio proxy costs the runner's CPU. The ingest process is a
real OS process so SIGKILL is a real crash; its recovery time is measured
from restart to its ``READY`` line (engine recovery + WAL replay + subscribe).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from harness.faults import FaultProxy
from harness.services import ManagedProcess, NatsServer

READY_LINE = "READY\n"


class IngestProcess:
    def __init__(
        self, data_dir: Path, nats_url: str, log_path: Path, *, fsync: str, notify_url: str
    ) -> None:
        self.data_dir = data_dir
        self.nats_url = nats_url
        self.log_path = log_path
        argv = [
            sys.executable,
            "-m",
            "historian.ingest",
            "--data-dir",
            str(data_dir),
            "--nats",
            nats_url,
            "--fsync",
            fsync,
        ]
        self.process = ManagedProcess("historian-ingest", argv, log_path, grace_s=30.0)
        self.restarts = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout_s: float = 60.0) -> float:
        """Start (or restart) and wait for READY; returns the seconds it took."""
        t0 = time.monotonic()
        self.process.start()
        self.process.wait_for_log(READY_LINE, timeout_s)
        return time.monotonic() - t0

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()


class ScenarioStack:
    """nats-server + optional fault proxies + the ingest process, in one work directory."""

    def __init__(self, work_dir: Path, *, proxy_collector: bool, proxy_historian: bool) -> None:
        self.work_dir = work_dir
        self.nats = NatsServer(work_dir / "nats")
        self._want_proxy = {"collector": proxy_collector, "historian": proxy_historian}
        self.proxies: dict[str, FaultProxy] = {}
        self.ingest: IngestProcess | None = None

    async def start(self, *, fsync: str = "interval_ms=5") -> None:
        self.nats.start()
        for name, wanted in self._want_proxy.items():
            if wanted:
                self.proxies[name] = await FaultProxy("127.0.0.1", self.nats.port).start()
        self.ingest = IngestProcess(
            self.work_dir / "historian",
            self.url_for("historian"),
            self.work_dir / "logs" / "ingest.log",
            fsync=fsync,
            notify_url=self.nats.url,
        )
        # in a thread: the proxies run on this event loop and must keep forwarding
        await asyncio.to_thread(self.ingest.start)

    def url_for(self, side: str) -> str:
        """The NATS URL a component on ``side`` (collector | historian) should dial."""
        proxy = self.proxies.get(side)
        return f"nats://{proxy.address}" if proxy is not None else self.nats.url

    async def cut(self, side: str) -> None:
        await self.proxies[side].set_mode("blackhole")

    async def heal(self, side: str) -> None:
        # reset first: blackholed connections are dead; clients must reconnect cleanly
        await self.proxies[side].set_mode("reset")
        await self.proxies[side].set_mode("pass")

    async def close(self) -> None:
        if self.ingest is not None:
            await asyncio.to_thread(self.ingest.stop)
        for proxy in self.proxies.values():
            await proxy.stop()
        self.nats.close()
