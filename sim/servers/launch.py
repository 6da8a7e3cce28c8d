"""Start and stop server processes for a catalogue: the harness's API to the plant twin.

::

    procs = start_servers("normal.toml", speed=10)
    procs[0].modbus_port, procs[0].opcua_endpoint
    stop_servers(procs)

Each process (``python -m sim.servers.node``) serves whole Modbus unit ids, at
most ``tags_per_process`` tags where a unit fits, on its own ports (chosen by the
OS), and writes its endpoints to a ready file. Processes are stopped by PID
(SIGTERM, then SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from historian.cpu_priority import spawn_low_priority
from sim.tags import Catalogue, dump_catalogue, load_catalogue


class ServerStartError(RuntimeError):
    """A server process exited or did not become ready in time; the message has its log tail."""


@dataclass
class ServerProcess:
    index: int
    tag_range: tuple[int, int]  # positions [start, stop) in the catalogue
    proc: subprocess.Popen[bytes]
    ready_file: Path
    log_file: Path
    emitted_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    progress_path: Path | None = None  # a replay's progress JSON (sim.replay_progress)
    _terminated: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def modbus_host(self) -> str:
        return str(self.info["modbus"]).rsplit(":", 1)[0]

    @property
    def modbus_port(self) -> int:
        return int(str(self.info["modbus"]).rsplit(":", 1)[1])

    @property
    def opcua_endpoint(self) -> str | None:
        return self.info.get("opcua")

    @property
    def unit_ids(self) -> list[int]:
        return list(self.info.get("unit_ids", []))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                self.info = json.loads(self.ready_file.read_text())
                return self.info
            if not self.alive():
                raise ServerStartError(
                    f"server {self.index} (pid {self.pid}) exited with {self.proc.returncode}; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        raise ServerStartError(
            f"server {self.index} (pid {self.pid}) not ready after {timeout} s; "
            f"log tail:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM by PID, SIGKILL after ``grace_s``; returns the exit code."""
        if self.alive():
            self.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def terminate(self) -> None:
        """Send SIGTERM once (a second one could land after the handler is gone)."""
        if not self._terminated and self.alive():
            self._terminated = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def describe(self) -> str:
        first, last = self.info.get("first_id"), self.info.get("last_id")
        parts = [f"[{self.index}] pid {self.pid} tags {self.tag_range[0]}..{self.tag_range[1] - 1}"
                 f" (series {first}..{last}, units {self.unit_ids})"]  # fmt: skip
        if "modbus" in self.info:
            parts.append(f"modbus {self.info['modbus']}")
        if self.opcua_endpoint:
            parts.append(self.opcua_endpoint)
        return "  ".join(parts)


