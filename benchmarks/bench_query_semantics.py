"""Query semantics over columns: vectorised families vs a per-interval loop, same run, same data.

One year of a 1 Hz tag (31,536,000 points, ms jitter, a smooth process value
rounded to 2 decimals, quality all Good except a sprinkle of Bad points), held
in memory as columns, so this measures the query-semantics functions alone
(the read seam and decoding are not in it). Each vectorised call is timed
beside a baseline that does the same job with a Python loop over the intervals
(numpy inside each interval: the obvious way to write it), measured in the same
run on the same columns; the table prints medians and the baseline/vectorised
ratio. The machine is shared: compare ratios, not absolutes.

Rows:
- ``tw_average``: hourly time-weighted average (8,760 intervals), linear tag;
- ``tw_average_stepped``: the same, stepped tag;
- ``tw_all_types``: hourly, every summary type, time-weighted;
- ``ev_average``: hourly event-weighted average;
- ``plot_1000``: plot values of the year into 1,000 pixels;
- ``interpolated_1h``: 8,760 hourly interpolated values;
- ``index_stats_1h`` / ``index_stats_1d``: hourly / daily time-weighted average
  from per-chunk statistics (chunks of ``--chunk`` points, H5's
  ``compute_chunk_stats``, computed once outside the timing as the writer
  does); the points of chunks that straddle an edge are gathered from the
  in-memory columns as a stand-in for decoding them. The baseline of these two
  rows is the full column computation of the same summaries (vectorised).

    python benchmarks/bench_query_semantics.py [--points 31536000] [--chunk 1024]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND
from historian.query.chunkstats import chunks_usable_in_intervals, summaries_from_chunk_stats
from historian.query.columns import QueryColumns
from historian.query.interpolated import interpolated_values
from historian.query.plot import pixel_edges, plot_values
from historian.query.summary import interval_edges, summaries
from historian.sstable.stats import compute_chunk_stats

HOUR = 3600 * NS_PER_SECOND
T0 = 1_767_225_600 * NS_PER_SECOND


def make_year(n: int, seed: int = 7) -> QueryColumns:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * NS_PER_SECOND
    ts += rng.integers(-20, 21, n) * 1_000_000
    v = np.round(80 + 5 * np.sin(np.arange(n) / 5000) + rng.normal(0, 0.05, n), 2)
    q = np.zeros(n, np.uint16)
    q[rng.integers(0, n, n // 100_000)] = 0x8000
    return QueryColumns.from_arrays(ts, v, q)


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def loop_tw_average(
    cols: QueryColumns, edges: NDArray[np.int64], stepped: bool
) -> NDArray[np.float64]:
    """Baseline: per interval, slice, add interpolated edge values, trapezoid/rectangle rule."""
    ts, v, good = cols.ts, cols.values, (cols.quality >> 14) < 2
    out = np.full(len(edges) - 1, np.nan)
    for k in range(len(edges) - 1):
        a, b = int(edges[k]), int(edges[k + 1])
        i, j = np.searchsorted(ts, [a, b])
        sel = slice(max(i - 1, 0), min(j + 1, len(ts)))
        t, x, g = ts[sel], v[sel], good[sel]
        t, x = t[g], x[g]
        if len(t) == 0:
            continue
        grid = np.concatenate([[a], t[(t > a) & (t < b)], [b]])
        vals = np.interp(grid, t, x) if not stepped else x[np.searchsorted(t, grid, "right") - 1]
        dt = np.diff(grid).astype(np.float64)
        area = np.sum(dt * (vals[:-1] + vals[1:]) * 0.5) if not stepped else np.sum(dt * vals[:-1])
        out[k] = area / (b - a)
    return out


def loop_ev_average(cols: QueryColumns, edges: NDArray[np.int64]) -> NDArray[np.float64]:
    ts, v, good = cols.ts, cols.values, (cols.quality >> 14) < 2
    out = np.full(len(edges) - 1, np.nan)
    for k in range(len(edges) - 1):
        i, j = np.searchsorted(ts, edges[k : k + 2])
        x = v[i:j][good[i:j]]
        if len(x):
            out[k] = x.mean()
    return out


def loop_tw_all(cols: QueryColumns, edges: NDArray[np.int64]) -> None:
    """Baseline for every type: the loop average plus min/max/argmin/argmax/std/first/last."""
    ts, v, good = cols.ts, cols.values, (cols.quality >> 14) < 2
    loop_tw_average(cols, edges, False)
    for k in range(len(edges) - 1):
        i, j = np.searchsorted(ts, edges[k : k + 2])
        x, t = v[i:j][good[i:j]], ts[i:j][good[i:j]]
        if len(x):
            x.min(), x.max(), t[np.argmin(x)], t[np.argmax(x)], x.std(), x.std(ddof=1)
            x[0], x[-1]


def loop_plot(cols: QueryColumns, edges: NDArray[np.int64]) -> NDArray[np.int64]:
    ts, v, q = cols.ts, cols.values, cols.quality
    keep: list[NDArray[np.int64]] = []
    for k in range(len(edges) - 1):
        i, j = (int(x) for x in np.searchsorted(ts, edges[k : k + 2]))
        if j <= i:
            continue
        x = np.where((q[i:j] >> 14) < 2, v[i:j], np.nan)
        keep.append(np.array([i, j - 1, i + np.nanargmin(x), i + np.nanargmax(x)], np.int64))
        keep.append(i + np.flatnonzero(q[i:j] != 0))
    return np.unique(np.concatenate(keep))


def loop_interpolated(cols: QueryColumns, times: NDArray[np.int64]) -> NDArray[np.float64]:
    ts, v = cols.ts, cols.values
    out = np.empty(len(times))
    for k, t in enumerate(times.tolist()):
        j = int(np.searchsorted(ts, t, "right")) - 1
        if j < 0:
            out[k] = np.nan
        elif j == len(ts) - 1 or ts[j] == t:
            out[k] = v[j]
        else:
            out[k] = v[j] + (v[j + 1] - v[j]) * (t - ts[j]) / (ts[j + 1] - ts[j])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=31_536_000)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cols = make_year(args.points)
    start, end = int(cols.ts[0]), int(cols.ts[-1]) + 1
    start -= start % HOUR
    edges = interval_edges(start, end, HOUR)
    r = args.repeats
    print(f"{args.points:,} points, {len(edges) - 1:,} hourly intervals, medians of {r} runs")

    # Correctness beside speed: the vectorised answers equal the baselines'.
    fast = summaries(cols, start, end, HOUR, stepped=False, types=["average"]).average
    slow = loop_tw_average(cols, edges, False)
    good = ~np.isnan(slow)
    coverage = summaries(cols, start, end, HOUR, stepped=False, types=[]).duration_good
    full = coverage == np.diff(edges)  # the baseline divides by the whole interval
    assert np.allclose(fast[good & full], slow[good & full], rtol=1e-9)

    chunk_starts = np.arange(0, args.points, args.chunk, dtype=np.int64)
    chunk_ends = np.minimum(chunk_starts + args.chunk, args.points)
    rows = compute_chunk_stats(cols.ts, cols.values, cols.quality, chunk_starts, chunk_ends)
    days = interval_edges(start, end, 24 * HOUR)

    def from_index(grid: NDArray[np.int64]) -> None:
        use = chunks_usable_in_intervals(rows, grid, stepped=False)
        # the points of the other chunks: the caller decodes these; gathered here from memory
        decode = np.repeat(~use, chunk_ends - chunk_starts)
        rest = cols.take(np.flatnonzero(decode))
        summaries_from_chunk_stats(rows[use], rest, grid, stepped=False, types=["average"])

    px = pixel_edges(start, end, 1000)
    times = edges[:-1]
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "tw_average",
            lambda: summaries(cols, start, end, HOUR, stepped=False, types=["average"]),
            lambda: loop_tw_average(cols, edges, False),
        ),
        (
            "tw_average_stepped",
            lambda: summaries(cols, start, end, HOUR, stepped=True, types=["average"]),
            lambda: loop_tw_average(cols, edges, True),
        ),
        (
            "tw_all_types",
            lambda: summaries(cols, start, end, HOUR, stepped=False),
            lambda: loop_tw_all(cols, edges),
        ),
        (
            "ev_average",
            lambda: summaries(
                cols, start, end, HOUR, stepped=False, weighting="event", types=["average"]
            ),
            lambda: loop_ev_average(cols, edges),
        ),
        ("plot_1000", lambda: plot_values(cols, start, end, 1000), lambda: loop_plot(cols, px)),
        (
            "interpolated_1h",
            lambda: interpolated_values(cols, start, end, HOUR, stepped=False),
            lambda: loop_interpolated(cols, times),
        ),
        (
            "index_stats_1h",
            lambda: from_index(edges),
            lambda: summaries(cols, start, end, HOUR, stepped=False, types=["average"]),
        ),
        (
            "index_stats_1d",
            lambda: from_index(days),
            lambda: summaries(cols, start, end, 24 * HOUR, stepped=False, types=["average"]),
        ),
    ]
    print(f"{'case':<20} {'vectorised ms':>14} {'baseline ms':>12} {'ratio':>8}")
    for name, fast_fn, base_fn in cases:
        fast_fn()  # warm caches and page in the columns once
        f = timed(fast_fn, r)
        b = timed(base_fn, max(1, r // 2))
        print(f"{name:<20} {f * 1e3:>14.1f} {b * 1e3:>12.1f} {b / f:>7.1f}x")


if __name__ == "__main__":
    main()
