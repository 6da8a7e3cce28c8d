"""OPC UA secure mode shared by the plant servers and the historian's OPC UA server.

Secure mode means: one endpoint, Basic256Sha256 SignAndEncrypt (no None and no Sign-only
endpoint), user name + password sessions only (anonymous refused), users from a TOML
file holding salted password hashes (scrypt by default, PBKDF2-SHA256 accepted; never
plaintext), and a server certificate either given as files or generated at start with
``cryptography`` (self-signed, RSA 2048, the application URI in the SubjectAltName:
clients match it against the server's ApplicationUri).

The users file::

    [users.operator]
    password_hash = "scrypt$n=16384,r=8,p=1$<salt>$<hash>"

Make a line with ``python -m historian.opcua.security hash-password --user operator``
(reads the password from the terminal, or one line of stdin). Lives in ``historian`` so
that ``sim`` can import it (``historian`` imports nothing from ``sim``).
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import getpass
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua as _ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ua: Any = _ua
SECURITY_MODES = ("none", "secure")
"""Values of ``--opcua-security`` that both ``sim serve`` and ``historian serve`` accept."""
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MiB, tens of ms per check on this machine
PBKDF2_MIN_ITERATIONS = 100_000
CERT_DAYS = 365
_log = logging.getLogger(__name__)


class SecurityConfigError(ValueError):
    """A users file, certificate or key that cannot be used; the message says what to do."""


# ------------------------------------------------------------------ password hashes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n=N,r=R,p=P$<salt>$<hash>`` (base64, 16-byte salt, 32-byte hash)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def _parse_hash(stored: str) -> tuple[str, dict[str, int], bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] not in ("scrypt", "pbkdf2-sha256"):
        raise SecurityConfigError(
            "password_hash must look like scrypt$n=16384,r=8,p=1$SALT$HASH or "
            "pbkdf2-sha256$i=600000$SALT$HASH (make one with "
            "`python -m historian.opcua.security hash-password`)"
        )
    algo, params_text, salt_text, digest_text = parts
    try:
        params = {k: int(v) for k, v in (kv.split("=", 1) for kv in params_text.split(","))}
        salt, digest = _unb64(salt_text), _unb64(digest_text)
    except ValueError as exc:
        raise SecurityConfigError(f"password_hash {algo}: unreadable parameters or base64") from exc
    if algo == "scrypt":
        n, r, p = params.get("n", 0), params.get("r", 0), params.get("p", 0)
        if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > 2**30:
            raise SecurityConfigError(
                "scrypt password_hash: n must be a power of two >= 2, r 1..32, p 1..16, "
                "memory (128 * n * r) at most 1 GiB"
            )
    elif params.get("i", 0) < PBKDF2_MIN_ITERATIONS:
        raise SecurityConfigError(
            f"pbkdf2-sha256 password_hash: i must be >= {PBKDF2_MIN_ITERATIONS} iterations"
        )
    if len(salt) < 8 or len(digest) < 16:
        raise SecurityConfigError(f"password_hash {algo}: salt or hash too short")
    return algo, params, salt, digest


def _derive(algo: str, params: dict[str, int], salt: bytes, password: str, size: int) -> bytes:
    if algo == "scrypt":
        n, r = params["n"], params["r"]
        return hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=params["p"], dklen=size,
            maxmem=256 * n * r,
        )  # fmt: skip
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, params["i"], size)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison of the hashes)."""
    algo, params, salt, digest = _parse_hash(stored)
    return hmac.compare_digest(_derive(algo, params, salt, password, len(digest)), digest)


# ------------------------------------------------------------------ users


