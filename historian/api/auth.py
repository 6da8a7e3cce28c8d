"""Bearer tokens, scopes, tenants and rate limits: the API's one access check.

With no tokens file every request is allowed. With ``--tokens FILE`` every
``/api/v1`` request needs ``Authorization: Bearer <token>`` (401 without or with
an unknown token), is counted against its token's rate limit (429 beyond it) and
may touch only the tags its scopes, globs and tenant cover (403 otherwise).
``/health``, ``/metrics``, ``/viewer`` and the OpenAPI document stay open.

Tokens file (TOML, docs/api.md "Tokens")::

    [[token]]
    name = "trend-viewer"         # shown in logs and messages, never the secret
    token_sha256 = "9f86d0..."    # sha256 hex of the secret (`twinbench historian token-hash`)
    # token = "s3cr3t-long-random"  # or the secret in plaintext (accepted, warned about)
    tenant = "acme"               # optional; all tokens have one or none
    scopes = ["read"]             # read, write, admin (default: read and write)
    read = ["acme.plant1.*"]      # tag globs it may read (default: every tag)
    write = []                    # tag globs it may write (default: none, or every tag
                                  # when ``scopes`` is given and names write)
    rate_per_s = 20.0             # token bucket refill per second (default: unlimited)
    burst = 40                    # bucket size (default: ceil(rate_per_s), at least 1)

A token may read a tag when its scopes include ``read``, a ``read`` glob matches
and (with tenants) the tag's catalogue ``tenant`` is the token's; writing alike.
With tenants, a tag without a tenant belongs to no token. Unknown tags pass the
check (the handler answers 404), and :meth:`Principal.redact` drops the names of
tags the token may not read from the 404's ``close_matches``. The handlers call
:meth:`Principal.require` / :meth:`Principal.may_read` only; ``admin`` is reserved
for administration endpoints (none exist yet), checked by :meth:`Principal.require_admin`.

>>> p = Principal("t", read=("acme.a.*",), write=())
>>> p.may_read("acme.a.x"), p.may_read("acme.b.x"), p.may_write("acme.a.x")
(True, False, False)
>>> b = TokenBucket(rate_per_s=2.0, burst=2)
>>> [b.take(now=0.0), b.take(now=0.0), b.take(now=0.0), b.take(now=0.5)]
[0.0, 0.0, 0.5, 0.0]
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import hmac
import math
import re
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from historian.api.errors import ApiError

__all__ = [
    "ANONYMOUS",
    "SCOPES",
    "Principal",
    "TokenBucket",
    "TokenError",
    "TokenTable",
    "load_tokens",
    "token_sha256",
]

SCOPES = ("read", "write", "admin")
_TENANT = re.compile(r"^[A-Za-z0-9_-]+$")  # the tag path token rule
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_KEYS: tuple[str, ...] = ("name", "token", "token_sha256", "tenant", "scopes", "read", "write")
_KEYS += ("rate_per_s", "burst")


class TokenError(ValueError):
    """The tokens file is unreadable or malformed (a usage error at start)."""


class HasTenant(Protocol):
    """What the check needs of a catalogue entry (:class:`~historian.catalogue.TagInfo`)."""

    @property
    def tenant(self) -> str: ...


TagLookup = Callable[[str], HasTenant | None]
"""Tag name -> its catalogue entry, None for an unknown tag."""


def token_sha256(secret: str) -> str:
    """The ``token_sha256`` value of a bearer secret (hex of SHA-256 over its UTF-8)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _globs(patterns: Sequence[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True)
class Principal:
    """Who is asking: scopes, tag globs and tenant (see the module docstring)."""

    name: str
    read: tuple[str, ...] = ("*",)
    write: tuple[str, ...] = ()
    tenant: str | None = None
    scopes: frozenset[str] = frozenset({"read", "write"})
    lookup: TagLookup | None = field(default=None, repr=False, compare=False)
    """The catalogue the tenant check reads; bound per request by :meth:`bound`."""
    _read_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _write_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_read_rx", _globs(self.read))
        object.__setattr__(self, "_write_rx", _globs(self.write))

    def bound(self, lookup: TagLookup) -> Principal:
        """This principal checking tenants against ``lookup`` (the engine's catalogue)."""
        return dataclasses.replace(self, lookup=lookup)

    def _tenant_ok(self, tag: str) -> bool:
        if self.tenant is None:
            return True
        if self.lookup is None:
            return False  # no catalogue to check against: deny rather than guess
        info = self.lookup(tag)
        return info is None or info.tenant == self.tenant  # unknown: the handler's 404

    def may_read(self, tag: str) -> bool:
        return "read" in self.scopes and bool(self._read_rx.match(tag)) and self._tenant_ok(tag)

    def may_write(self, tag: str) -> bool:
        return "write" in self.scopes and bool(self._write_rx.match(tag)) and self._tenant_ok(tag)

    def require(self, tags: Iterable[str], *, write: bool = False) -> None:
        """Raise 403 naming the first tag outside this principal's scope or tenant."""
        verb = "write" if write else "read"
        globs = list(self.write if write else self.read)
        for tag in tags:
            if verb not in self.scopes:
                why = f"its scopes are {sorted(self.scopes)}"
            elif not (self._write_rx if write else self._read_rx).match(tag):
                why = f"its {verb} scope is {globs}"
            elif not self._tenant_ok(tag):
                why = f"the tag is not in its tenant {self.tenant!r}"
            else:
                continue
            raise ApiError(
                403, "forbidden", f"token {self.name!r} may not {verb} tag {tag!r}; {why}"
            )

    def require_scope(self, scope: str, what: str) -> None:
        """403 unless the token has ``scope`` at all (before any body is read)."""
        if scope not in self.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"token {self.name!r} may not {what}; its scopes are {sorted(self.scopes)}",
            )

    def require_admin(self, what: str) -> None:
        """403 unless the token has the ``admin`` scope (for administration endpoints)."""
        self.require_scope("admin", what)

    def redact(self, exc: ApiError) -> ApiError:
        """``exc`` without the close matches (names) of tags this principal may not read."""
        matches = exc.extra.get("close_matches") if exc.code == "unknown_tag" else None
        if not matches:
            return exc
        keep = [m for m in matches if isinstance(m, str) and self.may_read(m)]
        if keep == matches:
            return exc
        head = exc.message.split("; did you mean:", 1)[0]
        hint = f"; did you mean: {', '.join(keep)}" if keep else ""
        extra = {**exc.extra, "close_matches": keep}
        return ApiError(exc.status, exc.code, head + hint, **extra)


