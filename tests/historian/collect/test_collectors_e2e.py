"""Real plant servers -> real collectors -> nats-server -> ingest process -> engine.

The simulator records every point it emitted (``record_emitted``); the test
compares that record with what the historian stored:

* OPC UA carries source timestamps, so the check is exact: every sample the twin
  emitted while the collector was subscribed (repeated values included) is stored
  once, same timestamp, same value bits.
* Modbus has no timestamps (the poll time stamps the reading), so the check is
  that every stored Modbus value is a value the twin emitted for that tag.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian, Options
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.modbus import ModbusPoller
from historian.collect.opcua import OpcUaCollector
from historian.collect.spool import DiskSpool
from sim.emitted import read_emitted
from sim.servers.launch import start_servers, stop_servers
from sim.tags import Tag, load_catalogue
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service, pytest.mark.slow]

OPTS = BusOptions(ack_timeout_s=2.0, fetch_timeout_s=0.2)


def _every_reading(tags: Sequence[Tag]) -> list[Tag]:
    """Tags with deadband -1: the exception filter passes every reading through."""
    return [dataclasses.replace(t, deadband=-1.0) for t in tags]


def _start_ingest(data: Path, url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "historian.ingest", "--data-dir", str(data), "--nats", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    return proc


async def test_opcua_and_modbus_collectors_store_what_the_plant_emitted(tmp_path: Path) -> None:
    procs = start_servers(profile="normal", speed=1.0, seed=3, record_emitted=True,
                          workdir=tmp_path / "sim")  # fmt: skip
    srv = NatsServer(tmp_path / "nats").start()
    ingest = _start_ingest(tmp_path / "hist", srv.url)
    try:
        cat = load_catalogue(tmp_path / "sim" / "catalogue-normal.toml")
        p = procs[0]
        tags = _every_reading(cat.tags[p.tag_range[0] : p.tag_range[1]])
        opc_tags, mb_tags = tags[:250], tags[250:]
        nc = await nats.connect(srv.url)
        stop = asyncio.Event()
        fwd_opc = BatchForwarder(nc, OPTS, "opcua-0", DiskSpool(tmp_path / "s1"))
        fwd_mb = BatchForwarder(nc, OPTS, "modbus-0", DiskSpool(tmp_path / "s2"))
        assert p.opcua_endpoint is not None
        opc = OpcUaCollector(p.opcua_endpoint, opc_tags, fwd_opc, publishing_interval_ms=200)
        mb = ModbusPoller(p.modbus_host, p.modbus_port, mb_tags, fwd_mb, poll_interval_s=0.5)
        tasks = [asyncio.create_task(c.run(stop)) for c in (fwd_opc, fwd_mb, opc, mb)]
        for _ in range(200):
            if opc.metrics.notifications > 0:
                break
            await asyncio.sleep(0.05)
        # in the twin's clock (its source timestamps), which trails the wall clock when the
        # sim falls behind on a loaded machine (seen: 4-6 s); the window below is in it too
        subscribed_ns = opc.metrics.newest_source_ns or time.time_ns()
        await asyncio.sleep(6.0)
        # what the twin had emitted by now (up to the newest source time received), less
        # the changes still in the publish pipeline
        window_end_ns = min(time.time_ns(), opc.metrics.newest_source_ns) - 1_500_000_000
        # Wait on conditions, not a fixed time (a loaded machine stretched the pipeline past
        # a 2 s sleep): three more publish responses (every change up to now has left the
        # server), then every built batch acked by the stream.
        responses = opc.metrics.publish_responses
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and opc.metrics.publish_responses < responses + 3:
            await asyncio.sleep(0.05)
        # every reading handed to a forwarder so far must be acked by the stream: waiting
        # for acked == built missed readings still buffered before their batch was built
        # (a loaded machine stretched the batching interval; one sample went missing)
        for fwd, handed in ((fwd_opc, opc.metrics.sent), (fwd_mb, mb.metrics.sent)):
            while time.monotonic() < deadline and fwd.metrics.points_acked < handed:
                await asyncio.sleep(0.05)
        assert time.monotonic() < deadline, "collectors did not catch up within 60 s"
        stop.set()
        await asyncio.gather(*tasks)
        assert mb.metrics.block_errors == 0 and mb.metrics.polls >= 10
        assert opc.metrics.sessions == 1 and opc.metrics.reconnects == 0
        assert opc.metrics.decode_errors == 0, opc.metrics.last_error
        await wait_consumed(nc.jetstream(), OPTS)
        await nc.close()
    finally:
        stop_servers(procs)
        ingest.terminate()
        ingest.wait(timeout=60)
        srv.close()

    emitted = read_emitted(p.emitted_path)  # type: ignore[arg-type]
    db = Historian.open(str(tmp_path / "hist"), Options())
    try:
        checked = 0
        # measurements: setpoints are written to the server only when they change
        for tag in [t for t in opc_tags if not t.writable][:60]:
            sel = emitted.series == tag.id
            ts, vals, q = emitted.ts[sel], emitted.values[sel], emitted.quality[sel]
            order = np.argsort(ts, kind="stable")
            ts, vals, q = ts[order], vals[order], q[order]
            # every sample, repeats included: the collector subscribes with the
            # StatusValueTimestamp trigger and passes every reading (deadband -1)
            want = (ts >= subscribed_ns + 1_000_000_000) & (ts <= window_end_ns)
            got_ts, got_v, _ = db.read(tag.id, int(ts[want].min()) if want.any() else 0,
                                       int(window_end_ns) + 1)  # fmt: skip
            exp_ts = ts[want]
            missing = np.setdiff1d(exp_ts, got_ts)
            assert len(missing) == 0, (
                tag.path,
                missing.tolist(),
                exp_ts.tolist(),
                got_ts.tolist(),
                subscribed_ns,
                window_end_ns,
            )
            stored_at = np.searchsorted(got_ts, exp_ts)
            exp_v = (
                vals[want].astype(np.float32).astype(np.float64)
                if tag.dtype == "float32"
                else vals[want]
            )
            assert np.array_equal(got_v[stored_at], exp_v, equal_nan=True), tag.path
            assert len(np.unique(got_ts)) == len(got_ts)  # exactly once
            checked += len(exp_ts)
        assert checked > 100, (
            subscribed_ns,
            window_end_ns,
            int(emitted.ts.min()),
            int(emitted.ts.max()),
            len(emitted.ts),
        )
        for tag in mb_tags[:40]:
            _, got_v, _ = db.read(tag.id, 0, 2**62)
            assert len(got_v) >= 8, tag.path
            emitted_vals = emitted.values[emitted.series == tag.id]
            assert np.isin(got_v[~np.isnan(got_v)], emitted_vals).all(), tag.path
    finally:
        db.close()
