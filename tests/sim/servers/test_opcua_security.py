"""Basic256Sha256 Sign / SignAndEncrypt with user and password; wrong credentials refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography.x509.oid import ExtendedKeyUsageOID

from sim.catalogue_gen import generate_oilfield
from sim.servers.node import TwinNode
from sim.twin import PlantTwin
from tests.opcua_fields import status_of, value_of

TP = "ns=2;s=acme.permian.field_01.pad_01.well_0001.wellhead.tubing_pressure"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secure_node() -> AsyncIterator[TwinNode]:
    twin = PlantTwin(generate_oilfield(2, seed=1), seed=1, start_ns=0)
    n = TwinNode(twin, speed=None, modbus_port=None,
                 opcua_options={"security": "all", "users": {"operator": "s3cret"}})  # fmt: skip
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


@pytest.fixture
async def client_cert(tmp_path: Path) -> tuple[str, str]:
    key, cert = tmp_path / "client-key.pem", tmp_path / "client-cert.der"
    await setup_self_signed_certificate(
        key, cert, "urn:twinbench:test:client", socket.gethostname(),
        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "twinbench test client"},
    )  # fmt: skip
    return str(cert), str(key)


async def _client(node: TwinNode, cert: tuple[str, str], mode: ua.MessageSecurityMode,
                  user: str, password: str) -> Client:  # fmt: skip
    c = Client(node.opcua.endpoint)
    c.application_uri = "urn:twinbench:test:client"
    await c.set_security(SecurityPolicyBasic256Sha256, cert[0], cert[1], mode=mode)
    c.set_user(user)
    c.set_password(password)
    return c


@pytest.mark.parametrize(
    "mode", [ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt]
)
async def test_secure_session_with_user(
    secure_node: TwinNode, client_cert: tuple[str, str], mode: ua.MessageSecurityMode
) -> None:
    c = await _client(secure_node, client_cert, mode, "operator", "s3cret")
    async with c:
        dv = await c.get_node(TP).read_data_value()
        assert status_of(dv).is_good() and isinstance(value_of(dv), float)


async def test_wrong_password_refused(secure_node: TwinNode, client_cert: tuple[str, str]) -> None:
    c = await _client(secure_node, client_cert, ua.MessageSecurityMode.SignAndEncrypt,
                      "operator", "wrong")  # fmt: skip
    with pytest.raises(UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code in (
        StatusCodes.BadUserAccessDenied,
        StatusCodes.BadIdentityTokenRejected,
    )
    c.disconnect_socket()


async def test_anonymous_refused(secure_node: TwinNode) -> None:
    c = Client(secure_node.opcua.endpoint)
    with pytest.raises(UaStatusCodeError):
        await c.connect()
    c.disconnect_socket()
    # and the server still serves a good session afterwards
    endpoints = await Client(secure_node.opcua.endpoint).connect_and_get_server_endpoints()
    modes = {e.SecurityMode for e in endpoints}
    assert modes == {ua.MessageSecurityMode.None_, ua.MessageSecurityMode.Sign,
                     ua.MessageSecurityMode.SignAndEncrypt}  # fmt: skip


# ---------------------------------------------------------------- secure mode (issue 19)
# --opcua-security secure: Basic256Sha256 SignAndEncrypt only, users from a file of
# password hashes (historian.opcua.security), certificate generated into pki_dir.

BASIC256SHA256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"


@pytest.fixture(scope="module")
def secure_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from historian.opcua.security import hash_password

    d = tmp_path_factory.mktemp("secure")
    users = d / "users.toml"
    users.write_text(f'[users.operator]\npassword_hash = "{hash_password("s3cret")}"\n')
    return users, d / "pki"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hardened_node(secure_files: tuple[Path, Path]) -> AsyncIterator[TwinNode]:
    from historian.opcua.security import SecureModeConfig

    twin = PlantTwin(generate_oilfield(2, seed=1), seed=1, start_ns=0)
    options = {"security": "secure", "secure": SecureModeConfig(secure_files[0]),
               "pki_dir": secure_files[1]}  # fmt: skip
    n = TwinNode(twin, speed=None, modbus_port=None, opcua_options=options)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


@pytest.fixture(scope="module")
def hardened_client_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from historian.opcua.security import ensure_certificate

    pair = ensure_certificate(
        tmp_path_factory.mktemp("client-pki"), "urn:twinbench:test:client", "test client",
        name="client",
    )  # fmt: skip
    return str(pair.certificate), str(pair.private_key)


async def _secure_client(
    node: TwinNode, cert: tuple[str, str], user: str | None, password: str | None
) -> Client:
    c = Client(node.opcua.endpoint, timeout=10)
    c.application_uri = "urn:twinbench:test:client"
    await c.set_security(SecurityPolicyBasic256Sha256, cert[0], cert[1],
                         mode=ua.MessageSecurityMode.SignAndEncrypt)  # fmt: skip
    if user is not None:
        c.set_user(user)
        c.set_password(password or "")
    return c


async def test_secure_mode_offers_only_sign_and_encrypt_with_user_names(
    hardened_node: TwinNode, secure_files: tuple[Path, Path]
) -> None:
    from historian.opcua.security import application_uri_of
    from sim.servers.opcua import APP_URI

    endpoints = await Client(hardened_node.opcua.endpoint).connect_and_get_server_endpoints()
    assert endpoints
    assert {(e.SecurityPolicyUri, e.SecurityMode) for e in endpoints} == {
        (BASIC256SHA256, ua.MessageSecurityMode.SignAndEncrypt)
    }
    tokens = {t.TokenType for e in endpoints for t in e.UserIdentityTokens}
    assert tokens == {ua.UserTokenType.UserName}  # no anonymous token policy
    # the generated certificate carries the server's application URI
    assert application_uri_of(secure_files[1] / "server-cert.der") == APP_URI
    assert endpoints[0].Server.ApplicationUri == APP_URI


async def test_secure_mode_refuses_a_session_without_security(hardened_node: TwinNode) -> None:
    c = Client(hardened_node.opcua.endpoint, timeout=10)
    c.set_user("operator")
    c.set_password("s3cret")  # right credentials, but over the None policy
    with pytest.raises((UaError, OSError, TimeoutError)):
        await c.connect()
    c.disconnect_socket()


async def test_secure_mode_refuses_anonymous(
    hardened_node: TwinNode, hardened_client_cert: tuple[str, str]
) -> None:
    c = await _secure_client(hardened_node, hardened_client_cert, None, None)
    with pytest.raises(UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code == StatusCodes.BadIdentityTokenRejected
    c.disconnect_socket()


@pytest.mark.parametrize("user,password", [("operator", "wrong"), ("nobody", "s3cret")])
async def test_secure_mode_refuses_wrong_credentials(
    hardened_node: TwinNode, hardened_client_cert: tuple[str, str], user: str, password: str
) -> None:
    manager = hardened_node.opcua.server.iserver.user_manager
    refused = manager.refused
    c = await _secure_client(hardened_node, hardened_client_cert, user, password)
    with pytest.raises(UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code == StatusCodes.BadUserAccessDenied
    c.disconnect_socket()
    assert manager.refused == refused + 1


async def test_secure_mode_serves_the_right_user(
    hardened_node: TwinNode, hardened_client_cert: tuple[str, str]
) -> None:
    c = await _secure_client(hardened_node, hardened_client_cert, "operator", "s3cret")
    async with c:
        dv = await c.get_node(TP).read_data_value()
        assert status_of(dv).is_good() and isinstance(value_of(dv), float)
    assert hardened_node.opcua.server.iserver.user_manager.accepted >= 1


@pytest.mark.parametrize(
    "args,says",
    [
        (["--opcua-security", "secure"], "needs --opcua-users FILE"),
        (["--security", "secure", "--users", "a:b", "--opcua-users", "U"], "plaintext) is refused"),
        (["--opcua-users", "U"], "need --opcua-security secure"),
        (["--opcua-security", "bogus"], "use one of none, sign, encrypt, all, secure"),
        (
            ["--opcua-security", "secure", "--opcua-users", "PLAIN"],
            "plaintext passwords are refused",
        ),
    ],
)
async def test_sim_serve_security_usage_errors_exit_2(
    tmp_path: Path, args: list[str], says: str
) -> None:
    """One line on stderr, exit 2, and no server process started (PLAIN is checked first)."""
    from typer.testing import CliRunner

    from sim.cli import app

    plain = tmp_path / "plain.toml"
    plain.write_text('[users.op]\npassword = "x"\n')
    argv = ["serve", "--workdir", str(tmp_path / "w"),
            *(str(plain) if a in ("U", "PLAIN") else a for a in args)]  # fmt: skip
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert not list((tmp_path / "w").glob("ready-*.json"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trusting_node(
    secure_files: tuple[Path, Path],
    hardened_client_cert: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TwinNode]:
    """Secure mode with --opcua-trust: only the hardened client's certificate is accepted."""
    import shutil

    from historian.opcua.security import SecureModeConfig

    trust = tmp_path_factory.mktemp("trusted")
    shutil.copy(hardened_client_cert[0], trust / "client.der")
    twin = PlantTwin(generate_oilfield(2, seed=1), seed=1, start_ns=0)
    cfg = SecureModeConfig(secure_files[0], trusted_clients=trust)
    options = {"security": "secure", "secure": cfg, "pki_dir": secure_files[1]}
    n = TwinNode(twin, speed=None, modbus_port=None, opcua_options=options)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def test_trust_list_refuses_an_unknown_client_certificate(
    trusting_node: TwinNode, tmp_path: Path
) -> None:
    from historian.opcua.security import ensure_certificate

    other = ensure_certificate(tmp_path, "urn:twinbench:test:client", "stranger", name="client")
    c = await _secure_client(trusting_node, (str(other.certificate), str(other.private_key)),
                             "operator", "s3cret")  # fmt: skip
    with pytest.raises(UaStatusCodeError) as e:
        await c.connect()  # right user and password, certificate not in the trust list
    assert e.value.code == StatusCodes.BadCertificateUntrusted
    c.disconnect_socket()


async def test_trust_list_accepts_a_listed_client_certificate(
    trusting_node: TwinNode, hardened_client_cert: tuple[str, str]
) -> None:
    c = await _secure_client(trusting_node, hardened_client_cert, "operator", "s3cret")
    async with c:
        dv = await c.get_node(TP).read_data_value()
        assert status_of(dv).is_good()
    # listed, but presented under another application URI than its SAN names
    c = await _secure_client(trusting_node, hardened_client_cert, "operator", "s3cret")
    c.application_uri = "urn:twinbench:test:impostor"
    with pytest.raises(UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code == StatusCodes.BadCertificateUriInvalid
    c.disconnect_socket()
