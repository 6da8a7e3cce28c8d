"""Generate every credential of one secure deployment into a directory.

Layout of DIR (keys and seeds 0600, the directory 0700)::

    security.json            manifest (harness.security.manifest)
    ca.crt  ca.key           the local CA (keep ca.key offline in a real site)
    server.crt server.key    nats-server, SANs 127.0.0.1 / localhost / ::1
    api.crt    api.key       the historian HTTP API (``serve --tls-cert/--tls-key``), same SANs
    jetstream-key.conf       ``key: "..."`` for JetStream store encryption
    users/<name>.nk          NKEY seed of each user
    users/<name>.crt .key    its TLS client certificate (used under mTLS)
    source-owners-<t>.json   the ingest's ``--source-owners`` of tenant ``t``
    api-tokens-<t>.toml      the HTTP API's ``--tokens`` of tenant ``t`` (hashed)
    users/<t>-api-<role>.token   the bearer secret of each API token (reader, admin)
    managed-identities-<t>.json  with ``managed`` > 0: the pool of collector identities
                             ``historian serve --managed-identities`` gives its managed
                             connections (historian/docs/format/managed-identities.md)

Users per tenant ``t``: ``t-collector-<i>`` (i = 1..N), ``t-managed-<j>`` (j = 1..M,
collectors too, for the historian's managed connections), ``t-ingest``,
``t-reader``, ``t-operator``; in the system account: ``audit``; in the audit
account: ``audit-writer``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.security.api_tokens import write_api_tokens
from harness.security.identities import (
    AUDIT_ACCOUNT,
    RESERVED_TENANTS,
    SYSTEM_ACCOUNT,
    Identity,
    Role,
    new_user_nkey,
    validate_name,
)
from harness.security.manifest import MANIFEST_NAME, SecurityManifest, TlsFiles
from harness.security.nats_config import CIPHERS, key_include_text
from harness.security.permissions import uns_tenant_root
from harness.security.pki import issue_cert, make_ca, write_private_file
from historian.bus.options import BusOptions
from historian.bus.subjects import partition_of
from historian.ingest.series_owners import SeriesSet
from historian.ingest.sources import write_source_owners

__all__ = [
    "DeploymentExistsError",
    "InitOptions",
    "collector_names",
    "init_deployment",
    "managed_identities_path",
    "pick_partitions",
    "shared_partitions",
    "source_owners_path",
]


MANAGED_FORMAT, MANAGED_VERSION = "twinbench-managed-identities", 1
"""``historian.server.managed_identities.FORMAT``/``VERSION``, repeated: importing
``historian.server`` costs ~0.5 s per CLI call. Kept equal by the test that loads the
written file with ``IdentityPool.load`` (tests/historian/server/test_managed_identities.py)."""


class DeploymentExistsError(FileExistsError):
    """DIR already holds files and ``force`` was not given."""


@dataclass(frozen=True)
class InitOptions:
    tenants: tuple[str, ...] = ("acme",)
    collectors: int = 2
    """Collectors per tenant."""
    managed: int = 0
    """Collector identities per tenant for the historian's managed connections (a pool:
    static NKEY users must be in nats-server's config before they connect, so the
    historian cannot mint them itself; see historian.server.managed_identities)."""
    days: float = 90.0
    """Validity of every user identity (NKEY) and client certificate."""
    server_days: float | None = None
    """Validity of the CA and the server certificate (default: ``days``)."""
    partitions: int | None = None
    """Batch partitions; default: the fewest (>= collectors) that give every collector
    of a tenant a partition of its own (see :func:`pick_partitions`)."""
    mtls: bool = False
    cipher: str = "chachapoly"
    bus: BusOptions = field(default_factory=BusOptions)
    series: Mapping[str, SeriesSet] = field(default_factory=dict)
    """Collector name -> the series it may write (the owners file's ``series``); a
    collector not named may write every series (``"*"``)."""

    def __post_init__(self) -> None:
        if not self.tenants:
            raise ValueError("at least one tenant is needed")
        for tenant in self.tenants:
            validate_name("tenant", tenant)
            if tenant in RESERVED_TENANTS:
                raise ValueError(
                    f"tenant name {tenant!r} is reserved for the system and audit accounts"
                )
        if len(set(self.tenants)) != len(self.tenants):
            raise ValueError(f"tenant names repeat: {', '.join(self.tenants)}")
        if self.collectors < 1:
            raise ValueError(f"--collectors must be >= 1, got {self.collectors}")
        if not 0 <= self.managed <= 64:
            raise ValueError(f"--managed must be 0..64, got {self.managed}")
        if not self.days > 0:
            raise ValueError(f"--days must be > 0, got {self.days}")
        if self.server_days is not None and not self.server_days > 0:
            raise ValueError(f"--server-days must be > 0, got {self.server_days}")
        if self.partitions is not None and self.partitions < 1:
            raise ValueError(f"--partitions must be >= 1, got {self.partitions}")
        if self.cipher not in CIPHERS:
            raise ValueError(f"cipher {self.cipher!r}: use one of {', '.join(CIPHERS)}")
        names = {f"{t}-collector-{i}" for t in self.tenants for i in range(1, self.collectors + 1)}
        for name in self.series:
            if name not in names:
                raise ValueError(
                    f"--series {name}=...: no such collector (they are <tenant>-collector-1.."
                    f"{self.collectors})"
                )


def collector_names(tenant: str, collectors: int, managed: int = 0) -> list[str]:
    """Every collector identity of ``tenant``: the plant's, then the managed pool's."""
    return [f"{tenant}-collector-{i}" for i in range(1, collectors + 1)] + [
        f"{tenant}-managed-{j}" for j in range(1, managed + 1)
    ]


def pick_partitions(tenants: tuple[str, ...], collectors: int, managed: int = 0) -> int:
    """Fewest partitions >= ``collectors`` with no two collectors of one tenant on the same
    one. The subject is the only thing a permission can check, and a collector's subject
    is ``crc32c(source_id) % partitions``: a shared partition would let collectors write
    into each other's subject. Falls back to ``collectors`` if none is found below 8x."""
    n = collectors + managed
    for partitions in range(n, 8 * n + 1):
        if all(
            len(
                {partition_of(name, partitions) for name in collector_names(t, collectors, managed)}
            )
            == n
            for t in tenants
        ):
            return partitions
    return n


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _prepare_dir(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise DeploymentExistsError(
                f"{directory} is not empty; pass --force to replace its credentials"
            )
        if not (directory / MANIFEST_NAME).exists():
            # --force replaces a deployment, never an arbitrary directory's contents.
            raise DeploymentExistsError(
                f"{directory} holds files but no {MANIFEST_NAME}; refusing to clear it"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / "users").mkdir(mode=0o700)


def init_deployment(
    directory: Path,
    options: InitOptions,
    *,
    force: bool = False,
    now: dt.datetime | None = None,
) -> SecurityManifest:
    """Write CA, server and client certificates, NKEYs, the JetStream key and the manifest.

    ``now`` backdates everything (tests make deployments that have already expired).
    """
    now = now or dt.datetime.now(dt.UTC)
    _prepare_dir(directory, force)
    expires = _iso(now + dt.timedelta(days=options.days))
    partitions = options.partitions or pick_partitions(
        options.tenants, options.collectors, options.managed
    )
    bus = BusOptions(
        stream=options.bus.stream,
        subject_prefix=options.bus.subject_prefix,
        partitions=partitions,
        consumer_prefix=options.bus.consumer_prefix,
        dead_letter_subject=options.bus.dead_letter_subject,
        uns_prefix=options.bus.uns_prefix,
    )

    server_days = options.server_days or options.days
    ca = make_ca("twinbench bus CA", days=server_days, now=now)
    ca.write(directory / "ca.crt", directory / "ca.key")
    server = issue_cert(ca, "nats-server", days=server_days, server=True, now=now)
    server.write(directory / "server.crt", directory / "server.key")
    # its own key, not the bus server's: the two services can be moved, rotated or
    # compromised apart; the one CA lets every client trust both with one file
    api = issue_cert(ca, "historian-api", days=server_days, server=True, now=now)
    api.write(directory / "api.crt", directory / "api.key")
    write_private_file(
        directory / "jetstream-key.conf", key_include_text(secrets.token_urlsafe(32)).encode()
    )

    def user(name: str, role: Role, account: str, **extra: object) -> Identity:
        seed, public = new_user_nkey()
        write_private_file(directory / "users" / f"{name}.nk", seed + b"\n")
        cert = issue_cert(ca, name, days=options.days, server=False, now=now)
        cert.write(directory / "users" / f"{name}.crt", directory / "users" / f"{name}.key")
        return Identity(
            name=name,
            role=role,
            account=account,
            public_key=public,
            seed_file=f"users/{name}.nk",
            expires=expires,
            cert_file=f"users/{name}.crt",
            key_file=f"users/{name}.key",
            **extra,  # type: ignore[arg-type]
        )

    identities: list[Identity] = []
    for tenant in options.tenants:
        # the plant's collectors, then the pool the historian hands to managed connections
        for kind, count in (("collector", options.collectors), ("managed", options.managed)):
            for i in range(1, count + 1):
                name = f"{tenant}-{kind}-{i}"
                identities.append(
                    user(
                        name,
                        Role.COLLECTOR,
                        tenant,
                        tenant=tenant,
                        source_id=name,
                        partition=partition_of(name, partitions),
                        uns_root=f"{uns_tenant_root(bus, tenant)}.{kind}-{i}",
                    )
                )
        for role in (Role.INGEST, Role.READER, Role.OPERATOR):
            identities.append(user(f"{tenant}-{role.value}", role, tenant, tenant=tenant))
    identities.append(user("audit", Role.AUDIT, SYSTEM_ACCOUNT))
    identities.append(user("audit-writer", Role.AUDIT_WRITER, AUDIT_ACCOUNT))

    manifest = SecurityManifest(
        created=_iso(now),
        tenants=options.tenants,
        bus=bus,
        tls=TlsFiles(
            ca_cert="ca.crt",
            ca_expires=_iso(ca.not_after),
            server_cert="server.crt",
            server_key="server.key",
            server_expires=_iso(server.not_after),
            api_cert="api.crt",
            api_key="api.key",
            api_expires=_iso(api.not_after),
        ),
        mtls=options.mtls,
        jetstream_cipher=options.cipher,
        jetstream_key_file="jetstream-key.conf",
        identities=tuple(identities),
    )
    manifest.save(directory)
    for tenant in options.tenants:  # what each tenant's historian accepts (--source-owners)
        owned = {i.source_id: i.partition for i in manifest.by_role(Role.COLLECTOR, tenant)}
        write_source_owners(
            source_owners_path(directory, tenant),
            partitions,
            {s: p for s, p in owned.items() if s is not None and p is not None},
            options.series,
        )
        write_api_tokens(
            directory, tenant
        )  # historian serve --tokens (harness.security.api_tokens)
        if options.managed:
            write_managed_identities(directory, manifest, tenant)
    return manifest


def managed_identities_path(directory: Path, tenant: str) -> Path:
    """The tenant's ``historian serve --managed-identities`` file."""
    return directory / f"managed-identities-{tenant}.json"


def write_managed_identities(directory: Path, manifest: SecurityManifest, tenant: str) -> Path:
    """The pool's index (paths relative to DIR, no secret; the format's page is
    historian/docs/format/managed-identities.md)."""
    pool = [
        i
        for i in manifest.by_role(Role.COLLECTOR, tenant)
        if i.name.startswith(f"{tenant}-managed-")
    ]
    doc = {
        "format": MANAGED_FORMAT,
        "version": MANAGED_VERSION,
        "tenant": tenant,
        "identities": [
            {
                "name": i.name,
                "source_id": i.source_id,
                "partition": i.partition,
                "seed_file": i.seed_file,
                "cert_file": i.cert_file,
                "key_file": i.key_file,
            }
            for i in pool
        ],
    }
    path = managed_identities_path(directory, tenant)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def source_owners_path(directory: Path, tenant: str) -> Path:
    """The tenant's ``--source-owners`` file: which collector may publish on which partition."""
    return directory / f"source-owners-{tenant}.json"


def shared_partitions(manifest: SecurityManifest) -> dict[int, list[str]]:
    """Partitions that more than one collector of a tenant publishes to: those collectors
    can write into each other's subject (the subject scheme has no finer grain)."""
    out: dict[int, list[str]] = {}
    for tenant in manifest.tenants:
        seen: dict[int, list[str]] = {}
        for ident in manifest.by_role(Role.COLLECTOR, tenant):
            assert ident.partition is not None
            seen.setdefault(ident.partition, []).append(ident.name)
        for part, names in seen.items():
            if len(names) > 1:
                out.setdefault(part, []).extend(names)
    return out
