"""A collector as its own OS process: poll/subscribe tags of the catalogue, publish to NATS.

    python -m historian.collect --catalogue plant.toml --pattern 'acme.site1.*' \\
        --protocol modbus --endpoint 127.0.0.1:5020 --nats nats://127.0.0.1:4222 \\
        --spool /tmp/spool-0 --source-id collector-0

Tags: every tag of ``--catalogue`` (its collector fields, :mod:`historian.collect.tags`),
narrowed by ``--pattern GLOB`` or ``--tags-file FILE`` (one tag path a line), then by
``--slice start:stop`` (positions). ``harness.plant.collector_process`` is the same process
over the simulator's catalogue reader; both share :func:`add_collector_arguments` and
:func:`run_collector`.

Prints ``READY`` once the first poll/subscription is running (and writes
``{"pid", "metrics"}`` to ``--ready-file`` atomically) and a JSON status line every
``--status-every`` seconds. SIGTERM stops it after flushing what it can: with
``--drain-on-stop S`` the source stops first and the forwarder then gets up to S
seconds to publish everything pending *and* empty the spool; what is still unsent
after that stays in the spool. SIGKILL is survived through the spool. ``--drain-only``
reads no device: it publishes the spool and exits 0 once it is empty (a removed
connection's leftovers). ``--metrics HOST:PORT`` (off by default; port 0 = any free
port) serves a Prometheus page (``historian.collect.metrics``) and prints
``{"metrics": URL}`` before ``READY``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from nats.aio.client import Client as NATS

from historian.bus.auth import NatsAuth, add_nats_auth_arguments, nats_auth_from_args
from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.metrics import CollectorMetrics, parse_listen, serve_metrics
from historian.collect.modbus import ModbusPoller
from historian.collect.opcua import OpcUaCollector, OpcUaSecurity
from historian.collect.spool import DiskSpool
from historian.errors import CatalogueError
from historian.fs import FileSystem

__all__ = ["add_collector_arguments", "main", "opcua_security", "run_collector", "slice_of"]


def slice_of(text: str | None, n: int) -> tuple[int, int]:
    """``"a:b"`` -> (a, b) with blanks meaning 0 and ``n``."""
    if not text:
        return 0, n
    a, _, b = text.partition(":")
    return int(a or 0), int(b or n)


async def run_collector(args: argparse.Namespace, tags: Sequence[Any], stop: asyncio.Event) -> None:
    """Run one collector over ``tags`` until ``stop`` (see the module docstring)."""
    stream = getattr(args, "stream", BusOptions().stream)
    opts = BusOptions(stream=stream, partitions=args.partitions, replicas=args.replicas)
    # Not connected yet is fine: the forwarder spools until the bus is reachable, so a
    # collector started while NATS is down loses nothing (nats-py itself gives up on a
    # failed *first* connect, hence the loop in connect_until_up).
    nc = NATS()
    spool = DiskSpool(Path(args.spool), max_bytes=args.spool_max_bytes)
    auth = nats_auth_from_args(args)
    # create_stream: a collector started before the historian still gets its stream; a
    # secured collector may not (no $JS.API rights): the operator provisions it
    fwd = BatchForwarder(
        nc, opts, args.source_id, spool, batch_points=args.batch_points,
        create_stream=not auth.secured,
    )  # fmt: skip
    drain_only = getattr(args, "drain_only", False)
    source: ModbusPoller | OpcUaCollector | None = None
    if drain_only:
        pass
    elif args.protocol == "modbus":
        host, _, port = args.endpoint.rpartition(":")
        source = ModbusPoller(host, int(port), tags, fwd, poll_interval_s=args.interval_s)
    else:
        security = opcua_security(args)
        source = OpcUaCollector(
            args.endpoint, tags, fwd, security=security,
            publishing_interval_ms=args.interval_s * 1000 / 2, queue_size=args.queue_size,
        )  # fmt: skip
    metrics = None
    metrics_url = None
    if args.metrics is not None and source is not None:
        host, port = parse_listen(args.metrics)
        exported = CollectorMetrics(args.source_id, source, fwd, spool, lambda: nc.is_connected)
        metrics = serve_metrics(exported, host, port)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        metrics_url = f"http://{shown}:{metrics.server_port}/metrics"
        print(json.dumps({"metrics": metrics_url}), flush=True)
    source_stop, fwd_stop = asyncio.Event(), asyncio.Event()
    connect = asyncio.create_task(connect_until_up(nc, args.nats, stop, auth))
    forwarding = asyncio.create_task(fwd.run(fwd_stop))
    reading = asyncio.create_task(source.run(source_stop)) if source is not None else None
    print("READY", flush=True)
    if getattr(args, "ready_file", None) is not None:
        ready = {"pid": os.getpid(), "metrics": metrics_url}
        FileSystem().write_atomic(str(args.ready_file), json.dumps(ready).encode())

    async def status() -> None:
        while not stop.is_set():
            await asyncio.sleep(args.status_every)
            line = {
                "source": asdict(source.metrics) if source is not None else None,
                "forwarder": {
                    k: v for k, v in asdict(fwd.metrics).items() if k != "publish_errors"
                },
                "spool_batches": len(spool),
                "spool_bytes": spool.size_bytes,
                "spool_alarm": spool.alarm,
            }
            print(json.dumps(line), flush=True)

    async def drained() -> None:  # --drain-only: done once the spool is empty
        while len(spool) or not nc.is_connected:
            await asyncio.sleep(0.1)
        stop.set()

    side = [asyncio.create_task(status())]
    if drain_only:
        side.append(asyncio.create_task(drained()))
    await stop.wait()
    # the device first, so its last readings reach the forwarder; then the forwarder
    source_stop.set()
    if reading is not None:
        await asyncio.gather(reading, return_exceptions=True)
    drain_s = getattr(args, "drain_on_stop", 0.0)
    if drain_s > 0 and nc.is_connected:
        with contextlib.suppress(Exception):
            await fwd.flush(timeout=drain_s)
    fwd_stop.set()
    # bounded: a publish stuck on a bus that never comes back must not keep the process
    # alive (cancelled publishes go to the spool); nats-py may also retry a first connect
    # forever, so that task is cancelled rather than awaited
    done, _ = await asyncio.wait({forwarding}, timeout=opts.ack_timeout_s + 10)
    if not done:
        forwarding.cancel()
    connect.cancel()
    await asyncio.gather(forwarding, connect, return_exceptions=True)
    for task in side:
        task.cancel()
    await asyncio.gather(*side, return_exceptions=True)
    if metrics is not None:
        metrics.shutdown()
        metrics.server_close()
    if nc.is_connected:
        await nc.drain()
    if drain_only and len(spool):
        raise SystemExit(1)  # stopped before the spool was empty: the caller runs it again


def opcua_security(args: argparse.Namespace) -> OpcUaSecurity:
    """The OPC UA session settings; secure mode gets a client certificate next to the spool."""
    password = args.password
    if args.password_file is not None:
        password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    if args.opcua_security == "none":
        return OpcUaSecurity(username=args.username, password=password)
    cert, key = args.client_cert, args.client_key
    if cert is None or key is None:
        from historian.opcua.security import ensure_certificate

        pki = Path(args.spool).resolve().parent / f"{args.source_id}-opcua-pki"
        pair = ensure_certificate(
            pki, f"urn:twinbench:collector:{args.source_id}", f"twinbench collector "
            f"{args.source_id}", name="client",
        )  # fmt: skip
        cert, key = pair.certificate, pair.private_key
    return OpcUaSecurity(
        mode="SignAndEncrypt", certificate=Path(cert), private_key=Path(key),
        username=args.username, password=password, policy=args.opcua_policy,
    )  # fmt: skip


async def connect_until_up(
    nc: NATS, url: str, stop: asyncio.Event, auth: NatsAuth | None = None
) -> None:
    delay = 0.2
    kwargs = (auth or NatsAuth()).connect_kwargs()
    while not stop.is_set():
        try:
            await nc.connect(
                server_list(url), max_reconnect_attempts=-1, connect_timeout=2, error_cb=_quiet,
                reconnect_time_wait=0.2,  # type: ignore[arg-type]  # typed int, takes seconds
                **kwargs,
            )  # fmt: skip
            return
        except Exception as exc:  # refused, timeout, DNS: keep spooling and retry
            print(json.dumps({"nats": f"not reachable yet: {type(exc).__name__}"}), flush=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)


async def _quiet(exc: Exception) -> None:
    print(json.dumps({"nats_error": f"{type(exc).__name__}: {exc}"}), flush=True)


def add_collector_arguments(ap: argparse.ArgumentParser) -> None:
    """Every option but the tag selection (the caller's catalogue reader owns that)."""
    ap.add_argument("--protocol", choices=["modbus", "opcua"], required=True)
    ap.add_argument("--endpoint", required=True, help="HOST:PORT (Modbus) or opc.tcp:// URL")
    ap.add_argument("--nats", required=True, help="nats://HOST:PORT; a cluster's, comma-separated")
    ap.add_argument("--replicas", type=int, default=1, help="replicas if it creates the stream")
    ap.add_argument("--spool", required=True)
    ap.add_argument("--spool-max-bytes", type=int, default=1024**3)
    ap.add_argument("--source-id", required=True)
    add_nats_auth_arguments(ap)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--stream", default=BusOptions().stream, help="stream it creates if missing")
    ap.add_argument("--batch-points", type=int, default=1000)
    ap.add_argument("--interval-s", type=float, default=1.0)
    ap.add_argument("--queue-size", type=int, default=10, help="opcua: values queued per item")
    ap.add_argument("--username")
    ap.add_argument("--password", help="OPC UA password (visible in ps: prefer --password-file)")
    ap.add_argument("--password-file", type=Path, help="file whose first line is the password")
    ap.add_argument(
        "--opcua-security", choices=["none", "secure"], default="none",
        help="secure: SignAndEncrypt with a client certificate (generated if not given)",
    )  # fmt: skip
    ap.add_argument("--opcua-policy", default="Basic256Sha256", help="secure: security policy")
    ap.add_argument("--client-cert", type=Path, help="secure: client certificate (DER or PEM)")
    ap.add_argument("--client-key", type=Path, help="secure: its private key (PEM)")
    ap.add_argument("--status-every", type=float, default=1.0)
    ap.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus /metrics here (port 0 = any free; off by default)",
    )
    ap.add_argument("--ready-file", type=Path, help='write {"pid", "metrics"} JSON once READY')
    ap.add_argument(
        "--drain-on-stop",
        type=float,
        default=0.0,
        metavar="S",
        help="on SIGTERM, give the forwarder up to S seconds to publish pending and spooled data",
    )


