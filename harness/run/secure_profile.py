"""The ``--secure`` profile of a scenario run: every link authenticated, TLS, encryption at rest.

What :class:`SecureProfile` sets up in the run's work directory, before any service:

* ``twinbench security init`` into ``<work>/security`` (tenant ``acme``, one collector
  identity for the load generator plus one per plant collector; partitions the fewest
  that give each collector its own subject, from the manifest);
* nats-server with the rendered config: TLS required, static NKEY users with
  least-privilege allow-lists, the tenant account with JetStream, the store cipher;
* the streams and every partition's consumer created by ``acme-operator`` (the
  ingest identity may not create or update them), the historian then run with
  ``--bind-only`` as ``acme-ingest`` over TLS;
* the historian's WAL and segments encrypted with a key file (``--encryption-key``);
* the source owners file (``--source-owners``, version 2) also binding series to
  sources (:meth:`SecureProfile.bind_series`): the load generator owns the synthetic
  series, plant collector ``i`` the tags of its slice; a batch with another's series
  is dead-lettered (``wrong-series``);
* the runner's publisher as ``acme-collector-1`` (its ``source_id`` is that name, so it
  lands on its own partition), its observer as ``acme-reader`` and the dead-letter
  count at the end as ``acme-operator``;
* the plant: each collector process with its own collector identity; the OPC UA
  servers in secure mode (Basic256Sha256 SignAndEncrypt only, no anonymous, one user
  whose password the collectors read from a 0600 file). Modbus has no security.
* the HTTP API, when the scenario serves it (``--api-users N``, stress: 5): the historian
  with ``--tokens`` (``DIR/api-tokens-acme.toml``, SHA-256 digests only), every tag of
  the scenario catalogue in tenant ``acme``, and the locust load sending the read-scoped
  ``acme-api-reader`` bearer token (:meth:`SecureProfile.api_auth`); a request without a
  token gets 401. The API is served over HTTPS with ``DIR/api.crt`` (SANs 127.0.0.1,
  localhost, ::1), and its clients verify it against the deployment CA.

With ``--mtls`` every client also presents its certificate (``security init --mtls``).
Not covered: the cold tier (S3 server-side encryption).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats

from harness.run.api_load import ApiAuth
from harness.security.api_tokens import api_token_path, api_tokens_path
from harness.security.client import NatsServerConfig, SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment, source_owners_path
from harness.security.identities import Role
from harness.security.pki import write_private_file
from historian.bus.auth import NatsAuth
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.crypto.keyfile import generate_key_file
from historian.ingest.series_owners import SeriesSet
from historian.ingest.sources import load_source_owners, write_source_owners
from historian.opcua.security import hash_password

if TYPE_CHECKING:
    from harness.plant.plant_load import PlantLoad

__all__ = ["SECURITY_MODES", "SecureProfile"]

TENANT = "acme"
OPCUA_USER = "collector"
SECURITY_MODES = ("plain", "secure")
"""Values of the report's ``security.mode`` metric."""


def _has_aes_ni() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and "aes" in line.split() for line in text.splitlines())


