"""How services use a generated deployment: server config text and per-role connect kwargs.

    cfg = SecureNatsConfig.load(Path("sec"))
    server = NatsServer(base, **cfg.server_kwargs(base)).start()
    nc = await nats.connect(server.url, **cfg.connect_kwargs("acme-collector-1"))

Plain mode stays the default everywhere: nothing here is used unless a caller
loads a deployment directory.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from harness.security.identities import Identity
from harness.security.manifest import SecurityManifest
from harness.security.nats_config import ServerTls, jetstream_block, render_server_config
from harness.security.pki import client_ssl_context

__all__ = ["NatsServerConfig", "SecureNatsConfig"]


class NatsServerConfig(TypedDict, total=False):
    """The :class:`harness.services.NatsServer` keyword arguments a deployment sets
    (``**`` them into it; ``{}`` is a plain server's)."""

    extra_config: str
    jetstream_config: str


@dataclass(frozen=True)
class SecureNatsConfig:
    directory: Path
    manifest: SecurityManifest

    @classmethod
    def load(cls, directory: Path) -> SecureNatsConfig:
        directory = directory.resolve()
        return cls(directory, SecurityManifest.load(directory))

    def path(self, relative: str) -> Path:
        return self.directory / relative

    # -- server side ---------------------------------------------------------
    def server_tls(self, *, mtls: bool | None = None) -> ServerTls:
        tls = self.manifest.tls
        return ServerTls(
            cert_file=self.path(tls.server_cert),
            key_file=self.path(tls.server_key),
            ca_file=self.path(tls.ca_cert),
            verify_clients=self.manifest.mtls if mtls is None else mtls,
        )

    def extra_config(
        self, *, now: dt.datetime | None = None, mtls: bool | None = None, tls: bool = True
    ) -> str:
        """TLS block and accounts; identities expired at ``now`` are left out.
        ``tls=False`` (measurements only: what TLS costs) leaves the TLS block out."""
        return render_server_config(
            self.manifest.identities,
            self.manifest.tenants,
            self.manifest.bus,
            self.server_tls(mtls=mtls) if tls else None,
            now=now,
        )

    def jetstream_config(self, config_dir: Path) -> str:
        """Store encryption lines for a server whose config file is in ``config_dir``
        (nats-server resolves ``include`` relative to the including file, even a path
        that starts with ``/``)."""
        key_file = self.path(self.manifest.jetstream_key_file)
        return jetstream_block(
            self.manifest.jetstream_cipher,
            Path(os.path.relpath(key_file, config_dir.resolve())),
        )

    def server_kwargs(
        self,
        server_dir: Path,
        *,
        now: dt.datetime | None = None,
        mtls: bool | None = None,
        tls: bool = True,
        encrypt_store: bool = True,
    ) -> NatsServerConfig:
        """``extra_config`` and ``jetstream_config`` for a :class:`NatsServer` whose
        ``base_dir`` is ``server_dir``. ``tls``/``encrypt_store`` off are for measuring
        what each costs (benchmarks/bench_secure_bus.py), not for deployments."""
        return {
            "extra_config": self.extra_config(now=now, mtls=mtls, tls=tls),
            "jetstream_config": self.jetstream_config(server_dir) if encrypt_store else "",
        }

    # -- client side ---------------------------------------------------------
    def tls_context(self, identity: Identity | None = None) -> ssl.SSLContext:
        """Verifies the server; with ``identity`` also presents its client certificate."""
        ca = self.path(self.manifest.tls.ca_cert)
        if identity is None or identity.cert_file is None or identity.key_file is None:
            return client_ssl_context(ca)
        return client_ssl_context(ca, self.path(identity.cert_file), self.path(identity.key_file))

    def connect_kwargs(
        self, name: str, *, mtls: bool | None = None, tls: bool = True
    ) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` as user ``name``: its NKEY seed file,
        a TLS context (with its client certificate when the deployment, or ``mtls``,
        says mTLS) and its own reply-inbox prefix (the only inboxes it may subscribe to)."""
        identity = self.manifest.identity(name)
        with_cert = self.manifest.mtls if mtls is None else mtls
        kwargs: dict[str, Any] = {
            "nkeys_seed": str(self.path(identity.seed_file)),
            "inbox_prefix": identity.inbox_prefix,
        }
        if tls:
            kwargs["tls"] = self.tls_context(identity if with_cert else None)
        return kwargs