def parse_collector_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, then refuse what :func:`serve` would only find later (usage error, exit 2):
    a missing seed/CA file or half a cert pair, a bad ``--metrics`` address."""
    args = ap.parse_args(argv)
    try:
        nats_auth_from_args(args)
    except ValueError as exc:
        ap.error(str(exc))
    if args.metrics is not None:
        try:
            parse_listen(args.metrics)
        except ValueError as exc:
            ap.error(str(exc))
    return args


def serve(args: argparse.Namespace, tags: Sequence[Any]) -> int:
    """Run :func:`run_collector` until SIGTERM/SIGINT; the process's exit code."""
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_collector(args, tags, stop)

    asyncio.run(runner())
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (no usage block)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    from historian.collect.tags import read_collector_tags, select_tags

    ap = _Parser(prog="python -m historian.collect", description=__doc__)
    ap.add_argument("--catalogue", type=Path, required=True, help="tag catalogue TOML")
    ap.add_argument("--pattern", help="only tags whose path matches this shell glob")
    ap.add_argument("--tags-file", type=Path, help="only the tags named here, one path a line")
    ap.add_argument("--slice", help="tag positions start:stop (after --pattern/--tags-file)")
    ap.add_argument("--drain-only", action="store_true", help="publish the spool, then exit")
    add_collector_arguments(ap)
    args = parse_collector_args(ap, argv)
    if args.pattern is not None and args.tags_file is not None:
        ap.error("give --pattern or --tags-file, not both")
    try:
        tags = read_collector_tags(args.catalogue)
        names = None
        if args.tags_file is not None:
            lines = args.tags_file.read_text(encoding="utf-8").splitlines()
            names = [line.strip() for line in lines if line.strip()]
        tags = select_tags(tags, pattern=args.pattern, names=names)
    except (CatalogueError, OSError) as exc:
        ap.error(str(exc))
    lo, hi = slice_of(args.slice, len(tags))
    tags = tags[lo:hi]
    if not tags and not args.drain_only:
        ap.error("no tags selected: check --pattern/--tags-file/--slice against the catalogue")
    return serve(args, tags)


if __name__ == "__main__":
    sys.exit(main())
