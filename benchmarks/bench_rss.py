"""Historian RSS at 10 k tags under the stress scenario's nominal load (target < 256 MB).

Starts a real nats-server and a real ``python -m historian.server`` (what
``twinbench historian serve`` runs; HTTP API on port 0, temp directory), then
publishes ``--tags`` series round-robin in ``--batch-points`` batches at
``--rate`` points/s (default: the stress scenario's nominal 50 k points/s, its
default batch of 1,000 points) for ``--seconds``. Every 0.5 s it reads the
server's ``/proc/<pid>/status``; at the end ``/proc/<pid>/smaps`` gives the
breakdown by mapping (heap and anonymous memory, shared libraries grouped by
package). Printed: peak RSS (``VmHWM``), steady RSS (median over the second half
of the load), the acked share of the published points, and the breakdown.

    python benchmarks/bench_rss.py [--seconds 60] [--tags 10000] [--rate 50000]
                                   [--env MALLOC_ARENA_MAX=2] [--no-http]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import nats

from harness.load.synthetic import SyntheticSource
from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.bus.wire import encode_batch

TARGET_MB = 256.0
MB = 1024 * 1024
OPTS = BusOptions()
READY_TIMEOUT_S = 120.0

# shared-library mappings grouped by the package that loads them
_GROUPS = (
    ("llvmlite/numba", re.compile(r"llvmlite|numba")),
    ("pyarrow/arrow", re.compile(r"pyarrow|libarrow|libparquet")),
    ("duckdb", re.compile(r"duckdb")),
    ("numpy/openblas", re.compile(r"numpy|openblas|gfortran|quadmath")),
    ("scipy", re.compile(r"scipy")),
    ("pcodec", re.compile(r"pcodec|pcodec")),
    ("cryptography/ssl", re.compile(r"cryptography|libssl|libcrypto|_ssl")),
    ("python", re.compile(r"python3|libpython|/lib-dynload/")),
    ("libc/ld/stdc++", re.compile(r"libc\.so|ld-linux|libstdc\+\+|libm\.so|libgcc")),
)


def status_kb(pid: int) -> dict[str, int]:
    """The ``kB`` fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile ...)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            out[key] = int(rest.split()[0])
    return out


def smaps_breakdown(pid: int) -> dict[str, int]:
    """Resident kB per mapping group: heap, anonymous, stacks, libraries by package."""
    groups: dict[str, int] = defaultdict(int)
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = head[5] if len(head) > 5 else ""
        elif head and head[0] == "Rss:":
            groups[_group(name)] += int(head[1])
    return dict(groups)


def _group(name: str) -> str:
    if name == "":
        return "anonymous (malloc arenas, numpy arrays, mmap)"
    if name == "[heap]":
        return "[heap] (brk: Python objects, small mallocs)"
    if name.startswith("[stack"):
        return "stacks"
    if name.startswith("["):
        return "other kernel mappings"
    for label, pattern in _GROUPS:
        if pattern.search(name):
            return f"lib: {label}"
    if name.endswith(".so") or ".so." in name:
        return "lib: other"
    return "files (segments, WAL, other mmaps)"


async def publish(url: str, tags: int, rate: float, batch_points: int, seconds: float) -> int:
    """Publish at ``rate`` points/s (paced per batch) for ``seconds``; return points sent."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    source = SyntheticSource(list(range(1, tags + 1)), seed=17, start_ns=time.time_ns())
    start = time.monotonic()
    sent = 0
    k = 0
    pending: list[asyncio.Future[object]] = []
    while (now := time.monotonic()) < start + seconds:
        due = start + sent / rate
        if now < due:
            await asyncio.sleep(due - now)
        batch = source.batch(int((time.monotonic() - start) * 1e9), batch_points)
        payload = encode_batch(batch, source_id="bench-rss", sequence=k + 1)
        pending.append(
            asyncio.ensure_future(
                js.publish(OPTS.batch_subject(0), payload, headers={"Nats-Msg-Id": f"rss-{k}"})
            )
        )
        sent += batch_points
        k += 1
        if len(pending) >= 64:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await nc.close()
    return sent


def memtable_mb(ready: Path) -> float | None:
    """``twinbench_store_memtable_bytes`` from the server's /metrics (None without --http)."""
    http = json.loads(ready.read_text()).get("http")
    if not http:
        return None
    url = (http if http.startswith("http") else f"http://{http}") + "/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("twinbench_store_memtable_bytes"):
                return float(line.split()[-1]) / MB
    return None


