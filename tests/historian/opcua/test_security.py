"""OPC UA secure mode (``historian.opcua.security``): hashes, users file, certificates, and
``historian serve --opcua-security secure`` through a real server process and asyncua clients.

Denials (issue 19): a session over the None policy, an anonymous session and a wrong
password are refused; the right user reads a current value and HistoryRead works.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua.client.client import Client
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.opcua.security import (
    SecurityConfigError,
    application_uri_of,
    check_certificate_pair,
    ensure_certificate,
    hash_password,
    load_users,
    verify_password,
)
from historian.server.cli import build_parser, config_from_args
from tests.historian.opcua.conftest import BASE, FLOW, NS, OpcUaHistorian, flow_columns
from tests.historian.opcua.helpers import history_read, raw, ua
from tests.opcua_fields import value_of

BASIC256SHA256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
HISTORIAN_URI = "urn:twinbench:historian:server"
CLIENT_URI = "urn:twinbench:test:secure-client"
NAMESPACE = "urn:twinbench:historian"

# ---------------------------------------------------------------- password hashes


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_a_hash_accepts_its_password_and_nothing_else(password: str, other: str) -> None:
    stored = hash_password(password, n=16, r=1, p=1)  # cheap parameters: the logic, not cost
    assert verify_password(stored, password)
    assert verify_password(stored, other) == (other == password)


def test_hashes_are_salted_and_pbkdf2_is_accepted() -> None:
    import base64
    import hashlib

    assert hash_password("pw", n=16) != hash_password("pw", n=16)
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 100_000, 32)
    b64 = [base64.b64encode(x).decode().rstrip("=") for x in (salt, digest)]
    stored = f"pbkdf2-sha256$i=100000${b64[0]}${b64[1]}"
    assert verify_password(stored, "pw") and not verify_password(stored, "pW")


def _users_file(tmp: Path, body: str) -> Path:
    p = tmp / "users.toml"
    p.write_text(body)
    return p


@pytest.mark.parametrize(
    "body,says",
    [
        ('[users.op]\npassword = "s3cret"\n', "plaintext passwords are refused"),
        ('[users.op]\npassword_hash = "s3cret"\n', "password_hash must look like"),
        ('[users.op]\npassword_hash = "scrypt$n=1000,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"\n',
         "power of two"),
        ('[users.op]\npassword_hash = "pbkdf2-sha256$i=10$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"\n',
         "iterations"),
        ("[users]\n", "needs a [users.NAME] table"),
        ("users = [", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_users_file_is_refused_with_what_to_do(tmp_path: Path, body: str, says: str) -> None:
    with pytest.raises(SecurityConfigError, match=says.replace("[", r"\[")):
        load_users(_users_file(tmp_path, body))


def test_users_file_maps_names_to_hashes(tmp_path: Path) -> None:
    stored = hash_password("a b c", n=16)
    users = load_users(_users_file(tmp_path, f'[users."op.1"]\npassword_hash = "{stored}"\n'))
    assert users == {"op.1": stored}


def test_hash_password_command_prints_a_usable_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from historian.opcua import security

    monkeypatch.setattr("sys.stdin", io.StringIO("pass word\n"))
    assert security.main(["hash-password", "--user", "operator"]) == 0
    users = load_users(_users_file(tmp_path, capsys.readouterr().out))
    assert verify_password(users["operator"], "pass word")


# ---------------------------------------------------------------- certificates


def test_generated_certificate_names_the_application_uri_and_is_reused(tmp_path: Path) -> None:
    pair = ensure_certificate(tmp_path / "pki", HISTORIAN_URI, "twinbench historian")
    cert = x509.load_der_x509_certificate(pair.certificate.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [HISTORIAN_URI]
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert os.stat(pair.private_key).st_mode & 0o077 == 0  # the key is private to its owner
    check_certificate_pair(pair.certificate, pair.private_key, HISTORIAN_URI)
    before = pair.certificate.read_bytes()
    assert ensure_certificate(tmp_path / "pki", HISTORIAN_URI, "x").certificate.read_bytes() == (
        before
    )
    # another application URI: a new certificate, not a mismatched one
    other = ensure_certificate(tmp_path / "pki", "urn:other", "x")
    assert application_uri_of(other.certificate) == "urn:other"


def test_certificate_files_are_checked(tmp_path: Path) -> None:
    a = ensure_certificate(tmp_path / "a", HISTORIAN_URI, "a")
    b = ensure_certificate(tmp_path / "b", HISTORIAN_URI, "b")
    with pytest.raises(SecurityConfigError, match="does not belong to"):
        check_certificate_pair(a.certificate, b.private_key, HISTORIAN_URI)
    with pytest.raises(SecurityConfigError, match="has no URI urn:twinbench:sim:server"):
        check_certificate_pair(a.certificate, a.private_key, "urn:twinbench:sim:server")
    with pytest.raises(SecurityConfigError, match="not a readable"):
        check_certificate_pair(a.private_key, a.private_key, HISTORIAN_URI)


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "args,says",
    [
        (["--opcua", "127.0.0.1:0", "--opcua-security", "secure"], "needs --opcua-users FILE"),
        (["--opcua-security", "secure", "--opcua-users", "U"], "needs --opcua HOST:PORT"),
        (["--opcua", "127.0.0.1:0", "--opcua-users", "U"], "need --opcua-security secure"),
        (["--opcua", "127.0.0.1:0", "--opcua-security", "secure", "--opcua-users", "PLAIN"],
         "plaintext passwords are refused"),
        (["--opcua", "127.0.0.1:0", "--opcua-security", "secure", "--opcua-users", "U",
          "--opcua-cert", "U"], "--opcua-cert and --opcua-key go together"),
        (["--opcua", "127.0.0.1:0", "--opcua-trust", "EMPTY"], "need --opcua-security secure"),
        (["--opcua", "127.0.0.1:0", "--opcua-security", "secure", "--opcua-users", "U",
          "--opcua-trust", "EMPTY"], "no client certificate"),
    ],
)  # fmt: skip
def test_serve_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    good = _users_file(tmp_path, f'[users.op]\npassword_hash = "{hash_password("x", n=16)}"\n')
    plain = tmp_path / "plain.toml"
    plain.write_text('[users.op]\npassword = "x"\n')
    (tmp_path / "empty").mkdir()
    files = {"U": str(good), "PLAIN": str(plain), "EMPTY": str(tmp_path / "empty")}
    argv = [str(tmp_path / "d"), *(files.get(a, a) for a in args)]
    with pytest.raises(SystemExit) as e:
        config_from_args(build_parser("serve"), argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_serve_parses_the_secure_mode_options(tmp_path: Path) -> None:
    users = _users_file(tmp_path, f'[users.op]\npassword_hash = "{hash_password("x", n=16)}"\n')
    pair = ensure_certificate(tmp_path / "pki", CLIENT_URI, "c", name="client")
    trusted = tmp_path / "trusted"  # certificates only: a key in it is refused
    trusted.mkdir()
    (trusted / "client.der").write_bytes(pair.certificate.read_bytes())
    argv = [str(tmp_path / "d"), "--opcua", "127.0.0.1:0", "--opcua-security", "secure",
            "--opcua-users", str(users), "--opcua-trust", str(trusted)]  # fmt: skip
    cfg = config_from_args(build_parser("serve"), argv)
    assert cfg.opcua_secure is not None
    assert cfg.opcua_secure.users_file == users
    assert cfg.opcua_secure.trusted_clients == trusted
    assert config_from_args(build_parser("serve"), argv[:3]).opcua_secure is None


# ---------------------------------------------------------------- a real secure server


@pytest.fixture(scope="module")
def secure_historian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaHistorian]:
    tmp = tmp_path_factory.mktemp("secure-opcua")
    users = _users_file(tmp, f'[users.viewer]\npassword_hash = "{hash_password("r3ad")}"\n')
    server = OpcUaHistorian(tmp, "--opcua-security", "secure", "--opcua-users", str(users))
    yield server
    code = server.stop()
    assert code == 0, server.log.read_text()


@pytest.fixture(scope="module")
def client_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    pair = ensure_certificate(tmp_path_factory.mktemp("pki"), CLIENT_URI, "test", name="client")
    return str(pair.certificate), str(pair.private_key)


async def _client(
    server: OpcUaHistorian, pair: tuple[str, str], user: str | None, password: str = ""
) -> Client:
    c = Client(server.url, timeout=20)
    c.application_uri = CLIENT_URI
    await c.set_security(
        SecurityPolicyBasic256Sha256, pair[0], pair[1], mode=ua.MessageSecurityMode.SignAndEncrypt
    )
    if user is not None:
        c.set_user(user)
        c.set_password(password)
    return c


async def test_secure_historian_has_no_none_endpoint(secure_historian: OpcUaHistorian) -> None:
    assert secure_historian.info["opcua_security"] == "secure"
    endpoints = await Client(secure_historian.url, timeout=20).connect_and_get_server_endpoints()
    assert {(e.SecurityPolicyUri, e.SecurityMode) for e in endpoints} == {
        (BASIC256SHA256, ua.MessageSecurityMode.SignAndEncrypt)
    }
    assert {t.TokenType for e in endpoints for t in e.UserIdentityTokens} == {
        ua.UserTokenType.UserName
    }
    generated = secure_historian.data / "opcua-pki" / "server-cert.der"
    assert application_uri_of(generated) == HISTORIAN_URI
    assert endpoints[0].ServerCertificate == generated.read_bytes()


async def test_secure_historian_refuses_the_none_policy(secure_historian: OpcUaHistorian) -> None:
    c = Client(secure_historian.url, timeout=20)
    c.set_user("viewer")
    c.set_password("r3ad")
    with pytest.raises((ua.UaError, OSError, TimeoutError)):
        await c.connect()
    c.disconnect_socket()


async def test_secure_historian_refuses_anonymous(
    secure_historian: OpcUaHistorian, client_pair: tuple[str, str]
) -> None:
    c = await _client(secure_historian, client_pair, None)
    with pytest.raises(ua.UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code == ua.StatusCodes.BadIdentityTokenRejected
    c.disconnect_socket()


async def test_secure_historian_refuses_a_wrong_password(
    secure_historian: OpcUaHistorian, client_pair: tuple[str, str]
) -> None:
    c = await _client(secure_historian, client_pair, "viewer", "r3ad!")
    with pytest.raises(ua.UaStatusCodeError) as e:
        await c.connect()
    assert e.value.code == ua.StatusCodes.BadUserAccessDenied
    c.disconnect_socket()
    assert "OPC UA login refused for user 'viewer'" in secure_historian.log.read_text()


@pytest_asyncio.fixture
async def viewer(
    secure_historian: OpcUaHistorian, client_pair: tuple[str, str]
) -> AsyncIterator[Client]:
    c = await _client(secure_historian, client_pair, "viewer", "r3ad")
    async with c:
        yield c


async def test_the_right_user_reads_and_history_reads(viewer: Client) -> None:
    ns = await viewer.get_namespace_index(NAMESPACE)
    node: Any = ua.NodeId(FLOW, ns)
    _, values, _ = flow_columns()
    current = await viewer.get_node(node).read_data_value()
    assert value_of(current) == values[-1]
    (r,) = await history_read(viewer, raw(BASE + 10 * NS, BASE + 20 * NS), [node])
    assert r.StatusCode.is_good()
    assert [dv.Value.Value for dv in r.HistoryData.DataValues] == values[10:20].tolist()


# ---------------------------------------------------------------- node-opcua interop


@pytest.mark.slow
def test_node_opcua_reads_over_a_secure_session(
    secure_historian: OpcUaHistorian, tmp_path: Path
) -> None:
    """An independent stack: Basic256Sha256 SignAndEncrypt + user name, Read and HistoryRead."""
    import json
    import subprocess

    from cryptography.hazmat.primitives import serialization

    from tests.historian.opcua.test_node_opcua import INSTALL, _iso

    if not INSTALL.exists():
        pytest.skip("node-opcua install script missing")
    import shutil

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    try:
        out = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=240,
                             check=True)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"node-opcua-client could not be installed: {exc}")
    node_modules = out.stdout.strip().splitlines()[-1]
    uri = "urn:twinbench:test:node-opcua"
    pair = ensure_certificate(tmp_path / "pki", uri, "node-opcua test", name="client")
    pem = tmp_path / "client-cert.pem"  # node-opcua reads PEM certificates
    pem.write_bytes(
        x509.load_der_x509_certificate(pair.certificate.read_bytes()).public_bytes(
            serialization.Encoding.PEM
        )
    )
    script = Path(__file__).with_name("node_opcua_secure.cjs")
    r = subprocess.run(
        ["node", str(script), secure_historian.url, str(pem), str(pair.private_key), uri,
         "viewer", "r3ad", FLOW, _iso(BASE + 10 * NS), _iso(BASE + 20 * NS)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "NODE_PATH": node_modules},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    seen = json.loads(line[len("RESULT ") :])
    _, values, _ = flow_columns()
    assert seen["anonymous"] != "accepted"
    assert seen["status"] == 0 and seen["value"] == values[-1]
    assert seen["history_status"] == 0 and seen["history"] == values[10:20].tolist()
