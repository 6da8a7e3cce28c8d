"""Load every numba kernel the engine uses once, so that the on-disk cache is hot.

``python -m historian.lsm.warm`` prints how long it took. Why a step of its own: numba
compiles a kernel at its first call in a process unless its cache holds it, and the
cache is keyed by the source file's path, so a fresh clone (or an upgrade) starts with
none. A historian server then compiles its kernels while it ingests - the warm-up
thread and the first L2 compaction hold the GIL for seconds each - and the first
``stress`` run after a clone failed its p99 threshold at 140 ms where the next ones
passed. Compiling here, before any service starts, costs about a minute once; with
the cache hot it is the import and cache load (a few seconds).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from historian.codec import VALUE_CODEC_NAMES, decode_chunk, encode_chunk

from .compaction import warm_up_kernels


def _samples() -> list[np.ndarray]:
    """Value shapes that take each of the chooser's paths (decimal, scaled, levels,
    floats): a kernel is compiled per argument type, and the chooser visits different
    kernels for different data."""
    rng = np.random.default_rng(0)
    n = 512
    return [
        np.round(np.linspace(20.0, 80.0, n), 2),  # decimals
        np.round(rng.normal(50.0, 3.0, n), 1),  # noisy decimals
        np.repeat([1.0, 0.0, 1.0, 5.5], n // 4),  # few levels
        rng.normal(0.0, 1.0, n),  # continuous floats
        np.asarray(np.float32(rng.normal(5.0, 1.0, n)), dtype=np.float64),  # float32 values
        (rng.integers(0, 4096, n) * (100.0 / 4095)).astype(np.float64),  # scaled ADC counts
    ]


def warm_up_every_kernel() -> float:
    """Call every value codec's encoder and decoder and the chooser on each sample shape
    (and the flush's and compaction's kernels); return the seconds it took."""
    t0 = time.perf_counter()
    warm_up_kernels({None, "raw", "pco"})
    n = 512
    ts = np.arange(n, dtype=np.int64) * 1_000_000_000 + 1_700_000_000 * 1_000_000_000
    quality = np.zeros(n, np.uint16)
    for values in _samples():
        decode_chunk(encode_chunk(ts, values, quality, None))  # the chooser
        for name in VALUE_CODEC_NAMES:
            try:
                decode_chunk(encode_chunk(ts, values, quality, name))
            except ValueError:  # a codec that cannot take these values
                continue
    return time.perf_counter() - t0


def main() -> int:
    took = warm_up_every_kernel()
    print(f"numba kernels loaded in {took:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
