"""A scenario with the cold tier on (``--tier-hot-window``): export during kills loses nothing.

The short ``crash`` run (SIGKILL of the historian and of nats-server) with a
10 s hot window: the historian server exports buckets to a real embedded S3
server while it is killed and restarted; the read-back goes through hot and
cold, and every acknowledged point must be there exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from harness.run.runner import ScenarioRunner
from harness.scenario import MetricKey
from scenarios import get

pytestmark = [pytest.mark.service, pytest.mark.slow]


def test_crash_run_with_the_cold_tier_loses_nothing(tmp_path: Path) -> None:
    scenario = dataclasses.replace(get("crash", short=True), tier_hot_window_s=10.0)
    runner = ScenarioRunner(scenario, reports_root=tmp_path, status=lambda _: None)
    report, _ = asyncio.run(runner.run())
    m = report.metrics
    assert m[MetricKey.ACKED_LOST] == 0
    assert m[MetricKey.DUPLICATED] == 0
    assert m[MetricKey.CHANGED] == 0
    cold = m[MetricKey.TIER_COLD_POINTS]
    assert cold is not None and cold > 0, "nothing reached the cold tier"
    assert m["tier.export_failures"] == 0
    stored, acked = m["accounting.total.stored"], m["accounting.total.acknowledged"]
    assert stored is not None and acked is not None and stored >= acked > 0
    tier = {t["name"]: t for t in report.thresholds}["the cold tier took data"]
    assert tier["passed"]
