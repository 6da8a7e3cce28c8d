"""``historian serve --gil-switch-ms`` (or ``$TWINBENCH_GIL_SWITCH_MS``): checked first.

The value is the process's ``sys.setswitchinterval``: how long the flush and compaction
threads may hold the GIL while the event loop waits. A bad value is one line and exit 2
before any store is opened; the real process applies a good one (its /proc status
cannot show it, so the test asks the server's own config, then runs a bad one for real).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from historian.server.cli import GIL_SWITCH_ENV, build_parser, config_from_args


def _parse(tmp_path: Path, *argv: str):  # type: ignore[no-untyped-def]
    return config_from_args(build_parser("serve"), [str(tmp_path / "data"), *argv])


def test_a_flag_or_the_environment_sets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GIL_SWITCH_ENV, raising=False)
    assert _parse(tmp_path).gil_switch_ms is None  # Python's own 5 ms
    assert _parse(tmp_path, "--gil-switch-ms", "1").gil_switch_ms == 1.0
    monkeypatch.setenv(GIL_SWITCH_ENV, "0.5")
    assert _parse(tmp_path).gil_switch_ms == 0.5
    assert _parse(tmp_path, "--gil-switch-ms", "2").gil_switch_ms == 2.0  # the flag wins


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1001", "nan"])
def test_a_bad_value_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(tmp_path, "--gil-switch-ms", value)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--gil-switch-ms" in err and repr(value) in err and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists()


def test_the_real_command_refuses_a_bad_environment_value(tmp_path: Path) -> None:
    env = {**os.environ, GIL_SWITCH_ENV: "fast"}
    done = subprocess.run(
        [sys.executable, "-m", "historian.server", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"${GIL_SWITCH_ENV}" in done.stderr and "'fast'" in done.stderr
    assert not (tmp_path / "data").exists()
