"""ManagedProcess: readiness errors carry the log tail, stop escalates, nothing leaks."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

import harness.services.process as process_module
from harness.services.process import (
    ManagedProcess,
    ServiceStartError,
    log_tail,
    owned_pids,
    stop_all,
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_early_exit_raises_with_exit_code_and_log_tail(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "crasher",
        python("import sys; print('config line 3: bad value', flush=True); sys.exit(7)"),
        tmp_path / "crasher.log",
    )
    proc.start()
    with pytest.raises(ServiceStartError) as err:
        proc.wait_ready(lambda: False, timeout_s=10)
    assert "exited with code 7" in str(err.value)
    assert "config line 3: bad value" in str(err.value)
    assert proc.pid not in owned_pids() or not proc.running


def test_readiness_timeout_stops_process_and_reports_probe_error(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "hanger",
        python("print('listening soon', flush=True); import time; time.sleep(60)"),
        tmp_path / "hanger.log",
        grace_s=1,
    )
    proc.start()

    def probe() -> bool:
        raise ConnectionRefusedError("port closed")

    with pytest.raises(ServiceStartError) as err:
        proc.wait_ready(probe, timeout_s=0.5)
    text = str(err.value)
    assert "was not ready within 0.5 s" in text
    assert "port closed" in text and "listening soon" in text
    assert not proc.running and not psutil.pid_exists(proc.pid)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    # Markers are built at run time: the argv itself is echoed into the log.
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ar' + 'med', flush=True); time.sleep(60)"
    )
    proc = ManagedProcess("stubborn", python(code), tmp_path / "s.log", grace_s=0.3)
    proc.start()
    proc.wait_ready(lambda: "armed" in log_tail(proc.log_path), timeout_s=10)
    start = time.monotonic()
    proc.stop()
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - start >= 0.3
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)  # already reaped: no zombie left


def test_stop_reaps_descendants(tmp_path: Path) -> None:
    # A parent whose child ignores SIGTERM and would outlive it.
    code = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']);"
        "print('child' + '-pid', c.pid, flush=True); time.sleep(60)"
    )
    proc = ManagedProcess("parent", python(code), tmp_path / "p.log", grace_s=0.5)
    proc.start()
    proc.wait_ready(lambda: "child-pid" in log_tail(proc.log_path), timeout_s=10)
    child_pid = int(log_tail(proc.log_path).split("child-pid")[-1].split()[0])
    assert psutil.pid_exists(child_pid)
    proc.stop()
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child_pid) and time.monotonic() < deadline:
        if psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE:
            break  # killed; waiting for PID 1 to reap it
        time.sleep(0.05)
    assert not psutil.pid_exists(child_pid) or (
        psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    )


def test_stop_all_stops_every_registered_process_and_restart_appends_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an empty registry of its own: stop_all must not stop the session's shared services
    # (a PostgreSQL started by earlier tests was stopped here and the next test failed)
    monkeypatch.setattr(process_module, "_live", {})
    procs = [
        ManagedProcess(f"p{i}", python("import time; time.sleep(60)"), tmp_path / f"{i}.log")
        for i in range(3)
    ]
    for p in procs:
        p.start()
    assert {p.pid for p in procs} <= owned_pids()
    stop_all(grace_s=2)
    assert all(not p.running for p in procs)
    assert not ({p.pid for p in procs} & owned_pids())
    procs[0].start()  # a restart appends to the same log
    procs[0].stop()
    assert log_tail(procs[0].log_path).count("--- ") == 2


def test_stop_on_never_started_or_already_exited_process_is_a_no_op(tmp_path: Path) -> None:
    proc = ManagedProcess("quick", python("pass"), tmp_path / "q.log")
    proc.stop()
    proc.start()
    deadline = time.monotonic() + 10
    while proc.running and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.stop()  # exited on its own: must not signal a possibly recycled PID
    assert proc.returncode == 0


def test_wait_for_log_ignores_the_argv_header_and_earlier_runs(tmp_path: Path) -> None:
    code = "import time; time.sleep(0.3); print('READY on port 1', flush=True); time.sleep(60)"
    proc = ManagedProcess("printer", python(code), tmp_path / "p.log", grace_s=1)
    proc.start()
    start = time.monotonic()
    proc.wait_for_log("READY on port", timeout_s=10)
    assert time.monotonic() - start >= 0.3  # not fooled by the echoed argv
    proc.stop()
    proc.start()  # second run: the first run's line must not count
    start = time.monotonic()
    proc.wait_for_log("READY on port", timeout_s=10)
    assert time.monotonic() - start >= 0.3
    proc.stop()
    with pytest.raises(ServiceStartError, match="was not logging 'never'"):
        proc.start()
        proc.wait_for_log("never", timeout_s=0.5)
    assert not proc.running


def test_a_nice_process_runs_every_thread_lower_in_its_own_autogroup(tmp_path: Path) -> None:
    """A load generator (the plant, locust) must yield to the system under test: its
    threads inherit the nice value and its session's autogroup is lowered too (nice
    alone does nothing across autogroups: historian.cpu_priority)."""
    from historian.cpu_priority import autogroup_nice

    code = (
        "import os, threading, time\n"
        "t = threading.Thread(target=time.sleep, args=(30,)); t.start()\n"
        "print('READY', os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),"
        " os.getpriority(os.PRIO_PROCESS, t.native_id), flush=True)\n"
        "t.join()\n"
    )
    ours = autogroup_nice(os.getpid())
    proc = ManagedProcess("gen", python(code), tmp_path / "gen.log", nice=10)
    proc.start()
    try:
        proc.wait_for_log("READY 1", timeout_s=20)  # argv in the log's header has no digit
        want = str(min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))  # nice -n adds to ours
        line = proc.log_path.read_text().splitlines()[-1]
        assert line.split()[-2:] == [want, want], line
        if os.path.exists("/proc/self/autogroup"):
            assert autogroup_nice(proc.pid) == 10
            assert autogroup_nice(os.getpid()) == ours  # the caller's group is untouched
    finally:
        proc.stop()
