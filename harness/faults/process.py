"""Process faults: SIGKILL / SIGSTOP / SIGCONT, only for processes this harness started."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import psutil

__all__ = ["NotOurProcessError", "kill", "pause", "paused", "resume"]


class NotOurProcessError(PermissionError):
    """A process fault was aimed at a PID this harness did not start."""


def _check_ours(pid: int) -> None:
    from harness.services.process import owned_pids

    if pid in owned_pids():
        return
    try:
        descendants = {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        descendants = set()
    if pid not in descendants:
        raise NotOurProcessError(
            f"PID {pid} was not started by this harness (not a ManagedProcess nor a "
            "descendant of this process); refusing to signal it"
        )


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send `sig` (SIGKILL by default) to a process we started."""
    _check_ours(pid)
    os.kill(pid, sig)


def pause(pid: int) -> None:
    """SIGSTOP a process we started: it holds its sockets but answers nothing."""
    _check_ours(pid)
    os.kill(pid, signal.SIGSTOP)


def resume(pid: int) -> None:
    """SIGCONT a process paused with `pause`."""
    _check_ours(pid)
    os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def paused(pid: int, *, settle_s: float = 0.0) -> Iterator[None]:
    """Pause for the duration of the block; always resumes, even on error."""
    pause(pid)
    try:
        if settle_s:
            time.sleep(settle_s)
        yield
    finally:
        # Already gone (killed meanwhile): nothing to resume.
        with contextlib.suppress(ProcessLookupError, NotOurProcessError):
            resume(pid)