def load_users(path: Path) -> dict[str, str]:
    """The users file -> {name: password_hash}; SecurityConfigError says what is wrong."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecurityConfigError(f"--opcua-users {path}: cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SecurityConfigError(f"--opcua-users {path}: not valid TOML ({exc})") from exc
    table = doc.get("users")
    if not isinstance(table, dict) or not table:
        raise SecurityConfigError(
            f"--opcua-users {path}: needs a [users.NAME] table with password_hash for each user"
        )
    users: dict[str, str] = {}
    for name, entry in table.items():
        where = f"--opcua-users {path}: user {name!r}"
        if not isinstance(entry, dict):
            raise SecurityConfigError(f"{where}: expected a table with password_hash")
        if "password" in entry:
            raise SecurityConfigError(
                f"{where}: plaintext passwords are refused; store password_hash "
                "(python -m historian.opcua.security hash-password)"
            )
        unknown = set(entry) - {"password_hash"}
        if unknown:
            raise SecurityConfigError(f"{where}: unknown keys {sorted(unknown)}")
        stored = entry.get("password_hash")
        if not isinstance(stored, str):
            raise SecurityConfigError(f"{where}: password_hash (a string) is missing")
        try:
            _parse_hash(stored)
        except SecurityConfigError as exc:
            raise SecurityConfigError(f"{where}: {exc}") from exc
        users[str(name)] = stored
    return users


class HashedPasswordUserManager(UserManager):
    """asyncua user manager over the users file: name + password, nothing else.

    asyncua calls ``get_user`` on the server's event loop; one scrypt check costs tens of
    milliseconds, well under the ~1 s that stalls sessions. An unknown name costs the
    same as a wrong password, so timing does not tell which names exist.
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)
        self._decoy = hash_password(secrets.token_hex(8))
        self.refused = 0
        self.accepted = 0

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None,
        certificate: Any = None,
    ) -> User | None:  # fmt: skip
        if username is None or password is None:
            self.refused += 1
            _log.warning("OPC UA session refused: no user name and password")
            return None
        stored = self.users.get(username)
        ok = verify_password(stored or self._decoy, password) and stored is not None
        if not ok:
            self.refused += 1
            _log.warning("OPC UA login refused for user %r", username)
            return None
        self.accepted += 1
        return User(role=UserRole.User, name=username)


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class CertificatePair:
    certificate: Path  # DER
    private_key: Path  # PEM, unencrypted, mode 0600


def _san_uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(u) for u in san.value.get_values_for_type(x509.UniformResourceIdentifier)]


