"""CPU-priority rules: how late a latency-sensitive loop wakes beside a CPU-bound competitor.

    python benchmarks/bench_priority.py [--seconds S]

A probe process runs an asyncio timer every 5 ms for S seconds and records how late
each wake-up is. It runs four times in the same run, each with one CPU hog per core
started in a session of its own (as every managed service is):

1. unloaded: no competitor (the baseline);
2. normal: the competitor at normal priority;
3. nice only: the competitor under ``nice -n 19`` (which autogroups ignore across sessions);
4. cpu_priority: the competitor through ``historian.cpu_priority.spawn_low_priority``
   (nice plus its session's autogroup nice).

It prints p99 lateness of each and its ratio against the unloaded baseline. Bounded:
4 x S seconds plus start-up (S = 10 by default, < 60 s in all).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable

from historian.cpu_priority import spawn_low_priority

NICE = 19
PROBE = """
import asyncio, sys
async def main(seconds):
    loop = asyncio.get_running_loop(); late = []
    end = loop.time() + seconds; due = loop.time()
    while due < end:
        due += 0.005
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append(max(0.0, loop.time() - due))
    late.sort(); print(late[min(len(late) - 1, int(len(late) * 0.99))] * 1e3)
asyncio.run(main(float(sys.argv[1])))
"""
HOG = "while True: pass"


def _hogs(spawn: Callable[[list[str]], subprocess.Popen[bytes]]) -> list[subprocess.Popen[bytes]]:
    return [spawn([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 1)]


def _probe(seconds: float) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(seconds)], check=True, capture_output=True, text=True
    )
    return float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="probe time per case")
    args = ap.parse_args()
    cases: list[tuple[str, Callable[[list[str]], subprocess.Popen[bytes]] | None]] = [
        ("unloaded", None),
        ("normal", lambda a: subprocess.Popen(a, start_new_session=True)),
        (
            "nice only",
            lambda a: subprocess.Popen(["nice", "-n", str(NICE), *a], start_new_session=True),
        ),
        ("cpu_priority", lambda a: spawn_low_priority(a, NICE)),
    ]
    rows: list[tuple[str, float]] = []
    for name, spawn in cases:
        hogs = _hogs(spawn) if spawn is not None else []
        try:
            rows.append((name, _probe(args.seconds)))
        finally:
            for h in hogs:
                h.kill()
                h.wait()
    base = rows[0][1]
    print(f"{'competitor':<14} {'p99 lateness ms':>16} {'x unloaded':>11}")
    for name, p99 in rows:
        print(f"{name:<14} {p99:>16.2f} {p99 / base if base > 0 else float('inf'):>11.1f}")


if __name__ == "__main__":
    main()
