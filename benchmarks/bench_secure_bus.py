"""What bus security costs: plain nats-server vs TLS + NKEY users + permissions + store encryption.

Side by side in one run, alternating the modes (``--rounds`` times each, medians):

* ``plain``: today's default (no TLS, no auth, unencrypted store);
* ``secure``: a ``twinbench security init`` deployment: TLS, NKEY users with
  least-privilege permissions in a tenant account, ``cipher: chachapoly``;
* ``secure+mtls``: the same with client certificates (``verify: true``);
* ``auth``, ``auth+cipher``, ``auth+tls``: one part at a time, to see which costs.

Each round publishes pre-encoded 1,000-point TBWB batches with the collectors'
own :class:`BatchPublisher` (window 64, ``Nats-Msg-Id``) as a collector
identity, then drains them as the ingest identity (pull fetch 64, ``ack`` each).
Prints points/s of both halves, the publish->ack latency p50/p99, and each
secure mode's ratio to plain (issue 19 target: <= 15 % throughput cost,
<= 5 ms p99 publish->queryable; this measures the bus share of it only).

    python benchmarks/bench_secure_bus.py [--points 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
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
from historian.bus.wire import encode_batch

PER_BATCH = 1_000
MODES = ("plain", "auth", "auth+cipher", "auth+tls", "secure", "secure+mtls", "secure-aes")
"""auth: NKEY users + permissions + accounts only; +cipher: store encryption; +tls: TLS;
secure: all three (what `security init` deploys); secure+mtls: with client certificates;
secure-aes: `security init --cipher aes` (AES-GCM instead of ChaCha20-Poly1305)."""


def payloads(points: int) -> list[bytes]:
    src = SyntheticSource(np.arange(1, 10_001, dtype=np.uint32), 7, start_ns=time.time_ns())
    return [
        encode_batch(src.batch(i * 1_000_000, PER_BATCH), source_id="bench", sequence=i)
        for i in range(points // PER_BATCH)
    ]


def connect_args(cfg: SecureNatsConfig | None, name: str, mode: str) -> dict[str, Any]:
    if cfg is None:
        return {}
    return cfg.connect_kwargs(name, mtls=mode == "secure+mtls", tls=_tls(mode))


def _tls(mode: str) -> bool:
    return mode in ("auth+tls", "secure", "secure+mtls", "secure-aes")


async def one_round(
    mode: str, deployment: Path, work: Path, batches: list[bytes]
) -> tuple[float, float, float, float]:
    if mode == "secure-aes":
        deployment = deployment.with_name(deployment.name + "-aes")
    cfg = None if mode == "plain" else SecureNatsConfig.load(deployment)
    server_dir = work / f"{mode.replace('+', '-')}-{time.monotonic_ns()}"
    kwargs: dict[str, Any] = {}
    if cfg is not None:
        kwargs = cfg.server_kwargs(
            server_dir,
            mtls=mode == "secure+mtls",
            tls=_tls(mode),
            encrypt_store=mode in ("auth+cipher", "secure", "secure+mtls", "secure-aes"),
        )
    with NatsServer(server_dir, **kwargs) as server:
        opts = cfg.manifest.bus if cfg is not None else BusOptions()
        collector = cfg.manifest.identity("acme-collector-1") if cfg is not None else None
        partition = collector.partition if collector is not None and collector.partition else 0
        admin = await nats.connect(server.url, **connect_args(cfg, "acme-operator", mode))
        js_admin = admin.jetstream()
        await ensure_streams(js_admin, opts)
        await ensure_consumer(js_admin, opts, partition)
        await admin.close()

        nc = await nats.connect(server.url, **connect_args(cfg, "acme-collector-1", mode))
        publisher = BatchPublisher(nc, opts.batch_subject(partition), opts)
        t0 = time.perf_counter()
        for i, p in enumerate(batches):
            await publisher.publish(p, f"bench/{i}")
        await publisher.drain(timeout=120)
        publish_s = time.perf_counter() - t0
        lat = np.array(publisher.metrics.take_latencies())
        await nc.close()

        ing = await nats.connect(server.url, **connect_args(cfg, "acme-ingest", mode))
        sub = await ing.jetstream().pull_subscribe_bind(opts.consumer_name(partition), opts.stream)
        got = 0
        t0 = time.perf_counter()
        while got < len(batches):
            for msg in await sub.fetch(64, timeout=5):
                await msg.ack()
                got += 1
        await ing.flush()
        consume_s = time.perf_counter() - t0
        await ing.close()
    points = len(batches) * PER_BATCH
    p50, p99 = np.percentile(lat, [50, 99]) * 1e3 if len(lat) else (float("nan"),) * 2
    return points / publish_s, points / consume_s, float(p50), float(p99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-secure-bus-"))
    deployment = work / "sec"
    init_deployment(deployment, InitOptions(tenants=("acme",), collectors=1))
    aes = InitOptions(tenants=("acme",), collectors=1, cipher="aes")
    init_deployment(deployment.with_name(deployment.name + "-aes"), aes)
    batches = payloads(args.points)
    results: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:  # alternate, so drift on a shared machine hits every mode alike
            results[mode].append(asyncio.run(one_round(mode, deployment, work, batches)))
    med = {m: [statistics.median(r[i] for r in rs) for i in range(4)] for m, rs in results.items()}
    print(f"{len(batches)} batches x {PER_BATCH} points, median of {args.rounds} rounds")
    print(
        f"{'mode':<12} {'publish pts/s':>14} {'consume pts/s':>14} "
        f"{'ack p50 ms':>10} {'ack p99 ms':>10} {'pub vs plain':>12} {'cons vs plain':>13}"
    )
    base = med["plain"]
    for mode in MODES:
        pub, cons, p50, p99 = med[mode]
        print(
            f"{mode:<12} {pub:>14,.0f} {cons:>14,.0f} {p50:>10.2f} {p99:>10.2f} "
            f"{pub / base[0]:>12.2f} {cons / base[1]:>13.2f}"
        )


if __name__ == "__main__":
    main()
