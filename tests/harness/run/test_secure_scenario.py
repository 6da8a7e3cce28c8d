"""``twinbench scenario run NAME --secure``: the whole stack authenticated, TLS, encrypted.

One short bursty run (8 s of load) as the secure profile: it must pass its correctness
thresholds, state its security mode, and the nats-server it ran must really have
required TLS and credentials (probed while the run's server was up), the
historian's store must be unreadable without its key.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from harness.cli.app import build_app
from harness.run.runner import ScenarioRunner
from harness.scenario import MetricKey
from historian import Historian, Options
from historian.crypto.keyfile import EncryptionKeyError
from scenarios import get

pytestmark = [pytest.mark.service, pytest.mark.slow]


async def refusal(url: str, **kwargs: object) -> Exception | None:
    """What one connection attempt without retries failed with (None: it was accepted)."""
    try:
        nc = await nats.connect(
            url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5, **kwargs
        )
    except Exception as exc:
        return exc
    await nc.close()
    return None


def short_bursty(load_s: float = 8.0):  # type: ignore[no-untyped-def]
    from harness.cli.scenario import _rescaled

    scenario = get("bursty", short=True)
    return dataclasses.replace(_rescaled(scenario, load_s / scenario.duration_s), seed=7)


def test_secure_run_passes_and_its_bus_required_tls_and_credentials(tmp_path: Path) -> None:
    runner = ScenarioRunner(
        short_bursty(), reports_root=tmp_path / "reports", work_dir=tmp_path / "work", secure=True
    )
    assert runner.secure is not None
    probes: dict[str, Exception | None] = {}
    start = runner.stack.start

    async def start_and_probe() -> None:
        await start()
        url = runner.stack.nats.url
        assert runner.secure is not None
        probes["plain"] = await refusal(url)
        probes["tls, no credentials"] = await refusal(url, tls=runner.secure.cfg.tls_context())
        # a real identity over TLS is accepted (the probe itself works)
        probes["reader"] = await refusal(url, **runner.secure.connect_kwargs("acme-reader"))

    runner.stack.start = start_and_probe  # type: ignore[method-assign]
    report, _ = asyncio.run(runner.run())

    assert probes["reader"] is None, probes
    assert probes["plain"] is not None and probes["tls, no credentials"] is not None, probes
    assert "authorization" in str(probes["tls, no credentials"]).lower(), probes
    results = {t["metric"]: t for t in report.thresholds}
    for key in (MetricKey.ACKED_LOST, MetricKey.DUPLICATED, MetricKey.CHANGED):
        assert results[key]["passed"], results[key]
        assert results[key]["value"] == 0
    produced = report.metrics["accounting.total.produced"]
    assert produced is not None and produced > 0
    assert report.metrics["accounting.total.stored"] == produced
    assert report.metrics["security.mode"] == 1.0
    assert any(n.startswith("security: secure") for n in report.notes), report.notes
    # the loadgen published as its collector identity, on that identity's partition only
    assert runner.source_id == "acme-collector-1"
    assert "Violation" not in (tmp_path / "work" / "nats" / "nats.log").read_text()
    with pytest.raises(EncryptionKeyError):  # the store is encrypted at rest
        Historian.open(str(tmp_path / "work" / "historian"), Options())


def test_secure_refuses_what_it_cannot_run_yet(tmp_path: Path) -> None:
    app = build_app()
    for name, why in (("failover", "one nats-server"), ("replay", "its own services")):
        result = CliRunner().invoke(
            app, ["scenario", "run", name, "--short", "--secure", "--reports", str(tmp_path)]
        )
        assert result.exit_code == 2, result.output
        assert why in result.output


def test_plant_collectors_get_their_identity_and_a_secure_opcua_session(tmp_path: Path) -> None:
    import argparse

    from harness.run.secure_profile import SecureProfile
    from historian.bus.auth import nats_auth_from_args
    from historian.collect.process import add_collector_arguments, opcua_security
    from historian.opcua.security import load_users, verify_password

    profile = SecureProfile(tmp_path, collectors=3)
    ap = argparse.ArgumentParser()
    add_collector_arguments(ap)
    base = ["--endpoint", "opc.tcp://127.0.0.1:1", "--nats", "nats://127.0.0.1:1"]
    seen = set()
    for index, protocol in ((0, "modbus"), (1, "opcua")):
        source_id, extra = profile.plant_collector_args(index, protocol)
        args = ap.parse_args(
            [*base, "--protocol", protocol, "--spool", str(tmp_path / f"s{index}" / "spool"),
             "--source-id", source_id, *extra]
        )  # fmt: skip
        seen.add(source_id)
        assert source_id == f"acme-collector-{index + 2}"  # the load generator is -1
        auth = nats_auth_from_args(args)
        assert auth.nkey_seed is not None and auth.nkey_seed.stem == source_id
        assert auth.tls_ca is not None and args.partitions == profile.partitions
        if protocol == "opcua":
            session = opcua_security(args)
            assert session.mode == "SignAndEncrypt" and session.username == "collector"
            users = load_users(profile.opcua_users)
            assert session.password is not None
            assert verify_password(users["collector"], session.password)
        else:
            assert args.opcua_security == "none"
    assert len(seen) == 2


def test_the_historian_consumes_only_owned_partitions_and_checks_their_owners(
    tmp_path: Path,
) -> None:
    from harness.run.secure_profile import SecureProfile
    from historian.ingest.sources import load_source_owners

    profile = SecureProfile(tmp_path, collectors=6)
    args = profile.historian_args()
    owned = [int(args[i + 1]) for i, a in enumerate(args) if a == "--partition"]
    assert owned == profile.owned_partitions and len(owned) == profile.collector_count == 6
    assert profile.partitions > 6  # security init needed more to give each its own
    binding = load_source_owners(Path(args[args.index("--source-owners") + 1]))
    assert binding.partitions == profile.partitions and binding.owners is not None
    names = {profile.collector_name(i) for i in range(6)}
    assert {s for owners in binding.owners.values() for s in owners} == names
    assert sorted(binding.owners) == owned


def test_mtls_profile_gives_every_process_its_certificate_and_the_server_demands_one(
    tmp_path: Path,
) -> None:
    from harness.run.secure_profile import SecureProfile
    from harness.services import NatsServer

    profile = SecureProfile(tmp_path, collectors=2, mtls=True)
    name = profile.collector_name(1)
    _, plant_args = profile.plant_collector_args(0, "modbus")
    for args, who in ((profile.historian_args(), "acme-ingest"), (plant_args, name)):
        assert args[args.index("--nats-tls-cert") + 1].endswith(f"users/{who}.crt")
        assert args[args.index("--nats-tls-key") + 1].endswith(f"users/{who}.key")
    server = NatsServer(tmp_path / "nats", **profile.server_kwargs(tmp_path / "nats"))
    server.start()
    try:
        seed = str(profile.cfg.path(profile.cfg.manifest.identity(name).seed_file))
        no_cert = {"nkeys_seed": seed, "tls": profile.cfg.tls_context()}
        assert asyncio.run(refusal(server.url, **no_cert)) is not None  # its NKEY alone: refused
        assert asyncio.run(refusal(server.url, **profile.connect_kwargs(name))) is None
    finally:
        server.close()
    result = CliRunner().invoke(build_app(), ["scenario", "run", "bursty", "--mtls"])
    assert result.exit_code == 2 and "give both" in result.output, result.output


def test_bind_series_gives_the_load_and_each_plant_collector_its_own_series(
    tmp_path: Path,
) -> None:
    import numpy as np

    from harness.plant.plant_load import PlantLoad
    from harness.run.secure_profile import SecureProfile
    from historian.ingest.sources import load_source_owners

    plant = PlantLoad(tmp_path / "plant", "normal", 7)
    per_plant = plant.collector_series()
    profile = SecureProfile(tmp_path, collectors=1 + len(per_plant))
    load = list(range(1_000_001, 1_000_101))
    profile.bind_series(load, plant)
    args = profile.historian_args()
    binding = load_source_owners(Path(args[args.index("--source-owners") + 1]))
    assert binding.series is not None and binding.owners is not None
    for i, ids in enumerate([load, *per_plant]):
        name = profile.collector_name(i)
        mine = np.array(ids, dtype=np.uint32)
        assert binding.check(name, profile.cfg.manifest.identity(name).partition or 0, mine) is None
        others = [s for j, o in enumerate([load, *per_plant]) if j != i for s in o]
        refused = binding.check(
            name, profile.cfg.manifest.identity(name).partition or 0, np.array(others, np.uint32)
        )
        assert refused is not None and refused[0] == "wrong-series"
    with pytest.raises(ValueError, match="identities"):
        profile.bind_series(load, None)  # the plant's collectors would own nothing
