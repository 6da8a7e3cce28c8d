"""What idle ingest workers cost: N partitions with no traffic, plain vs secure (TLS + NKEY).

A secured deployment gives every collector its own partition (``security init``
picks the fewest partitions that do: 16 for 6 collectors), and each ingest worker
keeps fetching (0.5 s timeout), reads its consumer lag and the stream every second
and runs a 10 ms loop-lag probe, whether or not its partition carries anything.
This measures that floor: an in-process :class:`IngestHost` over ``--partitions``
idle partitions for ``--seconds``, its CPU (% of one core) and nats-server's.

    python benchmarks/bench_idle_workers.py [--workers 1,6,16] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import nats

from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.services import NatsServer
from historian.bus.auth import NatsAuth
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.ingest.service import IngestHost
from historian.model import PointBatch

_TICKS = os.sysconf("SC_CLK_TCK")


class _Sink:
    def write(self, batch: PointBatch) -> int:
        return len(batch)


def _server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def one(n: int, secure: bool, seconds: float) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    cfg: SecureNatsConfig | None = None
    kwargs: dict[str, Any] = {}
    if secure:
        init_deployment(tmp / "sec", InitOptions(collectors=1, partitions=n))
        cfg = SecureNatsConfig.load(tmp / "sec")
        kwargs = cfg.server_kwargs(tmp / "nats")
    with NatsServer(tmp / "nats", **kwargs) as server:
        opts = cfg.manifest.bus if cfg else BusOptions(partitions=n)
        nc = await nats.connect(server.url, **(cfg.connect_kwargs("acme-operator") if cfg else {}))
        await ensure_streams(nc.jetstream(), opts)
        for p in range(n):
            await ensure_consumer(nc.jetstream(), opts, p)
        await nc.close()
        auth = NatsAuth()
        if cfg is not None:
            ident = cfg.manifest.identity("acme-ingest")
            auth = NatsAuth(
                nkey_seed=cfg.path(ident.seed_file), tls_ca=cfg.path(cfg.manifest.tls.ca_cert)
            )
        (tmp / "cp").mkdir()
        host = IngestHost(
            _Sink(), server.url, opts, list(range(n)), tmp / "cp", auth=auth, bind_only=secure
        )
        await host.start()
        stop = asyncio.Event()
        running = asyncio.create_task(host.run(stop))
        await asyncio.sleep(2.0)  # past the start-up requests
        c0, s0 = time.process_time(), _server_cpu_s(server.pid)
        await asyncio.sleep(seconds)
        c1, s1 = time.process_time(), _server_cpu_s(server.pid)
        stop.set()
        await running
        await host.close()
    return 100 * (c1 - c0) / seconds, 100 * (s1 - s0) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,6,16")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    print("| idle workers | mode | ingest CPU % of a core | nats-server CPU % |")
    print("|---|---|---|---|")
    for n in (int(x) for x in args.workers.split(",")):
        for secure in (False, True):
            ingest, server = asyncio.run(one(n, secure, args.seconds))
            mode = "secure" if secure else "plain"
            print(f"| {n} | {mode} | {ingest:.1f} | {server:.1f} |", flush=True)


if __name__ == "__main__":
    main()
