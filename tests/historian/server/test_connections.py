"""Connection management end to end: real plant servers, nats-server and historian server.

``twinbench historian serve --nats URL --http 127.0.0.1:0 --catalogue PLANT`` runs as
a subprocess; a real plant (``sim.servers.launch.start_servers``: Modbus TCP and OPC
UA) runs beside it. Through the HTTP API only, the test adds a Modbus and an OPC UA
connection mid-run, waits until both collectors report running with a rate and a
last data time and their data is queryable, removes the Modbus one (its PID is gone,
every point stored before is still stored, and at least as many points as it had
published are stored), restarts the server (the OPC UA connection is restored with a
new process and its data resumes), and checks that bad requests answer 400 with what
is wrong, unknown ids 404, duplicates and the cap 409.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.services import NatsServer
from historian.api.auth import token_sha256
from historian.api.times import parse_time
from historian.bus.wire import decode_batch
from sim.catalogue_gen import generate_oilfield
from sim.servers.launch import ServerProcess, start_servers, stop_servers
from sim.tags import dump_catalogue, load_catalogue
from tests.historian.api.conftest import SERVE, Reply
from tests.historian.serve_process import ServeProcess

pytestmark = [pytest.mark.service]

MB_PATTERN = "acme.permian.field_01.pad_01.well_0001.*"
UA_WELL = "acme.permian.field_01.pad_01.well_0002."
DEADLINE_S = 60.0
WELLS = 4  # 40 tags: the plant starts in a few seconds


TOKENS = {"ops": "ops-0123456789abcdef", "viewer": "viewer-0123456789abcdef"}
SCOPES = {"ops": ["read", "admin"], "viewer": ["read"]}


class Server(ServeProcess):
    """The historian server with the bus, the HTTP API (tokens: an admin and a reader)
    and the plant's catalogue."""

    def __init__(self, tmp: Path, nats_url: str, catalogue: str) -> None:
        tokens = tmp / "tokens.toml"
        tokens.write_text("".join(
            f'[[token]]\nname = "{n}"\ntoken_sha256 = "{token_sha256(t)}"\n'
            f"scopes = {json.dumps(SCOPES[n])}\n\n" for n, t in TOKENS.items()))  # fmt: skip
        front = ["--http", "127.0.0.1:0", "--nats", nats_url, "--max-connections", "2"]
        extra = ["--tokens", str(tokens)]
        super().__init__(SERVE, tmp, catalogue, None, front, extra, DEADLINE_S)
        self.url: str = self.info["http"]

    def call(
        self, method: str, path: str, doc: Any = None, raw: bytes | None = None, who: str = "ops"
    ) -> Reply:
        import urllib.error
        import urllib.request

        body = raw if raw is not None else (json.dumps(doc).encode() if doc is not None else None)
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {TOKENS[who]}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return Reply(int(r.status), dict(r.headers), bytes(r.read()))
        except urllib.error.HTTPError as exc:
            return Reply(int(exc.code), dict(exc.headers), bytes(exc.read()))

    def recorded(self, tag: str) -> list[str]:
        """Timestamps stored for ``tag`` in the last hour (and the next minute)."""
        q = urllib.parse.urlencode({"start": "*-1h", "end": "*+1m", "max_count": 100_000})
        r = self.call("GET", f"/api/v1/tags/{urllib.parse.quote(tag)}/recorded?{q}")
        assert r.status == 200, r.body
        return [item["timestamp"] for item in r.json()["items"]]


