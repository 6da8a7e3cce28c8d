"""Chunk codec throughput: encode/decode points/s per codec, as ratios against pcodec.

Three 1 M-point series (1 Hz timestamps with ms jitter, quality all Good):
``decimal_2dp`` (a smooth process value rounded to 2 decimals, the common
plant case), ``float32_3dp`` (the same at 3 decimals as a float32 on the wire,
``5.827000141143799``) and ``float_full`` (full-precision noisy doubles, the
worst case).
Each codec encodes the whole series as chunks of ``--chunk`` points, a
realistic engine chunk, timestamps and quality included (the timestamp codec
is always chosen, so every row pays for trying the timestamp codecs). The
``chooser`` row ranks the value codecs on a 1,024-point sample and encodes
the two best in full; ``chooser-all`` encodes every codec in full (its encode
cost is the sum). The last line of each series prints what sampling costs in
bytes and saves in encode time against trying all.
pcodec (values + timestamp deltas, no chunk framing) is measured in the same
run and is the 1.00x reference. Times are CPU seconds of this process
(``time.process_time``: points/s per core, what the targets are stated in,
and far steadier than wall time on a shared machine), medians of ``REPEATS``
runs; compare ratios more than absolutes.

    python benchmarks/bench_codec.py [--points 1000000] [--chunk 10000]
    python benchmarks/bench_codec.py --small [--sizes 256,750,2000,4096]

``--small`` measures the chooser on the short chunks the engine's flush and
compaction encode: every corpus series (reports/corpus, real and synthetic)
and the scenario generator's series (harness.load.synthetic), cut into chunks of
each size, encoded whole by ``encode_chunk`` (timestamps and quality
included). Per size it prints the chooser's points/s and bytes/point next to
``exhaustive`` (every value codec encoded in full, the reference for bytes)
and pcodec (values + timestamp deltas, the reference for speed), then the
whole-chunk ``decode_chunk`` points/s of the chooser's chunks and of the same
chunks forced to ``scaled-ac`` (the slowest decoder the chooser picks), all in
the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pcodec
from numpy.typing import NDArray
from pcodec import standalone

from historian.codec import VALUE_CODEC_NAMES, decode_chunk, encode_chunk
from historian.codec.errors import CodecNotApplicableError

REPEATS = 5


def make_series(n: int, seed: int) -> dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    rng = np.random.default_rng(seed)
    ts = 1_767_225_600 * 10**9 + np.arange(n, dtype=np.int64) * 10**9
    ts += rng.integers(-20, 21, n) * 1_000_000
    smooth = 80 + 5 * np.sin(np.arange(n) / 5000) + np.cumsum(rng.normal(0, 0.01, n))
    return {
        "decimal_2dp": (ts, np.round(smooth + rng.normal(0, 0.05, n), 2)),
        "float32_3dp": (
            ts,
            np.round(smooth / 10 + rng.normal(0, 0.005, n), 3)
            .astype(np.float32)
            .astype(np.float64),
        ),
        "float_full": (ts, smooth + rng.normal(0, 0.05, n)),
    }


def timed(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def interleaved(fns: list[Callable[[], object]], repeats: int = 2 * REPEATS) -> list[float]:
    """Median CPU time of each function, run in turns: on a shared machine the load drifts
    within seconds, and timing one function after the other would time the drift."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.process_time()
            fn()
            out.append(time.process_time() - t0)
    return [statistics.median(t) for t in times]


def bench_codec(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    codec: str | None,
    chunk: int,
    exhaustive: bool = False,
) -> tuple[float, float, int] | None:
    q = np.zeros(ts.size, np.uint16)
    parts = [slice(i, i + chunk) for i in range(0, ts.size, chunk)]

    def enc() -> list[bytes]:
        return [encode_chunk(ts[p], values[p], q[p], codec, exhaustive=exhaustive) for p in parts]

    try:
        encoded = enc()
    except CodecNotApplicableError:
        return None
    enc_s = timed(enc)
    dec = timed(lambda: [decode_chunk(b) for b in encoded])
    return enc_s, dec, sum(len(b) for b in encoded)


def bench_pcodec(
    ts: NDArray[np.int64], values: NDArray[np.float64], chunk: int
) -> tuple[float, float, int]:
    cfg = pcodec.ChunkConfig()
    parts = [slice(i, i + chunk) for i in range(0, ts.size, chunk)]

    def enc() -> list[tuple[bytes, bytes]]:
        return [
            (
                standalone.simple_compress(values[p], cfg),
                standalone.simple_compress(np.diff(ts[p]), cfg),
            )
            for p in parts
        ]

    encoded = enc()

    def dec() -> None:
        for v, d in encoded:
            standalone.simple_decompress(v)
            np.cumsum(standalone.simple_decompress(d))

    return timed(enc), timed(dec), sum(len(v) + len(d) + 8 for v, d in encoded)


Part = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]


def small_chunk_series() -> list[tuple[str, NDArray[np.int64], NDArray[np.float64]]]:
    """Every corpus series and ten scenario-generator series (2-decimal plant-like values)."""
    from harness.load.synthetic import SyntheticSource
    from historian.codec.corpus import load_corpus

    out = [(c.name, c.ts, c.values) for c in load_corpus()]
    src = SyntheticSource(list(range(10)), seed=1, start_ns=1_767_225_600 * 10**9)
    batch = src.batch(0, 10 * 20_000)
    for sid in range(10):
        mine = batch.series == sid
        out.append((f"scenario/{sid}", batch.ts[mine], batch.values[mine]))
    return out


