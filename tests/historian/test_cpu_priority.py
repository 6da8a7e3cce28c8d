"""Lowering a process's CPU priority sets its nice value and its session's autogroup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from historian.cpu_priority import (
    autogroup_nice,
    low_priority_argv,
    lower_priority,
    spawn_low_priority,
)

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


def test_low_priority_argv_prefixes_nice_only_when_lowering() -> None:
    assert low_priority_argv(["x", Path("y")], 0) == ["x", "y"]
    assert low_priority_argv(["x"], 9) == ["nice", "-n", "9", "x"]
    with pytest.raises(ValueError, match=">= 0"):
        low_priority_argv(["x"], -1)


_THREAD_NICE = (  # the nice value of a thread the child starts after it is running
    "import os, threading, time; out = []; "
    "t = threading.Thread(target=lambda: out.append("
    "os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))); "
    "t.start(); t.join(); print(out[0], flush=True); time.sleep(30)"
)


def test_a_low_priority_spawn_lowers_every_thread_and_its_own_sessions_autogroup() -> None:
    before = autogroup_nice(os.getpid())
    proc = spawn_low_priority([sys.executable, "-c", _THREAD_NICE], 11, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        want = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 11)  # nice -n adds to ours
        assert int(proc.stdout.readline()) == want  # and the threads inherit it
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == want
        assert os.getsid(proc.pid) != os.getsid(0)  # a session of its own, asked or not
        if AUTOGROUP:
            assert autogroup_nice(proc.pid) == 11  # the autogroup's is absolute
            assert autogroup_nice(os.getpid()) == before
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_normal_priority_spawn_is_a_plain_popen() -> None:
    proc = spawn_low_priority([sys.executable, "-c", _THREAD_NICE], 0, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) == os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getsid(proc.pid) == os.getsid(0)  # no new session unless asked
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_lowering_this_thread_leaves_the_other_threads_alone() -> None:
    import threading

    from historian.cpu_priority import lower_this_thread

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def work() -> None:
        seen.append(lower_this_thread(4))
        child = threading.Thread(
            target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        child.start()
        child.join()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [min(19, main_before + 4)] * 2  # and the threads it starts inherit it
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def test_the_engine_runs_flush_and_compaction_below_the_writers(tmp_path: Path) -> None:
    import threading

    import numpy as np

    from historian import Historian, Options
    from historian.model import PointBatch

    db = Historian.open(str(tmp_path / "db"), Options(background_nice=6))
    try:
        db.write(
            PointBatch(
                np.zeros(3, np.uint32), np.arange(3, dtype=np.int64) + 10**18,
                np.ones(3), np.zeros(3, np.uint16), False,
            )
        )  # fmt: skip
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        bg = {
            t.name: t.native_id or 0
            for t in threading.enumerate()
            if t.name.startswith("historian-")
        }
        flush, compact = bg["historian-flush"], bg["historian-compact"]

        def settled() -> bool:  # each thread lowers itself as it starts
            return os.sched_getscheduler(compact) == os.SCHED_IDLE and os.getpriority(
                os.PRIO_PROCESS, flush
            ) == min(19, mine + 6)

        deadline = time.monotonic() + 10
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.01)
        for tid in (flush, compact):
            assert os.getpriority(os.PRIO_PROCESS, tid) == min(19, mine + 6)
        # compaction is deferrable: it only takes CPU nobody else wants
        assert os.sched_getscheduler(compact) == os.SCHED_IDLE
        assert os.sched_getscheduler(flush) == os.SCHED_OTHER
        assert mine == os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    finally:
        db.close()


def test_background_nice_is_checked() -> None:
    from historian import Options

    with pytest.raises(ValueError, match="background_nice"):
        Options(background_nice=20)


def test_an_idle_thread_gets_sched_idle_and_the_caller_keeps_its_policy() -> None:
    import threading

    from historian.cpu_priority import idle_this_thread

    got: list[tuple[bool, int]] = []
    t = threading.Thread(target=lambda: got.append((idle_this_thread(), os.sched_getscheduler(0))))
    t.start()
    t.join()
    assert got == [(True, os.SCHED_IDLE)]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
