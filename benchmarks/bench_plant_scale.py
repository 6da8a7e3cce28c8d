"""plant-scale: the stress catalogue through the real servers and collectors, per protocol.

    python benchmarks/bench_plant_scale.py [--levels 1,2,5] [--seconds 30] [--warmup 10]
        [--server-procs 5] [--py-spy DIR]

For each level N (the twin's clock at N x, so the 10,000 stress tags at 1 Hz of sim
time give N x 10 k readings/s) and each ``--server-procs`` count, a fresh stack:
nats-server and a real ``historian serve`` (:class:`harness.run.scenario_stack.ScenarioStack`),
the simulator server processes and one collector each (:class:`harness.plant.plant_load.PlantLoad`:
even collectors poll Modbus, odd ones subscribe over OPC UA), collectors polling /
publishing every 1/N s. After ``--warmup`` s, ``--seconds`` s are measured; per
protocol one row:

- ``exp/s``: readings the twin produced for that protocol's collectors (tags x N);
- ``read/s``, ``pub/s``: readings the collectors took from the device and points
  JetStream acked (their status lines); ``appl/s``: points the historian applied
  (its applied notices, as ``twinbench pipeline up`` folds them);
- CPU % of one core over the window: the collectors, their servers (each server
  process serves both protocols; a row counts the servers its collectors read), and,
  on the level's first row, the historian and nats-server; ``share`` = the
  protocol's collectors + servers as a fraction of all CPU the stack used;
- lag: ``qlag`` the queryable lag (applied minus the batch's creation at the
  collector) at the end, and its least-squares slope over the window sampled each
  second (s/s); ``srclag`` (OPC UA) the slope of the source lag (wall time minus the
  newest source timestamp in wall seconds: > 0 = the server falls behind the twin);
  ``recon`` counts the collectors' reconnects to their device in the window;
  ``grows`` = either slope > 0.01 s/s, or (Modbus, which reads every tag each poll)
  fewer than 95 % of the expected readings read. OPC UA sends changes only, so its
  read/s is below exp/s by the tags whose value did not change in a tick.

The raw JetStream publish ceiling (1,000-point batches, ``benchmarks/bench_bus.py``'s
measurement) is taken once in the same run; pub/s is printed as a ratio of it. The
machine is shared: the load average is printed with the table. ``--py-spy DIR``
records the first collector, server and historian of each protocol during the window
(``py-spy record``, collapsed stacks, for profiling; it costs CPU itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_bus import _payloads, _publish  # noqa: E402

from harness.plant.plant_load import PlantLoad  # noqa: E402
from harness.run.scenario_stack import ScenarioStack  # noqa: E402
from harness.services import NatsServer  # noqa: E402
from historian.bus.options import BusOptions  # noqa: E402
from historian.bus.stream import ensure_streams  # noqa: E402
from historian.ingest.service import APPLIED_PREFIX  # noqa: E402

PROTOCOLS = ("modbus", "opcua")


def slope(t: list[float], y: list[float]) -> float:
    """Least-squares slope of y over t (nan with fewer than 3 points)."""
    if len(t) < 3:
        return float("nan")
    return float(np.polyfit(np.asarray(t), np.asarray(y), 1)[0])


def last_status(log: Path) -> dict[str, Any]:
    """The newest complete JSON status line of a collector's log ({} if none yet)."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 16_384))
            lines = f.read().splitlines()
    except OSError:
        return {}
    for raw in reversed(lines):
        if raw.startswith(b'{"source"'):
            try:
                return dict(json.loads(raw))
            except ValueError:
                continue
    return {}


def cpu_seconds(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return float("nan")


@dataclass
class Notices:
    """Applied notices folded per source: points applied and the newest queryable lag."""

    points: dict[str, int] = field(default_factory=dict)
    lag_s: dict[str, float] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)

    def add(self, data: bytes) -> None:
        try:
            notice = json.loads(data)
            applied = int(notice["t"])
            for source, _seq, created, pts in notice["b"]:
                self.points[source] = self.points.get(source, 0) + int(pts)
                if int(created) >= self.newest.get(source, 0):
                    self.newest[source] = int(created)
                    self.lag_s[source] = max(0, applied - int(created)) / 1e9
        except (ValueError, KeyError, TypeError):
            return


def _reconnects(status: dict[str, Any]) -> int:
    return int((status.get("source") or {}).get("reconnects", 0))


def _read_count(status: dict[str, Any]) -> int:
    src = status.get("source") or {}
    return int(src.get("readings", src.get("notifications", 0)))


