"""``twinbench shadow diff`` as a user runs it: a real process against a real PostgreSQL and a
PI CSV; exit code 1 on a mismatch, 0 on a clean legacy, 2 (one line) on a usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import INJECTIONS, World


def _shadow(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "shadow", "diff", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_postgres_legacy_with_discrepancies_exits_1(world: World) -> None:
    out = _shadow("--legacy", world.dirty_dsn, "--historian", str(world.closed_store))
    assert out.returncode == 1, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| mismatch")]
    assert len(rows) == len(INJECTIONS)
    assert "time_offset" in out.stdout and "scale_mismatch" in out.stdout
    assert "points compared" in out.stdout


def test_clean_pi_csv_exits_0_with_the_documented_json(world: World, tmp_path: Path) -> None:
    out = _shadow(
        "--legacy-csv", str(world.clean_csv), "--historian", str(world.closed_store),
        "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T03:00:00Z", "--format", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "twinbench.shadow/1"
    assert doc["summary"]["verdicts"]["within_tolerance"] == len(world.catalogue)
    assert doc["summary"]["points_compared"] > 0
    tag = doc["tags"][0]
    for key in (
        "tag",
        "legacy_id",
        "verdict",
        "compared",
        "worst_abs_diff",
        "reasons",
        "rollup_rule",
    ):
        assert key in tag


def test_tags_glob_and_html(world: World, tmp_path: Path) -> None:
    page = tmp_path / "diff.html"
    glob = "*.well0006.*"
    out = _shadow(
        "--legacy", world.dirty_dsn, "--historian", str(world.closed_store),
        "--tags", glob, "--format", "html", "-o", str(page),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr  # the one tag selected is clean
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "well0006" in text and "well0001" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--legacy-csv", "x.csv", "--legacy", "postgresql://a@b/c"], "exactly one of --legacy"),
        (["--legacy", "mysql://x"], "is not a PostgreSQL URL"),
        (["--legacy-csv", "/nonexistent.csv"], "is not a file"),
        (["--legacy", "postgresql://postgres@127.0.0.1:1/x", "--format", "xml"], "--format 'xml'"),
        (
            ["--legacy", "postgresql://postgres@127.0.0.1:1/x", "--start", "yesterdayish"],
            "not readable",
        ),
    ],
)
def test_usage_errors_are_one_line_exit_2(world: World, args: list[str], message: str) -> None:
    out = _shadow(*args, "--historian", str(world.closed_store))
    assert out.returncode == 2, out
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_unreachable_database_and_bad_rules_are_usage_errors(world: World, tmp_path: Path) -> None:
    out = _shadow(
        "--legacy", "postgresql://postgres@127.0.0.1:1/x", "--historian", str(world.closed_store)
    )
    assert out.returncode == 2 and "cannot read the legacy database" in out.stderr, out.stderr
    rules = tmp_path / "r.toml"
    rules.write_text("[default]\nabs_tolerance = 1\n")
    out = _shadow(
        "--legacy-csv",
        str(world.clean_csv),
        "--historian",
        str(world.closed_store),
        "--rules",
        str(rules),
    )
    assert out.returncode == 2 and "unknown key 'abs_tolerance'" in out.stderr, out.stderr