ANONYMOUS = Principal("anonymous", read=("*",), write=("*",), scopes=frozenset(SCOPES))
"""The principal of every request when no tokens are configured."""


class TokenBucket:
    """``burst`` requests at once, refilled at ``rate_per_s`` (monotonic clock)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._level = float(burst)
        self._at: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float | None = None) -> float:
        """0.0 when a request may go now (and counts it), else seconds until one may."""
        t = time.monotonic() if now is None else now
        with self._lock:
            if self._at is not None:
                self._level = min(float(self.burst), self._level + (t - self._at) * self.rate)
            self._at = t
            if self._level >= 1.0:
                self._level -= 1.0
                return 0.0
            return (1.0 - self._level) / self.rate


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal
    bucket: TokenBucket | None


class TokenTable:
    """Digests -> principals; :meth:`authenticate` is the one place a request is checked."""

    def __init__(self, entries: Iterable[tuple[str, Principal]] = ()) -> None:
        self._entries = [
            _Entry(hashlib.sha256(secret.encode()).digest(), p, None) for secret, p in entries
        ]

    @classmethod
    def hashed(cls, entries: Iterable[tuple[bytes, Principal, TokenBucket | None]]) -> TokenTable:
        """A table of (sha256 digest, principal, rate bucket or None) entries."""
        table = cls()
        table._entries = [_Entry(d, p, b) for d, p, b in entries]
        return table

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    @property
    def tenants(self) -> bool:
        """True when the tokens carry tenants (every tag check then reads the catalogue)."""
        return any(e.principal.tenant is not None for e in self._entries)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header value; 401 unknown, 429 over its rate."""
        if not self._entries:
            return ANONYMOUS
        if not authorization:
            raise ApiError(
                401, "unauthorized", "this server needs a token: send Authorization: Bearer <token>"
            )
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        given = hashlib.sha256(secret.strip().encode()).digest()
        found: _Entry | None = None
        for entry in self._entries:  # compare with every entry: constant time
            if hmac.compare_digest(entry.digest, given):
                found = entry
        if found is None:
            raise ApiError(401, "unauthorized", "unknown token; ask for a valid one")
        if found.bucket is not None:
            wait = found.bucket.take()
            if wait > 0.0:
                retry = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"token {found.principal.name!r} is over its rate of "
                    f"{found.bucket.rate:g}/s (burst {found.bucket.burst}); retry in {retry} s",
                    retry_after_s=retry,
                )
        return found.principal


# ------------------------------------------------------------------ the file
_warned: set[Path] = set()


def _str_list(entry: dict[str, Any], key: str, default: list[str], where: str) -> list[str]:
    value = entry.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TokenError(f"{where}: {key!r} must be a list of strings")
    return value


