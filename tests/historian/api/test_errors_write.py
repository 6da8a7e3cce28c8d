"""Writes, every error answer, tokens and limits, through real server processes.

Each error is checked for its status code, its ``{"error": {"code", "message"}}``
shape and the part of the message that tells the user what to do.
"""

from __future__ import annotations

import io
import json
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from historian.api.encode import ARROW_MEDIA_TYPE
from historian.api.times import format_time, parse_time

from .conftest import BASE, FLOW, NS, RUNNING, SERVE, SETPOINT, TEMP, ApiServer, Reply

pytestmark = [pytest.mark.service]

READER = "reader-token-0001"
WRITER = "writer-token-0002"
TOKENS = f"""
[[token]]
name = "reader"
token = "{READER}"
read = ["acme.site1.area1.line1.cell1.pump1.f*"]

[[token]]
name = "writer"
token = "{WRITER}"
write = ["{SETPOINT}"]
"""


def error(r: Reply, status: int, code: str) -> str:
    assert r.status == status, (r.status, r.body)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str) and "\n" not in message and message
    return message


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("secured")
    (tmp / "tokens.toml").write_text(TOKENS)
    limits = ["--http-limit", "max_values=1000", "--http-limit", "max_body_bytes=2000"]
    server = ApiServer(tmp, "--tokens", str(tmp / "tokens.toml"), *limits)
    yield server
    assert server.stop() == 0, server.log.read_text()


def q(seconds: float) -> str:
    return urllib.parse.quote(format_time(BASE + int(seconds * NS)))


# ------------------------------------------------------------------ writes
def test_write_json_keeps_nanoseconds_and_offsets(api: ApiServer) -> None:
    stamps = ["2026-11-30T01:00:00.123456789+01:00", "2026-11-30T00:00:01.000000001Z"]
    doc = {
        "tag": SETPOINT,
        "timestamp": stamps,
        "value": [10.5, None],
        "status": ["Good", "BadOutOfService"],
    }
    r = api.post_json("/api/v1/write", doc)
    assert r.status == 200 and r.json()["written"] == 2
    got = api.get(f"/api/v1/tags/{SETPOINT}/recorded?start={q(0)}&end={q(2)}").json()["items"]
    assert got == [
        {
            "timestamp": "2026-11-30T00:00:00.123456789Z",
            "value": 10.5,
            "status": "Good",
            "good": True,
        },
        {
            "timestamp": "2026-11-30T00:00:01.000000001Z",
            "value": None,
            "status": "BadOutOfService",
            "good": False,
        },
    ]


