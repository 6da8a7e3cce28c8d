"""NATS identities: who connects to the bus, in which account, with which NKEY.

An identity is one nats-server user: a role (collector, ingest, reader,
operator, audit), the account it lives in (one per tenant, plus ``SYS``), an
Ed25519 NKEY (the server stores only the public ``U...`` key; the client signs
the server's nonce with the seed) and an expiry date. Static NKEY users carry
no expiry the server could check, so expiry is enforced where the server
config is rendered: an expired identity is left out, and the server refuses it
like any unknown key (see :mod:`harness.security.nats_config`).

NKEYs come from the ``nkeys`` package (the NATS encoding: a prefix byte,
base32, CRC16); it has no "create" call, so a seed is made from 32 random
bytes with :func:`nkeys.encode_seed`, then round-tripped through
:func:`nkeys.from_seed` to derive the public key.

>>> seed, public = new_user_nkey()
>>> public.startswith("U") and seed.startswith(b"SU")
True
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

import nkeys

__all__ = [
    "AUDIT_ACCOUNT",
    "RESERVED_TENANTS",
    "SYSTEM_ACCOUNT",
    "Identity",
    "Role",
    "inbox_prefix",
    "new_user_nkey",
    "public_key_of_seed",
    "validate_name",
]

SYSTEM_ACCOUNT = "SYS"
"""The nats-server system account: server events and advisories, no JetStream."""
AUDIT_ACCOUNT = "AUDIT"
"""Holds the audit stream (the system account may not use JetStream)."""
RESERVED_TENANTS = ("sys", "audit")
"""Tenant names that would be confused with the system or audit account or its users."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Role(StrEnum):
    COLLECTOR = "collector"
    """Publishes batches to its own partition subject and values under its UNS root."""
    INGEST = "ingest"
    """Fetches and acks the stream's durable consumers; publishes dead letters."""
    READER = "reader"
    """The API/viewer side: live UNS values of its tenant, stream and consumer info."""
    OPERATOR = "operator"
    """Stream administration in its tenant's account (the whole JetStream API)."""
    AUDIT = "audit"
    """System-account listener for connect/disconnect and auth-error advisories."""
    AUDIT_WRITER = "audit-writer"
    """Appends audit records to the audit stream (append only: no purge, no delete)."""


def validate_name(kind: str, name: str) -> str:
    """Tenant and user names become NATS account names and subject tokens: keep them plain."""
    if not _NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-63 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def new_user_nkey() -> tuple[bytes, str]:
    """A fresh user NKEY: (seed ``SU...`` to keep secret, public key ``U...``)."""
    seed = bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    return seed, public_key_of_seed(seed)


def public_key_of_seed(seed: bytes) -> str:
    kp = nkeys.from_seed(bytearray(seed))
    try:
        public = kp.public_key
        return public.decode() if isinstance(public, bytes | bytearray) else str(public)
    finally:
        kp.wipe()


def inbox_prefix(user: str) -> str:
    """Each user gets its own reply-inbox prefix, so a subscribe permission on its
    inboxes (``_INBOX_<user>.>``) does not let it read another user's replies."""
    return f"_INBOX_{user}"


@dataclass(frozen=True)
class Identity:
    """One nats-server user as the manifest records it (paths relative to the DIR)."""

    name: str
    role: Role
    account: str
    public_key: str
    seed_file: str
    expires: str
    """ISO-8601 UTC instant after which the identity is no longer rendered."""
    tenant: str | None = None
    source_id: str | None = None
    """A collector's source id: the batches' ``source_id`` and its partition's key."""
    partition: int | None = None
    uns_root: str | None = None
    """A collector's UNS subtree (``<enterprise>.<site>``); it may publish below it."""
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.expires)

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) >= self.expires_at

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.name)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["role"] = self.role.value
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Identity:
        known = {f.name for f in fields(cls)}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"identity {doc.get('name')!r}: unknown fields {sorted(unknown)}")
        args = dict(doc)
        args["role"] = Role(args["role"])
        return cls(**args)
