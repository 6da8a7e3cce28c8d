"""Replay of the stress catalogue (10,000 tags) at N x: do the servers keep up?

    python benchmarks/bench_replay.py [--seconds 1200] [--speed 100] [--every 1.0]

A wide Parquet recording of every stress-profile tag at 1 Hz (their sample rate)
for ``--seconds`` of data (values a seeded random walk inside each tag's range)
is played by the five server processes ``sim.servers.launch`` starts for the
catalogue (2,000 tags each; each reads only its slice of the file), Modbus and
OPC UA both serving, no client attached. Each process writes its progress file
(``sim.replay_progress``); this script prints, every ``--every`` wall seconds,
the replay's sim time and each process's lag (how late its latest tick started
behind its wall-clock due time), then a summary: the lag's trend (least-squares
slope over the middle 80 % of the run; "keeps up" = the lag does not grow: slope
< 1 % of wall time and the last lag under two ticks), the speed achieved, and the
late ticks. Baseline in the same run, after the paced one: the same recording played as
fast as possible (``--speed 0``) by five fresh processes: the ceiling the paced
speed is compared with. Takes ~2 minutes of start-up (five 2,000-node OPC UA
address spaces, twice) plus the two plays.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from historian.model import NS_PER_SECOND as NS  # noqa: E402
from sim.catalogue_gen import generate_profile  # noqa: E402
from sim.servers.launch import ServerProcess, start_servers, stop_servers  # noqa: E402
from sim.tags import dump_catalogue  # noqa: E402

T0 = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z


def write_recording(path: Path, seconds: int, seed: int = 0) -> int:
    cat = generate_profile("stress", seed)
    rng = np.random.default_rng(seed)
    lo = np.array([t.low for t in cat.tags])
    hi = np.array([t.high for t in cat.tags])
    steps = rng.normal(0.0, 0.002, size=(seconds, len(cat))) * (hi - lo)
    walk = np.clip((lo + hi) / 2 + np.cumsum(steps, axis=0), lo, hi)
    cols = {"ts": pa.array(T0 + np.arange(seconds, dtype=np.int64) * NS)}
    cols.update({t.path: pa.array(walk[:, k]) for k, t in enumerate(cat.tags)})
    pq.write_table(pa.table(cols), path)
    return len(cat)


def play(work: Path, rec: Path, cat_path: Path, speed: float, every: float) -> dict[str, float]:
    go = work / "go"
    go.unlink(missing_ok=True)
    procs = start_servers(cat_path, speed=speed, tick_s=1.0, replay=rec, hold_file=go,
                          progress=True, workdir=work)  # fmt: skip
    try:
        return _sample(procs, go, speed, every)
    finally:
        stop_servers(procs)


def _docs(procs: list[ServerProcess]) -> list[dict[str, float]]:
    out = []
    for p in procs:
        assert p.progress_path is not None
        try:
            out.append(json.loads(p.progress_path.read_text()))
        except (OSError, ValueError):
            out.append({})
    return out


def _sample(procs: list[ServerProcess], go: Path, speed: float, every: float) -> dict[str, float]:
    go.touch()
    t0 = time.monotonic()
    wall, lags = [], []
    label = f"{speed:g}x" if speed else "as fast as possible"
    print(f"--- {label}: {len(procs)} processes")
    print("   wall_s  sim_s  " + "  ".join(f"lag{p.index}_s" for p in procs))
    while True:
        time.sleep(every)
        docs = _docs(procs)
        t = time.monotonic() - t0
        sim = min((d.get("sim_ns", T0) - T0) / NS for d in docs)
        lag = [float(d.get("lag_s", 0.0)) for d in docs]
        wall.append(t)
        lags.append(max(lag))
        print(f"  {t:7.1f} {sim:6.0f}  " + "  ".join(f"{x:7.3f}" for x in lag), flush=True)
        if all(d.get("finished") for d in docs):
            break
    docs = _docs(procs)
    w = np.array(wall)
    lg = np.array(lags)
    mid = (w >= w[-1] * 0.1) & (w <= w[-1] * 0.9)
    slope = float(np.polyfit(w[mid], lg[mid], 1)[0]) if mid.sum() >= 3 else float("nan")
    span = max((d["last_ns"] - d["first_ns"]) / NS for d in docs)
    run_s = max(float(d["wall_s"]) for d in docs)
    return {
        "speed": speed, "wall_s": run_s, "achieved_x": span / run_s, "lag_slope": slope,
        "last_lag_s": float(lg[-1]), "max_lag_s": max(float(d["max_lag_s"]) for d in docs),
        "late_ticks": sum(int(d["late_ticks"]) for d in docs),
        "ticks": sum(int(d["ticks"]) for d in docs),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=1200, help="seconds of data in the recording")
    ap.add_argument("--speed", type=float, default=100.0)
    ap.add_argument("--every", type=float, default=1.0, help="sampling period, wall seconds")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    rec = work / "stress-recording.parquet"
    cat_path = work / "catalogue-stress.toml"
    dump_catalogue(generate_profile("stress", 0), cat_path)
    n = write_recording(rec, args.seconds)
    print(f"recording: {n:,} tags x {args.seconds:,} s at 1 Hz = {n * args.seconds:,} values")
    paced = play(work / "paced", rec, cat_path, args.speed, args.every)
    base = play(work / "max", rec, cat_path, 0.0, args.every)
    tick_wall = 1.0 / args.speed
    keeps_up = paced["lag_slope"] < 0.01 and paced["last_lag_s"] < 2 * tick_wall
    print("\n=== summary ===")
    rate = n * args.seconds / base["wall_s"]
    print(f"ceiling (as fast as possible): {base['achieved_x']:,.1f}x "
          f"({rate:,.0f} values/s over {base['wall_s']:.1f} s)")  # fmt: skip
    print(f"paced at {args.speed:g}x: achieved {paced['achieved_x']:,.1f}x over "
          f"{paced['wall_s']:.1f} s; lag slope {paced['lag_slope']:+.4f} s/s, last lag "
          f"{paced['last_lag_s']:.3f} s, max lag {paced['max_lag_s']:.3f} s, late ticks "
          f"{paced['late_ticks']:,}/{paced['ticks']:,}")  # fmt: skip
    print(f"ratio paced/ceiling: {args.speed / base['achieved_x']:.2f} of the ceiling asked for")
    print(f"verdict: {'KEEPS UP (no growing lag)' if keeps_up else 'FALLS BEHIND (lag grows)'}")
    print(json.dumps({"ceiling": base, "paced": paced}))


if __name__ == "__main__":
    main()
