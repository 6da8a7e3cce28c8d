"""The security manifest: ``DIR/security.json``, the index of a generated deployment.

It says which credential file each role uses, when each expires, the bus
layout the permissions were computed for, and where the TLS and JetStream key
material is. Paths are relative to DIR, so the directory can be moved. It
holds no secret itself (seeds and keys are in their own 0600 files).
Documented in ``docs/security.md`` ("The manifest").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.security.identities import Identity, Role
from historian.bus.options import BusOptions

__all__ = ["MANIFEST_NAME", "SCHEMA", "ManifestError", "SecurityManifest"]

MANIFEST_NAME = "security.json"
SCHEMA = "twinbench.security/1"

# The BusOptions fields the permissions depend on; the rest are tunables.
_BUS_FIELDS = (
    "stream",
    "subject_prefix",
    "partitions",
    "consumer_prefix",
    "dead_letter_subject",
    "uns_prefix",
)


class ManifestError(ValueError):
    """The manifest is missing, of another schema, or inconsistent."""


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: str
    ca_expires: str
    server_cert: str
    server_key: str
    server_expires: str
    api_cert: str | None = None
    """The historian HTTP API's certificate (``historian serve --tls-cert``), SANs as the
    bus server's; None in a deployment written before the API had TLS."""
    api_key: str | None = None
    api_expires: str | None = None


@dataclass(frozen=True)
class SecurityManifest:
    created: str
    tenants: tuple[str, ...]
    bus: BusOptions
    tls: TlsFiles
    mtls: bool
    """Whether the rendered server config demands client certificates."""
    jetstream_cipher: str
    jetstream_key_file: str
    identities: tuple[Identity, ...] = field(default=())

    def identity(self, name: str) -> Identity:
        for ident in self.identities:
            if ident.name == name:
                return ident
        known = ", ".join(i.name for i in self.identities)
        raise ManifestError(f"no identity {name!r} in the manifest (known: {known})")

    def by_role(self, role: Role, tenant: str | None = None) -> list[Identity]:
        return [
            i for i in self.identities if i.role is role and (tenant is None or i.tenant == tenant)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "tenants": list(self.tenants),
            "bus": {name: getattr(self.bus, name) for name in _BUS_FIELDS},
            "tls": {k: v for k, v in vars(self.tls).items() if v is not None},
            "mtls": self.mtls,
            "jetstream": {"cipher": self.jetstream_cipher, "key_file": self.jetstream_key_file},
            "identities": [i.to_json() for i in self.identities],
        }

    def save(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> SecurityManifest:
        path = directory / MANIFEST_NAME
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(
                f"{path} not found: run `twinbench security init {directory}` first"
            ) from None
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from None
        if doc.get("schema") != SCHEMA:
            raise ManifestError(f"{path}: schema {doc.get('schema')!r}, expected {SCHEMA!r}")
        try:
            return cls(
                created=doc["created"],
                tenants=tuple(doc["tenants"]),
                bus=BusOptions(**doc["bus"]),
                tls=TlsFiles(**doc["tls"]),
                mtls=bool(doc["mtls"]),
                jetstream_cipher=doc["jetstream"]["cipher"],
                jetstream_key_file=doc["jetstream"]["key_file"],
                identities=tuple(Identity.from_json(i) for i in doc["identities"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{path}: malformed manifest ({exc!r})") from None
