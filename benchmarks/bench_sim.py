"""Plant-twin benchmarks: model CPU share, Modbus registers/s, OPC UA notifications/s.

    python benchmarks/bench_sim.py [--quick]

Each figure is printed beside a baseline measured in the same run, as a ratio:

1. Model step CPU share, stress profile (1,000 wells / 10,000 tags) at 1 Hz:
   CPU seconds per tick of the whole twin step (events + one vectorised solve_ivp
   + alarms + sensors). Target < 25 % of a core. Baseline: stepping the same
   wells with one solve_ivp call per well (measured on 50 wells, scaled to 1,000).
2. Modbus registers/s read from one server process (2,000 tags, ticking at 1 Hz),
   125-register reads over 4 connections. Target >= 200 k/s. Baseline: a stock
   pymodbus SimDevice server with the same register blocks and no twin.
3. OPC UA notifications/s delivered to one subscriber of all 2,000 tags of a server
   ticking as fast as it can. Target >= 20 k/s. Baseline: a stock asyncua server
   whose values are written in a plain loop (no twin).

Bounded: every load loop is bounded in time; the whole run takes ~1-2 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.catalogue_gen import generate_profile  # noqa: E402
from sim.models.oilfield import OilField  # noqa: E402
from sim.servers.launch import start_servers, stop_servers  # noqa: E402
from sim.twin import PlantTwin  # noqa: E402


def bench_model(ticks: int) -> dict[str, float]:
    twin = PlantTwin(generate_profile("stress", seed=1), seed=1, start_ns=0)
    twin.run(3)  # warm up
    c0, w0 = time.process_time(), time.perf_counter()
    twin.run(ticks)
    cpu = (time.process_time() - c0) / ticks
    wall = (time.perf_counter() - w0) / ticks
    # baseline: one solve_ivp per well, 50 wells, scaled to 1,000
    m = OilField.random(50, seed=1)
    x, u = m.initial_state(1), m.default_inputs()
    singles = [OilField(m.p.take(slice(w, w + 1))) for w in range(50)]
    xs = [x.reshape(7, 50)[:, w].copy() for w in range(50)]
    us = [u.reshape(4, 50)[:, w].copy() for w in range(50)]
    reps = max(3, ticks // 10)
    c0 = time.process_time()
    for k in range(reps):
        for w, s in enumerate(singles):
            xs[w] = s.step(xs[w], us[w], 1.0, float(k))
    per_well_cpu = (time.process_time() - c0) / reps / 50 * 1000
    return {
        "cpu_s_per_tick": cpu,
        "wall_s_per_tick": wall,
        "cpu_share_at_1hz": cpu / 1.0,
        "baseline_per_well_cpu_s_per_tick": per_well_cpu,
        "speedup_vs_per_well": per_well_cpu / cpu,
    }


async def _read_registers(port: int, unit: int, seconds: float, conns: int) -> float:
    from pymodbus.client import AsyncModbusTcpClient

    clients = [AsyncModbusTcpClient("127.0.0.1", port=port) for _ in range(conns)]
    for c in clients:
        await c.connect()
    counts = [0] * conns
    deadline = time.perf_counter() + seconds

    async def loop(k: int, c: AsyncModbusTcpClient) -> None:
        addr = 0
        while time.perf_counter() < deadline:
            r = await c.read_input_registers(addr, count=125, device_id=unit)
            if r.isError():
                raise RuntimeError(f"read failed: {r}")
            counts[k] += 125
            addr = (addr + 125) % 1500

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(k, c) for k, c in enumerate(clients)))
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    return sum(counts) / elapsed


PUBLISH_MS = 25  # subscription publishing interval

STOCK_MODBUS = """
import asyncio, sys
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
async def main():
    b = lambda: [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    regs = [SimData(address=0, count=1600, values=0, datatype=DataType.REGISTERS)]
    hold = [SimData(address=0, count=200, values=0, datatype=DataType.REGISTERS)]
    dev = SimDevice(id=1, simdata=(b(), b(), hold, regs))
    s = ModbusTcpServer([dev], address=("127.0.0.1", 0))
    await s.serve_forever(background=True)
    print(s.transport.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


def bench_modbus(seconds: float, work: Path, rounds: int = 3) -> dict[str, float]:
    """Both servers up at once; rounds alternate between them; medians (load here is noisy)."""
    stock = subprocess.Popen([sys.executable, "-c", STOCK_MODBUS, str(600)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    procs = []
    try:
        assert stock.stdout is not None
        port = int(stock.stdout.readline())
        procs = start_servers(profile="peak", speed=1.0, opcua=False, workdir=work / "modbus")
        base, ours = [], []
        for _ in range(rounds):
            base.append(asyncio.run(_read_registers(port, 1, seconds, 4)))
            ours.append(asyncio.run(_read_registers(procs[0].modbus_port, 1, seconds, 4)))
    finally:
        stock.kill()
        stock.wait()
        stop_servers(procs)
    b, o = float(np.median(base)), float(np.median(ours))
    return {"registers_per_s": o, "baseline_stock_pymodbus": b, "ratio": o / b}


async def _count_notifications(url: str, nodes: list[str], seconds: float) -> float:
    from asyncua import Client

    count = 0

    class Handler:
        def datachange_notification(self, node: object, val: object, data: object) -> None:
            nonlocal count
            count += 1

    async with Client(url, timeout=30) as c:
        sub = await c.create_subscription(PUBLISH_MS, Handler())
        await sub.subscribe_data_change([c.get_node(n) for n in nodes], queuesize=1)
        await asyncio.sleep(2.0)  # initial values
        start = count
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (count - start) / (time.perf_counter() - t0)
        await sub.delete()
    return rate


STOCK_OPCUA = """
import asyncio, sys, logging
from asyncua import Server, ua
async def main():
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    n = int(sys.argv[2])
    s = Server(); await s.init(); s.set_endpoint("opc.tcp://127.0.0.1:" + sys.argv[3] + "/stock")
    idx = await s.register_namespace("urn:stock")
    folder = await s.nodes.objects.add_folder(ua.NodeId("f", idx), "f")
    vs = [await folder.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", 0.0) for i in range(n)]
    await s.start()
    print("ready", flush=True)
    end = asyncio.get_running_loop().time() + float(sys.argv[1])
    k = 0
    while asyncio.get_running_loop().time() < end:
        k += 1
        for i, v in enumerate(vs):
            dv = ua.DataValue(ua.Variant(float(k + i), ua.VariantType.Double))
            await s.write_attribute_value(v.nodeid, dv)
        await asyncio.sleep(0)
    await s.stop()
asyncio.run(main())
"""


def _stock_opcua_rate(seconds: float, n: int) -> float:
    from sim.servers.opcua import free_port

    port = free_port("127.0.0.1")
    stock = subprocess.Popen([sys.executable, "-c", STOCK_OPCUA, str(seconds + 30), str(n),
                              str(port)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert stock.stdout is not None
        stock.stdout.readline()
        return asyncio.run(_count_notifications(
            f"opc.tcp://127.0.0.1:{port}/stock", [f"ns=2;s=v{i}" for i in range(n)], seconds
        ))  # fmt: skip
    finally:
        stock.kill()
        stock.wait()


def _twin_opcua_rate(seconds: float, work: Path) -> float:
    procs = start_servers(profile="peak", speed=0.0, modbus=False, workdir=work)
    try:
        url = procs[0].opcua_endpoint
        assert url is not None
        paths = [f"ns=2;s={t.path}" for t in generate_profile("peak").tags]
        return asyncio.run(_count_notifications(url, paths, seconds))
    finally:
        stop_servers(procs)


def bench_opcua(seconds: float, work: Path, rounds: int = 2) -> dict[str, float]:
    """One server at a time (each saturates a core); rounds alternate; medians."""
    base, ours = [], []
    for r in range(rounds):
        base.append(_stock_opcua_rate(seconds, 2000))
        ours.append(_twin_opcua_rate(seconds, work / f"opcua-{r}"))
    b, o = float(np.median(base)), float(np.median(ours))
    return {"notifications_per_s": o, "baseline_stock_asyncua": b, "ratio": o / b}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    ap.add_argument("--only", choices=["model", "modbus", "opcua"], default=None)
    args = ap.parse_args()
    secs = 3.0 if args.quick else 5.0
    work = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    results: dict[str, dict[str, float]] = {}
    if args.only in (None, "model"):
        r = results["model"] = bench_model(20 if args.quick else 60)
        print(f"model step, stress 10k tags: {r['cpu_s_per_tick'] * 1e3:.1f} ms CPU/tick = "
              f"{r['cpu_share_at_1hz']:.1%} of a core at 1 Hz (target < 25 %); "
              f"per-well solve_ivp baseline {r['baseline_per_well_cpu_s_per_tick'] * 1e3:.0f} ms "
              f"-> {r['speedup_vs_per_well']:.0f}x")  # fmt: skip
    if args.only in (None, "modbus"):
        r = results["modbus"] = bench_modbus(secs, work)
        print(f"modbus: {r['registers_per_s'] / 1e3:.0f} k registers/s (target >= 200 k); "
              f"stock pymodbus {r['baseline_stock_pymodbus'] / 1e3:.0f} k/s -> "
              f"ratio {r['ratio']:.2f}")  # fmt: skip
    if args.only in (None, "opcua"):
        r = results["opcua"] = bench_opcua(secs, work)
        print(f"opcua: {r['notifications_per_s'] / 1e3:.1f} k notifications/s (target >= 20 k); "
              f"stock asyncua loop {r['baseline_stock_asyncua'] / 1e3:.1f} k/s -> "
              f"ratio {r['ratio']:.2f}")  # fmt: skip
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
