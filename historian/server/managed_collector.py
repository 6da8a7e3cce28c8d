"""One managed collector process: start it, watch it, restart it with backoff, stop it.

A :class:`ManagedCollector` supervises ``python -m historian.collect`` for one
connection. States: ``starting`` (spawned, its ready file not written yet),
``running`` (ready; its metrics page is scraped about once a second), ``failed``
(it exited on its own, or did not get ready in time: it is restarted after a
backoff of 0.5 s doubling to 30 s, reset once a life lasted a minute; every
restart is counted and its reason kept), ``stopped`` (stopped by the manager),
``draining`` (a removed connection whose spool still held batches: the process
runs ``--drain-only`` until the spool is empty).

Children are started in their own session (a Ctrl-C of the server's terminal
reaches the server, which stops them in order) and, on Linux, with
``PR_SET_PDEATHSIG`` = SIGTERM, so a SIGKILLed server does not leave collectors
running; the pid file lets the next server life stop one that survived anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from historian.server.collector_health import Scrape, fetch_page, health_figures

__all__ = ["ManagedCollector"]

READY_TIMEOUT_S = 60.0
SCRAPE_EVERY_S = 1.0
BACKOFF_FIRST_S, BACKOFF_MAX_S, STABLE_AFTER_S = 0.5, 30.0, 60.0
ERRORS_KEPT = 10
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(pid: int, marker: str) -> bool:
    """True when ``pid`` runs a collector whose command line names ``marker`` (its spool)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"historian.collect" in cmdline and marker.encode() in cmdline


class ManagedCollector:
    """Supervises one collector process (see the module docstring)."""

    def __init__(
        self,
        cid: str,
        directory: Path,
        argv: Callable[[bool], Sequence[str]],
        log: Callable[[str], None],
    ) -> None:
        self.id = cid
        self.directory = directory
        self._argv = argv  # drain_only -> the command line
        self._log = log
        self.ready_file = directory / "ready.json"
        self.pid_file = directory / "collector.pid"
        self.log_file = directory / "collector.log"
        self.spool_dir = directory / "spool"
        self.state = "stopped"
        self.pid: int | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.errors: deque[str] = deque(maxlen=ERRORS_KEPT)
        self.drain_only = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._metrics_url: str | None = None
        self._scrapes: deque[Scrape] = deque(maxlen=2)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_exit: Callable[[ManagedCollector, int], None] | None = None
        """Called when a ``--drain-only`` life ends with status 0 (the spool is empty)."""

    # ------------------------------------------------------------ lifecycle
    def start(self, *, drain_only: bool = False) -> None:
        self._stop_stale()
        self.drain_only = drain_only
        self._stopping = asyncio.Event()
        self._spawn()  # now, so the answer that started it names its pid
        self._task = asyncio.create_task(self._supervise(), name=f"connection-{self.id}")

    async def stop(self, grace_s: float) -> int | None:
        """SIGTERM the process, SIGKILL after ``grace_s``; its exit status (None: none ran)."""
        self._stopping.set()
        proc = self._proc
        rc: int | None = None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                self.errors.append(f"did not stop within {grace_s:g} s of SIGTERM: killed")
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if proc is not None:
            rc = proc.returncode
        if self._task is not None:
            await self._task
            self._task = None
        self.state = "stopped"
        self.pid_file.unlink(missing_ok=True)
        return rc

    def spool_batches(self) -> int:
        """Batches waiting in the connection's spool (files on disk)."""
        if not self.spool_dir.is_dir():
            return 0
        return sum(1 for p in self.spool_dir.iterdir() if p.name.endswith(".tbwb"))

    # ------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        last = self._scrapes[-1] if self._scrapes else None
        before = self._scrapes[0] if len(self._scrapes) == 2 else None
        figures = health_figures(last, before)
        if last is None or self.state != "running":
            figures["spool_batches"] = self.spool_batches()
        up = time.monotonic() - self.started_at if self.started_at is not None else None
        return {
            "id": self.id,
            "state": self.state,
            "pid": self.pid if self.state in ("starting", "running", "draining") else None,
            "restarts": self.restarts,
            "uptime_s": round(up, 1) if up is not None and self.pid is not None else None,
            **figures,
            "errors": list(self.errors),
        }

    # ------------------------------------------------------------ supervision
    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            if self._proc is None:
                self._spawn()
            rc = await self._one_life()
            self._proc = None
            if self._stopping.is_set():
                return
            if self.drain_only and rc == 0:
                self.state = "stopped"
                if self.on_exit is not None:
                    self.on_exit(self, rc)
                return
            self.restarts += 1
            self.errors.append(f"{time.strftime('%H:%M:%SZ', time.gmtime())} {self._why(rc)}")
            self._log(f"historian: connection {self.id}: {self.errors[-1]}; restarting")
            self.state = "failed"
            failures = 0 if time.monotonic() - began > STABLE_AFTER_S else failures + 1
            delay = min(BACKOFF_FIRST_S * 2 ** max(failures - 1, 0), BACKOFF_MAX_S)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def _why(self, rc: int | None) -> str:
        if rc is None:
            return f"not ready within {READY_TIMEOUT_S:g} s"
        how = f"killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        return f"collector {how}: {self._log_tail()}"

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        plain = [ln for ln in lines if not ln.startswith("{")]  # status lines are JSON
        return (plain or lines or ["(empty log)"])[-1][:300]

    def _spawn(self) -> None:
        self.state = "draining" if self.drain_only else "starting"
        self.ready_file.unlink(missing_ok=True)
        self._scrapes.clear()
        self._metrics_url = None
        with self.log_file.open("ab") as out:
            self._proc = proc = subprocess.Popen(
                list(self._argv(self.drain_only)), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        self.pid, self.started_at = proc.pid, time.monotonic()
        self.pid_file.write_text(str(proc.pid))

    async def _one_life(self) -> int | None:
        """Wait until the spawned process is ready, scrape it until it exits; its exit
        status (None: it never got ready and was killed)."""
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while proc.poll() is None and not self.ready_file.exists():
            if time.monotonic() > deadline or self._stopping.is_set():
                break
            await asyncio.sleep(0.1)
        if proc.poll() is None and self.ready_file.exists():
            with contextlib.suppress(OSError, ValueError):
                self._metrics_url = json.loads(self.ready_file.read_text()).get("metrics")
            if not self.drain_only:
                self.state = "running"
        elif proc.poll() is None and not self._stopping.is_set():
            proc.kill()  # hung before READY: count it and start afresh
            await asyncio.to_thread(proc.wait)
            return None
        while proc.poll() is None:
            await self._scrape()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SCRAPE_EVERY_S)
            if self._stopping.is_set():
                break
        while proc.poll() is None:  # stop() is signalling it; wait for its exit
            await asyncio.sleep(0.05)
        return proc.returncode

    async def _scrape(self) -> None:
        url = self._metrics_url
        if url is None:
            return
        try:
            page = await asyncio.to_thread(fetch_page, url)
        except OSError as exc:
            self.errors.append(f"metrics page {url} unreadable: {exc}")
            return
        self._scrapes.append(Scrape.parse(page, time.monotonic()))

    def _stop_stale(self) -> None:
        """A collector of this connection left running by an earlier server life: stop it."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        if pid_alive(pid) and _ours(pid, str(self.spool_dir)):
            self._log(f"historian: connection {self.id}: stopping pid {pid} of an earlier life")
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while pid_alive(pid) and _ours(pid, str(self.spool_dir)):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
