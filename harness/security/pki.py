"""A local certificate authority for the bus: CA, server and client certificates.

Everything is generated with ``cryptography`` at set-up, never downloaded: one
self-signed CA per deployment, a nats-server certificate whose SANs cover the
loopback names the harness connects to, and one client certificate per
collector for optional mutual TLS. Keys are ECDSA P-256 (fast to make, accepted
by Go's TLS stack in nats-server and by Python's ``ssl``). Private keys are
written 0600, certificates 0644.

>>> ca = make_ca("twinbench test CA", days=1)
>>> leaf = issue_cert(ca, "nats-server", days=1, server=True)
>>> leaf.cert.issuer == ca.cert.subject
True
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_SERVER_SANS",
    "CertAndKey",
    "client_ssl_context",
    "issue_cert",
    "load_cert_and_key",
    "make_ca",
    "write_private_file",
]

DEFAULT_SERVER_SANS = ("127.0.0.1", "localhost", "::1")
"""Names the server certificate is valid for: the harness only listens on loopback."""

# Backdate so a freshly issued certificate is valid on a peer whose clock is a bit behind.
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CertAndKey:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.cert_pem())
        cert_path.chmod(0o644)
        write_private_file(key_path, self.key_pem())


def load_cert_and_key(cert_path: Path, key_path: Path) -> CertAndKey:
    """Read back a pair written by :meth:`CertAndKey.write` (to issue more leaves from the CA)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an EC private key")
    return CertAndKey(cert, key)


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only; the mode is set at creation, so the
    secret is never world-readable, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    path.chmod(0o600)  # O_CREAT's mode does not apply to an existing file


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "twinbench"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity(days: float, now: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start = (now or dt.datetime.now(dt.UTC)) - _CLOCK_SKEW
    return start, start + _CLOCK_SKEW + dt.timedelta(days=days)


def make_ca(common_name: str, *, days: float, now: dt.datetime | None = None) -> CertAndKey:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days, now)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertAndKey(cert, key)


def issue_cert(
    ca: CertAndKey,
    common_name: str,
    *,
    days: float,
    server: bool,
    sans: tuple[str, ...] = DEFAULT_SERVER_SANS,
    now: dt.datetime | None = None,
) -> CertAndKey:
    """A leaf certificate signed by ``ca``: serverAuth with ``sans`` when ``server``,
    else clientAuth (no SANs; the common name names the collector).

    ``now`` moves the validity window (tests issue certificates that have already expired).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days, now)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return CertAndKey(builder.sign(ca.key, hashes.SHA256()), key)


def client_ssl_context(
    ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """TLS context for a nats-py client: verifies the server against our CA (hostname
    checked against the SANs) and, for mTLS, presents ``cert_file``/``key_file``."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        if key_file is None:
            raise ValueError("a client certificate needs its key file")
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
