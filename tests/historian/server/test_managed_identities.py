"""Managed connections on a secured bus: each collector connects as its own identity.

Through a real secured nats-server (``security init --managed 2``: TLS, NKEY users,
least-privilege allow-lists) and a real Modbus plant: a :class:`ConnectionManager` with
the server's own identity (``acme-ingest``) and the pool adds a connection; its
collector process runs with ``acme-managed-1``'s seed, never the server's, and its
batches land in the stream on that identity's own partition subject. With the very
credentials on its command line, a publish to ``acme-managed-2``'s subject is denied.
A second connection gets the other identity; a third finds the pool used up (409), and
a secured server without a pool refuses connections (409) rather than lend its own.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment, managed_identities_path
from harness.services import NatsServer
from historian.bus.auth import NatsAuth, nats_auth_from_args
from historian.bus.subjects import partition_of
from historian.collect.process import add_collector_arguments
from historian.server.connection_spec import ConnectionConflict, ConnectionPolicy
from historian.server.connections import ConnectionManager
from historian.server.managed_identities import IdentityPool
from sim.catalogue_gen import generate_oilfield
from sim.servers.launch import ServerProcess, start_servers, stop_servers
from sim.tags import dump_catalogue
from tests.historian.ingest.conftest import provision

pytestmark = [pytest.mark.service]

PATTERN = "acme.permian.field_01.pad_01.well_0001.*"
DEADLINE_S = 60.0


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    catalogue = tmp_path / "plant" / "catalogue.toml"
    catalogue.parent.mkdir()
    dump_catalogue(generate_oilfield(1, seed=5, name="managed"), catalogue)
    procs = start_servers(catalogue, speed=1.0, seed=5, workdir=catalogue.parent)
    try:
        yield procs[0], catalogue
    finally:
        stop_servers(procs)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[SecureNatsConfig, NatsServer]]:
    init_deployment(tmp_path / "sec", InitOptions(collectors=1, managed=2))
    cfg = SecureNatsConfig.load(tmp_path / "sec")
    server = NatsServer(tmp_path / "nats", **cfg.server_kwargs(tmp_path / "nats"))
    server.start()
    try:
        asyncio.run(provision(cfg, server))
        yield cfg, server
    finally:
        server.close()


def _cmdline(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]


def _collector_args(argv: list[str]) -> argparse.Namespace:
    """The spawned collector's options, parsed as it parses them."""
    ap = argparse.ArgumentParser()
    add_collector_arguments(ap)
    ap.add_argument("--catalogue")
    ap.add_argument("--pattern")
    ap.add_argument("--tags-file")
    ap.add_argument("--drain-only", action="store_true")
    return ap.parse_args(argv[argv.index("historian.collect") + 1 :])


