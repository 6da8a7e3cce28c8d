"""A recorded range replayed end to end, compared value by value with where it came from.

    historian A (serve --http) -> fetch_from_historian -> sim replay server process
      -> OPC UA collector + Modbus poller -> nats-server -> ingest process -> historian B

* OPC UA (source timestamps): B holds exactly A's points, float64 value bits, status
  and timestamp equal. A's timestamps are whole microseconds with odd microsecond
  parts: that is the resolution a source timestamp survives between asyncua servers
  and clients (docs/replay.md); finer ones are truncated by the replay, tested in
  tests/sim/test_replay.py.
* Modbus (no timestamps: the poll time stamps a reading): every value B holds for a
  Modbus-read tag is one of A's values as its register encoding holds it, exactly:
  float32 (24-bit mantissa, relative error <= 2**-24) or int16_scaled (scale 0.01:
  absolute error <= 0.005). A Bad record reaches Modbus as NaN registers (float32 tags;
  Modbus has no status).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian
from historian.collect.forwarder import BatchForwarder
from historian.collect.modbus import ModbusPoller
from historian.collect.opcua import OpcUaCollector
from historian.collect.spool import DiskSpool
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from sim.replay import fetch_from_historian
from sim.servers.launch import start_servers, stop_servers
from sim.tags import Catalogue, ModbusSpec, Tag, dump_catalogue, dumps_catalogue
from tests.bus_waits import wait_consumed
from tests.historian.collect.test_collectors_e2e import OPTS
from tests.historian.serve_process import ServeProcess
from tests.sim.servers.test_history_from_historian import SERVE

pytestmark = [pytest.mark.service, pytest.mark.slow]

US = 1_000
BASE = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z
N = 300
PREFIX = "acme.site1.area1.line1.cell1.pump1"
MB_OFFSET = 100  # the Modbus poller stores tag k as series k + 100, beside the OPC UA copy


def _tag(k: int, name: str, unit: str, modbus: ModbusSpec) -> Tag:
    return Tag(id=k, path=f"{PREFIX}.{name}", legacy_name=f"P1:{name}", unit=unit, low=-150.0,
               high=150.0, dtype="float64", modbus=modbus)  # fmt: skip


CAT = Catalogue((
    _tag(1, "flow", "m3/h", ModbusSpec("input", 1, 0, "float32")),
    _tag(2, "pressure", "bar", ModbusSpec("input", 1, 2, "float32", word_order="little")),
    _tag(3, "level", "m", ModbusSpec("input", 1, 4, "int16_scaled", scale=0.01)),
), name="replay-e2e")  # fmt: skip


def recorded(k: int) -> PointBatch:
    i = np.arange(N)
    ts = BASE + i * NS + (i * 7919 % 1000) * US  # odd microseconds, 1 s +- 1 ms apart
    values = np.sin(i * 0.05 + k) * 100 + 1 / 3  # full 53-bit mantissas
    quality = np.zeros(N, np.uint16)
    if k == 1:
        values[50:53] = np.nan
        quality[50:53] = 0x808C  # BadSensorFailure: replayed as Bad without a value
        quality[120] = 0x40A4  # Uncertain_DataSubNormal, value kept
    return PointBatch.from_arrays(np.full(N, k), ts, values, quality)


def seed(data: Path) -> None:
    db = Historian.open(str(data))
    try:
        for t in CAT.tags:
            db.write(recorded(t.id))
        db.flush()
    finally:
        db.close()


def _every_reading(tags: list[Tag], offset: int = 0) -> list[Tag]:
    return [dataclasses.replace(t, deadband=-1.0, id=t.id + offset) for t in tags]


def _start_ingest(data: Path, url: str) -> subprocess.Popen[str]:
    """The ingest process, started now; its READY line is read when it is needed (the
    slow process starts of a loaded machine overlap)."""
    return subprocess.Popen(
        [sys.executable, "-m", "historian.ingest", "--data-dir", str(data), "--nats", url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


async def _replay_through_collectors(
    tmp: Path, recording: Path, srv: NatsServer, ingest: subprocess.Popen[str]
) -> None:
    dump_catalogue(CAT, tmp / "catalogue.toml")
    go = tmp / "go"
    procs = start_servers(
        tmp / "catalogue.toml", speed=100.0, tick_s=0.99, replay=recording, hold_file=go,
        progress=True, workdir=tmp / "sim",
    )  # fmt: skip
    try:
        assert ingest.stdout is not None and ingest.stdout.readline().strip() == "READY"
        p = procs[0]
        assert p.opcua_endpoint is not None and p.progress_path is not None
        nc = await nats.connect(srv.url)
        stop = asyncio.Event()
        fwd_opc = BatchForwarder(nc, OPTS, "opcua-0", DiskSpool(tmp / "s1"))
        fwd_mb = BatchForwarder(nc, OPTS, "modbus-0", DiskSpool(tmp / "s2"))
        # 100 records/s per tag: a queue of 1000 per item holds many publishing intervals
        opc = OpcUaCollector(p.opcua_endpoint, _every_reading(list(CAT.tags)), fwd_opc,
                             publishing_interval_ms=100, queue_size=1000)  # fmt: skip
        mb = ModbusPoller(p.modbus_host, p.modbus_port, _every_reading(list(CAT.tags), MB_OFFSET),
                          fwd_mb, poll_interval_s=0.03)  # fmt: skip
        tasks = [asyncio.create_task(c.run(stop)) for c in (fwd_opc, fwd_mb, opc, mb)]
        deadline = time.monotonic() + 60.0
        while opc.metrics.notifications < len(CAT) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the first record of each tag: subscribed
        assert opc.metrics.notifications >= len(CAT), "OPC UA collector saw no initial values"
        go.touch()  # the replay runs from here
        while time.monotonic() < deadline:
            doc = json.loads(p.progress_path.read_text()) if p.progress_path.exists() else {}
            if doc.get("finished"):
                break
            await asyncio.sleep(0.1)
        assert doc.get("finished"), f"replay did not finish: {doc}"
        responses = opc.metrics.publish_responses
        while time.monotonic() < deadline and opc.metrics.publish_responses < responses + 3:
            await asyncio.sleep(0.05)
        # every reading handed to a forwarder must be acked by the stream (acked == built
        # misses readings still buffered before their batch is built)
        for fwd, handed in ((fwd_opc, opc.metrics.sent), (fwd_mb, mb.metrics.sent)):
            while time.monotonic() < deadline and fwd.metrics.points_acked < handed:
                await asyncio.sleep(0.05)
        assert time.monotonic() < deadline, "collectors did not catch up within 60 s"
        stop.set()
        await asyncio.gather(*tasks)
        assert opc.metrics.decode_errors == 0, opc.metrics.last_error
        assert mb.metrics.block_errors == 0
        await wait_consumed(nc.jetstream(), OPTS)
        await nc.close()
    finally:
        stop_servers(procs)


async def test_replayed_range_reaches_a_second_historian_bit_exact(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path / "nats").start()
    ingest = _start_ingest(tmp_path / "b", srv.url)
    try:
        await _fetch_and_replay(tmp_path, srv, ingest)
    finally:
        ingest.terminate()
        ingest.wait(timeout=60)
        srv.close()
    _compare(tmp_path / "b")


async def _fetch_and_replay(tmp_path: Path, srv: NatsServer, ingest: subprocess.Popen[str]) -> None:
    (tmp_path / "a").mkdir()
    a = ServeProcess(SERVE, tmp_path / "a", dumps_catalogue(CAT), seed, ["--http", "127.0.0.1:0"],
                     [], 90)  # fmt: skip
    try:
        recording = fetch_from_historian(
            str(a.info["http"]), f"{PREFIX}.*", "2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z",
            tmp_path / "range.parquet",
        )  # fmt: skip
    finally:
        assert a.stop() == 0, a.log.read_text()
    await _replay_through_collectors(tmp_path, recording, srv, ingest)


def _compare(store: Path) -> None:
    db = Historian.open(str(store))
    try:
        for t in CAT.tags:
            want = recorded(t.id)
            ts, values, quality = db.read(t.id, 0, 2**62)
            # OPC UA: every point, exactly once, same timestamp, value bits and quality
            assert ts.tolist() == want.ts.tolist(), t.path
            assert values.view(np.int64).tolist() == want.values.view(np.int64).tolist(), t.path
            assert quality.tolist() == want.quality.tolist(), t.path
            # Modbus: values as the register encoding holds them
            _, mb_values, _ = db.read(t.id + MB_OFFSET, 0, 2**62)
            assert len(mb_values) >= 30, (t.path, len(mb_values))
            good = want.values[~np.isnan(want.values)]
            if t.modbus.encoding == "float32":
                held = good.astype(np.float32).astype(np.float64)
                assert np.abs(held - good).max() <= np.abs(good).max() * 2.0**-24
            else:
                held = np.round(good / t.modbus.scale) * t.modbus.scale
                assert np.abs(held - good).max() <= t.modbus.scale / 2 + 1e-12
            # a Bad record has no value: its float32 registers hold NaN (Modbus has no status)
            assert np.isin(mb_values[~np.isnan(mb_values)], held).all(), t.path
    finally:
        db.close()
