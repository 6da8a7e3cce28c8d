"""Basic256Sha256 Sign / SignAndEncrypt with user and password; wrong credentials refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID

from sim.catalogue_gen import generate_oilfield
from sim.servers.node import TwinNode
from sim.twin import PlantTwin

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
        assert dv.StatusCode.is_good() and isinstance(dv.Value.Value, float)


async def test_wrong_password_refused(secure_node: TwinNode, client_cert: tuple[str, str]) -> None:
    c = await _client(secure_node, client_cert, ua.MessageSecurityMode.SignAndEncrypt,
                      "operator", "wrong")  # fmt: skip
    with pytest.raises(ua.UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code in (
        ua.StatusCodes.BadUserAccessDenied,
        ua.StatusCodes.BadIdentityTokenRejected,
    )
    c.disconnect_socket()


async def test_anonymous_refused(secure_node: TwinNode) -> None:
    c = Client(secure_node.opcua.endpoint)
    with pytest.raises(ua.UaStatusCodeError):
        await c.connect()
    c.disconnect_socket()
    # and the server still serves a good session afterwards
    endpoints = await Client(secure_node.opcua.endpoint).connect_and_get_server_endpoints()
    modes = {e.SecurityMode for e in endpoints}
    assert modes == {ua.MessageSecurityMode.None_, ua.MessageSecurityMode.Sign,
                     ua.MessageSecurityMode.SignAndEncrypt}  # fmt: skip
