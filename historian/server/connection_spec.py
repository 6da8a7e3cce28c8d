"""What a managed collector connection is: the checked form of ``POST /api/v1/connections``.

:func:`parse_spec` turns the request's JSON into a :class:`ConnectionSpec` or raises
:class:`SpecError` with one line saying what is wrong. Everything is checked before
any process starts (the API is fuzzed): the endpoint's scheme, host and port, the
protocol it implies, the security options, the tag selection against the catalogue,
the id. Endpoints off the loopback interface are refused unless the server runs with
``--connections-allow-remote`` (a token holder must not make the server dial the
network). :meth:`ConnectionSpec.as_json` is both the API's answer and the
persisted form (``historian/docs/format/connections.md``).

>>> spec = parse_spec({"endpoint": "modbus://127.0.0.1:5020", "pattern": "a.*"},
...                   ConnectionPolicy(), lambda p, n: 3)
>>> spec.protocol, spec.host, spec.port, spec.id.startswith("modbus-")
('modbus', '127.0.0.1', 5020, True)
>>> parse_spec({"endpoint": "modbus://10.0.0.7:502", "pattern": "*"}, ConnectionPolicy(),
...            lambda p, n: 3)
Traceback (most recent call last):
historian.server.connection_spec.SpecError: endpoint host '10.0.0.7' is not loopback; ...
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ConnectionConflict",
    "ConnectionPolicy",
    "ConnectionSpec",
    "SpecError",
    "UnknownConnection",
    "parse_spec",
    "spec_from_json",
]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SCHEMES = {"opc.tcp": "opcua", "modbus": "modbus"}
_KEYS = frozenset(
    {"id", "endpoint", "protocol", "security", "username", "password_file", "pattern", "tags"}
    | {"interval_s"}
)
MAX_TAG_NAMES = 100_000


class SpecError(ValueError):
    """The request does not describe a connection (400; the message says what to fix)."""


class ConnectionConflict(Exception):
    """The request is valid but cannot be done now (409): a duplicate id, the cap."""


class UnknownConnection(KeyError):
    """No connection has that id (404)."""


@dataclass(frozen=True)
class ConnectionPolicy:
    """Server-side limits on what a request may ask for (``twinbench historian serve``)."""

    allow_remote: bool = False
    """Endpoints off the loopback interface (``--connections-allow-remote``)."""
    max_connections: int = 16
    """Connections at once (``--max-connections``); beyond it a POST answers 409."""


@dataclass(frozen=True)
class ConnectionSpec:
    """One collector connection as requested (checked) and persisted."""

    id: str
    protocol: str  # opcua | modbus
    endpoint: str
    host: str
    port: int
    security: str = "none"  # none | secure (OPC UA SignAndEncrypt)
    username: str | None = None
    password_file: str | None = None
    pattern: str | None = None
    tags: tuple[str, ...] | None = None
    interval_s: float = 1.0

    @property
    def collector_endpoint(self) -> str:
        """What the collector's ``--endpoint`` takes: the URL (OPC UA) or HOST:PORT."""
        return self.endpoint if self.protocol == "opcua" else f"{self.host}:{self.port}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "security": self.security,
            "interval_s": self.interval_s,
        }
        if self.username is not None:
            out["username"] = self.username
        if self.password_file is not None:
            out["password_file"] = self.password_file
        if self.tags is not None:
            out["tags"] = list(self.tags)
        else:
            out["pattern"] = self.pattern
        return out


TagCount = Callable[[str | None, Sequence[str] | None], int]
"""(pattern, names) -> how many catalogue tags the selection covers; raises
``SpecError`` naming an unknown tag."""


