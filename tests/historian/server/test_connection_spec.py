"""The connection request's checks, its persisted form, and the health scrape's arithmetic."""

from __future__ import annotations

import doctest
import importlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from historian.server.collector_health import Scrape, health_figures
from historian.server.connection_spec import (
    ConnectionPolicy,
    SpecError,
    parse_spec,
    spec_from_json,
)

TAGS = ["acme.a.b.c.d.e.x", "acme.a.b.c.d.e.y"]


def count(pattern: str | None, names: Sequence[str] | None) -> int:
    if names is not None:
        unknown = [n for n in names if n not in TAGS]
        if unknown:
            raise SpecError(f"tag {unknown[0]!r} is not in the catalogue")
        return len(names)
    return len(TAGS) if pattern in ("*", "acme.*") else 0


@pytest.mark.parametrize(
    "name",
    ["historian.server.connection_spec", "historian.server.collector_health",
     "historian.collect.tags"],
)  # fmt: skip
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.1.2.3"])
ports = st.integers(1, 65_535)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(
    protocol=st.sampled_from(["modbus", "opcua"]),
    host=hosts,
    port=ports,
    cid=ids,
    interval=st.floats(0.05, 3600),
    names=st.none() | st.lists(st.sampled_from(TAGS), min_size=1),
)
def test_a_checked_spec_round_trips_through_its_persisted_form(
    protocol: str, host: str, port: int, cid: str, interval: float, names: list[str] | None
) -> None:
    scheme = "opc.tcp" if protocol == "opcua" else "modbus"
    doc: dict[str, object] = {"endpoint": f"{scheme}://{host}:{port}", "id": cid,
                              "interval_s": interval}  # fmt: skip
    doc.update({"tags": names} if names is not None else {"pattern": "acme.*"})
    spec = parse_spec(doc, ConnectionPolicy(), count)
    assert spec.protocol == protocol and spec.port == port and spec.id == cid
    assert spec_from_json(spec.as_json()) == spec
    assert parse_spec(spec.as_json(), ConnectionPolicy(), count) == spec


@given(host=st.sampled_from(["10.0.0.1", "192.168.1.5", "plant.example.com", "[fe80::1]"]))
def test_off_loopback_only_with_the_server_option(host: str) -> None:
    doc = {"endpoint": f"modbus://{host}:502", "pattern": "*"}
    with pytest.raises(SpecError, match="not loopback"):
        parse_spec(doc, ConnectionPolicy(), count)
    assert parse_spec(doc, ConnectionPolicy(allow_remote=True), count).port == 502


def test_secure_opcua_needs_a_user_and_a_real_password_file(tmp_path: Path) -> None:
    url = "opc.tcp://127.0.0.1:4840/twinbench"
    with pytest.raises(SpecError, match="needs a username"):
        parse_spec({"endpoint": url, "pattern": "*", "security": "secure"}, ConnectionPolicy(),
                   count)  # fmt: skip
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    doc = {"endpoint": url, "pattern": "*", "security": "secure", "username": "op",
           "password_file": str(pw)}  # fmt: skip
    spec = parse_spec(doc, ConnectionPolicy(), count)
    assert spec.collector_endpoint == url and spec.security == "secure"
    assert "secret" not in repr(spec.as_json())  # a path is persisted, never the password


def page(published: float, last_data_s: float = 0.0) -> str:
    labels = '{source="conn-x",protocol="modbus"}'
    return (
        f"twinbench_collector_points_published_total{labels} {published!r}\n"
        f"twinbench_collector_last_data_timestamp_seconds{labels} {last_data_s!r}\n"
        f"twinbench_collector_source_connected{labels} 1.0\n"
    )


@given(a=st.integers(0, 10**9), grew=st.integers(0, 10**6), span=st.floats(0.01, 100))
def test_the_rate_is_the_counter_increase_over_the_scrape_interval(
    a: int, grew: int, span: float
) -> None:
    before = Scrape.parse(page(float(a)), at=5.0)
    after = Scrape.parse(page(float(a + grew)), at=5.0 + span)
    rate = after.rate_since(before)
    assert rate is not None and rate == pytest.approx(grew / span)
    # a restarted collector's counters start again at 0: no negative rate
    assert Scrape.parse(page(0.0), at=6.0 + span).rate_since(after) is None or a + grew == 0


def test_health_figures_name_the_last_data_time_and_connection() -> None:
    before = Scrape.parse(page(10.0), at=1.0)
    after = Scrape.parse(page(30.0, last_data_s=1_764_633_600.25), at=3.0)
    h = health_figures(after, before)
    assert h["rate_points_per_s"] == 10.0 and h["points_published"] == 30
    assert h["last_data_time"] == "2025-12-02T00:00:00.250Z" and h["source_connected"]
    assert health_figures(None, None)["last_data_time"] is None


def test_the_docs_request_examples_are_valid_requests(tmp_path: Path) -> None:
    """docs/api.md "Connections": every ``-d '{...}'`` body is a request the server takes."""
    doc = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    section = doc.split("\n## Connections\n", 1)[1].split("\n## ", 1)[0]
    bodies = [json.loads(b) for b in re.findall(r"-d '(\{.*?\})'", section, flags=re.S)]
    assert len(bodies) == 2
    pw = tmp_path / "ua.pw"
    pw.write_text("secret\n")
    for body in bodies:
        if "password_file" in body:
            body["password_file"] = str(pw)
        spec = parse_spec(body, ConnectionPolicy(), lambda p, n: 1)
        assert spec.id == body["id"]
