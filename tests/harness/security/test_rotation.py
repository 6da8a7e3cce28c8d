"""Key rotation through a real server: a rotated user's old seed is refused, the new one
accepted; a rotated store key still reads what the old key wrote."""

from __future__ import annotations

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