def parse_spec(doc: Any, policy: ConnectionPolicy, count_tags: TagCount) -> ConnectionSpec:
    """Check a request body (parsed JSON); see the module docstring."""
    if not isinstance(doc, dict):
        raise SpecError("the body must be a JSON object with endpoint and pattern or tags")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise SpecError(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_KEYS))}")
    endpoint = doc.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise SpecError("endpoint is required: opc.tcp://HOST:PORT or modbus://HOST:PORT")
    protocol, host, port = _endpoint(endpoint, policy)
    given = doc.get("protocol", protocol)
    if given not in ("opcua", "modbus"):
        raise SpecError(f"protocol {given!r} must be opcua or modbus")
    if given != protocol:
        raise SpecError(f"protocol {given!r} does not match the endpoint's scheme ({protocol})")
    security = doc.get("security", "none")
    if security not in ("none", "secure"):
        raise SpecError(f"security {security!r} must be none or secure")
    username, password_file = doc.get("username"), doc.get("password_file")
    if protocol == "modbus" and (security != "none" or username or password_file):
        raise SpecError("Modbus TCP has no security: security, username and password_file "
                        "are for OPC UA endpoints")  # fmt: skip
    if username is not None and (not isinstance(username, str) or not username):
        raise SpecError("username must be a non-empty string")
    if password_file is not None:
        if not isinstance(password_file, str) or not Path(password_file).is_file():
            raise SpecError(f"password_file {password_file!r} is not a file on the server")
        if username is None:
            raise SpecError("password_file needs a username")
    if security == "secure" and username is None:
        raise SpecError("security secure needs a username (and a password_file)")
    pattern, names = _selection(doc)
    if count_tags(pattern, names) == 0:
        raise SpecError(f"pattern {pattern!r} matches no tag of the catalogue")
    interval = doc.get("interval_s", 1.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise SpecError(f"interval_s {interval!r} must be a number of seconds")
    if not 0.05 <= interval <= 3600:
        raise SpecError(f"interval_s {interval!r} must be within 0.05..3600 s")
    cid = doc.get("id")
    if cid is None:
        cid = f"{protocol}-{secrets.token_hex(4)}"
    if not isinstance(cid, str) or not _ID.match(cid):
        raise SpecError(f"id {cid!r} must be 1..64 letters, digits, '_' or '-'")
    return ConnectionSpec(
        id=cid, protocol=protocol, endpoint=endpoint, host=host, port=port, security=security,
        username=username, password_file=password_file, pattern=pattern,
        tags=tuple(names) if names is not None else None, interval_s=float(interval),
    )  # fmt: skip


def spec_from_json(doc: dict[str, Any]) -> ConnectionSpec:
    """A persisted spec (trusted: it was checked when created); KeyError/ValueError if torn."""
    protocol, host, port = _endpoint(doc["endpoint"], ConnectionPolicy(allow_remote=True))
    tags = doc.get("tags")
    return ConnectionSpec(
        id=str(doc["id"]), protocol=protocol, endpoint=doc["endpoint"], host=host, port=port,
        security=doc.get("security", "none"), username=doc.get("username"),
        password_file=doc.get("password_file"), pattern=doc.get("pattern"),
        tags=tuple(tags) if tags is not None else None,
        interval_s=float(doc.get("interval_s", 1.0)),
    )  # fmt: skip


def _endpoint(url: str, policy: ConnectionPolicy) -> tuple[str, str, int]:
    expected = "expected opc.tcp://HOST:PORT[/path] or modbus://HOST:PORT"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SpecError(f"endpoint {url!r} is not a URL: {expected}") from None
    protocol = _SCHEMES.get(parts.scheme.lower())
    if protocol is None:
        raise SpecError(f"endpoint {url!r}: scheme {parts.scheme!r} unknown; {expected}")
    host = parts.hostname
    if not host or port is None or port == 0:
        raise SpecError(f"endpoint {url!r} needs a host and a port 1..65535; {expected}")
    if protocol == "modbus" and (parts.path not in ("", "/") or parts.query):
        raise SpecError(f"endpoint {url!r}: a Modbus endpoint is modbus://HOST:PORT only")
    if not policy.allow_remote and not _loopback(host):
        raise SpecError(
            f"endpoint host {host!r} is not loopback; this server dials only 127.0.0.1/::1/"
            "localhost unless started with --connections-allow-remote"
        )
    return protocol, host, port


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _selection(doc: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    pattern, names = doc.get("pattern"), doc.get("tags")
    if (pattern is None) == (names is None):
        raise SpecError("give the tags to collect: pattern (a glob over the catalogue) or "
                        "tags (a list of tag names), one of the two")  # fmt: skip
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern or len(pattern) > 1000:
            raise SpecError("pattern must be a non-empty shell glob such as 'acme.site1.*'")
        return pattern, None
    if not isinstance(names, list) or not names or len(names) > MAX_TAG_NAMES:
        raise SpecError(f"tags must be a list of 1..{MAX_TAG_NAMES:,} tag names")
    if not all(isinstance(n, str) and n for n in names):
        raise SpecError("tags must hold tag names (non-empty strings)")
    return None, names
