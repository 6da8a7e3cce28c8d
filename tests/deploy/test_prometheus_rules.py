"""The shipped alert rules pass ``promtool check rules`` and their ``promtool test rules``
unit tests; every alert has a test that fires on a bad series beside a good one, and
the unit tests notice a weakened rule.

promtool is Debian's ``prometheus`` package (scripts/install-system-deps.sh). A
missing promtool fails these tests: the rules are part of the product, an unchecked
rules file must not pass CI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "alerts.yml"
TESTS = DEPLOY / "alerts_test.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path is not None, (
        "promtool not found: run scripts/install-system-deps.sh (Debian package prometheus)"
    )
    return path


def run(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alerts(path: Path = RULES) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_rules_pass_promtool_check() -> None:
    out = run("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in out.stdout


def test_example_scrape_config_is_valid() -> None:
    out = run("check", "config", str(DEPLOY / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_rule_unit_tests_pass() -> None:
    out = run("test", "rules", str(TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_fires_in_a_test_beside_a_silent_series() -> None:
    doc = yaml.safe_load(TESTS.read_text())
    names = {a["alert"] for a in alerts()}
    fired: dict[str, int] = {}
    for group in doc["tests"]:
        series = {s["series"] for s in group["input_series"]}
        for case in group["alert_rule_test"]:
            if case["exp_alerts"]:
                fired[case["alertname"]] = max(fired.get(case["alertname"], 0), len(series))
                # more input series than alerts expected: some series must stay silent
                assert len(series) > len(case["exp_alerts"]), case["alertname"]
    assert set(fired) == names, f"alerts without a firing test: {sorted(names - set(fired))}"
    required = {"TwinbenchConsumerLagHigh", "TwinbenchJetStreamStorageHigh"}
    required |= {"TwinbenchDeadLetters", "TwinbenchIngestWriteErrors"}
    required |= {"TwinbenchCollectorSpoolFilling", "TwinbenchCollectorStale"}
    required |= {"TwinbenchCollectorDisconnected", "TwinbenchColdTierExportLag"}
    assert required <= names  # what issue 20 asks the rules to cover


def test_unit_tests_notice_a_weakened_threshold(tmp_path: Path) -> None:
    """A copy of the rules with the consumer-lag threshold raised 10x must fail its tests."""
    text = RULES.read_text()
    lag = "(twinbench_ingest_consumer_lag_seconds) > "
    weakened = text.replace(lag + "10\n", lag + "100\n")
    assert weakened != text
    (tmp_path / "alerts.yml").write_text(weakened)
    shutil.copy(TESTS, tmp_path / "alerts_test.yml")
    out = run("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert out.returncode != 0
    assert "TwinbenchConsumerLagHigh" in out.stdout + out.stderr