def test_write_arrow_several_tags(api: ApiServer) -> None:
    ts = [BASE + 7200 * NS, BASE + 7201 * NS]
    table = pa.table(
        {
            "tag": pa.array([TEMP, TEMP]).dictionary_encode(),
            "timestamp": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "value": pa.array([40.0, 41.5]),
            "status": pa.array(["Good", "UncertainSensorNotAccurate"]),
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    r = api.request("POST", "/api/v1/write", sink.getvalue(), {"Content-Type": ARROW_MEDIA_TYPE})
    assert r.status == 200 and r.json()["written"] == 2
    last = api.get(f"/api/v1/tags/{TEMP}/last").json()["items"]
    assert last == [
        {
            "timestamp": format_time(ts[1]),
            "value": 41.5,
            "status": "UncertainSensorNotAccurate",
            "good": False,
        }
    ]


def test_write_errors(api: ApiServer) -> None:
    base = {"tag": SETPOINT, "timestamp": [format_time(BASE)], "value": [1.0]}
    m = error(
        api.post_json(
            "/api/v1/write", {**base, "tag": "acme.site1.area1.line1.cell1.pump1.setpont"}
        ),
        404,
        "unknown_tag",
    )
    assert "did you mean" in m and SETPOINT in m
    m = error(api.post_json("/api/v1/write", {**base, "status": ["Splendid"]}), 400, "bad_request")
    assert "StatusCode name" in m
    m = error(api.post_json("/api/v1/write", {**base, "timestamp": ["noon"]}), 400, "bad_request")
    assert "expected an ISO 8601 time" in m
    m = error(api.post_json("/api/v1/write", {**base, "value": [1.0, 2.0]}), 400, "bad_request")
    assert "differ in length" in m
    future = {**base, "timestamp": [format_time(parse_time("*+30d"))]}
    m = error(api.post_json("/api/v1/write", future), 422, "invalid_batch")
    assert "future" in m
    m = error(
        api.request("POST", "/api/v1/write", b"x", {"Content-Type": "text/csv"}),
        415,
        "unsupported_media",
    )
    assert ARROW_MEDIA_TYPE in m
    error(
        api.request("POST", "/api/v1/write", b"{", {"Content-Type": "application/json"}),
        400,
        "bad_request",
    )
    # nothing of a refused batch is stored
    got = api.get(f"/api/v1/tags/{SETPOINT}/recorded?start={q(-1)}&end={q(0.5)}").json()["items"]
    assert [x["value"] for x in got] != [1.0]


# ------------------------------------------------------------- query errors
@pytest.mark.parametrize(
    ("path", "expect"),
    [
        (f"/api/v1/tags/{FLOW}/recorded?start=yesterday-", "expected an ISO 8601 time"),
        (f"/api/v1/tags/{FLOW}/recorded?start=2026-02-30T00:00:00Z", "names no calendar day"),
        (f"/api/v1/tags/{FLOW}/interpolated?interval=5parsec", "expected an interval such as"),
        (f"/api/v1/tags/{FLOW}/interpolated", "parameter 'interval' is required"),
        (f"/api/v1/tags/{FLOW}/recorded?boundary=sideways", "inside, outside, interpolated"),
        (f"/api/v1/tags/{FLOW}/recorded?max_count=0", "integer >= 1"),
        (f"/api/v1/tags/{FLOW}/recorded?page_token=garbage", "page_token"),
        (f"/api/v1/tags/{FLOW}/summary?types=average,median", "unknown summary type"),
        (f"/api/v1/tags/{FLOW}/summary?weighting=heavy", "time, event"),
        (f"/api/v1/tags/{FLOW}/plot?start=*&end=*-1h", "end must be after start"),
        (f"/api/v1/tags/{FLOW}/at", "give one or more times"),
    ],
)
def test_bad_parameters_are_400_with_what_was_expected(
    api: ApiServer, path: str, expect: str
) -> None:
    assert expect in error(api.get(path), 400, "bad_request")


def test_unknown_tag_route_method_accept(api: ApiServer) -> None:
    r = api.get("/api/v1/tags/acme.site1.area1.line1.cell1.pump1.flw/recorded")
    error(r, 404, "unknown_tag")
    assert FLOW in r.json()["error"]["close_matches"]
    error(api.get("/api/v1/tags/acme.site1.area1.line1.cell1.pump1.flw"), 404, "unknown_tag")
    error(api.get("/api/v1/nothing"), 404, "not_found")
    error(api.request("DELETE", f"/api/v1/tags/{FLOW}/last"), 405, "method_not_allowed")
    m = error(api.get(f"/api/v1/tags/{FLOW}/last", accept="text/csv"), 406, "not_acceptable")
    assert ARROW_MEDIA_TYPE in m
    error(
        api.post_json("/api/v1/streams/query", {"queries": [{"tag": FLOW, "kind": "x"}]}),
        400,
        "bad_request",
    )


def test_limits_are_413_with_the_limit(api: ApiServer, secured: ApiServer) -> None:
    r = api.get(f"/api/v1/tags/{FLOW}/interpolated?start=*-1d&end=*&interval=1ms")
    error(r, 413, "too_large")
    assert r.json()["error"]["limit"] == 100_000
    r = api.get(f"/api/v1/tags/{FLOW}/plot?intervals=20000")
    assert error(r, 413, "too_large") and r.json()["error"]["limit"] == 10_000
    auth = {"Authorization": f"Bearer {READER}"}
    r = secured.request(
        "GET", f"/api/v1/tags/{FLOW}/recorded?start={q(0)}&end={q(3600)}", headers=auth
    )
    assert "max_count" in error(r, 413, "too_large") and r.json()["error"]["limit"] == 1000
    r = secured.request(
        "GET",
        f"/api/v1/tags/{FLOW}/recorded?start={q(0)}&end={q(3600)}&max_count=1000",
        headers=auth,
    )
    assert r.status == 200 and len(r.json()["items"]) == 1000 and "next_page_token" in r.json()
    big = {"tag": SETPOINT, "timestamp": [format_time(BASE)] * 200, "value": [1.0] * 200}
    r = secured.post_json("/api/v1/write", big, {"Authorization": f"Bearer {WRITER}"})
    assert error(r, 413, "too_large") and r.json()["error"]["limit"] == 2000


def test_tokens_401_403_and_scoped_listing(secured: ApiServer) -> None:
    path = f"/api/v1/tags/{FLOW}/last"
    r = secured.get(path)
    assert "Bearer" in error(r, 401, "unauthorized") and "Bearer" in r.headers["www-authenticate"]
    error(secured.get(path, authorization="Bearer not-a-known-token"), 401, "unauthorized")
    error(secured.get(path, authorization="Basic abc"), 401, "unauthorized")
    assert secured.get(path, authorization=f"Bearer {READER}").status == 200
    m = error(
        secured.get(f"/api/v1/tags/{RUNNING}/last", authorization=f"Bearer {READER}"),
        403,
        "forbidden",
    )
    assert RUNNING in m and "reader" in m
    listing = secured.get("/api/v1/tags", authorization=f"Bearer {READER}").json()["items"]
    assert [x["name"] for x in listing] == [FLOW]
    doc = {"queries": [{"tag": FLOW, "kind": "last"}, {"tag": RUNNING, "kind": "last"}]}
    error(
        secured.post_json("/api/v1/streams/query", doc, {"Authorization": f"Bearer {READER}"}),
        403,
        "forbidden",
    )
    w = {"tag": SETPOINT, "timestamp": [format_time(BASE + 5 * NS)], "value": [3.0]}
    error(
        secured.post_json("/api/v1/write", w, {"Authorization": f"Bearer {READER}"}),
        403,
        "forbidden",
    )
    r = secured.post_json("/api/v1/write", w, {"Authorization": f"Bearer {WRITER}"})
    assert r.status == 200 and r.json()["written"] == 1
    error(
        secured.post_json(
            "/api/v1/write", {**w, "tag": TEMP}, {"Authorization": f"Bearer {WRITER}"}
        ),
        403,
        "forbidden",
    )
    # open without a token: health, metrics, the OpenAPI document, the viewer
    for open_path in ("/health", "/metrics", "/api/v1/openapi.json", "/viewer/"):
        assert secured.get(open_path).status == 200, open_path


def test_metrics_count_requests_per_route(api: ApiServer) -> None:
    api.get(f"/api/v1/tags/{FLOW}/last")
    api.get("/api/v1/tags/no.such.tag/last")
    text = api.get("/metrics").body.decode()
    assert (
        'twinbench_http_requests_total{endpoint="/api/v1/tags/{name}/last",method="GET",status="200"}'
        in text
    )
    assert 'endpoint="/api/v1/tags/{name}/last",method="GET",status="404"' in text
    assert (
        'twinbench_http_request_seconds_bucket{endpoint="/api/v1/tags/{name}/last",le="0.1"}'
        in text
    )
    points = [line for line in text.splitlines() if line.startswith("twinbench_store_points ")]
    assert points and float(points[0].split()[1]) >= 3600 + 6
    health = api.get("/health").json()
    assert health["status"] == "ready" and health["reasons"] == [] and health["tags"] == 4


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--http", "localhost"], "expected HOST:PORT"),
        (["--http", "127.0.0.1:0", "--http-limit", "max_values=lots"], "expected NAME=N"),
        (["--tokens", "/nonexistent.toml"], "need --http"),
        (["--http", "127.0.0.1:0", "--tokens", "/nonexistent.toml"], "cannot read"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], expect: str) -> None:
    p = subprocess.run(
        [*SERVE, str(tmp_path / "d"), *args], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_openapi_document_is_valid(api: ApiServer) -> None:
    from openapi_spec_validator import validate

    doc = api.get("/api/v1/openapi.json").json()
    validate(doc)
    assert {p for p in doc["paths"]} >= {
        "/api/v1/tags",
        "/api/v1/tags/{name}/recorded",
        "/api/v1/tags/{name}/interpolated",
        "/api/v1/tags/{name}/at",
        "/api/v1/tags/{name}/plot",
        "/api/v1/tags/{name}/summary",
        "/api/v1/tags/{name}/last",
        "/api/v1/streams/query",
        "/api/v1/write",
    }
    json.dumps(doc)
