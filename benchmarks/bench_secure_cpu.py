"""Where the secure bus spends its CPU at the stress ramp's batch size, per mode.

``bench_secure_bus.py`` measures how fast the bus can go; this one asks what each
part of secure mode costs per batch at a fixed offered rate (what decides the p99 of
a ramp step on a busy 2-core machine is CPU, not peak speed). One process publishes
5,000-point TBWB batches with the collectors' :class:`BatchPublisher` at ``--rate``
batches/s while a pull consumer (fetch + ack, as the ingest does) drains them; per
mode it prints the publish->fetched latency p50/p99 and CPU milliseconds per batch
of the client process (both halves) and of nats-server. Modes alternate per round.

    python benchmarks/bench_secure_cpu.py [--batches 400] [--rate 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import numpy as np

from harness.load.synthetic import SyntheticSource
from harness.security.client import SecureNatsConfig
from harness.security.deployment import InitOptions, init_deployment
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.publisher import BatchPublisher
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.bus.wire import decode_batch, encode_batch

PER_BATCH = 5_000
MODES = ("plain", "auth", "auth+tls", "auth+chachapoly", "auth+aes", "secure", "secure-aes")
"""secure = auth + TLS + chachapoly (``security init``'s default); secure-aes with ``aes``."""
_TICKS = os.sysconf("SC_CLK_TCK")


def _server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _deployment(mode: str, chacha: Path, aes: Path) -> Path:
    return aes if mode.endswith("aes") else chacha


async def one_round(
    mode: str, chacha: Path, aes: Path, work: Path, n: int, rate: float
) -> dict[str, float]:
    cfg = None if mode == "plain" else SecureNatsConfig.load(_deployment(mode, chacha, aes))
    tls = mode in ("auth+tls", "secure", "secure-aes")
    cipher = mode not in ("plain", "auth", "auth+tls")
    server_dir = work / f"{mode.replace('+', '-')}-{time.monotonic_ns()}"
    kwargs: dict[str, Any] = {}
    if cfg is not None:
        kwargs = cfg.server_kwargs(server_dir, tls=tls, encrypt_store=cipher)

    def conn(name: str) -> dict[str, Any]:
        return {} if cfg is None else cfg.connect_kwargs(name, tls=tls)

    src = SyntheticSource(np.arange(1, 10_001, dtype=np.uint32), 7, start_ns=time.time_ns())
    batches = [src.batch(i * 5_000_000, PER_BATCH) for i in range(n)]
    with NatsServer(server_dir, **kwargs) as server:
        opts = cfg.manifest.bus if cfg is not None else BusOptions()
        collector = cfg.manifest.identity("acme-collector-1") if cfg is not None else None
        partition = collector.partition if collector is not None and collector.partition else 0
        source = collector.source_id if collector is not None and collector.source_id else "bench"
        admin = await nats.connect(server.url, **conn("acme-operator"))
        await ensure_streams(admin.jetstream(), opts)
        await ensure_consumer(admin.jetstream(), opts, partition)
        await admin.close()
        pub_nc = await nats.connect(server.url, **conn("acme-collector-1"))
        ing_nc = await nats.connect(server.url, **conn("acme-ingest"))
        sub = await ing_nc.jetstream().pull_subscribe_bind(
            opts.consumer_name(partition), opts.stream
        )
        publisher = BatchPublisher(pub_nc, opts.batch_subject(partition), opts)
        latencies: list[float] = []

        async def consume() -> None:
            while len(latencies) < n:
                try:
                    msgs = await sub.fetch(64, timeout=0.5)
                except nats.errors.TimeoutError:
                    continue
                now = time.time_ns()
                for m in msgs:
                    latencies.append((now - decode_batch(m.data).created_ns) / 1e6)
                    await m.ack()

        consumer = asyncio.create_task(consume())
        cpu0, srv0, t0 = time.process_time(), _server_cpu_s(server.pid), time.monotonic()
        for i, b in enumerate(batches):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = encode_batch(b, source_id=source, sequence=i, created_ns=time.time_ns())
            await publisher.publish(payload, f"{source}/{i}")
        await asyncio.wait_for(consumer, 60)
        cpu, srv = time.process_time() - cpu0, _server_cpu_s(server.pid) - srv0
        await pub_nc.close()
        await ing_nc.close()
    p50, p99 = np.percentile(latencies, [50, 99])
    return {
        "p50 ms": float(p50),
        "p99 ms": float(p99),
        "client cpu ms/batch": cpu / n * 1e3,
        "server cpu ms/batch": srv / n * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--rate", type=float, default=40.0, help="batches/s offered")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-secure-cpu-"))
    chacha, aes = work / "sec", work / "sec-aes"
    init_deployment(chacha, InitOptions(tenants=("acme",), collectors=1))
    init_deployment(aes, InitOptions(tenants=("acme",), collectors=1, cipher="aes"))
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else reversed(modes):
            runs[mode].append(
                asyncio.run(one_round(mode, chacha, aes, work, args.batches, args.rate))
            )
    keys = list(runs[modes[0]][0])
    print(
        f"{args.batches} batches x {PER_BATCH} points at {args.rate:g}/s, median of {args.rounds}"
    )
    print("| mode | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for mode in modes:
        med = [statistics.median(x[k] for x in runs[mode]) for k in keys]
        print(f"| {mode} | " + " | ".join(f"{v:.2f}" for v in med) + " |")


if __name__ == "__main__":
    main()
