"""One server process: a twin (or replay) for a catalogue slice behind Modbus and OPC UA.

The tick loop paces sim time with :class:`sim.clock.SimClock`, runs the model step
in a worker thread (the event loop never blocks on numpy/scipy, so OPC UA
sessions and Modbus requests keep being served), then writes the tick's values
into both servers in bulk.

Run as a process: ``python -m sim.servers.node --catalogue FILE --start 0 --stop 2000
--ready-file F``; it writes its endpoints as JSON to the ready file once both
servers listen, and stops cleanly on SIGTERM or SIGINT.

A twin's alarms, trips and operator actions (:mod:`sim.plant_events`) are fired as
OPC UA events and, with ``--events-nats URL``, published to the events stream
(docs/events.md).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import gc
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sim.clock import SimClock
from sim.servers.modbus import ModbusTwinServer
from sim.tags import Catalogue, load_catalogue
from sim.twin import PlantTwin, TickResult


class TickSource(Protocol):
    """What the node drives: the plant twin, or a replay of a recording."""

    catalogue: Catalogue
    start_ns: int
    tick_s: float

    def step(self) -> TickResult: ...
    def write(self, key: str | int, value: float) -> int: ...
    def set_pump(self, well: int | str, running: bool) -> int: ...
    def close(self) -> None: ...


@dataclass
class NodeStats:
    ticks: int = 0
    late_ticks: int = 0  # computed after their wall-clock due time + one tick
    max_lag_s: float = 0.0
    last_lag_s: float = 0.0  # the latest tick's start behind its due time (paced only)
    step_s: float = 0.0  # cumulative model step time (worker thread)
    publish_s: float = 0.0  # cumulative server update time (event loop)
    started: float = field(default_factory=time.monotonic)


class TwinNode:
    def __init__(
        self,
        source: TickSource,
        *,
        speed: float | None = 1.0,
        host: str = "127.0.0.1",
        modbus_port: int | None = 0,
        opcua_port: int | None = 0,
        opcua_options: dict[str, Any] | None = None,
        events_nats: str | None = None,
    ) -> None:
        self.source = source
        self.catalogue = source.catalogue
        self.clock = SimClock(source.start_ns, source.tick_s, speed)
        self.host = host
        self.modbus: ModbusTwinServer | None = None
        if modbus_port is not None:
            self.modbus = ModbusTwinServer(self.catalogue, self._modbus_write, host, modbus_port)
        self.opcua: Any = None
        self._opcua_port = opcua_port
        self._opcua_options = opcua_options or {}
        self.stats = NodeStats()
        self.last: TickResult | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="twin-step")
        self._stopping = asyncio.Event()
        self.event_feed: Any = None
        """sim.plant_events.PlantEventFeed of a twin (a replay has no events)."""
        self.event_publisher: Any = None
        """historian.events.publish.EventPublisher with ``events_nats``."""
        self._events_nats = events_nats

    def _modbus_write(self, index: int, value: float) -> int:
        return self.source.write(self.catalogue.tags[index].id, value)

    async def start(self) -> dict[str, Any]:
        """Start the servers; returns the endpoints (ports are bound, 0 = any free port)."""
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "tags": len(self.catalogue),
            "slice": self.catalogue.meta.get("slice", [0, len(self.catalogue)]),
            "first_id": self.catalogue.tags[0].id if len(self.catalogue) else None,
            "last_id": self.catalogue.tags[-1].id if len(self.catalogue) else None,
            "unit_ids": self.catalogue.unit_ids(),
        }
        if self.modbus is not None:
            port = await self.modbus.start()
            info["modbus"] = f"{self.host}:{port}"
        if self._opcua_port is not None:
            from sim.servers.opcua import OpcUaTwinServer

            self.opcua = OpcUaTwinServer(
                self.catalogue, self.source, host=self.host, port=self._opcua_port,
                **self._opcua_options,
            )  # fmt: skip
            info.update(await self.opcua.start())
        if isinstance(self.source, PlantTwin):
            from sim.plant_events import PlantEventFeed

            self.event_feed = PlantEventFeed(self.source)
            info["events_origin"] = self.event_feed.origin
            if self._events_nats is not None:
                from historian.events.publish import EventPublisher

                source_id = f"plant-{info['first_id']}"
                self.event_publisher = EventPublisher(self._events_nats, source_id)
                await self.event_publisher.start()
                info["events_subject"] = self.event_publisher.subject
        # first values before anyone reads: tick 0 is computed at start
        await self.tick_once()
        self.clock.reset(0)  # the next tick (k = 1) is due one period from now
        return info

    async def tick_once(self) -> TickResult:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        result = await loop.run_in_executor(self._executor, self.source.step)
        t1 = time.perf_counter()
        if self.modbus is not None:
            await self.modbus.publish(result.values, result.applied_write_seq, result.emit)
        if self.opcua is not None:
            await self.opcua.publish(result)
        if self.event_feed is not None:
            await self._emit_events(result)
        self.stats.step_s += t1 - t0
        self.stats.publish_s += time.perf_counter() - t1
        self.stats.ticks += 1
        self.last = result
        return result

    async def _emit_events(self, result: TickResult) -> None:
        events = self.event_feed.collect(result)
        if not events:
            return
        if self.event_publisher is not None:
            self.event_publisher.submit(events)
        if self.opcua is not None:
            await self.opcua.emit_events(events)

    async def run(self, ticks: int | None = None) -> None:
        """Tick until :meth:`request_stop` (or ``ticks`` more ticks)."""
        done = 0
        k = self.stats.ticks
        while not self._stopping.is_set() and (ticks is None or done < ticks):
            await self.clock.wait_for(k)
            lag = self.clock.lag_s(k)
            if self.clock.paced and lag > self.clock.tick_s / (self.clock.speed or 1.0):
                self.stats.late_ticks += 1
            self.stats.max_lag_s = max(self.stats.max_lag_s, lag if self.clock.paced else 0.0)
            self.stats.last_lag_s = lag if self.clock.paced else 0.0
            await self.tick_once()
            if getattr(self.source, "finished", False):
                break  # a replay that reached the end of its recording
            if not self.clock.paced:
                await asyncio.sleep(0)  # let requests in between unpaced ticks
            k += 1
            done += 1

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self.event_publisher is not None:
            await self.event_publisher.close()
        if self.opcua is not None:
            await self.opcua.stop()
        if self.modbus is not None:
            await self.modbus.stop()
        self._executor.shutdown(wait=True)
        self.source.close()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sim.servers.node", description=__doc__)
    p.add_argument("--catalogue", required=True, type=Path)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--stop", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0, help="0 = as fast as possible")
    p.add_argument("--tick", type=float, default=1.0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--modbus-port", type=int, default=0, help="-1 = no Modbus server")
    p.add_argument("--opcua-port", type=int, default=0, help="-1 = no OPC UA server")
    p.add_argument("--ready-file", type=Path, required=True)
    p.add_argument("--emitted", type=Path, default=None, help="Arrow stream of emitted points")
    p.add_argument("--replay", type=Path, default=None, help="recording to replay instead")
    p.add_argument("--rebase", action="store_true", help="replay: re-base timestamps to now")
    p.add_argument("--rebase-to-ns", type=int, default=None,
                   help="replay: re-base so the first record is at this time")  # fmt: skip
    p.add_argument("--hold-file", type=Path, default=None,
                   help="publish tick 0, then wait for this file to exist")  # fmt: skip
    p.add_argument("--progress-file", type=Path, default=None,
                   help="replay: rewrite progress JSON here (sim.replay_progress)")  # fmt: skip
    p.add_argument(
        "--security", "--opcua-security", default="none",
        help="opcua: none | sign | encrypt | all | secure (docs/opcua.md, Secure mode)",
    )  # fmt: skip
    p.add_argument("--opcua-users", type=Path, help="secure: users TOML with password hashes")
    p.add_argument("--opcua-cert", type=Path, help="secure: server certificate (DER or PEM)")
    p.add_argument("--opcua-key", type=Path, help="secure: its private key (PEM)")
    p.add_argument("--opcua-trust", type=Path, help="secure: only client certificates in DIR")
    p.add_argument("--opcua-pki-dir", type=Path, help="secure: where a certificate is generated")
    p.add_argument("--users", default="", help="opcua: user:password,user2:password2")
    p.add_argument("--start-ns", type=int, default=None)
    p.add_argument(
        "--history-from", default=None, metavar="URL",
        help="answer OPC UA HistoryRead from this historian's HTTP API (docs/replay.md)",
    )  # fmt: skip
    p.add_argument(
        "--events-nats", default=None, metavar="URL",
        help="publish the twin's alarms and events to the events stream (docs/events.md)",
    )  # fmt: skip
    p.add_argument("--trip-mtbf", type=float, default=None, metavar="S",
                   help="mean sim seconds between pump trips per well (default 8 h)")  # fmt: skip
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    cat = load_catalogue(args.catalogue)
    stop = args.stop if args.stop is not None else len(cat)
    part = cat.slice(args.start, stop)
    source: TickSource
    if args.replay is not None:
        from sim.replay import ReplaySource

        source = ReplaySource.from_file(
            args.replay, part, rebase=args.rebase or args.rebase_to_ns is not None,
            rebase_to_ns=args.rebase_to_ns, tick_s=args.tick,
        )  # fmt: skip
    else:
        events = None
        if args.trip_mtbf is not None:
            from sim.events import EventConfig

            events = EventConfig(trip_mtbf_s=args.trip_mtbf)
        source = PlantTwin(
            part, args.seed, tick_s=args.tick, start_ns=args.start_ns, emitted_path=args.emitted,
            event_config=events,
        )  # fmt: skip
    users = dict(u.split(":", 1) for u in args.users.split(",") if u)
    opcua_options: dict[str, Any] = {"security": args.security, "users": users}
    if args.security == "secure":
        from historian.opcua.security import SecureModeConfig

        if args.opcua_users is None:
            raise SystemExit("error: --opcua-security secure needs --opcua-users FILE")

        opcua_options["users"] = None
        secure = SecureModeConfig(
            args.opcua_users, args.opcua_cert, args.opcua_key, args.opcua_trust
        )
        opcua_options["secure"] = secure
        opcua_options["pki_dir"] = args.opcua_pki_dir
    if args.history_from:
        from sim.servers.history_http import HistorianHttpHistory

        names = {t.id: t.path for t in part.tags}
        opcua_options["history"] = HistorianHttpHistory(args.history_from, names)
    node = TwinNode(
        source,
        speed=args.speed if args.speed > 0 else None,
        host=args.host,
        modbus_port=None if args.modbus_port < 0 else args.modbus_port,
        opcua_port=None if args.opcua_port < 0 else args.opcua_port,
        opcua_options=opcua_options,
        events_nats=args.events_nats,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    info = await node.start()
    # The address space is ~800 k long-lived objects; a full collection walked them all
    # (a ~0.6 s stall of the loop on this machine, where asyncua's watchdog drops sessions
    # at ~1 s) while ticks allocate thousands of DataValues: frozen, they are never scanned
    gc.collect()
    gc.freeze()
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(args.ready_file)  # atomic: readers never see half a file
    if args.hold_file is not None:  # no deadline: SIGTERM ends the wait
        while not args.hold_file.exists() and not node._stopping.is_set():
            await asyncio.sleep(0.02)
        node.clock.reset(0)  # tick 1 is due one period after the go, not after start
    progress_done = asyncio.Event()
    progress = None
    if args.progress_file is not None and hasattr(source, "progress"):
        from sim.replay_progress import write_progress_until

        progress = asyncio.create_task(
            write_progress_until(node, args.progress_file, progress_done)
        )
    try:
        await node.run()
        progress_done.set()  # the last write says finished
        if progress is not None:
            await progress
        if not node._stopping.is_set():  # replay ended: keep serving the last values
            await node._stopping.wait()
    finally:
        progress_done.set()
        if progress is not None and not progress.done():
            progress.cancel()
        await node.stop()
        st = node.stats
        print(json.dumps({"stats": {
            "ticks": st.ticks, "late_ticks": st.late_ticks, "max_lag_s": round(st.max_lag_s, 3),
            "step_s": round(st.step_s, 3), "publish_s": round(st.publish_s, 3),
            "wall_s": round(time.monotonic() - st.started, 3),
        }}), flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
