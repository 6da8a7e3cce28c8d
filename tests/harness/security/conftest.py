"""A generated deployment and a real nats-server running it (TLS, NKEY users, accounts).

One deployment and one server per module keep the tests fast; tests that need a
differently configured server (mTLS, expiry, encryption control) start their
own on port 0 in their tmp dir. Every server is stopped by PID in a finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.services import NatsServer
from historian.bus.stream import ensure_consumer, ensure_streams

TENANTS = ("acme", "globex")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> SecureNatsConfig:
    directory = tmp_path_factory.mktemp("security") / "dep"
    init_deployment(directory, InitOptions(tenants=TENANTS, collectors=2))
    return SecureNatsConfig.load(directory)


def start_server(cfg: SecureNatsConfig, base: Path, **kwargs: Any) -> NatsServer:
    server = NatsServer(base, **cfg.server_kwargs(base, **kwargs))
    server.start()
    return server


@pytest.fixture(scope="module")
def secure_server(
    deployment: SecureNatsConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsServer]:
    server = start_server(deployment, tmp_path_factory.mktemp("secure-nats"))
    try:
        asyncio.run(provision(deployment, server, TENANTS))
        yield server
    finally:
        server.close()


async def provision(cfg: SecureNatsConfig, server: NatsServer, tenants: tuple[str, ...]) -> None:
    """What an operator does once per tenant: create the streams and durable consumers."""
    opts = cfg.manifest.bus
    for tenant in tenants:
        nc = await nats.connect(server.url, **cfg.connect_kwargs(f"{tenant}-operator"))
        try:
            js = nc.jetstream()
            await ensure_streams(js, opts)
            for partition in range(opts.partitions):
                await ensure_consumer(js, opts, partition)
        finally:
            await nc.close()


class Recorded:
    """Errors nats-py reports asynchronously (permission violations arrive this way)."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    async def record(self, exc: Exception) -> None:
        self.errors.append(exc)

    def texts(self) -> list[str]:
        return [str(e) for e in self.errors]

    async def wait_for(self, needle: str, timeout_s: float = 10.0) -> str:
        """The first error containing ``needle``, lowercased (nats-py lowercases the
        server's -ERR text: subjects come back as ``$js.api...``)."""
        needle = needle.lower()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for text in self.texts():
                if needle in text.lower():
                    return text.lower()
            await asyncio.sleep(0.01)
        raise AssertionError(f"no error containing {needle!r} within {timeout_s}s: {self.texts()}")


Connect = Callable[[str], contextlib.AbstractAsyncContextManager[tuple[NATS, Recorded]]]
"""The ``connect`` fixture: ``async with connect(user) as (nc, errors)``."""


@pytest.fixture
def connect(secure_server: NatsServer, deployment: SecureNatsConfig) -> Connect:
    """``async with connect("acme-collector-1") as (nc, errors)``: that user on the server."""

    @contextlib.asynccontextmanager
    async def _connect(name: str) -> AsyncIterator[tuple[NATS, Recorded]]:
        errors = Recorded()
        nc = await nats.connect(
            secure_server.url,
            error_cb=errors.record,
            allow_reconnect=False,
            connect_timeout=5,
            **deployment.connect_kwargs(name),
        )
        try:
            yield nc, errors
        finally:
            await nc.close()

    return _connect


async def refused(url: str, **kwargs: Any) -> Exception:
    """Try one connection without retries; return what it failed with (fail if it connected)."""
    errors = Recorded()
    try:
        nc = await nats.connect(
            url,
            error_cb=errors.record,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=5,
            **kwargs,
        )
    except Exception as exc:
        return exc
    await nc.close()
    raise AssertionError(f"connection with {sorted(kwargs)} was accepted")


async def wait_log(server: NatsServer, text: str, timeout_s: float = 10.0) -> None:
    """Until nats-server's log holds ``text``: it logs a refusal about when the client sees
    it, not necessarily before, so a log check right after the refusal could race."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while text not in server.log_path.read_text(errors="replace"):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{text!r} not in {server.log_path} within {timeout_s}s")
        await asyncio.sleep(0.02)
