"""historian.bus.cluster against a real nats-server: server lists, create-if-missing, leaders;
and ``historian serve --replicas``."""

from __future__ import annotations

import dataclasses
import doctest
import time
from pathlib import Path

import nats
import nats.js.errors
import pytest

import historian.bus.cluster
from harness.services import NatsCluster, NatsServer
from historian.bus.cluster import create_stream_if_missing, server_list, stream_leader
from historian.bus.options import BusOptions
from historian.server.cli import build_parser, config_from_args

pytestmark = [pytest.mark.service]


def test_docstring_examples() -> None:
    result = doctest.testmod(historian.bus.cluster)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("nats://a:1", ["nats://a:1"]),
        ("nats://a:1,nats://b:2, nats://c:3 ,", ["nats://a:1", "nats://b:2", "nats://c:3"]),
        (["nats://a:1", " "], ["nats://a:1"]),
    ],
)
def test_server_list_splits_and_drops_blanks(given: str | list[str], expected: list[str]) -> None:
    assert server_list(given) == expected


@pytest.mark.parametrize("given", ["", " , ", []])
def test_server_list_refuses_no_url(given: str | list[str]) -> None:
    with pytest.raises(ValueError, match="no NATS server URL"):
        server_list(given)


async def test_create_if_missing_creates_once_and_never_updates(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        opts = BusOptions(max_bytes=64 * 1024**2)
        info = await create_stream_if_missing(js, opts)
        assert info.config.max_bytes == 64 * 1024**2
        assert (await js.stream_info(f"{opts.stream}_DLQ")).config.name == f"{opts.stream}_DLQ"
        # another component with other limits must not change the deployed stream
        again = await create_stream_if_missing(js, dataclasses.replace(opts, max_bytes=2**20))
        assert again.config.max_bytes == 64 * 1024**2
        assert await stream_leader(js, opts.stream) == nats_server.name  # it leads alone
    finally:
        await nc.close()


async def test_a_refused_config_raises_at_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        # R3 on a single node: not an election, a config the server refuses
        t0 = time.monotonic()
        with pytest.raises(nats.js.errors.APIError, match="non-clustered"):
            await create_stream_if_missing(nc.jetstream(), BusOptions(replicas=3), timeout_s=30)
        assert time.monotonic() - t0 < 10, "a config error must not be retried like an election"
    finally:
        await nc.close()


async def test_r3_stream_on_a_cluster_has_a_leader(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "c", size=3).start()
    try:
        # a list of all node URLs, as every twinbench component is given it
        nc = await nats.connect(server_list(",".join(cluster.urls)))
        try:
            info = await create_stream_if_missing(nc.jetstream(), BusOptions(replicas=3))
            assert info.config.num_replicas == 3
            leader = await stream_leader(nc.jetstream(), info.config.name or "")
            assert leader in {n.name for n in cluster.nodes}
        finally:
            await nc.close()
    finally:
        cluster.close()


def test_serve_takes_replicas_and_refuses_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_from_args(build_parser("serve"), ["/tmp/x", "--nats", "a,b,c", "--replicas", "3"])
    assert cfg.bus.replicas == 3
    with pytest.raises(SystemExit) as exc:
        config_from_args(build_parser("serve"), ["/tmp/x", "--replicas", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--replicas must be 1..5" in err[0]