class SecureProfile:
    """Credentials of one secure run and the arguments each component needs."""

    def __init__(self, work_dir: Path, *, collectors: int = 1, mtls: bool = False) -> None:
        """``mtls``: every client also presents a certificate of the run's CA (``--mtls``)."""
        self.directory = work_dir / "security"
        # AES-GCM for the JetStream store: with AES-NI it drained 1.2x faster than
        # ChaCha20-Poly1305 in benchmarks/bench_secure_bus.py (docs/security.md)
        cipher = "aes" if _has_aes_ni() else "chachapoly"
        init_deployment(
            self.directory,
            InitOptions(tenants=(TENANT,), collectors=collectors, cipher=cipher, mtls=mtls),
        )
        self.cfg = SecureNatsConfig.load(self.directory)
        self.store_key = work_dir / "historian.key"
        generate_key_file(self.store_key)
        # the plant's OPC UA servers: SignAndEncrypt only, one user, no anonymous
        password = secrets.token_urlsafe(18)
        self.opcua_password_file = self.directory / "opcua-collector.password"
        write_private_file(self.opcua_password_file, password.encode() + b"\n")
        self.opcua_users = self.directory / "opcua-users.toml"
        self.opcua_users.write_text(
            f'[users.{OPCUA_USER}]\npassword_hash = "{hash_password(password)}"\n'
        )

    @property
    def partitions(self) -> int:
        return self.cfg.manifest.bus.partitions

    def collector_name(self, index: int) -> str:
        """The ``index``-th collector identity (0: the runner's load generator)."""
        names = [i.name for i in self.cfg.manifest.by_role(Role.COLLECTOR, TENANT)]
        return names[index]

    @property
    def collector_count(self) -> int:
        return len(self.cfg.manifest.by_role(Role.COLLECTOR, TENANT))

    def bus(self, base: BusOptions) -> BusOptions:
        """``base`` on the deployment's partitions (and its stream/subject names)."""
        m = self.cfg.manifest.bus
        return replace(
            base,
            stream=m.stream,
            subject_prefix=m.subject_prefix,
            partitions=m.partitions,
            consumer_prefix=m.consumer_prefix,
            dead_letter_subject=m.dead_letter_subject,
        )

    def server_kwargs(self, server_dir: Path) -> NatsServerConfig:
        return self.cfg.server_kwargs(server_dir)

    def connect_kwargs(self, name: str) -> dict[str, Any]:
        return self.cfg.connect_kwargs(name)

    def auth(self, name: str) -> NatsAuth:
        """The same identity as ``historian.bus.auth`` options for a child process."""
        ident = self.cfg.manifest.identity(name)
        mtls = self.cfg.manifest.mtls and ident.cert_file and ident.key_file
        return NatsAuth(
            nkey_seed=self.cfg.path(ident.seed_file),
            tls_ca=self.cfg.path(self.cfg.manifest.tls.ca_cert),
            tls_cert=self.cfg.path(ident.cert_file) if mtls and ident.cert_file else None,
            tls_key=self.cfg.path(ident.key_file) if mtls and ident.key_file else None,
            inbox_prefix=ident.inbox_prefix,
        )

    @property
    def owned_partitions(self) -> list[int]:
        """The partitions some collector of the tenant publishes on (the others stay empty)."""
        idents = self.cfg.manifest.by_role(Role.COLLECTOR, TENANT)
        return sorted({i.partition for i in idents if i.partition is not None})

    def historian_args(self) -> list[str]:
        """``historian serve`` options: the ingest identity, bind-only, the store key, and a
        worker only for each partition a collector owns (``security init`` may need many
        more partitions than collectors to give each its own: 16 for 6; an idle worker
        still fetches twice a second and reads its lag every second, over TLS)."""
        return [
            *self.auth(f"{TENANT}-ingest").argv(),
            "--bind-only",
            *(a for p in self.owned_partitions for a in ("--partition", str(p))),
            "--partitions",
            str(self.partitions),
            "--encryption-key",
            str(self.store_key),
            "--source-owners",  # a collector's batch must carry its own source_id
            str(source_owners_path(self.directory, TENANT)),
        ]

    def bind_series(self, load_series: Iterable[int], plant: PlantLoad | None) -> None:
        """Before the historian starts: the owners file gives each collector identity its
        series (0: the load generator's ``load_series``; ``i``: plant collector ``i-1``'s)."""
        per_collector = [list(load_series), *(plant.collector_series() if plant else [])]
        if len(per_collector) != self.collector_count:
            raise ValueError(
                f"{len(per_collector)} collectors' series for {self.collector_count} identities"
            )
        path = source_owners_path(self.directory, TENANT)
        binding = load_source_owners(path)
        assert binding.owners is not None  # security init always writes them
        partition = {s: p for p, owners in binding.owners.items() for s in owners}
        series = {
            self.collector_name(i): SeriesSet.of_ids(ids) for i, ids in enumerate(per_collector)
        }
        write_source_owners(path, self.partitions, partition, series)

    def api_auth(self) -> ApiAuth:
        """The API load's token (the read-scoped ``acme-api-reader`` of tenant ``acme``) and
        the HTTPS files: the API's certificate and the CA its clients trust."""
        tls = self.cfg.manifest.tls
        assert tls.api_cert is not None and tls.api_key is not None  # security init writes them
        return ApiAuth(
            tokens_file=api_tokens_path(self.directory, TENANT),
            token_file=api_token_path(self.directory, TENANT, "reader"),
            tenant=TENANT,
            ca_file=self.cfg.path(tls.ca_cert),
            tls_cert=self.cfg.path(tls.api_cert),
            tls_key=self.cfg.path(tls.api_key),
        )

    def plant_collector_args(self, index: int, protocol: str) -> tuple[str, list[str]]:
        """(source_id, extra options) of plant collector process ``index`` (0..): the
        identity after the load generator's, its partition count from the manifest, and
        for OPC UA the secure session (SignAndEncrypt, user + password file)."""
        name = self.collector_name(index + 1)
        args = [*self.auth(name).argv(), "--partitions", str(self.partitions)]
        if protocol == "opcua":
            args += ["--opcua-security", "secure", "--username", OPCUA_USER]
            args += ["--password-file", str(self.opcua_password_file)]
        return name, args

    async def provision(self, urls: list[str], bus: BusOptions) -> None:
        """As the operator: the batch and dead-letter streams and every consumer."""
        nc = await nats.connect(urls, **self.connect_kwargs(f"{TENANT}-operator"))
        try:
            js = nc.jetstream()
            opts = self.bus(bus)
            await ensure_streams(js, opts)
            for p in range(opts.partitions):
                await ensure_consumer(js, opts, p)
        finally:
            await nc.close()

    def note(self) -> str:
        m = self.cfg.manifest
        return (
            f"security: secure (NATS TLS 1.2+ with a local CA{', mTLS' if m.mtls else ''}; "
            f"static NKEY users with least-privilege permissions in tenant account {TENANT!r}; "
            f"JetStream store encrypted ({m.jetstream_cipher}); streams and consumers "
            f"provisioned by {TENANT}-operator, the historian binds as {TENANT}-ingest; "
            f"{m.bus.partitions} partitions so each of {self.collector_count} collector "
            "identities has its own subject; historian WAL and segments encrypted "
            "(AES-GCM key file); plant OPC UA servers Basic256Sha256 SignAndEncrypt with a "
            "user login (Modbus has no security); HTTP API, when served, over HTTPS (the "
            "deployment CA) with bearer tokens "
            f"(the load as read-scoped {TENANT}-api-reader); docs/security.md)"
        )
