"""Load every numba kernel the engine uses once, so that the on-disk cache is hot.

``python -m historian.lsm.warm`` prints how long it took. Why a step of its own: numba
compiles a kernel at its first call in a process unless its cache holds it, and the
cache is keyed by the source file's path, so a fresh clone (or an upgrade) starts with
none. A historian server then compiles its kernels while it ingests - the warm-up
thread and the first L2 compaction hold the GIL for seconds each - and the first
``stress`` run after a clone failed its p99 threshold at 140 ms where the next ones
passed. Compiling here, before any service starts, costs about a minute once; with
the cache hot it is the import and cache load (a few seconds).

``tests/historian/lsm/test_warm.py`` fails when a codec or stats kernel is not reached.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from numpy.typing import NDArray

from historian.codec import VALUE_CODEC_NAMES, decode_chunk, encode_chunk
from historian.codec.lossy import exception_filter, swinging_door
from historian.codec.registry import TIMESTAMP_CODECS
from historian.sstable.stats import compute_chunk_stats

from .compaction import warm_up_kernels

N = 512
_T0 = 1_700_000_000 * 1_000_000_000


def _samples() -> list[NDArray[np.float64]]:
    """Value shapes that take each of the chooser's paths (decimal, scaled, levels,
    floats): a kernel is compiled per argument type, and the chooser visits different
    kernels for different data. 2-decimal values are not here: ``warm_up_kernels``
    already encodes and decodes them with every value codec."""
    rng = np.random.default_rng(0)
    return [
        np.round(rng.normal(50.0, 3.0, N), 1),  # noisy decimals
        np.repeat([1.0, 0.0, 1.0, 5.5], N // 4),  # few levels
        rng.normal(0.0, 1.0, N),  # continuous floats
        np.asarray(np.float32(rng.normal(5.0, 1.0, N)), dtype=np.float64),  # float32 values
        (rng.integers(0, 4096, N) * (100.0 / 4095)).astype(np.float64),  # scaled ADC counts
    ]


def _timestamp_samples() -> list[NDArray[np.int64]]:
    """Regular, jittered (ts-grid) and gappy (ts-dod with a common multiple) timestamps:
    a regular chunk never reaches the delta-of-delta or grid kernels."""
    rng = np.random.default_rng(1)
    step = 1_000_000_000
    regular = np.arange(N, dtype=np.int64) * step + _T0
    jittered = regular + rng.integers(-20, 21, N) * 1_000_000  # ms collector jitter
    gappy = np.cumsum(rng.choice([1, 1, 1, 2, 7], N)).astype(np.int64) * step + _T0
    return [regular, np.sort(jittered), gappy]


def warm_up_every_kernel() -> float:
    """Call every codec's encoder and decoder and the chooser on each sample shape, the
    chunk summaries, the lossy filters (and the flush's and compaction's kernels);
    return the seconds it took."""
    t0 = time.perf_counter()
    warm_up_kernels({None, "raw", "pco"})
    quality = np.zeros(N, np.uint16)
    for ts in _timestamp_samples():
        for codec in TIMESTAMP_CODECS:
            payload = codec.encode(ts)
            if payload is not None:
                codec.decode(payload, ts.size, int(ts[0]), int(ts[-1]))
    ts = _timestamp_samples()[0]
    for values in _samples():
        decode_chunk(encode_chunk(ts, values, quality, None))  # the chooser
        for name in VALUE_CODEC_NAMES:
            try:
                decode_chunk(encode_chunk(ts, values, quality, name))
            except ValueError:  # a codec that cannot take these values
                continue
    values = _samples()[0]
    bounds = np.array([0, N // 2], np.int64), np.array([N // 2, N], np.int64)
    compute_chunk_stats(ts, values, quality, *bounds)  # the query's chunk summaries
    dev = float(np.ptp(values)) * 0.005
    swinging_door(ts, values, dev)  # the lossy filters (`twinbench compression lossy`)
    exception_filter(ts, values, dev)
    return time.perf_counter() - t0


def main() -> int:
    took = warm_up_every_kernel()
    print(f"numba kernels loaded in {took:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
