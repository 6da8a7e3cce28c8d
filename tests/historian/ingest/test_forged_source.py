"""A collector that puts another source's ``source_id`` in its batch is refused by the ingest.

Through a real secured nats-server (``security init``: TLS, NKEY users with their
least-privilege permissions; this package's conftest, ``secured_ingest``):
``acme-collector-1`` may publish only on its own partition, so a forgery travels
there; the ingest (bind-only, as ``acme-ingest``) dead-letters it with reason
``wrong-source`` and acks it, stores none of its points, and stores the collector's
own batch beside it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from historian.bus.publisher import BatchPublisher
from historian.bus.subjects import partition_of
from historian.bus.wire import encode_batch
from historian.ingest.sources import SourceBinding
from historian.model import PointBatch
from tests.historian.ingest.conftest import SecuredIngest, dead_letters, wait_all_acked

pytestmark = [pytest.mark.service]


def _batch(series: int, n: int = 50) -> PointBatch:
    ts = np.arange(n, dtype=np.int64) * 1_000_000 + time.time_ns()
    return PointBatch.from_arrays(np.full(n, series), ts, np.linspace(0.0, 1.0, n))


def _made_up_source(partition: int, partitions: int, owners: set[str]) -> str:
    """A source nobody owns that routes to ``partition`` (passes the routing rule alone)."""
    for i in range(10_000):
        name = f"intruder-{i}"
        if partition_of(name, partitions) == partition and name not in owners:
            return name
    raise AssertionError("no such name")


async def test_a_forged_source_id_is_dead_lettered_never_stored(
    secured_ingest: SecuredIngest,
) -> None:
    s = secured_ingest
    cfg, server, sink, host, nc, ops = s.cfg, s.server, s.sink, s.host, s.collector, s.operator
    opts = cfg.manifest.bus
    me, other = (cfg.manifest.identity(f"acme-collector-{i}") for i in (1, 2))
    assert me.partition is not None and me.source_id and other.source_id
    assert me.partition != other.partition  # security init gave each its own partition
    intruder = _made_up_source(me.partition, opts.partitions, {me.source_id, other.source_id})
    publisher = BatchPublisher(nc, opts.batch_subject(me.partition), opts)
    # series 1: another collector's identity; 2: a made-up owner; 3: the real one
    for seq, (source, series) in enumerate(
        ((other.source_id, 1), (intruder, 2), (me.source_id, 3)), start=1
    ):
        payload = encode_batch(_batch(series), source_id=source, sequence=seq)
        await asyncio.wait_for(publisher.publish_and_wait(payload, f"{source}/{seq}"), 10)
    dead = await dead_letters(ops, opts.stream, opts.dead_letter_subject, 2)
    assert sorted(d["Twinbench-Reason"] for d in dead) == ["wrong-source"] * 2
    details = " ".join(d["Twinbench-Detail"] for d in dead)
    assert f"belongs to partition {other.partition}" in details  # the routing rule
    assert f"{intruder!r} is not an owner of partition {me.partition}" in details
    assert {d["Twinbench-Subject"] for d in dead} == {opts.batch_subject(me.partition)}
    worker = next(w for w in host.workers if w.partition == me.partition)
    deadline = time.monotonic() + 20
    while len(sink.series) < 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert set(sink.series) == {3} and len(sink.series) == 50  # only the genuine batch
    assert worker.metrics.wrong_source == 2 and worker.metrics.dead_lettered == 2
    await wait_all_acked(ops, opts, me.partition, deadline)  # all three acked, none pending
    assert "Violation" not in server.log_path.read_text()


def test_the_routing_rule_alone_and_the_owners_file() -> None:
    b = SourceBinding(3)
    home = partition_of("acme-collector-1", 3)
    assert b.refusal("acme-collector-1", home) is None
    assert "published on partition" in (b.refusal("acme-collector-1", (home + 1) % 3) or "")
    owned = SourceBinding(3, {home: frozenset({"acme-collector-1"})})
    stranger = _made_up_source(home, 3, {"acme-collector-1"})
    assert owned.refusal("acme-collector-1", home) is None
    assert "not an owner" in (owned.refusal(stranger, home) or "")


def test_serve_source_owners_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from historian.ingest.sources import write_source_owners
    from historian.server.cli import build_parser, config_from_args

    def parse(*argv: str):  # type: ignore[no-untyped-def]
        return config_from_args(build_parser("serve"), [str(tmp_path / "data"), *argv])

    nats_url = ("--nats", "nats://127.0.0.1:1")
    owners = tmp_path / "owners.json"
    write_source_owners(owners, 3, {"acme-collector-1": partition_of("acme-collector-1", 3)})
    cfg = parse(*nats_url, "--partitions", "3", "--source-owners", str(owners))
    assert cfg.sources is not None and cfg.sources.owners is not None
    assert parse(*nats_url).sources is None  # plain bus: no check
    seed = tmp_path / "acme-ingest.nk"
    seed.write_text("SU...\n")
    on = parse(*nats_url, "--nats-nkey", str(seed), "--partitions", "3").sources
    assert on == SourceBinding(3)  # an authenticated bus: the routing rule by default
    wrong = tmp_path / "wrong.json"
    wrong.write_text(owners.read_text().replace('"partitions": 3', '"partitions": 4'))
    for argv, says in (
        ([*nats_url, "--source-owners", str(owners)], "is for 3 partitions"),
        (
            [*nats_url, "--partitions", "3", "--source-owners", str(tmp_path / "no")],
            "--source-owners",
        ),
        ([*nats_url, "--partitions", "4", "--source-owners", str(wrong)], "routes to"),
    ):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2
        assert says in capsys.readouterr().err
