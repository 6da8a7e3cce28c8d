"""Likely user mistakes get one error line and exit code 2, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    (["scenario", "run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["scenario", "run", "noisy", "--duration", "-5"], "--duration must be a positive"),
    (["scenario", "run", "noisy", "--duration", "0"], "--duration must be a positive"),
    (["scenario", "run", "stress", "--api-users", "-1"], "--api-users must be a number"),
    (["scenario", "run", "replay", "--api-users", "3"], "scenario replay runs its own services"),
    (["scenario", "run", "stress", "--tier-hot-window", "1"], "--tier-hot-window must be >= 2"),
    (["sim", "replay", "/nonexistent.csv"], "recording /nonexistent.csv does not exist"),
    (["pipeline", "up", "--profile", "bogus"], "--profile must be one of normal, peak, stress"),
    (["pipeline", "up", "--durability", "maybe"], "--durability must be fsync or os"),
    (["pipeline", "up", "--seconds", "-1"], "--seconds and --status-every must be positive"),
]


@pytest.mark.parametrize(
    ("argv", "message"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_usage_error_is_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli.app",
            *argv,
            *(["--reports", str(tmp_path)] if argv[0] == "scenario" else []),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # a temp work dir would show up here
    )
    assert out.returncode == 2, (out.returncode, out.stderr[-1500:])
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not list(tmp_path.iterdir()), "nothing may be started or written for a usage error"


def test_replay_of_an_unreadable_recording_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("this is not,a recording\n1,2,3,4\n")
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "sim", "replay", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-1500:]
    assert "Traceback" not in out.stderr and out.stderr.startswith("error: ")


@pytest.mark.parametrize("group", ["services", "pipeline"])
def test_services_up_and_pipeline_up_take_the_same_option_names(group: str) -> None:
    from typer.testing import CliRunner

    from harness.cli.app import build_app

    out = CliRunner().invoke(build_app(), [group, "up", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for name in ("--work-dir", "--base-dir", "--seconds", "--duration-s"):
        assert name in out.output, (group, name)


def test_a_broken_warm_up_is_one_line_and_exit_3_before_any_service(tmp_path: Path) -> None:
    # A full run loads the numba kernels before it starts anything; when that fails (a
    # broken numba or llvmlite), the user gets what failed and what to do, with an exit
    # code that is neither a usage error (2) nor a failed verdict (1).
    argv = ["scenario", "run", "noisy", "--reports", str(tmp_path / "reports")]
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **os.environ,
            "TMPDIR": str(tmp_path),
            "TWINBENCH_WARM_MODULE": "twinbench_no_such_warm_up",
        },
    )
    assert out.returncode == 3, (out.returncode, out.stderr[-1500:])
    assert "Traceback" not in out.stderr
    # stderr also carries the run's status lines (the console); the error is one line, last
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, out.stderr[-1500:]
    assert out.stderr.rstrip().endswith(errors[0])
    assert errors[0].startswith("error: `python -m twinbench_no_such_warm_up` failed (exit 1: ")
    assert "No module named twinbench_no_such_warm_up" in errors[0] and "reinstall" in errors[0]
    assert "starting nats-server" not in out.stderr + out.stdout  # nothing was started
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())
