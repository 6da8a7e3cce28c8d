"""Lower a process's CPU priority so that it really yields on a shared machine.

Why this is more than ``nice``: on Linux with ``CONFIG_SCHED_AUTOGROUP`` (the default
of most distributions, and of the CI machine: ``/proc/sys/kernel/sched_autogroup_enabled``
is 1), the scheduler first shares the CPUs *between sessions* (autogroups) and applies
``nice`` only *within* one. A process started in its own session (``setsid``, as every
managed service is, so that it can be stopped with its children) therefore gets a full
share however nice it is, and a process started without one shares its parent's group:
the scenario's five plant server processes shared the runner's group, and the runner
(the measuring instrument, which publishes on a schedule) waited 40-240 ms on the run
queue behind them (measured with ``historian.server.stall_watch``). Both the process's
nice value and its session's autogroup nice are set here; without autogroup support
the second step is skipped.

Raising a nice value needs no privilege; lowering it again does, so callers only ever
pass values >= 0.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any


def _autogroup(pid: int) -> Path:
    return Path(f"/proc/{pid}/autogroup")


def lower_priority(pid: int, nice: int) -> bool:
    """Set ``pid``'s nice value and its session's autogroup nice to ``nice`` (>= 0).

    Only the main thread's nice is set through ``setpriority``; call it before the
    process starts threads, or spawn it under ``nice -n`` so that every thread inherits
    the value and call :func:`lower_autogroup` alone. Returns whether the autogroup was set.
    """
    if nice < 0:
        raise ValueError(f"nice must be >= 0 (lowering priority only), got {nice}")
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
    except (ProcessLookupError, PermissionError):
        return False
    return lower_autogroup(pid, nice)


def lower_autogroup(pid: int, nice: int) -> bool:
    """Set the autogroup nice of ``pid``'s session to ``nice`` (>= 0).

    The autogroup belongs to the whole session: for a process in the caller's own
    session it is left alone (it would lower the caller too); start such a process with
    ``start_new_session=True``. Returns whether it was set (False without autogroup
    support, or when the process has gone).
    """
    if nice < 0:
        raise ValueError(f"nice must be >= 0 (lowering priority only), got {nice}")
    try:
        if os.getsid(pid) == os.getsid(0):
            return False
        _autogroup(pid).write_text(f"{nice}\n")
    except OSError:  # no autogroup support, or the process has gone
        return False
    return True


def low_priority_argv(argv: Sequence[str | os.PathLike[str]], nice: int) -> list[str]:
    """``argv`` prefixed with ``nice -n N`` (unchanged for ``nice`` 0).

    Spawning under ``nice`` rather than calling ``setpriority`` afterwards gives every
    thread the value, including those started before a ``setpriority`` could run.
    """
    if nice < 0:
        raise ValueError(f"nice must be >= 0 (lowering priority only), got {nice}")
    cmd = [os.fspath(a) for a in argv]
    return ["nice", "-n", str(nice), *cmd] if nice > 0 else cmd


_File = int | IO[Any] | None


def spawn_low_priority(
    argv: Sequence[str | os.PathLike[str]],
    nice: int,
    *,
    stdin: _File = None,
    stdout: _File = None,
    stderr: _File = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with every thread and its session's autogroup at nice ``nice``.

    ``nice`` 0 starts it normally (in a new session only when asked). ``nice`` > 0 runs
    it under ``nice -n`` (:func:`low_priority_argv`) in a session of its own, whatever
    ``start_new_session`` says, because the autogroup nice applies to a whole session
    and lowering the caller's own would slow the caller too; then that session's
    autogroup is lowered (:func:`lower_autogroup`).
    """
    proc = subprocess.Popen(
        low_priority_argv(argv, nice),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        start_new_session=start_new_session or nice > 0,
    )
    if nice > 0:
        lower_autogroup(proc.pid, nice)
    return proc


def autogroup_nice(pid: int) -> int | None:
    """The autogroup nice of ``pid``'s session, or None without autogroup support."""
    try:
        text = _autogroup(pid).read_text()
    except OSError:
        return None
    # "/autogroup-123 nice 10"
    parts = text.split()
    return int(parts[-1]) if len(parts) >= 3 and parts[-2] == "nice" else None


def lower_this_thread(by: int) -> int:
    """Raise the calling thread's nice value by ``by`` (>= 0); return the new value.

    Linux keeps a nice value per thread (``setpriority`` on a thread id), so a process
    can run its background work below its latency-sensitive threads, as RocksDB lowers
    its compaction pool (``Env::LowerThreadPoolCPUPriority``). Threads this one starts
    inherit the value. A platform without per-thread priorities leaves it unchanged.
    """
    if by < 0:
        raise ValueError(f"by must be >= 0 (lowering priority only), got {by}")
    import threading

    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + by))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (OSError, AttributeError):  # not Linux: the value is per process there
        return 0


def idle_this_thread() -> bool:
    """Run the calling thread under ``SCHED_IDLE``: it gets a CPU only when no normal
    task wants one. Unlike a nice value this also holds across autogroups (the
    scheduler gives the group's share on a CPU by the weight of what runs there, and an
    idle-policy thread weighs almost nothing), so a compaction burst cannot hold the
    machine's other processes in the run queue. Returns False where it is unsupported.
    """
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: the calling thread
    except OSError:
        return False
    return True
