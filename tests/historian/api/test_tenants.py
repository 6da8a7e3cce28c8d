"""Tenants, scopes, hashed tokens and rate limits through a real ``historian serve`` process.

The catalogue gives the pump's flow and running state to tenant ``plant_a`` (the
``[catalogue] tenant`` default) and its setpoint and temperature to ``plant_b`` (the
tags' own ``tenant``). Tokens: an ``a-reader`` stored hashed, an ``a-writer`` in
plaintext, a ``b-reader`` and a rate-limited ``b-limited``. Every denial the issue
names is asked over HTTP and its status, body and header checked.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.historian.serve_process import ServeProcess

from .conftest import (
    BASE,
    CATALOGUE,
    FLOW,
    RUNNING,
    SERVE,
    SETPOINT,
    TEMP,
    ApiServer,
    Reply,
    seed_store,
)

pytestmark = [pytest.mark.service]

TWINBENCH = str(Path(sys.executable).parent / "twinbench")
DOC = Path(__file__).parents[3] / "docs" / "api.md"
SECRETS = {
    "a-reader": "a-reader-secret-0001",
    "a-writer": "a-writer-secret-0002",
    "b-reader": "b-reader-secret-0003",
    "b-limited": "b-limited-secret-0004",
}


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


TOKENS = f"""
[[token]]
name = "a-reader"
token_sha256 = "{sha(SECRETS["a-reader"])}"
tenant = "plant_a"
scopes = ["read"]
write = ["*"]                 # the scope still forbids writing

[[token]]
name = "a-writer"
token = "{SECRETS["a-writer"]}"
tenant = "plant_a"
scopes = ["read", "write"]

[[token]]
name = "b-reader"
token_sha256 = "{sha(SECRETS["b-reader"])}"
tenant = "plant_b"
scopes = ["read"]

[[token]]
name = "b-limited"
token_sha256 = "{sha(SECRETS["b-limited"])}"
tenant = "plant_b"
scopes = ["read"]
rate_per_s = 1.0
burst = 2
"""


def tenant_catalogue() -> str:
    doc = CATALOGUE.replace("version = 1\n", 'version = 1\n\n[catalogue]\ntenant = "plant_a"\n', 1)
    for desc in ("flow setpoint", "bearing temperature"):
        doc = doc.replace(
            f'description = "{desc}"\n', f'description = "{desc}"\ntenant = "plant_b"\n'
        )
    assert doc.count('tenant = "plant_b"') == 2
    return doc


class TenantServer(ApiServer):
    """ApiServer over the tenant catalogue, with the tokens file above."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "tokens.toml").write_text(TOKENS)
        ServeProcess.__init__(
            self,
            SERVE,
            tmp,
            tenant_catalogue(),
            seed_store,
            ["--http", "127.0.0.1:0"],
            ["--tokens", str(tmp / "tokens.toml")],
            60,
        )
        self.url = self.info["http"]

    def as_(self, who: str | None, method: str, path: str, doc: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {SECRETS[who]}"} if who else {}
        if doc is None:
            return self.request(method, path, headers=headers)
        return self.post_json(path, doc, headers)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TenantServer]:
    server = TenantServer(tmp_path_factory.mktemp("tenants"))
    yield server
    code = server.stop()
    assert code == 0, server.log.read_text()


def header(r: Reply, name: str) -> str:
    return {k.lower(): v for k, v in r.headers.items()}[name.lower()]


def write_doc(tag: str) -> dict[str, Any]:
    return {"tag": tag, "timestamp": [BASE + 7200 * 10**9], "value": [1.0]}


def test_no_token_and_wrong_token_are_401(srv: TenantServer) -> None:
    for path in ("/api/v1/tags", f"/api/v1/tags/{FLOW}/last"):
        r = srv.as_(None, "GET", path)
        assert r.status == 401 and r.json()["error"]["code"] == "unauthorized", r.body
        assert header(r, "WWW-Authenticate").startswith("Bearer")
        r = srv.request("GET", path, headers={"Authorization": "Bearer not-a-known-secret"})
        assert r.status == 401 and "unknown token" in r.json()["error"]["message"]
    assert srv.get("/health").status == 200  # stays open


def test_hashed_and_plaintext_tokens_read_their_tenant(srv: TenantServer) -> None:
    for who in ("a-reader", "a-writer"):  # stored hashed / stored in plaintext
        r = srv.as_(who, "GET", f"/api/v1/tags/{FLOW}/last")
        assert r.status == 200, r.body
        assert r.json()["items"][0]["value"] == 1799.5
    # the plaintext token is warned about once at start, naming it, never its secret
    log = srv.log.read_text()
    assert log.count("in plaintext") == 1 and "a-writer" in log, log
    assert SECRETS["a-writer"] not in log