async def acked_points(url: str, batch_points: int, messages: int) -> int:
    nc = await nats.connect(url)
    ci = await nc.jetstream().consumer_info(OPTS.stream, OPTS.consumer_name(0))
    await nc.close()
    return (messages - int(ci.num_pending or 0) - int(ci.num_ack_pending or 0)) * batch_points


async def run(args: argparse.Namespace, work: Path) -> None:
    nats_server = NatsServer(work / "nats")
    nats_server.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js, OPTS)
        await ensure_consumer(js, OPTS, 0)
        await nc.close()
        env = dict(os.environ)
        env.setdefault("NUMBA_CACHE_DIR", "/tmp/numba-cache")
        for item in args.env:
            key, _, value = item.partition("=")
            env[key] = value
        ready = work / "ready.json"
        argv = [sys.executable, "-m", "historian.server", str(work / "store")]
        argv += ["--nats", nats_server.url, "--ready-file", str(ready)]
        if not args.no_http:
            argv += ["--http", "127.0.0.1:0"]
        log = open(work / "serve.log", "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready (exit {proc.poll()}); see {work}/serve.log")
            await asyncio.sleep(0.1)
        idle = status_kb(proc.pid)
        samples: list[tuple[float, int]] = []
        memtables: list[tuple[int, float]] = []  # (RSS kB, memtable MB) once a second
        pid = proc.pid

        async def sample() -> None:
            t0 = time.monotonic()
            while True:
                rss = status_kb(pid)["VmRSS"]
                samples.append((time.monotonic() - t0, rss))
                if len(samples) % 2 == 0:
                    mem = await asyncio.to_thread(memtable_mb, ready)
                    if mem is not None:
                        memtables.append((rss, mem))
                await asyncio.sleep(0.5)

        sampler = asyncio.ensure_future(sample())
        sent = await publish(nats_server.url, args.tags, args.rate, args.batch_points, args.seconds)
        messages = sent // args.batch_points
        drain_deadline = time.monotonic() + 60
        while (acked := await acked_points(nats_server.url, args.batch_points, messages)) < sent:
            if time.monotonic() > drain_deadline:
                break
            await asyncio.sleep(0.2)
        sampler.cancel()
        final = status_kb(pid)
        breakdown = smaps_breakdown(pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats_server.close()
    steady = statistics.median(kb for t, kb in samples if t >= args.seconds / 2) / 1024
    peak = final["VmHWM"] / 1024
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"historian serve, {args.tags} tags, {args.rate:.0f} points/s in ", end="")
    print(f"{args.batch_points}-point batches for {args.seconds:.0f} s; env {args.env or '-'}")
    print(f"acked {acked}/{sent} points; load average at the end {load}")
    print(f"RSS at READY (idle): {idle['VmRSS'] / 1024:.1f} MB")
    print(f"RSS peak (VmHWM):    {peak:.1f} MB   target < {TARGET_MB:.0f} MB")
    print(f"RSS steady (median of the second half): {steady:.1f} MB")
    print(
        f"final: RssAnon {final['RssAnon'] / 1024:.1f} MB, RssFile {final['RssFile'] / 1024:.1f} MB"
    )
    if memtables:
        at_peak = max(memtables)
        print(
            f"memtables (active + queued for flush): max {max(m for _, m in memtables):.1f} MB, "
            f"{at_peak[1]:.1f} MB at the highest sampled RSS ({at_peak[0] / 1024:.1f} MB)"
        )
    print("| mapping group | resident MB |")
    print("|---|---:|")
    for label, kb in sorted(breakdown.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {kb / 1024:.1f} |")
    verdict = "PASS" if peak < TARGET_MB else f"MISS by {peak - TARGET_MB:.1f} MB"
    print(f"peak vs target: {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--tags", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=50_000.0, help="points/s (stress nominal)")
    ap.add_argument("--batch-points", type=int, default=1_000)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    ap.add_argument("--no-http", action="store_true", help="without the HTTP API")
    args = ap.parse_args()
    if args.seconds <= 0 or args.tags <= 0 or args.rate <= 0 or args.batch_points <= 0:
        ap.error("--seconds, --tags, --rate and --batch-points must be positive")
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
