"""``--secure`` with an API load: ``historian serve --tokens``, locust sends its token.

The secure profile's deployment (``security init``) writes the hashed tokens file and the
secrets; the scenario's :class:`ApiLoad` is built from :meth:`SecureProfile.api_auth`
as the runner builds it, and a real ``historian serve`` is started with exactly the
load's ``server_args()``. The API is HTTPS with the deployment's ``api.crt``. Locust (its
own process, trusting the deployment CA) runs a short window: every request must succeed
with the token; the same server answers 401 without one, 401 with a wrong one, and 403
to the read-scoped token writing; a client that trusts only the system CAs is refused
the handshake, and plain HTTP to the same port gets no answer.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.run.api_load import LOCUST_LEAD_S, NS, ApiLoad, synthetic_tag_name
from harness.run.secure_profile import TENANT, SecureProfile
from harness.security.api_tokens import api_token_path, read_api_token
from historian.api.times import format_time
from tests.historian.api.conftest import SERVE
from tests.historian.serve_process import ServeProcess

pytestmark = [pytest.mark.service]

BASE = 1_000_001
SERIES = list(range(BASE, BASE + 20))


CONTEXT: ssl.SSLContext | None = None
"""The test's trust: set to the deployment CA once the profile exists."""


def _status(url: str, body: bytes | None = None, **headers: str) -> int:
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30, context=CONTEXT) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _write_body(tag: str) -> bytes:
    now = time.time_ns()
    stamps = [format_time(now - k * 1_000_000_000) for k in range(60, 0, -1)]
    return json.dumps(
        {"tag": tag, "timestamp": stamps, "value": [float(k) for k in range(60)]}
    ).encode()


def test_the_secure_api_load_succeeds_with_its_token_and_no_token_gets_401(tmp_path: Path) -> None:
    global CONTEXT
    profile = SecureProfile(tmp_path, collectors=1)
    auth = profile.api_auth()
    CONTEXT = auth.ssl_context()
    assert auth.token_file == api_token_path(profile.directory, TENANT, "reader")
    assert auth.token_file.stat().st_mode & 0o077 == 0  # the secret is the owner's only
    secret = read_api_token(profile.directory, TENANT, "reader")
    assert secret not in auth.tokens_file.read_text()  # the tokens file holds digests only
    load = ApiLoad(tmp_path, users=2, window_s=(LOCUST_LEAD_S, LOCUST_LEAD_S + 3.0), auth=auth)
    load.write_catalogue(SERIES, BASE, None)
    args = load.server_args()
    assert args[args.index("--tokens") + 1] == str(auth.tokens_file)
    assert args[args.index("--tls-cert") + 1] == str(auth.tls_cert)
    (tmp_path / "serve").mkdir()
    server = ServeProcess(SERVE, tmp_path / "serve", None, None, args, [], 60)
    try:
        url = str(server.info["http"])
        assert url.startswith("https://127.0.0.1:")
        load.ready_file = server.ready  # ServeProcess gives its own --ready-file (the last wins)
        bearer = {"Authorization": f"Bearer {read_api_token(profile.directory, TENANT, 'admin')}"}
        headers = {"Content-Type": "application/json", **bearer}
        tags = [synthetic_tag_name(s, BASE) for s in SERIES[:5]]
        for tag in tags:  # a little data to trend, written with the admin token
            assert _status(f"{url}/api/v1/write", _write_body(tag), **headers) == 200

        origin = time.time_ns()

        async def sleep_until(run_s: float) -> None:
            await asyncio.sleep(max(0.0, (origin + run_s * NS - time.time_ns()) / NS))

        asyncio.run(load.run(origin, sleep_until))
        assert load.result is not None, load.notes
        total = load.result.total
        assert total.requests > 0 and total.failures == 0, load.result.errors
        # the same server refuses what the load would send without its token
        listing = f"{url}/api/v1/tags?pattern=twinbench.loadgen.*"
        assert _status(listing) == 401
        assert _status(listing, Authorization="Bearer not-the-token-at-all") == 401
        assert _status(listing, None, **auth.header()) == 200
        reader = {"Content-Type": "application/json", **auth.header()}
        assert _status(f"{url}/api/v1/write", _write_body(tags[0]), **reader) == 403
        # the system's trust store does not know the deployment CA: no handshake
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(listing, timeout=30, context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        # plaintext HTTP to the TLS port: no HTTP answer (uvicorn drops the connection)
        port = int(url.rsplit(":", 1)[1])
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                plain.request("GET", "/api/v1/tags", headers=auth.header())
                plain.getresponse()
        finally:
            plain.close()
    finally:
        server.stop()
    assert f'tenant = "{TENANT}"' in load.catalogue.read_text()