def test_other_tenants_tag_is_403_and_not_listed(srv: TenantServer) -> None:
    for path in (f"/api/v1/tags/{FLOW}", f"/api/v1/tags/{FLOW}/last", f"/api/v1/tags/{FLOW}/plot"):
        r = srv.as_("b-reader", "GET", path)
        assert r.status == 403, (path, r.body)
        err = r.json()["error"]
        assert err["code"] == "forbidden" and "tenant 'plant_b'" in err["message"]
        assert "plant_a" not in err["message"]  # never names the other tenant
    r = srv.as_(
        "b-reader",
        "POST",
        "/api/v1/streams/query",
        {"queries": [{"tag": TEMP, "kind": "last"}, {"tag": RUNNING, "kind": "last"}]},
    )
    assert r.status == 403 and RUNNING in r.json()["error"]["message"]
    listed = srv.as_("b-reader", "GET", "/api/v1/tags").json()["items"]
    assert [(t["name"], t["tenant"]) for t in listed] == [
        (SETPOINT, "plant_b"),
        (TEMP, "plant_b"),
    ]
    mine = srv.as_("a-reader", "GET", "/api/v1/tags?pattern=*.pump1.*").json()["items"]
    assert [t["name"] for t in mine] == [FLOW, RUNNING]


def test_unknown_tag_close_matches_never_name_other_tenants(srv: TenantServer) -> None:
    typo = FLOW.replace("flow", "flw")
    a = srv.as_("a-reader", "GET", f"/api/v1/tags/{typo}/last").json()["error"]
    assert a["close_matches"][:1] == [FLOW]  # the tenant's own tag is suggested
    b = srv.as_("b-reader", "GET", f"/api/v1/tags/{typo}/last")
    assert b.status == 404
    err = b.json()["error"]
    assert err["code"] == "unknown_tag" and FLOW not in json.dumps(err), err
    assert all(m in (SETPOINT, TEMP) for m in err["close_matches"])
    r = srv.as_(
        "b-reader", "POST", "/api/v1/streams/query", {"queries": [{"tag": typo, "kind": "last"}]}
    )
    assert r.status == 200 and FLOW not in r.body.decode(), r.body
    r = srv.as_("b-reader", "GET", f"/api/v1/tags/{typo}")
    assert r.status == 404 and FLOW not in r.body.decode()


def test_read_only_and_other_tenant_writes_are_403(srv: TenantServer) -> None:
    for who, tag in (("a-reader", RUNNING), ("b-reader", SETPOINT), ("a-writer", SETPOINT)):
        r = srv.as_(who, "POST", "/api/v1/write", write_doc(tag))
        assert r.status == 403, (who, tag, r.body)
        assert r.json()["error"]["code"] == "forbidden"
    assert (
        "scopes are ['read']"
        in srv.as_("a-reader", "POST", "/api/v1/write", write_doc(RUNNING)).json()["error"][
            "message"
        ]
    )
    # no tag to check: the scope still is
    empty: dict[str, list[object]] = {"tag": [], "timestamp": [], "value": []}
    assert srv.as_("a-reader", "POST", "/api/v1/write", empty).status == 403
    assert srv.as_("a-writer", "POST", "/api/v1/write", empty).json()["written"] == 0
    ok = srv.as_("a-writer", "POST", "/api/v1/write", write_doc(RUNNING))
    assert ok.status == 200 and ok.json()["written"] == 1, ok.body


def test_rate_limit_429_then_recovers_after_retry_after(srv: TenantServer) -> None:
    path = f"/api/v1/tags/{TEMP}"
    first = [srv.as_("b-limited", "GET", path).status for _ in range(2)]
    assert first == [200, 200]  # the burst
    limited = None
    for _ in range(10):  # at 1/s the next one within a second is over the rate
        r = srv.as_("b-limited", "GET", path)
        if r.status == 429:
            limited = r
            break
    assert limited is not None, "no 429 from a token limited to 1/s, burst 2"
    err = limited.json()["error"]
    assert err["code"] == "rate_limited" and "b-limited" in err["message"]
    retry_after = int(header(limited, "Retry-After"))
    assert retry_after == err["retry_after_s"] >= 1
    # another token is not limited by this one's bucket
    assert srv.as_("b-reader", "GET", path).status == 200
    time.sleep(retry_after)  # the time the server asked for, no more
    deadline = time.monotonic() + 10
    while (status := srv.as_("b-limited", "GET", path).status) == 429:
        assert time.monotonic() < deadline, "still 429 long after Retry-After"
        time.sleep(0.1)
    assert status == 200


