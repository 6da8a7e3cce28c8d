"""Who may connect at all: NKEY authentication, identity expiry, TLS and mutual TLS.

nats-py 2.16 reports a refused NKEY (or none) as ``nats.errors.Error`` whose text
is the server's ``'Authorization Violation'``; a TLS handshake the server
rejects surfaces as an ``OSError`` (``ssl.SSLError`` or a broken pipe, depending
on who notices first), so the server's log is the precise witness there.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.security.identities import new_user_nkey
from harness.security.pki import client_ssl_context, issue_cert, load_cert_and_key, make_ca
from harness.services import NatsServer
from tests.harness.security.conftest import refused, start_server, wait_log

pytestmark = [pytest.mark.service]


def assert_authorization_violation(exc: Exception) -> None:
    assert isinstance(exc, nats.errors.Error), repr(exc)
    assert "authorization violation" in str(exc).lower(), repr(exc)


def write_seed(path: Path) -> str:
    """A fresh NKEY seed no deployment knows; returns its public key."""
    seed, public = new_user_nkey()
    path.write_bytes(seed)
    return public


async def test_client_without_credentials_is_refused(
    deployment: SecureNatsConfig, secure_server: NatsServer
) -> None:
    exc = await refused(secure_server.url, tls=deployment.tls_context())
    assert_authorization_violation(exc)


async def test_client_with_an_unknown_nkey_is_refused(
    deployment: SecureNatsConfig, secure_server: NatsServer, tmp_path: Path
) -> None:
    public = write_seed(tmp_path / "stranger.nk")
    seed = str(tmp_path / "stranger.nk")
    exc = await refused(secure_server.url, tls=deployment.tls_context(), nkeys_seed=seed)
    assert_authorization_violation(exc)
    await wait_log(secure_server, f'authentication error - Nkey "{public}"')


async def test_plaintext_client_is_refused(secure_server: NatsServer) -> None:
    # The server requires TLS; nats-py then tries TLS with the system trust store, in
    # which our local CA is not: the server certificate does not verify.
    exc = await refused(secure_server.url)
    assert isinstance(exc, ssl.SSLCertVerificationError), repr(exc)


async def test_expired_identity_is_refused_while_a_valid_one_is_accepted(
    tmp_path: Path,
) -> None:
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    directory = tmp_path / "dep"
    options = InitOptions(tenants=("acme",), collectors=1, days=1, server_days=30)
    init_deployment(directory, options, now=created)
    cfg = SecureNatsConfig.load(directory)
    kwargs = cfg.connect_kwargs("acme-collector-1")

    before_expiry = start_server(cfg, tmp_path / "then", now=created + dt.timedelta(hours=1))
    try:
        nc = await nats.connect(before_expiry.url, allow_reconnect=False, **kwargs)
        assert nc.is_connected
        await nc.close()
    finally:
        before_expiry.close()
    assert "acme-collector-1" in before_expiry.config_path.read_text()

    today = start_server(cfg, tmp_path / "now")
    try:
        assert "acme-collector-1" not in today.config_path.read_text()
        assert_authorization_violation(await refused(today.url, **kwargs))
    finally:
        today.close()


@pytest.fixture
def mtls_server(deployment: SecureNatsConfig, tmp_path: Path) -> Iterator[NatsServer]:
    server = start_server(deployment, tmp_path / "mtls", mtls=True)
    try:
        yield server
    finally:
        server.close()


def _seed(cfg: SecureNatsConfig, name: str) -> str:
    return str(cfg.path(cfg.manifest.identity(name).seed_file))


async def test_mtls_accepts_the_collectors_own_certificate(
    deployment: SecureNatsConfig, mtls_server: NatsServer
) -> None:
    ident = deployment.manifest.identity("acme-collector-1")
    nc = await nats.connect(
        mtls_server.url,
        allow_reconnect=False,
        tls=deployment.tls_context(ident),
        nkeys_seed=_seed(deployment, ident.name),
        inbox_prefix=ident.inbox_prefix,
    )
    assert nc.is_connected
    await nc.close()


async def test_mtls_refuses_a_client_without_a_certificate(
    deployment: SecureNatsConfig, mtls_server: NatsServer
) -> None:
    exc = await refused(
        mtls_server.url,
        tls=deployment.tls_context(),
        nkeys_seed=_seed(deployment, "acme-collector-1"),
    )
    assert isinstance(exc, OSError), repr(exc)
    await wait_log(mtls_server, "client didn't provide a certificate")


async def test_mtls_refuses_a_certificate_from_another_ca(
    deployment: SecureNatsConfig, mtls_server: NatsServer, tmp_path: Path
) -> None:
    rogue_ca = make_ca("rogue CA", days=1)
    rogue = issue_cert(rogue_ca, "acme-collector-1", days=1, server=False)
    rogue.write(tmp_path / "rogue.crt", tmp_path / "rogue.key")
    our_ca = deployment.path(deployment.manifest.tls.ca_cert)
    ctx = client_ssl_context(our_ca, tmp_path / "rogue.crt", tmp_path / "rogue.key")
    # the right NKEY does not help: the TLS handshake fails before authentication
    exc = await refused(mtls_server.url, tls=ctx, nkeys_seed=_seed(deployment, "acme-collector-1"))
    assert isinstance(exc, OSError), repr(exc)
    await wait_log(mtls_server, "certificate signed by unknown authority")


async def test_mtls_refuses_an_expired_client_certificate(
    deployment: SecureNatsConfig, mtls_server: NatsServer, tmp_path: Path
) -> None:
    ca_dir = deployment.directory
    ca = load_cert_and_key(ca_dir / "ca.crt", ca_dir / "ca.key")  # the deployment's own CA
    stale = issue_cert(
        ca, "acme-collector-1", days=1, server=False,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
    )  # fmt: skip
    stale.write(tmp_path / "stale.crt", tmp_path / "stale.key")
    ctx = client_ssl_context(ca_dir / "ca.crt", tmp_path / "stale.crt", tmp_path / "stale.key")
    exc = await refused(mtls_server.url, tls=ctx, nkeys_seed=_seed(deployment, "acme-collector-1"))
    assert isinstance(exc, OSError), repr(exc)
    await wait_log(mtls_server, "expired")
