"""The collector process: store-and-forward across a bus outage and its own SIGKILL.

A real simulator node serves Modbus; the collector process starts while
nats-server is down (everything goes to its disk spool), is SIGKILLed, the bus
comes up, the collector restarts on the same spool and drains it. Every batch
that was in the spool at the kill reaches the historian, and the stream holds
each batch id once.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import ManagedProcess, NatsServer
from harness.services.net import free_port
from historian import Historian, Options
from historian.bus.options import BusOptions
from historian.bus.wire import decode_batch
from historian.collect.spool import DiskSpool
from sim.catalogue_gen import generate_profile
from sim.tags import dump_catalogue
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service, pytest.mark.slow]
OPTS = BusOptions()


def _wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_spooled_batches_survive_a_collector_sigkill_and_arrive_once(tmp_path: Path) -> None:
    cat = tmp_path / "cat.toml"
    dump_catalogue(generate_profile("normal", 0).slice(0, 100), cat)
    ready = tmp_path / "node.ready"
    node = ManagedProcess(
        "node",
        [sys.executable, "-m", "sim.servers.node", "--catalogue", cat, "--opcua-port", "-1",
         "--ready-file", ready, "--tick", "0.25"],
        tmp_path / "node.log",
    )  # fmt: skip
    node.start()
    node.wait_ready(lambda: ready.exists() and bool(ready.read_text()), 120, "ready")
    modbus = json.loads(ready.read_text())["modbus"]
    nats_port = free_port()
    spool_dir = tmp_path / "spool"
    log = tmp_path / "collector.log"
    collector = ManagedProcess(
        "collector",
        [sys.executable, "-m", "harness.plant.collector_process", "--catalogue", cat,
         "--protocol", "modbus", "--endpoint", modbus, "--interval-s", "0.25",
         "--nats", f"nats://127.0.0.1:{nats_port}", "--spool", spool_dir,
         "--source-id", "collector-t", "--batch-points", "100"],
        log,
    )  # fmt: skip
    srv = NatsServer(tmp_path / "nats", port=nats_port)
    ingest: ManagedProcess | None = None
    try:
        collector.start()  # the bus is down: everything must go to the spool
        collector.wait_for_log("READY\n", 60)
        _wait(lambda: len(list(spool_dir.glob("*.tbwb"))) >= 5, 60, "spooled batches")
        collector.kill()
        spooled = DiskSpool(spool_dir).oldest(10_000)
        assert spooled, "nothing was spooled"
        expected = [decode_batch(s.payload) for s in spooled]

        srv.start()
        ingest = ManagedProcess(
            "ingest",
            [sys.executable, "-m", "historian.ingest", "--data-dir", tmp_path / "hist",
             "--nats", srv.url],
            tmp_path / "ingest.log",
        )  # fmt: skip
        ingest.start()
        ingest.wait_for_log("READY\n", 60)
        collector.start()  # same spool: drains what the killed process left
        collector.wait_for_log("READY\n", 60)  # this start's output only
        _wait(lambda: not list(spool_dir.glob("*.tbwb")), 60, "the spool to drain")
        collector.stop()
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await wait_consumed(js, OPTS)
        sub = await js.pull_subscribe(OPTS.all_batch_subjects(), stream=OPTS.stream)
        ids: list[tuple[str, int]] = []
        while True:
            try:
                msgs = await sub.fetch(256, timeout=1)
            except nats.errors.TimeoutError:
                break
            ids += [(d.source_id, d.sequence) for d in (decode_batch(m.data) for m in msgs)]
        await nc.close()
        assert len(ids) == len(set(ids)), "a batch id reached the stream twice"
        assert {(d.source_id, d.sequence) for d in expected} <= set(ids)
        ingest.stop()
    finally:
        for proc in (collector, node, ingest):
            if proc is not None:
                proc.stop()
        srv.close()
    db = Historian.open(str(tmp_path / "hist"), Options())
    try:
        for d in expected:
            b = d.batch
            for sid in np.unique(b.series)[:5]:
                sel = b.series == sid
                ts, vals, _ = db.read(int(sid), int(b.ts[sel].min()), int(b.ts[sel].max()) + 1)
                assert np.array_equal(ts, b.ts[sel])
                assert np.array_equal(vals, b.values[sel], equal_nan=True)
    finally:
        db.close()