async def test_a_managed_collector_publishes_as_its_own_identity_only(
    secured: tuple[SecureNatsConfig, NatsServer],
    plant: tuple[ServerProcess, Path],
    tmp_path: Path,
) -> None:
    cfg, server = secured
    node, catalogue = plant
    opts = cfg.manifest.bus
    pool = IdentityPool.load(managed_identities_path(cfg.directory, "acme"))
    assert [i.name for i in pool.identities] == ["acme-managed-1", "acme-managed-2"]
    mine, theirs = (cfg.manifest.identity(i.name) for i in pool.identities)
    assert mine.partition is not None and theirs.partition is not None
    assert mine.partition != theirs.partition  # security init gave each its own subject
    ingest = cfg.manifest.identity("acme-ingest")
    own_auth = NatsAuth(
        nkey_seed=cfg.path(ingest.seed_file), tls_ca=cfg.path(cfg.manifest.tls.ca_cert)
    )
    manager = ConnectionManager(
        tmp_path / "data", server.url, catalogue, ConnectionPolicy(False, 3),
        partitions=opts.partitions, stream=opts.stream, auth=own_auth, identities=pool,
    )  # fmt: skip
    (tmp_path / "data").mkdir()
    await manager.start()
    ops = await nats.connect(server.url, **cfg.connect_kwargs("acme-operator"))
    denied: list[str] = []

    async def on_error(exc: Exception) -> None:
        denied.append(str(exc))

    try:
        doc = {"endpoint": f"modbus://127.0.0.1:{node.modbus_port}", "pattern": PATTERN}
        first = await manager.add({**doc, "id": "mb1", "interval_s": 0.5})
        argv = _cmdline(int(first["pid"]))
        args = _collector_args(argv)
        auth = nats_auth_from_args(args)
        assert auth.nkey_seed == cfg.path(mine.seed_file)  # its own seed, not the server's
        assert str(cfg.path(ingest.seed_file)) not in argv
        assert args.source_id == mine.source_id
        # GET /api/v1/connections shows which identity it runs as, never the seed
        assert first["identity"] == {"name": mine.name, "source_id": mine.source_id}
        assert "seed" not in str(first["identity"])
        assert partition_of(args.source_id, args.partitions) == mine.partition
        # its batches arrive on its own partition subject (the ingest would accept them)
        own_subject = opts.batch_subject(mine.partition)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            info = await ops.jetstream().stream_info(opts.stream, subjects_filter=own_subject)
            if info.state.subjects and info.state.subjects.get(own_subject, 0) > 0:
                break
            assert time.monotonic() < deadline, manager.health("mb1")
            await asyncio.sleep(0.2)
        # the same credentials may not publish on another managed collector's subject
        nc = await nats.connect(server.url, error_cb=on_error, **auth.connect_kwargs())
        try:
            other_subject = opts.batch_subject(theirs.partition)
            with pytest.raises(nats.errors.TimeoutError):
                await nc.jetstream().publish(other_subject, b"forged", timeout=1.0)
            while not any("permissions violation" in d.lower() for d in denied):
                assert time.monotonic() < deadline, denied
                await asyncio.sleep(0.05)
            assert any(f'publish to "{other_subject}"' in d for d in denied), denied
            info = await ops.jetstream().stream_info(opts.stream, subjects_filter=other_subject)
            assert not (info.state.subjects or {}).get(other_subject)  # nothing stored there
        finally:
            await nc.close()
        second = await manager.add({**doc, "id": "mb2"})
        args2 = _collector_args(_cmdline(int(second["pid"])))
        assert args2.source_id == theirs.source_id  # the next free identity
        with pytest.raises(ConnectionConflict, match="identities is held"):
            await manager.add({**doc, "id": "mb3"})
        persisted = (tmp_path / "data" / "connections.json").read_text()
        assert '"identity": "acme-managed-1"' in persisted
        assert '"identity": "acme-managed-2"' in persisted
    finally:
        await ops.close()
        await manager.stop()
    no_pool = ConnectionManager(
        tmp_path / "other", server.url, catalogue, ConnectionPolicy(False, 3),
        partitions=opts.partitions, auth=own_auth,
    )  # fmt: skip
    (tmp_path / "other").mkdir()
    with pytest.raises(ConnectionConflict, match="--managed-identities"):
        await no_pool.add({"endpoint": "modbus://127.0.0.1:1", "pattern": PATTERN, "id": "x"})


def test_serve_checks_the_pool_file_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from historian.server.cli import build_parser, config_from_args

    init_deployment(tmp_path / "sec", InitOptions(collectors=1, managed=1))
    pool = managed_identities_path(tmp_path / "sec", "acme")
    nats_url = ["--nats", "nats://127.0.0.1:1"]

    def parse(*argv: str) -> object:
        return config_from_args(build_parser("serve"), [str(tmp_path / "data"), *argv])

    assert parse(*nats_url, "--managed-identities", str(pool))
    (tmp_path / "sec" / "users" / "acme-managed-1.nk").unlink()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else", "version": 1}')
    for argv, says in (
        ([*nats_url, "--managed-identities", str(pool)], "acme-managed-1.nk: no such file"),
        ([*nats_url, "--managed-identities", str(bad)], "not a version 1"),
        ([*nats_url, "--managed-identities", str(tmp_path / "none.json")], "none.json"),
        (["--managed-identities", str(bad)], "needs --nats"),
    ):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
