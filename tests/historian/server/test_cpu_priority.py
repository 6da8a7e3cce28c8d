"""Lowering a process's CPU priority sets its nice value and its session's autogroup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from historian.server.cpu_priority import autogroup_nice, lower_priority

AUTOGROUP = os.path.exists("/proc/self/autogroup")


def _sleeper(new_session: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=new_session
    )


def test_a_process_in_its_own_session_gets_nice_and_autogroup_nice() -> None:
    proc = _sleeper(new_session=True)
    try:
        set_group = lower_priority(proc.pid, 10)
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == 10
        assert set_group == AUTOGROUP
        if AUTOGROUP:
            assert autogroup_nice(proc.pid) == 10
    finally:
        proc.kill()
        proc.wait()


def test_a_process_in_the_callers_session_leaves_the_shared_autogroup_alone() -> None:
    """Its autogroup is the caller's own: lowering it would slow the caller down too."""
    before = autogroup_nice(os.getpid())
    proc = _sleeper(new_session=False)
    try:
        assert lower_priority(proc.pid, 7) is False
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == 7
        assert autogroup_nice(os.getpid()) == before
    finally:
        proc.kill()
        proc.wait()


def test_raising_priority_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        lower_priority(os.getpid(), -1)


def test_a_gone_process_is_not_an_error() -> None:
    proc = _sleeper(new_session=True)
    proc.kill()
    proc.wait()
    assert lower_priority(proc.pid, 5) is False
