"""``twinbench historian serve``: the real process and the in-process server, real nats-server.

What a supervisor and a user rely on: READY and the ready file once serving,
/healthz and /metrics (the store's recovery report included), a clean stop on
SIGTERM, exit 3 when the store refuses writes (poisoned WAL), exit 2 with one
line for a usage error, exit 1 with one line when the store is already open.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.fs import FaultyFileSystem
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from historian.server import EXIT_STORE_UNUSABLE, HistorianServer, ServeConfig
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions()
SERVER = [sys.executable, "-m", "historian.server"]


def _batch(i: int, now_ns: int) -> PointBatch:
    series = np.arange(1, 11, dtype=np.uint32)
    return PointBatch.from_arrays(series, np.full(10, now_ns + i * NS), series + i * 0.25)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


async def _until(cond: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def test_serve_process_ready_file_health_metrics_and_clean_stop(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    data, ready = tmp_path / "hist", tmp_path / "run" / "ready.json"
    argv = [str(data), "--nats", nats_server.url, "--ready-file", str(ready), "--metrics-port", "0"]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli.app", "historian", "serve", *argv],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY", log.read_text()
        info: dict[str, Any] = json.loads(ready.read_text())
        assert info["pid"] == proc.pid and info["metrics"].startswith("http://127.0.0.1:")
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        now = time.time_ns()
        for i in range(20):
            b = encode_batch(_batch(i, now), source_id="t", sequence=i)
            await js.publish(OPTS.batch_subject(0), b)
        await wait_consumed(js, OPTS)
        await nc.close()
        status, body = await asyncio.to_thread(_get, info["metrics"] + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok"
        assert health["partitions"]["0"]["state"] == "ok"
        assert "replayed_records" in health["recovery"]
        assert "recovery" in log.read_text()  # the recovery report is logged at start
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert not ready.exists()  # a stale ready file must not outlive the server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the store is closed and complete; a restart replays the WAL and exports that
    db = Historian.open(str(data))
    try:
        assert db.read(3, 0, 2**62)[1].tolist() == [3 + i * 0.25 for i in range(20)]
    finally:
        db.close()
    with open(log, "w") as out:
        proc = subprocess.Popen(SERVER + argv, stdout=subprocess.PIPE, stderr=out, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        url = json.loads(ready.read_text())["metrics"]
        _, text = await asyncio.to_thread(_get, url + "/metrics")
        line = next(
            ln for ln in text.decode().splitlines() if 'recovery{item="replayed_points"}' in ln
        )
        assert float(line.split()[-1]) == 200.0, line
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_a_malformed_opcua_address_is_a_usage_error(tmp_path: Path) -> None:
    # the OPC UA front end itself is tested in tests/historian/opcua
    r = subprocess.run(
        [*SERVER, str(tmp_path / "h"), "--opcua", "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "expected HOST:PORT" in r.stderr, r.stderr
    assert not (tmp_path / "h").exists()  # refused before touching anything


def test_a_second_server_on_the_same_store_says_so_and_exits_1(tmp_path: Path) -> None:
    data = tmp_path / "h"
    db = Historian.open(str(data))
    try:
        r = subprocess.run([*SERVER, str(data)], capture_output=True, text=True, timeout=60)
    finally:
        db.close()
    assert r.returncode == 1
    assert "locked" in r.stderr and "Traceback" not in r.stderr, r.stderr


async def test_poisoned_wal_makes_the_server_exit_3_with_nothing_acked(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    fs = FaultyFileSystem()
    logs: list[str] = []
    cfg = ServeConfig(tmp_path / "hist", nats_url=nats_server.url, metrics_port=0)
    server = HistorianServer(cfg, fs=fs, log=logs.append)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, OPTS)
        await _until(lambda: "pid" in server.ready, 20, "the server to be ready")
        now = time.time_ns()
        fs.faults.fsync_error = True
        for i in range(10):
            await js.publish(
                OPTS.batch_subject(0), encode_batch(_batch(i, now), source_id="t", sequence=i)
            )
        code = await asyncio.wait_for(task, 30)
        assert code == EXIT_STORE_UNUSABLE
        assert any("exiting with status 3" in line for line in logs), logs
        info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
        assert info.ack_floor.stream_seq == 0
        assert (await js.stream_info(f"{OPTS.stream}_DLQ")).state.messages == 0
    finally:
        stop.set()
        if not task.done():
            await task
        await nc.close()


async def test_healthz_reports_disk_full_and_recovers(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    fs = FaultyFileSystem()
    cfg = ServeConfig(tmp_path / "hist", nats_url=nats_server.url, metrics_port=0)
    server = HistorianServer(cfg, fs=fs, log=lambda line: None)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await _until(lambda: "metrics" in server.ready, 20, "the server to be ready")
        url = str(server.ready["metrics"]) + "/healthz"
        now = time.time_ns()
        fs.faults.disk_full = True
        await js.publish(
            OPTS.batch_subject(0), encode_batch(_batch(0, now), source_id="t", sequence=0)
        )

        def state() -> tuple[int, str]:
            status, body = _get(url)
            return status, json.loads(body)["status"]

        async def becomes(want: tuple[int, str]) -> None:
            deadline = asyncio.get_running_loop().time() + 20
            while (got := await asyncio.to_thread(state)) != want:
                assert asyncio.get_running_loop().time() < deadline, got
                await asyncio.sleep(0.05)

        await becomes((503, "backing-off"))
        fs.faults.disk_full = False
        await wait_consumed(js, OPTS, timeout_s=30)
        await becomes((200, "ok"))
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        await nc.close()


CATALOGUE = """
format = "twinbench-catalogue"
version = 1

