"""End to end: a real plant server process trips a pump (seeded) and an OPC UA client
writes a setpoint -> events on NATS -> ``historian serve`` stores them ->
``GET /api/v1/events`` returns them; an asyncua client subscribed to the plant
server's events receives the very same events (same ids)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client

from harness.services import NatsServer
from sim.catalogue_gen import generate_oilfield
from sim.tags import dump_catalogue
from tests.historian.serve_process import ServeProcess

pytestmark = [pytest.mark.service]

SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]
SP = "acme.permian.field_01.pad_01.well_0001.esp.pump_speed"


class Handler:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def event_notification(self, event: Any) -> None:
        self.events.append(event)


def _wait(cond: Any, what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {what}"
                                 + (f"\n{log.read_text()}" if log else ""))  # fmt: skip
        time.sleep(0.05)


def _events(url: str, **params: str) -> list[dict[str, Any]]:
    q = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{url}/api/v1/events?{q}", timeout=30) as r:
        return list(json.loads(r.read())["items"])


async def _subscribe_and_go(endpoint: str, hold: Path, handler: Handler) -> None:
    async with Client(endpoint) as c:
        etype = await c.nodes.base_event_type.get_child("2:TwinbenchEventType")
        sub = await c.create_subscription(50, handler)
        await sub.subscribe_events(c.nodes.server, etype)
        hold.touch()  # the twin starts ticking only once the subscription is in place
        await c.get_node(f"ns=2;s={SP}").write_value(ua.Variant(3100.0, ua.VariantType.Double))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            kinds = {str(e.Kind) for e in handler.events}
            if {"trip", "operator-action"} <= kinds:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"OPC UA events received: {[str(e.Kind) for e in handler.events]}")


def test_twin_events_reach_the_api_and_opcua_subscribers(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    cat = tmp_path / "catalogue.toml"
    dump_catalogue(generate_oilfield(2, seed=1), cat)
    ready, hold, log = tmp_path / "ready.json", tmp_path / "go", tmp_path / "node.log"
    argv = [sys.executable, "-m", "sim.servers.node", "--catalogue", str(cat), "--seed", "3",
            "--speed", "20", "--modbus-port", "-1", "--ready-file", str(ready),
            "--hold-file", str(hold), "--events-nats", nats_server.url,
            "--trip-mtbf", "30"]  # fmt: skip
    with log.open("wb") as out:
        node = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    (tmp_path / "h").mkdir()  # the historian starts while the plant server does
    http, nats = ["--http", "127.0.0.1:0"], ["--nats", nats_server.url]
    try:
        historian = ServeProcess(SERVE, tmp_path / "h", None, None, http, nats, 60)
    except BaseException:
        node.kill()
        node.wait(10)
        raise
    try:
        _wait(ready.exists, "the plant server's ready file", 60, log)
        info = json.loads(ready.read_text())
        handler = Handler()
        asyncio.run(_subscribe_and_go(info["opcua"], hold, handler))
        by_id = {str(e.EventKey): e for e in handler.events}
        trip = next(e for e in handler.events if str(e.Kind) == "trip")
        assert trip.Severity == 800 and str(trip.SourcePath).startswith("acme.permian.field_01")
        url = historian.info["http"]
        window = {"start": "*-1d", "end": "*%2B1d"}
        _wait(lambda: {str(trip.EventKey)} <= {e["id"] for e in _events(url, **window)},
              "the trip in GET /api/v1/events", 30, historian.log)  # fmt: skip

        def write_stored() -> bool:
            return any(e["kind"] == "operator-action" and e["source"] == SP
                       for e in _events(url, **window))  # fmt: skip

        _wait(write_stored, "the setpoint write stored", 30)
        seen = set(by_id)  # every event the OPC UA client saw is stored, and equal
        _wait(lambda: seen <= {e["id"] for e in _events(url, **window)}, "all stored", 30)
        got = {e["id"]: e for e in _events(url, **window)}
        for eid, ev in by_id.items():
            assert got[eid]["kind"] == str(ev.Kind) and got[eid]["severity"] == ev.Severity
            assert got[eid]["message"] == ev.Message.Text
            assert got[eid]["source"] == str(ev.SourcePath) == str(ev.SourceName)
        trips = _events(url, **window, kind="trip", min_severity="800")
        assert trips and all(e["kind"] == "trip" for e in trips)
        assert str(trip.EventKey) in {e["id"] for e in trips}
    finally:
        node.terminate()  # both stop in parallel: the historian's SIGTERM follows at once
        code = historian.stop()
        try:
            node.wait(20)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(10)
        assert code == 0, historian.log.read_text()
    assert node.returncode == 0, log.read_text()
