"""How a historian process authenticates to a secured nats-server: NKEY seed, TLS, inboxes.

Every process that dials the bus (``historian serve``, the collector processes) takes
the same options and turns them into ``nats.connect`` keyword arguments here:

* ``--nats-nkey SEED_FILE``: the user's NKEY seed (``twinbench security init`` writes
  ``users/<name>.nk``); the client signs the server's nonce with it;
* ``--nats-tls-ca FILE``: verify the server's certificate against this CA (hostname
  checked against its SANs) and refuse a plaintext server;
* ``--nats-tls-cert FILE`` / ``--nats-tls-key FILE``: present this client certificate
  (mTLS deployments);
* ``--nats-inbox-prefix PREFIX``: reply inboxes under this prefix. A secured user may
  subscribe only to its own inboxes (``_INBOX_<name>.>``); the default is
  ``_INBOX_<seed file stem>``, which is what ``security init`` grants.

With none of them given the connection is plain, as before.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NatsAuth", "add_nats_auth_arguments", "nats_auth_from_args"]


@dataclass(frozen=True)
class NatsAuth:
    nkey_seed: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    inbox_prefix: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--nats-tls-cert and --nats-tls-key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError("--nats-tls-cert needs --nats-tls-ca (the CA that checks the server)")
        for flag, path in (
            ("--nats-nkey", self.nkey_seed),
            ("--nats-tls-ca", self.tls_ca),
            ("--nats-tls-cert", self.tls_cert),
            ("--nats-tls-key", self.tls_key),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{flag} {path}: no such file")

    @property
    def secured(self) -> bool:
        return self.nkey_seed is not None or self.tls_ca is not None

    @property
    def inbox(self) -> str | None:
        """The reply-inbox prefix to use (None: nats-py's default ``_INBOX``)."""
        if self.inbox_prefix is not None:
            return self.inbox_prefix
        if self.nkey_seed is not None:
            return f"_INBOX_{self.nkey_seed.stem}"
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_ca is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.tls_ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_cert is not None and self.tls_key is not None:
            ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return ctx

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` / ``NATS.connect`` (empty when plain)."""
        out: dict[str, Any] = {}
        if self.nkey_seed is not None:
            out["nkeys_seed"] = str(self.nkey_seed)
        ctx = self.ssl_context()
        if ctx is not None:
            out["tls"] = ctx
        if self.inbox is not None:
            out["inbox_prefix"] = self.inbox
        return out

    def argv(self) -> list[str]:
        """The command-line options that recreate this (for spawning a child process)."""
        out: list[str] = []
        for flag, value in (
            ("--nats-nkey", self.nkey_seed),
            ("--nats-tls-ca", self.tls_ca),
            ("--nats-tls-cert", self.tls_cert),
            ("--nats-tls-key", self.tls_key),
            ("--nats-inbox-prefix", self.inbox_prefix),
        ):
            if value is not None:
                out += [flag, str(value)]
        return out


def add_nats_auth_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--nats-nkey",
        type=Path,
        metavar="SEED_FILE",
        help="authenticate to nats-server with this NKEY seed file (security init: users/NAME.nk)",
    )
    ap.add_argument(
        "--nats-tls-ca",
        type=Path,
        metavar="FILE",
        help="TLS to nats-server, its certificate checked against this CA (security init: ca.crt)",
    )
    ap.add_argument(
        "--nats-tls-cert", type=Path, metavar="FILE", help="mTLS: client certificate (PEM)"
    )
    ap.add_argument("--nats-tls-key", type=Path, metavar="FILE", help="mTLS: its private key")
    ap.add_argument(
        "--nats-inbox-prefix",
        metavar="PREFIX",
        help="reply inboxes under PREFIX (default with --nats-nkey: _INBOX_<seed file stem>)",
    )


def nats_auth_from_args(args: argparse.Namespace) -> NatsAuth:
    """Raises ValueError (one line, for ``ap.error``) on a missing file or a half pair."""
    return NatsAuth(
        nkey_seed=args.nats_nkey,
        tls_ca=args.nats_tls_ca,
        tls_cert=args.nats_tls_cert,
        tls_key=args.nats_tls_key,
        inbox_prefix=args.nats_inbox_prefix,
    )
