"""The OPC UA collector heals itself: server restarts and silent (blackholed) links.

The collector's hand-off is a recorder here (the bus is tested elsewhere); the
server is the real simulator node process, restarted on the same port, and the
silent link is the real TCP fault proxy in blackhole mode.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from harness.faults import FaultProxy
from harness.services import ManagedProcess
from harness.services.net import free_port
from historian.collect.opcua import OpcUaCollector
from historian.model import PointBatch
from sim.catalogue_gen import generate_profile
from sim.tags import dump_catalogue

pytestmark = [pytest.mark.service, pytest.mark.slow]


class Recorder:
    def __init__(self) -> None:
        self.batches: list[PointBatch] = []

    def add(self, batch: PointBatch) -> None:
        self.batches.append(batch)

    def newest_ts(self) -> int:
        return max((int(b.ts.max()) for b in self.batches if len(b)), default=0)


def _node(tmp: Path, name: str, port: int) -> ManagedProcess:
    cat = tmp / "cat.toml"
    if not cat.exists():
        dump_catalogue(generate_profile("normal", 0).slice(0, 100), cat)
    ready = tmp / f"{name}.ready"
    ready.unlink(missing_ok=True)
    proc = ManagedProcess(
        name,
        [sys.executable, "-m", "sim.servers.node", "--catalogue", cat, "--modbus-port", "-1",
         "--opcua-port", str(port), "--ready-file", ready, "--tick", "0.5"],
        tmp / f"{name}.log",
    )  # fmt: skip
    proc.start()
    proc.wait_ready(lambda: ready.exists() and bool(json.loads(ready.read_text())), 120, "ready")
    return proc


async def _until(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.1)
    return False


def _tags(tmp: Path):  # type: ignore[no-untyped-def]
    from sim.tags import load_catalogue

    return load_catalogue(tmp / "cat.toml").tags[:50]


async def test_data_resumes_after_the_server_restarts(tmp_path: Path) -> None:
    port = free_port()
    node = await asyncio.to_thread(_node, tmp_path, "node-a", port)
    rec = Recorder()
    url = f"opc.tcp://127.0.0.1:{port}/twinbench"
    col = OpcUaCollector(url, _tags(tmp_path), rec, stale_after_s=3.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(col.run(stop))
    try:
        assert await _until(lambda: col.metrics.notifications > 0, 60)
        node.stop()
        restarted_at = time.time_ns()
        node = await asyncio.to_thread(_node, tmp_path, "node-b", port)
        assert await _until(lambda: rec.newest_ts() > restarted_at, 60), col.metrics
        assert col.metrics.sessions >= 2
        assert col.metrics.reconnects >= 1
    finally:
        stop.set()
        await task
        node.stop()


async def test_a_silent_session_is_treated_as_broken(tmp_path: Path) -> None:
    port = free_port()
    node = await asyncio.to_thread(_node, tmp_path, "node-c", port)
    proxy = await FaultProxy("127.0.0.1", port).start()
    rec = Recorder()
    url = f"opc.tcp://{proxy.address}/twinbench"
    col = OpcUaCollector(url, _tags(tmp_path), rec, stale_after_s=3.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(col.run(stop))
    try:
        assert await _until(lambda: col.metrics.notifications > 0, 60)
        await proxy.set_mode("blackhole")  # TCP stays up, nothing gets through
        assert await _until(lambda: col.metrics.stale_resets >= 1, 30), col.metrics
        await proxy.set_mode("pass")
        healed_at = time.time_ns()
        assert await _until(lambda: rec.newest_ts() > healed_at, 60), col.metrics
        assert col.metrics.sessions >= 2
    finally:
        stop.set()
        await task
        await proxy.stop()
        node.stop()
