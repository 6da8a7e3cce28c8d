"""Shared pytest fixtures: real services on loopback (see harness/services).

Scopes follow start-up cost and statefulness:

- `nats_server` (function): a fresh single-node nats-server with JetStream per
  test, in `tmp_path`. Starts in well under a second, and tests kill, restart
  and fill it, so sharing would couple tests.
- `nats_cluster` (module): 3 routed nodes, JetStream R3, meta leader elected.
  About a second to start; shared by the tests of one module. A test that
  kills a node must restart it (or use its own `NatsCluster`).
- `s3_server` (session): moto S3; state is per bucket, so tests use
  `s3_bucket` (function), a fresh uniquely named bucket.
- `postgres_server` (session): initdb + start take seconds; tests isolate by
  using `postgres_db` (function), a fresh database dropped afterwards.

Every fixture stops its processes by PID in a finalizer, also when the test
fails; `harness.services.process` adds an atexit sweep for anything left.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import NatsCluster, NatsServer, PostgresServer, S3Server


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-cluster"), size=3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the session's S3 server."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server
    finally:
        server.close()


_db_counter = itertools.count()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[str]:
    """DSN of a fresh database on the session's PostgreSQL, dropped after the test."""
    import psycopg

    name = f"test_{next(_db_counter)}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
