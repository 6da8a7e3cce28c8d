"""Bearer-token authentication and tag scopes: the API's one access check.

With no tokens file every request is allowed. With ``--tokens FILE`` every
``/api/v1`` request needs ``Authorization: Bearer <token>`` (401 without or with
an unknown token) and may touch only the tags its scope covers (403 otherwise).
``/health``, ``/metrics``, ``/viewer`` and the OpenAPI document stay open.

Tokens file (TOML)::

    [[token]]
    name = "trend-viewer"         # shown in logs and metrics, never the secret
    token = "s3cr3t-long-random"  # the bearer secret
    read = ["acme.plant1.*"]      # tag globs it may read (default: every tag)
    write = []                    # tag globs it may write through /api/v1/write

Scopes are shell globs over tag names (``*``, ``?``, ``[...]``); a token may read a
tag when any ``read`` glob matches and write it when any ``write`` glob matches.
(The security issue adds tenants; they extend :class:`Principal`, and the
handlers keep calling :meth:`Principal.require` only.)

>>> p = Principal("t", read=("acme.a.*",), write=())
>>> p.may_read("acme.a.x"), p.may_read("acme.b.x"), p.may_write("acme.a.x")
(True, False, False)
"""

from __future__ import annotations

import fnmatch
import hmac
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from historian.api.errors import ApiError

__all__ = ["ANONYMOUS", "Principal", "TokenError", "TokenTable", "load_tokens"]


class TokenError(ValueError):
    """The tokens file is unreadable or malformed (a usage error at start)."""


def _globs(patterns: Sequence[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True)
class Principal:
    """Who is asking, and which tags they may read and write."""

    name: str
    read: tuple[str, ...] = ("*",)
    write: tuple[str, ...] = ()
    _read_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _write_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_read_rx", _globs(self.read))
        object.__setattr__(self, "_write_rx", _globs(self.write))

    def may_read(self, tag: str) -> bool:
        return self._read_rx.match(tag) is not None

    def may_write(self, tag: str) -> bool:
        return self._write_rx.match(tag) is not None

    def require(self, tags: Iterable[str], *, write: bool = False) -> None:
        """Raise 403 naming the first tag outside this principal's scope."""
        check = self.may_write if write else self.may_read
        for tag in tags:
            if not check(tag):
                verb = "write" if write else "read"
                raise ApiError(
                    403,
                    "forbidden",
                    f"token {self.name!r} may not {verb} tag {tag!r}; "
                    f"its {verb} scope is {list(self.write if write else self.read)}",
                )


ANONYMOUS = Principal("anonymous", read=("*",), write=("*",))
"""The principal of every request when no tokens are configured."""


class TokenTable:
    """Secrets -> principals; :meth:`authenticate` is the one place a request is checked."""

    def __init__(self, entries: Iterable[tuple[str, Principal]] = ()) -> None:
        self._entries = [(secret.encode(), p) for secret, p in entries]

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header value; 401 when it names none."""
        if not self._entries:
            return ANONYMOUS
        if not authorization:
            raise ApiError(
                401, "unauthorized", "this server needs a token: send Authorization: Bearer <token>"
            )
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        given = secret.strip().encode()
        found: Principal | None = None
        for known, principal in self._entries:  # compare with every entry: constant time
            if hmac.compare_digest(known, given):
                found = principal
        if found is None:
            raise ApiError(401, "unauthorized", "unknown token; ask for a valid one")
        return found


def _str_list(entry: dict[str, object], key: str, default: list[str], where: str) -> list[str]:
    value = entry.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TokenError(f"{where}: {key!r} must be a list of tag globs (strings)")
    return value


def load_tokens(path: str | Path) -> TokenTable:
    """Read a tokens file (see the module docstring); raises :class:`TokenError`."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenError(f"--tokens {p}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TokenError(f"--tokens {p}: not valid TOML: {exc}") from None
    entries = doc.get("token")
    if not isinstance(entries, list) or not entries:
        raise TokenError(f"--tokens {p}: needs at least one [[token]] table")
    table: list[tuple[str, Principal]] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"--tokens {p}: token #{i + 1}"
        unknown = set(entry) - {"name", "token", "read", "write"}
        if unknown:
            raise TokenError(
                f"{where}: unknown key(s) {sorted(unknown)}; use name, token, read, write"
            )
        secret, name = entry.get("token"), entry.get("name", f"token{i + 1}")
        if not isinstance(secret, str) or len(secret) < 8:
            raise TokenError(f"{where}: 'token' must be a string of at least 8 characters")
        if not isinstance(name, str):
            raise TokenError(f"{where}: 'name' must be a string")
        if secret in seen:
            raise TokenError(f"{where}: the same token secret appears twice")
        seen.add(secret)
        read = _str_list(entry, "read", ["*"], where)
        write = _str_list(entry, "write", [], where)
        table.append((secret, Principal(name, tuple(read), tuple(write))))
    return TokenTable(table)
