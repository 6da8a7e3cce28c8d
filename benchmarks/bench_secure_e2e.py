"""What ``--secure`` costs end to end: one scenario run plain and secure, side by side.

Each round runs the same scenario (same seed) once plain and once with the secure
profile (``twinbench scenario run NAME --secure``: TLS, NKEY users with
least-privilege permissions, JetStream store cipher, the historian's WAL and
segments encrypted), alternating the order per round, and prints per mode:

* ``sustained pts/s``: with ``--ramp``, the highest ramp step held within the p99
  limit (``stress.highest_sustained_pts_s`` of a ramp of synthetic load, no plant);
* ``peak queryable pts/s``: the highest one-second rate of points becoming
  queryable (``throughput.queryable_max_pts_s``: the backlog drain after a burst);
* ``p99 nominal ms``: publish->queryable at the nominal rate; ``p99 ack ms``;
* ``cpu s/Mpt``: CPU seconds of nats-server + historian + runner per million points;

and each figure of secure against plain (issue 19 target: <= 15 % throughput cost,
<= 5 ms p99 publish->queryable).

    python benchmarks/bench_secure_e2e.py [--scenario bursty] [--rounds 1] [--ramp]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
from pathlib import Path

from harness.report.model import Report
from harness.run.runner import ScenarioRunner
from harness.scenario import LoadPhase, Scenario, SensorFaultMix
from scenarios import get

PROCESSES = ("nats-server", "historian", "runner")


def ramp_scenario(seed: int) -> Scenario:
    """Synthetic load only (no plant, no faults): 10 s warm-up, then 6 x 10 s steps."""
    base = get("stress", short=True)
    nominal = 50_000.0
    load = (
        LoadPhase("warm-up", "steady", 10.0, nominal),
        LoadPhase(
            "ramp", "ramp", 60.0, 2 * nominal, batch_points=5_000,
            stop_rate_pts_s=32 * nominal, steps=6,
        ),
    )  # fmt: skip
    return dataclasses.replace(
        base, name="secure-ramp", load=load, faults=(), plant=False, duration_s=70.0,
        warmup_s=10.0, seed=seed, sensor_fault_mix=SensorFaultMix(),
    )  # fmt: skip


def figures(report: Report) -> dict[str, float]:
    m = report.metrics

    def get_(key: str) -> float:
        v = m.get(key)
        return float(v) if v is not None else float("nan")

    stored = get_("accounting.total.stored")
    cpu_s = 0.0  # integrated from the sampler's series (a ramp may stop early)
    for name in PROCESSES:
        series = report.timeseries.get(f"cpu.{name}")
        if series:
            t, pct = series["t_s"], series["values"]
            cpu_s += sum(pct[i] / 100.0 * (t[i] - t[i - 1]) for i in range(1, len(t)))
    return {
        "sustained pts/s": get_("stress.highest_sustained_pts_s"),
        "peak queryable pts/s": get_("throughput.queryable_max_pts_s"),
        "p99 nominal ms": get_("latency.publish_to_queryable_nominal.p99_ms"),
        "p99 ack ms": get_("latency.publish_to_ack.p99_ms"),
        "cpu s/Mpt": cpu_s / stored * 1e6 if stored else float("nan"),
        "lost+dup+changed": get_("accounting.total.lost")
        + get_("accounting.total.duplicated")
        + get_("accounting.total.changed"),
    }


async def one(scenario: Scenario, secure: bool, work: Path, reports: Path) -> dict[str, float]:
    mode = "secure" if secure else "plain"
    runner = ScenarioRunner(scenario, reports_root=reports, work_dir=work / mode, secure=secure)
    report, path = await runner.run()
    print(f"  {mode}: {path / 'report.md'}", flush=True)
    return figures(report)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="bursty", help="a scenario (its --short form)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ramp", action="store_true", help="a synthetic load ramp instead")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--reports",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench-secure-reports",
        help="where each run's report directory goes (kept)",
    )
    args = ap.parse_args()
    scenario = (
        ramp_scenario(args.seed)
        if args.ramp
        else dataclasses.replace(get(args.scenario, short=True), seed=args.seed)
    )
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "secure": []}
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for secure in order:
            with tempfile.TemporaryDirectory(prefix="bench-secure-") as tmp:
                runs["secure" if secure else "plain"].append(
                    asyncio.run(one(scenario, secure, Path(tmp), args.reports))
                )
    keys = list(runs["plain"][0])
    med = {
        mode: {k: statistics.median(x[k] for x in rs) for k in keys} for mode, rs in runs.items()
    }
    print(
        f"\n{scenario.name} ({'ramp' if args.ramp else 'short'}), {args.rounds} round(s), medians"
    )
    print("| figure | plain | secure | secure/plain | secure-plain |")
    print("|---|---|---|---|---|")
    for k in keys:
        p, s = med["plain"][k], med["secure"][k]
        ratio = s / p if p else float("nan")
        print(f"| {k} | {p:,.1f} | {s:,.1f} | {ratio:.2f} | {s - p:+,.1f} |")


if __name__ == "__main__":
    main()