def plan_slices(cat: Catalogue, tags_per_process: int = 2000) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges that keep each Modbus unit id in one process.

    Assumes tags of a unit are contiguous in the catalogue (true of generated
    catalogues); a unit larger than ``tags_per_process`` gets a process of its own.
    """
    if tags_per_process < 1:
        raise ValueError("tags_per_process must be >= 1")
    # boundaries where the unit id changes
    units = [t.modbus.unit_id for t in cat.tags]
    cuts = [0] + [i for i in range(1, len(units)) if units[i] != units[i - 1]] + [len(units)]
    slices: list[tuple[int, int]] = []
    start = 0
    for a, b in itertools.pairwise(cuts):
        if b - start > tags_per_process and a > start:
            slices.append((start, a))
            start = a
    if start < len(cat):
        slices.append((start, len(cat)))
    return slices


def start_servers(
    catalogue_path: str | Path | None = None,
    profile: str | None = None,
    *,
    tags_per_process: int = 2000,
    speed: float = 1.0,
    seed: int = 0,
    tick_s: float = 1.0,
    host: str = "127.0.0.1",
    modbus: bool = True,
    opcua: bool = True,
    security: str = "none",
    users: dict[str, str] | None = None,
    opcua_users: Path | None = None,
    opcua_cert: Path | None = None,
    opcua_key: Path | None = None,
    opcua_trust: Path | None = None,
    workdir: str | Path | None = None,
    record_emitted: bool = False,
    replay: str | Path | None = None,
    rebase: bool = False,
    rebase_to_ns: int | None = None,
    start_ns: int | None = None,
    history_from: str | None = None,
    hold_file: str | Path | None = None,
    progress: bool = False,
    ready_timeout: float = 120.0,
    events_nats: str | None = None,
    nice: int = 0,
) -> list[ServerProcess]:
    """Start server processes for a catalogue (or a generated profile) and wait until ready.

    ``speed`` 0 runs as fast as possible. ``history_from`` (a historian's HTTP API
    URL) makes the OPC UA variables answer HistoryRead from that historian
    (:class:`sim.servers.history_http.HistorianHttpHistory`). With ``hold_file`` the
    processes publish their first tick and wait until that file exists (so collectors
    can subscribe before a replay runs); ``nice`` > 0 runs each process in its own
    session at that lower CPU priority (:mod:`historian.cpu_priority`: its
    autogroup too, so that it yields to the caller); ``progress`` has a replay write
    ``<workdir>/progress-<i>.json``. With ``events_nats`` (a NATS URL) each twin
    publishes its alarms and events to the events stream (docs/events.md). With
    ``record_emitted`` each process
    writes what it emitted to ``<workdir>/emitted-<i>.arrows`` (see
    :func:`sim.emitted.read_emitted`). On any failure, every process started so
    far is stopped before the error is raised.
    """
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="twinbench-sim-"))
    work.mkdir(parents=True, exist_ok=True)
    if catalogue_path is None and replay is not None:
        from sim.replay import Recording, catalogue_for

        catalogue_path = work / "catalogue-replay.toml"
        dump_catalogue(
            catalogue_for(Recording.from_file(replay), Path(replay).stem), catalogue_path
        )
    if catalogue_path is None:
        if profile is None:
            raise ValueError("give a catalogue_path, a profile or a replay recording")
        from sim.catalogue_gen import generate_profile

        catalogue_path = work / f"catalogue-{profile}.toml"
        dump_catalogue(generate_profile(profile, seed), catalogue_path)
    cat = load_catalogue(catalogue_path)
    if not len(cat):
        raise ValueError(f"catalogue {catalogue_path} has no tags to serve")
    procs: list[ServerProcess] = []
    common = [
        "--catalogue", str(catalogue_path), "--seed", str(seed), "--speed", str(speed),
        "--tick", str(tick_s), "--host", host, "--security", security,
        "--users", ",".join(f"{u}:{p}" for u, p in (users or {}).items()),
    ]  # fmt: skip
    if security == "secure":
        common += _secure_args(work, opcua_users, opcua_cert, opcua_key, opcua_trust)
    if not modbus:
        common += ["--modbus-port", "-1"]
    if not opcua:
        common += ["--opcua-port", "-1"]
    if replay is not None:
        common += ["--replay", str(replay)] + (["--rebase"] if rebase else [])
        if rebase_to_ns is not None:  # the first record at this time (a fast replay that
            common += ["--rebase-to-ns", str(rebase_to_ns)]  # should end in the past)
    if start_ns is not None:
        common += ["--start-ns", str(start_ns)]
    if history_from is not None:
        common += ["--history-from", history_from]
    if hold_file is not None:
        common += ["--hold-file", str(hold_file)]
    if events_nats is not None:
        common += ["--events-nats", events_nats]
    try:
        for k, (a, b) in enumerate(plan_slices(cat, tags_per_process)):
            ready = work / f"ready-{k}.json"
            ready.unlink(missing_ok=True)
            log = work / f"server-{k}.log"
            emitted = work / f"emitted-{k}.arrows" if record_emitted else None
            args = [sys.executable, "-m", "sim.servers.node", *common, "--start", str(a),
                    "--stop", str(b), "--ready-file", str(ready)]  # fmt: skip
            if emitted is not None:
                args += ["--emitted", str(emitted)]
            progress_path = work / f"progress-{k}.json" if progress else None
            if progress_path is not None:
                progress_path.unlink(missing_ok=True)
                args += ["--progress-file", str(progress_path)]
            with log.open("wb") as fh:
                proc = spawn_low_priority(args, nice, stdout=fh, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)  # fmt: skip
            procs.append(ServerProcess(k, (a, b), proc, ready, log, emitted,
                                       progress_path=progress_path))  # fmt: skip
        for p in procs:
            p.wait_ready(ready_timeout)
    except BaseException:
        stop_servers(procs)
        raise
    return procs


def _secure_args(
    work: Path, users: Path | None, cert: Path | None, key: Path | None, trust: Path | None = None
) -> list[str]:
    """Check the secure-mode files once and make one certificate all processes share.

    Raises ``historian.opcua.security.SecurityConfigError`` (a ValueError) on bad files.
    """
    from historian.opcua.security import (
        SecureModeConfig,
        SecurityConfigError,
        check_certificate_pair,
        ensure_certificate,
    )
    from sim.servers.opcua import APP_URI

    if users is None:
        raise SecurityConfigError("--opcua-security secure needs --opcua-users FILE")
    cfg = SecureModeConfig(Path(users), cert, key, trust)
    cfg.check()
    if cert is not None and key is not None:
        pair = check_certificate_pair(cert, key, APP_URI)
    else:  # generated here, not in each process: one certificate, no race on the files
        pair = ensure_certificate(work / "opcua-pki", APP_URI, "twinbench plant twin")
    args = ["--opcua-users", str(Path(users).resolve()), "--opcua-cert", str(pair.certificate),
            "--opcua-key", str(pair.private_key)]  # fmt: skip
    return args + (["--opcua-trust", str(Path(trust).resolve())] if trust is not None else [])


def stop_servers(procs: list[ServerProcess], grace_s: float = 10.0) -> list[int | None]:
    for p in procs:  # signal all first, so they shut down in parallel
        p.terminate()
    return [p.stop(grace_s) for p in procs]