[[tag]]
id = 1
path = "acme.site.area.line.cell.pump.speed"
legacy_name = "40001"
unit = "rpm"
low = 0.0
high = 3600.0
dtype = "float32"

[[tag]]
id = 2
path = "acme.site.area.line.cell.pump.current"
legacy_name = "40003"
unit = "A"
low = 0.0
high = 100.0
dtype = "float32"
"""


async def test_catalogue_rejects_unknown_series_and_is_kept_in_the_store(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    from historian.catalogue import TagCatalogue

    toml = tmp_path / "catalogue.toml"
    toml.write_text(CATALOGUE)
    data = tmp_path / "hist"
    cfg = ServeConfig(data, nats_url=nats_server.url, catalogue=toml)
    server = HistorianServer(cfg, log=lambda line: None)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await _until(lambda: "pid" in server.ready, 20, "the server to be ready")
        now = time.time_ns()
        b = PointBatch.from_arrays([1, 2, 3, 1_000_001], [now] * 4, [1.0, 2.0, 3.0, 4.0])
        await js.publish(OPTS.batch_subject(0), encode_batch(b, source_id="t", sequence=0))
        await wait_consumed(js, OPTS)
        assert server.ingest is not None
        [worker] = server.ingest.workers
        assert worker.metrics.rejected_points["unknown-series"] == 2
        assert worker.metrics.points == 2
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        await nc.close()
    kept = TagCatalogue.load(data)
    assert kept is not None and [t.id for t in kept] == [1, 2]
    db = Historian.open(str(data))
    try:
        assert db.read(2, 0, 2**62)[1].tolist() == [2.0]
        assert len(db.read(3, 0, 2**62)[0]) == 0
    finally:
        db.close()


async def test_power_cut_right_after_acks_loses_no_acked_batch_by_default(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """The default durability (fsync before ack): a power cut (FaultyFileSystem.crash drops
    every unsynced byte) right after batches were acknowledged keeps every one of them."""
    fs = FaultyFileSystem()
    data = tmp_path / "hist"
    server = HistorianServer(ServeConfig(data, nats_url=nats_server.url), fs=fs, log=lambda _: None)
    assert server.cfg.durability == "fsync"
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    acked: set[int] = set()

    async def on_applied(msg: Any) -> None:  # sent by the server right after its acks
        if fs.crashed:
            return
        acked.update(int(b[1]) for b in json.loads(msg.data)["b"])
        if len(acked) >= 15:
            fs.faults.disk_full = True  # nothing is written after ...
            fs.crash()  # ... the power goes

    await nc.subscribe("tb.applied.p0", cb=on_applied)
    now = time.time_ns()
    try:
        await _until(lambda: "pid" in server.ready, 20, "the server to be ready")
        for i in range(40):
            b = encode_batch(_batch(i, now), source_id="t", sequence=i)
            await js.publish(OPTS.batch_subject(0), b)
        await _until(lambda: fs.crashed, 20, "the crash")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await nc.close()
    db = Historian.open(str(data))
    try:
        ts, _, _ = db.read(1, 0, 2**62)
        stored = {int((t - now) // NS) for t in ts.tolist()}
        assert acked <= stored, f"acked but lost: {sorted(acked - stored)}"
    finally:
        db.close()


async def test_the_start_up_objects_are_frozen_before_ready(tmp_path: Path) -> None:
    """A full collection of the ~100 k start-up objects stopped the loop for 57-75 ms (a p99
    spike for every batch in flight); the server freezes them before it says READY."""
    import gc

    gc.unfreeze()
    logs: list[str] = []
    server = HistorianServer(ServeConfig(tmp_path / "hist", metrics_port=0), log=logs.append)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    try:
        # ``server.ready`` gets its pid before the front ends start and the freeze runs:
        # waiting on it read the count too early under load. The log line follows the freeze.
        await _until(
            lambda: any("start-up objects frozen" in line for line in logs),
            20,
            "the server to freeze its start-up objects",
        )
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen
        gc.collect()
        # A full collection leaves the frozen objects frozen; a few of them die by refcount
        # meanwhile (the server keeps running), which is why this is not an equality.
        assert gc.get_freeze_count() >= 0.9 * frozen, (gc.get_freeze_count(), frozen)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        gc.unfreeze()  # the test process's own objects go back to the collector
