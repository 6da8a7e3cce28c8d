"""Bus identities for the collectors the server starts itself (``/api/v1/connections``).

On a secured bus every collector needs an identity of its own: an NKEY user that may
publish only on its own partition subject and below its own UNS root. The server does
not mint them. Static NKEY users exist only once nats-server's config lists their
public keys, and letting the historian rewrite that config would give it the
operator's authority over the whole bus. So ``twinbench security init --managed N``
issues a pool of N collector identities per tenant beside the others (the operator
renders them into the server's config like any collector) and writes their index,
``managed-identities-<tenant>.json`` (``historian/docs/format/managed-identities.md``);
``historian serve --managed-identities FILE`` hands one to each connection, persisted
in ``connections.json``, so a connection keeps its identity (its partition, its spool's
batch ids) across restarts. A pool that is used up answers 409.

The file holds paths only: each seed, certificate and key stays in its own 0600 file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from historian.bus.auth import NatsAuth

__all__ = ["FORMAT", "VERSION", "IdentityPool", "ManagedIdentity", "ManagedIdentityError"]

FORMAT, VERSION = "twinbench-managed-identities", 1


class ManagedIdentityError(ValueError):
    """The pool file is missing, of another format, or names a file that is not there."""


@dataclass(frozen=True)
class ManagedIdentity:
    """One collector identity of the pool (absolute paths)."""

    name: str
    source_id: str
    """The collector's ``--source-id``: routes its batches to the identity's partition."""
    seed_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    def auth(self, server: NatsAuth) -> NatsAuth:
        """This identity's options beside the server's own: the same CA checks the bus
        server, and a client certificate (the identity's) only when the server uses one."""
        mtls = server.tls_cert is not None and self.cert_file is not None
        return NatsAuth(
            nkey_seed=self.seed_file,
            tls_ca=server.tls_ca,
            tls_cert=self.cert_file if mtls else None,
            tls_key=self.key_file if mtls else None,
            inbox_prefix=f"_INBOX_{self.name}",
        )


def _path(base: Path, doc: dict[str, object], key: str, required: bool) -> Path | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ManagedIdentityError(f"identity {doc.get('name')!r}: {key!r} must be a path")
    path = base / value
    if not path.is_file():
        raise ManagedIdentityError(f"identity {doc.get('name')!r}: {path}: no such file")
    return path


@dataclass(frozen=True)
class IdentityPool:
    """The identities a server may give its connections, in file order."""

    identities: tuple[ManagedIdentity, ...]

    @classmethod
    def load(cls, path: Path) -> IdentityPool:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ManagedIdentityError(f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ManagedIdentityError(f"{path}: not JSON ({exc})") from None
        if not isinstance(doc, dict) or (doc.get("format"), doc.get("version")) != (
            FORMAT,
            VERSION,
        ):
            raise ManagedIdentityError(f"{path}: not a version {VERSION} {FORMAT} file")
        out = []
        for item in doc.get("identities") or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ManagedIdentityError(f"{path}: an identity without a name")
            seed = _path(path.parent, item, "seed_file", True)
            assert seed is not None
            out.append(
                ManagedIdentity(
                    name=item["name"],
                    source_id=str(item.get("source_id") or item["name"]),
                    seed_file=seed,
                    cert_file=_path(path.parent, item, "cert_file", False),
                    key_file=_path(path.parent, item, "key_file", False),
                )
            )
        if not out:
            raise ManagedIdentityError(f"{path}: no identities (security init --managed N)")
        return cls(tuple(out))

    def get(self, name: str) -> ManagedIdentity | None:
        return next((i for i in self.identities if i.name == name), None)

    def free(self, taken: Iterable[str]) -> ManagedIdentity | None:
        """The first identity no connection holds (None: the pool is used up)."""
        used = set(taken)
        return next((i for i in self.identities if i.name not in used), None)