def _digest(entry: dict[str, Any], where: str) -> tuple[bytes, bool]:
    """(sha256 digest, stored in plaintext?) of one entry's secret."""
    plain, hashed = entry.get("token"), entry.get("token_sha256")
    if (plain is None) == (hashed is None):
        raise TokenError(f"{where}: give exactly one of 'token_sha256' (preferred) or 'token'")
    if hashed is not None:
        if not isinstance(hashed, str) or not _HEX64.match(hashed):
            raise TokenError(
                f"{where}: 'token_sha256' must be 64 hex digits "
                "(print it with `twinbench historian token-hash`)"
            )
        return bytes.fromhex(hashed), False
    if not isinstance(plain, str) or len(plain) < 8:
        raise TokenError(f"{where}: 'token' must be a string of at least 8 characters")
    return hashlib.sha256(plain.encode()).digest(), True


def _bucket(entry: dict[str, Any], where: str) -> TokenBucket | None:
    rate, burst = entry.get("rate_per_s"), entry.get("burst")
    if rate is None:
        if burst is not None:
            raise TokenError(f"{where}: 'burst' needs 'rate_per_s' (requests per second)")
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
        raise TokenError(f"{where}: 'rate_per_s' must be a number > 0, got {rate!r}")
    if burst is None:
        burst = max(1, math.ceil(rate))
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise TokenError(f"{where}: 'burst' must be an integer >= 1, got {burst!r}")
    return TokenBucket(float(rate), burst)


def _principal(entry: dict[str, Any], name: str, where: str) -> Principal:
    tenant = entry.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not _TENANT.match(tenant)):
        raise TokenError(
            f"{where}: 'tenant' must be a name of letters, digits, '_' and '-', got {tenant!r}"
        )
    scopes = _str_list(entry, "scopes", ["read", "write"], where)
    bad = sorted(set(scopes) - set(SCOPES))
    if bad:
        raise TokenError(f"{where}: unknown scope(s) {bad}; use {', '.join(SCOPES)}")
    if not scopes:
        raise TokenError(f"{where}: 'scopes' is empty; give at least one of {', '.join(SCOPES)}")
    # an explicit write scope without globs means every tag (of the tenant); the old format
    # (no scopes) keeps its default of no writes
    write_default = ["*"] if "scopes" in entry and "write" in scopes else []
    read = _str_list(entry, "read", ["*"], where)
    write = _str_list(entry, "write", write_default, where)
    return Principal(name, tuple(read), tuple(write), tenant, frozenset(scopes))


def load_tokens(path: str | Path) -> TokenTable:
    """Read a tokens file (see the module docstring); raises :class:`TokenError`."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenError(f"--tokens {p}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TokenError(f"--tokens {p}: not valid TOML: {exc}") from None
    entries = doc.get("token")
    if not isinstance(entries, list) or not entries:
        raise TokenError(f"--tokens {p}: needs at least one [[token]] table")
    table: list[tuple[bytes, Principal, TokenBucket | None]] = []
    digests: set[bytes] = set()
    names: set[str] = set()
    plaintext: list[str] = []
    for i, entry in enumerate(entries):
        where = f"--tokens {p}: token #{i + 1}"
        if not isinstance(entry, dict):
            raise TokenError(f"{where}: each [[token]] entry must be a table")
        unknown = set(entry) - set(_KEYS)
        if unknown:
            raise TokenError(f"{where}: unknown key(s) {sorted(unknown)}; use {', '.join(_KEYS)}")
        name = entry.get("name", f"token{i + 1}")
        if not isinstance(name, str) or not name.strip():
            raise TokenError(f"{where}: 'name' must be a non-empty string")
        where = f"--tokens {p}: token #{i + 1} ({name!r})"
        if name in names:
            raise TokenError(f"{where}: the name {name!r} appears twice; names must be unique")
        names.add(name)
        digest, plain = _digest(entry, where)
        if digest in digests:
            raise TokenError(f"{where}: the same token secret appears twice")
        digests.add(digest)
        if plain:
            plaintext.append(name)
        table.append((digest, _principal(entry, name, where), _bucket(entry, where)))
    with_tenant = [pr.name for _, pr, _ in table if pr.tenant is not None]
    if with_tenant and len(with_tenant) != len(table):
        lacking = next(pr.name for _, pr, _ in table if pr.tenant is None)
        raise TokenError(
            f"--tokens {p}: token {lacking!r} has no tenant while {with_tenant[0]!r} has one; "
            "give every token a tenant or none"
        )
    key = p.resolve()
    if plaintext and key not in _warned:  # the server loads the file twice (check, serve)
        _warned.add(key)
        print(
            f"warning: --tokens {p}: {len(plaintext)} token(s) in plaintext "
            f"({', '.join(plaintext)}); store token_sha256 instead "
            "(`twinbench historian token-hash` prints it)",
            file=sys.stderr,
        )
    return TokenTable.hashed(table)