async def data_flowing(logs: dict[int, Path], deadline_s: float) -> None:
    """Wait until every collector has read data (READY comes before an OPC UA collector
    has created its 2,000 monitored items, which takes many seconds on a loaded machine)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if all(_read_count(last_status(p)) > 0 for p in logs.values()):
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"collectors read no data within {deadline_s:.0f} s: see {logs}")


async def raw_ceiling(work: Path, points: int = 1_000_000) -> float:
    """Raw JetStream publish rate (points/s, 1,000-point batches) on a fresh nats-server."""
    opts = BusOptions()
    payloads = _payloads(points, 1_000)
    with NatsServer(work / "nats-raw") as srv:
        nc = await nats.connect(srv.url)
        js = nc.jetstream(publish_async_max_pending=1024)
        await ensure_streams(js, opts)
        secs = await _publish(js, opts.batch_subject(0), payloads, "raw")
        await nc.close()
    return len(payloads) * 1_000 / secs


def start_py_spy(out: Path, pids: dict[str, int], seconds: float) -> list[subprocess.Popen[bytes]]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, pid in pids.items():
        argv = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                "--rate", "50", "--format", "raw", "--nonblocking",
                "-o", str(out / f"{name}.txt")]  # fmt: skip
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


async def run_level(
    work: Path, speed: float, procs: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    stack = ScenarioStack(work, proxy_collector=False, proxy_historian=False)
    plant = PlantLoad(
        work / "plant", "stress", seed=0, speed=speed,
        tags_per_process=-(-10_000 // procs), collector_interval_s=1.0 / speed,
    )  # fmt: skip
    notices = Notices()
    nc = None
    try:
        await stack.start()
        assert stack.ingest is not None
        await asyncio.to_thread(plant.start, stack.nats.url)
        nc = await nats.connect(stack.nats.url)

        async def on_notice(msg: Any) -> None:
            notices.add(msg.data)

        await nc.subscribe(f"{APPLIED_PREFIX}.>", cb=on_notice)
        logs = {c.index: c.process.log_path for c in plant.collectors}
        await data_flowing(logs, deadline_s=300.0)
        await asyncio.sleep(args.warmup)
        tags = {c.index: srv.tag_range[1] - srv.tag_range[0]
                for c, srv in zip(plant.collectors, plant.servers, strict=True)}  # fmt: skip
        pids = {f"collector-{c.index}": c.process.pid for c in plant.collectors}
        pids.update({f"sim-{s.index}": s.pid for s in plant.servers})
        pids["historian"] = stack.ingest.pid
        pids["nats-server"] = stack.nats.pid
        spies = []
        if args.py_spy is not None:
            chosen = {k: pids[k] for k in ("collector-0", "collector-1", "sim-0", "sim-1",
                                           "historian")}  # fmt: skip
            spies = start_py_spy(args.py_spy / f"x{speed:g}-p{procs}", chosen, args.seconds)
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        st0 = {i: last_status(p) for i, p in logs.items()}
        ap0 = dict(notices.points)
        t0 = time.monotonic()
        ts: list[float] = []
        qlag: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
        srclag: list[float] = []
        while time.monotonic() - t0 < args.seconds:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            ts.append(now - t0)
            for proto in PROTOCOLS:
                lags = [notices.lag_s.get(f"collector-{c.index}", float("nan"))
                        for c in plant.collectors if c.protocol == proto]  # fmt: skip
                qlag[proto].append(max(lags) if lags else float("nan"))
            newest = [
                int((last_status(logs[c.index]).get("source") or {}).get("newest_source_ns", 0))
                for c in plant.collectors
                if c.protocol == "opcua"
            ]
            if newest and min(newest) > 0:
                srclag.append(time.time() - min(newest) / 1e9 / speed)
        wall = time.monotonic() - t0
        cpu = {k: 100 * (cpu_seconds(p) - cpu0[k]) / wall for k, p in pids.items()}
        st1 = {i: last_status(p) for i, p in logs.items()}
        n_procs = len(plant.servers)
        for s in spies:
            s.wait(timeout=args.seconds + 60)
    finally:
        if nc is not None:
            await nc.close()
        await asyncio.to_thread(plant.stop)
        await stack.close()
    total_cpu = sum(v for v in cpu.values() if v == v)
    rows = []
    for proto in PROTOCOLS:
        mine = [c.index for c in plant.collectors if c.protocol == proto]
        if not mine:
            continue
        read = sum(_read_count(st1[i]) - _read_count(st0[i]) for i in mine)
        pub = sum(
            int(st1[i].get("forwarder", {}).get("points_acked", 0))
            - int(st0[i].get("forwarder", {}).get("points_acked", 0))
            for i in mine
        )
        appl = sum(notices.points.get(f"collector-{i}", 0) - ap0.get(f"collector-{i}", 0)
                   for i in mine)  # fmt: skip
        coll = sum(cpu[f"collector-{i}"] for i in mine)
        reconnects = sum(_reconnects(st1[i]) - _reconnects(st0[i]) for i in mine)
        srv = sum(cpu[f"sim-{i}"] for i in mine)
        q = qlag[proto]
        ok_t = [t for t, v in zip(ts, q, strict=True) if v == v]
        ok_q = [v for v in q if v == v]
        sl = slope(ok_t, ok_q)
        src_sl = slope(ts[-len(srclag) :], srclag) if proto == "opcua" else float("nan")
        expected = sum(tags[i] for i in mine) * speed
        rows.append({
            "level": speed, "procs": n_procs, "protocol": proto, "collectors": len(mine),
            "expected_per_s": expected, "read_per_s": read / wall, "published_per_s": pub / wall,
            "applied_per_s": appl / wall, "collector_cpu": coll, "server_cpu": srv,
            "historian_cpu": cpu["historian"], "nats_cpu": cpu["nats-server"],
            "share": (coll + srv) / total_cpu if total_cpu else float("nan"),
            "qlag_last_s": ok_q[-1] if ok_q else float("nan"), "qlag_slope": sl,
            "srclag_slope": src_sl, "wall_s": wall, "reconnects": reconnects,
            # Modbus reads every tag each poll: a missed poll is a tick never read. OPC UA
            # reports changes only (an unchanged value sends nothing): judged by its lag
            "grows": bool(sl > 0.01 or src_sl > 0.01
                          or (proto == "modbus" and read < 0.95 * expected * wall)),
        })  # fmt: skip
    return rows


HEADER = (
    f"{'level':>5} {'procs':>5} {'proto':>6} {'exp/s':>7} {'read/s':>7} {'pub/s':>7} "
    f"{'appl/s':>7} {'pub/raw':>7} {'collCPU%':>8} {'srvCPU%':>7} {'histCPU%':>8} "
    f"{'natsCPU%':>8} {'share':>5} {'qlag_s':>6} {'qslope':>7} {'srcslope':>8} grows recon"
)


def fmt(r: dict[str, Any], raw: float) -> str:
    return (
        f"{r['level']:>4g}x {r['procs']:>5} {r['protocol']:>6} {r['expected_per_s']:>7,.0f} "
        f"{r['read_per_s']:>7,.0f} {r['published_per_s']:>7,.0f} {r['applied_per_s']:>7,.0f} "
        f"{r['published_per_s'] / raw:>7.4f} {r['collector_cpu']:>8.0f} {r['server_cpu']:>7.0f} "
        f"{r['historian_cpu']:>8.0f} {r['nats_cpu']:>8.0f} {r['share']:>5.2f} "
        f"{r['qlag_last_s']:>6.2f} {r['qlag_slope']:>+7.3f} {r['srclag_slope']:>+8.3f} "
        f"{'YES' if r['grows'] else 'no':>5} {r['reconnects']:>4}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,2,5", help="clock speeds (x 10 k readings/s)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per level")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    ap.add_argument("--server-procs", default="5", help="server processes to try, e.g. 5,10")
    ap.add_argument("--py-spy", type=Path, help="record py-spy profiles into this directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args()
    try:
        levels = [float(x) for x in args.levels.split(",")]
        procs = [int(x) for x in args.server_procs.split(",")]
    except ValueError:
        ap.error("--levels and --server-procs take comma-separated numbers, e.g. 1,2,5")
    if any(x <= 0 for x in levels) or any(p < 1 for p in procs):
        ap.error("--levels must be > 0 and --server-procs >= 1")
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba-cache")
    work = Path(tempfile.mkdtemp(prefix="bench-plant-scale-"))
    raw = asyncio.run(raw_ceiling(work))
    print(f"raw JetStream publish ceiling (1,000 pts/msg): {raw:,.0f} points/s")
    print(HEADER, flush=True)
    rows = []
    for speed in levels:
        for p in procs:
            load = os.getloadavg()
            for r in asyncio.run(run_level(work / f"x{speed:g}-p{p}", speed, p, args)):
                r["loadavg"] = load
                rows.append(r)
                print(fmt(r, raw) + f"  (load {load[0]:.1f})", flush=True)
    print(json.dumps({"raw_ceiling": raw, "rows": rows}))
    if args.keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