def _load_cert(path: Path) -> x509.Certificate:
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def check_certificate_pair(
    certificate: Path, private_key: Path, application_uri: str
) -> CertificatePair:
    """Files the server can use: readable, key matches, URI in the SAN, valid now."""
    try:
        cert = _load_cert(certificate)
    except (OSError, ValueError) as exc:
        raise SecurityConfigError(
            f"--opcua-cert {certificate}: not a readable PEM or DER certificate ({exc})"
        ) from exc
    try:
        key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SecurityConfigError(
            f"--opcua-key {private_key}: not a readable unencrypted PEM private key ({exc})"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey) or not 2048 <= key.key_size <= 4096:
        raise SecurityConfigError(
            f"--opcua-key {private_key}: Basic256Sha256 needs an RSA key of 2048-4096 bits"
        )
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise SecurityConfigError(
            f"--opcua-key {private_key} does not belong to --opcua-cert {certificate}"
        )
    if application_uri not in _san_uris(cert):
        raise SecurityConfigError(
            f"--opcua-cert {certificate}: its SubjectAltName has no URI {application_uri} "
            "(the server's application URI, which clients check); issue one with it, "
            "or omit --opcua-cert/--opcua-key to have one generated"
        )
    now = _dt.datetime.now(_dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SecurityConfigError(
            f"--opcua-cert {certificate}: not valid now (valid {cert.not_valid_before_utc} "
            f"to {cert.not_valid_after_utc})"
        )
    return CertificatePair(Path(certificate), Path(private_key))


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file


def ensure_certificate(
    directory: Path, application_uri: str, common_name: str, *, name: str = "server"
) -> CertificatePair:
    """``DIR/<name>-cert.der`` + ``-key.pem``: reused while usable, else generated.

    Self-signed, RSA 2048, SHA-256, valid for a year; SAN holds the application URI,
    this host's name, ``localhost`` and 127.0.0.1; key usages as OPC UA Part 6 asks of
    an application instance certificate, for both server and client authentication.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / f"{name}-cert.der", directory / f"{name}-key.pem"
    if cert_path.exists() and key_path.exists():
        try:
            pair = check_certificate_pair(cert_path, key_path, application_uri)
            if _load_cert(cert_path).not_valid_after_utc - _dt.datetime.now(
                _dt.UTC
            ) > _dt.timedelta(days=1):
                return pair
        except SecurityConfigError:
            pass  # stale or for another URI: make a new one
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "twinbench"),
        ]
    )
    now = _dt.datetime.now(_dt.UTC)
    hostname = socket.gethostname()
    san = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier(application_uri),
            x509.DNSName(hostname),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True,
        data_encipherment=True, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))  # tolerate a peer's clock behind ours
        .not_valid_after(now + _dt.timedelta(days=CERT_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, pem, 0o600)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.DER), 0o644)
    return CertificatePair(cert_path, key_path)


def application_uri_of(certificate: Path) -> str | None:
    """The first URI in a certificate's SAN (a client's ApplicationUri must equal it)."""
    uris = _san_uris(_load_cert(certificate))
    return uris[0] if uris else None


# ------------------------------------------------------------------ servers


@dataclass(frozen=True)
class SecureModeConfig:
    """What the command line gives: the users file, optionally certificate + key and a
    directory of trusted client certificates (``--opcua-trust``; default: any)."""

    users_file: Path
    certificate: Path | None = None
    private_key: Path | None = None
    trusted_clients: Path | None = None

    def check(self) -> None:
        """Usage errors before anything starts (the certificate's URI is checked at start)."""
        if (self.certificate is None) != (self.private_key is None):
            raise SecurityConfigError(
                "--opcua-cert and --opcua-key go together (or give neither to generate them)"
            )
        for flag, p in (("--opcua-cert", self.certificate), ("--opcua-key", self.private_key)):
            if p is not None and not Path(p).is_file():
                raise SecurityConfigError(f"{flag} {p}: no such file")
        load_users(self.users_file)
        if self.trusted_clients is not None:
            TrustedClientCertificates(self.trusted_clients)


class TrustedClientCertificates:
    """asyncua certificate validator: only client certificates found in a directory.

    Checked at CreateSession (asyncua calls the server's validator there): the
    certificate's SHA-256 fingerprint must be one of the directory's certificates
    (``*.der``, ``*.pem``, ``*.crt``; read at start), it must be valid now and name
    the client's ApplicationUri in its SAN. Anything else: ``BadCertificateUntrusted``
    (``BadCertificateTimeInvalid``, ``BadCertificateUriInvalid``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise SecurityConfigError(f"--opcua-trust {directory}: not a directory")
        self.fingerprints: set[bytes] = set()
        for path in sorted(self.directory.iterdir()):
            if path.suffix.lower() in (".der", ".pem", ".crt"):
                try:
                    self.fingerprints.add(_load_cert(path).fingerprint(hashes.SHA256()))
                except ValueError as exc:
                    raise SecurityConfigError(
                        f"--opcua-trust: {path} is not a PEM or DER certificate ({exc})"
                    ) from exc
        if not self.fingerprints:
            raise SecurityConfigError(
                f"--opcua-trust {directory}: no client certificate (*.der, *.pem, *.crt) in it"
            )
        self.refused = 0

    async def __call__(self, cert: x509.Certificate, app_description: Any) -> None:
        from asyncua.common.utils import ServiceError

        code = None
        if cert.fingerprint(hashes.SHA256()) not in self.fingerprints:
            code = ua.StatusCodes.BadCertificateUntrusted
        elif not cert.not_valid_before_utc <= _dt.datetime.now(_dt.UTC) <= cert.not_valid_after_utc:
            code = ua.StatusCodes.BadCertificateTimeInvalid
        elif app_description.ApplicationUri not in _san_uris(cert):
            code = ua.StatusCodes.BadCertificateUriInvalid
        if code is not None:
            self.refused += 1
            _log.warning(
                "OPC UA session refused: client certificate of %r not accepted (%s)",
                app_description.ApplicationUri, ua.StatusCode(code).name,
            )  # fmt: skip
            raise ServiceError(code)


@dataclass(frozen=True)
class SecureMode:
    users: Mapping[str, str]
    certificate: Path
    private_key: Path
    trusted_clients: Path | None = None


def resolve_secure_mode(
    cfg: SecureModeConfig, pki_dir: Path, application_uri: str, common_name: str
) -> SecureMode:
    """Load the users; check the given certificate or make one in ``pki_dir``."""
    cfg.check()
    users = load_users(cfg.users_file)
    if cfg.certificate is not None and cfg.private_key is not None:
        pair = check_certificate_pair(cfg.certificate, cfg.private_key, application_uri)
    else:
        pair = ensure_certificate(pki_dir, application_uri, common_name)
    return SecureMode(users, pair.certificate, pair.private_key, cfg.trusted_clients)


async def apply_secure_mode(server: Any, mode: SecureMode) -> HashedPasswordUserManager:
    """Configure an asyncua ``Server`` (after ``init()``, before ``start()``) for secure mode."""
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    server.set_identity_tokens([ua.UserNameIdentityToken])
    manager = HashedPasswordUserManager(mode.users)
    server.iserver.set_user_manager(manager)
    await server.load_certificate(str(mode.certificate))
    await server.load_private_key(str(mode.private_key))
    if mode.trusted_clients is not None:
        server.set_certificate_validator(TrustedClientCertificates(mode.trusted_clients))
    return manager


# ------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m historian.opcua.security",
        description="Make a users-file entry for OPC UA secure mode (--opcua-users).",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    hp = sub.add_parser("hash-password", help="print a [users.NAME] entry with a scrypt hash")
    hp.add_argument("--user", required=True, help="the user name")
    args = ap.parse_args(argv)
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print(f"{ap.prog}: error: empty password", file=sys.stderr)
        return 2
    print(f'[users.{json.dumps(args.user)}]\npassword_hash = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
