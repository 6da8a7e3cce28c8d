"""``--metrics-port`` over HTTPS when the server has ``--tls-cert``/``--tls-key``.

A secured deployment leaves no plain-HTTP port: /metrics and /healthz answer over
TLS to a client that trusts the deployment CA; a client that trusts only the
system CAs is refused, and plain HTTP to the port gets no HTTP answer. A client
that connects and never handshakes does not block the scrapes of others.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.security.pki import issue_cert, make_ca
from historian.ingest.metrics import IngestExporter


@pytest.fixture
def https_exporter(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca = make_ca("test CA", days=1)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem())
    leaf = issue_cert(ca, "api", days=1, server=True)
    leaf.write(tmp_path / "api.crt", tmp_path / "api.key")
    exporter = IngestExporter()
    port = exporter.serve(0, tls=(str(tmp_path / "api.crt"), str(tmp_path / "api.key")))
    try:
        yield port, tmp_path / "ca.crt"
    finally:
        exporter.close()


def _get(url: str, ctx: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:  # 503 from /healthz still has a body
        return int(exc.code), bytes(exc.read())


def test_metrics_and_healthz_answer_over_https_to_the_deployment_ca(
    https_exporter: tuple[int, Path],
) -> None:
    port, ca = https_exporter
    ctx = ssl.create_default_context(cafile=str(ca))
    status, body = _get(f"https://127.0.0.1:{port}/healthz", ctx)
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = _get(f"https://127.0.0.1:{port}/metrics", ctx)
    assert status == 200 and b"# TYPE" in body


def test_a_client_without_the_ca_is_refused(https_exporter: tuple[int, Path]) -> None:
    port, _ = https_exporter
    with pytest.raises(urllib.error.URLError) as exc:
        _get(f"https://127.0.0.1:{port}/healthz", ssl.create_default_context())
    assert isinstance(exc.value.reason, ssl.SSLCertVerificationError)


def test_plain_http_to_the_tls_port_gets_no_http_answer(https_exporter: tuple[int, Path]) -> None:
    port, _ = https_exporter
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.request("GET", "/healthz")
        conn.getresponse()
    conn.close()


def test_a_stalled_handshake_does_not_block_other_scrapes(
    https_exporter: tuple[int, Path],
) -> None:
    port, ca = https_exporter
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)  # never says hello
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        status, _ = _get(f"https://127.0.0.1:{port}/healthz", ctx)
        assert status == 200
    finally:
        stalled.close()


def test_without_tls_the_port_is_plain_http() -> None:
    exporter = IngestExporter()
    port = exporter.serve(0)
    try:
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        exporter.close()
