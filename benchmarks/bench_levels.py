"""The ``levels`` codec on stepped plant tags: chooser bytes with and without it, and its speed.

Six stepped tags of the kinds plant historians hold (valve positions, a
1-decimal level flickering between neighbours, operator setpoints as
full-precision doubles, a fast on/off toggle as float32, a 4-state machine
cycle, a float32 level held for 50 s at a time), 43,200 points at 1 Hz each,
plus the corpus's own step series. Per chunk size: the chooser's value bytes
per point with ``levels`` and with the best other codec (what the chooser
picked before ``levels`` existed), and ``levels``' encode/decode points/s
(CPU time, best of 5) where it applies.

    python benchmarks/bench_levels.py [--sizes 256,1024,4096,43200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from historian.codec.chunk import _cheapest, encode_values
from historian.codec.corpus import load_corpus
from historian.codec.registry import VALUE_CODECS, value_codec

N = 43_200


def stepped_tags(seed: int = 5) -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    runs = rng.geometric(1 / 300, N)
    valve = np.repeat(np.array([0, 25, 50, 75, 100.0])[rng.integers(0, 5, runs.size)], runs)
    level = np.round(62 + np.cumsum(rng.normal(0, 0.002, N)) + rng.normal(0, 0.04, N), 1)
    degc = (np.array([150, 155, 160, 162.5, 170]) - 32) / 1.8  # degF setpoints in degC
    runs = rng.geometric(1 / 2000, N)
    setpoint = np.repeat(degc[rng.integers(0, 5, runs.size)], runs)
    runs = rng.geometric(1 / 40, N)
    toggle = np.repeat(np.arange(runs.size) % 2, runs).astype(np.float32)
    runs = rng.geometric(1 / 120, N)
    mode = np.repeat((np.arange(runs.size) % 4) + 1.0, runs)
    held = np.repeat(np.round(np.cumsum(rng.normal(0, 0.5, N // 50)) * 2) / 2, 50)
    return {
        "valve_5pos": valve[:N],
        "level_flicker_1dp": level,
        "setpoint_degc_full": setpoint[:N],
        "onoff_toggle_f32": toggle[:N].astype(np.float64),
        "mode_cycle": mode[:N],
        "level_f32_held": held.astype(np.float32).astype(np.float64)[:N],
    }


def best_without_levels(chunk: NDArray[np.float64]) -> int:
    others = [c for c in VALUE_CODECS if c.name != "levels"]
    return len(_cheapest([(p, c.id) for c in others if (p := c.encode(chunk)) is not None])[0])


def cpu_best(fn: Callable[[], object], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,1024,4096,43200")
    args = ap.parse_args()
    series = stepped_tags()
    series.update(
        {c.name: c.values for c in load_corpus() if "step" in c.name or "digital" in c.name}
    )
    levels = value_codec("levels")
    print(f"{'size':>6} {'series':<32} {'with':>8} {'without':>8} {'saved':>7} "
          f"{'picked':>7} {'enc Mpt/s':>9} {'dec Mpt/s':>9}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        for name, v in series.items():
            parts = [v[i : i + size] for i in range(0, v.size, size)]
            with_l = without = picked = 0
            for p in parts:
                payload, cid = encode_values(p)
                with_l += len(payload)
                without += best_without_levels(p)
                picked += cid == levels.id
            mine = [(p, e) for p in parts if (e := levels.encode(p)) is not None]
            enc = dec = 0.0
            if mine:
                pts = sum(p.size for p, _ in mine)
                enc = pts / cpu_best(lambda m=mine: [levels.encode(p) for p, _ in m]) / 1e6
                dec = pts / cpu_best(lambda m=mine: [levels.decode(e, p.size) for p, e in m]) / 1e6
            saved = 1 - with_l / without
            print(f"{size:6d} {name:<32} {with_l / v.size:8.4f} {without / v.size:8.4f} "
                  f"{saved:+7.1%} {picked:3d}/{len(parts):<3d} {enc:9.1f} {dec:9.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
