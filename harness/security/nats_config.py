"""Render the nats-server configuration of a secure deployment.

Two fragments for :class:`harness.services.nats.NatsServer`:

* ``extra_config``: the ``tls {}`` block, ``system_account`` and one account per
  tenant with ``jetstream: enabled`` and its NKEY users with their allow-lists;
* ``jetstream_config``: ``cipher`` plus an ``include`` of the 0600 key file, so
  the store key is not copied into the (world-readable) server config.

Static NKEY users have no expiry of their own: this is the place where it is
enforced. An identity past its ``expires`` instant is not rendered, so after
the next server start or reload it is refused like any unknown key.

Strings are always written quoted: unquoted ``$JS...`` would be read as a
variable reference by the nats-server config parser.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.security.identities import AUDIT_ACCOUNT, SYSTEM_ACCOUNT, Identity, new_user_nkey
from harness.security.permissions import permissions_for
from historian.bus.options import BusOptions

__all__ = ["ServerTls", "jetstream_block", "render_accounts", "render_server_config"]

CIPHERS = ("chachapoly", "aes")


@dataclass(frozen=True)
class ServerTls:
    cert_file: Path
    key_file: Path
    ca_file: Path
    verify_clients: bool
    """mTLS: every client must present a certificate signed by ``ca_file``."""


def _q(text: str) -> str:
    # JSON string quoting is a subset the nats-server parser accepts.
    return json.dumps(text)


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def tls_block(tls: ServerTls) -> str:
    return "\n".join(
        [
            "tls {",
            f"  cert_file: {_q(str(tls.cert_file))}",
            f"  key_file: {_q(str(tls.key_file))}",
            f"  ca_file: {_q(str(tls.ca_file))}",
            f"  verify: {'true' if tls.verify_clients else 'false'}",
            "  timeout: 5",
            "}",
        ]
    )


def _user(identity: Identity, opts: BusOptions) -> str:
    perms = permissions_for(identity, opts)
    publish = f"publish: {{ allow: {_list(perms.publish)} }}" if perms.publish else ""
    # An empty allow-list would mean "no restriction" to nats-server: deny all instead.
    if not perms.publish:
        publish = f"publish: {{ deny: {_list(['>'])} }}"
    return (
        f"      {{ nkey: {_q(identity.public_key)}, permissions: {{ "
        f"{publish}, subscribe: {{ allow: {_list(perms.subscribe)} }} }} }}"
        f"  # {identity.name} ({identity.role.value}, expires {identity.expires})"
    )


def _sentinel_user() -> str:
    # nats-server with no user at all runs without authentication: once every identity
    # has expired, the server would accept anyone into the global account. A user whose
    # seed is thrown away at once (no one can sign as it) keeps authentication on.
    _, public = new_user_nkey()
    return (
        f'      {{ nkey: {_q(public)}, permissions: {{ publish: {{ deny: [">"] }}, '
        f'subscribe: {{ deny: [">"] }} }} }}  # sentinel: keeps authentication required'
    )


def render_accounts(
    identities: Iterable[Identity],
    tenants: Iterable[str],
    opts: BusOptions,
    *,
    now: dt.datetime | None = None,
) -> str:
    """``system_account`` + ``accounts {}``: every tenant account gets JetStream and its
    users; expired identities are skipped (they are refused from now on)."""
    by_account: dict[str, list[Identity]] = {SYSTEM_ACCOUNT: [], AUDIT_ACCOUNT: []}
    for tenant in tenants:
        by_account[tenant] = []
    for ident in identities:
        if ident.account not in by_account:
            raise ValueError(f"identity {ident.name!r} names unknown account {ident.account!r}")
        if not ident.expired(now):
            by_account[ident.account].append(ident)
    lines = [f"system_account: {_q(SYSTEM_ACCOUNT)}", "accounts {"]
    for account, users in by_account.items():
        lines.append(f"  {_q(account)} {{")
        if account != SYSTEM_ACCOUNT:
            lines.append("    jetstream: enabled")
        lines.append("    users: [")
        lines.extend(_user(u, opts) for u in users)
        if account == SYSTEM_ACCOUNT:
            lines.append(_sentinel_user())
        lines.append("    ]")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines)


def render_server_config(
    identities: Iterable[Identity],
    tenants: Iterable[str],
    opts: BusOptions,
    tls: ServerTls | None,
    *,
    now: dt.datetime | None = None,
) -> str:
    """The whole ``extra_config`` text (TLS block first, then the accounts)."""
    parts = [tls_block(tls)] if tls is not None else []
    parts.append(render_accounts(identities, tenants, opts, now=now))
    return "\n".join(parts) + "\n"


def jetstream_block(cipher: str, key_include: Path) -> str:
    """Lines for inside ``jetstream {}``: store encryption with the key kept in its own file."""
    if cipher not in CIPHERS:
        raise ValueError(f"JetStream cipher {cipher!r}: use one of {', '.join(CIPHERS)}")
    return f"cipher: {cipher}\ninclude {_q(str(key_include))}"


def key_include_text(key: str) -> str:
    """Contents of the included key file: one ``key:`` line (nats-server derives the
    per-stream keys from it; losing it makes the store unreadable)."""
    return f"key: {_q(key)}\n"
