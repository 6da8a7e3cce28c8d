"""Key rotation through a real server: a rotated user's old seed is refused, the new one
accepted; a rotated store key still reads what the old key wrote."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import nats
import pytest

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.security.rotation import (
    forget_previous_jetstream_key,
    rotate_jetstream_key,
    rotate_user,
)
from harness.services import NatsServer
from tests.harness.security.conftest import provision, refused

pytestmark = [pytest.mark.service]


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    directory = tmp_path / "dep"
    init_deployment(directory, InitOptions(tenants=("acme",), collectors=1))
    return directory


def serve(directory: Path, base: Path) -> tuple[NatsServer, SecureNatsConfig]:
    cfg = SecureNatsConfig.load(directory)
    return NatsServer(base, **cfg.server_kwargs(base)), cfg


async def test_rotated_user_old_seed_is_refused_and_new_seed_accepted(
    fresh: Path, tmp_path: Path
) -> None:
    name = "acme-collector-1"
    old_seed = tmp_path / "old.nk"
    shutil.copy(fresh / "users" / f"{name}.nk", old_seed)
    before = SecureNatsConfig.load(fresh).manifest.identity(name)

    updated = rotate_user(fresh, name, days=30)
    after = updated.identity(name)
    assert after.public_key != before.public_key
    assert (fresh / "users" / f"{name}.nk").read_bytes() != old_seed.read_bytes()

    server, cfg = serve(fresh, tmp_path / "nats")
    with server:
        kwargs = cfg.connect_kwargs(name)
        nc = await nats.connect(server.url, allow_reconnect=False, **kwargs)
        await nc.close()
        stale = {**kwargs, "nkeys_seed": str(old_seed)}
        exc = await refused(server.url, **stale)
        assert "authorization violation" in str(exc).lower()


async def test_rotated_store_key_still_reads_messages_written_under_the_old_one(
    fresh: Path, tmp_path: Path
) -> None:
    server, cfg = serve(fresh, tmp_path / "nats")
    opts = cfg.manifest.bus
    ident = cfg.manifest.identity("acme-collector-1")
    assert ident.partition is not None
    with server:
        await provision(cfg, server, ("acme",))
        nc = await nats.connect(server.url, **cfg.connect_kwargs(ident.name))
        ack = await nc.jetstream().publish(
            opts.batch_subject(ident.partition), b"old key", timeout=5
        )
        await nc.close()
        server.stop()

        rotate_jetstream_key(fresh)
        assert "prev_encryption_key" in (fresh / "jetstream-key.conf").read_text()
        server.restart()
        nc = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
        assert (await nc.jetstream().get_msg(opts.stream, ack.seq)).data == b"old key"
        await nc.close()

        server.stop()
        forget_previous_jetstream_key(fresh)
        assert "prev_encryption_key" not in (fresh / "jetstream-key.conf").read_text()
        server.restart()  # the new key alone opens the store now
        nc = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
        assert (await nc.jetstream().get_msg(opts.stream, ack.seq)).data == b"old key"
        await nc.close()


async def test_rotated_user_takes_effect_on_a_reload_without_a_restart(
    fresh: Path, tmp_path: Path
) -> None:
    name = "acme-collector-1"
    server, cfg = serve(fresh, tmp_path / "nats")
    with server:
        pid = server.pid
        old_seed = tmp_path / "old.nk"
        shutil.copy(fresh / "users" / f"{name}.nk", old_seed)  # rotation overwrites the file
        old = {**cfg.connect_kwargs(name), "nkeys_seed": str(old_seed)}
        await (await nats.connect(server.url, allow_reconnect=False, **old)).close()
        old_session = await nats.connect(server.url, allow_reconnect=False, **old)
        other = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))

        rotate_user(fresh, name, days=30)
        rotated = SecureNatsConfig.load(fresh)
        server.extra_config = rotated.extra_config()
        server.reload()

        assert server.pid == pid and other.is_connected  # reloaded in place
        # nats-server re-checks every connection on reload and drops those whose key
        # is gone: the session opened with the old seed ends without a restart
        deadline = asyncio.get_running_loop().time() + 10
        while not old_session.is_closed:
            assert asyncio.get_running_loop().time() < deadline, "old session still open"
            with contextlib.suppress(Exception):
                await old_session.flush(timeout=0.1)  # type: ignore[arg-type]  # nats-py says int; floats work
            await asyncio.sleep(0.02)
        await other.close()
        exc = await refused(server.url, **old)
        assert "authorization violation" in str(exc).lower()
        nc = await nats.connect(server.url, allow_reconnect=False, **rotated.connect_kwargs(name))
        await nc.close()
