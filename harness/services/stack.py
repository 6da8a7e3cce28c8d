"""The embedded service stack: NATS (+JetStream), S3 and PostgreSQL started together.

`EmbeddedStack.from_config(cfg)` starts only the services the config marks as
embedded and enabled; `endpoints` then answers with the embedded ones and the
config's external ones alike, so callers never care which is which. Services
start in parallel threads (PostgreSQL's initdb and moto's import are the slow
parts and mostly wait on disk and the interpreter, not on each other).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

from harness.config import TwinbenchConfig
from harness.services.lifecycle import OwnedDirService
from harness.services.nats import NatsCluster, NatsServer
from harness.services.postgres import PostgresServer
from harness.services.s3 import S3Server

__all__ = ["EmbeddedStack", "StackEndpoints"]


@dataclass(frozen=True)
class StackEndpoints:
    """Where each service is, embedded or external (None = service disabled)."""

    nats_urls: tuple[str, ...] | None
    s3_endpoint: str | None
    s3_bucket: str | None
    s3_access_key: str | None
    s3_secret_key: str | None
    s3_region: str | None
    postgres_dsn: str | None
    historian_data_dir: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EmbeddedStack(OwnedDirService):
    """Starts the embedded services of a config; a context manager that stops them all."""

    def __init__(self, config: TwinbenchConfig | None = None, base_dir: Path | None = None) -> None:
        self.config = config if config is not None else TwinbenchConfig()
        self._use_dir(base_dir, "twinbench-stack-")
        cfg = self.config
        self.nats: NatsServer | NatsCluster | None = None
        if cfg.nats.enabled and cfg.nats.embedded:
            if cfg.nats.cluster_size == 1:
                self.nats = NatsServer(self.base_dir / "nats")
            else:
                self.nats = NatsCluster(self.base_dir / "nats", size=cfg.nats.cluster_size)
        self.s3 = S3Server(self.base_dir / "s3") if cfg.s3.enabled and cfg.s3.embedded else None
        self.postgres = (
            PostgresServer(self.base_dir / "postgres")
            if cfg.postgres.enabled and cfg.postgres.embedded
            else None
        )

    @classmethod
    def from_config(cls, config: TwinbenchConfig, base_dir: Path | None = None) -> Self:
        return cls(config, base_dir)

    @property
    def services(self) -> list[NatsServer | NatsCluster | S3Server | PostgresServer]:
        return [s for s in (self.nats, self.s3, self.postgres) if s is not None]

    @property
    def pids(self) -> list[int]:
        pids: list[int] = []
        for svc in self.services:
            if isinstance(svc, NatsCluster):
                pids += svc.pids
            elif svc.running:
                pids.append(svc.pid)
        return pids

    @property
    def log_paths(self) -> list[Path]:
        paths: list[Path] = []
        for svc in self.services:
            paths += svc.log_paths if isinstance(svc, NatsCluster) else [svc.log_path]
        return paths

    def start(self) -> Self:
        services = self.services
        if not services:
            return self
        with ThreadPoolExecutor(
            max_workers=len(services), thread_name_prefix="stack-start"
        ) as pool:
            futures = [pool.submit(svc.start) for svc in services]
            errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            self.stop()
            raise failed[0]
        if self.s3 is not None:
            self.s3.create_bucket(self.config.s3.bucket)
        return self

    @property
    def endpoints(self) -> StackEndpoints:
        cfg = self.config
        nats_urls: tuple[str, ...] | None = None
        if cfg.nats.enabled:
            if isinstance(self.nats, NatsCluster):
                nats_urls = tuple(self.nats.urls)
            elif isinstance(self.nats, NatsServer):
                nats_urls = (self.nats.url,)
            else:
                nats_urls = cfg.nats.urls
        s3_fields: tuple[str | None, ...] = (None,) * 5
        if self.s3 is not None:
            s3 = self.s3
            s3_fields = (s3.endpoint, cfg.s3.bucket, s3.access_key, s3.secret_key, s3.region)
        elif cfg.s3.enabled:
            s3c = cfg.s3
            s3_fields = (s3c.endpoint, s3c.bucket, s3c.access_key, s3c.secret_key, s3c.region)
        dsn: str | None = None
        if self.postgres is not None:
            dsn = self.postgres.dsn
        elif cfg.postgres.enabled:
            dsn = cfg.postgres.dsn
        data_dir = cfg.historian.data_dir
        return StackEndpoints(
            nats_urls=nats_urls,
            s3_endpoint=s3_fields[0],
            s3_bucket=s3_fields[1],
            s3_access_key=s3_fields[2],
            s3_secret_key=s3_fields[3],
            s3_region=s3_fields[4],
            postgres_dsn=dsn,
            historian_data_dir=str(data_dir) if data_dir is not None else None,
        )

    def stop(self) -> None:
        # Reverse order of the data flow: consumers of NATS are outside the stack.
        for svc in reversed(self.services):
            svc.stop()

    def close(self) -> None:
        for svc in reversed(self.services):
            svc.close()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