def bench_small(sizes: list[int], max_chunks: int) -> None:
    series = small_chunk_series()
    cfg = pcodec.ChunkConfig()
    print(f"small chunks: {len(series)} series (corpus + scenario generator); "
          f"<= {max_chunks} chunks per size and series, CPU s median of {2 * REPEATS}")  # fmt: skip
    head = ("points", "chunks", "chooser", "B/pt", "exhaustive", "B/pt", "bytes", "speed", "pcodec",
            "decode", "ac decode")  # fmt: skip
    print(f"{head[0]:>6} {head[1]:>6} " + " ".join(f"{h:>10}" for h in head[2:]))
    print(f"{'':>6} {'':>6} {'Mpt/s':>10} {'':>10} {'Mpt/s':>10} {'':>10} "
          f"{'vs exh.':>10} {'vs exh.':>10} {'Mpt/s':>10} {'Mpt/s':>10} {'Mpt/s':>10}")  # fmt: skip
    for size in sizes:
        parts: list[Part] = [
            (ts[i : i + size], v[i : i + size], np.zeros(min(size, ts.size - i), np.uint16))
            for _, ts, v in series
            for i in range(0, min(ts.size, size * max_chunks), size)
        ]
        points = sum(p[0].size for p in parts)

        def enc(exhaustive: bool, parts: list[Part] = parts) -> int:
            return sum(len(encode_chunk(t, v, q, exhaustive=exhaustive)) for t, v, q in parts)

        def pco(parts: list[Part] = parts) -> None:
            for t, v, _ in parts:
                standalone.simple_compress(np.ascontiguousarray(v), cfg)
                standalone.simple_compress(np.diff(t), cfg)

        chosen, every = enc(False), enc(True)
        chunks = [encode_chunk(t, v, q) for t, v, q in parts]
        forced = [encode_chunk(t, v, q, "scaled-ac") for t, v, q in parts]

        def dec(encoded: list[bytes]) -> None:
            for b in encoded:
                decode_chunk(b)

        t_chosen, t_every, t_pco, t_dec, t_ac = interleaved(
            [lambda: enc(False), lambda: enc(True), pco, partial(dec, chunks), partial(dec, forced)]
        )
        print(f"{size:6d} {len(parts):6d} {points / t_chosen / 1e6:10.2f} {chosen / points:10.4f} "
              f"{points / t_every / 1e6:10.2f} {every / points:10.4f} {chosen / every - 1:+10.3%} "
              f"{t_every / t_chosen:9.2f}x {points / t_pco / 1e6:10.2f} "
              f"{points / t_dec / 1e6:10.2f} {points / t_ac / 1e6:10.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--small", action="store_true", help="the chooser on short chunks (see above)")
    ap.add_argument("--sizes", default="256,750,2000,4096", help="chunk sizes for --small")
    ap.add_argument("--max-chunks", type=int, default=8, help="chunks per series and size")
    args = ap.parse_args()
    if args.small:
        decode_chunk(encode_chunk(np.arange(100), np.arange(100) / 7, np.zeros(100, np.uint16)))
        bench_small([int(x) for x in args.sizes.split(",")], args.max_chunks)
        return
    n = args.points
    for name, (ts, values) in make_series(n, 1).items():
        decode_chunk(encode_chunk(ts[:100], values[:100], np.zeros(100, np.uint16)))  # JIT warm-up
        ref_enc, ref_dec, ref_bytes = bench_pcodec(ts, values, args.chunk)
        print(f"\n{name}: {n:,} points, chunks of {args.chunk:,}; reference pcodec "
              f"encode {n / ref_enc / 1e6:.1f} M pts/s, decode {n / ref_dec / 1e6:.1f} M pts/s, "
              f"{ref_bytes / n:.3f} B/pt")  # fmt: skip
        head = ("codec", "B/pt", "enc Mpt/s", "enc/pco", "dec Mpt/s", "dec/pco")
        print(f"{head[0]:<11} {head[1]:>6} " + " ".join(f"{h:>10}" for h in head[2:]))
        rows = [*((c, c, False) for c in VALUE_CODEC_NAMES), ("chooser", None, False)]
        chooser: dict[bool, tuple[float, float, int]] = {}
        for label, codec, exhaustive in [*rows, ("chooser-all", None, True)]:
            result = bench_codec(ts, values, codec, args.chunk, exhaustive)
            if result is None:
                print(f"{label:<11} {'n/a':>6}")
                continue
            enc, dec, nbytes = result
            if codec is None:
                chooser[exhaustive] = result
            print(
                f"{label:<11} {nbytes / n:6.3f} {n / enc / 1e6:10.1f} {ref_enc / enc:9.2f}x "
                f"{n / dec / 1e6:10.1f} {ref_dec / dec:9.2f}x"
            )
        (s_enc, _, s_bytes), (a_enc, _, a_bytes) = chooser[False], chooser[True]
        print(f"sampling vs trying all: {s_bytes / a_bytes - 1:+.2%} bytes, "
              f"encode {a_enc / s_enc:.2f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