def wait_for(what: str, check: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def healthy(server: Server, cid: str) -> dict[str, Any] | None:
    """The connection's health once it runs, publishes at a rate and has seen data."""
    h: dict[str, Any] = server.call("GET", f"/api/v1/connections/{cid}/health").json()
    ok = h["state"] == "running" and (h["rate_points_per_s"] or 0) > 0
    return h if ok and h["last_data_time"] is not None else None


def spooling(server: Server) -> dict[str, Any] | None:
    h: dict[str, Any] = server.call("GET", "/api/v1/connections/ua/health").json()
    return h if h["spool_batches"] > 0 else None


def spooled_points(spool: Path) -> set[tuple[int, int]]:
    """(series, timestamp) of every point in a spool directory's batch files."""
    out: set[tuple[int, int]] = set()
    for f in spool.glob("*.tbwb"):
        batch = decode_batch(f.read_bytes().partition(b"\n")[2]).batch
        out.update(zip(batch.series.tolist(), batch.ts.tolist(), strict=True))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    work = tmp_path_factory.mktemp("plant")
    catalogue = work / "catalogue.toml"
    dump_catalogue(generate_oilfield(WELLS, seed=5, name="connections"), catalogue)
    procs = start_servers(catalogue, speed=1.0, seed=5, workdir=work)
    try:
        yield procs[0], catalogue
    finally:
        stop_servers(procs)


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield srv
    finally:
        srv.close()


def test_add_remove_restore_with_real_plant_servers(
    plant: tuple[ServerProcess, Path], nats: NatsServer, tmp_path: Path
) -> None:
    node, cat_path = plant
    cat = load_catalogue(cat_path)
    ua_tags = [t.path for t in cat.tags if t.path.startswith(UA_WELL) and not t.writable]
    mb_tags = [t.path for t in cat.tags if t.path.startswith(MB_PATTERN[:-1])]
    assert node.opcua_endpoint is not None and ua_tags and mb_tags
    server = Server(tmp_path, nats.url, cat_path.read_text())
    try:
        assert server.call("GET", "/api/v1/connections").json() == {"items": []}
        mb = server.call("POST", "/api/v1/connections", {
            "id": "mb", "endpoint": f"modbus://127.0.0.1:{node.modbus_port}",
            "pattern": MB_PATTERN, "interval_s": 0.5})  # fmt: skip
        assert mb.status == 201, mb.body
        assert mb.json()["state"] in ("starting", "running") and mb.json()["protocol"] == "modbus"
        ua = server.call("POST", "/api/v1/connections", {
            "id": "ua", "endpoint": node.opcua_endpoint, "protocol": "opcua",
            "tags": ua_tags, "interval_s": 0.5})  # fmt: skip
        assert ua.status == 201, ua.body

        mb_health = wait_for("the Modbus collector runs with a rate", lambda: healthy(server, "mb"))
        ua_health = wait_for("the OPC UA collector runs with a rate", lambda: healthy(server, "ua"))
        assert mb_health["pid"] and ua_health["pid"] and mb_health["pid"] != ua_health["pid"]
        assert alive(mb_health["pid"]) and alive(ua_health["pid"])
        assert mb_health["source_connected"] and mb_health["bus_connected"]
        assert mb_health["restarts"] == 0 and not mb_health["errors"], mb_health
        # the server's own /metrics carries every connection (their pages' ports vary)
        page = server.call("GET", "/metrics").body.decode()
        assert 'twinbench_connection_up{connection="mb",protocol="modbus"} 1.0' in page, page
        assert 'twinbench_connection_restarts_total{connection="ua",protocol="opcua"}' in page
        # a crashed collector is restarted, counted, and says why
        os.kill(ua_health["pid"], signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            h = healthy(server, "ua")
            return h if h is not None and h["restarts"] >= 1 else None

        crashed_pid = ua_health["pid"]
        ua_health = wait_for("the killed OPC UA collector restarted", restarted)
        assert ua_health["pid"] != crashed_pid and not alive(crashed_pid)
        assert any("killed by signal 9" in e for e in ua_health["errors"]), ua_health
        # the data is in the historian, read back through the API
        wait_for("Modbus data stored", lambda: all(server.recorded(t) for t in mb_tags))
        wait_for("OPC UA data stored", lambda: all(server.recorded(t) for t in ua_tags[:3]))
        listed = server.call("GET", "/api/v1/connections").json()["items"]
        assert [c["id"] for c in listed] == ["mb", "ua"]
        assert all(c["state"] == "running" for c in listed)
        check_bad_requests(server, node, mb_tags[0])
        listed = server.call("GET", "/api/v1/connections").json()["items"]
        assert [(c["id"], c["pid"]) for c in listed] == [
            ("mb", mb_health["pid"]), ("ua", ua_health["pid"])]  # fmt: skip

        # remove the Modbus connection: its process ends, nothing it stored is lost
        stored_before = {t: set(server.recorded(t)) for t in mb_tags}
        published = server.call("GET", "/api/v1/connections/mb/health").json()["points_published"]
        gone = server.call("DELETE", "/api/v1/connections/mb")
        assert gone.status == 200, gone.body
        assert gone.json()["state"] == "deleted" and gone.json()["spool_batches"] == 0
        assert not alive(mb_health["pid"])
        assert server.call("GET", "/api/v1/connections/mb").status == 404
        assert not (tmp_path / "data" / "connections" / "mb").exists()

        def settled() -> dict[str, set[str]] | None:  # the last batches are consumed
            now = {t: set(server.recorded(t)) for t in mb_tags}
            total = sum(map(len, now.values()))
            return now if total >= published else None

        stored_after = wait_for("every point it published stored", settled, 30)
        for t in mb_tags:
            assert stored_before[t] <= stored_after[t], t
        persisted = json.loads((tmp_path / "data" / "connections.json").read_text())
        assert [c["spec"]["id"] for c in persisted["connections"]] == ["ua"]

        # restart the server: the OPC UA connection comes back and resumes
        last_before = max(server.recorded(ua_tags[0]))
        assert server.stop() == 0, server.log.read_text()
        assert not alive(ua_health["pid"])
    finally:
        server.stop()
    server = Server(tmp_path, nats.url, cat_path.read_text())
    try:
        listed = server.call("GET", "/api/v1/connections").json()["items"]
        assert [c["id"] for c in listed] == ["ua"]
        again = wait_for("the restored OPC UA collector runs", lambda: healthy(server, "ua"))
        assert again["pid"] != ua_health["pid"] and alive(again["pid"])
        wait_for("its data resumes", lambda: max(server.recorded(ua_tags[0])) > last_before)

        # remove it while the bus is down: the spool is kept and drained once it is back
        nats.stop()
        spooled = wait_for("batches spooled while the bus is down", lambda: spooling(server))
        assert not spooled["bus_connected"]
        r = server.call("DELETE", "/api/v1/connections/ua")
        assert r.status == 202 and r.json()["state"] == "draining", r.body
        assert not alive(again["pid"])
        drainer = r.json()["pid"]
        assert drainer is not None and drainer != again["pid"] and alive(drainer)
        assert server.call("GET", "/api/v1/connections").json()["items"][0]["id"] == "ua"
        # the bus is down, so the spool holds still: every point in it must be stored later
        waiting = spooled_points(tmp_path / "data" / "connections" / "ua" / "spool")
        assert waiting
        nats.restart()
        wait_for("drained and removed", lambda: server.call("GET", "/api/v1/connections/ua")
                 .status == 404)  # fmt: skip
        wait_for("the drain process exits", lambda: not alive(drainer), 10)
        assert not (tmp_path / "data" / "connections" / "ua").exists()
        names = {t.id: t.path for t in cat.tags}

        def all_stored() -> bool:
            stored = {name: {parse_time(ts) for ts in server.recorded(name)}
                      for name in {names[sid] for sid, _ in waiting}}  # fmt: skip
            return all(ts in stored[names[sid]] for sid, ts in waiting)

        wait_for("every spooled point stored", all_stored, 30)
    finally:
        assert server.stop() == 0, server.log.read_text()


def check_bad_requests(server: Server, node: ServerProcess, tag: str) -> None:
    """400 with what is wrong, 404 for unknown ids, 409 for a duplicate and the cap;
    none of them starts a process (the caller checks the list is unchanged)."""
    mb = f"modbus://127.0.0.1:{node.modbus_port}"
    bad: list[tuple[Any, str]] = [
        ([mb], "JSON object"),
        ({"pattern": "*"}, "endpoint is required"),
        ({"endpoint": "http://127.0.0.1:80", "pattern": "*"}, "scheme 'http' unknown"),
        ({"endpoint": "modbus://127.0.0.1", "pattern": "*"}, "port"),
        ({"endpoint": "modbus://10.1.2.3:502", "pattern": "*"}, "not loopback"),
        ({"endpoint": mb, "protocol": "opcua", "pattern": "*"}, "does not match"),
        ({"endpoint": mb, "protocol": "bacnet", "pattern": "*"}, "opcua or modbus"),
        ({"endpoint": mb, "security": "secure", "pattern": "*"}, "no security"),
        ({"endpoint": mb}, "pattern"),
        ({"endpoint": mb, "pattern": "*", "tags": [tag]}, "one of the two"),
        ({"endpoint": mb, "pattern": "nowhere.*"}, "matches no tag"),
        ({"endpoint": mb, "tags": [tag, "acme.no.such.tag"]}, "'acme.no.such.tag'"),
        ({"endpoint": mb, "pattern": "*", "id": "a b"}, "id 'a b'"),
        ({"endpoint": mb, "pattern": "*", "interval_s": 0}, "interval_s"),
        ({"endpoint": mb, "pattern": "*", "colour": "red"}, "unknown field 'colour'"),
        (
            {
                "endpoint": "opc.tcp://127.0.0.1:4840",
                "pattern": "*",
                "username": "u",
                "password_file": "/nonexistent/pw",
            },
            "not a file",
        ),
    ]
    for doc, says in bad:
        r = server.call("POST", "/api/v1/connections", doc)
        assert r.status == 400, (doc, r.status, r.body)
        err = r.json()["error"]
        assert err["code"] == "bad_request" and says in err["message"], (doc, err)
    r = server.call("POST", "/api/v1/connections", raw=b"{not json")
    assert r.status == 400 and "not JSON" in r.json()["error"]["message"]
    dup = server.call("POST", "/api/v1/connections", {"id": "ua", "endpoint": mb, "pattern": "*"})
    assert dup.status == 409 and "exists" in dup.json()["error"]["message"], dup.body
    cap = server.call("POST", "/api/v1/connections", {"id": "x", "endpoint": mb, "pattern": "*"})
    assert cap.status == 409 and "--max-connections" in cap.json()["error"]["message"], cap.body
    for method, path in (("GET", "/nope"), ("GET", "/nope/health"), ("DELETE", "/nope")):
        r = server.call(method, "/api/v1/connections" + path)
        assert r.status == 404 and r.json()["error"]["code"] == "unknown_connection", r.body
    # the admin scope: a read-only token may neither list, add nor remove connections
    for method, path, doc in (("GET", "", None), ("POST", "", {"endpoint": mb, "pattern": "*"}),
                              ("GET", "/ua/health", None), ("DELETE", "/ua", None)):  # fmt: skip
        r = server.call(method, "/api/v1/connections" + path, doc, who="viewer")
        assert r.status == 403 and "admin" in r.json()["error"]["message"], r.body
