"""The twinbench TOML config: embedded services by default, external endpoints by choice.

One file points every component either at a service the harness starts itself
(`embedded = true`, the default) or at an external one (NATS cluster, MinIO or
AWS S3, a PostgreSQL server). The format is documented in `docs/config.md`;
`load_config` validates all of it up front, so a typo fails at start with the
file, section and key named, not half-way through a run.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ConfigError",
    "HistorianConfig",
    "NatsConfig",
    "PostgresConfig",
    "S3Config",
    "TwinbenchConfig",
    "load_config",
    "loads_config",
    "parse_config",
]


class ConfigError(ValueError):
    """The config file is unreadable or invalid; the message names file, section and key."""


@dataclass(frozen=True)
class NatsConfig:
    enabled: bool = True
    embedded: bool = True
    urls: tuple[str, ...] = ()
    cluster_size: int = 1


@dataclass(frozen=True)
class S3Config:
    enabled: bool = True
    embedded: bool = True
    endpoint: str | None = None
    bucket: str = "twinbench"
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"


@dataclass(frozen=True)
class PostgresConfig:
    enabled: bool = True
    embedded: bool = True
    dsn: str | None = None


@dataclass(frozen=True)
class HistorianConfig:
    data_dir: Path | None = None


@dataclass(frozen=True)
class TwinbenchConfig:
    nats: NatsConfig = field(default_factory=NatsConfig)
    s3: S3Config = field(default_factory=S3Config)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    historian: HistorianConfig = field(default_factory=HistorianConfig)
    source: str = "<defaults>"


_SECTIONS: dict[str, frozenset[str]] = {
    "nats": frozenset({"enabled", "embedded", "url", "urls", "cluster_size"}),
    "s3": frozenset(
        {"enabled", "embedded", "endpoint", "bucket", "access_key", "secret_key", "region"}
    ),
    "postgres": frozenset({"enabled", "embedded", "dsn"}),
    "historian": frozenset({"data_dir"}),
}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def load_config(path: Path | str) -> TwinbenchConfig:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc
    return loads_config(text, source=str(path), base_dir=path.resolve().parent)


def loads_config(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> TwinbenchConfig:
    """Parse and validate config TOML text; relative paths resolve against `base_dir`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return parse_config(doc, source=source, base_dir=base_dir)


def parse_config(
    doc: Mapping[str, Any], *, source: str = "<mapping>", base_dir: Path | None = None
) -> TwinbenchConfig:
    """Validate an already-parsed TOML document."""
    _check_keys(doc, _SECTIONS.keys(), source, "top level (sections)")
    sections: dict[str, _Section] = {}
    for name, allowed in _SECTIONS.items():
        raw = doc.get(name, {})
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table, got {type(raw).__name__}")
        _check_keys(raw, allowed, source, f"[{name}]")
        sections[name] = _Section(raw, name, source)
    return TwinbenchConfig(
        nats=_nats(sections["nats"]),
        s3=_s3(sections["s3"]),
        postgres=_postgres(sections["postgres"]),
        historian=_historian(sections["historian"], base_dir),
        source=source,
    )


class _Section:
    """Typed getters that name the file, section and key in every error."""

    def __init__(self, raw: Mapping[str, Any], name: str, source: str) -> None:
        self.raw, self.name, self.source = raw, name, source

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{self.name}] {key}: {problem}")

    def get(self, key: str, kind: type, default: Any) -> Any:
        if key not in self.raw:
            return default
        value = self.raw[key]
        # bool is an int subclass in Python; TOML keeps them apart, so do we.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def embedded(self, endpoint_keys: tuple[str, ...]) -> bool:
        """`embedded` defaults to true unless an endpoint is given; both at once is an error."""
        given = [k for k in endpoint_keys if k in self.raw]
        embedded: bool = self.get("embedded", bool, not given)
        if embedded and given:
            raise self.error(
                "embedded",
                f"is true but {given[0]} is set too: remove {given[0]} to use the embedded "
                f"service, or set embedded = false to use the external one",
            )
        if not embedded and not given:
            raise self.error(
                "embedded",
                f"is false but no {' or '.join(endpoint_keys)} says where the external service is",
            )
        return embedded


def _check_keys(raw: Mapping[str, Any], allowed: Any, source: str, where: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else f" (allowed: {', '.join(sorted(allowed))})"
            )
            raise ConfigError(f"{source}: {where}: unknown key {key!r}{hint}")


def _url(sec: _Section, key: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise sec.error(key, f"{value!r} is not a URL of the form {schemes[0]}://host:port")
    try:
        _ = parts.port
    except ValueError as exc:
        raise sec.error(key, f"{value!r} has a bad port: {exc}") from exc
    return value


def _nats(sec: _Section) -> NatsConfig:
    if "url" in sec.raw and "urls" in sec.raw:
        raise sec.error("url", "give either url or urls, not both")
    embedded = sec.embedded(("url", "urls"))
    urls: list[str] = []
    if "url" in sec.raw:
        urls = [sec.get("url", str, "")]
    elif "urls" in sec.raw:
        urls = sec.get("urls", list, [])
        if not urls or not all(isinstance(u, str) for u in urls):
            raise sec.error("urls", "expected a non-empty list of strings")
    checked = tuple(_url(sec, "url", u, ("nats", "tls", "ws", "wss")) for u in urls)
    cluster_size = sec.get("cluster_size", int, 1)
    if cluster_size not in (1, 3, 5):
        raise sec.error(
            "cluster_size", f"must be 1, 3 or 5 (odd, for JetStream quorum), got {cluster_size}"
        )
    if not embedded and "cluster_size" in sec.raw:
        raise sec.error("cluster_size", "only applies to an embedded NATS (embedded = true)")
    return NatsConfig(sec.get("enabled", bool, True), embedded, checked, cluster_size)


def _s3(sec: _Section) -> S3Config:
    embedded = sec.embedded(("endpoint",))
    endpoint = sec.get("endpoint", str, None)
    if endpoint is not None:
        _url(sec, "endpoint", endpoint, ("http", "https"))
    bucket = sec.get("bucket", str, "twinbench")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise sec.error("bucket", f"{bucket!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
    access_key = sec.get("access_key", str, None)
    secret_key = sec.get("secret_key", str, None)
    if (access_key is None) != (secret_key is None):
        raise sec.error("access_key", "give access_key and secret_key together (or neither)")
    if embedded and access_key is not None:
        raise sec.error("access_key", "the embedded S3 server makes its own credentials; remove it")
    return S3Config(
        sec.get("enabled", bool, True), embedded, endpoint, bucket, access_key, secret_key,
        sec.get("region", str, "us-east-1"),
    )  # fmt: skip


def _postgres(sec: _Section) -> PostgresConfig:
    embedded = sec.embedded(("dsn",))
    dsn = sec.get("dsn", str, None)
    if dsn is not None:
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(dsn)
        except Exception as exc:  # psycopg.ProgrammingError; message says what is wrong
            raise sec.error("dsn", f"not a valid libpq connection string: {exc}") from exc
    return PostgresConfig(sec.get("enabled", bool, True), embedded, dsn)


def _historian(sec: _Section, base_dir: Path | None) -> HistorianConfig:
    raw = sec.get("data_dir", str, None)
    if raw is None:
        return HistorianConfig()
    if not raw.strip():
        raise sec.error("data_dir", "must not be empty")
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return HistorianConfig(data_dir=path)
