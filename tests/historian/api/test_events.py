"""``GET /api/v1/events`` against a real ``historian serve --nats --http`` process.

Events go through the real path: an :class:`EventPublisher` publishes them to a real
nats-server, the server's event consumer stores them, the API answers from the store.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.services import NatsServer
from historian.api.times import format_time, parse_time
from historian.events.model import Event
from historian.events.publish import EventPublisher
from tests.historian.serve_process import ServeProcess

from .conftest import SERVE, ApiServer

pytestmark = [pytest.mark.service]

BASE = parse_time("2026-11-30T00:00:00Z")
S = 10**9
NORTH = "acme.north.pad1.well_0001.pump.vibration"
SOUTH = "acme.south.pad2.well_0002"
TOKENS = """
[[token]]
name = "north"
token = "north-reader-secret-1"
read = ["acme.north.*"]
scopes = ["read"]

[[token]]
name = "all"
token = "all-reader-secret-2"
scopes = ["read"]
"""
ALL = "all-reader-secret-2"


def _events() -> list[Event]:
    out = []
    for i in range(30):
        kind = ("alarm-raised", "alarm-cleared", "trip")[i % 3]
        src = NORTH if i % 2 == 0 else SOUTH
        out.append(Event(f"p:{i:02d}", BASE + i * 60 * S, src, kind, 100 + 30 * i, f"event {i}",
                         value=float(i), limit=25.0 if kind != "trip" else None,
                         condition="HIHI" if kind != "trip" else ""))  # fmt: skip
    return out


class EventsServer(ApiServer):
    def __init__(self, tmp: Path, nats_url: str) -> None:
        (tmp / "tokens.toml").write_text(TOKENS)
        extra = ["--nats", nats_url, "--tokens", str(tmp / "tokens.toml")]
        ServeProcess.__init__(self, SERVE, tmp, None, None, ["--http", "127.0.0.1:0"], extra, 60)
        self.url = self.info["http"]

    def events(self, token: str = ALL, **params: Any) -> tuple[int, Any]:
        q = urllib.parse.urlencode(params)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.request("GET", f"/api/v1/events?{q}", headers=headers)
        return r.status, r.json()


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, nats: NatsServer) -> Iterator[EventsServer]:
    server = EventsServer(tmp_path_factory.mktemp("events-api"), nats.url)

    async def publish() -> None:
        pub = EventPublisher(nats.url, "plant-test")
        await pub.start()
        pub.submit(_events())
        assert await pub.flush(30)
        await pub.close()

    asyncio.run(publish())
    try:
        deadline = time.monotonic() + 30
        while len(server.events(start="2026-11-29", end="2026-12-01")[1].get("items", [])) < 30:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        yield server
    finally:
        assert server.stop() == 0, server.log.read_text()


WINDOW = {"start": "2026-11-30T00:00:00Z", "end": "2026-11-30T01:00:00Z"}


def test_items_are_events_by_time_with_every_field(srv: EventsServer) -> None:
    status, body = srv.events(**WINDOW)
    assert status == 200 and "next_page_token" not in body
    items = body["items"]
    assert [i["id"] for i in items] == [f"p:{i:02d}" for i in range(30)]
    assert items[0] == {"id": "p:00", "time": format_time(BASE), "time_ns": BASE, "source": NORTH,
                        "kind": "alarm-raised", "severity": 100, "message": "event 0",
                        "value": 0.0, "limit": 25.0, "condition": "HIHI"}  # fmt: skip
    assert "limit" not in items[2] and "condition" not in items[2]


def test_filters_range_source_kind_severity(srv: EventsServer) -> None:
    _, body = srv.events(start="2026-11-30T00:10:00Z", end="2026-11-30T00:20:00Z")
    assert [i["id"] for i in body["items"]] == [f"p:{i:02d}" for i in range(10, 20)]
    _, body = srv.events(**WINDOW, source="acme.north.*", kind="trip,alarm-cleared")
    want = [f"p:{i:02d}" for i in range(0, 30, 2) if i % 3 in (1, 2)]
    assert [i["id"] for i in body["items"]] == want
    _, body = srv.events(**WINDOW, min_severity=900)
    assert [i["severity"] for i in body["items"]] == [910, 940, 970]


def test_pages_cover_everything_once(srv: EventsServer) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {**WINDOW, "max_count": 7}
    for _ in range(10):
        status, body = srv.events(**params)
        assert status == 200 and len(body["items"]) <= 7
        seen += [i["id"] for i in body["items"]]
        if "next_page_token" not in body:
            break
        params["page_token"] = body["next_page_token"]
    assert seen == [f"p:{i:02d}" for i in range(30)]


def test_relative_times_and_the_default_hour(srv: EventsServer) -> None:
    _, body = srv.events()  # *-1h .. *: these events are from 2026-11-30, far from now
    assert body["items"] == []
    _, body = srv.events(start="2026-11-30T00:29:00Z", end="*")  # ISO start, relative end
    assert [i["id"] for i in body["items"]] == [f"p:{i:02d}" for i in range(29, 30)]


def test_a_tokens_read_scope_hides_other_sources(srv: EventsServer) -> None:
    assert srv.events("")[0] == 401
    status, body = srv.events("north-reader-secret-1", **WINDOW)
    assert status == 200
    assert {i["source"] for i in body["items"]} == {NORTH} and len(body["items"]) == 15


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"kind": "alarm,trip"}, 400, "unknown kind"),
        ({"min_severity": "1001"}, 400, "1..1000"),
        ({"min_severity": "0"}, 400, "min_severity"),
        ({"page_token": "not-a-token"}, 400, "page_token"),
        ({"start": "noon"}, 400, "ISO 8601"),
        ({"start": "*", "end": "*-1h"}, 400, "end must be after start"),
        ({"max_count": "100000000"}, 413, "page through"),
    ],
)
def test_bad_parameters_say_what_is_wrong(
    srv: EventsServer, params: dict[str, str], status: int, words: str
) -> None:
    got, body = srv.events(**params)
    assert got == status, body
    assert words in body["error"]["message"], body


def test_the_operation_is_in_the_openapi_document(srv: EventsServer) -> None:
    doc = json.loads(srv.request("GET", "/api/v1/openapi.json").body)
    op = doc["paths"]["/api/v1/events"]["get"]
    assert {p["name"] for p in op["parameters"]} == {
        "start", "end", "source", "kind", "min_severity", "max_count", "page_token"
    }  # fmt: skip
    assert "Event" in doc["components"]["schemas"]
