"""R3 against one node, end to end: publisher -> JetStream -> historian server -> store.

Each run starts the scenario stack (``harness.run.scenario_stack.ScenarioStack``: one
nats-server, or a 3-node cluster with the stream at R3 and ``historian serve
--replicas 3``), then pushes ``--batches`` 1,000-point batches as fast as the
publisher's window allows through a ``BatchForwarder`` (the collectors' code
path, window 256 like the scenario runner). Two figures per run:

- **acked**: points / (first send -> last publish ack): what the bus takes;
- **end to end**: points / (first send -> last applied notice): acked by
  JetStream *and* durable in the historian's store (WAL fsync) and queryable.

Runs alternate single, R3, single, R3, ... (fresh stack each), so machine noise
hits both; prints each run, the medians and the ratio R3 / single (the issue's
target: end to end >= 0.5). On a shared 2-core machine the three nats-server
processes of R3 compete with the historian for the same cores: read ratios.

    python benchmarks/bench_cluster.py [--batches 1500] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nats
import numpy as np
from nats.aio.msg import Msg

from harness.load.synthetic import SyntheticSource
from harness.run.scenario_stack import ScenarioStack
from historian.bus.cluster import server_list
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.ingest.service import APPLIED_PREFIX

POINTS = 1_000
SOURCE = "bench-cluster"


async def one_run(work: Path, nodes: int, batches: int, seed: int) -> tuple[float, float]:
    """(acked points/s, end-to-end points/s) of one fresh stack."""
    stack = ScenarioStack(work, proxy_collector=False, proxy_historian=False, cluster_size=nodes)
    await stack.start()
    try:
        opts = BusOptions(
            ack_timeout_s=5.0, publish_attempts=6, publish_window=256, replicas=stack.bus.replicas
        )
        nc = await nats.connect(server_list(stack.url_for("collector")))
        applied_at: list[int] = []
        acked_at: list[int] = []

        async def on_notice(msg: Msg) -> None:
            notice = json.loads(msg.data)
            for source, _seq, _created, _n in notice["b"]:
                if source == SOURCE:
                    applied_at.append(int(notice["t"]))

        await nc.subscribe(f"{APPLIED_PREFIX}.>", cb=on_notice)
        fwd = BatchForwarder(
            nc,
            opts,
            SOURCE,
            DiskSpool(work / "spool", fsync=False),
            batch_points=POINTS,
            on_ack=lambda _m, _b: acked_at.append(time.time_ns()),
        )
        stop = asyncio.Event()
        run = asyncio.create_task(fwd.run(stop))
        src = SyntheticSource(np.arange(1, 2_001, dtype=np.uint32), seed, start_ns=time.time_ns())
        t0 = time.time_ns()
        for i in range(batches):
            seq, _mid = fwd.reserve()
            await fwd.send_batch(src.batch(i * 1_000_000, POINTS), seq)
        deadline = time.monotonic() + 300
        while len(applied_at) < batches and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await run
        await nc.close()
        if len(applied_at) < batches or len(acked_at) < batches:
            raise RuntimeError(
                f"{nodes} node(s): {len(acked_at)} acked, {len(applied_at)} applied of {batches}"
            )
        total = batches * POINTS
        return total / ((max(acked_at) - t0) / 1e9), total / ((max(applied_at) - t0) / 1e9)
    finally:
        await stack.close()


async def main_async(batches: int, repeats: int) -> None:
    results: dict[int, list[tuple[float, float]]] = {1: [], 3: []}
    k = 0
    for _ in range(repeats):
        for nodes in (1, 3):
            work = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{nodes}-"))
            try:
                acked, e2e = await one_run(work, nodes, batches, seed=k)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            k += 1
            results[nodes].append((acked, e2e))
            label = "single" if nodes == 1 else "R3    "
            print(f"  run {k}: {label} acked {acked:>12,.0f} pts/s  end to end {e2e:>12,.0f} pts/s",
                  flush=True)  # fmt: skip
    med = {n: [statistics.median(r[j] for r in rs) for j in range(2)] for n, rs in results.items()}
    print(f"\n{batches} batches x {POINTS} points, median of {repeats} run(s) per topology")
    print(f"{'topology':>9} {'acked pts/s':>14} {'end to end pts/s':>17}")
    for n, name in ((1, "single"), (3, "R3")):
        print(f"{name:>9} {med[n][0]:>14,.0f} {med[n][1]:>17,.0f}")
    print(f"ratio R3/single: acked {med[3][0] / med[1][0]:.2f}, end to end "
          f"{med[3][1] / med[1][1]:.2f} (target >= 0.5)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=1_500, help="1,000-point batches per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per topology (alternating)")
    args = ap.parse_args()
    asyncio.run(main_async(args.batches, args.repeats))


if __name__ == "__main__":
    main()