def test_openapi_lists_429_for_every_authenticated_operation(srv: TenantServer) -> None:
    doc = srv.get("/api/v1/openapi.json").json()
    api = [
        op
        for name, path in doc["paths"].items()
        if name.startswith("/api/v1/") and name != "/api/v1/openapi.json"
        for op in path.values()
    ]
    authed = [op for op in api if "401" in op["responses"]]
    # every /api/v1 operation authenticates (the count grows with the API; none may be open)
    assert len(authed) == len(api) >= 10, [op["summary"] for op in api if op not in authed]
    for op in authed:
        assert "Retry-After" in op["responses"]["429"]["headers"], op["summary"]


BAD_FILES = {
    "unknown scope": (
        '[[token]]\nname = "x"\ntoken = "12345678"\nscopes = ["read", "root"]\n',
        "unknown scope(s) ['root']",
    ),
    "tenant on some": (
        '[[token]]\nname = "x"\ntoken = "12345678"\ntenant = "a"\n'
        '[[token]]\nname = "y"\ntoken = "87654321"\n',
        "token 'y' has no tenant while 'x' has one",
    ),
    "duplicate names": (
        '[[token]]\nname = "x"\ntoken = "12345678"\n[[token]]\nname = "x"\ntoken = "87654321"\n',
        "appears twice",
    ),
    "bad hash": ('[[token]]\nname = "x"\ntoken_sha256 = "abc"\n', "64 hex digits"),
    "burst without rate": ('[[token]]\ntoken = "12345678"\nburst = 3\n', "needs 'rate_per_s'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_tokens_file_refused_at_start(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    (tmp_path / "tokens.toml").write_text(text)
    argv = [*SERVE, "--data-dir", str(tmp_path / "d"), "--http", "127.0.0.1:0"]
    p = subprocess.run(
        [*argv, "--tokens", str(tmp_path / "tokens.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], p.stderr
    assert not (tmp_path / "d").exists()  # refused before the store was made


def test_token_hash_cli_prints_the_sha256_of_stdin() -> None:
    p = subprocess.run(
        [TWINBENCH, "historian", "token-hash"],
        input="s3cr3t-long-random\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and p.stdout.strip() == sha("s3cr3t-long-random"), p.stderr
    p = subprocess.run(
        [TWINBENCH, "historian", "token-hash"], input="", capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 2 and p.stderr.strip().startswith("error:")


def test_docs_tenant_example_runs(tmp_path: Path) -> None:
    """docs/api.md "Tenants and rate limits": its tokens file and bash lines, as written."""
    section = DOC.read_text().split("## Tenants and rate limits", 1)[1].split("\n## ", 1)[0]
    [tokens] = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    [script] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    (tmp_path / "tokens.toml").write_text(tokens)
    server = ServeProcess(
        SERVE,
        tmp_path,
        tenant_catalogue(),
        seed_store,
        ["--http", "127.0.0.1:0"],
        ["--tokens", str(tmp_path / "tokens.toml")],
        60,
    )
    try:
        path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
        p = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{script}"],
            env={"API": server.info["http"], "PATH": path},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, (p.stdout, p.stderr)
        # the example's comments say which status each line gets; the output shows them
        expected = re.findall(r"# -> (\d{3})", script)
        got = re.findall(r"^(\d{3})$", p.stdout, flags=re.M)
        assert expected and got == expected, (p.stdout, expected)
    finally:
        assert server.stop() == 0, server.log.read_text()


def test_fuzz_with_a_tenant_token_no_server_errors(srv: TenantServer) -> None:
    """The schemathesis run of test_fuzz.py, as tenant B's read-only token: every
    operation's tenant paths (403 for tenant A's tags, redacted 404s, 403 writes)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    from .test_fuzz import CHECKS, ok, widened

    doc = srv.get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(widened(doc))
    auth = {"Authorization": f"Bearer {SECRETS['b-reader']}"}
    seen: dict[str, set[int]] = {}
    operations = [ok(r) for r in schema.get_all_operations()]
    for op in operations:
        codes = seen.setdefault(op.label, set())

        @given(op.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: Any) -> None:
            r = case.call_and_validate(base_url=srv.url, headers=auth, checks=CHECKS)
            codes.add(r.status_code)  # noqa: B023 - bound for this operation's run
            if r.status_code == 404 and b"unknown_tag" in r.content:
                assert FLOW.encode() not in r.content and RUNNING.encode() not in r.content

        fuzz()
    assert len(seen) == len(operations) >= 10, seen
    if "POST /api/v1/connections" in seen:  # admin only: a read-only token never adds one
        assert not {200, 201} & seen["POST /api/v1/connections"], seen
    assert sum(403 in c for c in seen.values()) >= 5, seen  # tenant A's tags were asked
    assert sum(200 in c for c in seen.values()) >= 5, seen  # and tenant B's answered
    assert 200 not in seen["POST /api/v1/write"], seen  # a read-only token never writes
