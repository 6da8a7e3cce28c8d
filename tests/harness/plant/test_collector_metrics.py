"""The collector process's ``--metrics`` page: real Modbus node, real nats-server.

Scraped over HTTP while data flows (points read and published grow, last data time
is recent, connected), then with the bus stopped (bus_connected 0, batches spooled,
spool bytes > 0); and a malformed ``--metrics`` is a one-line usage error (exit 2).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.services import ManagedProcess, NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from sim.catalogue_gen import generate_profile
from sim.tags import dump_catalogue

pytestmark = [pytest.mark.service]

Samples = dict[str, float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("twinbench_collector_")
    }


def wait_for(url: str, cond: Callable[[Samples], bool], timeout_s: float, what: str) -> Samples:
    deadline = time.monotonic() + timeout_s
    s: Samples = {}
    while time.monotonic() < deadline:
        s = scrape(url)
        if cond(s):
            return s
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last scrape: {s}")


def metrics_url(log: Path, timeout_s: float) -> str:
    """The ``{"metrics": URL}`` line the collector prints before READY."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith('{"metrics"'):
                return str(json.loads(line)["metrics"])
        time.sleep(0.1)
    raise AssertionError(f"no metrics line in {log}: {log.read_text()}")


def start_node(
    tmp_path: Path, tags: int = 50, protocol: str = "modbus"
) -> tuple[ManagedProcess, Path, str]:
    """A simulator node serving ``protocol`` only; returns it, its catalogue, its endpoint."""
    cat = tmp_path / "cat.toml"
    dump_catalogue(generate_profile("normal", 0).slice(0, tags), cat)
    ready = tmp_path / "node.ready"
    off = "--opcua-port" if protocol == "modbus" else "--modbus-port"
    node = ManagedProcess(
        "node",
        [sys.executable, "-m", "sim.servers.node", "--catalogue", cat, off, "-1",
         "--ready-file", ready, "--tick", "0.25"],
        tmp_path / "node.log",
    )  # fmt: skip
    node.start()
    node.wait_ready(lambda: ready.exists() and bool(ready.read_text()), 120, "ready")
    return node, cat, json.loads(ready.read_text())[protocol]


def collector_argv(
    cat: Path, endpoint: str, nats_url: str, spool: Path, protocol: str = "modbus"
) -> list[str | Path]:
    return [sys.executable, "-m", "harness.plant.collector_process", "--catalogue", cat,
            "--protocol", protocol, "--endpoint", endpoint, "--interval-s", "0.25",
            "--nats", nats_url, "--spool", spool, "--source-id", "collector-m",
            "--batch-points", "50", "--metrics", "127.0.0.1:0"]  # fmt: skip


async def create_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc.jetstream(), BusOptions())
    finally:
        await nc.close()


def test_metrics_follow_the_data_and_the_bus(tmp_path: Path) -> None:
    node, cat, modbus = start_node(tmp_path)
    srv = NatsServer(tmp_path / "nats")
    srv.start()
    asyncio.run(create_stream(srv.url))  # what the historian's ingest does at its start
    log = tmp_path / "collector.log"
    spool = tmp_path / "spool"
    collector = ManagedProcess("collector", collector_argv(cat, modbus, srv.url, spool), log)
    try:
        collector.start()
        collector.wait_for_log("READY\n", 60)
        url = metrics_url(log, 30)
        first = wait_for(
            url,
            lambda s: (
                s["twinbench_collector_points_published_total"] > 0
                and s["twinbench_collector_bus_connected"] == 1
            ),
            60,
            "published points",
        )
        assert first["twinbench_collector_source_connected"] == 1
        assert first["twinbench_collector_points_read_total"] >= 50
        assert abs(first["twinbench_collector_last_data_timestamp_seconds"] - time.time()) < 10
        assert first["twinbench_collector_spool_max_bytes"] == 1024**3
        later = wait_for(
            url,
            lambda s: (
                s["twinbench_collector_points_read_total"]
                > first["twinbench_collector_points_read_total"]
            ),
            30,
            "more readings",
        )
        assert later["twinbench_collector_points_refused_total"] == 0
        srv.stop()  # the bus goes away: batches go to the spool
        down = wait_for(
            url,
            lambda s: (
                s["twinbench_collector_bus_connected"] == 0
                and s["twinbench_collector_batches_spooled_total"] > 0
                and s["twinbench_collector_spool_bytes"] > 0
            ),
            60,
            "spooled batches with the bus down",
        )
        assert down["twinbench_collector_spool_files"] > 0
        assert down["twinbench_collector_source_connected"] == 1  # the device is still there
    finally:
        collector.stop()
        node.stop()
        srv.close()


def test_opcua_collector_reports_its_data(tmp_path: Path) -> None:
    """OPC UA: data change notifications count as read, the session as connected."""
    node, cat, endpoint = start_node(tmp_path, protocol="opcua")
    srv = NatsServer(tmp_path / "nats")
    srv.start()
    asyncio.run(create_stream(srv.url))
    log = tmp_path / "collector.log"
    argv = collector_argv(cat, endpoint, srv.url, tmp_path / "spool", protocol="opcua")
    collector = ManagedProcess("collector", argv, log)
    try:
        collector.start()
        collector.wait_for_log("READY\n", 60)
        url = metrics_url(log, 30)
        up = wait_for(
            url,
            lambda s: (
                s["twinbench_collector_points_published_total"] > 0
                and s["twinbench_collector_source_connected"] == 1
            ),
            60,
            "OPC UA data published",
        )
        assert up["twinbench_collector_points_read_total"] > 0
        assert abs(up["twinbench_collector_last_data_timestamp_seconds"] - time.time()) < 10
        assert up["twinbench_collector_source_errors_total"] == 0
    finally:
        collector.stop()
        node.stop()
        srv.close()


def test_a_malformed_metrics_address_is_a_usage_error(tmp_path: Path) -> None:
    argv = collector_argv(tmp_path / "none.toml", "127.0.0.1:1", "nats://127.0.0.1:1", tmp_path)
    argv[-1] = "localhost"
    run = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--metrics 'localhost': expected HOST:PORT" in run.stderr
    assert "Traceback" not in run.stderr
