"""A managed subprocess: start with log capture, wait for readiness, stop by PID.

Every service fixture (nats-server, the S3 server, PostgreSQL) is one or more
`ManagedProcess`. The rules it enforces:

- stdout and stderr go to a log file we own; start-up failures raise
  `ServiceStartError` carrying the tail of that log, so a broken fixture says why.
- The child runs in its own session (process group), so a Ctrl-C typed at the
  terminal reaches only the harness, which then stops children in order.
- Stop sends the service's polite signal (SIGTERM by default), waits a grace
  period, then SIGKILLs; descendants seen at stop time are reaped the same way.
  Signals go only through the `Popen` handle of a process we started and have
  not yet reaped, so a recycled PID is never signalled.
- Every live process is in a registry; an atexit hook stops whatever is left
  (test failure, exception in a CLI), and `owned_pids()` lets fault helpers
  refuse to touch processes we did not start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from historian.cpu_priority import low_priority_argv, spawn_low_priority

__all__ = [
    "ManagedProcess",
    "ServiceError",
    "ServiceStartError",
    "ServiceStopError",
    "log_tail",
    "owned_pids",
    "stop_all",
]

DEFAULT_GRACE_S = 5.0
LOG_TAIL_LINES = 40


class ServiceError(RuntimeError):
    """Base class for service fixture failures."""


class ServiceStartError(ServiceError):
    """A service did not become ready; the message includes the tail of its log."""


class ServiceStopError(ServiceError):
    """A process we started could not be stopped, even with SIGKILL."""


_registry_lock = threading.Lock()
_live: dict[int, ManagedProcess] = {}


def owned_pids() -> frozenset[int]:
    """PIDs of processes this harness started and that are still running."""
    with _registry_lock:
        return frozenset(pid for pid, proc in _live.items() if proc.running)


def stop_all(grace_s: float = 2.0) -> None:
    """Stop every process still registered (used by atexit and signal handlers)."""
    with _registry_lock:
        procs = list(_live.values())
    # Reverse start order: dependants were usually started after what they use.
    for proc in reversed(procs):
        with contextlib.suppress(Exception):
            proc.stop(grace_s=grace_s)


atexit.register(stop_all)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _is_dead(proc: psutil.Process) -> bool:
    try:
        # A zombie has exited; orphans are reaped by PID 1, which may take seconds.
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_dead(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited (zombie or gone); return those still alive."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if not _is_dead(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if not _is_dead(p)]
    return alive


class ManagedProcess:
    """One child process with a log file, a readiness wait and a PID-based stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        grace_s: float = DEFAULT_GRACE_S,
        nice: int = 0,
    ) -> None:
        """``nice`` > 0 runs the process (every thread, and its session's autogroup) at a
        lower CPU priority: :mod:`historian.cpu_priority` says why both."""
        self.name = name
        self.nice = nice
        self._cmd = [os.fspath(a) for a in argv]
        self.argv = low_priority_argv(self._cmd, nice)  # as it runs: logs and errors show it
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.grace_s = grace_s
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ServiceError(f"{self.name}: not started")
        return self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self) -> None:
        if self.running:
            raise ServiceError(f"{self.name}: already running as PID {self.pid}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Append: a restarted service keeps the log of its previous life.
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            # Output of this run starts here (the header echoes argv, which may
            # contain the very text a caller waits for).
            self._log_offset = log.tell()
            self._popen = spawn_low_priority(
                self._cmd,
                self.nice,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        with _registry_lock:
            _live[self._popen.pid] = self

    def wait_ready(
        self, is_ready: Callable[[], bool], timeout_s: float, what: str = "ready"
    ) -> None:
        """Poll `is_ready` until true; raise with the log tail on timeout or early exit."""
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        last_error: BaseException | None = None
        while True:
            code = self.returncode
            if code is not None:
                raise ServiceStartError(
                    f"{self.name} exited with code {code} before it was {what}.\n"
                    f"argv: {' '.join(self.argv)}\nlast lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            try:
                if is_ready():
                    return
            except Exception as exc:  # readiness probes fail in many ways while starting
                last_error = exc
            if time.monotonic() >= deadline:
                self.stop()
                raise ServiceStartError(
                    f"{self.name} (PID {self.pid}) was not {what} within {timeout_s:.1f} s"
                    f" (last probe error: {last_error!r}); it has been stopped.\n"
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        """Wait until `text` appears in the log written since the latest start.

        For processes whose only readiness signal is a line they print (a sim
        server, a historian child); prefer a real probe (port, HTTP) if there is one.
        """
        start_offset = self._log_offset

        def printed() -> bool:
            with self.log_path.open("rb") as fh:
                fh.seek(start_offset)
                return text.encode() in fh.read()

        self.wait_ready(printed, timeout_s, what=f"logging {text!r}")

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the process if it is still ours and alive (no-op once reaped)."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(sig)

    def kill(self) -> None:
        """Crash the service as a unit: SIGKILL it and its descendants, reap, no grace.

        Descendants go too because a half-dead service (PostgreSQL backends
        outliving their postmaster) would block the restart a crash test wants.
        """
        if self._popen is None:
            return
        descendants = self._descendants()
        self.send_signal(signal.SIGKILL)
        for proc in descendants:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self._popen.wait()
        _wait_dead(descendants, timeout_s=5)
        self._unregister()

    def stop(self, grace_s: float | None = None) -> None:
        """Polite signal, wait `grace_s`, then SIGKILL; reap the process and its descendants."""
        if self._popen is None:
            return
        grace = self.grace_s if grace_s is None else grace_s
        descendants = self._descendants()
        if self._popen.poll() is None:
            self.send_signal(self.stop_signal)
            try:
                self._popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                try:
                    self._popen.wait(timeout=10)
                except subprocess.TimeoutExpired as exc:
                    raise ServiceStopError(
                        f"{self.name} (PID {self.pid}) survived SIGKILL for 10 s"
                    ) from exc
        # Children of a service (PostgreSQL backends, ...) exit after their parent;
        # give them the same grace, then kill the stragglers.
        alive = _wait_dead(descendants, timeout_s=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_dead(alive, timeout_s=5)
        self._unregister()

    def _descendants(self) -> list[psutil.Process]:
        if not self.running:
            return []
        try:
            return list(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return []

    def _unregister(self) -> None:
        if self._popen is not None:
            with _registry_lock:
                _live.pop(self._popen.pid, None)

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self.returncode})"
        pid = self._popen.pid if self._popen is not None else None
        return f"ManagedProcess({self.name!r}, pid={pid}, {state})"
