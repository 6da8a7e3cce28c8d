"""A collector as its own OS process: poll/subscribe a slice of the catalogue, publish to NATS.

    python -m harness.collector_process --catalogue plant.toml --slice 0:2000 \\
        --protocol modbus --endpoint 127.0.0.1:5020 --nats nats://127.0.0.1:4222 \\
        --spool /tmp/spool-0 --source-id collector-0

It lives in ``harness`` because it joins the simulator's catalogue format
(``sim.tags``) to the historian's collectors, and the historian must not import
the simulator. Prints ``READY`` once the first poll/subscription is running
and a JSON status line every ``--status-every`` seconds; SIGTERM stops it
after flushing what it can, SIGKILL is survived through the spool.
``--metrics HOST:PORT`` (off by default; port 0 = any free port) serves a Prometheus
page (``historian.collect.metrics``) and prints ``{"metrics": URL}`` before ``READY``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from nats.aio.client import Client as NATS

from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.metrics import CollectorMetrics, parse_listen, serve_metrics
from historian.collect.modbus import ModbusPoller
from historian.collect.opcua import OpcUaCollector, OpcUaSecurity
from historian.collect.spool import DiskSpool
from sim.tags import load_catalogue


def _slice(text: str | None, n: int) -> tuple[int, int]:
    if not text:
        return 0, n
    a, _, b = text.partition(":")
    return int(a or 0), int(b or n)


async def run_collector(args: argparse.Namespace, stop: asyncio.Event) -> None:
    cat = load_catalogue(args.catalogue)
    lo, hi = _slice(args.slice, len(cat))
    tags = cat.tags[lo:hi]
    opts = BusOptions(partitions=args.partitions, replicas=args.replicas)
    # Not connected yet is fine: the forwarder spools until the bus is reachable, so a
    # collector started while NATS is down loses nothing (nats-py itself gives up on a
    # failed *first* connect, hence the loop in connect_until_up).
    nc = NATS()
    spool = DiskSpool(Path(args.spool), max_bytes=args.spool_max_bytes)
    # create_stream: a collector started before the historian still gets its stream
    fwd = BatchForwarder(
        nc, opts, args.source_id, spool, batch_points=args.batch_points, create_stream=True
    )
    source: ModbusPoller | OpcUaCollector
    if args.protocol == "modbus":
        host, _, port = args.endpoint.rpartition(":")
        source = ModbusPoller(host, int(port), tags, fwd, poll_interval_s=args.interval_s)
    else:
        security = opcua_security(args)
        source = OpcUaCollector(
            args.endpoint, tags, fwd, security=security,
            publishing_interval_ms=args.interval_s * 1000 / 2, queue_size=args.queue_size,
        )  # fmt: skip
    metrics = None
    if args.metrics is not None:
        host, port = parse_listen(args.metrics)
        exported = CollectorMetrics(args.source_id, source, fwd, spool, lambda: nc.is_connected)
        metrics = serve_metrics(exported, host, port)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(json.dumps({"metrics": f"http://{shown}:{metrics.server_port}/metrics"}), flush=True)
    tasks = [
        asyncio.create_task(connect_until_up(nc, args.nats, stop)),
        asyncio.create_task(fwd.run(stop)),
        asyncio.create_task(source.run(stop)),
    ]
    print("READY", flush=True)

    async def status() -> None:
        while not stop.is_set():
            await asyncio.sleep(args.status_every)
            line = {
                "source": asdict(source.metrics),
                "forwarder": {
                    k: v for k, v in asdict(fwd.metrics).items() if k != "publish_errors"
                },
                "spool_batches": len(spool),
                "spool_bytes": spool.size_bytes,
                "spool_alarm": spool.alarm,
            }
            print(json.dumps(line), flush=True)

    tasks.append(asyncio.create_task(status()))
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    if metrics is not None:
        metrics.shutdown()
        metrics.server_close()
    if nc.is_connected:
        await nc.drain()


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


async def connect_until_up(nc: NATS, url: str, stop: asyncio.Event) -> None:
    delay = 0.2
    while not stop.is_set():
        try:
            await nc.connect(
                server_list(url), max_reconnect_attempts=-1, connect_timeout=2, error_cb=_quiet,
                reconnect_time_wait=0.2,  # type: ignore[arg-type]  # typed int, takes seconds
            )  # fmt: skip
            return
        except Exception as exc:  # refused, timeout, DNS: keep spooling and retry
            print(json.dumps({"nats": f"not reachable yet: {type(exc).__name__}"}), flush=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)


async def _quiet(exc: Exception) -> None:
    print(json.dumps({"nats_error": f"{type(exc).__name__}: {exc}"}), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.collector_process", description=__doc__)
    ap.add_argument("--catalogue", type=Path, required=True)
    ap.add_argument("--slice", help="tag positions start:stop")
    ap.add_argument("--protocol", choices=["modbus", "opcua"], required=True)
    ap.add_argument("--endpoint", required=True, help="HOST:PORT (Modbus) or opc.tcp:// URL")
    ap.add_argument("--nats", required=True, help="nats://HOST:PORT; a cluster's, comma-separated")
    ap.add_argument("--replicas", type=int, default=1, help="replicas if it creates the stream")
    ap.add_argument("--spool", required=True)
    ap.add_argument("--spool-max-bytes", type=int, default=1024**3)
    ap.add_argument("--source-id", required=True)
    ap.add_argument("--partitions", type=int, default=1)
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
    args = ap.parse_args(argv)
    if args.metrics is not None:
        try:
            parse_listen(args.metrics)
        except ValueError as exc:
            ap.error(str(exc))
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_collector(args, stop)

    asyncio.run(runner())
    return 0


if __name__ == "__main__":
    sys.exit(main())
