"""Every scenario, CI-sized, over the real stack (nats-server, ingest process, engine).

These are the proof that `nox -s scenario-stress` and `nox -s scenarios` work: each
short run must finish, write its three report files and pass its thresholds; and a
run with an impossible threshold must fail with a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli.app import build_app
from harness.report.model import Threshold, exit_code
from harness.run.runner import ScenarioRunner
from harness.scenario import LoadPhase, MetricKey
from scenarios import all_scenarios, get

pytestmark = [pytest.mark.service, pytest.mark.slow]


# failover and shadow run once each, through the command line with their own assertions
# (test_failover.py, tests/harness/shadow/test_scenario.py): a second run here cost ~40 s
@pytest.mark.parametrize("name", sorted(set(all_scenarios()) - {"failover", "shadow"}))
def test_short_scenario_passes_its_thresholds(name: str, tmp_path: Path) -> None:
    scenario = get(name, short=True)
    said: list[str] = []
    runner = ScenarioRunner(scenario, reports_root=tmp_path, status=said.append)
    report, path = asyncio.run(runner.run())
    assert any(
        f"work directory {runner.work} (removed after a successful run)" in ln for ln in said
    )
    assert not runner.work.exists(), "a successful run removes its temp work dir"
    for f in ("report.json", "report.md", "report.html"):
        assert (path / f).stat().st_size > 0
    doc = json.loads((path / "report.json").read_text())
    assert doc["metrics"]["accounting.total.produced"] > 0
    # Correctness thresholds must pass on any machine. Performance thresholds (latency,
    # rates, recovery seconds) are judged by `nox -s scenario-stress`, not by a timed unit
    # test; here each must at least have been measured (a missing metric fails it).
    correctness = {MetricKey.ACKED_LOST, MetricKey.DUPLICATED, MetricKey.CHANGED}
    results = {t["metric"]: t for t in report.thresholds}
    assert correctness <= set(results), sorted(results)
    for key in correctness:
        assert results[key]["passed"], results[key]
    for t in report.thresholds:
        assert t["value"] is not None, f"threshold {t['name']!r} was not measured"
    assert report.metrics[MetricKey.ACKED_LOST] == 0
    if scenario.api_load_users:  # stress: locust ran against the scenario historian's API
        api = report.api_load
        assert api is not None and api["total"]["requests"] > 0, api
        assert api["total"]["failures"] == 0, api["errors"]
        assert api["kinds"] and all(k["requests"] >= 0 for k in api["kinds"])
        assert "## API load during the run" in (path / "report.md").read_text()


def test_impossible_threshold_fails_the_run(tmp_path: Path) -> None:
    base = get("noisy")
    scenario = dataclasses.replace(
        base,
        duration_s=4.0,
        warmup_s=0.0,
        load=(LoadPhase("steady", "steady", 4.0, 20_000.0),),
        thresholds=(
            Threshold("impossible latency", MetricKey.P99_QUERYABLE_NOMINAL, "<", 1e-6, "ms"),
        ),
    )
    before = time.time()
    report, path = asyncio.run(ScenarioRunner(scenario, reports_root=tmp_path).run())
    after = time.time()
    assert report.verdict == "fail"
    assert exit_code(report) == 1
    assert "FAIL" in (path / "report.md").read_text()
    # t = 0 s of the report is the load's start (it was the end of the load for started_utc,
    # and the runner's construction, before the services started, for the throughput series)
    started = datetime.strptime(report.started_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert report.started_is_load_start
    assert before - 1 <= started.timestamp() <= after - scenario.duration_s
    acked = report.timeseries["acked"]
    first_acks_s = next(t for t, v in zip(acked["t_s"], acked["values"], strict=True) if v)
    assert first_acks_s <= 1.0, acked["t_s"][:5]


def test_unknown_scenario_names_the_known_ones() -> None:
    result = CliRunner().invoke(build_app(), ["scenario", "run", "nope"])
    assert result.exit_code != 0
    assert "stress" in str(result.exception) + result.output


def test_scenario_list_shows_every_scenario() -> None:
    result = CliRunner().invoke(build_app(), ["scenario", "list"])
    assert result.exit_code == 0, result.output
    for name in all_scenarios():
        assert name in result.output


def test_failed_run_keeps_and_names_its_work_dir(tmp_path: Path) -> None:
    said: list[str] = []
    runner = ScenarioRunner(get("noisy", short=True), reports_root=tmp_path, status=said.append)

    async def broken_start() -> None:  # the stack failing to come up, as a full disk would
        raise RuntimeError("nats-server did not start")

    runner.stack.start = broken_start  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            asyncio.run(runner.run())
        assert runner.work.is_dir(), "the evidence of a failed run must be kept"
        assert any(f"run failed; its data and logs are kept in {runner.work}" in ln for ln in said)
    finally:
        import shutil

        shutil.rmtree(runner.work, ignore_errors=True)
