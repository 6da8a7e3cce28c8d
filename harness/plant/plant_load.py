"""The plant side of a scenario: simulator server processes and one collector process each.

    sim.servers.node (Modbus + OPC UA)  <-  harness.plant.collector_process  ->  NATS (or proxy)

Collector *i* reads server *i*; even-numbered collectors poll Modbus, odd-numbered
ones subscribe over OPC UA, so one run exercises both protocols. Collectors are
real processes with their own disk spools, so the scenario's ``kill-collector``
fault is a real SIGKILL, and the restarted process drains its spool.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.plant.sensor_mix import apply_fault_mix
from harness.scenario import SensorFaultMix
from harness.services import ManagedProcess
from sim.catalogue_gen import generate_profile
from sim.servers.launch import ServerProcess, plan_slices, start_servers, stop_servers
from sim.tags import dump_catalogue

READY = "READY\n"
PLANT_NICE = 10
"""CPU priority of the plant's server and collector processes. They stand for other
machines (the plant's own servers, edge collectors); on the shared two cores they yield
to the system under test and to the runner, which publishes on a schedule and whose
lateness the report would charge to the system (:mod:`historian.cpu_priority`).
Their own latency is reported (``plant_collect_to_queryable``), not judged."""


@dataclass
class CollectorProc:
    index: int
    protocol: str
    process: ManagedProcess


class PlantLoad:
    def __init__(
        self,
        work: Path,
        profile: str,
        seed: int,
        *,
        speed: float = 1.0,
        fault_mix: SensorFaultMix | None = None,
        tags_per_process: int = 2000,
        collector_interval_s: float = 1.0,
    ) -> None:
        self.work = work
        self.tags_per_process = tags_per_process
        # Modbus poll period / OPC UA publishing interval x 2; at speed N the twin ticks
        # every 1/N wall seconds, so a collector must poll that often to see every tick
        self.collector_interval_s = collector_interval_s
        self.profile = profile
        self.seed = seed
        self.speed = speed
        self.fault_mix = fault_mix
        self.servers: list[ServerProcess] = []
        self.collectors: list[CollectorProc] = []
        self.catalogue_path = work / "sim" / f"catalogue-{profile}.toml"

    def collector_count(self) -> int:
        """How many collector processes :meth:`start` runs (one per server process)."""
        return len(plan_slices(generate_profile(self.profile, self.seed), self.tags_per_process))

    def collector_series(self) -> list[list[int]]:
        """The series ids each collector process publishes (collector ``i``: the tags of
        server ``i``'s slice of the catalogue), e.g. for the ingest's series owners."""
        cat = generate_profile(self.profile, self.seed)  # the fault mix keeps tags and ids
        return [[t.id for t in cat.tags[a:b]] for a, b in plan_slices(cat, self.tags_per_process)]

    def write_catalogue(self) -> Path:
        """Generate the plant's catalogue (with the sensor fault mix) into ``catalogue_path``."""
        cat = generate_profile(self.profile, self.seed)
        if self.fault_mix is not None:
            cat = apply_fault_mix(cat, self.fault_mix, self.seed)
        self.catalogue_path.parent.mkdir(parents=True, exist_ok=True)
        dump_catalogue(cat, self.catalogue_path)
        return self.catalogue_path

    def start(
        self,
        nats_url: str,
        *,
        replicas: int = 1,
        collector_args: Callable[[int, str], tuple[str, list[str]]] | None = None,
        opcua_users: Path | None = None,
    ) -> None:
        """Start servers (blocking until ready) and their collectors (``nats_url``: one
        URL, or a cluster's comma-separated; ``replicas``: of the stream if they create it;
        ``collector_args(i, protocol)``: collector ``i``'s source id and extra options, e.g.
        its bus identity under ``--secure``; default ``collector-<i>``, none;
        ``opcua_users``: the OPC UA servers in secure mode with these users)."""
        self.write_catalogue()
        self.servers = start_servers(
            self.catalogue_path,
            speed=self.speed,
            seed=self.seed,
            workdir=self.work / "sim",
            tags_per_process=self.tags_per_process,
            security="secure" if opcua_users is not None else "none",
            opcua_users=opcua_users,
            nice=PLANT_NICE,
        )
        for srv in self.servers:
            protocol = "modbus" if srv.index % 2 == 0 else "opcua"
            endpoint = (
                f"{srv.modbus_host}:{srv.modbus_port}" if protocol == "modbus"
                else str(srv.opcua_endpoint)
            )  # fmt: skip
            source_id, extra = (
                collector_args(srv.index, protocol)
                if collector_args
                else (f"collector-{srv.index}", [])
            )
            argv = [
                sys.executable, "-m", "harness.plant.collector_process",
                "--catalogue", str(self.catalogue_path),
                "--slice", f"{srv.tag_range[0]}:{srv.tag_range[1]}",
                "--protocol", protocol, "--endpoint", endpoint, "--nats", nats_url,
                "--spool", str(self.work / f"spool-collector-{srv.index}"),
                "--source-id", source_id, "--replicas", str(replicas),
                "--interval-s", str(self.collector_interval_s), *extra,
            ]  # fmt: skip
            log = self.work / "logs" / f"collector-{srv.index}.log"
            self.collectors.append(
                CollectorProc(
                    srv.index,
                    protocol,
                    ManagedProcess(f"collector-{srv.index}", argv, log, nice=PLANT_NICE),
                )
            )
        for c in self.collectors:
            self._start_collector(c)

    def _start_collector(self, c: CollectorProc, timeout_s: float = 60.0) -> None:
        c.process.start()
        c.process.wait_for_log(READY, timeout_s)

    def kill_collector(self, index: int = 0) -> None:
        self.collectors[index].process.kill()

    def restart_collector(self, index: int = 0) -> None:
        self._start_collector(self.collectors[index])

    @property
    def pids(self) -> dict[str, int]:
        out = {f"sim-{s.index}": s.pid for s in self.servers}
        out.update({f"collector-{c.index}": c.process.pid for c in self.collectors
                    if c.process.running})  # fmt: skip
        return out

    def series_ids(self) -> list[int]:
        from sim.tags import load_catalogue

        return [t.id for t in load_catalogue(self.catalogue_path).tags]

    def tag_types(self) -> dict[str, list[int]]:
        from sim.tags import load_catalogue

        out: dict[str, list[int]] = {}
        for t in load_catalogue(self.catalogue_path).tags:
            out.setdefault(t.sensor_name, []).append(t.id)
        return out

    def stop(self) -> None:
        for c in self.collectors:
            c.process.stop()
        if self.servers:
            stop_servers(self.servers)
            self.servers = []
